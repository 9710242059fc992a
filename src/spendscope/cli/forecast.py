"""`spendscope forecast`: the month-end forecast of a scope, with its P10–P90 band and state."""

from __future__ import annotations

import click

from .options import format_options, friendly, home_option, load_settings, now
from .reads import answer as read_answer


@click.command()
@click.option(
    "--scope",
    default="organization",
    show_default=True,
    help="organization, or dimension:value: connection, workspace, api_key, user, model or an "
    "allocation dimension (e.g. team:payments).",
)
@click.option(
    "--by",
    default=None,
    help="Also forecast each value of this dimension within the scope (e.g. team), "
    "reconciled so they add up to the scope's forecast.",
)
@format_options
@home_option
@friendly
def forecast(scope: str, by: str | None, fmt: str, home: str | None) -> None:
    """Month-end forecast of billed cost, with its P10–P90 band and state.

    For the current UTC month: month to date over complete days plus a weekday-aware forecast of
    the rest, the band measured by backtests, and a state (ok, low_confidence,
    insufficient_history, stale). See docs/forecast.md."""
    import json

    from ..output import MONEY, render
    from ..watch.outlook import (
        MONEY_COLUMNS,
        TABLE_COLUMNS,
        answer,
        forecast_scope,
        notes_lines,
        table_rows,
    )

    settings = load_settings(home)
    found = read_answer(
        settings,
        "/api/v1/forecast",
        lambda wh: answer(forecast_scope(wh, scope, now(), by or None)),
        {"scope": scope, "by": by or None},
    )
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
        return
    kinds = dict.fromkeys(MONEY_COLUMNS, MONEY)
    if fmt == "table":
        click.echo(
            f"Month-end forecast for {found['month']}, complete days through "
            f"{found['complete_through']} (as of {found['as_of']})"
        )
    click.echo(render(table_rows(found), TABLE_COLUMNS, fmt, kinds=kinds))
    if fmt == "table":
        for line in notes_lines(found):
            click.echo(line)
