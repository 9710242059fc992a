"""The named, read-only queries every interface shares: the CLI's `report`, the REST API and the
dashboard's pages call these functions and nothing else, so they can never disagree.

Spend and usage questions read the marts (`mart_spend`, `mart_usage`; see
`warehouse/marts.py`), which hold the `spend` and `usage` views' rows — double-booked spend is
already counted once there — plus each connection kind's alternate grain. A question picks, per
connection kind, the grain that carries every dimension it groups or filters by (product, geo and
speed on Console; geo and speed on Enterprise come from the alternate grain), so totals never
change with the grouping.

Dimensions, metrics and granularities come from fixed tables; every value from the outside is a
bound parameter, never SQL text.

With `pseudonymize_emails` on, the e-mail addresses a dimension shows (`EMAIL_DIMENSIONS`) leave
these functions as stable pseudonyms (`privacy.py`), as keys and as labels; a filter may name a
pseudonym, which is mapped back to its address here, so every interface filters by what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..errors import ConfigError
from ..money import exact, exact_units, usd
from ..privacy import PATTERN as PSEUDONYM
from ..privacy import Pseudonymizer, hide_filters, pseudonymizer
from ..warehouse.connection import Warehouse
from ..warehouse.marts import MART_SPEND, MART_USAGE
from ..warehouse.schema import DATASET

S = DATASET
NONE_KEY = "__none__"
NONE_LABEL = "(none)"
OTHER_KEY = "__other__"
TOTAL_KEY = "__total__"


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str
    key: str  # SQL over a mart row: the value filtered and grouped on
    names: str | None = None  # table (id, name) giving what a person reads, looked up by key
    spend_only: bool = False
    # Which connection kinds need their alternate grain to answer for this dimension.
    alternate_for: frozenset[str] = frozenset()
    # Which connection kinds' canonical grain is needed (the alternate one lacks it).
    canonical_for: frozenset[str] = frozenset()


_C, _E = "console", "enterprise"
_BOTH = frozenset({_C, _E})

DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("connection", "Connection", "connection_label"),
        Dimension("organization", "Organization", "organization_id"),
        Dimension(
            "workspace", "Workspace", "workspace_id", "workspaces", canonical_for=frozenset({_C})
        ),
        Dimension("api_key", "API key", "api_key_id", "api_keys", canonical_for=frozenset({_C})),
        Dimension("user", "User", "user_key", canonical_for=frozenset({_E})),
        Dimension("product", "Product", "product", alternate_for=frozenset({_C})),
        Dimension("model", "Model", "model"),
        Dimension("service_tier", "Service tier", "service_tier", canonical_for=_BOTH),
        Dimension("context_window", "Context window", "context_window", canonical_for=_BOTH),
        Dimension("inference_geo", "Inference geo", "inference_geo", alternate_for=_BOTH),
        Dimension("speed", "Speed", "speed", alternate_for=_BOTH),
        Dimension("token_type", "Token type", "token_type"),
        Dimension("cost_type", "Cost type", "cost_type", spend_only=True),
        Dimension("provider", "Provider", "provider"),
        Dimension("billing_account", "Billing account", "connection_label"),
        Dimension("project", "Project / account", "project", "workspaces", canonical_for=_BOTH),
        Dimension("service", "Service", "product", alternate_for=frozenset({_C})),
        Dimension("sku", "SKU", "sku", canonical_for=_BOTH),
        Dimension("resource", "Resource", "model"),
    )
}


# Dimensions whose values can be user e-mail addresses (Enterprise's project is the user).
EMAIL_DIMENSIONS = frozenset({"user", "project"})


def _names(d: Dimension | None) -> str:
    """A relation (id, name) giving a dimension's labels (empty when its keys are readable)."""
    if d is None or d.names is None:
        return "(SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS name WHERE FALSE)"
    return f"(SELECT id, any_value(name) AS name FROM {S}.{d.names} GROUP BY id)"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # usd or count
    mart: str
    expr: str  # SQL aggregate over mart rows


