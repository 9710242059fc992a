"""The public contract: views `spendscope.spend` and `spendscope.usage` (and helpers).

`spend` and `usage` union the *canonical grain* of each connection kind — one grain per
connection and day, so a plain SUM over any set of columns is exact:

- Console connections: `analytics_cost_key` / `analytics_usage_key` from the analytics API
  (workspace, API key, model, tier, context window), or the legacy `console_cost_report`
  (workspace, model, tier, context window, geo, speed — no API key; `spend` divides it over the
  keys by priced usage, see `legacy_split.py`) / `console_usage_report` (every dimension);
- Enterprise connections: `analytics_cost_user` / `analytics_usage_user` (organization, user,
  product, model, context window), or the legacy `enterprise_cost_report` /
  `enterprise_usage_report` (product, model, context window, geo, speed — no user).

Double-booking: a parent Enterprise organization's analytics reports include its child
organizations. When the child is also connected as a Console connection, the same spend arrives
twice; the `overlaps` table (recomputed after each sync) lists those connection/organization/days.
With precedence `console` (default) the Enterprise rows of those days are left out of `spend` and
`usage` (they are in `spend_overlaps` / `usage_overlaps`), and the Console rows carry the
Enterprise connection's label in `overlaps_connection`; precedence `enterprise` does the reverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import faults
from .legacy_split import split_relation
from .schema import DATASET

if TYPE_CHECKING:
    from .connection import Warehouse


# (table, connection kind, source label, expressions for the view's dimension columns)
SPEND_SOURCES: list[tuple[str, str, dict[str, str]]] = [
    (
        "analytics_cost_key",
        "analytics/cost",
        {
            "workspace_id": "workspace_id",
            "api_key_id": "api_key_id",
            "user_id": "NULL",
            "user_email": "NULL",
            "product": "product",
            "model": "model",
            "service_tier": "service_tier",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "organization_id",
            "list_cost": "list_amount_cents",
            "service_account_id": "NULL",
        },
    ),
    (
        "console_cost_report",
        "cost_report",
        {
            "workspace_id": "workspace_id",
            "api_key_id": "api_key_id",
            "user_id": "account_id",
            "user_email": "NULL",
            "product": "NULL",
            "model": "model",
            "service_tier": "service_tier",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "NULL",
            "list_cost": "NULL",
            "service_account_id": "service_account_id",
            "is_estimate": "is_estimate",
        },
    ),
    (
        "analytics_cost_user",
        "analytics/cost",
        {
            "workspace_id": "workspace_id",
            "api_key_id": "CASE WHEN actor_type = 'api_actor' THEN actor_id END",
            "user_id": "CASE WHEN actor_type = 'user_actor' THEN actor_id END",
            "user_email": "actor_email",
            "product": "product",
            "model": "model",
            "service_tier": "service_tier",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "organization_id",
            "list_cost": "list_amount_cents",
            "service_account_id": (
                "CASE WHEN actor_type = 'service_account_actor' THEN actor_id END"
            ),
        },
    ),
    (
        "enterprise_cost_report",
        "analytics/cost_report",
        {
            "workspace_id": "NULL",
            "api_key_id": "NULL",
            "user_id": "NULL",
            "user_email": "NULL",
            "product": "product",
            "model": "model",
            "service_tier": "NULL",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "NULL",
            "list_cost": "list_amount_cents",
            "service_account_id": "NULL",
        },
    ),
]

USAGE_SOURCES: list[tuple[str, str, dict[str, str]]] = [
    (
        "analytics_usage_key",
        "analytics/usage",
        {
            "workspace_id": "workspace_id",
            "api_key_id": "api_key_id",
            "user_id": "NULL",
            "user_email": "NULL",
            "account_id": "NULL",
            "service_account_id": "NULL",
            "product": "product",
            "model": "model",
            "service_tier": "service_tier",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "organization_id",
            "requests": "requests",
        },
    ),
    (
        "console_usage_report",
        "usage_report/messages",
        {
            "workspace_id": "workspace_id",
            "api_key_id": "api_key_id",
            "user_id": "account_id",
            "user_email": "NULL",
            "account_id": "account_id",
            "service_account_id": "service_account_id",
            "product": "NULL",
            "model": "model",
            "service_tier": "service_tier",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "NULL",
            "requests": "NULL",
        },
    ),
    (
        "analytics_usage_user",
        "analytics/usage",
        {
            "workspace_id": "workspace_id",
            "api_key_id": "CASE WHEN actor_type = 'api_actor' THEN actor_id END",
            "user_id": "CASE WHEN actor_type = 'user_actor' THEN actor_id END",
            "user_email": "actor_email",
            "account_id": "NULL",
            "service_account_id": (
                "CASE WHEN actor_type = 'service_account_actor' THEN actor_id END"
            ),
            "product": "product",
            "model": "model",
            "service_tier": "service_tier",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "organization_id",
            "requests": "requests",
        },
    ),
    (
        "enterprise_usage_report",
        "analytics/usage_report",
        {
            "workspace_id": "NULL",
            "api_key_id": "NULL",
            "user_id": "NULL",
            "user_email": "NULL",
            "account_id": "NULL",
            "service_account_id": "NULL",
            "product": "product",
            "model": "model",
            "service_tier": "NULL",
            "context_window": "context_window",
            "inference_geo": "inference_geo",
            "speed": "speed",
            "organization_id": "NULL",
            "requests": "requests",
        },
    ),
]

# The alternate grain of each kind (read by the marts, not by the views; the marts write the
# views' double-booking rule as an anti-join of their own): the actor-based
# mapping of the Enterprise user grain fits both (columns a grain lacks are null).
ALTERNATE_SPEND_SOURCES = [
    (table, "analytics/cost", SPEND_SOURCES[2][2])
    for table in ("analytics_cost_actor", "analytics_cost_detail")
]
ALTERNATE_USAGE_SOURCES = [
    (table, "analytics/usage", USAGE_SOURCES[2][2])
    for table in ("analytics_usage_actor", "analytics_usage_detail")
]

# The dimension columns `spend` and `usage` share, in their order.
DIMENSIONS = (
    "workspace_id",
    "api_key_id",
    "user_id",
    "user_email",
    "product",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
)
_TOKENS = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "output_tokens",
    "web_search_requests",
)


# Source tables `spend` reads through a derived relation instead of as stored.
DERIVED = {"console_cost_report": split_relation()}


def spend_select(table: str, source: str, m: dict[str, str]) -> str:
    dims = ",\n    ".join(f"CAST({m[d]} AS VARCHAR) AS {d}" for d in DIMENSIONS)
    return f"""SELECT
    t.connection_label, connection_kind,
    COALESCE(CAST({m["organization_id"]} AS VARCHAR), conn_org_id) AS organization_id,
    bucket_start AS charge_period_start, bucket_end AS charge_period_end,
    {dims},
    cost_type, token_type,
    amount_cents * CAST(0.01 AS DECIMAL(3, 2)) AS billed_cost,
    CAST({m["list_cost"]} AS DECIMAL(38, 9)) * CAST(0.01 AS DECIMAL(3, 2)) AS list_cost,
    {m.get("is_estimate", "FALSE")} AS is_estimate, is_provisional, '{source}' AS source,
    '{table}' AS source_table,
    CAST({m["service_account_id"]} AS VARCHAR) AS service_account_id, t.row_key
