"""Claude Enterprise Spend Limits API (finops-features.md §6; shapes as in SDK 2.10.0).

- `GET /v1/organizations/spend_limits/effective`: a row per current member and period with the
  cap in force, its source and the spend this period; token cursor (`limit`, `page`) bound to
  the filters `user_ids[]` and `period[]`.
- `GET /v1/organizations/spend_limits` (beta `spend-limit-reads-2026-09-26`) and `GET
  …/{id}`: the limits configured; `POST …` upserts a per-user override (keyed on scope and
  period), `DELETE …/{id}` removes one (the member falls back to the inherited cap).

Enterprise organizations only (a Console one gets `spend_limits_console_status`: 400
`organization_type_not_supported` by default); `read:spend_limits` to read, `write:spend_limits`
to write; the server rate-limits the endpoints together (`spend_limits_rpm` per organization).

The policy derives from the seed: an organization default ($200), a cap for the
`enterprise_standard` seat tier ($100; `enterprise_premium` has none), caps for two RBAC groups
(Research $300, Support $50), and overrides for seven members — four of the busier half at 0.7,
0.9, 1.1 and 1.3 times their spend of the previous calendar month (rounded up to $5), so that
part-way through a month some are near or past their cap; two unlimited (`amount: null`); one
`"0"` (nothing beyond the plan). In force: the member's override, else their RBAC groups' cap
(the highest), else their seat tier's, else the organization's. Amounts: minor units (cents).

`period_to_date_spend` is the member's billed spend since 00:00 UTC on the 1st, from the facts
every report sums (`/_simulator/truth?group_by=user_id`), in cents with at most three decimals.
It reads `"0"` with no spend yet and, each UTC day, for a seeded share of members
(`spend_limits_unavailable_rate`): temporarily unavailable. Usage does not stop at a cap.
Overrides written through the API live in memory, per running simulator.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

import orjson

from .admin import org_members, token_page
from .facts import MICRO
from .params import ApiError, invalid
from .routing import Auth, Request, Route, RouteTable
from .seeded import seeded_rng, tagged_id
from .state import Simulator
from .world import ENTERPRISE, Organization, User

routes = RouteTable()
JSON = dict[str, Any]

_PATH = "/v1/organizations/spend_limits"
READ = "read:spend_limits"
WRITE = "write:spend_limits"
CURRENCY = "USD"
MONTHLY = "monthly"
PERIODS = ("daily", "monthly", "weekly")
BETA_READS = "spend-limit-reads-2026-09-26"
# `GET /spend_limits` lists an Enterprise organization's limits in this order of scope types.
SCOPE_ORDER = ("organization", "seat_tier", "rbac_group", "organization_service", "user")
MAX_USER_IDS = 100

ORG_DEFAULT = 20000  # cents
TIER_CAPS: dict[str, int | None] = {"enterprise_standard": 10000, "enterprise_premium": None}
GROUP_CAPS = {"Research": 30000, "Support": 5000}  # by RBAC group name
# Per-user overrides: None = unlimited, "0" = nothing beyond the plan, a float = that many
# times last month's spend.
OVERRIDE_PLAN: tuple[float | str | None, ...] = (None, None, "0", 0.7, 0.9, 1.1, 1.3)
ROUND_TO = 500  # override caps are rounded up to $5
UNKNOWN_SOURCE = {"type": "custom_policy", "policy_id": "policy_01SimulatedUnknownType"}


# -- the policy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """One spend limit object: an organization default, a tier's, a group's or a user's cap."""

    id: str
    scope: JSON  # {"type": "organization"} | seat_tier | rbac_group | user
    amount: str | None  # minor units; None = unlimited
    created_at: datetime
    updated_at: datetime
    period: str = MONTHLY

    def to_json(self) -> JSON:
        return {
            "type": "spend_limit",
            "id": self.id,
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at),
            "scope": dict(self.scope),
            "amount": self.amount,
            "currency": CURRENCY,
            "period": self.period,
            "is_enabled": True,
        }


@dataclass(slots=True)
class Policy:
    """An organization's limits: the fixed ones, and the per-user overrides in force."""

    organization: Limit
    tiers: dict[str, Limit]
    groups: dict[str, Limit]  # rbac_group_id -> limit
    users: dict[str, Limit] = field(default_factory=dict)  # user_id -> override
    seat_tier: dict[str, str] = field(default_factory=dict)  # user_id -> tier

    def every(self) -> list[Limit]:
        fixed = [self.organization, *self.tiers.values(), *self.groups.values()]
        return [*fixed, *self.users.values()]

    def by_id(self, limit_id: str) -> Limit | None:
        return next((x for x in self.every() if x.id == limit_id), None)


