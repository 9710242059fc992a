"""Spend limit increase requests (finops-features.md §6; shapes as in SDK 2.10.0's
`SpendLimitIncreaseRequest` and `IncreaseRequestApproveResponse`).

- `GET /v1/organizations/spend_limit_increase_requests`: newest first; filters `status[]`
  (`pending`, `approved`, `denied`) and `actor_ids[]`; token cursor (`limit`, `page`) bound to
  the filters. A pending request carries the requester's live `spend_summary` (their row of
  `GET /spend_limits/effective`); a resolved one has none. Requests of former members are left
  out.
- `GET …/{id}`; `POST …/{id}/approve` (body `amount`, optional `period` and
  `suppress_notification`) writes the requester's per-user override at `amount`, as
  `POST /spend_limits` would, and answers with it as `spend_limit`; `POST …/{id}/deny`. Approved
  and denied are final: approving or denying again is a 400.

The same credentials, scopes and rate-limit bucket as the other spend-limit endpoints. Each
Enterprise organization starts with ten requests from the seed — four pending (from the last
three days), three approved and three denied (from the last six weeks) — dated from the clock's
UTC day when the organization's requests are first read; decisions made through the API live in
memory, per running simulator.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

import orjson

from .admin import org_members, token_page
from .params import ApiError, invalid
from .routing import Auth, Request, RouteTable
from .seeded import seeded_rng, tagged_id
from .spend_limits import (
    MONTHLY,
    READ,
    WRITE,
    Policy,
    current_policy,
    effective_row,
    month_spend,
    write_user_limit,
)
from .state import Simulator
from .world import Organization, User

routes = RouteTable()
JSON = dict[str, Any]

_PATH = "/v1/organizations/spend_limit_increase_requests"
PENDING, APPROVED, DENIED = "pending", "approved", "denied"
STATUSES = (APPROVED, DENIED, PENDING)
MAX_ACTOR_IDS = 100
# The seeded requests, in the order they are drawn: four pending, three approved, three denied.
SEED_PLAN = (PENDING,) * 4 + (APPROVED,) * 3 + (DENIED,) * 3


@dataclass(slots=True)
class IncreaseRequest:
    id: str
    user_id: str
    created_at: datetime
    status: str = PENDING
    resolved_at: datetime | None = None
    resolved_by: JSON | None = None
    period: str = MONTHLY


_states: WeakKeyDictionary[Simulator, dict[str, list[IncreaseRequest]]] = WeakKeyDictionary()
_lock = threading.RLock()


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _user_actor(user: User) -> JSON:
    return {
        "type": "user_actor",
        "user_id": user.id,
        "name": user.name,
        "email_address": user.email,
        "deleted": user.deleted,
    }


def seed_requests(sim: Simulator, org: Organization, today: datetime) -> list[IncreaseRequest]:
    """The organization's seeded requests, dated back from 00:00 UTC of `today`: requesters
    from the busier half of the members (a member may have asked more than once)."""
    seed = sim.world.seed
    rng = seeded_rng(seed, org.id, "spend_limit_increase_requests")
    members = sorted(org_members(org), key=lambda u: (-u.intensity, u.id))
    if not members:
        return []
    busy = members[: max(1, len(members) // 2)]
    owners = [u for u in members if u.role in ("primary_owner", "owner")] or members[:1]
    deciders = sorted(owners, key=lambda u: u.id)
    out = []
    for i, status in enumerate(SEED_PLAN):
        user = rng.choice(busy)
        rid = tagged_id(seeded_rng(seed, org.id, "spend_limit_increase_request", i), "slir_01")
        if status == PENDING:
            created = today - timedelta(minutes=rng.randint(30, 72 * 60))
            out.append(IncreaseRequest(rid, user.id, created))
            continue
        created = today - timedelta(minutes=rng.randint(4 * 24 * 60, 42 * 24 * 60))
        resolved = created + timedelta(minutes=rng.randint(20, 30 * 60))
        decider = _user_actor(rng.choice(deciders))
        out.append(IncreaseRequest(rid, user.id, created, status, resolved, decider))
    return out


def _requests(sim: Simulator, org: Organization) -> list[IncreaseRequest]:
    with _lock:
        states = _states.setdefault(sim, {})
        found = states.get(org.id)
        if found is None:
            now = sim.now()
            today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
            found = states[org.id] = seed_requests(sim, org, today)
        return found


class _Summaries:
    """Live spend summaries for one response: the policy and the month's spend read once."""

    def __init__(self, sim: Simulator, org: Organization) -> None:
        self.sim, self.org = sim, org
        self._read: tuple[Policy, dict[str, int]] | None = None

    def of(self, user: User) -> JSON:
        if self._read is None:
            now = self.sim.now()
            self._read = current_policy(self.sim, self.org), month_spend(self.sim, self.org, now)
        policy, spent = self._read
        return effective_row(self.sim, self.org, policy, user, spent.get(user.id, 0))


