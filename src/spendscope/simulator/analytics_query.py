"""Family B query model: parsing and validating a `/analytics/usage` or `/analytics/cost` query
into fact filters, and the page units and dimension values aggregation works with
(anthropic-api.md §4).

A *unit* is what `limit` counts: one time bucket x one combination of the grouped dimensions
other than the fan-out ones. Its fan-out rows (`rbac_group_id` any-membership rows, and the
cost endpoint's `cost_type` / `token_type` rows) are served together on the unit's page.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .aggregate import BUCKET_WIDTHS, Acc
from .facts import Fact
from .params import Params, invalid
from .world import (
    CLAUDE_TAG_CATEGORIES,
    CONSOLE,
    CONTEXT_WINDOWS,
    INFERENCE_GEOS,
    SERVICE_TIERS,
    SPEEDS,
    Organization,
    User,
    World,
)

FLOOR = datetime(2026, 1, 1, tzinfo=UTC)
MAX_RANGE = timedelta(days=31)
MAX_MINUTE_RANGE = timedelta(hours=24)
LOOKBACK = timedelta(days=365)
MAX_DIMENSIONS = 5
MINUTES_PER_DAY = 1440

USAGE_DIMENSIONS = (
    "actor", "actor_type", "agent_id", "api_key_id", "claude_tag_category", "claude_tag_user_id",
    "context_window", "deployment_id", "environment_id", "inference_geo", "model",
    "organization_id", "product", "rbac_group_id", "service_tier", "session_id",
    "slack_channel_id", "speed", "user_profile_id", "workspace_id",
)  # fmt: skip
COST_ONLY_DIMENSIONS = ("cost_type", "token_type")
USAGE_ORDER_BY = ("total_tokens", "output_tokens", "requests", "uncached_input_tokens", "time")
COST_ORDER_BY = ("amount", "list_amount", "time")
ACTOR_TYPES = ("user_actor", "service_account_actor", "federated_actor", "api_actor")
PRODUCTS = (
    "chat", "chat_cowork_unified", "claude_code", "claude_console", "claude_design",
    "claude_in_chrome", "claude_tag", "cowork", "managed_agents_api", "message_batches_api",
    "messages_api", "office_agent",
)  # fmt: skip
ACTOR_PREFIXES = ("user_", "svac_", "apikey_")
RBAC_PREFIX = "rbac_group_"
# Fact kinds each endpoint aggregates (session runtime is a cost, not usage).
KINDS = {
    "usage": frozenset({"tokens", "code_execution"}),
    "cost": frozenset({"tokens", "code_execution", "session"}),
}

# Dimensions that are a plain fact attribute (named alike, except organization_id).
FACT_FIELDS = {
    **{d: d for d in USAGE_DIMENSIONS if d not in (
        "actor", "actor_type", "inference_geo", "product", "rbac_group_id", "user_profile_id")},
    "organization_id": "org_id",
}  # fmt: skip
# Filters on a plain fact attribute, by equality.
ID_FILTERS = {
    "workspace_ids": "workspace_id", "models": "model", "agent_ids": "agent_id",
    "deployment_ids": "deployment_id", "environment_ids": "environment_id",
    "session_ids": "session_id", "slack_channel_ids": "slack_channel_id",
    "claude_tag_user_ids": "claude_tag_user_id",
}  # fmt: skip
ENUM_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "service_tiers": ("service_tier", SERVICE_TIERS),
    "context_windows": ("context_window", CONTEXT_WINDOWS),
    "inference_geos": ("inference_geo", INFERENCE_GEOS),
    "speeds": ("speed", SPEEDS),
    "claude_tag_categories": ("claude_tag_category", CLAUDE_TAG_CATEGORIES),
    "products": ("product", PRODUCTS),
}

Actor = tuple[str, str] | None  # (actor type, id)


def actor_of(f: Fact) -> Actor:
    """The identity usage is attributed to: user, else service account, else API key."""
    if f.user_id:
        return ("user_actor", f.user_id)
    if f.service_account_id:
        return ("service_account_actor", f.service_account_id)
    if f.api_key_id:
        return ("api_actor", f.api_key_id)
    return None


def floor_hour(dt: datetime) -> datetime:
    return dt.replace(minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class Query:
    """A validated Family B query."""

    endpoint: str  # "usage" | "cost"
    start: datetime  # requested (validated) range
    end: datetime
    width: str | None  # "1d" | "1h" | "1m" | None
    dims: list[str]  # grouped dimensions, without the fan-out ones
    rbac: bool  # grouped by rbac_group_id
    cost_type: bool
    token_type: bool
    order_by: str
    descending: bool
    limit: int
    exclude_deleted: bool
    filters: list[Callable[[Fact], bool]] = field(default_factory=list)
    rbac_filter: frozenset[str] | None = None
    # An ungrouped, unbucketed query with no usage still answers one all-zero row.
    empty_total_row: bool = True

    @property
    def data_range(self) -> tuple[datetime, datetime]:
        """Without a bucket width the report covers whole hours."""
        if self.width is None:
            return floor_hour(self.start), floor_hour(self.end)
        return self.start, self.end

    @property
    def fan_sign(self) -> int:
        """Fan-out rows inside a unit follow the metric: in the `order` direction, or highest
        first when ordering by time."""
        return 1 if self.order_by != "time" and not self.descending else -1

    @property
    def metric(self) -> str:
        if self.order_by == "time":
            return "total_tokens" if self.endpoint == "usage" else "amount"
        return self.order_by


def _id_set(params: Params, name: str) -> set[str] | None:
    values = params.many(name)
    return set(values) if params.has(name) else None


def parse_query(
    endpoint: str,
    params: Params,
    org: Organization,
    world: World,
    *,
    now: datetime,
    parent_level: bool,
) -> Query:
    """Validate every parameter (400 on the first problem) and build the fact filters."""
    start = params.datetime("starting_at")
    if start is None:
        raise invalid("starting_at: field required")
    if start < FLOOR:
        raise invalid("starting_at: must be on or after 2026-01-01T00:00:00Z")
    if start < now - LOOKBACK:
        raise invalid("starting_at: must be within the last 365 days")
    width = params.enum("time_bucket_width", BUCKET_WIDTHS)
    end = params.datetime("ending_at")
    if end is None:
        if width is not None:
            raise invalid("ending_at: required when time_bucket_width is set")
        end = min(now, start + MAX_RANGE)
    if end <= start:
        raise invalid("ending_at: must be after starting_at")
    if end - start > MAX_RANGE:
        raise invalid("the range from starting_at to ending_at may span at most 31 days")
    if width == "1m" and end - start > MAX_MINUTE_RANGE:
        raise invalid("with time_bucket_width=1m the range may span at most 24 hours")

    allowed = USAGE_DIMENSIONS + (COST_ONLY_DIMENSIONS if endpoint == "cost" else ())
    group_by: list[str] = []
    for d in params.many("group_by"):
        if d not in allowed:
            raise invalid(f"group_by[]: '{d}' is not one of {', '.join(allowed)}")
        if d not in group_by:
            group_by.append(d)
    counted = [d for d in group_by if d not in COST_ONLY_DIMENSIONS]
    if len(counted) > MAX_DIMENSIONS:
        extra = " (cost_type and token_type do not count)" if endpoint == "cost" else ""
        raise invalid(
            f"group_by[]: at most {MAX_DIMENSIONS} dimensions are allowed{extra}, "
            f"got {len(counted)}"
        )
    order_by = params.enum(
        "order_by",
        USAGE_ORDER_BY if endpoint == "usage" else COST_ORDER_BY,
        "total_tokens" if endpoint == "usage" else "amount",
    )
    order = params.enum("order", ("asc", "desc"), "desc")
    limit = params.integer("limit", 20, 1, 1000)
    exclude_deleted = params.boolean("exclude_deleted_users")
    if exclude_deleted and "actor" not in group_by:
        raise invalid("exclude_deleted_users: requires group_by[]=actor")

    q = Query(
        endpoint=endpoint,
        start=start,
        end=end,
        width=width,
        dims=[d for d in group_by if d not in (*COST_ONLY_DIMENSIONS, "rbac_group_id")],
        rbac="rbac_group_id" in group_by,
        cost_type="cost_type" in group_by,
        token_type="token_type" in group_by,
        order_by=order_by or "",
        descending=order == "desc",
        limit=limit,
        exclude_deleted=exclude_deleted,
    )
    _parse_filters(q, params, org, world, parent_level)
    return q


def _parse_filters(
    q: Query, params: Params, org: Organization, world: World, parent_level: bool
) -> None:
    add = q.filters.append

    for name, (attr, vocab) in ENUM_FILTERS.items():
        values = params.enums(name, vocab)
        if not params.has(name):
            continue
        if (
            name == "products"
            and "chat_cowork_unified" in values
            and not org.features.get("chat_cowork_unified")
        ):
            raise invalid(
                "products[]: 'chat_cowork_unified' is not available for this organization"
            )
        add(_member(attr, frozenset(values)))

    actor_types = params.enums("actor_types", ACTOR_TYPES)
    if params.has("actor_types"):
        wanted_types = frozenset(actor_types)
        add(lambda f: (a := actor_of(f)) is not None and a[0] in wanted_types)

    actor_ids = _id_set(params, "actor_ids")
    if actor_ids is not None:
        for a in actor_ids:
            if not a.startswith(ACTOR_PREFIXES):
                raise invalid(f"actor_ids[]: '{a}' is not a user_, svac_ or apikey_ id")
        wanted_actors = frozenset(actor_ids)
        add(lambda f: (a := actor_of(f)) is not None and a[1] in wanted_actors)

    key_ids = _id_set(params, "api_key_ids")
    if key_ids is not None:
        # An empty entry also matches usage no API key authenticated.
        keys: frozenset[str | None] = frozenset(k or None for k in key_ids)
        add(lambda f: f.api_key_id in keys)

    for name, attr in ID_FILTERS.items():
        ids = _id_set(params, name)
        if ids is not None:
            add(_member(attr, frozenset(ids)))

    if _id_set(params, "user_profile_ids") is not None:
        add(lambda f: False)  # no usage names a user profile

    org_ids = _id_set(params, "organization_ids")
    if org_ids is not None:
        if not parent_level:
            raise invalid(
                "organization_ids[]: requires an API key created at the parent organization level",
                "parent_organization_required",
            )
        scope = [org, *(world.org(c) for c in org.child_ids)]
        matched = frozenset(o.id for o in scope if o.id in org_ids or o.tagged_id in org_ids)
        add(lambda f: f.org_id in matched)

    rbac_ids = _id_set(params, "rbac_group_ids")
    if rbac_ids is not None:
        q.rbac_filter = frozenset(
            r if r.startswith(RBAC_PREFIX) else RBAC_PREFIX + r for r in rbac_ids
        )
    if (q.rbac or rbac_ids is not None) and params.has("claude_tag_user_ids"):
        raise invalid(
            "claude_tag_user_ids[]: cannot be combined with group_by[]=rbac_group_id "
            "or rbac_group_ids[]"
        )


def _member(attr: str, values: frozenset[str]) -> Callable[[Fact], bool]:
    return lambda f: getattr(f, attr) in values


# --------------------------------------------------------------------------------------------
# Aggregation


@dataclass(slots=True, eq=False)
class Unit:
    """One page unit: a time bucket x a combination of the non-fan-out dimensions. Sums are
    computed when the unit is rendered (only the ranking metric is computed for every unit)."""

    bucket: int  # bucket start in minutes since 0001-01-01 (0 without buckets)
    key: tuple[Hashable, ...]  # values of Query.dims, in order
    facts: list[Fact]  # the unit's facts, each once
    # rbac_group_id rows (group id or None, facts), when grouped by it; ordered.
    fan: list[tuple[str | None, list[Fact]]] | None = None
    metric: int = field(default=0, init=False)
    _acc: Acc | None = field(default=None, init=False, repr=False)

    @property
    def acc(self) -> Acc:
        if self._acc is None:
            self._acc = sum_facts(self.facts)
        return self._acc


def dim_getter(dim: str, ctx: Context) -> Callable[[Fact], Hashable]:
    if dim == "actor":
        return actor_of
    if dim == "actor_type":
        return lambda f: a[0] if (a := actor_of(f)) else None
    if dim == "inference_geo":
        return lambda f: None if f.inference_geo == "not_available" else f.inference_geo
    if dim == "user_profile_id":
        return lambda f: None
    if dim == "product" and ctx.console_products_null:
        console = ctx.console_org_ids
        return lambda f: None if f.org_id in console else f.product
    if dim == "product":
        return lambda f: f.product
    attr = FACT_FIELDS[dim]
    return lambda f: getattr(f, attr)


@dataclass(frozen=True, slots=True)
class Context:
    """What aggregation needs to know beyond the facts."""

    users: dict[str, User]
    org_of_user: dict[str, Organization]
    console_org_ids: frozenset[str]
    console_products_null: bool

    @classmethod
    def build(cls, org: Organization, world: World, console_products: str) -> Context:
        scope = [org, *(world.org(c) for c in org.child_ids)]
        return cls(
            users={u.id: u for o in scope for u in o.users},
            org_of_user={u.id: o for o in scope for u in o.users},
            console_org_ids=frozenset(o.id for o in scope if o.kind == CONSOLE),
            console_products_null=console_products == "null",
        )

    def groups_of(self, f: Fact) -> tuple[str, ...]:
        """The RBAC groups of the fact's user on the fact's UTC day."""
        if not f.user_id:
            return ()
        org = self.org_of_user.get(f.user_id)
        return org.groups_of(f.user_id, f.day) if org else ()


def bucket_of(width: str | None) -> Callable[[Fact], int]:
    """The bucket start of a fact, as minutes since day 1 of the proleptic calendar."""
    if width is None:
        return lambda f: 0
    if width == "1d":
        return lambda f: f.day.toordinal() * MINUTES_PER_DAY
    if width == "1h":
        return lambda f: f.day.toordinal() * MINUTES_PER_DAY + f.minute - f.minute % 60
    return lambda f: f.day.toordinal() * MINUTES_PER_DAY + f.minute


def bucket_start(bucket: int) -> datetime:
    day, minute = divmod(bucket, MINUTES_PER_DAY)
    d = date.fromordinal(day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(minutes=minute)


def sum_facts(facts: list[Fact]) -> Acc:
    """An `Acc` holding the sums of these facts (column-wise, faster than `Acc.add`)."""
    acc = Acc()
    if not facts:
        return acc
    if len(facts) == 1:
        f = facts[0]
        acc.uncached, acc.cache_read, acc.cache_5m = f.uncached, f.cache_read, f.cache_5m
        acc.cache_1h, acc.output, acc.web_search = f.cache_1h, f.output, f.web_search
        acc.requests, acc.seconds = f.requests, f.seconds
        acc.cost, acc.list_cost = list(f.cost), list(f.list_cost)
        return acc
    acc.uncached = sum([f.uncached for f in facts])
    acc.cache_read = sum([f.cache_read for f in facts])
    acc.cache_5m = sum([f.cache_5m for f in facts])
    acc.cache_1h = sum([f.cache_1h for f in facts])
    acc.output = sum([f.output for f in facts])
    acc.web_search = sum([f.web_search for f in facts])
    acc.requests = sum([f.requests for f in facts])
    acc.seconds = sum([f.seconds for f in facts])
    acc.cost = [sum(c) for c in zip(*[f.cost for f in facts], strict=True)]
    acc.list_cost = [sum(c) for c in zip(*[f.list_cost for f in facts], strict=True)]
    return acc
