"""`spendscope limits`: each member's Anthropic spend cap (Claude Enterprise) and spend, from
the latest daily snapshot, and why a connection has none."""

from __future__ import annotations

import click

from .options import format_options, friendly, home_option, load_settings
from .reads import answer


@click.command()
@format_options
@home_option
@friendly
def limits(fmt: str, home: str | None) -> None:
    """Each member's Anthropic spend cap, spend this month and percent of the cap.

    From the latest daily snapshot of each Claude Enterprise connection (the sync takes one per
    UTC day: Anthropic keeps no history of spend limits). A connection without spend limits
    (a Console organization, a key without read:spend_limits) says why. See
    docs/spend-limits.md."""
    import json

    from ..output import render
    from ..watch.limit_alerts import TABLE_COLUMNS, spend_limits_answer, status_lines, table_rows

    found = answer(load_settings(home), "/api/v1/spend-limits", spend_limits_answer)
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
        return
    if fmt == "table":
        day = found["snapshot_date"] or "none yet"
        click.echo(f"Anthropic spend limits, snapshot of {day}")
    click.echo(render(table_rows(found, fmt), TABLE_COLUMNS, fmt))
    if fmt == "table":
        for line in status_lines(found):
            click.echo(line)
