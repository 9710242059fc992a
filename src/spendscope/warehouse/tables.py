"""Every table spendscope keeps, declared once: columns, types, keys.

Raw tables keep the upstream shape (one per endpoint and grain, nested objects flattened with
`_`), plus bookkeeping columns. Each row has a `row_key`: a digest of the connection, the table,
the bucket and every group field — the natural key — so loading a window twice changes nothing.

Money columns hold the API's amounts exactly: `*_cents` as DECIMAL(38, 9) in US cents, parsed
from the API's decimal strings (never through float). The views convert to dollars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

MONEY = pa.decimal128(38, 9)
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    # Columns that identify a row (digested into row_key), besides connection_label.
    key: tuple[str, ...] = ()
    # Fact tables: loaded by time window, revisable; admin tables: snapshots.
    kind: str = "fact"  # "fact" | "snapshot" | "log" | "state"
    # For fact tables: the metric columns compared to detect revisions.
    metrics: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ("row_key",)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])


def _s(name: str, doc: str = "") -> Column:
    return Column(name, pa.string(), True, doc)


def _i(name: str, doc: str = "", nullable: bool = True) -> Column:
    return Column(name, pa.int64(), nullable, doc)


ROW_KEY = Column(
    "row_key",
    pa.string(),
    False,
    "Digest of the natural key (connection, table, bucket, every group field).",
)
CONNECTION = Column("connection_label", pa.string(), False, "The connection the row came from.")
BUCKET_START = Column("bucket_start", TS, False, "Start of the time bucket (UTC, inclusive).")
BUCKET_END = Column("bucket_end", TS, False, "End of the time bucket (UTC, exclusive).")
FETCHED_AT = Column("fetched_at", TS, False, "When spendscope read the row.")
PROVISIONAL = Column(
    "is_provisional",
    pa.bool_(),
    False,
    "The bucket ends after the API's data watermark: values may still change.",
)
REFRESHED = Column(
    "data_refreshed_at",
    TS,
    True,
    "The API's data_refreshed_at watermark of the response (analytics API).",
)
FACT_HEAD = (ROW_KEY, CONNECTION, BUCKET_START, BUCKET_END)
FACT_TAIL = (FETCHED_AT, PROVISIONAL, REFRESHED)

USAGE_METRICS = (
    _i("uncached_input_tokens", "Input tokens neither read from nor written to the cache."),
    _i("cache_read_input_tokens", "Input tokens served from the prompt cache."),
    _i("cache_creation_5m_input_tokens", "Input tokens written to the 5-minute cache."),
    _i("cache_creation_1h_input_tokens", "Input tokens written to the 1-hour cache."),
    _i("output_tokens", "Generated tokens."),
    _i("web_search_requests", "Server-side web searches."),
)
USAGE_METRIC_NAMES = tuple(c.name for c in USAGE_METRICS)
REQUESTS = _i("requests", "API requests (code execution rows: execution spans).")
COST_METRICS = (
    Column("amount_cents", MONEY, False, "Billed (post-discount, pre-credit) cost in US cents."),
    Column(
        "list_amount_cents",
        MONEY,
        True,
        "List-price cost in US cents (null where the endpoint does not report it).",
    ),
    _s("currency", "ISO 4217 currency, always USD."),
)

# The `group` object of the analytics API (anthropic-api.md §4.3), flattened.
ANALYTICS_DIMS = (
    _s("actor_type", "user_actor, service_account_actor, federated_actor or api_actor."),
    _s("actor_id", "user_…, svac_… or apikey_… of the actor (null for federated identities)."),
    _s("actor_email", "E-mail of a user actor."),
    _s("actor_name", "Name of a user actor."),
    Column("actor_deleted", pa.bool_(), True, "The user actor was deleted or removed."),
    _s("actor_provider", "Federated identity: the provider as JSON."),
    _s("agent_id"),
    _s("api_key_id"),
    _s("claude_tag_category"),
    _s("claude_tag_user_id"),
    _s("context_window"),
    _s("deployment_id"),
    _s("environment_id"),
    _s("inference_geo"),
    _s("model"),
    _s("organization_id", "Child organization on a parent organization's report."),
    _s("product"),
    _s("rbac_group_id"),
    _s("service_tier"),
    _s("session_id"),
    _s("slack_channel_id"),
    _s("speed"),
    _s("user_profile_id"),
    _s("workspace_id", "Workspace (the default workspace by its real id)."),
)
COST_DIMS = (
    _s("cost_type", "tokens, web_search, code_execution or session_usage."),
    _s("token_type", "For token costs: which token type."),
)

# Grains of the analytics API (at most five group-by dimensions per query, cost_type and
# token_type not counted). Each grain is its own table, so no table mixes two grains.
ANALYTICS_GRAINS: dict[str, tuple[str, ...]] = {
    # Console organizations
    "key": ("workspace_id", "api_key_id", "model", "service_tier", "context_window"),
    "actor": ("actor", "product", "model", "inference_geo", "speed"),
    # Enterprise organizations (organization_id separates a parent's children)
    "user": ("organization_id", "actor", "product", "model", "context_window"),
    "detail": ("organization_id", "product", "model", "inference_geo", "speed"),
}
CANONICAL_GRAIN = {"console": "key", "enterprise": "user"}
GRAINS_BY_KIND = {"console": ("key", "actor"), "enterprise": ("user", "detail")}


def _analytics_key(grain: str, cost: bool) -> tuple[str, ...]:
    dims = []
    for d in ANALYTICS_GRAINS[grain]:
        dims += ["actor_type", "actor_id"] if d == "actor" else [d]
    return ("bucket_start", *dims, *(("cost_type", "token_type") if cost else ()))


def _analytics_table(grain: str, cost: bool) -> Table:
    endpoint = "cost" if cost else "usage"
    metrics = (*COST_METRICS, REQUESTS) if cost else (*USAGE_METRICS, REQUESTS)
    return Table(
        name=f"analytics_{endpoint}_{grain}",
        doc=f"`/v1/organizations/analytics/{endpoint}` by day, grouped by "
        f"{', '.join(ANALYTICS_GRAINS[grain])}" + (" and cost_type, token_type." if cost else "."),
        columns=(*FACT_HEAD, *ANALYTICS_DIMS, *(COST_DIMS if cost else ()), *metrics, *FACT_TAIL),
        key=_analytics_key(grain, cost),
        metrics=tuple(c.name for c in metrics if c.name != "currency"),
        extra={"grain": grain, "endpoint": endpoint},
    )


CONSOLE_USAGE_DIMS = (
    _s("api_key_id", "Null for Workbench usage."),
    _s("workspace_id", "Null for the default workspace."),
    _s("model"),
    _s("service_tier"),
    _s("context_window"),
    _s("inference_geo"),
    _s("account_id", "User account (OAuth) that made the requests."),
    _s("service_account_id"),
    _s("speed"),
)
CONSOLE_COST_DIMS = (
    _s("workspace_id", "Null for the default workspace."),
    _s("description"),
    _s("cost_type"),
    _s("model"),
    _s("token_type"),
    _s("service_tier"),
    _s("context_window"),
    _s("inference_geo"),
    _s("speed"),
)
LEGACY_DIMS = (
    _s("claude_tag_category"),
    _s("claude_tag_user_id"),
    _s("context_window"),
    _s("inference_geo"),
    _s("model"),
    _s("product"),
    _s("rbac_group_id"),
    _s("slack_channel_id"),
    _s("speed"),
)
LEGACY_ACTOR = (
    _s("user_id"),
    _s("user_email"),
    _s("user_name"),
    Column("user_deleted", pa.bool_()),
)

CONSOLE_USAGE = Table(
    name="console_usage_report",
    doc="`/v1/organizations/usage_report/messages`, daily, grouped by every dimension.",
    columns=(*FACT_HEAD, *CONSOLE_USAGE_DIMS, *USAGE_METRICS, *FACT_TAIL),
    key=("bucket_start", *(c.name for c in CONSOLE_USAGE_DIMS)),
    metrics=USAGE_METRIC_NAMES,
)
CONSOLE_COST = Table(
    name="console_cost_report",
    doc="`/v1/organizations/cost_report`, daily, grouped by workspace and description (Priority "
    "Tier cost is not in this report).",
    columns=(*FACT_HEAD, *CONSOLE_COST_DIMS, *COST_METRICS, *FACT_TAIL),
    key=("bucket_start", "workspace_id", "description"),
    metrics=("amount_cents",),
)
ENTERPRISE_USAGE = Table(
    name="enterprise_usage_report",
    doc="`/v1/organizations/analytics/usage_report` (legacy), daily, grouped by product, model, "
    "context window, inference geo and speed.",
    columns=(*FACT_HEAD, *LEGACY_DIMS, *USAGE_METRICS, REQUESTS, *FACT_TAIL),
    key=("bucket_start", "product", "model", "context_window", "inference_geo", "speed"),
    metrics=(*USAGE_METRIC_NAMES, "requests"),
)
ENTERPRISE_COST = Table(
    name="enterprise_cost_report",
    doc="`/v1/organizations/analytics/cost_report` (legacy), daily, grouped by product, model, "
    "context window, inference geo, speed, cost type and token type.",
    columns=(*FACT_HEAD, *LEGACY_DIMS, *COST_DIMS, *COST_METRICS, REQUESTS, *FACT_TAIL),
    key=(
        "bucket_start",
        "product",
        "model",
        "context_window",
        "inference_geo",
        "speed",
        "cost_type",
        "token_type",
    ),
    metrics=("amount_cents", "list_amount_cents"),
)
ENTERPRISE_USER_USAGE = Table(
    name="enterprise_user_usage_report",
    doc="`/v1/organizations/analytics/user_usage_report` (legacy), daily per user, grouped by "
    "product and model.",
    columns=(*FACT_HEAD, *LEGACY_ACTOR, *LEGACY_DIMS, *USAGE_METRICS, REQUESTS, *FACT_TAIL),
    key=("bucket_start", "user_id", "product", "model"),
    metrics=(*USAGE_METRIC_NAMES, "requests"),
)
ENTERPRISE_USER_COST = Table(
    name="enterprise_user_cost_report",
    doc="`/v1/organizations/analytics/user_cost_report` (legacy), daily per user, grouped by "
    "product, model, cost type and token type.",
    columns=(
        *FACT_HEAD,
        *LEGACY_ACTOR,
        *LEGACY_DIMS,
        *COST_DIMS,
        *COST_METRICS,
        REQUESTS,
        *FACT_TAIL,
    ),
    key=("bucket_start", "user_id", "product", "model", "cost_type", "token_type"),
    metrics=("amount_cents", "list_amount_cents"),
)

CLAUDE_CODE = Table(
    name="claude_code_usage",
    doc="`/v1/organizations/usage_report/claude_code`: one row per day and actor.",
    columns=(
        *FACT_HEAD,
        _s("actor_type", "user_actor or api_actor."),
        _s("actor_email", "E-mail of a user actor."),
        _s("api_key_name", "Key name of an API actor."),
        _s("organization_id"),
        _s("customer_type"),
        _s("subscription_type"),
        _s("terminal_type"),
        _i("num_sessions"),
        _i("lines_added"),
        _i("lines_removed"),
        _i("commits"),
        _i("pull_requests"),
        _i("edit_tool_accepted"),
        _i("edit_tool_rejected"),
        _i("multi_edit_tool_accepted"),
        _i("multi_edit_tool_rejected"),
        _i("write_tool_accepted"),
        _i("write_tool_rejected"),
        _i("notebook_edit_tool_accepted"),
        _i("notebook_edit_tool_rejected"),
        _s("tool_actions_json", "The whole tool_actions map as JSON (unknown tools included)."),
        _i("input_tokens"),
        _i("output_tokens"),
        _i("cache_read_tokens"),
        _i("cache_creation_tokens"),
        Column(
            "estimated_cost_cents",
            MONEY,
            True,
            "Sum of the model_breakdown estimated costs, each rounded as in "
            "claude_code_model_usage.",
        ),
        *FACT_TAIL,
    ),
    key=("bucket_start", "actor_type", "actor_email", "api_key_name"),
    metrics=(
        "num_sessions",
        "lines_added",
        "lines_removed",
        "commits",
        "pull_requests",
        "estimated_cost_cents",
    ),
)
CLAUDE_CODE_MODELS = Table(
    name="claude_code_model_usage",
    doc="`/v1/organizations/usage_report/claude_code` model_breakdown: day × actor × model.",
    columns=(
        *FACT_HEAD,
        _s("actor_type"),
        _s("actor_email"),
        _s("api_key_name"),
        _s("model"),
        _i("input_tokens"),
        _i("output_tokens"),
        _i("cache_read_tokens"),
        _i("cache_creation_tokens"),
        Column(
            "estimated_cost_cents",
            MONEY,
            True,
            "Estimated cost in US cents: the API's JSON number read through its shortest text "
            "form, rounded once to 9 decimals (ROUND_HALF_EVEN).",
        ),
        *FACT_TAIL,
    ),
    key=("bucket_start", "actor_type", "actor_email", "api_key_name", "model"),
    metrics=("input_tokens", "output_tokens", "estimated_cost_cents"),
)

ANALYTICS_TABLES = {
    (grain, cost): _analytics_table(grain, cost)
    for grain in ANALYTICS_GRAINS
    for cost in (False, True)
}

# -- bookkeeping ------------------------------------------------------------------------------

SYNC_STATE = Table(
    name="sync_state",
    doc="Per connection and feed: what is loaded, through when. The cursor of every sync.",
    kind="state",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("feed", "What is synced (e.g. analytics_cost_key, claude_code, engagement_users)."),
        _s("source", "The endpoint family that served it: analytics or legacy."),
        Column("covered_from", pa.date32(), True, "First day loaded."),
        Column("complete_through", pa.date32(), True, "Last day loaded in full."),
        Column(
            "loaded_through",
            pa.date32(),
            True,
            "Last day with any data loaded (may be partial: today).",
        ),
        Column("data_refreshed_at", TS, True, "Latest API watermark seen."),
        Column("updated_at", TS, False),
    ),
    key=("feed",),
)
CORRECTIONS = Table(
    name="corrections",
    doc="Every revision Anthropic made to a row already loaded: what changed, from what to what, "
    "when it was seen.",
    kind="log",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("table_name"),
        _s("target_row_key"),
        Column("bucket_start", TS, True),
        _s("column_name"),
        _s("old_value"),
        _s("new_value"),
        _s("change", "changed, added (in a window already loaded) or removed."),
        Column("detected_at", TS, False),
    ),
    key=("table_name", "target_row_key", "column_name", "detected_at"),
)
EVENTS = Table(
    name="events",
    doc="The event log of each connection: sync runs, errors (credential, scope, rate limit, "
    "server, data) and notices.",
    kind="log",
    columns=(
        ROW_KEY,
        CONNECTION,
        Column("occurred_at", TS, False, "When it happened."),
        _s("level", "info, warning or error."),
        _s("category", "sync, credential, scope, rate_limit, server, data or notice."),
        _s("message"),
        _s("detail", "JSON with counts, endpoint, request id."),
    ),
    key=("occurred_at", "category", "message"),
)
CONNECTIONS = Table(
    name="connections",
    doc="The connections as the warehouse knows them (no keys).",
    kind="state",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("connection_kind", "console or enterprise."),
        _s("organization_id"),
        _s("organization_name"),
        _s("state", "active or deleted."),
        Column("updated_at", TS, False),
    ),
    key=(),
)

OVERLAPS = Table(
    name="overlaps",
    doc="Days on which a child Console organization's spend arrives both through its own "
    "connection and through its parent Enterprise connection (recomputed after each sync).",
    kind="state",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("console_label", "The child organization's Console connection."),
        _s("organization_id", "The child organization."),
        Column("day", pa.date32(), False),
    ),
    key=("console_label", "organization_id", "day"),
)

REJECTED_ROWS = Table(
    name="rejected_rows",
    doc="Rows the API sent that no table can hold (a required field missing, a value of the "
    "wrong type or out of range, an unknown actor type), kept as sent instead of failing the "
    "sync. Re-fetching the window replaces them; a clean re-fetch clears them.",
    kind="state",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("feed", "The feed that fetched it."),
        _s("table_name", "The table the row was meant for."),
        _s("endpoint", "The API path that sent it."),
        Column(
            "bucket_start",
            TS,
            True,
            "The row's day or bucket (the window's start when it cannot be read; null for "
            "organization lists).",
        ),
        Column("window_start", pa.date32(), True, "First day of the window fetched."),
        Column("window_end", pa.date32(), True, "Day after the window fetched."),
        _s("reason", "Why it cannot be loaded: the field, its value and the rule it breaks."),
        _s("raw_json", "The row as the API sent it (JSON)."),
        Column("rejected_at", TS, False, "When it was set aside (last time seen)."),
    ),
    key=("feed", "table_name", "endpoint", "bucket_start", "raw_json"),
)

FACT_TABLES: tuple[Table, ...] = (
    *ANALYTICS_TABLES.values(),
    CONSOLE_USAGE,
    CONSOLE_COST,
    ENTERPRISE_USAGE,
    ENTERPRISE_COST,
    ENTERPRISE_USER_USAGE,
    ENTERPRISE_USER_COST,
    CLAUDE_CODE,
    CLAUDE_CODE_MODELS,
)
BOOKKEEPING_TABLES = (SYNC_STATE, CORRECTIONS, EVENTS, CONNECTIONS, OVERLAPS, REJECTED_ROWS)