_TOKEN_COLUMNS = {
    # usage column -> the token_type value the cost endpoint uses for it
    "uncached_input_tokens": "uncached_input_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation_5m_input_tokens": "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation_1h_input_tokens": "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens": "output_tokens",
}
_ALL_TOKENS = " + ".join(_TOKEN_COLUMNS)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("cost", "Billed cost", "usd", MART_SPEND, "sum(billed_nc)"),
        Metric("list_cost", "List cost", "usd", MART_SPEND, "sum(list_nc)"),
        Metric("tokens", "Tokens (all types)", "count", MART_USAGE, f"sum({_ALL_TOKENS})"),
        Metric(
            "uncached_input_tokens",
            "Uncached input tokens",
            "count",
            MART_USAGE,
            "sum(uncached_input_tokens)",
        ),
        Metric(
            "cache_read_input_tokens",
            "Cache read tokens",
            "count",
            MART_USAGE,
            "sum(cache_read_input_tokens)",
        ),
        Metric(
            "cache_creation_5m_input_tokens",
            "Cache write tokens (5 min)",
            "count",
            MART_USAGE,
            "sum(cache_creation_5m_input_tokens)",
        ),
        Metric(
            "cache_creation_1h_input_tokens",
            "Cache write tokens (1 h)",
            "count",
            MART_USAGE,
            "sum(cache_creation_1h_input_tokens)",
        ),
        Metric("output_tokens", "Output tokens", "count", MART_USAGE, "sum(output_tokens)"),
        Metric(
            "web_search_requests",
            "Web searches",
            "count",
            MART_USAGE,
            "sum(web_search_requests)",
        ),
        Metric("requests", "Requests", "count", MART_USAGE, "sum(requests)"),
    )
}
GRANULARITIES = {
    "day": "day",
    "week": "CAST(date_trunc('week', day) AS DATE)",
    "month": "CAST(date_trunc('month', day) AS DATE)",
}


def _bad(message: str, hint: str) -> ConfigError:
    return ConfigError(message, hint)


def metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise _bad(f"Unknown metric '{name}'.", f"Use one of: {', '.join(METRICS)}.") from None


def dimension(name: str, m: Metric | None = None) -> Dimension:
    try:
        d = DIMENSIONS[name]
    except KeyError:
        raise _bad(
            f"Unknown dimension '{name}'.", f"Use one of: {', '.join(DIMENSIONS)}."
        ) from None
    if m is not None and d.spend_only and m.mart != MART_SPEND:
        raise _bad(
            f"'{name}' applies to cost metrics only, not to '{m.name}'.",
            "Pick cost or list_cost, or another dimension.",
        )
    return d


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """`dimension:value` strings (the API's and CLI's filter syntax) into a mapping."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise _bad(
                f"Filter '{item}' is not 'dimension:value'.", "Write it like model:claude-opus-4-5."
            )
        dimension(name)
        out.setdefault(name, []).append(value)
    return out


# -- the query core -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which rows a question covers: days [since, until), filters, and the grains to read."""

    since: date
    until: date
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise _bad(
                f"The range {self.since} … {self.until} is empty.",
                "'until' is exclusive and must be after 'since'.",
            )


def _grain_condition(dims: Iterable[Dimension]) -> str:
    """Per connection kind, the grain that carries every dimension asked for."""
    dims = list(dims)
    flags = {}
    for kind in (_C, _E):
        alternate = any(kind in d.alternate_for for d in dims) and not any(
            kind in d.canonical_for for d in dims
        )
        flags[kind] = "alt" if alternate else "canon"
    if flags[_C] == flags[_E]:
        return flags[_C]
    # The mixed choices are columns of their own in the marts (one boolean to test).
    return "alt_console" if flags[_C] == "alt" else "alt_enterprise"


