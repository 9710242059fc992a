"""`spendscope anomalies`: the anomalies in daily spend, and `anomalies feedback`.

Listing evaluates first (new complete days scored, revised days re-scored) and keeps what it
finds; nothing is sent: alerts go out from `alerts evaluate` and `serve`. While `spendscope
serve` runs, both go through its API (whose reads change nothing: serve keeps the anomalies
with its evaluation after each sync).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from .options import day_option, format_options, friendly, home_option, load_settings, now
from .reads import answer, serving

STATES = ("active", "past", "resolved", "all")


@click.group(invoke_without_command=True)
@click.option(
    "--since",
    callback=day_option,
    help="Anomalies of this day and after (YYYY-MM-DD) [default: the last 30 days].",
)
@click.option(
    "--state",
    type=click.Choice(STATES),
    default="all",
    show_default=True,
    help="Only anomalies in this state.",
)
@format_options
@home_option
@click.pass_context
@friendly
def anomalies(
    ctx: click.Context, since: date | None, state: str, fmt: str, home: str | None
) -> None:
    """Anomalies in daily spend: days of a scope (the organization, a connection, a team, a
    workspace, an API key, a user, a model) well above their baseline, with the expected
    value and band, the impact, the score and what drove them; their state (active, past,
    resolved) and feedback. See docs/anomalies.md."""
    if ctx.invoked_subcommand is not None:
        return
    import json

    from ..output import MONEY, render
    from ..watch.anomaly_view import (
        MONEY_COLUMNS,
        TABLE_COLUMNS,
        anomalies_answer,
        drivers_lines,
        table_rows,
    )

    settings = load_settings(home)
    found = answer(
        settings,
        "/api/v1/anomalies",
        lambda wh: anomalies_answer(wh, settings, now(), since, state, keep=True),
        {"since": None if since is None else since.isoformat(), "state": state},
    )
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    rows = table_rows(found)
    if fmt == "table" and not rows:
        click.echo(f"No anomaly (as of {found['as_of']}).")
        return
    if fmt == "table":
        click.echo(f"Anomalies in daily spend (as of {found['as_of']})")
    kinds = dict.fromkeys(MONEY_COLUMNS, MONEY)
    click.echo(render(rows, TABLE_COLUMNS, fmt, kinds=kinds))
    if fmt == "table":
        for line in drivers_lines(found):
            click.echo(line)


@anomalies.command("feedback")
@click.argument("anomaly_id")
@click.argument("feedback", type=click.Choice(["expected", "unexpected"]))
@home_option
@friendly
def anomalies_feedback(anomaly_id: str, feedback: str, home: str | None) -> None:
    """Say whether the anomaly ANOMALY_ID was expected: `expected` resolves it and mutes
    similar ones (the same scope, within 30 days after, at most twice its impact);
    `unexpected` confirms it."""
    from .remote import path_of

    settings = load_settings(home)
    found: Any = None
    with serving(settings) as server:
        if server is not None:
            path = f"/api/v1/anomalies/{path_of(anomaly_id)}/feedback"
            found = server.post(path, {"feedback": feedback})
    if found is None:
        from ..refresh import initialize
        from ..warehouse.connection import Warehouse
        from ..watch.anomaly_view import feedback_answer

        wh = Warehouse(settings)
        try:
            initialize(wh)
            found = feedback_answer(wh, settings, anomaly_id, feedback, now())
        finally:
            wh.close()
    scope = found["scope"]
    who = "the organization" if scope == "organization" else f"{scope} {found['value']}"
    state = found["state"] + (f" ({found['reason']})" if found["reason"] else "")
    said = f"{found['feedback']}; now {state}"
    click.echo(f"anomaly {found['id']} of {who} on {found['day']}: {said}")
