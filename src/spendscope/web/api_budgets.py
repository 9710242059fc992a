"""The REST API's budget endpoints under /api/v1/budgets: list and read budgets with their
month's figures and threshold states, create or replace one, import a CSV file of them, delete
one — what `spendscope budgets …` sends while `serve` runs.

Every value is checked as the CLI checks it (`watch.budget_model`): a bad one is a 400 with the
CLI's wording, a bad CSV line a 400 naming it, and nothing is applied. Changes are refused from
another site (403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from ..errors import InvalidInput
from ..watch.budget_model import (
    check_name,
    imported_message,
    make_budget,
    parse_budgets_csv,
    saved_message,
)
from ..watch.budget_store import delete_budget, save_budgets
from ..watch.budget_view import budgets_answer
from .deps import State, WarehouseDep
from .errors import CROSS_SITE, ERROR_RESPONSES
from .models import JSON
from .models_budgets import (
    BudgetIn,
    BudgetsOut,
    DeletedBudgetOut,
    ImportedBudgetsOut,
    OneBudgetOut,
    SavedOut,
)

BUDGETS = "Budgets"
MAX_CSV_BYTES = 5_000_000
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)

Name = Annotated[str, Path(description="The budget's name.", max_length=64)]


@router.get(
    "/budgets",
    tags=[BUDGETS],
    response_model=BudgetsOut,
    summary="Every budget with its month: amount, month to date, forecast, threshold states",
    description="For the current UTC month: each budget's amount, its spend on its basis over "
    "complete days, the month-end P50 with its P10–P90 band, each threshold's state as the last "
    "evaluation left it, its provisional days, and for a parent the sums of the budgets within "
    "it (docs/budgets.md). What `spendscope budgets list` prints.",
)
def list_budgets(state: State, warehouse: WarehouseDep) -> dict[str, Any]:
    return budgets_answer(warehouse, state.now())


@router.get(
    "/budgets/{name}",
    tags=[BUDGETS],
    response_model=OneBudgetOut,
    summary="One budget with its month's figures and threshold states",
)
def get_budget(state: State, warehouse: WarehouseDep, name: Name) -> dict[str, Any]:
    found = budgets_answer(warehouse, state.now(), name)
    return {"as_of": found["as_of"], "month": found["month"], "budget": found["budgets"][0]}


@router.post(
    "/budgets",
    tags=[BUDGETS],
    summary="Create or replace a budget",
    description="The budget is defined whole: a budget of that name is replaced, its amounts "
    "of single months included (its creation time is kept). The scope must name a dimension "
    "the warehouse knows; a parent must exist and not make a cycle.",
    responses=CROSS_SITE,
)
def save_budget(state: State, warehouse: WarehouseDep, body: BudgetIn) -> SavedOut:
    b = make_budget(
        body.name,
        body.scope,
        body.monthly,
        thresholds=body.thresholds,
        forecast_threshold=body.forecast_threshold,
        basis=body.basis,
        parent=body.parent,
    )
    ((_, created),) = save_budgets(warehouse, [b], state.now())
    return SavedOut(message=saved_message(b, created), name=b.name, created=created)


@router.post(
    "/budgets/import",
    tags=[BUDGETS],
    summary="Create or replace the budgets of a CSV file (all or none)",
    description="The body is the CSV file (`Content-Type: text/csv`): a header of `name`, "
    "`scope` and any of `monthly`, `thresholds` (e.g. `50;80;100`), `forecast_threshold`, "
    "`basis`, `parent`, plus one column per month `YYYY-MM` for that month's amount. Every line "
    "is checked first: one bad line is a 400 naming it, and nothing is applied.",
    responses=CROSS_SITE,
)
def import_budgets(
    state: State,
    warehouse: WarehouseDep,
    body: Annotated[bytes, Body(media_type="text/csv", description="The CSV file.")],
    name: Annotated[
        str,
        Query(description="The file's name, for messages.", min_length=1, max_length=200),
    ] = "budgets.csv",
) -> ImportedBudgetsOut:
    if len(body) > MAX_CSV_BYTES:
        raise InvalidInput(f"The file is over {MAX_CSV_BYTES:,} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text.") from None
    parsed = parse_budgets_csv(text, name)

    def where(budget: str) -> str:
        return f"{name} line {parsed.lines[budget]}: " if budget in parsed.lines else ""

    saved = save_budgets(warehouse, parsed.budgets, state.now(), where)
    return ImportedBudgetsOut(
        message=imported_message(saved, name),
        created=[n for n, c in saved if c],
        updated=[n for n, c in saved if not c],
    )


@router.delete(
    "/budgets/{name}",
    tags=[BUDGETS],
    summary="Delete a budget",
    description="Refused (400) while other budgets roll up into it. What it fires is resolved "
    "by the next evaluation.",
    responses=CROSS_SITE,
)
def remove_budget(warehouse: WarehouseDep, name: Name) -> DeletedBudgetOut:
    delete_budget(warehouse, check_name(name))
    return DeletedBudgetOut(message=f"deleted budget {name}", name=name)
