"""Anomalies as `spendscope anomalies` prints them and `GET /api/v1/anomalies` answers them.

`anomalies_answer` lists the anomalies as an evaluation now finds them
(`anomalies.evaluate_anomalies`: new days scored, revised days re-scored; nothing delivered) —
of the days since `since` (default: the last 30 days), in a state (default: all), newest day
first, biggest impact first within a day. The API's reads write nothing (`current` keeps the
answer in memory until the warehouse changes); the command, reading its own warehouse, keeps
what the evaluation changed, as `alerts evaluate` and `serve` do. `anomaly_answer` gives one
with its scope's series: the complete days up to and including the anomaly's day (at most 56),
each with its expected spend and band from the same baseline (none before the scope has 14
days of history). Money is exact decimal text to the cent, the score one decimal; a user's
address shows as its pseudonym when pseudonyms are on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFoundLocally
from ..money import exact
from ..privacy import Pseudonymizer
from ..reporting.sql import privacy, shown_value
from ..warehouse.connection import Warehouse
from .anomalies import cents, evaluate_anomalies, floors_of, give_feedback, scope_of
from .anomaly_score import Scorer
from .anomaly_store import ORGANIZATION, STATES, Anomaly
from .series import read_series

if TYPE_CHECKING:
    from ..config import Settings

ALL = "all"
STATE_FILTERS = (*STATES, ALL)
SINCE_DAYS = 30
SERIES_DAYS = 56


def _z(now: datetime) -> str:
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")


def value_shown(a: Anomaly, p: Pseudonymizer | None) -> str:
    """The value as it may leave: "" for the organization, an address as its pseudonym."""
    if a.dimension == ORGANIZATION:
        return ""
    return str(shown_value(p, a.dimension, a.value_label))


def public(a: Anomaly, p: Pseudonymizer | None) -> dict[str, Any]:
    """An anomaly as the API answers it."""
    return {
        "id": a.id,
        "day": a.day.isoformat(),
        "scope": a.dimension,
        "value": value_shown(a, p),
        "actual": exact(a.actual),
        "expected": exact(a.expected),
        "low": exact(a.low),
        "high": exact(a.high),
        "impact": exact(a.impact),
        "score": f"{a.score:.1f}",
        "method": a.method,
        "state": a.state,
        "reason": a.reason,
        "feedback": a.feedback,
        "drivers": [
            {
                "dimension": d.dimension,
                "value": str(shown_value(p, d.dimension, d.value)),
                "actual": exact(d.actual),
                "expected": exact(d.expected),
                "impact": exact(d.impact),
            }
            for d in a.drivers
        ],
    }


def check_state(state: str) -> str:
    if state not in STATE_FILTERS:
        raise InvalidInput(
            f"State '{state}' is not one of: {', '.join(STATE_FILTERS)}.",
            "Pick active, past, resolved or all.",
        )
    return state


def _data_version(warehouse: Warehouse) -> tuple[tuple[int, int] | None, ...]:
    """What changes with every committed write to the warehouse file: its and its log's
    modification time and size."""
    out: list[tuple[int, int] | None] = []
    for path in (warehouse.path, warehouse.wal_path):
        try:
            st = path.stat()
        except FileNotFoundError:
            out.append(None)
            continue
        out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


_previews: dict[str, tuple[tuple[Any, ...], list[Anomaly]]] = {}
_previews_lock = threading.Lock()


def current(warehouse: Warehouse, settings: Settings, now: datetime, keep: bool) -> list[Anomaly]:
    """Every anomaly as an evaluation at `now` finds it. With `keep`, the evaluation writes
    what changed; without, it writes nothing, and its answer is kept in memory until the
    warehouse file, the day or the settings change (a preview is a second's work)."""
    if keep:
        return evaluate_anomalies(warehouse, settings, now).rows
    key = (
        _data_version(warehouse),
        now.astimezone(UTC).date(),
        settings.anomaly_min_daily_spend,
        settings.anomaly_min_impact_usd,
        settings.anomaly_min_impact_percent,
    )
    where = str(warehouse.path.resolve())
    with _previews_lock:
        found = _previews.get(where)
    if found is not None and found[0] == key:
        return found[1]
    rows = evaluate_anomalies(warehouse, settings, now, dry_run=True).rows
    with _previews_lock:
        _previews[where] = (key, rows)
    return rows


def anomalies_answer(
    warehouse: Warehouse,
    settings: Settings,
    now: datetime,
    since: date | None = None,
    state: str = ALL,
    *,
    keep: bool = False,
) -> dict[str, Any]:
    """The anomalies as an evaluation now finds them (see the module's docstring); `keep`
    writes what the evaluation changed."""
    check_state(state)
    now = now.astimezone(UTC)
    first = since or now.date() - timedelta(days=SINCE_DAYS)
    chosen = [
        a
        for a in current(warehouse, settings, now, keep)
        if a.day >= first and state in (ALL, a.state)
    ]
    chosen.sort(key=lambda a: (-a.day.toordinal(), -a.impact, a.id))
    p = privacy(warehouse)
    return {"anomalies": [public(a, p) for a in chosen], "as_of": _z(now)}


def series_of(warehouse: Warehouse, settings: Settings, a: Anomaly, now: datetime) -> list[Any]:
    """The scope's complete days up to and including the anomaly's day (at most 56), with the
    baseline's expected spend and band of each (null without one)."""
    try:
        _, _, parent, _ = read_series(warehouse, scope_of(a), now.astimezone(UTC))
    except InvalidInput:
        return []
    days = parent.days
    if not days:
        return []
    scorer = Scorer([float(v) for _, v in days])
    threshold = floors_of(settings).score
    out = []
    for t, (day, value) in enumerate(days):
        if day > a.day or (a.day - day).days >= SERIES_DAYS:
            continue
        base = scorer.baseline(t)
        point: dict[str, Any] = {"day": day.isoformat(), "actual": exact(cents(value))}
        if base is None:
            point |= {"expected": None, "low": None, "high": None}
        else:
            low, high = base.band(threshold)
            point |= {
                "expected": exact(cents(base.expected)),
                "low": exact(cents(low)),
                "high": exact(cents(high)),
            }
        out.append(point)
    return out


def anomaly_answer(
    warehouse: Warehouse, settings: Settings, anomaly: str, now: datetime
) -> dict[str, Any]:
    """One anomaly as an evaluation now finds it, with its scope's series (see the module's
    docstring)."""
    found = [a for a in current(warehouse, settings, now, keep=False) if a.id == anomaly]
    if not found:
        raise NotFoundLocally(
            f"No anomaly has the id '{anomaly}'.", "List them: spendscope anomalies"
        )
    a = found[0]
    return public(a, privacy(warehouse)) | {"series": series_of(warehouse, settings, a, now)}


def feedback_answer(
    warehouse: Warehouse, settings: Settings, anomaly: str, feedback: str, now: datetime
) -> dict[str, Any]:
    """Record the feedback; the anomaly as it now stands."""
    given = give_feedback(warehouse, settings, anomaly, feedback, now)
    return public(given, privacy(warehouse))


# -- the CLI's table ----------------------------------------------------------------------------

TABLE_COLUMNS = [
    "day",
    "scope",
    "actual",
    "expected",
    "impact",
    "score",
    "method",
    "state",
    "reason",
    "feedback",
    "top_driver",
    "id",
]
MONEY_COLUMNS = ("actual", "expected", "low", "high", "impact")


def _scope_text(row: Mapping[str, Any]) -> str:
    return ORGANIZATION if row["scope"] == ORGANIZATION else f"{row['scope']}:{row['value']}"


def table_rows(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer's anomalies as rows: money as Decimal, the scope as `dimension:value`, the
    biggest driver as `dimension:value +impact`."""
    rows = []
    for a in found["anomalies"]:
        row: dict[str, Any] = {k: v for k, v in a.items() if k != "drivers"}
        row["scope"] = _scope_text(a)
        for c in MONEY_COLUMNS:
            row[c] = Decimal(a[c])
        top = a["drivers"][0] if a["drivers"] else None
        row["top_driver"] = (
            None if top is None else f"{top['dimension']}:{top['value']} +{top['impact']}"
        )
        rows.append(row)
    return rows


def drivers_lines(found: Mapping[str, Any], limit: int = 3) -> Sequence[str]:
    """Under the table: each anomaly's biggest drivers, one line each."""
    lines = []
    for a in found["anomalies"]:
        if not a["drivers"]:
            continue
        shown = "; ".join(
            f"{d['dimension']}:{d['value']} +{d['impact']}" for d in a["drivers"][:limit]
        )
        lines.append(f"drivers of {_scope_text(a)} on {a['day']}: {shown}")
    return lines