FROM {DERIVED.get(table, f"{DATASET}.{table}")} t JOIN (SELECT connection_label AS conn_label,
    connection_kind, organization_id AS conn_org_id FROM {DATASET}.connections) c
    ON c.conn_label = t.connection_label"""


def usage_select(table: str, source: str, m: dict[str, str]) -> str:
    dims = ",\n    ".join(
        f"CAST({m[d]} AS VARCHAR) AS {d}" for d in (*DIMENSIONS, "account_id", "service_account_id")
    )
    toks = ", ".join(_TOKENS)
    return f"""SELECT
    t.connection_label, connection_kind,
    COALESCE(CAST({m["organization_id"]} AS VARCHAR), conn_org_id) AS organization_id,
    bucket_start AS period_start, bucket_end AS period_end,
    {dims},
    {toks}, CAST({m["requests"]} AS BIGINT) AS requests,
    is_provisional, '{source}' AS source, '{table}' AS source_table
FROM {DATASET}.{table} t JOIN (SELECT connection_label AS conn_label, connection_kind,
    organization_id AS conn_org_id FROM {DATASET}.connections) c
    ON c.conn_label = t.connection_label"""


def _with_overlaps(base: str, start_col: str, precedence: str, keep: bool) -> str:
    """Rows of `base` that count (keep=True), or the double-booked ones left out."""
    if precedence == "console":
        loser, mark = (
            "enterprise",
            """(SELECT min(o.connection_label) FROM {DATASET}.overlaps o
             WHERE o.console_label = b.connection_label
               AND o.day = CAST(b.{col} AS DATE))""",
        )
        hit = """EXISTS (SELECT 1 FROM {DATASET}.overlaps o
             WHERE o.connection_label = b.connection_label
             AND o.organization_id = b.organization_id AND o.day = CAST(b.{col} AS DATE))"""
    else:
        loser, mark = (
            "console",
            """(SELECT min(o.console_label) FROM {DATASET}.overlaps o
             WHERE o.connection_label = b.connection_label
               AND o.organization_id = b.organization_id
               AND o.day = CAST(b.{col} AS DATE))""",
        )
        hit = """EXISTS (SELECT 1 FROM {DATASET}.overlaps o
             WHERE o.console_label = b.connection_label
             AND o.day = CAST(b.{col} AS DATE))"""
    mark = mark.format(DATASET=DATASET, col=start_col)
    hit = hit.format(DATASET=DATASET, col=start_col)
    cond = f"b.connection_kind = '{loser}' AND {hit}"
    if keep:
        return f"""SELECT b.*, CASE WHEN b.connection_kind <> '{loser}' THEN {mark} END
    AS overlaps_connection
