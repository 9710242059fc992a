"""Budgets against spend: each budget's figures for the month, and `evaluate_budgets`, which
steps every threshold's state and returns the alert events to send.

**Figures.** A budget reads its scope's month-end forecast (`outlook.forecast_scope`): the
month to date over complete days (the actual its thresholds compare), the P10/P50/P90 of the
month end (its forecast threshold compares the P50) and the last complete day. The month's
days after the last complete day — provisional days, which Anthropic may still revise, and
today so far — are not counted: they are marked (`provisional_from`), with the cost loaded for
them so far (`provisional_cost`), and the forecast covers them.

**Basis.** `billed` is the billed cost of complete days. `billed_estimated` adds, day by day,
an estimate of what is not billed yet (`estimate.py`: usage of days without cost, and Priority
Tier usage the legacy Console cost report leaves out, priced from the organization's billed
history), to the month to date and to the history its forecast is made from; a day counts as
complete once its cost or its usage is loaded in full. The month's estimate is kept beside the
figures (`ScopeFigures.estimate`), and notes say what it adds, or that it adds nothing, and
what it could not price.

**Evaluation.** `evaluate_budgets(warehouse, now)` reads every budget's figures, then, in one
transaction, reads the stored states, steps them (`budget_states.plan`) and writes them back,
and returns the events. Re-running it on the same data finds every state where it left it and
returns nothing; two evaluations run one after the other (the warehouse's write lock), so the
second sees the first's states. A budget saved while its figures were read is left for the next
evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ..errors import InvalidInput
from ..reporting.catalog import Scope
from ..reporting.queries import explore
from ..warehouse.connection import Warehouse
from .budget_model import BILLED, BILLED_ESTIMATED, Budget
from .budget_states import BudgetEvent, Figures, plan
from .budget_store import load_budgets, read_budgets, read_states, write_states
from .estimate import DayEstimate, describe
from .forecast import MonthForecast, forecast_month
from .series import parse_scope, read_series


@dataclass(frozen=True, slots=True)
class ScopeFigures:
    """What a scope's budgets read for the month."""

    scope: str  # as resolved (a workspace named by its name: its id)
    label: str
    month: date
    forecast: MonthForecast
    complete_through: date
    complete_days: int
    provisional_from: date | None
    provisional_cost: Decimal
    # On the `billed_estimated` basis: the estimate within the month to date (None: billed, or
    # a scope without an estimate, which `notes` explain).
    estimate: DayEstimate | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BudgetFigures:
    """One budget's figures for the month; `figures` is None when its scope cannot be read
    (e.g. an allocation dimension no longer configured), and `error` says why."""

    budget: Budget
    scope: ScopeFigures | None
    figures: Figures | None
    notes: tuple[str, ...]
    error: str | None = None


def scope_figures(
    warehouse: Warehouse, scope: str, now: datetime, basis: str = BILLED
) -> ScopeFigures:
    """The month's figures of `scope` on `basis` as of `now` (see the module's docstring)."""
    now = now.astimezone(UTC)
    estimated = basis == BILLED_ESTIMATED
    resolved, done, series, _ = read_series(warehouse, parse_scope(scope), now, estimated=estimated)
    forecast = forecast_month(series.days, now, through=done.through, behind=done.behind)
    month = done.today.replace(day=1)
    through = done.through
    complete_days = (through - month).days + 1 if through >= month else 0
    first = max(month, through + timedelta(days=1))
    cost = Decimal(0)
    if first <= done.today:
        found = explore(
            warehouse,
            "cost",
            Scope(first, done.today + timedelta(days=1), resolved.filters()),
            granularity="month",
            limit=1,
        )
        cost = Decimal(str(found["total"]))
    month_estimate = None
    notes: tuple[str, ...] = ()
    if series.estimate is not None:
        if series.estimate.unavailable:
            notes = (series.estimate.unavailable,)
        else:
            month_estimate = series.estimate.between(month, through)
            notes = tuple(describe(month_estimate))
    return ScopeFigures(
        resolved.text,
        series.label,
        month,
        forecast,
        through,
        complete_days,
        first if first < done.today else None,
        cost,
        month_estimate,
        notes,
    )


def read_figures(
    warehouse: Warehouse, budgets: Iterable[Budget], now: datetime
) -> dict[str, BudgetFigures]:
    """Each budget's figures as of `now` (a scope shared by several budgets is read once)."""
    now = now.astimezone(UTC)
    month = now.date().replace(day=1)
    cache: dict[tuple[str, str], ScopeFigures | InvalidInput] = {}
    out = {}
    for b in budgets:
        key = (b.scope, b.basis)
        if key not in cache:
            try:
                cache[key] = scope_figures(warehouse, b.scope, now, b.basis)
            except InvalidInput as exc:
                cache[key] = exc
        found = cache[key]
        if isinstance(found, InvalidInput):
            error = f"its scope cannot be read: {found.message}"
            out[b.name] = BudgetFigures(b, None, None, (error,), error)
            continue
        f = found.forecast
        notes = [*found.notes, *f.notes]
        if b.amount(month) is None:
            notes.insert(0, f"no amount for {month:%Y-%m}: its thresholds are not evaluated")
        figures = Figures(
            month,
            b.amount(month),
            f.actual,
            found.complete_days,
            found.complete_through,
            f.p10,
            f.p50,
            f.p90,
        )
        out[b.name] = BudgetFigures(b, found, figures, tuple(notes))
    return out


def evaluate_budgets(
    warehouse: Warehouse, now: datetime, *, dry_run: bool = False
) -> list[BudgetEvent]:
    """Step every budget threshold's state as of `now` and return the events to send: at most
    one firing and one resolved event per budget and month, each naming its most severe
    threshold. States and events come from one transaction; on the same data, a second run
    returns no event. With `dry_run`, the events are returned and no state is written."""
    now = now.astimezone(UTC)
    month = now.date().replace(day=1)
    budgets = load_budgets(warehouse)
    read = read_figures(warehouse, budgets.values(), now)
    with warehouse.transaction() as cur:
        current = read_budgets(cur)
        figures = {
            name: bf.figures
            for name, bf in read.items()
            if bf.figures is not None and current.get(name) == budgets[name]
        }
        changes = plan(current, figures, read_states(cur), month, now)
        if not dry_run:
            write_states(cur, changes.states, changes.dropped, now)
    return changes.events
