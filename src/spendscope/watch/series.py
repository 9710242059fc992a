"""A scope's daily billed cost over its complete days, read through `reporting`'s explorer, and
on the `billed_estimated` basis the same plus an estimate of what is not billed yet.

**Scopes.** `organization` (everything the warehouse holds; the default), or `DIMENSION:VALUE`
for a connection, an allocation dimension (`team:payments`, `cost_center:CC-100`, …), a
workspace, an API key, a user or a model. A workspace or key may be named by its id or by its
name; a user by address or, with pseudonyms on, by pseudonym. The value is a filter of the
explorer (`reporting.queries.explore`), so a scope covers exactly the spend `report --filter`
shows for it, double-booked spend counted once.

**Complete days.** A day is complete when it is before today (UTC, from the caller's clock),
before the first provisional day of any connection the scope reads, and no later than those
connections' `complete_through` (the day through which their cost and usage are loaded in
full). The days of a scope run from its first day with spend (no zero-padding before it) through
the last complete day; a day in between with no spend in the scope is 0.

**Behind.** A connection the scope reads is behind when its data is complete only through a day
that ended more than 48 hours ago, when the API's `data_refreshed_at` watermark of its cost or
usage was older than 48 hours at its last sync, or when it has not finished its first sync;
forecasts over it are then `stale`.

**Billed + estimated.** On that basis a connection's day is complete once its cost *or* its
usage is loaded in full (the later of the two; provisional when either is), its watermark is
the newer of the two, and each day adds the estimate of `estimate.py`: usage of days without
cost, and Priority Tier usage the legacy Console cost report leaves out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ..reporting.catalog import OTHER_KEY, Scope, invalid_input
from ..reporting.freshness import PROVISIONAL_LOOKBACK, freshness
from ..reporting.health import CORE_FEEDS
from ..reporting.queries import dimension_values, explore
from ..reporting.sql import allocation_dimensions
from ..warehouse.connection import Warehouse
from ..warehouse.marts import MART_USAGE
from ..warehouse.schema import DATASET
from .estimate import Estimate, estimate
from .forecast import STALE_AFTER, Day

ORGANIZATION = "organization"
# Built-in dimensions a scope (or a breakdown) may name; the allocation dimensions come on top.
SCOPE_DIMENSIONS = ("connection", "workspace", "api_key", "user", "model")
# Days read before the last complete day: the fit, the backtest's origins and its horizon.
HISTORY_DAYS = 182
# Most values of a breakdown; the rest are folded into one `Other` value (which still adds up).
MAX_CHILDREN = 100


@dataclass(frozen=True, slots=True)
class ForecastScope:
    """`organization` (no dimension), or one value of one dimension."""

    dimension: str | None = None
    value: str | None = None

    @property
    def text(self) -> str:
        return ORGANIZATION if self.dimension is None else f"{self.dimension}:{self.value}"

    def filters(self) -> dict[str, list[str]]:
        if self.dimension is None or self.value is None:
            return {}
        return {self.dimension: [self.value]}


def parse_scope(text: str | None) -> ForecastScope:
    """`organization` (or nothing) or `DIMENSION:VALUE`; the dimension is checked against the
    warehouse by `check_dimension`."""
    raw = (text or "").strip()
    if not raw or raw == ORGANIZATION:
        return ForecastScope()
    name, sep, value = raw.partition(":")
    if not sep or not name.strip() or not value.strip():
        raise invalid_input(
            f"Scope '{raw}' is not 'organization' or 'dimension:value'.",
            "Write it like team:payments, connection:acme-console or model:claude-opus-4-5.",
        )
    return ForecastScope(name.strip(), value.strip())


def scope_dimensions(warehouse: Warehouse) -> list[str]:
    """The dimensions a scope may name: the built-in ones and the allocation dimensions."""
    return [*SCOPE_DIMENSIONS, *allocation_dimensions(warehouse)]


def check_dimension(warehouse: Warehouse, name: str, what: str = "scope") -> None:
    known = scope_dimensions(warehouse)
    if name not in known:
        raise invalid_input(
            f"A {what} cannot be by '{name}'.",
            f"Use one of: {', '.join(known)} (allocation dimensions once configured).",
        )


@dataclass(frozen=True, slots=True)
class Completeness:
    """Which days are complete for a scope, and why its forecasts would be stale."""

    today: date
    through: date  # the last complete day
    behind: tuple[str, ...] = ()


def completeness(
    warehouse: Warehouse, scope: ForecastScope, now: datetime, *, estimated: bool = False
) -> Completeness:
    """The last complete day of the scope's connections (all of them unless the scope is one
    connection), and which of them are behind. With `estimated` (the `billed_estimated`
    basis), a connection's day is complete once its cost or its usage is loaded in full (the
    later of the two), and provisional when either is."""
    today = now.astimezone(UTC).date()
    fresh = freshness(warehouse, today)
    conns = [
        c
        for c in fresh["connections"]
        if scope.dimension != "connection" or c["label"] == scope.value
    ]
    ends = [today]
    behind = []
    marks = _feed_marks(warehouse)
    usage_provisional = _usage_provisional(warehouse, today) if estimated else {}
    for c in conns:
        label = c["label"]
        through, provisional = c["complete_through"], c["provisional_from"]
        refreshed = [at for _, at in marks.get(label, {}).values()]
        if estimated:
            loaded = [d for d, _ in marks.get(label, {}).values() if d is not None]
            through = max(loaded).isoformat() if loaded else None
            provisional = min(
                (p for p in (provisional, usage_provisional.get(label)) if p), default=None
            )
        if provisional:
            ends.append(date.fromisoformat(provisional))
        if through is None:
            behind.append(f"{label} has not finished its first sync")
            continue
        done = date.fromisoformat(through)
        ends.append(done + timedelta(days=1))
        if now - _midnight(done + timedelta(days=1)) > STALE_AFTER:
            behind.append(f"{label} is complete only through {done}")
        known = [at for at in refreshed if at is not None]
        mark = (max if estimated else min)(known) if known else None
        if mark is not None and now - mark > STALE_AFTER:
            behind.append(f"{label}'s source data was last refreshed {mark:%Y-%m-%d %H:%M}Z")
    return Completeness(today, min(ends) - timedelta(days=1), tuple(behind))


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


def _feed_marks(warehouse: Warehouse) -> dict[str, dict[str, tuple[date | None, datetime | None]]]:
    """Per connection and cost or usage feed: the day it is loaded in full through, and the
    API's `data_refreshed_at` watermark at its last sync."""
    if "sync_state" not in warehouse.existing_tables():
        return {}
    marks = ", ".join("?" for _ in CORE_FEEDS)
    rows = warehouse.read(
        f"SELECT connection_label, feed, complete_through, data_refreshed_at "
        f"FROM {DATASET}.sync_state WHERE feed IN ({marks})",
        *CORE_FEEDS,
    )
    out: dict[str, dict[str, tuple[date | None, datetime | None]]] = {}
    for label, feed, through, at in rows:
        day = None if through is None else date.fromisoformat(str(through)[:10])
        out.setdefault(label, {})[feed] = (day, None if at is None else _aware(at))
    return out


