"""`spendscope demo`: the simulator, both kinds of connection, a backfill and a summary."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .data import friendly
from .main import main


def _default_demo_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("spendscope")) / "demo"


@main.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the demo keeps its warehouse (default: a 'demo' folder in the user "
    "data directory, apart from your real connections).",
)
@click.option("--port", default=8765, show_default=True, help="Port of the simulator.")
@click.option(
    "--days", default=90, show_default=True, help="Days of history to backfill for the demo."
)
@click.option("--fresh", is_flag=True, help="Start from an empty demo warehouse.")
@click.option(
    "--dashboard-port",
    default=8000,
    show_default=True,
    help="Port of the dashboard (the next free one if taken).",
)
@click.option("--no-serve", is_flag=True, help="Stop after the summary (no dashboard).")
@friendly
def demo(
    home: str | None, port: int, days: int, fresh: bool, dashboard_port: int, no_serve: bool
) -> None:
    """A first look with no Anthropic account: start the simulator, connect its Console and
    Enterprise organizations, backfill, print a month-to-date summary, and serve the dashboard
    on the demo data (Ctrl-C stops everything)."""
    import shutil

    from ..config import load_settings
    from ..connections import ConnectionStore
    from ..output import render
    from ..simulator.server import RunningSimulator
    from ..simulator.state import SimConfig
    from ..sync.engine import SyncRequest
    from ..sync.run import run_sync
    from ..warehouse.connection import Warehouse
    from .progress import ProgressBars
    from .serve import run_dashboard

    root = Path(home) if home else _default_demo_home()
    if fresh and root.exists():
        shutil.rmtree(root)
    settings = load_settings(
        home=root,
        overrides={
            "console_backfill_days": days,
            "enterprise_backfill_days": days,
            "analytics_rpm": 0,
        },
    )
    settings.ensure_home()
    try:
        running = RunningSimulator(SimConfig(rpm=0), port=port, warm=True)
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the simulator on port {port}: {exc.strerror or exc} (try --port)"
        ) from None
    with running:
        click.echo(f"simulator on {running.url}", err=True)
        store = ConnectionStore(settings)
        world = running.sim.world
        demo_orgs = (
            ("acme-console", world.console, "admin"),
            ("acme-enterprise", world.enterprise, "analytics"),
        )
        # Both go before either is added again: a demo home whose master key changed would
        # otherwise refuse the new keys while an old one is still stored.
        existing = {c.label for c in store.list(include_deleted=True)}
        for label, _, _ in demo_orgs:
            if label in existing:
                store.remove(label)
        for label, org, cred in demo_orgs:
            key = next(c.secret for c in org.credentials if c.label == cred)
            store.add(
                label,
                org.kind,
                key,
                base_url=running.url,
                organization_id=org.id,
                organization_name=org.name,
            )
            click.echo(f"connected {label}: {org.name}", err=True)
        wh = Warehouse(settings)
        bars = ProgressBars(sys.stderr)
        click.echo(f"backfilling {days} days …", err=True)
        try:
            reports = run_sync(settings, store, wh, request=SyncRequest(), progress=bars.update)
        finally:
            bars.close()
        for r in reports:
            state = f"failed: {r.error}" if r.error else "ok"
            click.echo(
                f"  {r.label}: {state}, {r.rows:,} rows, {r.requests:,} requests, "
                f"{r.seconds:.0f} s",
                err=True,
            )
        today = datetime.now(UTC).date()
        first = today.replace(day=1)
        _summary(wh, first, today + timedelta(days=1), render)
        click.echo(f"\nwarehouse: {settings.warehouse_path}", err=True)
        click.echo(f"explore:   spendscope report --home {root} --by product,model", err=True)
        if no_serve:
            wh.close()
            return
        try:
            # The simulator keeps running, so "Sync now" on the Connections page works.
            run_dashboard(
                settings,
                "127.0.0.1",
                _free_port(dashboard_port),
                scheduled_sync=False,
                warehouse=wh,
            )
        finally:
            wh.close()


def _free_port(preferred: int) -> int:
    import socket

    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise click.ClickException("no free port for the dashboard")


def _summary(wh: Any, first: date, end: date, render: Any) -> None:
    from ..reporting.queries import Scope, totals

    click.echo(f"\nMonth to date ({first:%B %Y}, double-booked spend counted once)\n")
    for by, title, conn in (
        (("connection",), "By connection", None),
        (("model",), "Top models", None),
        (("workspace",), "Top workspaces (Console)", "acme-console"),
        (("api_key",), "Top API keys (Console; — = usage without a key)", "acme-console"),
        (("user",), "Top users (Enterprise)", "acme-enterprise"),
        (("product",), "By product (Enterprise)", "acme-enterprise"),
    ):
        filters = {"connection": [conn]} if conn else {}
        cols, rows = totals(wh, "cost", Scope(first, end, filters), list(by), limit=5)
        click.echo(title)
        click.echo(render(rows, cols))
        click.echo("")
