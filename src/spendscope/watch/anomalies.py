"""Anomaly detection over the warehouse: every scope's daily spend scored, the anomalies found
kept with their drivers, their lifecycle and their feedback.

**What is scored.** The organization; each connection; each value of each allocation dimension
(a team, a cost centre, …), each workspace, API key, user and model (the 100 biggest of each
dimension over the history read; values with no key — `(none)` — and the rest folded into
`Other` are not scopes). A scope is scored only while its mean daily spend over its last 28
complete days is at least `anomaly_min_daily_spend`. Its series is what a forecast of it reads
(`series.read_series`): its complete, non-provisional days, from its first day with spend.

**Which days.** Each evaluation re-scores the last `SCORED_DAYS` (45) complete days of every
scope (Anthropic revises cost for up to 30 days), scanning from `SCAN_MARGIN` (14) days earlier
so an episode under way is seen whole. A day is scored from the days before it alone
(`anomaly_score`), so a new day never changes an older one; a revised day changes its own score
and those of the days after it. An anomaly found before is then updated: its figures, its
drivers, whether its episode still runs; one whose day no longer qualifies is resolved
(`revised`). Anomalies older than the window are kept as they were.

**Drivers.** For each anomaly, the values of the child dimensions within its scope (for the
organization: connections, allocation values, workspaces, API keys, users, models; for a
workspace: its keys and models; for a key or a user: the models; for a model: the workspaces,
keys and users that used it), each with its own actual and expected spend that day (the same
baseline on its own series; with less history, the median of its days so far, 0 for a value new
that day). Those whose impact is in the anomaly's direction and at least 5 % of its impact are
kept — the 3 biggest of each dimension, the 10 biggest in all — biggest impact first.

**Idempotent.** Re-evaluating the same data finds the same anomalies with the same figures and
writes nothing (`anomaly_store.changes`). The drivers are computed again for an anomaly that is
new, whose day's figures changed, or that is still under way (active: what people look at, and
what its alert says); a past one keeps those of its last change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from ..errors import InvalidInput, NotFoundLocally
from ..notify.alert import fingerprint
from ..reporting.catalog import NONE_KEY, OTHER_KEY
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET
from .anomaly_score import Floors, Scorer
from .anomaly_store import (
    FEEDBACK,
    ORGANIZATION,
    Anomaly,
    Driver,
    changes,
    read_anomalies,
    with_states,
    write_anomalies,
)
from .series import ForecastScope, Series, read_series, scope_dimensions

if TYPE_CHECKING:
    from ..config import Settings

KIND = "anomaly"
SUBJECT = "daily spend"
SCORED_DAYS = 45
SCAN_MARGIN = 14
FLOOR_DAYS = 28
DRIVERS_PER_DIMENSION = 3
MAX_DRIVERS = 10
DRIVER_SHARE = Decimal("0.05")
CENT = Decimal("0.01")
# The child dimensions of each kind of scope, in the order drivers tie-break on; the allocation
# dimensions join the organization's (after `connection`) and a connection's (first), and an
# allocation value's are `ALLOCATION_CHILDREN`.
CHILDREN: dict[str, tuple[str, ...]] = {
    ORGANIZATION: ("connection", "workspace", "api_key", "user", "model"),
    "connection": ("workspace", "api_key", "user", "model"),
    "workspace": ("api_key", "model"),
    "api_key": ("model",),
    "user": ("model",),
    "model": ("workspace", "api_key", "user"),
}
ALLOCATION_CHILDREN = ("workspace", "api_key", "user", "model")


def floors_of(settings: Settings) -> Floors:
    """The floors an anomaly must pass, from the settings."""
    return Floors(settings.anomaly_min_impact_usd, settings.anomaly_min_impact_percent / 100)


def anomaly_id(scope: str, day: date) -> str:
    """An anomaly's identity: the fingerprint of its alert (kind `anomaly`, its scope, the
    subject `daily spend`, its day)."""
    return fingerprint(KIND, scope, SUBJECT, day.isoformat())


def cents(v: Decimal | float) -> Decimal:
    d = v if isinstance(v, Decimal) else Decimal(repr(v))
    return d.quantize(CENT, ROUND_HALF_EVEN) + 0


def children_of(dimension: str, allocation: Sequence[str]) -> tuple[str, ...]:
    """The child dimensions whose values explain an anomaly of a scope of `dimension`."""
    if dimension in allocation:
        return ALLOCATION_CHILDREN
    own = CHILDREN.get(dimension, ())
    if dimension in (ORGANIZATION, "connection"):
        head = own[:1] if dimension == ORGANIZATION else ()
        return (*head, *allocation, *own[len(head) :])
    return own


# -- reading the series -------------------------------------------------------------------------


@dataclass(slots=True)
class Reader:
    """`series.read_series` for one evaluation, each (scope, breakdown) read once."""

    warehouse: Warehouse
    now: datetime
    _cache: dict[tuple[str, str | None], tuple[Series, list[Series]]] = field(default_factory=dict)

    def read(self, scope: ForecastScope, by: str | None = None) -> tuple[Series, list[Series]]:
        key = (scope.text, by)
        if key not in self._cache:
            _, _, parent, children = read_series(self.warehouse, scope, self.now, by)
            self._cache[key] = (parent, children)
        return self._cache[key]


@dataclass(frozen=True, slots=True)
class Scored:
    """A scope scored: its scope text, dimension, key and label, and its series."""

    scope: str
    dimension: str
    key: str
    label: str
    series: Series

    @property
    def values(self) -> list[float]:
        return [float(v) for _, v in self.series.days]

    @property
    def window(self) -> tuple[date, date]:
        """The first and the last day this evaluation scores."""
        last = self.series.days[-1][0]
        return last - timedelta(days=SCORED_DAYS - 1), last


def _above_floor(series: Series, floor: float) -> bool:
    recent = [float(v) for _, v in series.days[-FLOOR_DAYS:]]
    return bool(recent) and sum(recent) / len(recent) >= floor


def scored_scopes(reader: Reader, settings: Settings) -> list[Scored]:
    """Every scope with spend above the floor (see the module's docstring)."""
    floor = settings.anomaly_min_daily_spend
    out: list[Scored] = []
    parent, _ = reader.read(ForecastScope())
    if not parent.days:
        return []  # no spend at all: nothing to break down
    candidates = [Scored(ORGANIZATION, ORGANIZATION, "", "", parent)]
    labels = reader.warehouse.read(f"SELECT connection_label FROM {DATASET}.connections ORDER BY 1")
    for (label,) in labels:
        try:
            series, _ = reader.read(ForecastScope("connection", label))
        except InvalidInput:
            continue
        candidates.append(Scored(f"connection:{label}", "connection", label, label, series))
    for dimension in scope_dimensions(reader.warehouse):
        if dimension == "connection":
            continue
        try:
            _, children = reader.read(ForecastScope(), dimension)
        except InvalidInput:
            continue
        for child in children:
            if child.key in (NONE_KEY, OTHER_KEY):
                continue
            scope = f"{dimension}:{child.key}"
            candidates.append(Scored(scope, dimension, child.key, child.label, child))
    for c in candidates:
        if c.series.days and _above_floor(c.series, floor):
            out.append(c)
    return out


# -- finding ------------------------------------------------------------------------------------


def find(scored: Scored, floors: Floors) -> list[Anomaly]:
    """The anomalies of a scope's window (drivers not yet known)."""
    days = scored.series.days
    start = days[0][0]
    scorer = Scorer(scored.values)
    window_start = scored.window[0]
    first = (window_start - start).days
    out = []
    for e in scorer.episodes(max(0, first - SCAN_MARGIN), floors):
        s = e.start
        day = start + timedelta(days=s.index)
        if day < window_start:
            continue
        actual = cents(days[s.index][1])
        expected = cents(s.expected)
        out.append(
            Anomaly(
                id=anomaly_id(scored.scope, day),
                day=day,
                scope=scored.scope,
                dimension=scored.dimension,
                value_key=scored.key,
                value_label=scored.label,
                method=s.method,
                history_days=s.index,
                actual=actual,
                expected=expected,
                low=cents(s.low),
                high=cents(s.high),
                impact=actual - expected,
                score=round(s.score, 1),
                drivers=(),
                last_day=start + timedelta(days=e.last),
                ongoing=e.ongoing,
            )
        )
    return out


def scope_of(a: Anomaly) -> ForecastScope:
    """The scope of an anomaly as a forecast names it."""
    if a.dimension == ORGANIZATION:
        return ForecastScope()
    return ForecastScope(a.dimension, a.value_key)


def drivers_of(reader: Reader, a: Anomaly) -> tuple[Driver, ...]:
    """The values of the child dimensions that explain `a` (see the module's docstring)."""
    allocation = [d for d in scope_dimensions(reader.warehouse) if d not in CHILDREN]
    found: list[tuple[int, Driver]] = []
    for rank, dimension in enumerate(children_of(a.dimension, allocation)):
        try:
            _, children = reader.read(scope_of(a), dimension)
        except InvalidInput:
            continue
        mine = []
        for child in children:
            if child.key in (NONE_KEY, OTHER_KEY) or not child.days:
                continue
            t = (a.day - child.days[0][0]).days
            if t < 0 or t >= len(child.days):
                continue
            actual = cents(child.days[t][1])
            expected = cents(Scorer([float(v) for _, v in child.days]).expected_of(t))
            impact = actual - expected
            if impact > 0 and impact >= a.impact * DRIVER_SHARE:
                mine.append(Driver(dimension, child.key, child.label, actual, expected, impact))
        mine.sort(key=lambda d: (-d.impact, d.value))
        found += [(rank, d) for d in mine[:DRIVERS_PER_DIMENSION]]
    found.sort(key=lambda x: (-x[1].impact, x[0], x[1].value))
    return tuple(d for _, d in found[:MAX_DRIVERS])


# -- evaluating ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evaluated:
    """An evaluation: every anomaly as it now stands, and those it changed (written unless it
    was a dry run)."""

    rows: list[Anomaly]
    changed: list[Anomaly]
    before: dict[str, Anomaly]


def merge(
    current: Mapping[str, Anomaly],
    found: Iterable[Anomaly],
    windows: Mapping[str, tuple[date, date]],
) -> list[Anomaly]:
    """The stored anomalies updated by what an evaluation found: a found one keeps its feedback
    and times; a stored one not found again no longer qualifies when its scope was scored and
    its day was (it was revised away), and no longer runs either way — unless its day is no
    longer complete (marked provisional again), when it is left as it was."""
    out: dict[str, Anomaly] = {}
    for new in found:
        old = current.get(new.id)
        kept = new
        if old is not None:
            kept = replace(
                new,
                feedback=old.feedback,
                feedback_at=old.feedback_at,
                first_seen_at=old.first_seen_at,
                changed_at=old.changed_at,
            )
        out[new.id] = kept
    for key, old in current.items():
        if key in out:
            continue
        window = windows.get(old.scope)
        if window is not None and old.day > window[1]:
            out[key] = old  # its day is not complete any more (provisional again): left alone
        elif window is not None and window[0] <= old.day:
            out[key] = replace(old, qualifies=False, ongoing=False)
        else:
            out[key] = replace(old, ongoing=False)
    return with_states(out.values())


def evaluate_anomalies(
    warehouse: Warehouse, settings: Settings, now: datetime, *, dry_run: bool = False
) -> Evaluated:
    """Score every scope as of `now`, update the anomalies and write those that changed (one
    transaction); with `dry_run`, write nothing."""
    now = now.astimezone(UTC)
    reader = Reader(warehouse, now)
    floors = floors_of(settings)
    scored = scored_scopes(reader, settings)
    with warehouse.cursor() as cur:
        stored = read_anomalies(cur)
    found = [a for s in scored for a in find(s, floors)]
    with_drivers = []
    for a in found:
        old = stored.get(a.id)
        unchanged = old is not None and (old.figures(), old.value_label) == (
            a.figures(),
            a.value_label,
        )
        if old is not None and unchanged and not a.ongoing:
            with_drivers.append(replace(a, drivers=old.drivers))
        else:
            with_drivers.append(replace(a, drivers=drivers_of(reader, a)))
    windows = {s.scope: s.window for s in scored}
    if dry_run:
        with warehouse.cursor() as cur:
            current = read_anomalies(cur)
        rows = merge(current, with_drivers, windows)
        return Evaluated(rows, changes(current, rows, now), current)
    with warehouse.transaction() as cur:
        current = read_anomalies(cur)
        rows = merge(current, with_drivers, windows)
        changed = changes(current, rows, now)
        write_anomalies(cur, changed)
    return Evaluated(rows, changed, current)


def give_feedback(
    warehouse: Warehouse, settings: Settings, anomaly: str, feedback: str, now: datetime
) -> Anomaly:
    """Record feedback on an anomaly (`expected` resolves it and mutes similar ones;
    `unexpected` confirms it) and re-derive every state; the anomaly as it now stands. An
    anomaly not kept yet (only ever listed through the API) is first kept by an evaluation."""
    if feedback not in FEEDBACK:
        raise InvalidInput(
            f"Feedback '{feedback}' is not one of: {', '.join(FEEDBACK)}.",
            "Say whether the anomaly was expected or unexpected.",
        )
    now = now.astimezone(UTC)
    with warehouse.cursor() as cur:
        kept = anomaly in read_anomalies(cur, "WHERE id = ?", anomaly)
    if not kept:
        evaluate_anomalies(warehouse, settings, now)
    with warehouse.transaction() as cur:
        current = read_anomalies(cur)
        if anomaly not in current:
            raise NotFoundLocally(
                f"No anomaly has the id '{anomaly}'.", "List them: spendscope anomalies"
            )
        old = current[anomaly]
        given = (
            old if old.feedback == feedback else replace(old, feedback=feedback, feedback_at=now)
        )
        rows = with_states([given if r.id == anomaly else r for r in current.values()])
        write_anomalies(cur, changes(current, rows, now))
    return next(r for r in rows if r.id == anomaly)
