"""Family B — the Usage and Cost Analytics API (beta): `GET /v1/organizations/analytics/usage`
and `GET /v1/organizations/analytics/cost` (anthropic-api.md §4).

Authentication, the beta header and rate limits are checked by the server before these handlers
run. A query is validated (`analytics_query.py`), then grouped into ordered page units once
(cached per query and data snapshot); each page is a slice of the units, rendered on demand. The
cursor carries the snapshot instant of the query's first page, so later pages are served from the
same data even when the clock moves.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from .aggregate import BUCKET_WIDTHS, Acc
from .analytics_query import (
    COST_ONLY_DIMENSIONS,
    FACT_FIELDS,
    KINDS,
    USAGE_DIMENSIONS,
    Context,
    Query,
    Unit,
    bucket_of,
    bucket_start,
    dim_getter,
    floor_hour,
    parse_query,
    sum_facts,
)
from .facts import COMPONENTS, COST_TYPES, Fact, cents
from .params import bound_cursor, invalid, iso, read_bound_cursor
from .routing import Auth, Request, RouteTable
from .world import User

routes = RouteTable()
USAGE_GROUP_KEYS = tuple(sorted(USAGE_DIMENSIONS))
COST_GROUP_KEYS = tuple(sorted(USAGE_DIMENSIONS + COST_ONLY_DIMENSIONS))
TOKEN_COMPONENTS = tuple(i for i, (ct, _) in enumerate(COMPONENTS) if ct == "tokens")
OTHER_COMPONENTS = tuple(i for i, (ct, _) in enumerate(COMPONENTS) if ct != "tokens")
COST_TYPE_COMPONENTS = {
    ct: tuple(i for i, (c, _) in enumerate(COMPONENTS) if c == ct) for ct in COST_TYPES
}

# (cost_type, token_type, amount micro-cents, list amount micro-cents)
CostPart = tuple[str | None, str | None, int, int]


@routes.get("/v1/organizations/analytics/usage", Auth.ANALYTICS_B)
def usage(req: Request) -> dict[str, Any]:
    return _serve(req, "usage")


@routes.get("/v1/organizations/analytics/cost", Auth.ANALYTICS_B)
def cost(req: Request) -> dict[str, Any]:
    return _serve(req, "cost")


def _serve(req: Request, endpoint: str) -> dict[str, Any]:
    sim, org, params = req.sim, req.organization, req.params
    offset, payload = read_bound_cursor(params)
    snapshot = _snapshot(payload.get("t")) if payload else sim.now()
    parent_level = bool(req.credential and req.credential.parent_level)
    q = parse_query(endpoint, params, org, sim.world, now=snapshot, parent_level=parent_level)
    cfg = sim.config
    q.empty_total_row = cfg.analytics_empty_total_row
    settings = (
        cfg.analytics_empty_total_row,
        cfg.analytics_token_type_other_rows,
        cfg.analytics_console_products,
    )

    def build() -> tuple[list[Unit], Context]:
        ctx = Context.build(org, sim.world, cfg.analytics_console_products)
        lo, hi = q.data_range
        facts = sim.store.facts(org, lo, hi, snapshot, include_children=bool(org.child_ids))
        return aggregate(q, facts, ctx), ctx

    key = ("analytics", endpoint, org.id, params.signature(), snapshot, settings)
    units, ctx = sim.cached(key, build)
    page = units[offset : offset + q.limit]
    renderer = _Renderer(q, ctx, cfg.analytics_token_type_other_rows)
    data: list[dict[str, Any]] = []
    for unit in page:
        renderer.render(unit, data)
    has_more = offset + q.limit < len(units)
    body: dict[str, Any] = {
        "data": data,
        "has_more": has_more,
        "next_page": bound_cursor(params, offset + q.limit, t=snapshot.isoformat())
        if has_more
        else None,
        "data_refreshed_at": iso(sim.data_refreshed_at()),
    }
    if cfg.analytics_envelope_org_id:
        body["organization_id"] = org.id
    return body


def _snapshot(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise invalid("page: invalid cursor")
    try:
        return datetime.fromisoformat(raw).astimezone(UTC)
    except ValueError:
        raise invalid("page: invalid cursor") from None


# --------------------------------------------------------------------------------------------
# Aggregation and order


def aggregate(q: Query, facts: Iterable[Fact], ctx: Context) -> list[Unit]:
    """Group the facts into units, filtered and ordered as the query asks."""
    key_of = _key_function(q.dims, ctx)
    bucket_fn = bucket_of(q.width)
    filters = q.filters
    kinds = KINDS[q.endpoint]
    rbac_filter = q.rbac_filter
    need_groups = q.rbac or rbac_filter is not None
    members: dict[tuple[Any, Any], list[Fact]] = {}
    fan: dict[tuple[Any, Any], dict[str | None, list[Fact]]] = {}
    groups: tuple[str, ...] = ()
    for f in facts:
        if f.kind not in kinds:
            continue
        for p in filters:
            if not p(f):
                break
        else:
            if need_groups:
                groups = ctx.groups_of(f)
                if rbac_filter is not None and rbac_filter.isdisjoint(groups):
                    continue
            uk = (bucket_fn(f), key_of(f))
            lst = members.get(uk)
            if lst is None:
                lst = members[uk] = []
            lst.append(f)
            if q.rbac:
                by_group = fan.get(uk)
                if by_group is None:
                    by_group = fan[uk] = {}
                for g in groups or (None,):
                    glst = by_group.get(g)
                    if glst is None:
                        by_group[g] = [f]
                    else:
                        glst.append(f)
    out = [
        Unit(uk[0], uk[1], fs, list(fan[uk].items()) if q.rbac else None)
        for uk, fs in members.items()
    ]
    if q.exclude_deleted:
        i = q.dims.index("actor")
        out = [u for u in out if not _deleted_user(u.key[i], ctx)]
    if not out and q.width is None and not q.dims and not q.rbac and q.empty_total_row:
        out = [Unit(0, (), [])]
    return _ordered(q, out)


def _ordered(q: Query, units: list[Unit]) -> list[Unit]:
    """Sort by the metric (or bucket, then metric); ties by the group values as strings."""
    fm = FACT_METRICS[q.metric]
    fan_sign = q.fan_sign
    for u in units:
        fs = u.facts
        u.metric = fm(fs[0]) if len(fs) == 1 else sum([fm(f) for f in fs])
        if u.fan is not None:
            u.fan.sort(key=lambda gf: (fan_sign * sum([fm(f) for f in gf[1]]), gf[0] or "~"))
    sign = -1 if q.descending else 1
    primary: list[tuple[int, int]]
    if q.order_by == "time" and q.width is not None:
        # Buckets in the `order` direction; inside a bucket, the metric highest first.
        primary = [(sign * u.bucket, -u.metric) for u in units]
    else:
        primary = [(sign * u.metric, u.bucket) for u in units]
    order = sorted(range(len(units)), key=primary.__getitem__)
    out = [units[i] for i in order]
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order) or primary[order[end]] != primary[order[start]]:
            if end - start > 1:
                out[start:end] = sorted(out[start:end], key=_tiebreak)
            start = end
    return out


def _tiebreak(u: Unit) -> str:
    return repr(tuple("" if v is None else str(v) for v in u.key))


def _key_function(dims: list[str], ctx: Context) -> Callable[[Fact], tuple[Hashable, ...]]:
    """The tuple of a fact's grouped dimension values (plain attributes read in one call)."""
    if not dims:
        return lambda f: ()
    if len(dims) > 1 and all(d in FACT_FIELDS for d in dims):
        getter: Callable[[Fact], tuple[Hashable, ...]] = attrgetter(*(FACT_FIELDS[d] for d in dims))
        return getter
    getters = [dim_getter(d, ctx) for d in dims]
    if len(getters) == 1:
        g0 = getters[0]
        return lambda f: (g0(f),)
    if len(getters) == 2:
        g0, g1 = getters
        return lambda f: (g0(f), g1(f))
    return lambda f: tuple([g(f) for g in getters])


