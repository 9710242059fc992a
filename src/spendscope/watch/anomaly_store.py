"""Anomalies as the warehouse keeps them (`anomalies`), and their lifecycle (pure).

**Lifecycle.** An anomaly is `active` while its episode runs through the newest scored day
(the anomaly day is the newest, or spend is still elevated), `past` once a later day is back to
normal (reason `back_to_normal`), and `resolved` when it is gone or dismissed:

- `revised`: re-scored after Anthropic revised the day (or the days before it), it no longer
  qualifies;
- `marked_expected`: someone gave the feedback `expected`;
- `muted`: no feedback of its own, and an anomaly of the same scope and value marked `expected`
  lies at most `MUTE_DAYS` (30) days before it, with at least half its impact
  (`MUTE_RATIO`: an impact more than twice the expected one's is reported after all).

The state is a function of the row (its figures, whether it still qualifies and still runs,
its feedback) and of the anomalies marked expected, so re-deriving it changes nothing: each
evaluation and each feedback re-derives every state and writes only the rows that changed.
Feedback `unexpected` confirms an anomaly: it is never muted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..money import exact
from ..warehouse.anomaly_tables import ANOMALIES
from ..warehouse.schema import DATASET, row_key

TABLE = f"{DATASET}.{ANOMALIES.name}"

ACTIVE, PAST, RESOLVED = "active", "past", "resolved"
STATES = (ACTIVE, PAST, RESOLVED)
BACK_TO_NORMAL, REVISED, MARKED_EXPECTED, MUTED = (
    "back_to_normal",
    "revised",
    "marked_expected",
    "muted",
)
EXPECTED, UNEXPECTED = "expected", "unexpected"
FEEDBACK = (EXPECTED, UNEXPECTED)
MUTE_DAYS = 30
MUTE_RATIO = Decimal(2)
ORGANIZATION = "organization"


@dataclass(frozen=True, slots=True)
class Driver:
    """A value of a child dimension and its part in the change: its actual spend of the day,
    its own expected spend, and the difference (money to the cent)."""

    dimension: str
    key: str
    value: str
    actual: Decimal
    expected: Decimal
    impact: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "dimension": self.dimension,
            "key": self.key,
            "value": self.value,
            "actual": exact(self.actual),
            "expected": exact(self.expected),
            "impact": exact(self.impact),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Driver:
        return cls(
            str(d["dimension"]),
            str(d.get("key", d["value"])),
            str(d["value"]),
            Decimal(d["actual"]),
            Decimal(d["expected"]),
            Decimal(d["impact"]),
        )


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly as stored: money to the cent, the score to one decimal."""

    id: str
    day: date
    scope: str  # organization | dimension:key
    dimension: str
    value_key: str
    value_label: str
    method: str
    history_days: int
    actual: Decimal
    expected: Decimal
    low: Decimal
    high: Decimal
    impact: Decimal
    score: float
    drivers: tuple[Driver, ...]
    last_day: date
    ongoing: bool
    qualifies: bool = True
    state: str = ACTIVE
    reason: str | None = None
    feedback: str | None = None
    feedback_at: datetime | None = None
    first_seen_at: datetime | None = None
    changed_at: datetime | None = None

    def content(self) -> tuple[Any, ...]:
        """What a change of is written: not the times, nor the history (which grows as the
        history read slides)."""
        return (
            self.day,
            self.scope,
            self.value_label,
            self.method,
            self.actual,
            self.expected,
            self.low,
            self.high,
            self.impact,
            self.score,
            self.drivers,
            self.last_day,
            self.ongoing,
            self.qualifies,
            self.state,
            self.reason,
            self.feedback,
        )

    def figures(self) -> tuple[Any, ...]:
        """What the drivers depend on: the day's figures."""
        return (self.actual, self.expected)


# -- the lifecycle --------------------------------------------------------------------------------


def mutes(expected: Anomaly, other: Anomaly) -> bool:
    """Whether `expected` (marked expected) mutes `other`: the same scope, at most `MUTE_DAYS`
    after it, an impact at most `MUTE_RATIO` times its own."""
    return (
        other.id != expected.id
        and other.scope == expected.scope
        and expected.day < other.day <= expected.day + timedelta(days=MUTE_DAYS)
        and other.impact <= expected.impact * MUTE_RATIO
    )