def _usage_provisional(warehouse: Warehouse, today: date) -> dict[str, str]:
    """Per connection, its first day of provisional usage (ISO), as `freshness` finds its
    first day of provisional cost."""
    if MART_USAGE not in warehouse.existing_tables():
        return {}
    rows = warehouse.read(
        f"SELECT CAST(connection_label AS VARCHAR), min(day) FROM {DATASET}.{MART_USAGE} "
        "WHERE is_provisional AND day >= ? GROUP BY 1",
        today - PROVISIONAL_LOOKBACK,
    )
    return {label: d.isoformat() for label, d in rows if d is not None}


def _aware(at: Any) -> datetime:
    value: datetime = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Series:
    """One scope's complete days, from its first day with spend (none: no spend yet). On the
    `billed_estimated` basis, each day's value includes its estimate, which `estimate` holds
    (None on the billed basis)."""

    key: str
    label: str
    days: list[Day]
    estimate: Estimate | None = None


def resolve(
    warehouse: Warehouse, scope: ForecastScope, since: date, until: date
) -> tuple[ForecastScope, str]:
    """The scope with its value as the explorer's key, and what people read for it: a
    connection must be known; a workspace or key named by its name becomes its id (a name two
    of them share is refused)."""
    if scope.dimension is None or scope.value is None:
        return scope, "Organization"
    check_dimension(warehouse, scope.dimension)
    if scope.dimension == "connection":
        labels = [
            r[0] for r in warehouse.read(f"SELECT connection_label FROM {DATASET}.connections")
        ]
        if scope.value not in labels:
            raise invalid_input(
                f"No connection is labelled '{scope.value}'.",
                f"Known connections: {', '.join(sorted(labels)) or 'none yet'}.",
            )
        return scope, scope.value
    values = dimension_values(warehouse, scope.dimension, "cost", Scope(since, until))
    for v in values:
        if v["key"] == scope.value:
            return scope, str(v["label"])
    named = [v["key"] for v in values if v["label"] == scope.value]
    if len(named) > 1:
        raise invalid_input(
            f"Several {scope.dimension} values are named '{scope.value}'.",
            f"Name one by its id: {', '.join(named)}.",
        )
    if named:
        return ForecastScope(scope.dimension, named[0]), scope.value
    return scope, scope.value


