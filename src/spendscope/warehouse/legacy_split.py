"""Billed cost down to the API key on days served by the legacy Console cost report.

`/v1/organizations/cost_report` groups cost only by workspace and description (model, token
type, tier, context window, geo, speed), never by API key; the usage report of the same days
gives every key's tokens at that grain. `spend` reads `console_cost_report` through
`split_relation()`, which divides each cost row over the usage rows that explain it, in
proportion to their *priced usage*:

- a token cost row (`cost_type` `tokens`) over the usage rows of the same connection, day,
  workspace, model, tier, context window, geo and speed, weighted by the tokens of the row's
  token type — within one such group every token has the same unit price, so the tokens are the
  priced usage;
- a web search row over the usage rows of its workspace, weighted by web searches, leaving out
  the Priority Tier (whose cost the legacy report does not carry).

Each part is identified by the usage row's API key, user account and service account, and is
marked `is_estimate` (in `spend`). The amount is divided in integer units of 1e-9 cent (the
scale amounts are stored at), rounded toward zero, and the units left over go to the part with
the largest weight (ties: the lowest API key id, then account, then service account, absent
ones first), so the parts add up to the cost row exactly. A cost row that no usage explains —
code execution, managed-agent sessions, or a token cost with no matching usage — is kept whole,
without a key, and not marked as an estimate. Each part's `row_key` is a hash of the cost row's
key and the part's identity, stable across refreshes.
"""

from __future__ import annotations

from .schema import DATASET

# Which usage column weighs a token cost row of each token type.
TOKEN_COLUMNS = {
    "uncached_input_tokens": "uncached_input_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens": "cache_creation_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens": "cache_creation_1h_input_tokens",
    "output_tokens": "output_tokens",
}
# Tiers whose cost the legacy cost report leaves out (so their web searches weigh nothing).
UNBILLED_TIERS = ("priority", "priority_on_demand")
# Units of an amount: 1e-9 cent.
_UNITS = 1_000_000_000

_COST_COLUMNS = (
    "connection_label",
    "bucket_start",
    "bucket_end",
    "workspace_id",
    "description",
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "list_amount_cents",
    "currency",
    "fetched_at",
    "is_provisional",
    "data_refreshed_at",
)


def _weights() -> str:
    """(cost row, part, weight) for every usage row that explains a cost row: same connection,
    day and workspace; for a token cost, the same model, tier, context window, geo and speed,
    weighted by the tokens of its type; for web searches, any row of the workspace outside the
    tiers the report does not bill, weighted by searches. Equality joins only (fast)."""
    tokens = "\n".join(f"            WHEN '{t}' THEN u.{col}" for t, col in TOKEN_COLUMNS.items())
    same = " AND ".join(
        f"u.{d} IS NOT DISTINCT FROM c.{d}"
        for d in ("model", "service_tier", "context_window", "inference_geo", "speed")
    )
    unbilled = ", ".join(f"'{t}'" for t in UNBILLED_TIERS)
    head = """SELECT c.row_key AS cost_key, c.bucket_start, c.units, u.api_key_id AS k,
        u.account_id AS a, u.service_account_id AS sa, CAST({w} AS HUGEINT) AS w
    FROM c JOIN u ON u.connection_label = c.connection_label
        AND u.bucket_start = c.bucket_start AND u.ws = c.ws"""
    by_tokens = head.format(w=f"CASE c.token_type\n{tokens}\n        END")
    by_searches = head.format(w="u.web_search_requests")
    return f"""{by_tokens} AND {same}
    WHERE c.cost_type = 'tokens'
    UNION ALL
    SELECT cost_key, bucket_start, units, k, a, sa, sum(w) FROM (
        {by_searches}
        WHERE c.cost_type = 'web_search' AND u.service_tier NOT IN ({unbilled})
    ) GROUP BY ALL"""


def split_relation() -> str:
    """`console_cost_report` with each cost row divided over the keys whose usage explains it:
    the table's columns, plus `api_key_id`, `account_id`, `service_account_id` and
    `is_estimate`."""
    cols = ", ".join(f"c.{c}" for c in _COST_COLUMNS)
    amount = "CAST({units} AS DECIMAL(38, 0)) * CAST(0.000000001 AS DECIMAL(10, 9))"
    part = "p.share + CASE WHEN p.first THEN p.units - r.given ELSE 0 END"
    identity = (
        "c.row_key || '|' || COALESCE(p.k, '') || '|' || COALESCE(p.a, '') || '|' || "
        "COALESCE(p.sa, '')"
    )
    return f"""(WITH c AS (
    SELECT *, CAST(amount_cents * {_UNITS} AS HUGEINT) AS units, COALESCE(workspace_id, '') AS ws
    FROM {DATASET}.console_cost_report
), u AS (
    SELECT *, COALESCE(workspace_id, '') AS ws FROM {DATASET}.console_usage_report
), w AS (
    SELECT * FROM ({_weights()}) WHERE w > 0
), t AS (
    SELECT cost_key, sum(w) AS total,
        min((-w, COALESCE(k, ''), COALESCE(a, ''), COALESCE(sa, ''))) AS largest
    FROM w GROUP BY cost_key
), p AS (
    SELECT w.cost_key, w.units, w.k, w.a, w.sa, w.units * w.w // t.total AS share,
        (-w.w, COALESCE(w.k, ''), COALESCE(w.a, ''), COALESCE(w.sa, '')) = t.largest AS first
    FROM w JOIN t ON t.cost_key = w.cost_key
), r AS (
    SELECT cost_key, sum(share) AS given FROM p GROUP BY cost_key
)
SELECT md5({identity}) AS row_key, {cols},
    {amount.format(units=part)} AS amount_cents,
    p.k AS api_key_id, p.a AS account_id, p.sa AS service_account_id, TRUE AS is_estimate
FROM p JOIN r ON r.cost_key = p.cost_key JOIN c ON c.row_key = p.cost_key
UNION ALL
SELECT c.row_key, {cols}, c.amount_cents,
    NULL AS api_key_id, NULL AS account_id, NULL AS service_account_id, FALSE AS is_estimate
FROM c WHERE c.row_key NOT IN (SELECT cost_key FROM w))"""
