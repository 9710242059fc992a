"""The states of budget thresholds, and the alert events their changes produce (pure functions).

Each (budget, threshold, month) has its own state — `ok → firing → resolved` — so one
threshold never suppresses another (80 % and 100 % each fire). The month is the UTC calendar
month; a new month starts every threshold at `ok`.

**Actual-spend thresholds** compare the month to date (complete days) with the threshold's
share of the month's amount. One fires when the spend reaches it, **once per month**: it
resolves when the spend is revised below it or the budget is raised above it, and fires again
that month only if the amount it stands for has changed since (a budget lowered, or raised and
crossed anew) — never for the same amount twice.

**Forecast thresholds** compare the month-end P50 of the forecast with their share of the
amount, and never before the month has `MIN_FORECAST_DAYS` (3) complete days. They have
**hysteresis**: a firing forecast threshold resolves only when the P50 drops below
(1 − `FORECAST_MARGIN`) of its limit, 95 % of it, and fires again only once the P50 has risen
back to the limit, so a forecast wobbling around the line announces nothing new. A raised
budget resolves it as soon as the P50 is below the new limit (no margin: the change is
deliberate, not noise).

While a threshold fires, the amount it stands for follows the budget (a change that keeps it
crossed announces nothing). A threshold removed from its budget, a budget deleted or left with
no amount for the month resolves what fires; at the start of a month, what still fires in a
past month resolves (`month_ended`).

**Events**: all the changes of one budget and month in one evaluation make at most one firing
event and one resolved event, each named after its most severe threshold (`rank`) and covering
the rest, so thresholds crossed at once send one notification.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ..money import dollars
from ..warehouse.schema import row_key
from .budget_model import BASES, Budget, month_text, percent_text

OK = "ok"
FIRING: Literal["firing"] = "firing"
RESOLVED: Literal["resolved"] = "resolved"
STATES = (OK, FIRING, RESOLVED)
ACTUAL, FORECAST = "actual", "forecast"
INFO, WARNING, CRITICAL = "info", "warning", "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)
MIN_FORECAST_DAYS = 3
FORECAST_MARGIN = Decimal("0.05")
HUNDRED = Decimal(100)

# Why a state changed, in words (the end of an event's sentence).
REASONS = {
    "crossed": "crossed",
    "revised_down": "the spend was revised down",
    "budget_raised": "the budget was raised",
    "forecast_dropped": "the forecast dropped below 95 % of the limit",
    "threshold_removed": "the threshold was removed from the budget",
    "no_amount": "the budget has no amount for the month",
    "budget_deleted": "the budget was deleted",
    "month_ended": "the month ended",
}

Status = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Figures:
    """What a budget's thresholds are compared with, for one month."""

    month: date  # the month's first day
    amount: Decimal | None  # the month's amount (None: no budget this month)
    actual: Decimal  # month to date over complete days, on the budget's basis
    complete_days: int  # complete days of the month
    complete_through: date | None
    p10: Decimal | None = None
    p50: Decimal | None = None
    p90: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ThresholdState:
    """The state of one threshold of one budget in one month."""

    budget: str
    month: date
    kind: str  # actual | forecast
    threshold: Decimal  # percent
    state: str = OK
    scope: str = ""
    basis: str = "billed"
    amount: Decimal | None = None  # the month's amount it stands for
    value: Decimal | None = None  # the spend it was compared with at its last change
    reason: str | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    changed_at: datetime | None = None

    @property
    def key(self) -> tuple[str, date, str, Decimal]:
        return (self.budget, self.month, self.kind, self.threshold)

    @property
    def fingerprint_parts(self) -> tuple[str, ...]:
        """What identifies the alert: the budget, the kind, the threshold and the month."""
        pct, month = percent_text(self.threshold), month_text(self.month)
        return ("budget", self.budget, self.kind, pct, month)

    @property
    def fingerprint(self) -> str:
        return row_key(*self.fingerprint_parts)

    @property
    def severity(self) -> str:
        return severity(self.kind, self.threshold)

    @property
    def limit(self) -> Decimal | None:
        return None if self.amount is None else self.amount * self.threshold / HUNDRED


def severity(kind: str, threshold: Decimal) -> str:
    """`critical`: actual spend at 100 % or more; `warning`: actual spend at 80 % or more, or a
    forecast at 100 % or more; `info` otherwise."""
    if kind == ACTUAL:
        return CRITICAL if threshold >= HUNDRED else WARNING if threshold >= 80 else INFO
    return WARNING if threshold >= HUNDRED else INFO


def rank(s: ThresholdState) -> tuple[int, Decimal, bool]:
    """How severe a threshold is: by severity, then the higher percent, then actual spend
    before a forecast of the same percent."""
    return (SEVERITIES.index(s.severity), s.threshold, s.kind == ACTUAL)