@dataclass(slots=True)
class _OrgState:
    policy: Policy
    month: date  # the month the generated overrides were sized for
    written: dict[str, Limit | None] = field(default_factory=dict)  # POST/DELETE: None = gone
    serial: int = 0


_states: WeakKeyDictionary[Simulator, dict[str, _OrgState]] = WeakKeyDictionary()
_lock = threading.RLock()


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _limit_id(seed: int, org: Organization, *parts: object) -> str:
    return tagged_id(seeded_rng(seed, org.id, "spend_limit", *parts), "spl_01")


def _created(org: Organization, days: int) -> datetime:
    return _day_start(org.history_start) + timedelta(days=days, hours=9)


def last_month_spend(sim: Simulator, org: Organization, month: date) -> dict[str, int]:
    """Micro-cents per user over the calendar month before `month`, as first reported (before
    any revision): fixed once the month is over, whatever the clock."""
    first = _month_start(month - timedelta(days=1))
    out: dict[str, int] = {}
    day = first
    while day < month:
        for f in sim.store.day_facts(org, day, _day_start(day + timedelta(days=1))):
            if f.user_id:
                out[f.user_id] = out.get(f.user_id, 0) + sum(f.cost)
        day += timedelta(days=1)
    return out


def _sized(micro: int, factor: float) -> str:
    cents = micro / MICRO * factor
    return str(max(ROUND_TO * 2, math.ceil(cents / ROUND_TO) * ROUND_TO))