FROM ({base}) b
WHERE NOT ({cond})"""
    return f"SELECT b.* FROM ({base}) b WHERE {cond}"


def spend_sql(existing: set[str], precedence: str, keep: bool = True) -> str:
    parts = [spend_select(t, src, m) for t, src, m in SPEND_SOURCES if t in existing]
    base = "\nUNION ALL\n".join(parts)
    inner = _with_overlaps(base, "charge_period_start", precedence, keep)
    if not keep:
        return inner
    return f"""SELECT s.*,
    CASE s.connection_kind WHEN 'console' THEN 'Anthropic (Console)'
         ELSE 'Anthropic (Enterprise)' END AS provider,
    s.connection_label AS billing_account,
    CASE s.connection_kind WHEN 'console' THEN COALESCE(w.name, s.workspace_id)
         ELSE s.user_email END AS project,
    s.product AS service,
    COALESCE(s.product, s.cost_type) || ' / ' || COALESCE(s.model, s.cost_type) AS sku,
    s.model AS resource,
    w.name AS workspace_name, k.name AS api_key_name
FROM ({inner}) s
LEFT JOIN {DATASET}.workspaces w
    ON w.connection_label = s.connection_label AND w.id = s.workspace_id
LEFT JOIN {DATASET}.api_keys k ON k.connection_label = s.connection_label AND k.id = s.api_key_id"""


def usage_sql(existing: set[str], precedence: str, keep: bool = True) -> str:
    parts = [usage_select(t, src, m) for t, src, m in USAGE_SOURCES if t in existing]
    base = "\nUNION ALL\n".join(parts)
    return _with_overlaps(base, "period_start", precedence, keep)


OVERLAPS_REFRESH = f"""
DELETE FROM {DATASET}.overlaps;
INSERT INTO {DATASET}.overlaps (row_key, connection_label, console_label, organization_id, day)
SELECT md5(e.connection_label || '|' || cc.connection_label || '|' || e.org || '|' ||
           CAST(e.day AS VARCHAR)),
       e.connection_label, cc.connection_label, e.org, e.day
FROM (
    SELECT DISTINCT t.connection_label, t.organization_id AS org,
           CAST(t.bucket_start AS DATE) AS day
    FROM {DATASET}.analytics_cost_user t
    JOIN {DATASET}.connections ce ON ce.connection_label = t.connection_label
    WHERE t.organization_id IS NOT NULL AND t.organization_id <> ce.organization_id
    UNION
    SELECT DISTINCT t.connection_label, t.organization_id, CAST(t.bucket_start AS DATE)
    FROM {DATASET}.analytics_usage_user t
    JOIN {DATASET}.connections ce ON ce.connection_label = t.connection_label
    WHERE t.organization_id IS NOT NULL AND t.organization_id <> ce.organization_id
) e
JOIN {DATASET}.connections cc ON cc.organization_id = e.org AND cc.connection_kind = 'console'
    AND cc.state = 'active'
