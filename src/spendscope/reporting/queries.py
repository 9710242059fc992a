"""The named, read-only queries every interface shares: the CLI's `report`, the REST API and the
dashboard's pages call these functions and nothing else, so they can never disagree.

What may be asked is in `catalog.py`; how it becomes SQL over the marts, and how e-mail
addresses become pseudonyms, is in `sql.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from ..privacy import hide_filters
from ..warehouse.connection import Warehouse
from ..warehouse.marts import MART_SPEND
from ..warehouse.schema import DATASET
from .catalog import (
    EMAIL_DIMENSIONS,
    GRANULARITIES,
    NONE_KEY,
    NONE_LABEL,
    OTHER_KEY,
    TOTAL_KEY,
    Dimension,
    Metric,
    Scope,
    dimension,
    dimension_key,
    dimension_label,
    granularity_sql,
    invalid_input,
    metric,
)
from .sql import (
    allocation_dimensions,
    dimensions_needed,
    metric_sql,
    names_relation,
    privacy,
    reveal_filters,
    shown_value,
    source_relation,
    where_clause,
)

# -- totals (the CLI's report) ------------------------------------------------------------------


def totals(
    warehouse: Warehouse,
    metric_name: str,
    scope: Scope,
    group_by: Sequence[str] = (),
    limit: int | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Totals of a metric grouped by any dimensions (and day/week/month), biggest first."""
    m = metric(metric_name)
    p = privacy(warehouse)
    scope = reveal_filters(warehouse, scope, p)
    extra = allocation_dimensions(warehouse)
    dims = dimensions_needed(scope, [g for g in group_by if g not in GRANULARITIES], m, extra)
    by_name = {d.name: d for d in dims}
    where, params = where_clause(scope, dims)
    keys = [GRANULARITIES[g] if g in GRANULARITIES else by_name[g].key for g in group_by]
    inner = [f"{k} AS d{i}" for i, k in enumerate(keys)] + [f"{metric_sql(m, dims)} AS v"]
    outer = []
    joins = []
    for i, g in enumerate(group_by):
        d = None if g in GRANULARITIES else by_name[g]
        if d is not None and d.names:
            joins.append(f"LEFT JOIN {names_relation(d)} n{i} ON n{i}.id = q.d{i}")
            outer.append(f'COALESCE(n{i}.name, q.d{i}) AS "{g}"')
        else:
            outer.append(f'q.d{i} AS "{g}"')
    sql = f"SELECT {', '.join(inner)} FROM {source_relation(m, dims, scope)} WHERE {where}"
    if group_by:
        sql += " GROUP BY ALL"
    # E-mail dimensions also return their raw key: only a value that is the key itself (not a
    # name looked up for it, such as a Console workspace's) is an address to hide.
    private = [i for i, g in enumerate(group_by) if p is not None and g in EMAIL_DIMENSIONS]
    raw = [f"q.d{i}" for i in private]
    sql = f"SELECT {', '.join([*outer, 'q.v', *raw])} FROM ({sql}) q {' '.join(joins)}"
    if group_by:
        order = [f"q.d{i}" for i, g in enumerate(group_by) if g in GRANULARITIES]
        sql += " ORDER BY " + ", ".join([*order, "q.v DESC NULLS LAST"])
    if limit:
        sql += f" LIMIT {int(limit)}"
    columns = [*group_by, m.name]
    rows = []
    for r in warehouse.read(sql, *params):
        row = dict(zip(columns, r[: len(columns)], strict=True))
        for i, key in zip(private, r[len(columns) :], strict=True):
            if row[group_by[i]] == key:
                row[group_by[i]] = shown_value(p, group_by[i], key)
        row[m.name] = m.present(row[m.name])
        rows.append(row)
    return columns, rows


# -- the explorer -------------------------------------------------------------------------------