def _source(m: Metric, dims: Iterable[Dimension], scope: Scope | None = None) -> str:
    """The relation a metric is read from: the mart, or usage unpivoted by token type."""
    if m.mart == MART_USAGE and any(d.name == "token_type" for d in dims):
        if m.name != "tokens" and m.name not in _TOKEN_COLUMNS:
            raise _bad(
                f"'{m.name}' has no token type.", "Group tokens by token_type, or drop token_type."
            )
        columns = [m.name] if m.name in _TOKEN_COLUMNS else list(_TOKEN_COLUMNS)
        cases = " ".join(f"WHEN '{c}' THEN '{_TOKEN_COLUMNS[c]}'" for c in columns)
        keep = ["day", "canon", "alt", "alt_console", "alt_enterprise", "connection_kind"] + [
            d.key for d in dims if d.name != "token_type"
        ]
        # Summed per day and the needed columns first: the UNPIVOT then turns a few
        # thousand rows, not millions, into five each.
        keys = list(dict.fromkeys(keep))
        cols = ", ".join([*keys, *(f"sum({c}) AS {c}" for c in columns)])
        # (dates, not text from outside: `Scope` holds `date` objects)
        days = f"WHERE day >= DATE '{scope.since}' AND day < DATE '{scope.until}'" if scope else ""
        return f"""(SELECT * EXCLUDE (token_column),
            CASE token_column {cases} END AS token_type
        FROM (UNPIVOT (SELECT {cols} FROM {S}.{MART_USAGE} {days} GROUP BY ALL)
              ON {", ".join(columns)} INTO NAME token_column VALUE token_count))"""
    return f"{S}.{m.mart}"


def _metric_expr(m: Metric, dims: Iterable[Dimension]) -> str:
    if m.mart == MART_USAGE and any(d.name == "token_type" for d in dims):
        return "sum(token_count)"
    return m.expr


def _where(scope: Scope, dims: list[Dimension]) -> tuple[str, list[Any]]:
    where = ["day >= ?", "day < ?", _grain_condition(dims)]
    params: list[Any] = [scope.since, scope.until]
    for name, values in scope.filters.items():
        d = DIMENSIONS[name]
        clauses = []
        real = [v for v in values if v != NONE_KEY]
        if real:
            clauses.append(f"{d.key} IN ({', '.join('?' for _ in real)})")
            params.extend(real)
        if len(real) < len(values):
            clauses.append(f"{d.key} IS NULL")
        where.append("(" + " OR ".join(clauses) + ")")
    return " AND ".join(where), params


def _dims_of(scope: Scope, group_by: Sequence[str], m: Metric) -> list[Dimension]:
    names = [*group_by, *scope.filters]
    return [dimension(n, m) for n in dict.fromkeys(names)]