def _to_json(item: IncreaseRequest, user: User, summaries: _Summaries) -> JSON:
    return {
        "type": "spend_limit_increase_request",
        "id": item.id,
        "actor": _user_actor(user),
        "created_at": _stamp(item.created_at),
        "period": item.period,
        "status": item.status,
        "resolved_at": _stamp(item.resolved_at) if item.resolved_at else None,
        "resolved_by": dict(item.resolved_by) if item.resolved_by else None,
        "spend_summary": summaries.of(user) if item.status == PENDING else None,
    }


def _visible(req: Request) -> list[tuple[IncreaseRequest, User]]:
    """The organization's requests by current members, newest first."""
    members = {u.id: u for u in org_members(req.organization)}
    with _lock:
        every = _requests(req.sim, req.organization)
        items = [(r, members[r.user_id]) for r in every if r.user_id in members]
    items.sort(key=lambda x: (x[0].created_at, x[0].id), reverse=True)
    return items


def _find(req: Request) -> tuple[IncreaseRequest, User]:
    rid = req.match["request_id"]
    for item, user in _visible(req):
        if item.id == rid:
            return item, user
    raise ApiError(404, "not_found_error", f"Spend limit increase request not found: {rid}")


# -- endpoints ----------------------------------------------------------------------------------


@routes.get(_PATH, Auth.SPEND_LIMITS, scope=READ)
def list_requests(req: Request) -> JSON:
    params = req.params
    statuses = set(params.enums("status", STATUSES))
    actors = set(params.many("actor_ids", MAX_ACTOR_IDS))
    summaries = _Summaries(req.sim, req.organization)
    picked = [
        (item, user)
        for item, user in _visible(req)
        if (not statuses or item.status in statuses) and (not actors or user.id in actors)
    ]
    # Paginate first, then render: only the page's pending requests need a spend summary.
    page = token_page(params, [{"i": i} for i in range(len(picked))])
    shown = [picked[row["i"]] for row in page["data"]]
    data = [_to_json(item, user, summaries) for item, user in shown]
    return {"data": data, "next_page": page["next_page"]}


@routes.get(f"{_PATH}/{{request_id}}", Auth.SPEND_LIMITS, scope=READ)
def get_request(req: Request) -> JSON:
    item, user = _find(req)
    return _to_json(item, user, _Summaries(req.sim, req.organization))


def _body(req: Request) -> JSON:
    if not req.body.strip():
        return {}
    try:
        data = orjson.loads(req.body)
    except orjson.JSONDecodeError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    if not isinstance(data.get("suppress_notification", False), bool):
        raise invalid("suppress_notification: must be a boolean")
    return data


def _key_actor(req: Request) -> JSON:
    """The scoped Admin API key that made the decision, by a stable id derived from it."""
    assert req.credential is not None
    key_id = tagged_id(seeded_rng(0, "scoped_api_key", req.credential.secret), "apikey_01")
    return {"type": "scoped_api_key_actor", "scoped_api_key_id": key_id}


def _resolve(req: Request, status: str) -> tuple[IncreaseRequest, User]:
    """Mark a pending request resolved (under the lock the caller holds)."""
    item, user = _find(req)
    if item.status != PENDING:
        raise invalid(f"Spend limit increase request {item.id} is already {item.status}.")
    item.status, item.resolved_at, item.resolved_by = status, req.sim.now(), _key_actor(req)
    return item, user


@routes.post(f"{_PATH}/{{request_id}}/approve", Auth.SPEND_LIMITS, scope=WRITE)
def approve_request(req: Request) -> JSON:
    body = _body(req)
    amount = body.get("amount")
    if not isinstance(amount, str) or not amount.isdigit() or not amount.isascii():
        raise invalid('amount: must be a string of minor units (e.g. "50000")')
    period = body.get("period")
    if period is not None and period != MONTHLY:
        raise invalid(f"period: '{period}' is not one of {MONTHLY}")
    with _lock:
        item, user = _resolve(req, APPROVED)
        limit = write_user_limit(req.sim, req.organization, user.id, str(int(amount)))
    out = _to_json(item, user, _Summaries(req.sim, req.organization))
    return {**out, "spend_limit": limit.to_json()}


@routes.post(f"{_PATH}/{{request_id}}/deny", Auth.SPEND_LIMITS, scope=WRITE)
def deny_request(req: Request) -> JSON:
    _body(req)
    with _lock:
        item, user = _resolve(req, DENIED)
    return _to_json(item, user, _Summaries(req.sim, req.organization))
