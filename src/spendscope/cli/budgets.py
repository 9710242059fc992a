"""`spendscope budgets …`: monthly budgets on any scope, their thresholds and their states.

`set` and `import` define budgets whole (a CSV file all or nothing, a bad line named), `list`
shows each budget's month against its amount, forecast and thresholds, `delete` removes one.
Values are checked here first, so a bad one is refused the same way with or without `serve`;
while `spendscope serve` runs, every command goes through its API.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import format_options, friendly, home_option, load_settings, now
from .reads import answer, serving

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse


@click.group()
def budgets() -> None:
    """Monthly budgets on any scope: thresholds on spend and on the forecast, and their states."""


def _local(settings: Settings, work: Any) -> Any:
    """`work(warehouse)` on the local warehouse, brought up to date first."""
    from ..refresh import initialize
    from ..warehouse.connection import Warehouse

    wh: Warehouse = Warehouse(settings)
    try:
        initialize(wh)
        return work(wh)
    finally:
        wh.close()


@budgets.command("set")
@click.argument("name")
@click.option(
    "--scope",
    required=True,
    help="organization, or dimension:value: connection, workspace, api_key, user, model or an "
    "allocation dimension (e.g. team:payments).",
)
@click.option("--monthly", required=True, help="The amount of every month, in US dollars.")
@click.option(
    "--thresholds",
    default=None,
    help="Percents of the month's amount the month-to-date spend is checked against "
    "[default: 50,80,100].",
)
@click.option(
    "--forecast-threshold",
    default=None,
    help="A percent of the month's amount the month-end forecast (P50) is checked against.",
)
@click.option(
    "--basis",
    type=click.Choice(["billed", "billed_estimated"]),
    default="billed",
    show_default=True,
    help="The spend measured: billed cost of complete days, or billed + estimated.",
)
@click.option("--parent", default=None, help="The budget this one rolls up into.")
@home_option
@friendly
def budgets_set(
    name: str,
    scope: str,
    monthly: str,
    thresholds: str | None,
    forecast_threshold: str | None,
    basis: str,
    parent: str | None,
    home: str | None,
) -> None:
    """Create or replace the budget NAME (its amounts of single months included)."""
    from ..watch.budget_model import make_budget, percent_text, saved_message

    b = make_budget(
        name,
        scope,
        monthly,
        thresholds=thresholds,
        forecast_threshold=forecast_threshold,
        basis=basis,
        parent=parent,
    )
    settings = load_settings(home)
    with serving(settings) as server:
        if server is not None:
            body = {
                "name": b.name,
                "scope": b.scope,
                "monthly": str(b.monthly),
                "thresholds": [percent_text(t) for t in b.thresholds],
                "forecast_threshold": (
                    None if b.forecast_threshold is None else percent_text(b.forecast_threshold)
                ),
                "basis": b.basis,
                "parent": b.parent,
            }
            click.echo(server.post("/api/v1/budgets", body)["message"])
            return
    from ..watch.budget_store import save_budgets

    saved = _local(settings, lambda wh: save_budgets(wh, [b], now()))
    click.echo(saved_message(b, saved[0][1]))


@budgets.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@home_option
@friendly
def budgets_import(file: str, home: str | None) -> None:
    """Create or replace the budgets of a CSV file: columns name, scope, monthly, thresholds,
    forecast_threshold, basis, parent, and one per month (YYYY-MM) for amounts that differ by
    month. Every line is checked first; one bad line (named) and nothing is applied."""
    from ..errors import InvalidInput
    from ..watch.budget_model import imported_message, parse_budgets_csv

    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text.") from None
    except OSError as exc:
        raise InvalidInput(f"{file} cannot be read: {exc.strerror or exc}.") from None
    parsed = parse_budgets_csv(text, path.name)
    settings = load_settings(home)
    with serving(settings) as server:
        if server is not None:
            found = server.post_csv("/api/v1/budgets/import", text, {"name": path.name})
            click.echo(found["message"])
            return
    from ..watch.budget_store import save_budgets

    def where(name: str) -> str:
        return f"{path.name} line {parsed.lines[name]}: " if name in parsed.lines else ""

    saved = _local(settings, lambda wh: save_budgets(wh, parsed.budgets, now(), where))
    click.echo(imported_message(saved, path.name))


@budgets.command("list")
@format_options
@home_option
@friendly
def budgets_list(fmt: str, home: str | None) -> None:
    """Each budget's month: amount, month to date, forecast P50 with its band, the state of
    each threshold (as last evaluated), its basis and its provisional days; a parent's row is
    followed by the sums of the budgets within it."""
    import json

    from ..output import MONEY, render
    from ..watch.budget_view import MONEY_COLUMNS, budgets_answer, notes_lines, table_rows

    found = answer(load_settings(home), "/api/v1/budgets", lambda wh: budgets_answer(wh, now()))
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
        return
    rows, columns = table_rows(found, fmt)
    if fmt == "table":
        if not rows:
            hint = "spendscope budgets set NAME --scope organization --monthly 10000"
            click.echo(f"No budgets yet. Create one: {hint}")
            return
        click.echo(
            f"Budgets for {found['month']} (as of {found['as_of']}; threshold states as last "
            "evaluated)"
        )
    click.echo(render(rows, columns, fmt, kinds=dict.fromkeys(MONEY_COLUMNS, MONEY)))
    if fmt == "table":
        for line in notes_lines(found):
            click.echo(line)


@budgets.command("delete")
@click.argument("name")
@home_option
@friendly
def budgets_delete(name: str, home: str | None) -> None:
    """Delete the budget NAME (refused while other budgets roll up into it). What it fires is
    resolved by the next evaluation."""
    from .remote import path_of

    settings = load_settings(home)
    with serving(settings) as server:
        if server is not None:
            click.echo(server.delete(f"/api/v1/budgets/{path_of(name)}")["message"])
            return
    from ..watch.budget_store import delete_budget

    _local(settings, lambda wh: delete_budget(wh, name))
    click.echo(f"deleted budget {name}")
