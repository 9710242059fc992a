"""The month-end forecast of a scope and, with a breakdown, of each value within it, reconciled
so they add up: what `spendscope forecast` prints and `GET /api/v1/forecast` answers.

`forecast_scope` reads the series (`series`), forecasts each (`forecast`) and reconciles the
children with the parent; `answer` turns the result into JSON-ready values (money as exact
decimal text; forecast figures rounded to the cent, actuals exact; each remaining day's
forecast under `days`), the same whether the CLI reads the warehouse or asks a running server;
`table_rows` flattens an answer for a table or CSV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ..money import exact
from ..warehouse.connection import Warehouse
from .forecast import CENT, MonthForecast, forecast_month, reconcile
from .series import Completeness, ForecastScope, Series, child_scope, parse_scope, read_series


@dataclass(frozen=True, slots=True)
class Scoped:
    """One scope's forecast, with what names it."""

    scope: str | None  # the scope text (None for `Other`, which is several values)
    key: str
    label: str
    forecast: MonthForecast


@dataclass(frozen=True, slots=True)
class Outlook:
    """A scope's forecast and, with `by`, its values' forecasts reconciled with it."""

    now: datetime
    scope: ForecastScope
    by: str | None
    completeness: Completeness
    parent: Scoped
    children: list[Scoped]


def _forecast(series: Series, done: Completeness, now: datetime) -> MonthForecast:
    return forecast_month(series.days, now, through=done.through, behind=done.behind)


def forecast_scope(
    warehouse: Warehouse, scope: str | None, now: datetime, by: str | None = None
) -> Outlook:
    """The forecast of `scope` (text, see `series.parse_scope`) as of `now`, and with `by` the
    forecast of each value of that dimension within it, reconciled to add up to the scope's
    P50 to the cent (`forecast.reconcile`)."""
    now = now.astimezone(UTC)
    asked = parse_scope(scope)
    resolved, done, parent_series, child_series = read_series(warehouse, asked, now, by or None)
    parent = _forecast(parent_series, done, now)
    own = {c.key: _forecast(c, done, now) for c in child_series}
    fitted = reconcile(parent, own) if by else own
    children = [
        Scoped(child_scope(by, c.key) if by else None, c.key, c.label, fitted[c.key])
        for c in child_series
    ]
    head = Scoped(resolved.text, parent_series.key, parent_series.label, parent)
    return Outlook(now, resolved, by or None, done, head, children)


# -- presenting ---------------------------------------------------------------------------------


def _cents(v: Decimal | None) -> str | None:
    return None if v is None else exact(v.quantize(CENT, ROUND_HALF_EVEN))


def _row(s: Scoped) -> dict[str, Any]:
    f = s.forecast
    return {
        "scope": s.scope,
        "key": s.key,
        "label": s.label,
        "state": f.state,
        "method": f.method,
        "history_days": f.history_days,
        "complete_through": f.through.isoformat() if f.through else None,
        "month_to_date": exact(f.actual),
        "remaining_days": f.remaining_days,
        "p10": _cents(f.p10),
        "p50": _cents(f.p50),
        "p90": _cents(f.p90),
        "backtest_origins": f.origins,
        "reconciled": f.reconciled,
        "notes": list(f.notes),
        "days": [
            {
                "day": d.day.isoformat(),
                "p10": _cents(d.p10),
                "p50": _cents(d.p50),
                "p90": _cents(d.p90),
            }
            for d in f.days()
        ],
    }


def answer(outlook: Outlook) -> dict[str, Any]:
    """The outlook as JSON-ready values (the API's `ForecastOut`)."""
    return {
        "as_of": outlook.now.isoformat().replace("+00:00", "Z"),
        "month": f"{outlook.parent.forecast.month:%Y-%m}",
        "scope": outlook.scope.text,
        "by": outlook.by,
        "complete_through": outlook.completeness.through.isoformat(),
        "forecast": _row(outlook.parent),
        "children": [_row(c) for c in outlook.children],
    }


TABLE_COLUMNS = [
    "scope",
    "state",
    "method",
    "history_days",
    "complete_through",
    "month_to_date",
    "p10",
    "p50",
    "p90",
]
MONEY_COLUMNS = ("month_to_date", "p10", "p50", "p90")


def table_rows(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer's forecasts as rows: the scope first, then each value of the breakdown, named
    by their labels; money as Decimal."""
    rows = []
    for i, r in enumerate([found["forecast"], *found["children"]]):
        row = dict(r)
        row["scope"] = r["label"] if i else _readable(r)
        for c in MONEY_COLUMNS:
            row[c] = None if r[c] is None else Decimal(r[c])
        rows.append(row)
    return rows


def _readable(r: Mapping[str, Any]) -> str:
    """A scope as people read it: `workspace:Production` rather than its id."""
    dimension, sep, _ = str(r["scope"]).partition(":")
    return f"{dimension}:{r['label']}" if sep else str(r["scope"])


def notes_lines(found: Mapping[str, Any]) -> Sequence[str]:
    """The scope's notes (why it is stale, low-confidence or has no number), one per line."""
    return [f"note: {n}" for n in found["forecast"]["notes"]]