def periods(since: date, until: date, granularity: str) -> list[date]:
    """Every period start (day, Monday or first of month) covering [since, until)."""
    if granularity == "day":
        start = since
    elif granularity == "week":
        start = since - timedelta(days=since.weekday())
    else:
        start = since.replace(day=1)
    out = []
    d = start
    while d < until:
        out.append(d)
        if granularity == "day":
            d += timedelta(days=1)
        elif granularity == "week":
            d += timedelta(days=7)
        else:
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def explore(
    warehouse: Warehouse,
    metric_name: str,
    scope: Scope,
    group_by: str | None = None,
    granularity: str = "day",
    limit: int = 10,
) -> dict[str, Any]:
    """A metric over time, split by one dimension: the top `limit` groups and one 'Other'."""
    m = metric(metric_name)
    period_sql = granularity_sql(granularity)
    if limit < 1 or limit > 100:
        raise invalid_input(f"limit {limit} is out of range.", "Use 1 to 100 groups.")
    p = privacy(warehouse)
    asked = scope
    scope = reveal_filters(warehouse, scope, p)
    dims = dimensions_needed(
        scope, [group_by] if group_by else [], m, allocation_dimensions(warehouse)
    )
    d = next(x for x in dims if x.name == group_by) if group_by else None
    where, params = where_clause(scope, dims)
    key_sql = d.key if d else f"'{TOTAL_KEY}'"
    lim = int(limit)
    sql = f"""
WITH base AS (
    SELECT {period_sql} AS period, {key_sql} AS k, {metric_sql(m, dims)} AS v
    FROM {source_relation(m, dims, scope)} WHERE {where}
    GROUP BY 1, 2
), ranked AS (
    -- ties in key order; as text, which is the ENUM keys' order too, and which an ENUM with no
    -- value yet (an empty warehouse) can be sorted by
    SELECT k, row_number() OVER (
        ORDER BY sum(v) DESC NULLS LAST, CAST(k AS VARCHAR) NULLS LAST
    ) AS rn
    FROM base GROUP BY k
), folded AS (
    SELECT period, CASE WHEN rn <= {lim} THEN base.k ELSE '{OTHER_KEY}' END AS gk,
           CASE WHEN rn <= {lim} THEN rn ELSE {lim + 1} END AS grank,
           bool_or(base.k IS NULL AND rn <= {lim}) AS is_none, sum(v) AS v
    FROM base JOIN ranked ON ranked.k IS NOT DISTINCT FROM base.k
    GROUP BY 1, 2, 3
)
SELECT f.period, f.gk, f.grank, f.is_none, n.name, f.v
FROM folded f LEFT JOIN {names_relation(d)} n ON n.id = f.gk
ORDER BY 3, 1"""
    rows = warehouse.read(sql, *params)
    period_list = periods(scope.since, scope.until, granularity)
    index = {start: i for i, start in enumerate(period_list)}
    groups: dict[str, dict[str, Any]] = {}
    for period, gk, _rank, is_none, label, raw in rows:
        if gk == OTHER_KEY:
            key, shown = OTHER_KEY, "Other"
        elif gk == TOTAL_KEY:
            key, shown = TOTAL_KEY, "Total"
        elif is_none:
            key, shown = NONE_KEY, NONE_LABEL
        else:
            key, shown = str(gk), dimension_label(gk, label)
            hidden = shown_value(p, group_by, gk)
            if hidden != gk:
                key = shown = str(hidden)
        g = groups.setdefault(
            key,
            {"key": key, "label": shown, "total": 0, "values": [0] * len(period_list)},
        )
        v = raw if raw is not None else 0
        g["total"] += int(v)
        g["values"][index[period]] += v  # (two addresses may share a pseudonym)
    total = sum(g["total"] for g in groups.values())
    ordered = list(groups.values())  # SQL ordered them: biggest first, Other last
    out_groups = []
    out_series = []
    for g in ordered:
        out_groups.append(
            {
                "key": g["key"],
                "label": g["label"],
                "total": m.present(g["total"]),
                "share": float(g["total"] / total) if total else 0.0,
            }
        )
        out_series.append(
            {
                "key": g["key"],
                "label": g["label"],
                "values": [m.present(v) for v in g["values"]],
            }
        )
    first_provisional = provisional_from(warehouse, scope, m)
    return {
        "metric": m.name,
        "metric_label": m.label,
        "unit": m.unit,
        "group_by": group_by,
        "granularity": granularity,
        "since": scope.since.isoformat(),
        "until": scope.until.isoformat(),
        "filters": hide_filters(p, asked.filters, EMAIL_DIMENSIONS),
        "periods": [start.isoformat() for start in period_list],
        "groups": out_groups,
        "series": out_series,
        "total": m.present(total),
        "provisional_from": first_provisional.isoformat() if first_provisional else None,
        "notes": _notes(dims, m),
    }


