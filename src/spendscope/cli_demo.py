"""`spendscope demo`: the simulator, both kinds of connection, a backfill and a summary."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .cli import main
from .cli_data import friendly


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
@friendly
def demo(home: str | None, port: int, days: int, fresh: bool) -> None:
    """A first look with no Anthropic account: start the simulator, connect its Console and
    Enterprise organizations, backfill, and print a month-to-date summary."""
    import shutil

    from .analytics.report import ReportQuery, report
    from .config import load_settings
    from .connections import ConnectionStore
    from .output import render
    from .progress import ProgressBars
    from .simulator.server import RunningSimulator
    from .simulator.state import SimConfig
    from .sources.engine import SyncRequest
    from .sync import run_sync
    from .warehouse.store import Warehouse

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
        for label, org, cred in (
            ("acme-console", world.console, "admin"),
            ("acme-enterprise", world.enterprise, "analytics"),
        ):
            key = next(c.secret for c in org.credentials if c.label == cred)
            existing = {c.label: c for c in store.list(include_deleted=True)}
            if label in existing:
                store.remove(label)
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
        _summary(wh, first, today + timedelta(days=1), report, ReportQuery, render)
        wh.close()
    click.echo(f"\nwarehouse: {settings.warehouse_path}", err=True)
    click.echo(f"explore:   spendscope report --home {root} --by product,model", err=True)


def _summary(wh: Any, first: date, end: date, report: Any, query: Any, render: Any) -> None:
    click.echo(f"\nMonth to date ({first:%B %Y}, double-booked spend counted once)\n")
    for by, title, conn in (
        (("connection",), "By connection", None),
        (("model",), "Top models", None),
        (("workspace",), "Top workspaces (Console)", "acme-console"),
        (("api_key",), "Top API keys (Console; — = usage without a key)", "acme-console"),
        (("user",), "Top users (Enterprise)", "acme-enterprise"),
        (("product",), "By product (Enterprise)", "acme-enterprise"),
    ):
        cols, rows = report(
            wh, query(by=by, metric="cost", since=first, until=end, limit=5, connection=conn)
        )
        click.echo(title)
        click.echo(render(rows, cols))
        click.echo("")