JOIN (
    SELECT DISTINCT connection_label, CAST(bucket_start AS DATE) AS day
    FROM {DATASET}.analytics_cost_key
    UNION SELECT DISTINCT connection_label, CAST(bucket_start AS DATE)
    FROM {DATASET}.console_cost_report
    UNION SELECT DISTINCT connection_label, CAST(bucket_start AS DATE)
    FROM {DATASET}.analytics_usage_key
    UNION SELECT DISTINCT connection_label, CAST(bucket_start AS DATE)
    FROM {DATASET}.console_usage_report
) d ON d.connection_label = cc.connection_label AND d.day = e.day
"""


# The lineage of every allocated amount: one row per `spend` row (joined by `row_key`),
# allocation dimension and value.
ALLOCATION_VIEW = f"""SELECT spend_row_key AS row_key, connection_label, connection_kind, day,
    dimension, value,
    billed_nc * CAST(0.00000000001 AS DECIMAL(12, 11)) AS billed_cost,
    list_nc * CAST(0.00000000001 AS DECIMAL(12, 11)) AS list_cost,
    ratio, method, split_method, rule_id, rule_version, mapping_key, reason
FROM {DATASET}.allocation_rows"""


# Anthropic's own attribution, offered beside the allocation: each group's members' spend,
# a user in several groups counted fully in each (rows add up to more than the bill).
RBAC_OVERLAPPING_VIEW = f"""SELECT s.connection_label, CAST(s.charge_period_start AS DATE) AS day,
    m.rbac_group_id, any_value(g.name) AS rbac_group_name, sum(s.billed_cost) AS billed_cost,
    TRUE AS overlapping
FROM {DATASET}.spend s
LEFT JOIN {DATASET}.rbac_membership m
    ON m.connection_label = s.connection_label AND m.user_id = s.user_id
    AND m.valid_from <= CAST(s.charge_period_start AS DATE)
    AND (m.valid_to IS NULL OR m.valid_to > CAST(s.charge_period_start AS DATE))
LEFT JOIN {DATASET}.rbac_groups g
    ON g.connection_label = m.connection_label AND g.id = m.rbac_group_id
WHERE s.connection_kind = 'enterprise'
GROUP BY s.connection_label, CAST(s.charge_period_start AS DATE), m.rbac_group_id"""


def _view_statements(warehouse: Warehouse) -> list[str]:
    existing = warehouse.existing_tables()
    precedence = warehouse.settings.overlap_precedence
    allocation = (
        [f"CREATE OR REPLACE VIEW {DATASET}.allocation AS {ALLOCATION_VIEW}"]
        if "allocation_rows" in existing
        else []
    )
    if {"rbac_membership", "rbac_groups"} <= existing:
        allocation.append(
            f"CREATE OR REPLACE VIEW {DATASET}.rbac_group_spend_overlapping AS "
            f"{RBAC_OVERLAPPING_VIEW}"
        )
    return [
        f"CREATE OR REPLACE VIEW {DATASET}.spend AS {spend_sql(existing, precedence)}",
        f"CREATE OR REPLACE VIEW {DATASET}.spend_overlaps AS "
        f"{spend_sql(existing, precedence, keep=False)}",
        f"CREATE OR REPLACE VIEW {DATASET}.usage AS {usage_sql(existing, precedence)}",
        f"CREATE OR REPLACE VIEW {DATASET}.usage_overlaps AS "
        f"{usage_sql(existing, precedence, keep=False)}",
        *allocation,  # (after `spend`, which the overlapping view reads)
    ]


def create_views_in(cur: Any, warehouse: Warehouse) -> None:
    """(Re)create the views with `cur`, inside the caller's transaction."""
    for sql in _view_statements(warehouse):
        cur.execute(sql)
        faults.step("view")


def create_views(warehouse: Warehouse) -> None:
    """(Re)create the views in one transaction, then checkpoint: view DDL never waits in the
    write-ahead log."""
    with warehouse.transaction() as cur:
        create_views_in(cur, warehouse)
    warehouse.checkpoint()


def refresh_overlaps_in(cur: Any) -> int:
    """Recompute the `overlaps` table with `cur` (inside the caller's transaction)."""
    for statement in OVERLAPS_REFRESH.strip().split(";\n"):
        if statement.strip():
            cur.execute(statement)
    faults.step("overlaps")
    return int(cur.execute(f"SELECT count(*) FROM {DATASET}.overlaps").fetchone()[0])


def refresh_overlaps(warehouse: Warehouse) -> int:
    """Recompute the `overlaps` table in one transaction; returns its row count."""
    with warehouse.transaction() as cur:
        return refresh_overlaps_in(cur)