def state_of(a: Anomaly, marked: Sequence[Anomaly]) -> tuple[str, str | None]:
    """The state and reason of `a`, given the anomalies marked expected (see the module's
    docstring)."""
    if not a.qualifies:
        return RESOLVED, REVISED
    if a.feedback == EXPECTED:
        return RESOLVED, MARKED_EXPECTED
    if a.feedback is None and any(mutes(m, a) for m in marked):
        return RESOLVED, MUTED
    if a.ongoing:
        return ACTIVE, None
    return PAST, BACK_TO_NORMAL


def with_states(rows: Iterable[Anomaly]) -> list[Anomaly]:
    """Every row with its state and reason re-derived."""
    rows = list(rows)
    marked = [r for r in rows if r.feedback == EXPECTED]
    out = []
    for r in rows:
        state, reason = state_of(r, marked)
        out.append(replace(r, state=state, reason=reason))
    return out


def changes(
    before: Mapping[str, Anomaly], after: Iterable[Anomaly], now: datetime
) -> list[Anomaly]:
    """The rows of `after` that are new or differ from `before`, stamped with `now`."""
    out = []
    for r in after:
        old = before.get(r.id)
        if old is not None and old.content() == r.content():
            continue
        first = old.first_seen_at if old is not None and old.first_seen_at else now
        out.append(replace(r, first_seen_at=first, changed_at=now))
    return out


# -- the table ------------------------------------------------------------------------------------

_COLUMNS = (
    "id, day, scope, dimension, value_key, value_label, method, history_days, actual_usd, "
    "expected_usd, low_usd, high_usd, impact_usd, score, drivers_json, last_day, ongoing, "
    "qualifies, state, reason, feedback, feedback_at, first_seen_at, changed_at"
)


def _utc(at: Any) -> datetime | None:
    if at is None:
        return None
    value: datetime = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cents(v: Any) -> Decimal:
    return Decimal(str(v)).quantize(Decimal("0.01"))


def _row(r: Sequence[Any]) -> Anomaly:
    drivers = tuple(Driver.from_json(d) for d in json.loads(r[14] or "[]"))
    return Anomaly(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6] or "",
        int(r[7]),
        _cents(r[8]),
        _cents(r[9]),
        _cents(r[10]),
        _cents(r[11]),
        _cents(r[12]),
        float(r[13]),
        drivers,
        r[15],
        bool(r[16]),
        bool(r[17]),
        r[18] or ACTIVE,
        r[19],
        r[20],
        _utc(r[21]),
        _utc(r[22]),
        _utc(r[23]),
    )


def read_anomalies(cur: Any, where: str = "", *params: Any) -> dict[str, Anomaly]:
    """The stored anomalies (those `where` selects), by id (`cur`: a DuckDB cursor)."""
    sql = f"SELECT {_COLUMNS} FROM {TABLE} {where} ORDER BY day, id"
    return {a.id: a for a in (_row(r) for r in cur.execute(sql, list(params)).fetchall())}


def write_anomalies(cur: Any, rows: Sequence[Anomaly]) -> None:
    """Replace `rows` (in the caller's transaction)."""
    for a in rows:
        cur.execute(f"DELETE FROM {TABLE} WHERE row_key = ?", [row_key("anomaly", a.id)])
        cur.execute(
            f"INSERT INTO {TABLE} (row_key, {_COLUMNS}) VALUES "
            f"({', '.join('?' for _ in range(25))})",
            [
                row_key("anomaly", a.id),
                a.id,
                a.day,
                a.scope,
                a.dimension,
                a.value_key,
                a.value_label,
                a.method,
                a.history_days,
                a.actual,
                a.expected,
                a.low,
                a.high,
                a.impact,
                a.score,
                json.dumps([d.as_json() for d in a.drivers]),
                a.last_day,
                a.ongoing,
                a.qualifies,
                a.state,
                a.reason,
                a.feedback,
                a.feedback_at,
                a.first_seen_at,
                a.changed_at,
            ],
        )
