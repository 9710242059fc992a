"""Claude Enterprise engagement / adoption endpoints (Family D, anthropic-api.md §6).

`/v1/organizations/analytics/{users,summaries,skills,connectors,plugins,artifacts,
apps/chat/projects}`: rows aggregated from the per-day data of `engagement_data`, in single-day
(`date`) or range (`starting_date`/`ending_date`) mode, filtered, grouped, ordered and paged with
an opaque cursor bound to the query. Whole query results are cached so later pages are cheap.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .engagement_data import (
    MANAGED_AUTH_START,
    OFFICE_APPS,
    SPLIT_START,
    SURFACE_PRODUCT,
    UserDay,
    engagement_store,
)
from .facts import cents
from .params import bound_cursor, invalid, iso, read_bound_cursor
from .server import Auth, Request, route
from .state import Simulator
from .world import Organization, User

FLOOR = date(2026, 1, 1)
MAX_SPAN_DAYS = 366
BASE = "/v1/organizations/analytics"
Row = dict[str, Any]


@dataclass(frozen=True)
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


@dataclass
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


# -- parameters -------------------------------------------------------------------------------


def latest_available(sim: Simulator) -> date:
    """Day N-1 is aggregated at 10:00 UTC on day N, then served after the configured lag."""
    now = sim.now()
    latest = now.date() - timedelta(days=sim.config.engagement_lag_days)
    return latest - timedelta(days=1) if now.hour < 10 else latest


def _check_day(sim: Simulator, name: str, d: date, latest: date) -> None:
    if d < FLOOR:
        raise invalid(f"{name} must be on or after {FLOOR.isoformat()}")
    lookback = sim.config.engagement_lookback_days
    if lookback > 0 and d < sim.now().date() - timedelta(days=lookback):
        raise invalid(f"{name} must be within the past {lookback} days")
    if d > latest:
        raise invalid(
            f"Data is not yet available for {d.isoformat()}; the latest available "
            f"date is {latest.isoformat()}."
        )


def _dates(req: Request, mode: str, frozen_end: str | None) -> tuple[list[date], bool, date | None]:
    """(days, single-day mode, exclusive end). mode: "either", "date" or "range"."""
    p, sim = req.params, req.sim
    d, start, end = p.date("date"), p.date("starting_date"), p.date("ending_date")
    if mode == "date" and (start or end):
        raise invalid("This endpoint has no date-range mode; use date.")
    if mode == "date" and d is None:
        raise invalid("date: field required")
    if mode == "range" and p.has("date"):
        raise invalid("date is not supported on this endpoint; use starting_date.")
    if mode == "range" and start is None:
        raise invalid("starting_date: field required")
    if d and start:
        raise invalid("Specify either date or starting_date, not both.")
    if end and not start:
        raise invalid("ending_date is only valid together with starting_date.")
    if not d and not start:
        raise invalid("Either date or starting_date is required.")
    latest = latest_available(sim)
    if d is not None:
        _check_day(sim, "date", d, latest)
        return [d], True, None
    assert start is not None
    _check_day(sim, "starting_date", start, latest)
    if end is None:
        end = min(sim.now().date(), latest + timedelta(days=1))
        if frozen_end:  # the default resolved when the first page was served
            try:
                end = date.fromisoformat(frozen_end)
            except (TypeError, ValueError):
                raise invalid("page: invalid cursor") from None
    else:
        if end <= start:
            raise invalid("ending_date must be after starting_date.")
        if end - timedelta(days=1) > latest:
            raise invalid(
                f"Data is not yet available for {(end - timedelta(days=1)).isoformat()};"
                f" the latest available date is {latest.isoformat()}."
            )
        if end > sim.now().date():
            raise invalid(f"ending_date must be on or before {sim.now().date().isoformat()}")
    if (end - start).days > MAX_SPAN_DAYS:
        raise invalid(f"The date range may span at most {MAX_SPAN_DAYS} days.")
    return [start + timedelta(days=i) for i in range((end - start).days)], False, end


def _norm(name: str) -> str:
    """Connector names are normalised: 'GitHub MCP' and 'mcp-github' both match 'github'."""
    words = re.split(r"[\s_\-]+", name.strip().lower())
    return "_".join(w for w in words if w and w not in ("mcp", "server"))


def _group_ref(org: Organization, value: str) -> str:
    """An rbac group given as tagged id, bare id suffix or UUID -> its tagged id."""
    for g in org.rbac_groups:
        if value in (
            g.id,
            g.id.removeprefix("rbac_group_"),
            str(uuid.uuid5(uuid.NAMESPACE_URL, g.id)),
        ):
            return g.id
    return value


def _products(spec: Spec, org: Organization) -> tuple[str, ...]:
    unified = ("chat_cowork_unified",) if org.features.get("chat_cowork_unified") else ()
    return spec.products + unified


def _filters(req: Request, spec: Spec) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    org = req.organization
    for raw in req.params.many("filter", 100):
        dim, sep, value = raw.partition(":")
        if not sep or not value:
            raise invalid(f"filter[]: '{raw}' must have the form dimension:value")
        if dim not in spec.filters:
            raise invalid(
                f"filter[]: unsupported dimension '{dim}' on this endpoint; "
                f"supported: {', '.join(spec.filters)}"
            )
        allowed = {
            "product": _products(spec, org),
            "is_shared": ("true", "false"),
            "share_status": ("organization", "private", "public"),
        }.get(dim)
        if allowed is not None and value not in allowed:
            raise invalid(
                f"filter[]: '{value}' is not a valid {dim}; use one of {', '.join(allowed)}"
            )
        if dim == "rbac_group_id":
            value = _group_ref(org, value)
        elif dim in ("skill_name", "plugin_name"):
            value = value.lower()
        elif dim == "connector_name":
            value = _norm(value)
        out.setdefault(dim, set()).add(value)
    return out


def parse(req: Request, spec: Spec, mode: str = "either") -> Query:
    p = req.params
    offset, payload = read_bound_cursor(p)
    if p.has("page") and payload.get("ep") != spec.name:
        raise invalid("cursor does not match current query parameters")
    limit = p.integer("limit", 100, 1, 1000)
    days, single, end = _dates(req, mode, payload.get("e"))
    filters = _filters(req, spec)
    groups = set(p.enums("group_by", spec.groups))
    group_by = tuple(g for g in CUTS if g in groups)
    if spec is USERS and "project_id" in filters and (group_by or "rbac_group_id" in filters):
        raise invalid(
            "A project_id filter cannot be combined with group_by[] or an rbac_group_id filter."
        )
    order_by = p.one("order_by")
    if spec in (ARTIFACTS, SUMMARIES) and (order_by is not None or p.has("order")):
        raise invalid("order and order_by are not supported on this endpoint")
    if order_by is not None and order_by not in spec.sort + spec.metrics:
        raise invalid(
            f"order_by: '{order_by}' is not supported on this endpoint; use one of "
            f"{', '.join(spec.sort + spec.metrics)}"
        )
    metric = order_by in spec.metrics
    order = p.enum("order", ("asc", "desc"), "desc" if metric else "asc")
    return Query(
        req.sim,
        req.organization,
        spec,
        days,
        single,
        end,
        filters,
        group_by,
        order_by,
        order == "desc",
        limit,
        offset,
    )


# -- aggregation ------------------------------------------------------------------------------


class Acc:
    """Running totals of one output row."""

    __slots__ = ("last", "n", "sets", "users")

    def __init__(self) -> None:
        self.n: dict[str, int] = {}
        self.sets: dict[str, set[str]] = {}
        self.users: set[str] = set()
        self.last: date | None = None

    def add(self, key: str, value: int) -> None:
        self.n[key] = self.n.get(key, 0) + value

    def put(self, key: str, item: str) -> None:
        self.sets.setdefault(key, set()).add(item)

    def v(self, key: str) -> int:
        return self.n.get(key, 0)

    def c(self, key: str) -> int:
        return len(self.sets.get(key, ()))


def _groups_of(q: Query, u: User) -> tuple[str, ...]:
    wanted = q.filters.get("rbac_group_id")
    return tuple(g for g in u.rbac_group_ids if wanted is None or g in wanted)


def _user_days(q: Query) -> Iterator[tuple[date, UserDay]]:
    store = engagement_store(q.sim)
    ids, groups = q.filters.get("user_id"), q.filters.get("rbac_group_id")
    for d in q.days:
        for ud in store.day(q.org, d).users:
            u = ud.user
            if ids is not None and u.id not in ids:
                continue
            if groups is not None and not groups.intersection(u.rbac_group_ids):
                continue
            yield d, ud


Key = tuple[str | None, ...]


def _cuts(q: Query, u: User, product: str | None) -> list[Key]:
    """(product, rbac group, user) keys of the rows a record contributes to."""
    p = product if "product" in q.group_by else None
    uid = u.id if "user_id" in q.group_by else None
    if "rbac_group_id" in q.group_by:
        return [(p, g, uid) for g in _groups_of(q, u)]
    return [(p, None, uid)]


def _key_fields(q: Query, cut: Key) -> Row:
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


def _collect(
    q: Query,
    visit: Callable[[date, UserDay], Iterator[tuple[str, str, Any]]],
    add: Callable[[Acc, Any, str], None],
) -> dict[tuple[Any, ...], Acc]:
    """Aggregate records: `visit` yields (entity key, product, record) per kept record."""
    accs: dict[tuple[Any, ...], Acc] = {}
    for d, ud in _user_days(q):
        for entity, product, rec in visit(d, ud):
            if "product" in q.filters and product not in q.filters["product"]:
                continue
            for cut in _cuts(q, ud.user, product):
                key = (entity, *cut)
                acc = accs.get(key)
                if acc is None:
                    acc = accs[key] = Acc()
                acc.users.add(ud.user.id)
                acc.last = d
                add(acc, rec, ud.user.id)
    return accs


def _ordered(q: Query, items: list[tuple[tuple[Any, ...], Row]]) -> list[Row]:
    items.sort(key=lambda it: tuple("" if v is None else v for v in it[0]))
    rows = [r for _, r in items]
    if q.order_by in q.spec.metrics:
        name = q.order_by
        rows.sort(key=lambda r: -1 if r.get(name) is None else r[name], reverse=q.desc)
    elif q.desc:
        rows.reverse()
    return rows


def _units(acc: Acc, field: str, surfaces: tuple[str, ...]) -> Row:
    return {s: {field: acc.v(f"u:{s}")} for s in surfaces}


def _per_surface(q: Query, acc: Acc, chat_field: str | None, field: str) -> Row:
    """chat/claude_code/cowork/office metric blocks (and unified when available)."""
    row: Row = {}
    if chat_field:
        row["chat_metrics"] = {chat_field: acc.v("u:chat")}
    row["claude_code_metrics"] = {field: acc.v("u:claude_code")}
    row["cowork_metrics"] = {field: acc.v("u:cowork")}
    if chat_field:
        row["office_metrics"] = _units(acc, field, OFFICE_APPS)
    if q.feature("chat_cowork_unified", False):
        row["chat_cowork_unified_metrics"] = (
            {
                "chat": {chat_field: acc.v("u:ccu_chat")},
                "sessions": {field: acc.v("u:ccu_sessions")},
            }
            if chat_field
            else {field: acc.v("u:ccu_sessions")}
        )
    return row


# -- /users -----------------------------------------------------------------------------------

CHAT_COUNTS = (
    "message_count",
    "thinking_message_count",
    "shared_conversations_viewed_count",
    "connectors_used_count",
    "distinct_artifacts_created_count",
    "distinct_projects_created_count",
    "distinct_conversation_count",
    "distinct_files_uploaded_count",
)
CHAT_SETS = (
    ("distinct_projects_used_count", "projects"),
    ("distinct_skills_used_count", "skills"),
    ("distinct_connectors_used_count", "connectors"),
)
COWORK_COUNTS = (
    "message_count",
    "action_count",
    "dispatch_turn_count",
    "connectors_used_count",
    "skills_used_count",
    "artifacts_created_count",
    "distinct_session_count",
)
COWORK_EDITS = (
    "file_edit_count",
    "edit_tool_count",
    "multi_edit_tool_count",
    "notebook_edit_tool_count",
    "write_tool_count",
    "sessions_with_file_edits_count",
)
OFFICE_COUNTS = (
    "message_count",
    "connectors_used_count",
    "skills_used_count",
    "distinct_session_count",
)
SCIENCE_COUNTS = (
    "message_count",
    "delegation_count",
    "remote_compute_job_count",
    "skills_used_count",
    "distinct_session_count",
)


def _chat_block(acc: Acc, b: str) -> Row:
    row: Row = {f: acc.v(f"{b}.{f}") for f in CHAT_COUNTS}
    row.update({f: acc.c(f"{b}.{s}") for f, s in CHAT_SETS})
    row["distinct_shared_artifacts_viewed_count"] = (
        None if b == "ccu_chat" else acc.v(f"{b}.distinct_shared_artifacts_viewed_count")
    )
    return row


def _cowork_block(q: Query, acc: Acc, b: str) -> Row:
    row: Row = {f: acc.v(f"{b}.{f}") for f in COWORK_COUNTS}
    row["distinct_connectors_used_count"] = acc.c(f"{b}.connectors")
    row["distinct_skills_used_count"] = acc.c(f"{b}.skills")
    plugins = q.feature("cowork_plugin_metrics")
    row["distinct_plugins_used_count"] = acc.c(f"{b}.plugins") if plugins else None
    row["plugins_used_count"] = acc.v(f"{b}.plugins_used_count") if plugins else None
    edits = q.feature("cowork_file_edit_metrics")
    row.update({f: acc.v(f"{b}.{f}") if edits else None for f in COWORK_EDITS})
    return row


def _user_row(q: Query, acc: Acc, user: User | None, cut: Key, project_cut: bool) -> Row:
    tools = ("edit", "multi_edit", "notebook_edit", "write")
    row: Row = {
        "user": {"id": user.id, "email_address": user.email, "type": "user"} if user else None,
        "distinct_user_count": None if user else len(acc.users),
        **_key_fields(q, cut),
        "web_search_count": acc.v("web_search_count"),
        "chat_metrics": _chat_block(acc, "chat"),
        "claude_code_metrics": {
            "core_metrics": {
                "commit_count": acc.v("cc.commit_count"),
                "pull_request_count": acc.v("cc.pull_request_count"),
                "lines_of_code": {
                    "added_count": acc.v("cc.lines_added"),
                    "removed_count": acc.v("cc.lines_removed"),
                },
                "artifacts_created_count": acc.v("cc.artifacts_created_count"),
                "distinct_session_count": acc.v("cc.distinct_session_count"),
            },
            "tool_actions": {
                f"{t}_tool": {
                    "accepted_count": acc.v(f"cc.{t}.accepted"),
                    "rejected_count": acc.v(f"cc.{t}.rejected"),
                }
                for t in tools
            },
        },
        "cowork_metrics": _cowork_block(q, acc, "cowork"),
        "design_metrics": {
            "message_count": acc.v("design.message_count"),
            "distinct_projects_created_count": acc.v("design.distinct_projects_created_count"),
            "distinct_projects_used_count": acc.c("design.projects"),
            "distinct_session_count": acc.v("design.distinct_session_count"),
        },
        "office_metrics": {
            app: {
                **{f: acc.v(f"{app}.{f}") for f in OFFICE_COUNTS},
                "distinct_connectors_used_count": acc.c(f"{app}.connectors"),
                "distinct_skills_used_count": acc.c(f"{app}.skills"),
            }
            for app in OFFICE_APPS
        },
        "science_metrics": {f: acc.v(f"science.{f}") for f in SCIENCE_COUNTS},
    }
    if q.feature("chat_cowork_unified", False):
        sessions = _cowork_block(q, acc, "ccu_sessions")
        if project_cut:
            sessions = dict.fromkeys(sessions, 0)
        row["chat_cowork_unified_metrics"] = {
            "chat": _chat_block(acc, "ccu_chat"),
            "sessions": sessions,
        }
    if q.feature("claude_tag", False):
        midpoint = engagement_store(q.sim).catalog(q.org).midpoint
        measured = project_cut or any(d >= midpoint for d in q.days)
        row["claude_tag_metrics"] = {
            "active_day_count": acc.v("tag.active_day_count") if measured else None,
            "active_message_count": acc.v("tag.active_message_count") if measured else None,
        }
    if q.feature("last_activity_date", False):
        row["last_activity_date"] = acc.last.isoformat() if acc.last else None
    return row


def _users(q: Query) -> list[Row]:
    projects = q.filters.get("project_id")
    grouped = bool(q.group_by)
    accs: dict[str, Acc] = {}
    for d, ud in _user_days(q):
        counts: dict[str, int] = ud.counts
        sets: dict[str, frozenset[str]] = ud.sets
        if projects is not None:
            uses = [p for p in ud.projects if p.project.id in projects]
            if not uses:
                continue
            b = "ccu_chat" if ud.unified else "chat"
            counts = {
                f"{b}.message_count": sum(p.messages for p in uses),
                f"{b}.distinct_conversation_count": sum(p.conversations for p in uses),
            }
            sets = {f"{b}.projects": frozenset(p.project.id for p in uses)}
        for key in _groups_of(q, ud.user) if grouped else (ud.user.id,):
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = Acc()
            for k, v in counts.items():
                acc.add(k, v)
            for k, s in sets.items():
                acc.sets.setdefault(k, set()).update(s)
            acc.users.add(ud.user.id)
            acc.last = d
    by_id = {u.id: u for u in q.org.users}
    items: list[tuple[tuple[Any, ...], Row]] = []
    if grouped:
        for gid, acc in accs.items():
            items.append(((gid,), _user_row(q, acc, None, (None, gid, None), False)))
        return _ordered(q, items)
    if q.sim.config.engagement_include_inactive:
        cat = engagement_store(q.sim).catalog(q.org)
        ids, groups = q.filters.get("user_id"), q.filters.get("rbac_group_id")
        for d in q.days:
            for u in cat.members_on(q.org, d):
                if (ids is None or u.id in ids) and (
                    groups is None or groups.intersection(u.rbac_group_ids)
                ):
                    accs.setdefault(u.id, Acc())
    for uid, acc in accs.items():
        user = by_id[uid]
        items.append(
            ((user.email,), _user_row(q, acc, user, (None, None, None), projects is not None))
        )
    return _ordered(q, items)


# -- /skills, /connectors, /plugins, /artifacts, /apps/chat/projects --------------------------


def _skills(q: Query) -> list[Row]:
    cat = engagement_store(q.sim).catalog(q.org)
    names, shares = q.filters.get("skill_name"), q.filters.get("share_status")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.skills:
            if (names is None or r.skill.name.lower() in names) and (
                shares is None or r.skill.share in shares
            ):
                yield r.skill.name, SURFACE_PRODUCT[r.surface], r

    def add(acc: Acc, r: Any, uid: str) -> None:
        acc.add("inv", r.invocations)
        acc.add(f"u:{r.surface}", r.units)
        acc.add("claude_ai", r.surface not in ("claude_code", *OFFICE_APPS))
        acc.add("spend", r.spend or 0)
        acc.add("spend_na", r.spend is None)
        if r.list_price is not None:
            acc.add("list", r.list_price)
            acc.add("attrib", 1)

    accs = _collect(q, visit, add)
    skills = {s.name: s for s in cat.skills}
    spend_on = q.feature("spend_reporting", False)
    office_cut = "office_agent" in q.filters.get("product", ())
    enables = engagement_store(q.sim).day(q.org, q.days[0]).skill_enables if q.single else {}
    items = []
    for key, acc in accs.items():
        s = skills[key[0]]
        office = key[1] == "office_agent" or office_cut
        spend = cents(acc.v("spend")) if spend_on and not (office and acc.v("spend_na")) else None
        listed = cents(acc.v("list")) if spend_on and acc.v("attrib") else None
        row: Row = {
            "skill_name": s.name,
            "skill_display_name": s.display,
            **_key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            "invocation_count": acc.v("inv") if q.feature("invocation_reporting", False) else None,
            "enable_count": None
            if q.cut or not q.single or not q.feature("enable_reporting")
            else enables.get(s.name),
            "share_status": s.share if acc.v("claude_ai") else None,
            "estimated_overage_spend": spend,
            "attributed_list_price": listed,
            "currency": "USD" if spend is not None or listed is not None else None,
            **_per_surface(
                q,
                acc,
                "distinct_conversation_skill_used_count",
                "distinct_session_skill_used_count",
            ),
        }
        items.append((key, row))
    return _ordered(q, items)


def _connectors(q: Query) -> list[Row]:
    names = q.filters.get("connector_name")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.connectors:
            c = r.connector
            if names is None or _norm(c.name) in names or (c.display and _norm(c.display) in names):
                yield c.name, SURFACE_PRODUCT[r.surface], r

    displays: dict[str, str | None] = {}

    def add(acc: Acc, r: Any, uid: str) -> None:
        displays[r.connector.name] = r.connector.display
        acc.add(f"u:{r.surface}", r.units)
        for f in ("read", "write", "unclassified"):
            acc.add(f, getattr(r, f))
        if r.auth != "none":
            acc.add("cred", 1)
            acc.put(r.auth, uid)

    accs = _collect(q, visit, add)
    auth_on = q.feature("managed_auth_reporting") and q.days[0] >= MANAGED_AUTH_START
    split_on = q.feature("call_classification") and q.days[0] >= SPLIT_START
    items = []
    for key, acc in accs.items():
        cred = auth_on and acc.v("cred") > 0
        row: Row = {
            "connector_name": key[0],
            "connector_display_name": displays.get(key[0]),
            **_key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            **_per_surface(
                q,
                acc,
                "distinct_conversation_connector_used_count",
                "distinct_session_connector_used_count",
            ),
            "managed_auth_distinct_user_count": acc.c("managed") if cred else None,
            "individual_auth_distinct_user_count": acc.c("individual") if cred else None,
            "read_call_count": acc.v("read") if split_on else None,
            "write_call_count": acc.v("write") if split_on else None,
            "unclassified_call_count": acc.v("unclassified") if split_on else None,
        }
        items.append((key, row))
    return _ordered(q, items)


def _plugins(q: Query) -> list[Row]:
    names = q.filters.get("plugin_name")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.plugins:
            if names is None or r.plugin.name.lower() in names:
                yield r.plugin.name, SURFACE_PRODUCT[r.surface], r

    ids: dict[str, str | None] = {}

    def add(acc: Acc, r: Any, uid: str) -> None:
        ids[r.plugin.name] = r.plugin.plugin_id
        acc.add("inv", r.invocations)
        acc.add(f"u:{r.surface}", r.sessions)
        if r.installed:
            acc.put("installed", uid)

    items = []
    for key, acc in _collect(q, visit, add).items():
        pid = ids.get(key[0])
        row: Row = {
            "plugin_name": key[0],
            "plugin_id": pid,
            **_key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            "install_count": acc.c("installed") if pid is not None else None,
            "invocation_count": acc.v("inv"),
            **_per_surface(q, acc, None, "distinct_session_plugin_used_count"),
        }
        items.append((key, row))
    return _ordered(q, items)


def _artifacts(q: Query) -> list[Row]:
    types, shared = q.filters.get("artifact_type"), q.filters.get("is_shared")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.artifacts:
            if (types is None or r.artifact_type in types) and (
                shared is None or ("true" if r.shared else "false") in shared
            ):
                yield f"{r.artifact_type}\t{int(r.shared)}", SURFACE_PRODUCT[r.surface], r

    def add(acc: Acc, r: Any, uid: str) -> None:
        acc.add("created", r.created)
        acc.add("published", r.published)

    items = []
    for key, acc in _collect(q, visit, add).items():
        kind, flag = key[0].split("\t")
        row: Row = {
            "artifact_type": kind,
            "is_shared": flag == "1",
            **_key_fields(q, key[1:]),
            "artifacts_created_count": acc.v("created"),
            "published_artifacts_created_count": acc.v("published"),
            "distinct_user_count": len(acc.users),
        }
        items.append((key, row))
    return _ordered(q, items)


def _projects(q: Query) -> list[Row]:
    wanted = q.filters.get("project_id")
    meta: dict[str, Any] = {}

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.projects:
            if wanted is None or r.project.id in wanted:
                yield r.project.id, "chat", r

    def add(acc: Acc, r: Any, uid: str) -> None:
        meta[r.project.id] = r.project
        acc.add("messages", r.messages)
        acc.add("conversations", r.conversations)

    items = []
    for key, acc in _collect(q, visit, add).items():
        p = meta[key[0]]
        creator = p.creator if p.attributed and not p.creator.deleted else None
        row: Row = {
            "project_id": p.id,
            "project_name": p.name,
            "created_at": p.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if p.attributed else None,
            "created_by": {"id": creator.id, "email_address": creator.email, "type": "user"}
            if creator
            else None,
            **_key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            "distinct_conversation_count": acc.v("conversations"),
            "message_count": acc.v("messages"),
        }
        items.append((key, row))
    return _ordered(q, items)


# -- /summaries -------------------------------------------------------------------------------

FAMILIES = ("chat", "claude_code", "claude_design", "office_agent", "science")


def _summaries(q: Query) -> list[Row]:
    store = engagement_store(q.sim)
    org, cat = q.org, store.catalog(q.org)
    first = max(q.days[0] - timedelta(days=29), org.history_start)
    span = [first + timedelta(days=i) for i in range((q.days[-1] - first).days + 1)]
    data = {d: store.day(org, d) for d in span}
    groups = q.filters.get("rbac_group_id")
    scope = -1
    if groups is not None:
        scope = 0
        for i, u in enumerate(org.users):
            if groups.intersection(u.rbac_group_ids):
                scope |= 1 << i
    scoped = groups is not None
    seats = sum(1 for u in org.users if not u.deleted and u.added_at <= q.sim.now())
    invites = sum(1 for i in org.invites if i.status == "pending")
    entitled = sum(1 for u in org.users if u.id in cat.science_entitled and not u.deleted)

    def count(d: date, fam: str, window: int) -> int:
        mask = 0
        for k in range(window):
            day = data.get(d - timedelta(days=k))
            if day is not None:
                mask |= day.masks[fam]
        return (mask & scope).bit_count()

    def tag(d: date, window: int) -> int | None:
        if scoped or not data[d].tag_measured:
            return None
        users: set[str] = set()
        for k in range(window):
            day = data.get(d - timedelta(days=k))
            if day is not None and day.tag_measured:
                users |= day.tag_slack_users
        return len(users)

    def rate(n: int) -> float | None:
        return None if scoped or not seats else round(n / seats * 100, 1)

    rows = []
    for d in q.days:
        dau, wau, mau = (count(d, "active", w) for w in (1, 7, 30))
        start = datetime(d.year, d.month, d.day, tzinfo=UTC)
        row: Row = {
            "starting_at": iso(start),
            "ending_at": iso(start + timedelta(days=1)),
            "daily_active_user_count": dau,
            "weekly_active_user_count": wau,
            "monthly_active_user_count": mau,
            **{
                f"cowork_{p}_active_user_count": count(d, "cowork", w)
                for p, w in (("daily", 1), ("weekly", 7), ("monthly", 30))
            },
            "assigned_seat_count": None if scoped else seats,
            "pending_invite_count": None if scoped else invites,
            "daily_adoption_rate": rate(dau),
            "weekly_adoption_rate": rate(wau),
            "monthly_adoption_rate": rate(mau),
        }
        if q.feature("per_product_summaries", False):
            for fam in FAMILIES:
                for p, w in (("daily", 1), ("weekly", 7), ("monthly", 30)):
                    row[f"{fam}_{p}_active_user_count"] = count(d, fam, w)
            row["science_entitled_user_count"] = None if scoped else entitled
        if q.feature("chat_cowork_unified", False):
            for p, w in (("daily", 1), ("weekly", 7), ("monthly", 30 if scoped else 28)):
                row[f"chat_cowork_unified_{p}_active_user_count"] = count(
                    d, "chat_cowork_unified", w
                )
        if q.feature("claude_tag", False):
            for p, w in (("daily", 1), ("weekly", 7), ("monthly", 28)):
                row[f"claude_tag_{p}_active_user_count"] = tag(d, w)
        rows.append(row)
    return rows


# -- routes -----------------------------------------------------------------------------------


def _rows(q: Query, build: Callable[[Query], list[Row]]) -> list[Row]:
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


def _page(req: Request, q: Query, rows: list[Row]) -> dict[str, Any]:
    end = q.offset + q.limit
    extra = {"ep": q.spec.name, **({"e": q.end.isoformat()} if q.end else {})}
    nxt = bound_cursor(req.params, end, **extra) if end < len(rows) else None
    return {"data": rows[q.offset : end], "next_page": nxt}


def _listing(spec: Spec, build: Callable[[Query], list[Row]]) -> Callable[[Request], Any]:
    def handler(req: Request) -> dict[str, Any]:
        q = parse(req, spec)
        return _page(req, q, _rows(q, build))

    return handler


for _path, _spec, _build in (
    ("users", USERS, _users),
    ("skills", SKILLS, _skills),
    ("connectors", CONNECTORS, _connectors),
    ("plugins", PLUGINS, _plugins),
    ("apps/chat/projects", PROJECTS, _projects),
):
    route(f"{BASE}/{_path}", Auth.ANALYTICS_ENTERPRISE)(_listing(_spec, _build))


@route(f"{BASE}/artifacts", Auth.ANALYTICS_ENTERPRISE)
def artifacts(req: Request) -> dict[str, Any]:
    if req.params.has("page") and not req.params.many("group_by"):
        raise invalid(
            "page is only valid with group_by[]; the ungrouped artifact cube is never paginated."
        )
    q = parse(req, ARTIFACTS, mode="date")
    rows = _rows(q, _artifacts)
    return _page(req, q, rows) if q.group_by else {"data": rows, "next_page": None}


@route(f"{BASE}/summaries", Auth.ANALYTICS_ENTERPRISE)
def summaries(req: Request) -> dict[str, Any]:
    if req.params.has("group_by"):
        raise invalid("group_by[] is not supported on this endpoint")
    q = parse(req, SUMMARIES, mode="range")
    rows = _rows(q, _summaries)
    envelope = req.sim.config.summaries_envelope
    body: dict[str, Any] = {}
    if envelope != "summaries":  # "data" (default), "both"
        body.update({"data": rows, "next_page": None})
    if envelope in ("summaries", "both"):
        body["summaries"] = rows
    return body