def build_policy(sim: Simulator, org: Organization, month: date) -> Policy:
    """The organization's generated policy, its usage-sized overrides sized for `month`."""
    seed = sim.world.seed
    org_limit = Limit(
        _limit_id(seed, org, "organization"),
        {"type": "organization"},
        str(ORG_DEFAULT),
        _created(org, 0),
        _created(org, 0),
    )
    tiers = {
        tier: Limit(
            _limit_id(seed, org, "seat_tier", tier),
            {"type": "seat_tier", "seat_tier": tier},
            str(cents),
            _created(org, 1),
            _created(org, 1),
        )
        for tier, cents in TIER_CAPS.items()
        if cents is not None
    }
    groups = {
        g.id: Limit(
            _limit_id(seed, org, "rbac_group", g.id),
            {"type": "rbac_group", "rbac_group_id": g.id},
            str(GROUP_CAPS[g.name]),
            _created(org, 2),
            _created(org, 2),
        )
        for g in org.rbac_groups
        if g.name in GROUP_CAPS
    }
    members = sorted((u for u in org.users if not u.deleted), key=lambda u: u.id)
    seat_tier = {}
    for u in members:
        premium = u.role in ("owner", "primary_owner")
        premium = premium or seeded_rng(seed, org.id, "seat_tier", u.id).random() < 0.25
        seat_tier[u.id] = "enterprise_premium" if premium else "enterprise_standard"
    # Usage-sized overrides go to members of the busier half (by their activity level), so
    # that the cap means something; the others to anyone else.
    rng = seeded_rng(seed, org.id, "spend_limit_overrides")
    ranked = sorted(members, key=lambda u: (-u.intensity, u.id))
    busy, rest = ranked[: len(ranked) // 2], ranked[len(ranked) // 2 :]
    sized = [p for p in OVERRIDE_PLAN if isinstance(p, float)]
    fixed = [p for p in OVERRIDE_PLAN if not isinstance(p, float)]
    picks = [
        *zip(rng.sample(busy, min(len(busy), len(sized))), sized, strict=False),
        *zip(rng.sample(rest, min(len(rest), len(fixed))), fixed, strict=False),
    ]
    spent = last_month_spend(sim, org, month)
    users = {}
    for i, (u, plan) in enumerate(picks):
        amount: str | None
        if isinstance(plan, float):
            amount = _sized(spent[u.id], plan) if spent.get(u.id) else str(ORG_DEFAULT)
        else:
            amount = plan
        created = _created(org, 30 + 7 * i)
        users[u.id] = Limit(
            _limit_id(seed, org, "user", u.id, MONTHLY),
            {"type": "user", "user_id": u.id},
            amount,
            created,
            max(created, _day_start(month)) if isinstance(plan, float) else created,
        )
    return Policy(org_limit, tiers, groups, users, seat_tier)


def _org_state(sim: Simulator, org: Organization) -> _OrgState:
    """The organization's policy for the clock's month: overrides sized anew each month, the
    ones written through the API applied on top."""
    month = _month_start(sim.now().date())
    with _lock:
        states = _states.setdefault(sim, {})
        state = states.get(org.id)
        if state is not None and state.month == month:
            return state
    policy = build_policy(sim, org, month)
    with _lock:
        state = states.get(org.id)
        if state is None:
            state = states[org.id] = _OrgState(policy, month)
        elif state.month != month:
            state.policy, state.month = policy, month
        return state


def current_policy(sim: Simulator, org: Organization) -> Policy:
    """The organization's policy in force at the clock, written overrides included."""
    state = _org_state(sim, org)
    with _lock:
        return _policy(state)


def _policy(state: _OrgState) -> Policy:
    users = dict(state.policy.users)
    for user_id, written in state.written.items():
        if written is None:
            users.pop(user_id, None)
        else:
            users[user_id] = written
    return replace(state.policy, users=users)


def effective(policy: Policy, org: Organization, user: User, now: datetime) -> Limit:
    """The limit in force for a member (its scope is the row's `source`)."""
    own = policy.users.get(user.id)
    if own is not None:
        return own
    held = {m.group_id for m in org.memberships if m.user_id == user.id and m.active_at(now)}
    capped = [limit for group_id, limit in policy.groups.items() if group_id in held]
    if capped:
        return max(capped, key=lambda x: int(x.amount or 0))
    tier = policy.seat_tier.get(user.id, "enterprise_standard")
    return policy.tiers.get(tier, policy.organization)


# -- spend ------------------------------------------------------------------------------------


def month_spend(sim: Simulator, org: Organization, now: datetime) -> dict[str, int]:
    """Micro-cents per user since 00:00 UTC on the 1st, as visible at `now`."""
    start = _day_start(_month_start(now.date()))
    out: dict[str, int] = {}
    for f in sim.store.facts(org, start, now, now):
        if f.user_id:
            out[f.user_id] = out.get(f.user_id, 0) + sum(f.cost)
    return out


def minor_units(micro: int) -> str:
    """Micro-cents as the API's decimal string of cents: at most three decimals (rounded half
    to even), no trailing zeros, e.g. `"41280.125"`."""
    milli, rest = divmod(micro, 1000)
    if rest > 500 or (rest == 500 and milli % 2):
        milli += 1
    whole, frac = divmod(milli, 1000)
    digits = f"{frac:03d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def unavailable(sim: Simulator, org: Organization, user_id: str, day: date) -> bool:
    """Whether this member's spend reads "0" (temporarily unavailable) on this UTC day."""
    rate = sim.config.spend_limits_unavailable_rate
    return rate > 0 and seeded_rng(sim.world.seed, org.id, "ptd", user_id, day).random() < rate


# -- authentication -----------------------------------------------------------------------------


def authorize(req: Request, rt: Route) -> None:
    """Enterprise organizations only; the route's scope (read or write) on the key."""
    org, cred = req.organization, req.credential
    assert cred is not None
    if org.kind != ENTERPRISE:
        status = req.sim.config.spend_limits_console_status
        message = "Spend limits are available to Claude Enterprise organizations only."
        if status == 404:
            raise ApiError(404, "not_found_error", f"Not found: {req.path}")
        if status == 403:
            raise ApiError(403, "permission_error", message)
        raise ApiError(400, "invalid_request_error", message, "organization_type_not_supported")
    needed = rt.scope or READ
    if needed not in cred.scopes:
        raise ApiError(
            403,
            "permission_error",
            f"Missing required scopes. Got: {list(cred.scopes)} Needed one of: ['{needed}']",
            "api_key_scope_missing",
        )
    if needed == WRITE and not req.sim.config.spend_limits_writes_enabled:
        raise ApiError(
            403,
            "permission_error",
            "Changing spend limits through the Admin API is not enabled for this organization.",
            "spend_limits_admin_api_writes_not_enabled",
        )


# -- endpoints ----------------------------------------------------------------------------------


def effective_row(
    sim: Simulator, org: Organization, policy: Policy, user: User, spent: int
) -> JSON:
    now = sim.now()
    limit = effective(policy, org, user, now)
    source = dict(limit.scope)
    if sim.config.spend_limits_unknown_source and source["type"] == "organization":
        source = dict(UNKNOWN_SOURCE)
    ptd = "0" if unavailable(sim, org, user.id, now.date()) else minor_units(spent)
    return {
        "scope": {"type": "user", "user_id": user.id},
        "actor": {
            "type": "user_actor",
            "user_id": user.id,
            "name": user.name,
            "email_address": user.email,
            "deleted": user.deleted,
        },
        "amount": limit.amount,
        "currency": CURRENCY,
        "period": limit.period,
        "source": source,
        "spend_limit_id": limit.id,
        "period_to_date_spend": ptd,
    }


@routes.get(f"{_PATH}/effective", Auth.SPEND_LIMITS, scope=READ)
def list_effective(req: Request) -> JSON:
    sim, org, params = req.sim, req.organization, req.params
    wanted = set(params.many("user_ids", MAX_USER_IDS))
    periods = set(params.enums("period", PERIODS))
    policy = current_policy(sim, org)
    spent = month_spend(sim, org, sim.now())
    rows = [
        effective_row(sim, org, policy, u, spent.get(u.id, 0))
        for u in org_members(org)
        if not wanted or u.id in wanted
    ]
    rows = [r for r in rows if not periods or r["period"] in periods]
    return token_page(params, rows)


@routes.get(_PATH, Auth.SPEND_LIMITS, scope=READ)
def list_limits(req: Request) -> JSON:
    """The limits configured (beta): by scope type in `SCOPE_ORDER`, then by id."""
    if req.sim.config.require_beta_header and BETA_READS not in req.betas:
        raise invalid(f"This endpoint requires the beta header 'anthropic-beta: {BETA_READS}'")
    types = set(req.params.enums("scope_type", (*SCOPE_ORDER, "usage_tier", "workspace")))
    if types - set(SCOPE_ORDER) or req.params.one("workspace_id"):
        raise invalid("usage_tier and workspace limits are Claude Console organizations' only")
    rank = {kind: i for i, kind in enumerate(SCOPE_ORDER)}
    every = sorted(
        current_policy(req.sim, req.organization).every(),
        key=lambda x: (rank[str(x.scope["type"])], x.id),
    )
    rows = [x.to_json() for x in every if not types or x.scope["type"] in types]
    return token_page(req.params, rows)


@routes.get(f"{_PATH}/{{spend_limit_id}}", Auth.SPEND_LIMITS, scope=READ)
def get_limit(req: Request) -> JSON:
    limit_id = req.match["spend_limit_id"]
    found = current_policy(req.sim, req.organization).by_id(limit_id)
    if found is None:
        raise ApiError(404, "not_found_error", f"Spend limit not found: {limit_id}")
    return found.to_json()


def _body(req: Request) -> JSON:
    try:
        data = orjson.loads(req.body or b"null")
    except orjson.JSONDecodeError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


def _amount(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdigit() or not value.isascii():
        raise invalid('amount: must be a string of minor units (e.g. "50000") or null')
    return str(int(value))


@routes.post(_PATH, Auth.SPEND_LIMITS, scope=WRITE)
def upsert_limit(req: Request) -> JSON:
    sim, org = req.sim, req.organization
    body = _body(req)
    scope = body.get("scope")
    if not isinstance(scope, dict) or scope.get("type") != "user":
        raise invalid('scope: only {"type": "user", "user_id": ...} is supported')
    user_id = scope.get("user_id")
    if not any(u.id == user_id for u in org_members(org)):
        raise invalid(f"scope.user_id: '{user_id}' is not a member of this organization")
    if "amount" not in body:
        raise invalid("amount: field required")
    amount = _amount(body["amount"])
    period = body.get("period", MONTHLY)
    if period != MONTHLY:
        raise invalid(f"period: '{period}' is not one of {MONTHLY}")
    return write_user_limit(sim, org, str(user_id), amount).to_json()


def write_user_limit(sim: Simulator, org: Organization, user_id: str, amount: str | None) -> Limit:
    """Set (or update) a member's monthly override, as the clock reads now."""
    now = sim.now()
    state = _org_state(sim, org)
    with _lock:
        old = _policy(state).users.get(user_id)
        if old is not None:
            new = replace(old, amount=amount, updated_at=now)
        else:
            state.serial += 1
            new = Limit(
                _limit_id(sim.world.seed, org, "written", user_id, state.serial),
                {"type": "user", "user_id": user_id},
                amount,
                now,
                now,
            )
        state.written[user_id] = new
    return new


@routes.delete(f"{_PATH}/{{spend_limit_id}}", Auth.SPEND_LIMITS, scope=WRITE)
def delete_limit(req: Request) -> JSON:
    limit_id = req.match["spend_limit_id"]
    state = _org_state(req.sim, req.organization)
    with _lock:
        found = _policy(state).by_id(limit_id)
        if found is None:
            raise ApiError(404, "not_found_error", f"Spend limit not found: {limit_id}")
        if found.scope.get("type") != "user":
            raise invalid("Only per-user spend limits can be deleted.")
        state.written[str(found.scope["user_id"])] = None
    return {"type": "spend_limit_deleted", "id": limit_id}
