"""The REST API's budget answers and request bodies, as pydantic models.

Fields come in the order `spendscope.watch.budget_view.budgets_answer` gives them, so
`spendscope budgets list --json` prints the same thing whether it reads the warehouse or a
running server. Money is exact decimal text (the forecast's P10/P50/P90 to the cent); percents
are decimal text too (`"80"`, `"87.5"`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .models import Money, Out

Percent = Annotated[
    str,
    Field(pattern=r"^[0-9]+(\.[0-9]+)?$", description="A percent as decimal text, e.g. `80`."),
]
Basis = Literal["billed", "billed_estimated"]
ForecastState = Literal["ok", "low_confidence", "insufficient_history", "stale"]


class ThresholdStateOut(Out):
    kind: Literal["actual", "forecast"] = Field(
        description="`actual`: the month-to-date spend is compared; `forecast`: the month-end P50."
    )
    threshold: Percent
    state: Literal["ok", "firing", "resolved"] = Field(
        description="As the last evaluation left it (`ok` when never evaluated this month)."
    )
    pending: Literal["ok", "firing", "resolved"] | None = Field(
        description="The state the next evaluation moves it to, when the figures have moved "
        "since the last one; null otherwise."
    )
    severity: Literal["info", "warning", "critical"] = Field(
        description="`critical`: actual spend at 100 % or more; `warning`: actual spend at 80 % "
        "or more, or a forecast at 100 % or more; `info` otherwise."
    )
    limit: Money | None = Field(description="The threshold in dollars: its share of the amount.")
    value: Money | None = Field(
        description="The spend it was compared with at its last change (null: never changed)."
    )
    reason: str | None = Field(
        description="Why it last changed: crossed, revised_down, budget_raised, "
        "forecast_dropped, month_ended, …"
    )
    changed_at: datetime | None = Field(description="When its state last changed.")
    fingerprint: str = Field(
        description="The alert's stable identity (budget, kind, threshold, month)."
    )


class RollupOut(Out):
    children: list[str] = Field(description="The budgets that roll up into this one.")
    amount: Money = Field(description="Their amounts for the month, summed.")
    month_to_date: Money = Field(description="Their month-to-date spend, summed.")
    p50: Money | None = Field(
        description="Their month-end P50s, summed (null when one of them has none)."
    )
    amount_left: Money | None = Field(
        description="This budget's amount less theirs (negative: they add up to more)."
    )
    month_to_date_left: Money | None = Field(
        description="This budget's month to date less theirs: spend in its scope that no budget "
        "within it covers (negative when their scopes overlap or reach beyond it)."
    )


class EstimateOut(Out):
    amount: Money = Field(
        description="The estimated part of the month to date (an estimate, not billed cost): "
        "the two parts below."
    )
    unbilled_usage: Money = Field(
        description="Usage of days (per connection) with no cost reported yet, priced from "
        "the organization's billed history."
    )
    priority_tier: Money = Field(
        description="Priority Tier usage on days of the legacy Console cost report, which "
        "leaves that tier out, priced from the billed history."
    )
    unbilled_connections: list[str] = Field(
        description="The connections with usage and no cost on a day of the month."
    )
    unpriced_tokens: int = Field(
        description="Tokens not billed yet that have no price (no billed history, no "
        "published price): left out of the estimate."
    )
    unpriced_web_searches: int = Field(
        description="Web searches not billed yet that have no price: left out."
    )
    unpriced_models: list[str] = Field(description="The models of what was left out.")


class BudgetOut(Out):
    name: str = Field(description="The budget's name.")
    scope: str = Field(description="`organization` or `dimension:value`, as saved.")
    scope_label: str | None = Field(
        description="What people read for the scope (null when it cannot be read)."
    )
    parent: str | None = Field(description="The budget it rolls up into, or null.")
    depth: int = Field(description="0 for a top-level budget, 1 within one, and so on.")
    basis: Basis = Field(description="`billed` or `billed_estimated` (see docs/budgets.md).")
    basis_label: str = Field(description="The basis as shown: `billed` or `billed + estimated`.")
    month: str = Field(description="The month shown, `YYYY-MM` (UTC).")
    amount: Money | None = Field(description="The month's amount (null: no budget this month).")
    monthly: Money | None = Field(description="The amount of months without one of their own.")
    months: dict[str, Money] = Field(description="Amounts of single months, by `YYYY-MM`.")
    thresholds: list[Percent] = Field(description="The actual-spend thresholds, ascending.")
    forecast_threshold: Percent | None = Field(description="The forecast threshold, or null.")
    month_to_date: Money | None = Field(
        description="Spend of the month's complete days on the basis, exact (null when the "
        "scope cannot be read)."
    )
    estimate: EstimateOut | None = Field(
        description="On the `billed_estimated` basis, the estimate within the month to date "
        "(null: the `billed` basis, or a scope with no estimate, which a note explains)."
    )
    used_percent: str | None = Field(
        description="Month to date as a percent of the amount, to two decimals."
    )
    complete_through: date | None = Field(description="The last complete day.")
    complete_days: int = Field(description="Complete days of the month.")
    provisional_from: date | None = Field(
        description="The month's first day after the last complete day, when it is before "
        "today: days that may still change, not counted in the month to date."
    )
    provisional_cost: Money | None = Field(
        description="Cost loaded so far for the month's days after the last complete day "
        "(provisional days and today): not counted, may change."
    )
    forecast_state: ForecastState | None = Field(description="The forecast's state.")
    p10: Money | None = Field(description="Month-end spend, 10th percentile (to the cent).")
    p50: Money | None = Field(description="Month-end spend, the forecast (to the cent).")
    p90: Money | None = Field(description="Month-end spend, 90th percentile (to the cent).")
    states: list[ThresholdStateOut] = Field(
        description="Each threshold of the month, actual-spend ones first."
    )
    evaluated_at: datetime | None = Field(
        description="When its thresholds were last evaluated (null: never)."
    )
    rollup: RollupOut | None = Field(
        description="The sums of the budgets that roll up into it (null: none do)."
    )
    notes: list[str] = Field(description="What to know about its figures.")
    created_at: datetime | None = Field(description="When it was first saved.")
    updated_at: datetime | None = Field(description="When it was last saved.")


class BudgetsOut(Out):
    as_of: datetime = Field(description="The time the figures are for.")
    month: str = Field(description="The month shown, `YYYY-MM` (UTC).")
    budgets: list[BudgetOut] = Field(
        description="Every budget, each parent before the budgets that roll up into it."
    )


class BudgetIn(BaseModel):
    name: str = Field(
        description="The budget's name: letters, digits, `.`, `_`, `-`.",
        min_length=1,
        max_length=64,
    )
    scope: str = Field(
        description="`organization` or `dimension:value` (e.g. `team:payments`).",
        min_length=1,
        max_length=500,
    )
    monthly: Decimal = Field(description="The amount of every month, in US dollars.")
    thresholds: list[Decimal] | None = Field(
        default=None,
        description="Percents of the amount the month to date is checked against (default "
        "50, 80, 100).",
        max_length=10,
    )
    forecast_threshold: Decimal | None = Field(
        default=None, description="A percent of the amount the month-end P50 is checked against."
    )
    basis: Basis = Field(default="billed", description="`billed` or `billed_estimated`.")
    parent: str | None = Field(
        default=None, description="The budget this one rolls up into.", max_length=64
    )


class SavedOut(Out):
    message: str = Field(description="What was saved, in one line.")
    name: str = Field(description="The budget's name.")
    created: bool = Field(description="Whether it is new (false: it was replaced).")


class ImportedBudgetsOut(Out):
    message: str = Field(description="`imported <n> budgets from <name> (…)`.")
    created: list[str] = Field(description="The budgets that are new.")
    updated: list[str] = Field(description="The budgets that were replaced.")


class DeletedBudgetOut(Out):
    message: str = Field(description="`deleted budget <name>`.")
    name: str = Field(description="The budget deleted.")


class OneBudgetOut(Out):
    as_of: datetime = Field(description="The time the figures are for.")
    month: str = Field(description="The month shown, `YYYY-MM` (UTC).")
    budget: BudgetOut = Field(description="The budget.")