def read_series(
    warehouse: Warehouse,
    scope: ForecastScope,
    now: datetime,
    by: str | None = None,
    *,
    estimated: bool = False,
) -> tuple[ForecastScope, Completeness, Series, list[Series]]:
    """The scope (its value resolved), its completeness, its series and, with `by`, the series
    of each value of that dimension within it (the biggest `MAX_CHILDREN`, the rest as one
    `Other`; a missing value as `(none)`), which add up to the scope's day by day.

    With `estimated` (the `billed_estimated` basis, without `by`), days are complete as
    `completeness` says for that basis and each day of the scope's series adds its estimate
    of spend not billed (`estimate.estimate`, priced from the same days)."""
    if estimated and by is not None:
        raise ValueError("an estimated series has no breakdown")
    done = completeness(warehouse, scope, now, estimated=estimated)
    until = done.through + timedelta(days=1)
    since = until - timedelta(days=HISTORY_DAYS)
    scope, label = resolve(warehouse, scope, since, until)
    if by is not None:
        check_dimension(warehouse, by, "breakdown")
    result = explore(
        warehouse,
        "cost",
        Scope(since, until, scope.filters()),
        group_by=by,
        granularity="day",
        limit=MAX_CHILDREN,
    )
    days = [date.fromisoformat(p) for p in result["periods"]]
    groups = [(s["key"], s["label"], [Decimal(v) for v in s["values"]]) for s in result["series"]]
    total = [sum(vs, Decimal(0)) for vs in zip(*(g[2] for g in groups), strict=True)] or [
        Decimal(0)
    ] * len(days)
    found = None
    if estimated:
        found = estimate(warehouse, scope.filters(), since, done.through)
        total = [
            v + e.amount if (e := found.days.get(d)) else v
            for d, v in zip(days, total, strict=True)
        ]
    parent = Series(scope.text, label, _trimmed(days, total), found)
    children = [Series(k, label, _trimmed(days, vs)) for k, label, vs in groups] if by else []
    return scope, done, parent, children


def _trimmed(days: Sequence[date], values: Sequence[Decimal]) -> list[Day]:
    """The days from the first with spend (none when there is none)."""
    first = next((i for i, v in enumerate(values) if v), None)
    if first is None:
        return []
    return list(zip(days[first:], values[first:], strict=True))


def child_scope(by: str, key: str) -> str | None:
    """The scope text of a breakdown's value (None for `Other`, which is not one value)."""
    if key == OTHER_KEY:
        return None
    return f"{by}:{key}"
