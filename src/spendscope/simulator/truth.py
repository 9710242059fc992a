"""`GET /_simulator/truth`: the true daily totals per organization, straight from the facts.

Query parameters (all optional):
- `org`: organization UUID, tagged id or name (default: every organization);
- `start`, `end`: UTC dates, end exclusive (default: the first day of history to tomorrow);
- `group_by`: fact dimensions to split each day by (repeatable), e.g. `api_key_id`, `user_id`,
  `workspace_id`, `model`, `product`, `service_tier`, `context_window`, `inference_geo`,
  `speed`, `service_account_id`, `account_id`, `actor_type`, `kind`, `claude_tag_category`,
  `slack_channel_id`, `agent_id`, `session_id`, and `rbac_group_id` (any-membership: usage counts
  in each group its user belongs to on its UTC day; usage of users in no group, or of no user,
  under null).

Only usage visible at the simulator's clock is counted (the same horizon the endpoints use), as
revised at that clock. Each organization's own usage only: a parent does not include its
children here, whatever the analytics API shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .aggregate import Acc
from .facts import CODE_EXECUTION, SESSION_USAGE, WEB_SEARCH, Fact, cents
from .params import ApiError, Params
from .state import Simulator
from .world import Organization

GROUPABLE = (
    "api_key_id",
    "workspace_id",
    "user_id",
    "account_id",
    "service_account_id",
    "model",
    "product",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "actor_type",
    "kind",
    "claude_tag_category",
    "slack_channel_id",
    "agent_id",
    "session_id",
    "rbac_group_id",
)
PRIORITY_TIERS = ("priority", "priority_on_demand")


def _keys(org: Organization, f: Fact, dims: list[str]) -> list[tuple[Any, ...]]:
    """The (day, *dims) keys a fact counts under: one, or one per RBAC group of its user that
    day when grouped by `rbac_group_id`."""
    key = [f.day, *(None if d == "rbac_group_id" else getattr(f, d) for d in dims)]
    if "rbac_group_id" not in dims:
        return [tuple(key)]
    at = [1 + i for i, d in enumerate(dims) if d == "rbac_group_id"]
    out = []
    for group in (org.groups_of(f.user_id, f.day) if f.user_id else ()) or (None,):
        for i in at:
            key[i] = group
        out.append(tuple(key))
    return out


def truth(sim: Simulator, params: Params) -> dict[str, Any]:
    now = sim.now()
    dims = params.many("group_by")
    for d in dims:
        if d not in GROUPABLE:
            raise ApiError(
                400,
                "invalid_request_error",
                f"group_by: '{d}' is not one of {', '.join(GROUPABLE)}",
            )
    start_d = params.date("start") or sim.world.history_start
    end_d = params.date("end") or (now.date() + timedelta(days=1))
    ref = params.one("org")
    orgs = sim.world.orgs
    if ref:
        o = sim.world.org_by_ref(ref)
        if o is None:
            raise ApiError(404, "not_found_error", f"no organization '{ref}'")
        orgs = [o]
    start = datetime(start_d.year, start_d.month, start_d.day, tzinfo=UTC)
    end = datetime(end_d.year, end_d.month, end_d.day, tzinfo=UTC)

    out = []
    for org in orgs:
        groups: dict[tuple[Any, ...], Acc] = {}
        prio: dict[tuple[Any, ...], Acc] = {}
        for f in sim.store.facts(org, start, end, now):
            priority = f.service_tier in PRIORITY_TIERS
            for k in _keys(org, f, dims):
                groups.setdefault(k, Acc()).add(f)
                if priority:
                    prio.setdefault(k, Acc()).add(f)
        rows = []
        for k in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k)):
            acc = groups[k]
            p = prio.get(k)
            row: dict[str, Any] = {"date": k[0].isoformat()}
            if dims:
                row["group"] = dict(zip(dims, k[1:], strict=True))
            row.update(
                uncached_input_tokens=acc.uncached,
                cache_read_input_tokens=acc.cache_read,
                cache_creation_5m_input_tokens=acc.cache_5m,
                cache_creation_1h_input_tokens=acc.cache_1h,
                output_tokens=acc.output,
                web_search_requests=acc.web_search,
                requests=acc.requests,
                cost_cents=cents(acc.amount()),
                list_cost_cents=cents(acc.list_amount()),
                token_cost_cents=cents(acc.amount(range(5))),
                web_search_cost_cents=cents(acc.cost[WEB_SEARCH]),
                code_execution_cost_cents=cents(acc.cost[CODE_EXECUTION]),
                session_usage_cost_cents=cents(acc.cost[SESSION_USAGE]),
                priority_cost_cents=cents(p.amount() if p else 0),
            )
            rows.append(row)
        out.append(
            {
                "id": org.id,
                "tagged_id": org.tagged_id,
                "name": org.name,
                "kind": org.kind,
                "days": rows,
            }
        )
    return {
        "now": now.isoformat().replace("+00:00", "Z"),
        "horizon": sim.store.horizon(now).isoformat().replace("+00:00", "Z"),
        "group_by": dims,
        "organizations": out,
    }