def _deleted_user(actor: Hashable, ctx: Context) -> bool:
    if not isinstance(actor, tuple) or actor[0] != "user_actor":
        return False
    user = ctx.users.get(str(actor[1]))
    return bool(user and user.deleted)


# The ranking metrics, per fact (a unit's metric is the sum over its facts).
FACT_METRICS: dict[str, Callable[[Fact], int]] = {
    "total_tokens": lambda f: f.uncached + f.cache_read + f.cache_5m + f.cache_1h + f.output,
    "output_tokens": lambda f: f.output,
    "requests": lambda f: f.requests,
    "uncached_input_tokens": lambda f: f.uncached,
    "amount": lambda f: sum(f.cost),
    "list_amount": lambda f: sum(f.list_cost),
}


class _Renderer:
    """Turns units into the API's row objects."""

    def __init__(self, q: Query, ctx: Context, other_rows: str) -> None:
        self.q = q
        self.ctx = ctx
        self.combined_other = other_rows == "combined"
        keys = USAGE_GROUP_KEYS if q.endpoint == "usage" else COST_GROUP_KEYS
        self.template: dict[str, Any] = dict.fromkeys(keys)
        self.width = BUCKET_WIDTHS[q.width] if q.width else None
        self.whole = (iso(floor_hour(q.start)), iso(floor_hour(q.end)))
        self._bounds: dict[int, tuple[str, str]] = {}
        self.by_list_amount = q.order_by == "list_amount"

    def bounds(self, bucket: int) -> tuple[str, str]:
        if self.width is None:
            return self.whole
        found = self._bounds.get(bucket)
        if found is None:
            start = bucket_start(bucket)
            found = self._bounds[bucket] = (iso(start), iso(start + self.width))
        return found

    def render(self, unit: Unit, out: list[dict[str, Any]]) -> None:
        starting_at, ending_at = self.bounds(unit.bucket)
        group = dict(self.template)
        for dim, value in zip(self.q.dims, unit.key, strict=True):
            group[dim] = self.actor(value) if dim == "actor" else value
        rows: list[tuple[dict[str, Any], Acc]]
        if unit.fan is None:
            rows = [(group, unit.acc)]
        else:
            rows = [({**group, "rbac_group_id": gid}, sum_facts(fs)) for gid, fs in unit.fan]
        for g, acc in rows:
            if self.q.endpoint == "usage":
                out.append(
                    {
                        "starting_at": starting_at,
                        "ending_at": ending_at,
                        "group": g,
                        "usage": _usage(acc),
                    }
                )
                continue
            requests = None if self.q.cost_type or self.q.token_type else acc.requests
            for cost_type, token_type, amount, list_amount in self.cost_parts(acc):
                out.append(
                    {
                        "starting_at": starting_at,
                        "ending_at": ending_at,
                        "group": {**g, "cost_type": cost_type, "token_type": token_type},
                        "cost": {
                            "amount": cents(amount),
                            "currency": "USD",
                            "list_amount": cents(list_amount),
                            "requests": requests,
                        },
                    }
                )

    def cost_parts(self, acc: Acc) -> list[CostPart]:
        q = self.q
        if not q.cost_type and not q.token_type:
            return [(None, None, acc.amount(), acc.list_amount())]
        parts: list[CostPart] = []
        if q.token_type:
            for i in TOKEN_COMPONENTS:
                parts.append(("tokens", COMPONENTS[i][1], acc.cost[i], acc.list_cost[i]))
            if self.combined_other and not q.cost_type:
                parts.append(
                    (None, None, acc.amount(OTHER_COMPONENTS), acc.list_amount(OTHER_COMPONENTS))
                )
            else:
                parts.extend(
                    (COMPONENTS[i][0], None, acc.cost[i], acc.list_cost[i])
                    for i in OTHER_COMPONENTS
                )
        else:
            for ct, comps in COST_TYPE_COMPONENTS.items():
                parts.append((ct, None, acc.amount(comps), acc.list_amount(comps)))
        parts = [p for p in parts if p[2] or p[3]]
        sign = q.fan_sign
        # Stable sort: equal amounts keep the component order.
        if self.by_list_amount:
            parts.sort(key=lambda p: sign * p[3])
        else:
            parts.sort(key=lambda p: sign * p[2])
        return parts

    def actor(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        kind, ident = value
        if kind == "user_actor":
            user: User | None = self.ctx.users.get(ident)
            return {
                "type": "user_actor",
                "user_id": ident,
                "email_address": user.email if user else None,
                "name": user.name if user else None,
                "deleted": bool(user and user.deleted),
            }
        if kind == "service_account_actor":
            return {"type": kind, "service_account_id": ident}
        return {"type": kind, "api_key_id": ident}


def _usage(acc: Acc) -> dict[str, Any]:
    return {
        "uncached_input_tokens": acc.uncached,
        "cache_read_input_tokens": acc.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": acc.cache_5m,
            "ephemeral_1h_input_tokens": acc.cache_1h,
        },
        "output_tokens": acc.output,
        "total_tokens": acc.total_tokens,
        "server_tool_use": {"web_search_requests": acc.web_search},
        "requests": acc.requests,
    }
