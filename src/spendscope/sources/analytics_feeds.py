"""Family B — `/v1/organizations/analytics/{usage,cost}` (anthropic-api.md §4) — flattened into
the `analytics_{usage,cost}_<grain>` tables, plus the row helpers the legacy reports share.

One query per window and endpoint: `time_bucket_width=1d`, the grain's `group_by[]` (cost adds
`cost_type` and `token_type`), `limit=1000` (the maximum), every page through `report_pages`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import InvalidRequest, NotFound, UpstreamError
from ..upstream.client import QueryParams
from ..upstream.pagination import report_pages
from ..warehouse.schema import row_key
from ..warehouse.tables import ANALYTICS_GRAINS, ANALYTICS_TABLES, Table
from .base import (
    ANALYTICS_FLOOR,
    ANALYTICS_LOOKBACK_DAYS,
    FeedResult,
    FetchContext,
    Window,
    parse_ts,
)
from .values import (
    Unrepresentable,
    boolean,
    bucket_bound,
    choice,
    count,
    integer,
    money,
    text,
    timestamp,
)

ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
ANALYTICS_LIMIT = 1000  # rows (page units) per page: the maximum
ANALYTICS_PATHS = {
    "usage": "/v1/organizations/analytics/usage",
    "cost": "/v1/organizations/analytics/cost",
}
COST_FANOUT = ("cost_type", "token_type")
# `group` keys copied as they are (everything but the `actor` object).
GROUP_COLUMNS = (
    "agent_id", "api_key_id", "claude_tag_category", "claude_tag_user_id", "context_window",
    "deployment_id", "environment_id", "inference_geo", "model", "organization_id", "product",
    "rbac_group_id", "service_tier", "session_id", "slack_channel_id", "speed",
    "user_profile_id", "workspace_id",
)  # fmt: skip
ACTOR_ID_FIELD = {
    "user_actor": "user_id",
    "service_account_actor": "service_account_id",
    "api_actor": "api_key_id",
}
# The actor types of §4.3: a key column (the actor id is read by type), so a type outside
# this list makes the row unrepresentable.
ACTOR_TYPES = frozenset({*ACTOR_ID_FIELD, "federated_actor"})
# Wording of a 400 that says the analytics API is not available to the organization (as
# opposed to a bad parameter of ours).
_REFUSAL_WORDS = (
    "beta", "not available", "unavailable", "not enabled", "not supported",
    "enterprise plan", "not have access", "does not support",
)  # fmt: skip
_REFUSAL_CODES = frozenset({"organization_type_not_supported"})


# -- dates ------------------------------------------------------------------------------------


def analytics_start(now: datetime) -> date:
    """The first day the analytics API (and the legacy Enterprise reports) serve at `now`:
    not before 2026-01-01, and the day must start within the last 365 days."""
    edge = now.astimezone(UTC) - timedelta(days=ANALYTICS_LOOKBACK_DAYS)
    first = edge.date()
    if edge != datetime(first.year, first.month, first.day, tzinfo=UTC):
        first += timedelta(days=1)
    return max(ANALYTICS_FLOOR, first)


def clip(window: Window, start: date) -> Window | None:
    """The part of `window` from `start` on (None if nothing is left)."""
    if window.end <= start:
        return None
    return Window(max(window.start, start), window.end)


def refused(exc: UpstreamError) -> bool:
    """True when an error says the analytics API is unavailable to the organization as a
    whole: a 404 on the path, or a 400 about the beta / the endpoint not being available."""
    if isinstance(exc, NotFound):
        return True
    if not isinstance(exc, InvalidRequest):
        return False
    if exc.error_code in _REFUSAL_CODES:
        return True
    text = (exc.upstream_message or exc.message).lower()
    return any(word in text for word in _REFUSAL_WORDS)


# -- row helpers shared by every cost/usage feed ----------------------------------------------


def obj(value: Any, name: str) -> dict[str, Any]:
    """A nested object the API may leave out (null or absent: empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unrepresentable(f"{name} is not an object")
    return value


def usage_metrics(u: dict[str, Any]) -> dict[str, int]:
    """The six token/search metrics of a usage object (families A, B and C share the shape);
    a counter or object the API leaves out is 0."""
    cache = obj(u.get("cache_creation"), "cache_creation")
    tools = obj(u.get("server_tool_use"), "server_tool_use")
    return {
        "uncached_input_tokens": count(u.get("uncached_input_tokens"), "uncached_input_tokens"),
        "cache_read_input_tokens": count(
            u.get("cache_read_input_tokens"), "cache_read_input_tokens"
        ),
        "cache_creation_5m_input_tokens": count(
            cache.get("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens"
        ),
        "cache_creation_1h_input_tokens": count(
            cache.get("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens"
        ),
        "output_tokens": count(u.get("output_tokens"), "output_tokens"),
        "web_search_requests": count(
            tools.get("web_search_requests"), "server_tool_use.web_search_requests"
        ),
    }


def optional_int(value: Any, name: str = "requests") -> int | None:
    return integer(value, name)


def finish_row(
    ctx: FetchContext, table: Table, row: dict[str, Any], watermark: datetime | None
) -> dict[str, Any]:
    """Add the bookkeeping columns and the row_key to a flattened row."""
    end: datetime = row["bucket_end"]
    row["connection_label"] = ctx.connection.label
    row["fetched_at"] = ctx.fetched_at
    row["data_refreshed_at"] = watermark
    row["is_provisional"] = end > (watermark if watermark is not None else ctx.now)
    parts = [row.get(c) for c in table.key]
    parts = [p.isoformat() if isinstance(p, datetime) else p for p in parts]
    row["row_key"] = row_key(ctx.connection.label, table.name, *parts)
    return row


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def merge_rows(table: Table, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per row_key: rows sharing a natural key (e.g. several unrenderable actors, all
    `null`) are summed, so keys stay unique and totals stay exact. A descriptive column on
    which they disagree becomes null."""
    summed = (*table.metrics, "requests")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        old = out.get(row["row_key"])
        if old is None:
            out[row["row_key"]] = dict(row)
            continue
        for name, value in row.items():
            if name in summed:
                old[name] = _add(old.get(name), value)
            elif name == "is_provisional":
                old[name] = bool(old[name] or value)
            elif name == "data_refreshed_at":
                old[name] = max((v for v in (old[name], value) if v is not None), default=None)
            elif old.get(name) != value and name not in ("row_key", "fetched_at"):
                old[name] = None
    return list(out.values())


def note_watermark(result: FeedResult, page: dict[str, Any]) -> datetime | None:
    """The page's `data_refreshed_at`; the result keeps the latest one seen."""
    mark = parse_ts(page.get("data_refreshed_at"))
    if mark is not None and (result.data_refreshed_at is None or mark > result.data_refreshed_at):
        result.data_refreshed_at = mark
    return mark


def pages(
    ctx: FetchContext,
    path: str,
    params: QueryParams,
    limit: int,
    betas: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """Every page of a report-cursor query (families B and C), reporting each to `on_page`."""
    for page in report_pages(ctx.client, path, params, limit, betas=betas):
        ctx.on_page(path)
        yield page


# -- family B ---------------------------------------------------------------------------------


def analytics_table(grain: str, endpoint: str) -> Table:
    return ANALYTICS_TABLES[(grain, endpoint == "cost")]


def analytics_params(grain: str, endpoint: str, window: Window) -> list[tuple[str, str]]:
    dims = ANALYTICS_GRAINS[grain] + (COST_FANOUT if endpoint == "cost" else ())
    return [
        ("starting_at", window.start_at.isoformat().replace("+00:00", "Z")),
        ("ending_at", window.end_at.isoformat().replace("+00:00", "Z")),
        ("time_bucket_width", "1d"),
        *(("group_by[]", d) for d in dims),
    ]


def flatten_actor(actor: Any, actor_type: Any) -> dict[str, Any]:
    """The `actor` union (§4.3) as the actor_* columns."""
    actor_type = choice(actor_type, ACTOR_TYPES, "group.actor_type")
    if not actor:
        return {
            "actor_type": actor_type,
            "actor_id": None,
            "actor_email": None,
            "actor_name": None,
            "actor_deleted": None,
            "actor_provider": None,
        }
    actor = obj(actor, "group.actor")
    kind = choice(actor.get("type"), ACTOR_TYPES, "group.actor.type") or actor_type
    provider = None
    if kind == "federated_actor":
        provider = json.dumps(
            {"provider": actor.get("provider"), "subject": actor.get("subject")},
            sort_keys=True,
            separators=(",", ":"),
        )
    field = ACTOR_ID_FIELD.get(kind or "")
    email = actor.get("email_address", actor.get("email"))
    return {
        "actor_type": actor_type or kind,
        "actor_id": text(actor.get(field), f"group.actor.{field}") if field else None,
        "actor_email": text(email, "group.actor.email_address"),
        "actor_name": text(actor.get("name"), "group.actor.name"),
        "actor_deleted": boolean(actor.get("deleted"), "group.actor.deleted"),
        "actor_provider": provider,
    }


def flatten_analytics(item: Any, endpoint: str) -> dict[str, Any]:
    """One family B row as table columns (without the bookkeeping columns); raises
    `Unrepresentable` for a row no table can hold."""
    item = obj(item, "the row")
    group = obj(item.get("group"), "group")
    row: dict[str, Any] = {
        "bucket_start": bucket_bound(item.get("starting_at"), "starting_at"),
        "bucket_end": bucket_bound(item.get("ending_at"), "ending_at"),
        **{c: text(group.get(c), f"group.{c}") for c in GROUP_COLUMNS},
        **flatten_actor(group.get("actor"), group.get("actor_type")),
    }
    if endpoint == "cost":
        cost = obj(item.get("cost"), "cost")
        row["cost_type"] = text(group.get("cost_type"), "group.cost_type")
        row["token_type"] = text(group.get("token_type"), "group.token_type")
        row["amount_cents"] = money(cost.get("amount"), "cost.amount", required=True)
        row["list_amount_cents"] = money(cost.get("list_amount"), "cost.list_amount")
        row["currency"] = text(cost.get("currency"), "cost.currency")
        row["requests"] = optional_int(cost.get("requests"), "cost.requests")
    else:
        usage = obj(item.get("usage"), "usage")
        row.update(usage_metrics(usage))
        row["requests"] = optional_int(usage.get("requests"), "usage.requests")
    return row


def bucket_of(item: Any) -> datetime | None:
    """The bucket start a raw row names, when it can be read (for `rejected_rows`)."""
    if not isinstance(item, dict):
        return None
    try:
        return timestamp(item.get("starting_at"), "starting_at")
    except Unrepresentable:
        return None


def fetch_analytics(
    ctx: FetchContext, grain: str, endpoint: str, window: Window, result: FeedResult
) -> list[dict[str, Any]]:
    """Every row of one window of `/analytics/<endpoint>` at `grain`, ready to load."""
    table = analytics_table(grain, endpoint)
    path = ANALYTICS_PATHS[endpoint]
    params = analytics_params(grain, endpoint, window)
    rows = []
    for page in pages(ctx, path, params, ANALYTICS_LIMIT, betas=(ANALYTICS_BETA,)):
        mark = note_watermark(result, page)
        for item in page["data"]:
            try:
                flat = flatten_analytics(item, endpoint)
            except Unrepresentable as exc:
                result.reject(table.name, path, item, exc.reason, bucket_of(item))
                continue
            rows.append(finish_row(ctx, table, flat, mark))
    return merge_rows(table, rows)
