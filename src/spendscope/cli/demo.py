"""`spendscope demo`: runs `spendscope.demo`, prints its summary and what it watches (forecast,
budget, anomalies, the alerts its receiver got), then serves the dashboard."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import friendly, pinned_now

# The drivers shown under each anomaly (the biggest).
DRIVERS_SHOWN = 3

if TYPE_CHECKING:
    from ..demo import DemoResult
    from ..demo_watch import DemoWatch


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
    "--days",
    default=90,
    show_default=True,
    help="Days of history to backfill for the demo (20 or more for an injected anomaly).",
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
    """A first look with no Anthropic account: start the simulator (a jump in one workspace's
    spend injected), connect its Console and Enterprise organizations, backfill, print a
    month-to-date summary, the month-end forecast, a budget near its 80 % threshold, the
    anomalies with their drivers and the alerts a local webhook receiver got, and serve the
    dashboard on the demo data (Ctrl-C stops everything)."""
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
        show_watch(result.watch, result.injected)
        click.echo(f"\nwarehouse: {result.settings.warehouse_path}", err=True)
        click.echo(f"explore:   spendscope report --home {root} --by product,model", err=True)
        click.echo(f"budgets:   spendscope budgets list --home {root}", err=True)
        if no_serve:
            return
        click.echo(
            f"alerts of later evaluations (after each sync) go to the receiver too: "
            f"{result.watch.log}",
            err=True,
        )
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


def show_watch(watch: DemoWatch, injected: str | None) -> None:
    """The organization's month-end forecast, the demo budget, the anomalies with their drivers
    and what the alert receiver got, on stdout."""
    from ..demo_watch import ANOMALY_DAYS, arrivals
    from ..money import dollars

    f = watch.forecast
    click.echo("Month-end forecast, organization (docs/forecast.md)")
    if f["p50"] is None:
        click.echo(f"  no number: {f['state']}")
    else:
        band = f"P10–P90 {dollars(f['p10'])}–{dollars(f['p90'])}"
        click.echo(f"  P50 {dollars(f['p50'])}, {band} ({f['state']}, {f['method']})")
    for note in f["notes"]:
        click.echo(f"  note: {note}")
    b = watch.budget
    if b is None:
        click.echo("\nBudget (docs/budgets.md)\n  none: the month has no complete day yet")
    else:
        click.echo(f"\nBudget {b['name']} on {b['scope']} (docs/budgets.md)")
        click.echo(
            f"  month to date {dollars(b['month_to_date'])} of {dollars(b['amount'])} = "
            f"{b['used_percent']} % ({b['basis_label']})"
        )
        states = ", ".join(f"{s['threshold']} % {s['state']}" for s in b["states"])
        click.echo(f"  thresholds: {states}")
    click.echo(f"\nAnomalies of the last {ANOMALY_DAYS} days (docs/anomalies.md)")
    for line in anomaly_lines(watch.anomalies, injected):
        click.echo(f"  {line}")
    click.echo(f"\nAlerts received by {watch.receiver_url} (log: {watch.log})")
    got = arrivals(watch.received)
    for a in got:
        click.echo(f"  {a['status']} {a['kind']} {a['severity']}: {a['title']}")
    if not got:
        click.echo("  none")


def anomaly_lines(anomalies: Sequence[Mapping[str, Any]], injected: str | None) -> list[str]:
    """Each anomaly on a line (day, scope, actual against expected and band, impact, score,
    state), its drivers on the next."""
    from ..money import dollars

    if not anomalies:
        why = "" if injected else " (the demo injects one when --days is 20 or more)"
        return [f"none{why}"]
    lines = []
    for a in anomalies:
        what = f"{a['scope']} {a['value']}" if a["value"] else a["scope"]
        lines.append(
            f"{a['day']} {what}: {dollars(a['actual'])} against {dollars(a['expected'])} "
            f"expected ({dollars(a['low'])}–{dollars(a['high'])}), +{dollars(a['impact'])}, "
            f"score {a['score']}, {a['state']}"
        )
        drivers = [
            f"{d['dimension']} {d['value']} +{dollars(d['impact'])}"
            for d in a["drivers"][:DRIVERS_SHOWN]
        ]
        lines.append(f"  drivers: {'; '.join(drivers) or 'none'}")
    return lines


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