@dataclass(frozen=True, slots=True)
class ThresholdRef:
    """One threshold an event opens or clears."""

    kind: str
    threshold: Decimal
    severity: str
    fingerprint: str
    fingerprint_parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BudgetEvent:
    """One notification to send: thresholds of one budget and month that started firing (or
    resolved) together. It is named after the most severe of them (`kind`, `threshold`,
    `severity`, `fingerprint`), and `covers` lists every threshold it opens or clears, that one
    first. `value` is the spend compared (month to date, or the P50 for a forecast threshold).

    `fingerprint` (a digest of `fingerprint_parts`: `budget`, the budget's name, the kind, the
    threshold and the month) is the alert's identity: it does not change with the figures, the
    amount or the budget's scope, so delivery pairs a resolved event with the firing one it
    clears and sends each once."""

    status: Status
    severity: str
    budget: str
    scope: str
    month: str  # YYYY-MM
    kind: str
    threshold: Decimal
    amount: Decimal | None
    value: Decimal | None
    basis: str
    reason: str
    title: str
    text: str
    fingerprint: str
    fingerprint_parts: tuple[str, ...]
    covers: tuple[ThresholdRef, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """What one evaluation does: the events to send, the states to write, the states to drop."""

    events: list[BudgetEvent]
    states: list[ThresholdState]
    dropped: list[ThresholdState]


# -- one threshold ------------------------------------------------------------------------------


def _fire(s: ThresholdState, amount: Decimal, value: Decimal, now: datetime) -> ThresholdState:
    return replace(
        s, state=FIRING, amount=amount, value=value, reason="crossed", fired_at=now, changed_at=now
    )


def _resolve(
    s: ThresholdState, value: Decimal | None, reason: str, now: datetime
) -> ThresholdState:
    """Resolved; it keeps the amount it fired against, so that only a different amount can make
    an actual-spend threshold fire again this month."""
    return replace(s, state=RESOLVED, value=value, reason=reason, resolved_at=now, changed_at=now)


def step(s: ThresholdState, f: Figures, now: datetime) -> ThresholdState:
    """The threshold's next state given the month's figures (see the module's docstring)."""
    if f.amount is None:
        return s
    limit = f.amount * s.threshold / HUNDRED
    changed = s.amount is not None and s.amount != f.amount
    if s.kind == ACTUAL:
        crossed = f.actual >= limit
        if s.state == OK or (s.state == RESOLVED and changed):
            return _fire(s, f.amount, f.actual, now) if crossed else s
        if s.state == FIRING and not crossed:
            reason = "budget_raised" if changed and f.amount > (s.amount or 0) else "revised_down"
            return _resolve(s, f.actual, reason, now)
    else:
        if f.p50 is None or f.complete_days < MIN_FORECAST_DAYS:
            return s
        if s.state in (OK, RESOLVED):
            return _fire(s, f.amount, f.p50, now) if f.p50 >= limit else s
        if changed and f.amount > (s.amount or 0) and f.p50 < limit:
            return _resolve(s, f.p50, "budget_raised", now)
        if f.p50 < limit * (1 - FORECAST_MARGIN):
            return _resolve(s, f.p50, "forecast_dropped", now)
    if s.state == FIRING and changed:
        return replace(s, amount=f.amount)  # still crossed: it now stands for the new amount
    return s


# -- every budget -------------------------------------------------------------------------------


def wanted(budget: Budget, month: date) -> list[tuple[str, Decimal]]:
    """The thresholds a budget has in a month (none without an amount that month)."""
    if budget.amount(month) is None:
        return []
    out = [(ACTUAL, t) for t in budget.thresholds]
    if budget.forecast_threshold is not None:
        out.append((FORECAST, budget.forecast_threshold))
    return out


def plan(
    budgets: Mapping[str, Budget],
    figures: Mapping[str, Figures],
    states: Sequence[ThresholdState],
    month: date,
    now: datetime,
) -> Plan:
    """The changes of one evaluation in `month` (the current month's first day): every budget
    with figures steps its month's thresholds; states of budgets without figures are left as
    they are (they could not be read, or changed while being read)."""
    old = {s.key: s for s in states}
    new: dict[tuple[str, date, str, Decimal], ThresholdState] = {}
    dropped: list[ThresholdState] = []
    for name, f in figures.items():
        b = budgets[name]
        for kind, t in wanted(b, month):
            s = old.get((name, month, kind, t)) or ThresholdState(name, month, kind, t)
            new[s.key] = step(replace(s, scope=b.scope, basis=b.basis), f, now)
    for key, s in old.items():
        if key in new:
            continue
        name, when = s.budget, s.month
        if name in budgets and name not in figures:
            continue
        if name not in budgets:
            reason = "budget_deleted"
        elif when < month:
            if s.state == FIRING:
                new[key] = _resolve(s, s.value, "month_ended", now)
            continue
        elif when > month:
            continue
        else:
            reason = "no_amount" if budgets[name].amount(month) is None else "threshold_removed"
        dropped.append(s)
        if s.state == FIRING:
            new[key] = _resolve(s, s.value, reason, now)
    events = _events(old, new, budgets, figures, now)
    gone = {s.key for s in dropped}
    return Plan(events, [s for k, s in new.items() if k not in gone], dropped)


def _events(
    old: Mapping[tuple[str, date, str, Decimal], ThresholdState],
    new: Mapping[tuple[str, date, str, Decimal], ThresholdState],
    budgets: Mapping[str, Budget],
    figures: Mapping[str, Figures],
    now: datetime,
) -> list[BudgetEvent]:
    groups: dict[tuple[str, date, str], list[ThresholdState]] = {}
    for key, s in new.items():
        before = old.get(key)
        if s.state != (before.state if before else OK) and s.state in (FIRING, RESOLVED):
            groups.setdefault((s.budget, s.month, s.state), []).append(s)
    events = []
    for (name, _, _), changed in sorted(groups.items(), key=lambda g: g[0]):
        changed.sort(key=rank, reverse=True)
        head = changed[0]
        events.append(_event(head, changed, budgets.get(name), figures.get(name), now))
    return events


def _event(
    head: ThresholdState,
    changed: Sequence[ThresholdState],
    budget: Budget | None,
    f: Figures | None,
    now: datetime,
) -> BudgetEvent:
    status: Status = FIRING if head.state == FIRING else RESOLVED
    covers = tuple(
        ThresholdRef(s.kind, s.threshold, s.severity, s.fingerprint, s.fingerprint_parts)
        for s in changed
    )
    amount = f.amount if f is not None and f.amount is not None else head.amount
    return BudgetEvent(
        status=status,
        severity=head.severity,
        budget=head.budget,
        scope=budget.scope if budget else head.scope,
        month=month_text(head.month),
        kind=head.kind,
        threshold=head.threshold,
        amount=amount,
        value=head.value,
        basis=budget.basis if budget else head.basis,
        reason=head.reason or "crossed",
        title=headline(head, amount),
        text=describe(head, changed, amount, f),
        fingerprint=head.fingerprint,
        fingerprint_parts=head.fingerprint_parts,
        covers=covers,
        at=now,
    )


def _label(s: ThresholdState) -> str:
    pct = f"{percent_text(s.threshold)} %"
    return pct if s.kind == ACTUAL else f"forecast {pct}"


def headline(head: ThresholdState, amount: Decimal | None) -> str:
    """The event's title: the budget, the threshold, and whether it fired or cleared."""
    month = month_text(head.month)
    pct = f"{percent_text(head.threshold)} % of {dollars(amount)}"
    if head.state == FIRING and head.kind == ACTUAL:
        return f"Budget {head.budget}: {pct} reached ({month})"
    if head.state == FIRING:
        return f"Budget {head.budget}: forecast at {pct} ({month})"
    return f"Budget {head.budget}: {_label(head)} cleared ({month})"


def describe(
    head: ThresholdState,
    changed: Sequence[ThresholdState],
    amount: Decimal | None,
    f: Figures | None,
) -> str:
    """The event's sentence: what crossed (or cleared), against what amount, on what basis."""
    basis = BASES.get(head.basis, head.basis)
    where = f"Budget {head.budget} ({head.scope}), {month_text(head.month)}"
    budget = f"the {dollars(amount)} budget"
    others = [_label(s) for s in changed[1:]]
    also = ""
    if others:
        also = f" Also {'crossed' if head.state == FIRING else 'cleared'}: {', '.join(others)}."
    through = ""
    if f is not None and f.complete_through is not None:
        through = f" Complete days through {f.complete_through}; later days are not counted yet."
    pct = f"{percent_text(head.threshold)} %"
    if head.state == FIRING and head.kind == ACTUAL:
        return (
            f"{where}: month-to-date {basis} cost {dollars(head.value)} has reached {pct} of "
            f"{budget}.{also}{through}"
        )
    if head.state == FIRING:
        band = ""
        if f is not None and f.p10 is not None and f.p90 is not None:
            band = f" (P10–P90 {dollars(f.p10)}–{dollars(f.p90)})"
        return (
            f"{where}: the month-end forecast of {basis} cost, {dollars(head.value)}{band}, is "
            f"at or above {pct} of {budget}.{also}{through}"
        )
    what = "month to date" if head.kind == ACTUAL else "month-end forecast"
    return (
        f"{where}: {_label(head)} of {budget} no longer fires ({what} "
        f"{dollars(head.value)}, {basis}): {REASONS.get(head.reason or '', '')}.{also}"
    )
