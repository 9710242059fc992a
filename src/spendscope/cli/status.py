"""`spendscope status`: each connection's health, the alert notifications never delivered
(dead), then each connection's recent events."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from .options import format_options, friendly, home_option, load_settings
from .reads import health, serving

if TYPE_CHECKING:
    from ..config import Settings
    from .remote import RunningServer

COLUMNS = [
    "connection",
    "kind",
    "state",
    "last_sync",
    "complete_through",
    "rows",
    "rejected",
    "last_error",
]
EVENT_COLUMNS = ["occurred_at", "level", "category", "message"]


@click.command()
@click.option(
    "--events",
    "n_events",
    default=10,
    show_default=True,
    help="How many recent events to show per connection.",
)
@format_options
@home_option
@friendly
def status(n_events: int, fmt: str, home: str | None) -> None:
    """Each connection's health: state, last sync, complete through, rows, recent events."""
    settings = load_settings(home)
    with serving(settings) as server:
        _status(settings, server, n_events, fmt)


def _status(settings: Settings, server: RunningServer | None, n_events: int, fmt: str) -> None:
    from ..connections import ConnectionStore
    from ..output import COUNT, render
    from ..reporting.health import recent_events

    known = health(settings, server)
    conns = ConnectionStore(settings).all(include_deleted=True)
    rows = []
    for c in conns:
        h = known.get(c.label, {})
        rows.append(
            {
                "connection": c.label,
                "kind": c.kind,
                "state": h.get("state", c.state),
                "last_sync": h.get("last_success"),
                "complete_through": h.get("complete_through"),
                "rows": h.get("rows", 0),
                "rejected": h.get("rejected", 0),
                "last_error": h.get("last_error"),
            }
        )
    dead = _dead(settings, server)
    if fmt == "json":
        columns = [*COLUMNS, "dead_deliveries"]
        rows = [{**r, "dead_deliveries": dead} for r in rows]
        click.echo(render(rows, columns, fmt))
        return
    click.echo(render(rows, COLUMNS, fmt, kinds={"rows": COUNT, "rejected": COUNT}))
    if fmt != "table":
        return
    if dead and dead["count"]:
        newest = dead["newest"]
        click.echo(
            f"\nalerts: {dead['count']} notification(s) never delivered (dead); newest: "
            f"{newest['title']!r} to channel {newest['channel']} "
            f"(see spendscope alerts log --dead)"
        )
    if not n_events:
        return
    if server is not None:
        from .remote import decode_events, path_of

        for c in conns:
            answer = server.get(
                f"/api/v1/connections/{path_of(c.label)}/events", {"limit": min(n_events, 500)}
            )
            _show_events(c.label, decode_events(answer["events"]))
    elif settings.warehouse_path.exists():
        from ..warehouse.connection import Warehouse

        wh = Warehouse(settings)
        try:
            for c in conns:
                _show_events(c.label, recent_events(wh, c.label, n_events))
        finally:
            wh.close()


def _dead(settings: Settings, server: RunningServer | None) -> dict[str, Any]:
    """The dead notifications: their count and the newest (`at`, `channel`, `title`, `status`,
    `error`), read from the warehouse, or from `serve` while it holds it."""
    if server is not None:
        answer = server.get("/api/v1/alerts/dead")
        newest = answer.get("newest")
        if newest and newest.get("at"):
            newest["at"] = datetime.fromisoformat(newest["at"])
        return {"count": int(answer["count"]), "newest": newest}
    if not settings.warehouse_path.exists():
        return {"count": 0, "newest": None}
    from ..notify.records import dead_report
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        return dead_report(wh)
    finally:
        wh.close()


def _show_events(label: str, events: list[dict[str, Any]]) -> None:
    from ..output import render

    if events:
        click.echo(f"\n{label} — recent events")
        click.echo(render(events, EVENT_COLUMNS))
