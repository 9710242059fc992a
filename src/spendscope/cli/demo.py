"""`spendscope demo`: runs `spendscope.demo`, prints its summary, then serves the dashboard."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import friendly, pinned_now

if TYPE_CHECKING:
    from ..demo import DemoResult


def _default_demo_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("spendscope")) / "demo"


@click.command()
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
    from ..demo import SimulatorUnavailable, run_demo
    from .dashboard import run_dashboard
    from .progress import ProgressBars

    root = Path(home) if home else _default_demo_home()
    bars = ProgressBars(sys.stderr)
    try:
        result = run_demo(
            root,
            port=port,
            days=days,
            fresh=fresh,
            now=pinned_now(),  # SPENDSCOPE_NOW freezes the simulator's clock too
            on_step=lambda line: click.echo(line, err=True),
            progress=bars.update,
        )
    except SimulatorUnavailable as exc:
        raise click.ClickException(f"{exc.message} (try --port)") from None
    finally:
        bars.close()
    with result:
        show_summary(result)
        click.echo(f"\nwarehouse: {result.settings.warehouse_path}", err=True)
        click.echo(f"explore:   spendscope report --home {root} --by product,model", err=True)
        if no_serve:
            return
        # The simulator keeps running, so "Sync now" on the Connections page works.
        run_dashboard(
            result.settings,
            "127.0.0.1",
            _free_port(dashboard_port),
            scheduled_sync=False,
            warehouse=result.warehouse,
        )


def show_summary(result: DemoResult) -> None:
    """Each connection's backfill on stderr, then the month-to-date tables on stdout."""
    from ..money import count
    from ..output import MONEY, render

    for r in result.reports:
        state = f"failed: {r.error}" if r.error else "ok"
        click.echo(
            f"  {r.label}: {state}, {count(r.rows)} rows, {count(r.requests)} requests, "
            f"{r.seconds:.0f} s",
            err=True,
        )
    click.echo(f"\nMonth to date ({result.month:%B %Y}, double-booked spend counted once)\n")
    for table in result.summary:
        click.echo(table.title)
        click.echo(render(table.rows, table.columns, kinds={table.metric: MONEY}))
        click.echo("")


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