def _run(warehouse: Warehouse, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return warehouse.read(sql, *params)


def _value(m: Metric, v: Any) -> Any:
    """A metric's value for the outside: exact decimal text for money, an int for counts."""
    if v is None:
        return exact(0) if m.unit == "usd" else 0
    if m.unit == "usd":
        return exact_units(int(v))
    return int(v)


def _key(v: Any) -> str:
    return NONE_KEY if v is None else str(v)


def _label(k: Any, label: Any) -> str:
    if k is None:
        return NONE_LABEL
    return str(label if label is not None else k)


# -- privacy ------------------------------------------------------------------------------------


def privacy(warehouse: Warehouse) -> Pseudonymizer | None:
    """The pseudonymizer when the warehouse's settings ask for pseudonyms, else None."""
    return pseudonymizer(warehouse.settings)


def _shown(p: Pseudonymizer | None, dim: str | None, value: Any) -> Any:
    """A dimension value as it may leave: an address of an e-mail dimension as its pseudonym."""
    return p.hide(value) if p is not None and dim in EMAIL_DIMENSIONS else value


def _reveal(warehouse: Warehouse, scope: Scope, p: Pseudonymizer | None) -> Scope:
    """The scope with pseudonyms in e-mail dimension filters mapped back to their addresses."""
    if p is None:
        return scope
    filters: dict[str, list[str]] = {}
    for name, values in scope.filters.items():
        if name in EMAIL_DIMENSIONS and any(PSEUDONYM.fullmatch(v) for v in values):
            col = DIMENSIONS[name].key
            candidates = [
                r[0]
                for r in _run(
                    warehouse,
                    " UNION ".join(
                        f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {S}.{mart} "
                        f"WHERE CAST({col} AS VARCHAR) LIKE '%@%'"
                        for mart in (MART_SPEND, MART_USAGE)
                    ),
                    [],
                )
            ]
            filters[name] = p.reveal(values, candidates)
        else:
            filters[name] = list(values)
    return replace(scope, filters=filters)


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
    scope = _reveal(warehouse, scope, p)
    dims = _dims_of(scope, [g for g in group_by if g not in GRANULARITIES], m)
    where, params = _where(scope, dims)
    keys = [GRANULARITIES[g] if g in GRANULARITIES else DIMENSIONS[g].key for g in group_by]
    inner = [f"{k} AS d{i}" for i, k in enumerate(keys)] + [f"{_metric_expr(m, dims)} AS v"]
    outer = []
    joins = []
    for i, g in enumerate(group_by):
        d = None if g in GRANULARITIES else DIMENSIONS[g]
        if d is not None and d.names:
            joins.append(f"LEFT JOIN {_names(d)} n{i} ON n{i}.id = q.d{i}")
            outer.append(f'COALESCE(n{i}.name, q.d{i}) AS "{g}"')
        else:
            outer.append(f'q.d{i} AS "{g}"')
    sql = f"SELECT {', '.join(inner)} FROM {_source(m, dims, scope)} WHERE {where}"
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
    for r in _run(warehouse, sql, params):
        row = dict(zip(columns, r[: len(columns)], strict=True))
        for i, key in zip(private, r[len(columns) :], strict=True):
            if row[group_by[i]] == key:
                row[group_by[i]] = _shown(p, group_by[i], key)
        row[m.name] = _value(m, row[m.name])
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
    if granularity not in GRANULARITIES:
        raise _bad(
            f"Unknown granularity '{granularity}'.", f"Use one of: {', '.join(GRANULARITIES)}."
        )
    if limit < 1 or limit > 100:
        raise _bad(f"limit {limit} is out of range.", "Use 1 to 100 groups.")
    p = privacy(warehouse)
    asked = scope
    scope = _reveal(warehouse, scope, p)
    dims = _dims_of(scope, [group_by] if group_by else [], m)
    d = DIMENSIONS[group_by] if group_by else None
    where, params = _where(scope, dims)
    key_sql = d.key if d else f"'{TOTAL_KEY}'"
    lim = int(limit)
    sql = f"""
WITH base AS (
    SELECT {GRANULARITIES[granularity]} AS period, {key_sql} AS k, {_metric_expr(m, dims)} AS v
    FROM {_source(m, dims, scope)} WHERE {where}
    GROUP BY 1, 2
), ranked AS (
    SELECT k, row_number() OVER (ORDER BY sum(v) DESC NULLS LAST, k NULLS LAST) AS rn
    FROM base GROUP BY k
), folded AS (
    SELECT period, CASE WHEN rn <= {lim} THEN base.k ELSE '{OTHER_KEY}' END AS gk,
           CASE WHEN rn <= {lim} THEN rn ELSE {lim + 1} END AS grank,
           bool_or(base.k IS NULL AND rn <= {lim}) AS is_none, sum(v) AS v
    FROM base JOIN ranked ON ranked.k IS NOT DISTINCT FROM base.k
    GROUP BY 1, 2, 3
)
SELECT f.period, f.gk, f.grank, f.is_none, n.name, f.v
FROM folded f LEFT JOIN {_names(d)} n ON n.id = f.gk
ORDER BY 3, 1"""
    rows = _run(warehouse, sql, params)
    period_list = periods(scope.since, scope.until, granularity)
    index = {p: i for i, p in enumerate(period_list)}
    groups: dict[str, dict[str, Any]] = {}
    for period, gk, _rank, is_none, label, raw in rows:
        if gk == OTHER_KEY:
            key, shown = OTHER_KEY, "Other"
        elif gk == TOTAL_KEY:
            key, shown = TOTAL_KEY, "Total"
        elif is_none:
            key, shown = NONE_KEY, NONE_LABEL
        else:
            key, shown = str(gk), _label(gk, label)
            if p is not None and group_by in EMAIL_DIMENSIONS and _shown(p, group_by, gk) != gk:
                key = shown = str(_shown(p, group_by, gk))
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
                "total": _value(m, g["total"]),
                "share": float(g["total"] / total) if total else 0.0,
            }
        )
        out_series.append(
            {
                "key": g["key"],
                "label": g["label"],
                "values": [_value(m, v) for v in g["values"]],
            }
        )
    return {
        "metric": m.name,
        "metric_label": m.label,
        "unit": m.unit,
        "group_by": group_by,
        "granularity": granularity,
        "since": scope.since.isoformat(),
        "until": scope.until.isoformat(),
        "filters": hide_filters(p, asked.filters, EMAIL_DIMENSIONS),
        "periods": [p.isoformat() for p in period_list],
        "groups": out_groups,
        "series": out_series,
        "total": _value(m, total),
        "provisional_from": _iso(provisional_from(warehouse, scope, m)),
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


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def provisional_from(warehouse: Warehouse, scope: Scope, m: Metric | None = None) -> date | None:
    """The first day in the scope holding provisional (not yet final) rows."""
    mart = m.mart if m else MART_SPEND
    rows = _run(
        warehouse,
        f"SELECT min(day) FROM {S}.{mart} WHERE is_provisional AND day >= ? AND day < ?",
        [scope.since, scope.until],
    )
    return rows[0][0] if rows and rows[0][0] else None


def dimension_values(
    warehouse: Warehouse, name: str, metric_name: str, scope: Scope, limit: int = 500
) -> list[dict[str, Any]]:
    """The values a dimension takes in the scope (for filter pickers), biggest first."""
    m = metric(metric_name)
    d = dimension(name, m)
    p = privacy(warehouse)
    scope = _reveal(warehouse, scope, p)
    dims = _dims_of(scope, [name], m)
    where, params = _where(scope, dims)
    rows = _run(
        warehouse,
        f"""SELECT q.k, n.name, q.v FROM (
            SELECT {d.key} AS k, {_metric_expr(m, dims)} AS v
            FROM {_source(m, dims, scope)} WHERE {where} GROUP BY 1
        ) q LEFT JOIN {_names(d)} n ON n.id = q.k
        ORDER BY 3 DESC NULLS LAST, 1 LIMIT {int(limit)}""",
        params,
    )
    merged: dict[str, list[Any]] = {}  # key -> [label, total]; two addresses may share one
    for k, label, v in rows:
        hidden = _shown(p, name, k)
        shown = (hidden, hidden) if hidden != k else (k, label)
        entry = merged.setdefault(_key(shown[0]), [_label(*shown), None])
        entry[1] = v if entry[1] is None else entry[1] + (v or 0)
    return [{"key": k, "label": lbl, "total": _value(m, v)} for k, (lbl, v) in merged.items()]


# -- overview -----------------------------------------------------------------------------------


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _prev_month(d: date) -> date:
    return (d.replace(day=1) - timedelta(days=1)).replace(day=1)


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def overview(warehouse: Warehouse, as_of: date, top: int = 5) -> dict[str, Any]:
    """Month to date against the same days of last month, the trend, top spenders, movers."""
    m = METRICS["cost"]
    first = _month_start(as_of)
    end = as_of + timedelta(days=1)
    prev = _prev_month(first)
    days_in = (end - first).days
    prev_end = min(prev + timedelta(days=days_in), first)
    trend_since = end - timedelta(days=60)
    mover_since = end - timedelta(days=14)
    mover_mid = end - timedelta(days=7)
    canonical = _grain_condition([])
    sums = _run(
        warehouse,
        f"""SELECT
            sum(billed_nc) FILTER (WHERE day >= ? AND day < ?),
            sum(list_nc) FILTER (WHERE day >= ? AND day < ?),
            sum(billed_nc) FILTER (WHERE day >= ? AND day < ?),
            sum(billed_nc) FILTER (WHERE day >= ? AND day < ?)
        FROM {S}.{MART_SPEND} WHERE day >= ? AND day < ? AND {canonical}""",
        [first, end, first, end, prev, prev_end, prev, first, prev, end],
    )[0]
    mtd, mtd_list, last_same, last_full = (usd(v) for v in sums)
    month_days = (_next_month(first) - first).days
    forecast = mtd / days_in * month_days if days_in else Decimal(0)
    trend_rows = _run(
        warehouse,
        f"""SELECT day, sum(billed_nc), bool_or(is_provisional) FROM {S}.{MART_SPEND}
        WHERE day >= ? AND day < ? AND {canonical} GROUP BY 1 ORDER BY 1""",
        [trend_since, end],
    )
    by_day = {r[0]: (r[1], r[2]) for r in trend_rows}
    trend = []
    for i in range((end - trend_since).days):
        day = trend_since + timedelta(days=i)
        v, prov = by_day.get(day, (None, False))
        trend.append({"day": day.isoformat(), "cost": _value(m, v), "provisional": bool(prov)})
    tops: dict[str, list[dict[str, Any]]] = {}
    movers: list[dict[str, Any]] = []
    p = privacy(warehouse)
    for name in ("workspace", "api_key", "user", "model"):
        d = DIMENSIONS[name]
        rows = _run(
            warehouse,
            f"""SELECT q.k, n.name, q.mtd, q.cur, q.prev FROM (
                SELECT {d.key} AS k,
                    sum(billed_nc) FILTER (WHERE day >= ?) AS mtd,
                    sum(billed_nc) FILTER (WHERE day >= ? AND day < ?) AS cur,
                    sum(billed_nc) FILTER (WHERE day >= ? AND day < ?) AS prev
                FROM {S}.{MART_SPEND}
                WHERE day >= ? AND day < ? AND {canonical} AND {d.key} IS NOT NULL
                GROUP BY 1
            ) q LEFT JOIN {_names(d)} n ON n.id = q.k""",
            [first, mover_mid, end, mover_since, mover_mid, min(first, mover_since), end],
        )
        if p is not None and name in EMAIL_DIMENSIONS:
            rows = [
                (k, label, *rest) if _shown(p, name, k) == k else (_shown(p, name, k), None, *rest)
                for k, label, *rest in rows
            ]
        ranked = sorted((r for r in rows if r[2]), key=lambda r: (-Decimal(r[2]), str(r[0])))[:top]
        tops[name] = [
            {
                "key": _key(k),
                "label": _label(k, label),
                "cost": _value(m, v),
                "share": float(usd(v) / mtd) if mtd else 0.0,
            }
            for k, label, v, _c, _p in ranked
        ]
        for k, label, _v, cur, prv in rows:
            delta = usd(cur) - usd(prv)
            if delta:
                movers.append(
                    {
                        "dimension": name,
                        "key": _key(k),
                        "label": _label(k, label),
                        "current": _value(m, cur),
                        "previous": _value(m, prv),
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
        "forecast": exact(forecast.quantize(Decimal("0.01"))),
        "trend": trend,
        "top": tops,
        "movers": movers[:8],
        "freshness": freshness(warehouse, as_of),
    }


# -- freshness and connections ------------------------------------------------------------------


def freshness(warehouse: Warehouse, today: date) -> dict[str, Any]:
    """How complete the data is: per connection and overall, with a sentence for a banner."""
    from .health import connection_health

    health = connection_health(warehouse, count_rows=False)
    kinds = dict(
        _run(
            warehouse,
            f"SELECT connection_label, connection_kind FROM {S}.connections WHERE state = 'active'",
            [],
        )
    )
    prov = dict(
        _run(
            warehouse,
            f"""SELECT connection_label, min(day) FROM {S}.{MART_SPEND}
            WHERE is_provisional AND day >= ? GROUP BY 1""",
            [today - timedelta(days=62)],
        )
    )
    conns = []
    for label in sorted(kinds):
        h = health.get(label, {})
        through = h.get("complete_through")
        conns.append(
            {
                "label": label,
                "kind": kinds[label],
                "health": h.get("state", "never synced"),
                "last_success": _ts(h.get("last_success")),
                "complete_through": _iso(_as_date(through)),
                "provisional_from": _iso(prov.get(label)),
            }
        )
    throughs = [c["complete_through"] for c in conns]
    complete = min(throughs) if throughs and all(throughs) else None
    provs = [c["provisional_from"] for c in conns if c["provisional_from"]]
    p_from = min(provs) if provs else None
    if not conns:
        message = "No connections yet: connect an organization to see its spend."
    elif complete is None:
        message = "Some connections have not finished their first sync; totals are partial."
    else:
        message = f"Data complete through {_human(complete)}"
        if p_from:
            message += f"; days from {_human(p_from)} are provisional and may still change."
        else:
            message += "."
    return {
        "complete_through": complete,
        "provisional_from": p_from,
        "message": message,
        "connections": conns,
    }


def _as_date(v: Any) -> date | None:
    if v is None:
        return None
    if hasattr(v, "date") and callable(v.date):
        return v.date()  # type: ignore[no-any-return]
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _ts(v: Any) -> str | None:
    return v.isoformat() if v is not None and hasattr(v, "isoformat") else None


def _human(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.day} {d:%b %Y}"
