"""The overview page's figures: month to date against the same days of last month, the daily
trend, the top spenders and the biggest movers, and the data's freshness. (Its month-end
forecast is `GET /api/v1/forecast`'s, from `spendscope.watch`.)"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..money import exact, usd
from ..warehouse.connection import Warehouse
from ..warehouse.marts import MART_SPEND
from ..warehouse.schema import DATASET
from .catalog import DIMENSIONS, EMAIL_DIMENSIONS, METRICS, dimension_key, dimension_label
from .freshness import freshness
from .sql import grain_condition, names_relation, privacy, shown_value

TREND_DAYS = 60  # days in the trend chart
MOVER_DAYS = 7  # the last this many days against the this many before them
MOVER_LIMIT = 8
TOP_DIMENSIONS = ("workspace", "api_key", "user", "model")


def month_start(d: date) -> date:
    return d.replace(day=1)


def previous_month(d: date) -> date:
    """The first day of the month before `d`'s."""
    return (d.replace(day=1) - timedelta(days=1)).replace(day=1)


def overview(warehouse: Warehouse, as_of: date, top: int = 5) -> dict[str, Any]:
    """Month to date against the same days of last month, the trend, top spenders, movers."""
    m = METRICS["cost"]
    first = month_start(as_of)
    end = as_of + timedelta(days=1)
    prev = previous_month(first)
    days_in = (end - first).days
    prev_end = min(prev + timedelta(days=days_in), first)
    trend_since = end - timedelta(days=TREND_DAYS)
    mover_since = end - timedelta(days=2 * MOVER_DAYS)
    mover_mid = end - timedelta(days=MOVER_DAYS)
    canonical = grain_condition([])
    sums = warehouse.read(
        f"""SELECT
            sum(billed_nc) FILTER (WHERE day >= ? AND day < ?),
            sum(list_nc) FILTER (WHERE day >= ? AND day < ?),
            sum(billed_nc) FILTER (WHERE day >= ? AND day < ?),
            sum(billed_nc) FILTER (WHERE day >= ? AND day < ?)
        FROM {DATASET}.{MART_SPEND} WHERE day >= ? AND day < ? AND {canonical}""",
        *[first, end, first, end, prev, prev_end, prev, first, prev, end],
    )[0]
    mtd, mtd_list, last_same, last_full = (usd(v) for v in sums)
    trend_rows = warehouse.read(
        f"""SELECT day, sum(billed_nc), bool_or(is_provisional) FROM {DATASET}.{MART_SPEND}
        WHERE day >= ? AND day < ? AND {canonical} GROUP BY 1 ORDER BY 1""",
        trend_since,
        end,
    )
    by_day = {r[0]: (r[1], r[2]) for r in trend_rows}
    trend = []
    for i in range((end - trend_since).days):
        day = trend_since + timedelta(days=i)
        v, prov = by_day.get(day, (None, False))
        trend.append({"day": day.isoformat(), "cost": m.present(v), "provisional": bool(prov)})
    tops: dict[str, list[dict[str, Any]]] = {}
    movers: list[dict[str, Any]] = []
    p = privacy(warehouse)
    for name in TOP_DIMENSIONS:
        d = DIMENSIONS[name]
        rows = warehouse.read(
            f"""SELECT q.k, n.name, q.mtd, q.cur, q.prev FROM (
                SELECT {d.key} AS k,
                    sum(billed_nc) FILTER (WHERE day >= ?) AS mtd,
                    sum(billed_nc) FILTER (WHERE day >= ? AND day < ?) AS cur,
                    sum(billed_nc) FILTER (WHERE day >= ? AND day < ?) AS prev
                FROM {DATASET}.{MART_SPEND}
                WHERE day >= ? AND day < ? AND {canonical} AND {d.key} IS NOT NULL
                GROUP BY 1
            ) q LEFT JOIN {names_relation(d)} n ON n.id = q.k""",
            *[first, mover_mid, end, mover_since, mover_mid, min(first, mover_since), end],
        )
        if p is not None and name in EMAIL_DIMENSIONS:
            rows = [
                (k, label, *rest)
                if shown_value(p, name, k) == k
                else (shown_value(p, name, k), None, *rest)
                for k, label, *rest in rows
            ]
        ranked = sorted((r for r in rows if r[2]), key=lambda r: (-Decimal(r[2]), str(r[0])))[:top]
        tops[name] = [
            {
                "key": dimension_key(k),
                "label": dimension_label(k, label),
                "cost": m.present(v),
                "share": float(usd(v) / mtd) if mtd else 0.0,
            }
            for k, label, v, _current, _previous in ranked
        ]
        for k, label, _v, cur, prv in rows:
            delta = usd(cur) - usd(prv)
            if delta:
                movers.append(
                    {
                        "dimension": name,
                        "key": dimension_key(k),
                        "label": dimension_label(k, label),
                        "current": m.present(cur),
                        "previous": m.present(prv),
                        "delta": exact(delta),
                        "_abs": abs(delta),
                    }
                )
    movers.sort(key=lambda x: (-x["_abs"], x["dimension"], x["key"]))
    for mv in movers:
        del mv["_abs"]
    return {
        "as_of": as_of.isoformat(),
        "month": f"{first:%Y-%m}",
        "month_to_date": {
            "since": first.isoformat(),
            "until": end.isoformat(),
            "cost": exact(mtd),
            "list_cost": exact(mtd_list),
        },
        "last_month": {
            "since": prev.isoformat(),
            "until": prev_end.isoformat(),
            "cost": exact(last_same),
            "full_month_cost": exact(last_full),
        },
        "change": float((mtd - last_same) / last_same) if last_same else None,
        "trend": trend,
        "top": tops,
        "movers": movers[:MOVER_LIMIT],
        "freshness": freshness(warehouse, as_of),
    }
