"""The watch tables: budgets (their definition and their amounts per month) and the state of
each budget threshold in each month.

They belong to the warehouse, not to a connection: deleting a connection leaves them alone.
See `docs/budgets.md`.
"""

from __future__ import annotations

import pyarrow as pa

from .tables import ROW_KEY, TS, Column, Table, _s

DAY = pa.date32()
DOLLARS = pa.decimal128(38, 9)

BUDGETS = Table(
    name="budgets",
    doc="Every budget: its scope, its monthly amount, its thresholds, the spend basis it is "
    "measured on and the budget it rolls up into. Amounts that differ by month are in "
    "`budget_amounts`.",
    kind="watch",
    columns=(
        ROW_KEY,
        Column("name", pa.string(), False, "The budget's name (unique)."),
        _s("scope", "`organization` or `dimension:value`, as for forecasts."),
        Column(
            "monthly_usd",
            DOLLARS,
            True,
            "The amount of every month without one of its own, in US dollars; null: only the "
            "months in `budget_amounts` have a budget.",
        ),
        _s(
            "thresholds",
            "The actual-spend thresholds, in percent of the month's amount: a JSON list of "
            'decimal text, e.g. `["50", "80", "100"]`.',
        ),
        _s(
            "forecast_threshold",
            "The forecast threshold, in percent of the month's amount (decimal text); null: none.",
        ),
        _s("basis", "`billed` or `billed_estimated`."),
        _s("parent", "The budget it rolls up into; null: a top-level budget."),
        Column("created_at", TS, False, "When it was first saved."),
        Column("updated_at", TS, False, "When it was last saved."),
    ),
)
BUDGET_AMOUNTS = Table(
    name="budget_amounts",
    doc="A budget's amount for one month, where it differs from its monthly amount (from the "
    "month columns of `budgets import`).",
    kind="watch",
    columns=(
        ROW_KEY,
        Column("budget", pa.string(), False, "The budget's name."),
        Column("month", DAY, False, "The month's first day (UTC)."),
        Column("amount_usd", DOLLARS, False, "The month's amount, in US dollars."),
    ),
)
BUDGET_STATES = Table(
    name="budget_states",
    doc="The state of each threshold of each budget in each month (`ok`, `firing`, "
    "`resolved`), as the last evaluation left it: what was announced, so that re-evaluating "
    "the same data announces nothing new.",
    kind="watch",
    columns=(
        ROW_KEY,
        Column("budget", pa.string(), False, "The budget's name."),
        Column("month", DAY, False, "The month's first day (UTC)."),
        _s("kind", "`actual` (month-to-date spend) or `forecast` (the month-end P50)."),
        _s("threshold", "The threshold, in percent of the month's amount (decimal text)."),
        _s("state", "`ok`, `firing` or `resolved`."),
        _s("scope", "The budget's scope when it was last evaluated."),
        _s("basis", "The budget's spend basis when it was last evaluated."),
        Column(
            "amount_usd",
            DOLLARS,
            True,
            "The month's amount the state stands for (the one it fired against, kept up to date "
            "while it fires).",
        ),
        Column(
            "value_usd",
            DOLLARS,
            True,
            "The spend it was compared with at its last change: month to date, or the P50.",
        ),
        _s(
            "reason",
            "Why it last changed: crossed, revised_down, budget_raised, forecast_dropped, "
            "threshold_removed, no_amount, budget_deleted or month_ended.",
        ),
        Column("fired_at", TS, True, "When it last started firing."),
        Column("resolved_at", TS, True, "When it last resolved."),
        Column("changed_at", TS, True, "When its state last changed."),
        Column("evaluated_at", TS, False, "When it was last evaluated."),
    ),
)

WATCH_TABLES: tuple[Table, ...] = (BUDGETS, BUDGET_AMOUNTS, BUDGET_STATES)
