"""`spendscope sync`: one sync pass over the connections, a row per connection."""

from __future__ import annotations

import sys
from datetime import date

import click

from .options import (
    checked_options,
    day_option,
    format_options,
    friendly,
    home_option,
    load_settings,
    now,
)

COLUMNS = [
    "connection",
    "status",
    "rows",
    "corrections",
    "rejected",
    "requests",
    "retries",
    "seconds",
    "failed_feeds",
    "error",
]


@click.command()
@click.option("--connection", "labels", multiple=True, help="Only this connection (repeatable).")
@click.option("--since", callback=day_option, help="First day to fetch (YYYY-MM-DD).")
@click.option("--until", callback=day_option, help="Day to stop before (YYYY-MM-DD, exclusive).")
@click.option("--full", is_flag=True, help="Re-fetch the whole backfill period.")
@format_options
@home_option
@friendly
@checked_options
def sync(
    labels: tuple[str, ...],
    since: date | None,
    until: date | None,
    full: bool,
    fmt: str,
    home: str | None,
) -> None:
    """One sync pass: backfill new connections, fetch new data, re-read the reconciliation
    window (for cron; `serve` does this every 6 hours)."""
    from ..connections import ConnectionStore
    from ..errors import ConfigError
    from ..output import COUNT, render
    from ..sync.reports import SyncRequest
    from ..sync.run import run_sync
    from ..warehouse.connection import Warehouse
    from .progress import ProgressBars

    settings = load_settings(home)
    store = ConnectionStore(settings)
    if not store.all():
        raise ConfigError(
            "No connections yet.",
            "Add one with: spendscope connect console|enterprise --label … --key -",
        )
    wh = Warehouse(settings)
    bars = ProgressBars(sys.stderr)
    try:
        reports = run_sync(
            settings,
            store,
            wh,
            list(labels) or None,
            SyncRequest(since=since, until=until, full=full),
            progress=bars.update,
            now=now,
        )
    except KeyboardInterrupt:
        # Connections may still be writing: leave the warehouse open, as a killed process
        # would (it is safe at any instant); the process exits at once, and `status` then
        # shows the sync as interrupted.
        bars.close()
        raise
    except BaseException:
        bars.close()
        wh.close()
        raise
    bars.close()
    wh.close()
    rows = [
        {
            "connection": r.label,
            "status": "failed" if r.error else "ok",
            "rows": r.rows,
            "corrections": r.corrections,
            "rejected": r.rejected,
            "requests": r.requests,
            "retries": r.retries,
            "seconds": round(r.seconds, 1),
            "failed_feeds": ", ".join(f.feed for f in r.failed_feeds) or None,
            "error": r.error,
        }
        for r in reports
    ]
    counts = ("rows", "corrections", "rejected", "requests", "retries")
    click.echo(render(rows, COLUMNS, fmt, kinds=dict.fromkeys(counts, COUNT)))
    if any(r.error for r in reports):
        for r in reports:
            if r.error and r.failed_feeds:
                feeds = r.failed_feeds
                click.echo(
                    f"error: {r.label}: {len(feeds)} feed(s) failed "
                    f"({', '.join(f.feed for f in feeds)}); the other feeds synced",
                    err=True,
                )
                for f in feeds:
                    click.echo(f"  {f.feed}: {f.error}", err=True)
                if r.error not in {f.error for f in feeds}:
                    click.echo(f"  {r.error}", err=True)
            elif r.error:
                click.echo(f"error: {r.label}: {r.error}", err=True)
            if r.error and r.error_hint:
                click.echo(f"  {r.error_hint}", err=True)
        sys.exit(1)
