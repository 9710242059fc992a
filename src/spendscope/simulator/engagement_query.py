"""The query model of the engagement endpoints (Family D): endpoint specs, the parsed `Query`,
and the filtering, grouping, ordering, result caching and paging every listing shares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .engagement_data import engagement_store
from .engagement_model import UserDay
from .params import bound_cursor
from .routing import Request
from .state import Simulator
from .world import Organization, User

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    filters: tuple[str, ...]
    groups: tuple[str, ...]
    products: tuple[str, ...]  # accepted `product` values (plus `chat_cowork_unified` if on)
    sort: tuple[str, ...]  # names of the natural sort column accepted by `order_by`
    metrics: tuple[str, ...]  # top-level integer metrics accepted by `order_by`


CUTS = ("product", "rbac_group_id", "user_id")
FOUR = ("chat", "claude_code", "cowork", "office_agent")
USERS = Spec(
    name="users",
    filters=("project_id", "rbac_group_id", "user_id"),
    groups=("rbac_group_id",),
    products=(),
    sort=("email_address", "email"),
    metrics=("web_search_count", "distinct_user_count"),
)
SKILLS = Spec(
    name="skills",
    filters=("product", "rbac_group_id", "share_status", "skill_name", "user_id"),
    groups=CUTS,
    products=FOUR,
    sort=("skill_name",),
    metrics=("distinct_user_count", "invocation_count", "enable_count"),
)
CONNECTORS = Spec(
    name="connectors",
    filters=("connector_name", "product", "rbac_group_id", "user_id"),
    groups=CUTS,
    products=FOUR,
    sort=("connector_name",),
    metrics=(
        "distinct_user_count",
        "managed_auth_distinct_user_count",
        "individual_auth_distinct_user_count",
        "read_call_count",
        "write_call_count",
        "unclassified_call_count",
    ),
)
PLUGINS = Spec(
    name="plugins",
    filters=("plugin_name", "product", "rbac_group_id", "user_id"),
    groups=CUTS,
    products=("claude_code", "cowork"),
    sort=("plugin_name",),
    metrics=("distinct_user_count", "install_count", "invocation_count"),
)
ARTIFACTS = Spec(
    name="artifacts",
    filters=("artifact_type", "is_shared", "product", "rbac_group_id", "user_id"),
    groups=CUTS,
    products=("chat", "claude_code", "cowork"),
    sort=(),
    metrics=(),
)
PROJECTS = Spec(
    name="projects",
    filters=("project_id", "rbac_group_id", "user_id"),
    groups=("rbac_group_id", "user_id"),
    products=(),
    sort=("project_id",),
    metrics=("distinct_user_count", "distinct_conversation_count", "message_count"),
)
SUMMARIES = Spec("summaries", ("rbac_group_id",), (), (), (), ())


@dataclass(frozen=True, slots=True)
class Query:
    sim: Simulator
    org: Organization
    spec: Spec
    days: list[date]
    single: bool
    end: date | None  # exclusive end (range mode)
    filters: dict[str, set[str]]
    group_by: tuple[str, ...]
    order_by: str | None
    desc: bool
    limit: int
    offset: int

    def feature(self, name: str, default: bool = True) -> bool:
        return bool(self.org.features.get(name, default))

    @property
    def cut(self) -> bool:
        """Rows scoped to a product/user/rbac cut (by grouping or filtering)."""
        return bool(self.group_by) or any(d in self.filters for d in CUTS)


# -- filtering --------------------------------------------------------------------------------


def norm(name: str) -> str:
    """Connector names are normalised: 'GitHub MCP' and 'mcp-github' both match 'github'."""
    words = re.split(r"[\s_\-]+", name.strip().lower())
    return "_".join(w for w in words if w and w not in ("mcp", "server"))


def groups_of(q: Query, u: User, day: date) -> tuple[str, ...]:
    """The member's RBAC groups on a UTC day, narrowed to the filtered ones."""
    wanted = q.filters.get("rbac_group_id")
    return tuple(g for g in q.org.groups_of(u.id, day) if wanted is None or g in wanted)


def user_days(q: Query) -> Iterator[tuple[date, UserDay]]:
    store = engagement_store(q.sim)
    ids, groups = q.filters.get("user_id"), q.filters.get("rbac_group_id")
    for d in q.days:
        for ud in store.day(q.org, d).users:
            u = ud.user
            if ids is not None and u.id not in ids:
                continue
            if groups is not None and not groups.intersection(q.org.groups_of(u.id, d)):
                continue
            yield d, ud


