"""`spendscope status`: each connection's health, then its recent events."""

from __future__ import annotations

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
    click.echo(render(rows, COLUMNS, fmt, kinds={"rows": COUNT, "rejected": COUNT}))
    if fmt != "table" or not n_events:
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


def _show_events(label: str, events: list[dict[str, Any]]) -> None:
    from ..output import render

    if events:
        click.echo(f"\n{label} — recent events")
        click.echo(render(events, EVENT_COLUMNS))
