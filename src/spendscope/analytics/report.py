"""Totals from the `spend` and `usage` views, grouped by whitelisted dimensions.

Dimensions and metrics are looked up in fixed tables; filter values are bound parameters —
never SQL text from the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import ConfigError
from ..warehouse.store import DATASET, Warehouse

SPEND_DIMENSIONS = {
    "connection": "connection_label",
    "kind": "connection_kind",
    "organization": "organization_id",
    "workspace": "COALESCE(workspace_name, workspace_id)",
    "workspace_id": "workspace_id",
    "api_key": "COALESCE(api_key_name, api_key_id)",
    "api_key_id": "api_key_id",
    "user": "user_email",
    "user_id": "user_id",
    "product": "product",
    "model": "model",
    "service_tier": "service_tier",
    "context_window": "context_window",
    "inference_geo": "inference_geo",
    "speed": "speed",
    "cost_type": "cost_type",
    "token_type": "token_type",
    "provider": "provider",
    "billing_account": "billing_account",
    "project": "project",
    "service": "service",
    "sku": "sku",
    "resource": "resource",
    "day": "CAST(charge_period_start AS DATE)",
    "week": "CAST(date_trunc('week', charge_period_start) AS DATE)",
    "month": "CAST(date_trunc('month', charge_period_start) AS DATE)",
}
USAGE_DIMENSIONS = {
    "connection": "connection_label",
    "kind": "connection_kind",
    "organization": "organization_id",
    "workspace_id": "workspace_id",
    "workspace": "workspace_id",
    "api_key_id": "api_key_id",
    "api_key": "api_key_id",
    "user": "user_email",
    "user_id": "user_id",
    "product": "product",
    "model": "model",
    "service_tier": "service_tier",
    "context_window": "context_window",
    "inference_geo": "inference_geo",
    "speed": "speed",
    "day": "CAST(period_start AS DATE)",
    "week": "CAST(date_trunc('week', period_start) AS DATE)",
    "month": "CAST(date_trunc('month', period_start) AS DATE)",
}
SPEND_METRICS = {"cost": "sum(billed_cost)", "list_cost": "sum(list_cost)"}
USAGE_METRICS = {
    "tokens": "sum(uncached_input_tokens + cache_read_input_tokens + "
    "cache_creation_5m_input_tokens + cache_creation_1h_input_tokens + output_tokens)",
    "uncached_input_tokens": "sum(uncached_input_tokens)",
    "cache_read_input_tokens": "sum(cache_read_input_tokens)",
    "cache_creation_5m_input_tokens": "sum(cache_creation_5m_input_tokens)",
    "cache_creation_1h_input_tokens": "sum(cache_creation_1h_input_tokens)",
    "output_tokens": "sum(output_tokens)",
    "web_search_requests": "sum(web_search_requests)",
    "requests": "sum(requests)",
}
METRICS = (*SPEND_METRICS, *USAGE_METRICS)


@dataclass
class ReportQuery:
    by: tuple[str, ...] = ()
    metric: str = "cost"
    since: date | None = None
    until: date | None = None  # exclusive
    connection: str | None = None
    limit: int | None = None


def report(warehouse: Warehouse, q: ReportQuery) -> tuple[list[str], list[dict[str, Any]]]:
    if q.metric in SPEND_METRICS:
        view, dims, expr, start = (
            "spend",
            SPEND_DIMENSIONS,
            SPEND_METRICS[q.metric],
            "charge_period_start",
        )
    elif q.metric in USAGE_METRICS:
        view, dims, expr, start = "usage", USAGE_DIMENSIONS, USAGE_METRICS[q.metric], "period_start"
    else:
        raise ConfigError(f"Unknown metric '{q.metric}'.", f"Use one of: {', '.join(METRICS)}.")
    for d in q.by:
        if d not in dims:
            raise ConfigError(
                f"Cannot group {q.metric} by '{d}'.", f"Use one of: {', '.join(dims)}."
            )
    where: list[str] = []
    params: list[Any] = []
    if q.since:
        where.append(f"{start} >= ?")
        params.append(q.since)
    if q.until:
        where.append(f"{start} < ?")
        params.append(q.until)
    if q.connection:
        where.append("connection_label = ?")
        params.append(q.connection)
    select = [f'{dims[d]} AS "{d}"' for d in q.by] + [f'{expr} AS "{q.metric}"']
    sql = f"SELECT {', '.join(select)} FROM {DATASET}.{view}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if q.by:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(q.by)))
        sql += f" ORDER BY {len(q.by) + 1} DESC NULLS LAST"
    if q.limit:
        sql += f" LIMIT {int(q.limit)}"
    con = warehouse.duckdb()
    cur = con.execute(sql, params)
    columns = [*q.by, q.metric]
    return columns, [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