def explore_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The explorer's result as CSV rows: one per period × group, zero cells left out."""
    out = []
    name = result["metric"]
    for s in result["series"]:
        for period, v in zip(result["periods"], s["values"], strict=True):
            if v in (0, "0.00"):
                continue
            out.append({"period": period, "key": s["key"], "label": s["label"], name: v})
    return out


def _notes(dims: Sequence[Dimension], m: Metric) -> list[str]:
    notes = []
    names = {d.name for d in dims}
    if names & {"workspace", "api_key"}:
        notes.append("Enterprise spend has no workspace or API key; it shows as (none).")
    if "user" in names:
        notes.append("Console spend is reported per API key, not per user; it shows as (none).")
    if names & {"inference_geo", "speed"} or ("product" in names and m.mart == MART_SPEND):
        notes.append(
            "Product, geo and speed come from the analytics API's second grain; days before "
            "it (legacy reports) may show them as (none)."
        )
    return notes


def provisional_from(warehouse: Warehouse, scope: Scope, m: Metric | None = None) -> date | None:
    """The first day in the scope holding provisional (not yet final) rows."""
    mart = m.mart if m else MART_SPEND
    rows = warehouse.read(
        f"SELECT min(day) FROM {DATASET}.{mart} WHERE is_provisional AND day >= ? AND day < ?",
        scope.since,
        scope.until,
    )
    return rows[0][0] if rows and rows[0][0] else None


# -- filter pickers -----------------------------------------------------------------------------


def dimension_values(
    warehouse: Warehouse, name: str, metric_name: str, scope: Scope, limit: int = 500
) -> list[dict[str, Any]]:
    """The values a dimension takes in the scope (for filter pickers), biggest first."""
    m = metric(metric_name)
    extra = allocation_dimensions(warehouse)
    d = dimension(name, m, extra)
    p = privacy(warehouse)
    scope = reveal_filters(warehouse, scope, p)
    dims = dimensions_needed(scope, [name], m, extra)
    where, params = where_clause(scope, dims)
    rows = warehouse.read(
        f"""SELECT q.k, n.name, q.v FROM (
            SELECT {d.key} AS k, {metric_sql(m, dims)} AS v
            FROM {source_relation(m, dims, scope)} WHERE {where} GROUP BY 1
        ) q LEFT JOIN {names_relation(d)} n ON n.id = q.k
        ORDER BY 3 DESC NULLS LAST, 1 LIMIT {int(limit)}""",
        *params,
    )
    merged: dict[str, list[Any]] = {}  # key -> [label, total]; two addresses may share one
    for k, label, v in rows:
        hidden = shown_value(p, name, k)
        shown = (hidden, hidden) if hidden != k else (k, label)
        entry = merged.setdefault(dimension_key(shown[0]), [dimension_label(*shown), None])
        entry[1] = v if entry[1] is None else entry[1] + (v or 0)
    return [{"key": k, "label": lbl, "total": m.present(v)} for k, (lbl, v) in merged.items()]
