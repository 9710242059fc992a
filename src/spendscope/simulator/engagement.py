"""Claude Enterprise engagement / adoption endpoints (Family D, anthropic-api.md §6).

`/v1/organizations/analytics/{users,summaries,skills,connectors,plugins,artifacts,
apps/chat/projects}`: rows aggregated from the per-day data of `engagement_data`, in single-day
(`date`) or range (`starting_date`/`ending_date`) mode, filtered, grouped, ordered and paged with
an opaque cursor bound to the query. Whole query results are cached so later pages are cheap.

Routes and request parsing live here; the query model is `engagement_query`, the rows
`engagement_users`, `engagement_rows` and `engagement_summaries`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from .engagement_query import (
    ARTIFACTS,
    CONNECTORS,
    CUTS,
    PLUGINS,
    PROJECTS,
    SKILLS,
    SUMMARIES,
    USERS,
    Query,
    Row,
    Spec,
    cached_rows,
    norm,
    page,
)
from .engagement_rows import (
    artifact_rows,
    connector_rows,
    plugin_rows,
    project_rows,
    skill_rows,
)
from .engagement_summaries import summary_rows
from .engagement_users import user_rows
from .params import invalid, read_bound_cursor
from .routing import Auth, Request, RouteTable
from .state import Simulator
from .world import Organization

routes = RouteTable()
FLOOR = date(2026, 1, 1)
MAX_SPAN_DAYS = 366
BASE = "/v1/organizations/analytics"


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
            value = norm(value)
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


# -- routes -----------------------------------------------------------------------------------


def _listing(spec: Spec, build: Callable[[Query], list[Row]]) -> Callable[[Request], Any]:
    def handler(req: Request) -> dict[str, Any]:
        q = parse(req, spec)
        return page(req, q, cached_rows(q, build))

    return handler


for _path, _spec, _build in (
    ("users", USERS, user_rows),
    ("skills", SKILLS, skill_rows),
    ("connectors", CONNECTORS, connector_rows),
    ("plugins", PLUGINS, plugin_rows),
    ("apps/chat/projects", PROJECTS, project_rows),
):
    routes.get(f"{BASE}/{_path}", Auth.ANALYTICS_ENTERPRISE)(_listing(_spec, _build))


@routes.get(f"{BASE}/artifacts", Auth.ANALYTICS_ENTERPRISE)
def artifacts(req: Request) -> dict[str, Any]:
    if req.params.has("page") and not req.params.many("group_by"):
        raise invalid(
            "page is only valid with group_by[]; the ungrouped artifact cube is never paginated."
        )
    q = parse(req, ARTIFACTS, mode="date")
    rows = cached_rows(q, artifact_rows)
    return page(req, q, rows) if q.group_by else {"data": rows, "next_page": None}


@routes.get(f"{BASE}/summaries", Auth.ANALYTICS_ENTERPRISE)
def summaries(req: Request) -> dict[str, Any]:
    if req.params.has("group_by"):
        raise invalid("group_by[] is not supported on this endpoint")
    q = parse(req, SUMMARIES, mode="range")
    rows = cached_rows(q, summary_rows)
    envelope = req.sim.config.summaries_envelope
    body: dict[str, Any] = {}
    if envelope != "summaries":  # "data" (default), "both"
        body.update({"data": rows, "next_page": None})
    if envelope in ("summaries", "both"):
        body["summaries"] = rows
    return body
