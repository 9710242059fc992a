"""The analytics marts: `mart_spend` and `mart_usage`, flat tables the dashboard reads.

They hold what the `spend` and `usage` views hold — the same rows, the same double-booking rule
— plus the *alternate grain* of each connection kind, materialized and sorted by day so that a
query over ten million rows reads a plain columnar table instead of re-running the views' joins.
They are rebuilt from the views' definitions after every sync (and when a connection is deleted);
nothing else writes them.

Each row carries `grain`:

- `canonical`: the grain the `spend`/`usage` views use (Console: workspace × API key × model ×
  tier × context window; Enterprise: organization × user × product × model × context window);
- `alternate`: the other grain the analytics API was asked for (Console: actor × product × model ×
  geo × speed; Enterprise: organization × product × model × geo × speed) — the same money cut
  another way, used when a question needs product, geo or speed on Console, or geo or speed on
  Enterprise;
- `legacy`: rows from the pre-analytics usage and cost reports, the only grain on the days they
  cover, so they count under both choices.

Summing `canonical` + `legacy` rows equals the `spend` / `usage` views exactly; so does
`alternate` + `legacy` (a test checks both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .store import DATASET
from .views import spend_sql, usage_sql

if TYPE_CHECKING:
    from .store import Warehouse

S = DATASET
MART_SPEND = "mart_spend"
MART_USAGE = "mart_usage"

# Tables of the alternate grain, by connection kind.
ALTERNATE_TABLES = {
    "analytics_cost_actor",
    "analytics_cost_detail",
    "analytics_usage_actor",
    "analytics_usage_detail",
}
CANONICAL_TABLES = {
    "analytics_cost_key",
    "analytics_cost_user",
    "analytics_usage_key",
    "analytics_usage_user",
}

_GRAIN = f"""CASE WHEN source_table IN ({", ".join(f"'{t}'" for t in sorted(CANONICAL_TABLES))})
        THEN 'canonical'
        WHEN source_table IN ({", ".join(f"'{t}'" for t in sorted(ALTERNATE_TABLES))})
        THEN 'alternate' ELSE 'legacy' END"""

_SPEND_COLUMNS = """connection_label, connection_kind, {grain} AS grain,
    CAST(charge_period_start AS DATE) AS day, organization_id,
    workspace_id, workspace_name, api_key_id, api_key_name, user_id, user_email,
    product, model, service_tier, context_window, inference_geo, speed, cost_type, token_type,
    provider, billing_account, project, service, sku, resource,
    billed_cost, list_cost, is_provisional"""

_USAGE_COLUMNS = """u.connection_label, u.connection_kind, {grain} AS grain,
    CAST(u.period_start AS DATE) AS day, u.organization_id,
    u.workspace_id, w.name AS workspace_name, u.api_key_id, k.name AS api_key_name,
    u.user_id, u.user_email, u.product, u.model, u.service_tier, u.context_window,
    u.inference_geo, u.speed,
    CASE u.connection_kind WHEN 'console' THEN 'Anthropic (Console)'
         ELSE 'Anthropic (Enterprise)' END AS provider,
    u.connection_label AS billing_account,
    CASE u.connection_kind WHEN 'console' THEN COALESCE(w.name, u.workspace_id)
         ELSE u.user_email END AS project,
    u.product AS service,
    COALESCE(u.product, 'tokens') || ' / ' || COALESCE(u.model, 'tokens') AS sku,
    u.model AS resource,
    u.uncached_input_tokens, u.cache_read_input_tokens, u.cache_creation_5m_input_tokens,
    u.cache_creation_1h_input_tokens, u.output_tokens, u.web_search_requests, u.requests,
    u.is_provisional"""


def mart_statements(existing: set[str], precedence: str) -> list[str]:
    """SQL that rebuilds both marts from the raw tables present in `existing`."""
    spend_inner = spend_sql(existing, precedence, alternate=True)
    usage_inner = usage_sql(existing, precedence, alternate=True)
    grain_u = _GRAIN.replace("source_table", "u.source_table")
    return [
        f"""CREATE OR REPLACE TABLE {S}.{MART_SPEND} AS
SELECT {_SPEND_COLUMNS.format(grain=_GRAIN)}
FROM ({spend_inner}) s
ORDER BY day, connection_label""",
        f"""CREATE OR REPLACE TABLE {S}.{MART_USAGE} AS
SELECT {_USAGE_COLUMNS.format(grain=grain_u)}
FROM ({usage_inner}) u
LEFT JOIN {S}.workspaces w ON w.connection_label = u.connection_label AND w.id = u.workspace_id
LEFT JOIN {S}.api_keys k ON k.connection_label = u.connection_label AND k.id = u.api_key_id
ORDER BY day, u.connection_label""",
    ]


def refresh_marts(warehouse: Warehouse) -> None:
    """Rebuild `mart_spend` and `mart_usage` in one transaction (readers see old or new)."""
    if not warehouse.is_duckdb:
        return
    existing = warehouse.existing_tables()
    statements = mart_statements(existing, warehouse.settings.overlap_precedence)
    with warehouse.cursor() as cur:
        cur.execute("BEGIN TRANSACTION")
        try:
            for sql in statements:
                cur.execute(sql)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise


def marts_exist(warehouse: Warehouse) -> bool:
    return {MART_SPEND, MART_USAGE} <= warehouse.existing_tables()