# -- grouping and aggregation ----------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Acc:
    """Running totals of one output row."""

    n: dict[str, int] = field(default_factory=dict)
    sets: dict[str, set[str]] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    last: date | None = None

    def add(self, key: str, value: int) -> None:
        self.n[key] = self.n.get(key, 0) + value

    def put(self, key: str, item: str) -> None:
        self.sets.setdefault(key, set()).add(item)

    def v(self, key: str) -> int:
        return self.n.get(key, 0)

    def c(self, key: str) -> int:
        return len(self.sets.get(key, ()))


Key = tuple[str | None, ...]


def _cuts(q: Query, u: User, day: date, product: str | None) -> list[Key]:
    """(product, rbac group, user) keys of the rows a record of that day contributes to."""
    p = product if "product" in q.group_by else None
    uid = u.id if "user_id" in q.group_by else None
    if "rbac_group_id" in q.group_by:
        return [(p, g, uid) for g in groups_of(q, u, day)]
    return [(p, None, uid)]


def key_fields(q: Query, cut: Key) -> Row:
    """The flat group-key fields of a row: present only when grouped (or null, per config)."""
    out: Row = {}
    nulls = q.sim.config.engagement_ungrouped_keys == "null"
    names = {g.id: g.name for g in q.org.rbac_groups}
    for dim, value in zip(CUTS, cut, strict=True):
        if dim not in q.spec.groups or (dim not in q.group_by and not nulls):
            continue
        grouped = dim in q.group_by
        out[dim] = value if grouped else None
        if dim == "rbac_group_id":
            out["rbac_group_name"] = names.get(value or "") if grouped else None
    return out


def collect(
    q: Query,
    visit: Callable[[date, UserDay], Iterator[tuple[str, str, Any]]],
    add: Callable[[Acc, Any, str], None],
) -> dict[tuple[Any, ...], Acc]:
    """Aggregate records: `visit` yields (entity key, product, record) per kept record."""
    accs: dict[tuple[Any, ...], Acc] = {}
    for d, ud in user_days(q):
        for entity, product, rec in visit(d, ud):
            if "product" in q.filters and product not in q.filters["product"]:
                continue
            for cut in _cuts(q, ud.user, d, product):
                key = (entity, *cut)
                acc = accs.get(key)
                if acc is None:
                    acc = accs[key] = Acc()
                acc.users.add(ud.user.id)
                acc.last = d
                add(acc, rec, ud.user.id)
    return accs


# -- ordering and paging ---------------------------------------------------------------------


def ordered(q: Query, items: list[tuple[tuple[Any, ...], Row]]) -> list[Row]:
    items.sort(key=lambda it: tuple("" if v is None else v for v in it[0]))
    rows = [r for _, r in items]
    if q.order_by in q.spec.metrics:
        name = q.order_by
        rows.sort(key=lambda r: -1 if r.get(name) is None else r[name], reverse=q.desc)
    elif q.desc:
        rows.reverse()
    return rows


def cached_rows(q: Query, build: Callable[[Query], list[Row]]) -> list[Row]:
    """The query's full, ordered result (cached: later pages only slice it)."""
    sim, cfg = q.sim, q.sim.config
    p = sim.now().replace(minute=0, second=0, microsecond=0)
    key = (
        "engagement",
        q.spec.name,
        q.org.id,
        q.single,
        q.days[0],
        q.days[-1],
        tuple(sorted((k, tuple(sorted(v))) for k, v in q.filters.items())),
        q.group_by,
        q.order_by,
        q.desc,
        p,
        tuple(sorted(q.org.features.items())),
        cfg.engagement_ungrouped_keys,
        cfg.engagement_include_inactive,
    )
    rows: list[Row] = sim.cached(key, lambda: build(q))
    return rows


def page(req: Request, q: Query, rows: list[Row]) -> dict[str, Any]:
    end = q.offset + q.limit
    extra = {"ep": q.spec.name, **({"e": q.end.isoformat()} if q.end else {})}
    nxt = bound_cursor(req.params, end, **extra) if end < len(rows) else None
    return {"data": rows[q.offset : end], "next_page": nxt}
