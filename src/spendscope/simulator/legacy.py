"""Family C: the legacy Claude Enterprise cost/usage reports (anthropic-api.md §5).

`GET /v1/organizations/analytics/{usage_report,cost_report}` return dense time buckets, each
holding its top groups; `.../{user_usage_report,user_cost_report}` return per-user rows ranked by
a metric. All four aggregate the Enterprise organization's own facts (children excluded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from .aggregate import BUCKET_WIDTHS, Acc, bucket_start
from .facts import COMPONENTS, Fact, cents
from .params import Params, bound_cursor, invalid, iso, read_bound_cursor
from .routing import Auth, Request, RouteTable
from .world import CLAUDE_TAG_CATEGORIES, CONTEXT_WINDOWS, INFERENCE_GEOS, SPEEDS, Organization

routes = RouteTable()
BASE = "/v1/organizations/analytics"
FLOOR = datetime(2026, 1, 1, tzinfo=UTC)
MAX_RANGE = timedelta(days=31)
MAX_MINUTE_RANGE = timedelta(hours=24)
LOOKBACK = timedelta(days=365)
DIMENSIONS = (
    "claude_tag_category",
    "claude_tag_user_id",
    "context_window",
    "inference_geo",
    "model",
    "product",
    "rbac_group_id",
    "slack_channel_id",
    "speed",
)
FANOUT = ("cost_type", "token_type")
# Legacy product vocabulary (SDK `BetaAnalyticsProductFilter`): Claude Tag is `claude-tag`.
PRODUCTS = (
    "chat",
    "chat_cowork_unified",
    "claude-tag",
    "claude_code",
    "claude_design",
    "claude_in_chrome",
    "cowork",
    "office_agent",
)
BUCKET_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 256)}  # (default, max) buckets/page
USAGE_ORDER = ("total_tokens", "output_tokens", "requests", "uncached_input_tokens")
COST_ORDER = ("amount", "list_amount")
USAGE_KINDS = frozenset({"tokens", "code_execution"})
RBAC_PREFIX = "rbac_group_"

Key = tuple[datetime | None, str | None, tuple[str | None, ...], str | None]
Getter = Callable[[Fact], str | None]


def legacy_product(f: Fact) -> str | None:
    return "claude-tag" if f.product == "claude_tag" else f.product


def legacy_geo(f: Fact) -> str | None:
    return None if f.inference_geo in (None, "not_available") else f.inference_geo


GETTERS: dict[str, Getter] = {
    "claude_tag_category": attrgetter("claude_tag_category"),
    "claude_tag_user_id": attrgetter("claude_tag_user_id"),
    "context_window": attrgetter("context_window"),
    "inference_geo": legacy_geo,
    "model": attrgetter("model"),
    "product": legacy_product,
    "slack_channel_id": attrgetter("slack_channel_id"),
    "speed": attrgetter("speed"),
}


@dataclass(frozen=True, slots=True)
class Query:
    start: datetime  # first instant of data (snapped to the bucket grid on bucketed reports)
    end: datetime  # exclusive
    width: timedelta | None
    dims: tuple[str, ...]  # dimensions other than rbac_group_id, in DIMENSIONS order
    by_rbac: bool
    by_cost_type: bool
    by_token_type: bool
    keep: Callable[[Fact], bool]

    @property
    def grouped(self) -> bool:
        return bool(self.dims) or self.by_rbac or self.by_cost_type or self.by_token_type


# -- parsing -----------------------------------------------------------------------------------


def parse_range(p: Params, now: datetime) -> tuple[datetime, datetime, bool]:
    """(starting_at, ending_at, ending_at was given), with the shared date rules."""
    start = p.datetime("starting_at")
    if start is None:
        raise invalid("starting_at: field required")
    if start < FLOOR:
        raise invalid("starting_at: must be no earlier than 2026-01-01T00:00:00Z")
    if start < now - LOOKBACK or start > now:
        raise invalid("starting_at: must be within the last 365 days")
    end = p.datetime("ending_at")
    given = end is not None
    if end is None:
        end = min(now, start + MAX_RANGE)
    if end <= start:
        raise invalid("starting_at must be before ending_at")
    if end - start > MAX_RANGE:
        raise invalid("The range between starting_at and ending_at may span at most 31 days")
    return start, end, given


def parse_group_by(p: Params, cost: bool) -> tuple[tuple[str, ...], bool, bool, bool]:
    """(plain dimensions, by rbac group, by cost_type, by token_type)."""
    allowed = DIMENSIONS + FANOUT if cost else DIMENSIONS
    raw = p.many("group_by")
    for g in raw:
        if g == "actor":
            raise invalid(
                "group_by[]: 'actor' is not supported by this endpoint; use the "
                "per-user report instead"
            )
        if g not in allowed:
            raise invalid(f"group_by[]: '{g}' is not one of {', '.join(allowed)}")
    chosen = set(raw)
    dims = tuple(d for d in DIMENSIONS if d in chosen and d != "rbac_group_id")
    return dims, "rbac_group_id" in chosen, "cost_type" in chosen, "token_type" in chosen


def _member(get: Callable[[Fact], object], values: Iterable[str]) -> Callable[[Fact], bool]:
    wanted = frozenset(values)
    return lambda f: get(f) in wanted


def parse_filters(
    p: Params,
    org: Organization,
    *,
    cost: bool,
    per_user: bool,
    grouped_by_rbac: bool,
    grouped_by_tag_user: bool,
) -> Callable[[Fact], bool]:
    """The conjunction of every filter in the query (plus the report's own scope)."""
    checks: list[Callable[[Fact], bool]] = []
    if not cost:
        checks.append(lambda f: f.kind in USAGE_KINDS)
    if per_user:
        checks.append(lambda f: f.user_id is not None)
    if models := p.many("models"):
        checks.append(_member(attrgetter("model"), models))
    if products := p.enums("products", PRODUCTS):
        if "chat_cowork_unified" in products and not org.features.get("chat_cowork_unified"):
            raise invalid(
                "products[]: 'chat_cowork_unified' is not available for this organization"
            )
        checks.append(_member(legacy_product, products))
    if windows := p.enums("context_windows", CONTEXT_WINDOWS):
        checks.append(_member(attrgetter("context_window"), windows))
    if geos := p.enums("inference_geos", INFERENCE_GEOS):
        checks.append(_member(lambda f: f.inference_geo or "not_available", geos))
    if speeds := p.enums("speeds", SPEEDS):
        checks.append(_member(attrgetter("speed"), speeds))
    if user_ids := p.many("user_ids"):
        checks.append(_member(attrgetter("user_id"), user_ids))
    if channels := p.many("slack_channel_ids"):
        checks.append(_member(attrgetter("slack_channel_id"), channels))
    if categories := p.enums("claude_tag_categories", CLAUDE_TAG_CATEGORIES):
        checks.append(_member(attrgetter("claude_tag_category"), categories))
    tag_users = p.many("claude_tag_user_ids")
    if tag_users:
        checks.append(_member(attrgetter("claude_tag_user_id"), tag_users))
    groups = p.many("rbac_group_ids")
    if (tag_users or grouped_by_tag_user) and (groups or grouped_by_rbac):
        raise invalid(
            "claude_tag_user_id cannot be combined with group_by[]=rbac_group_id or "
            "the rbac_group_ids[] filter"
        )
    if groups:
        wanted = frozenset(g if g.startswith(RBAC_PREFIX) else RBAC_PREFIX + g for g in groups)
        checks.append(  # membership on the usage's UTC day
            lambda f: (
                f.user_id is not None and not wanted.isdisjoint(org.groups_of(f.user_id, f.day))
            )
        )
    return lambda f: all(c(f) for c in checks)


def parse_query(req: Request, cost: bool, per_user: bool) -> tuple[Query, datetime]:
    """The query, and the end of the requested range as given (or defaulted)."""
    p, now = req.params, req.sim.now()
    start, end, end_given = parse_range(p, now)
    width_name = p.enum("bucket_width", tuple(BUCKET_WIDTHS), None if per_user else "1d")
    width = BUCKET_WIDTHS[width_name] if width_name else None
    if per_user and width is not None:
        if not end_given:
            raise invalid("ending_at: field required when bucket_width is set")
        if width_name == "1m" and end - start > MAX_MINUTE_RANGE:
            raise invalid("With bucket_width=1m the range may span at most 24 hours")
    dims, by_rbac, by_ct, by_tt = parse_group_by(p, cost)
    keep = parse_filters(
        p,
        req.organization,
        cost=cost,
        per_user=per_user,
        grouped_by_rbac=by_rbac,
        grouped_by_tag_user="claude_tag_user_id" in dims,
    )
    data_start = start if per_user or width is None else bucket_start(start, width)
    return Query(data_start, end, width, dims, by_rbac, by_ct, by_tt, keep), end


# -- aggregation and rendering -----------------------------------------------------------------


def aggregate(req: Request, q: Query, per_user: bool) -> dict[Key, Acc]:
    """Sum the matching facts by (bucket, user, dimension values, rbac group); a user in several
    RBAC groups on the usage's UTC day counts fully in each (any-membership), users in none under
    `None`."""
    org, sim = req.organization, req.sim
    getters = [GETTERS[d] for d in q.dims]
    width = q.width
    day_starts: dict[Any, datetime] = {}
    out: dict[Key, Acc] = {}
    for f in sim.store.facts(org, q.start, q.end, sim.now()):
        if not q.keep(f):
            continue
        bucket: datetime | None = None
        if width == BUCKET_WIDTHS["1d"]:
            bucket = day_starts.get(f.day)
            if bucket is None:
                bucket = day_starts[f.day] = datetime(
                    f.day.year, f.day.month, f.day.day, tzinfo=UTC
                )
        elif width is not None:
            bucket = bucket_start(f.start, width)
        user = f.user_id if per_user else None
        values = tuple(g(f) for g in getters)
        rbac: tuple[str | None, ...] = (None,)
        if q.by_rbac and f.user_id is not None:
            rbac = org.groups_of(f.user_id, f.day) or (None,)
        for gid in rbac:
            key: Key = (bucket, user, values, gid)
            acc = out.get(key)
            if acc is None:
                acc = out[key] = Acc()
            acc.add(f)
    return out


def dimension_fields(q: Query, values: tuple[str | None, ...], gid: str | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(DIMENSIONS)
    row.update(zip(q.dims, values, strict=True))
    row["rbac_group_id"] = gid
    return row


def usage_fields(acc: Acc) -> dict[str, Any]:
    return {
        "uncached_input_tokens": acc.uncached,
        "cache_creation": {
            "ephemeral_1h_input_tokens": acc.cache_1h,
            "ephemeral_5m_input_tokens": acc.cache_5m,
        },
        "cache_read_input_tokens": acc.cache_read,
        "output_tokens": acc.output,
        "server_tool_use": {"web_search_requests": acc.web_search},
        "requests": acc.requests,
    }


def cost_fields(acc: Acc, q: Query) -> list[dict[str, Any]]:
    """One cost row, or the cost_type/token_type fan-out (components with money only)."""
    if not (q.by_cost_type or q.by_token_type):
        return [
            {
                "amount": cents(acc.amount()),
                "list_amount": cents(acc.list_amount()),
                "currency": "USD",
                "requests": acc.requests,
                "cost_type": None,
                "token_type": None,
            }
        ]
    parts: list[tuple[str, str | None, list[int]]] = []
    for i, (cost_type, token_type) in enumerate(COMPONENTS):
        if token_type is None or q.by_token_type:
            parts.append((cost_type, token_type, [i]))
        elif parts and parts[-1][0] == "tokens":
            parts[-1][2].append(i)
        else:
            parts.append(("tokens", None, [i]))
    shown = [part for part in parts if acc.amount(part[2]) or acc.list_amount(part[2])]
    return [
        {
            "amount": cents(acc.amount(comps)),
            "list_amount": cents(acc.list_amount(comps)),
            "currency": "USD",
            "requests": None,
            "cost_type": cost_type,
            "token_type": token_type,
        }
        for cost_type, token_type, comps in shown or parts[:1]
    ]


def _text(values: Iterable[object]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in values)


def build_buckets(req: Request, q: Query, cost: bool) -> dict[datetime, list[dict[str, Any]]]:
    """Result rows per non-empty bucket: a total row, or the top groups by total_tokens/amount."""
    cap = max(0, req.sim.config.legacy_group_cap)
    by_bucket: dict[datetime, list[tuple[Key, Acc]]] = {}
    for key, acc in aggregate(req, q, per_user=False).items():
        assert key[0] is not None
        by_bucket.setdefault(key[0], []).append((key, acc))
    out: dict[datetime, list[dict[str, Any]]] = {}
    for bucket, items in by_bucket.items():
        items.sort(key=lambda kv: _text((*kv[0][2], kv[0][3])))
        items.sort(key=lambda kv: kv[1].amount() if cost else kv[1].total_tokens, reverse=True)
        kept = items[:cap] if q.grouped else items
        rows: list[dict[str, Any]] = []
        for (_, _, values, gid), acc in kept:
            dims = dimension_fields(q, values, gid)
            if cost:
                rows.extend({**row, **dims} for row in cost_fields(acc, q))
            else:
                rows.append({**usage_fields(acc), **dims})
        out[bucket] = rows
    return out


def actor_json(req: Request, user_id: str) -> dict[str, Any]:
    u = req.organization.user(user_id)
    actor: dict[str, Any] = {"type": "user_actor", "user_id": user_id}
    mode = req.sim.config.legacy_actor_email_keys
    email = u.email if u else None
    if mode in ("both", "email_address"):
        actor["email_address"] = email
    if mode in ("both", "email"):
        actor["email"] = email
    actor["name"] = u.name if u else None
    actor["deleted"] = u.deleted if u else True
    return actor


METRICS: dict[str, Callable[[Acc], int]] = {
    "total_tokens": lambda a: a.total_tokens,
    "output_tokens": lambda a: a.output,
    "requests": lambda a: a.requests,
    "uncached_input_tokens": lambda a: a.uncached,
    "amount": lambda a: a.amount(),
    "list_amount": lambda a: a.list_amount(),
}


def metric_of(acc: Acc, order_by: str) -> int:
    return METRICS[order_by](acc)


# An entry is one row counted by `limit`: (user deleted, its rows incl. cost fan-out).
Entry = tuple[bool, list[dict[str, Any]]]


def build_user_rows(
    req: Request, q: Query, cost: bool, order_by: str, descending: bool
) -> list[Entry]:
    groups = aggregate(req, q, per_user=True)
    items = list(groups.items())
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def tie(kv: tuple[Key, Acc]) -> tuple[Any, ...]:
        (bucket, user, values, gid), _ = kv
        return (user or "", bucket or epoch, _text((*values, gid)))

    items.sort(key=tie)
    if req.sim.config.legacy_user_order == "actor":
        totals: dict[str | None, int] = {}
        for (_, user, _, _), acc in items:
            totals[user] = totals.get(user, 0) + metric_of(acc, order_by)
        items.sort(key=lambda kv: (kv[0][1] or "", kv[0][0] or epoch, -metric_of(kv[1], order_by)))
        items.sort(key=lambda kv: totals[kv[0][1]], reverse=descending)
    else:
        items.sort(key=lambda kv: metric_of(kv[1], order_by), reverse=descending)
    actors: dict[str, dict[str, Any]] = {}
    width = q.width
    out: list[Entry] = []
    for (bucket, user, values, gid), acc in items:
        assert user is not None
        actor = actors.get(user)
        if actor is None:
            actor = actors[user] = actor_json(req, user)
        head = {
            "actor": actor,
            "starting_at": iso(bucket) if bucket and width else None,
            "ending_at": iso(bucket + width) if bucket and width else None,
        }
        dims = dimension_fields(q, values, gid)
        if cost:
            rows = [{**head, **row, **dims} for row in cost_fields(acc, q)]
        else:
            rows = [{**head, **usage_fields(acc), "total_tokens": acc.total_tokens, **dims}]
        out.append((bool(actor["deleted"]), rows))
    return out


# -- endpoints ---------------------------------------------------------------------------------


def envelope(req: Request, data: list[dict[str, Any]], next_offset: int | None) -> dict[str, Any]:
    return {
        "data": data,
        "has_more": next_offset is not None,
        "next_page": None if next_offset is None else bound_cursor(req.params, next_offset),
        "data_refreshed_at": iso(req.sim.data_refreshed_at()),
        "organization_id": req.organization.tagged_id,
    }


def cache_key(req: Request) -> tuple[Any, ...]:
    cfg = req.sim.config
    return (
        "legacy",
        req.path,
        req.organization.id,
        req.params.signature(),
        req.sim.now(),
        cfg.legacy_group_cap,
        cfg.legacy_user_order,
        cfg.legacy_actor_email_keys,
    )


def bucketed_report(req: Request, cost: bool) -> dict[str, Any]:
    q, end = parse_query(req, cost, per_user=False)
    assert q.width is not None
    width_name = next(k for k, v in BUCKET_WIDTHS.items() if v == q.width)
    default, most = BUCKET_LIMITS[width_name]
    limit = req.params.integer("limit", default, 1, most)
    offset, _ = read_bound_cursor(req.params)
    rows = req.sim.cached(cache_key(req), lambda: build_buckets(req, q, cost))
    # Dense buckets on the UTC grid from the snapped start to the bucket holding the end.
    last = min(end, req.sim.now())
    count = -(-(last - q.start) // q.width)
    data = []
    for i in range(offset, min(count, offset + limit)):
        s = q.start + i * q.width
        data.append(
            {"starting_at": iso(s), "ending_at": iso(s + q.width), "results": rows.get(s, [])}
        )
    return envelope(req, data, offset + limit if offset + limit < count else None)


def user_report(req: Request, cost: bool) -> dict[str, Any]:
    q, _ = parse_query(req, cost, per_user=True)
    p = req.params
    limit = p.integer("limit", 20, 1, 1000)
    metrics = COST_ORDER if cost else USAGE_ORDER
    order_by = p.enum("order_by", metrics, metrics[0]) or metrics[0]
    descending = p.enum("order", ("asc", "desc"), "desc") == "desc"
    exclude_deleted = p.boolean("exclude_deleted_users")
    offset, _ = read_bound_cursor(p)
    entries: list[Entry] = req.sim.cached(
        cache_key(req), lambda: build_user_rows(req, q, cost, order_by, descending)
    )
    data: list[dict[str, Any]] = []
    for deleted, rows in entries[offset : offset + limit]:
        if not (exclude_deleted and deleted):
            data.extend(rows)
    return envelope(req, data, offset + limit if offset + limit < len(entries) else None)


@routes.get(f"{BASE}/usage_report", Auth.ANALYTICS_ENTERPRISE)
def usage_report(req: Request) -> dict[str, Any]:
    return bucketed_report(req, cost=False)


@routes.get(f"{BASE}/cost_report", Auth.ANALYTICS_ENTERPRISE)
def cost_report(req: Request) -> dict[str, Any]:
    return bucketed_report(req, cost=True)


@routes.get(f"{BASE}/user_usage_report", Auth.ANALYTICS_ENTERPRISE)
def user_usage_report(req: Request) -> dict[str, Any]:
    return user_report(req, cost=False)


@routes.get(f"{BASE}/user_cost_report", Auth.ANALYTICS_ENTERPRISE)
def user_cost_report(req: Request) -> dict[str, Any]:
    return user_report(req, cost=True)
