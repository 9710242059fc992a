"""What cost allocation by team needs from the simulator: RBAC group memberships that change over
time (and every `rbac_group_id` report following each day's membership), API keys named after
teams, and a shared default workspace with spend from several keys."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from conftest import NOW, Api
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.world import Organization, RbacMembership
from spendscope.simulator.world_generation import build_world

ORG = "/v1/organizations"
START, END = "2026-10-21", "2026-11-21"  # 31 days, with joins, removals and a move inside
TEAM = re.compile(r"^team-([a-z]+)-[a-z]+$")


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for k, v in params.items():
        for item in v if isinstance(v, list) else [v]:
            pairs.append((f"{k}[]" if isinstance(v, list) else k, str(item)))
    return pairs


def _pages(api: Api, key: str, path: str, beta: bool = False, **params: Any) -> list[Any]:
    """Every row of a token-cursor list (`data`, `next_page`)."""
    rows: list[Any] = []
    page: str | None = None
    while True:
        extra = {"page": page} if page else {}
        r = api.get(path, key, _query({**params, **extra}), beta=beta)
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body["data"]
        page = body.get("next_page")
        if not page:
            return rows


def _members(api: Api, key: str, org: Organization) -> dict[str, dict[str, str]]:
    """group id -> {user id: created_at} as `GET /rbac_groups/{id}/members` lists them."""
    return {
        g.id: {
            m["user_id"]: m["created_at"]
            for m in _pages(api, key, f"{ORG}/rbac_groups/{g.id}/members", limit=7)
        }
        for g in org.rbac_groups
    }


def _expected_members(org: Organization, at: datetime) -> dict[str, dict[str, str]]:
    deleted = {u.id for u in org.users if u.deleted}
    return {
        g.id: {
            m.user_id: m.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            for m in org.members_at(g.id, at)
            if m.user_id not in deleted
        }
        for g in org.rbac_groups
    }


def _changes(org: Organization) -> tuple[list[RbacMembership], list[RbacMembership]]:
    """Joins by users already in the organization (and after the group existed), removals."""
    added = {u.id: u.added_at for u in org.users}
    created = {g.id: g.created_at for g in org.rbac_groups}
    joins = [
        m
        for m in org.memberships
        if m.start > added[m.user_id] + timedelta(days=1)
        and m.start > created[m.group_id] + timedelta(days=1)
    ]
    return joins, [m for m in org.memberships if m.end is not None]


def _days(start: str, end: str) -> list[date]:
    d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    return [d0 + timedelta(days=i) for i in range((d1 - d0).days)]


# -- the timeline ------------------------------------------------------------------------------


def test_memberships_change_before_and_after_now(simulator: RunningSimulator) -> None:
    org = simulator.sim.world.enterprise
    joins, removals = _changes(org)
    past = (NOW - timedelta(days=60), NOW)
    future = (NOW, NOW + timedelta(days=30))
    assert sum(past[0] <= m.start < past[1] for m in joins) >= 3
    assert sum(past[0] <= m.end < past[1] for m in removals if m.end) >= 2
    assert sum(future[0] < m.start <= future[1] for m in joins) >= 1
    assert sum(future[0] < m.end <= future[1] for m in removals if m.end) >= 1
    # Users in two groups at once, some of them because they joined a second one.
    today = NOW.date()
    assert sum(len(org.groups_of(u.id, today)) >= 2 for u in org.users) >= 5
    assert any(
        len(org.groups_of(m.user_id, m.start.date() + timedelta(days=1))) >= 2 for m in joins
    )
    # A member leaves a group and later joins another.
    moves = [
        (old, new)
        for old in removals
        for new in joins
        if new.user_id == old.user_id and new.group_id != old.group_id and old.end
        if new.start >= old.end
    ]
    assert moves
    old, new = moves[0]
    assert old.end is not None
    gap = (old.end + timedelta(days=1)).date()
    assert gap < new.start.date()
    assert org.groups_of(old.user_id, gap) == ()  # in no group between the two


def test_memberships_are_deterministic_from_the_seed() -> None:
    a, b, other = build_world(42, NOW), build_world(42, NOW), build_world(7, NOW)
    assert a.enterprise.memberships == b.enterprise.memberships
    assert a.enterprise.memberships != other.enterprise.memberships
    assert len(_changes(a.enterprise)[1]) == len(_changes(other.enterprise)[1])


def test_groups_of_matches_the_published_timeline(api: Api, simulator: RunningSimulator) -> None:
    """`/_simulator/info` publishes every membership; a user's groups on a day are those held at
    any time during it."""
    org = simulator.sim.world.enterprise
    info = next(o for o in api.info()["organizations"] if o["id"] == org.id)
    spans = info["rbac_memberships"]
    assert len(spans) == info["counts"]["rbac_memberships"] == len(org.memberships)
    for day in _days("2026-09-20", "2026-12-22"):
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
        hi = lo + timedelta(days=1)
        held: dict[str, set[str]] = defaultdict(set)
        for s in spans:
            start = datetime.fromisoformat(s["start"])
            end = datetime.fromisoformat(s["end"]) if s["end"] else None
            if start < hi and (end is None or end > lo):
                held[s["user_id"]].add(s["rbac_group_id"])
        for u in org.users:
            assert set(org.groups_of(u.id, day)) == held[u.id], (u.id, day)


# -- the members endpoint ---------------------------------------------------------------------


def test_members_endpoint_follows_the_clock(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    org = fresh_simulator.sim.world.enterprise
    joins, removals = _changes(org)
    later = NOW + timedelta(days=30)
    join = next(m for m in joins if NOW < m.start <= later)
    removal = next(m for m in removals if m.end and NOW < m.end <= later)

    before = _members(api, key, org)
    assert before == _expected_members(org, NOW)
    assert join.user_id not in before[join.group_id]
    assert before[removal.group_id][removal.user_id] == removal.start.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )

    httpx.post(f"{fresh_simulator.url}/_simulator/clock", json={"days": 30}).raise_for_status()
    after = _members(api, key, org)
    assert after == _expected_members(org, later)
    assert removal.user_id not in after[removal.group_id]  # no removal history is kept
    assert after[join.group_id][join.user_id] == join.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- reports grouped or filtered by rbac_group_id ------------------------------------------------


def _truth_by_user_and_day(api: Api, org: Organization) -> dict[tuple[str, str | None], Decimal]:
    """(day, group) -> cost, from the truth per user and each day's membership."""
    out: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    truth = api.truth(org=org.id, start=START, end=END, group_by=["user_id"])
    for row in truth["organizations"][0]["days"]:
        uid = row["group"]["user_id"]
        groups = org.groups_of(uid, date.fromisoformat(row["date"])) if uid else ()
        for g in groups or (None,):
            out[(row["date"], g)] += Decimal(row["cost_cents"])
    return out


def test_truth_by_group_follows_each_days_membership(api: Api, simulator: RunningSimulator) -> None:
    org = simulator.sim.world.enterprise
    truth = api.truth(org=org.id, start=START, end=END, group_by=["rbac_group_id"])
    by_group = {
        (r["date"], r["group"]["rbac_group_id"]): Decimal(r["cost_cents"])
        for r in truth["organizations"][0]["days"]
    }
    assert by_group == _truth_by_user_and_day(api, org)
    assert None in {g for _, g in by_group}


def test_analytics_cost_by_group_matches_truth(
    api: Api, simulator: RunningSimulator, enterprise_key: str
) -> None:
    world = simulator.sim.world
    org = world.enterprise
    rows = _pages(
        api,
        enterprise_key,
        f"{ORG}/analytics/cost",
        beta=True,
        starting_at=f"{START}T00:00:00Z",
        ending_at=f"{END}T00:00:00Z",
        time_bucket_width="1d",
        group_by=["rbac_group_id"],
        limit=1000,
    )
    got: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    for r in rows:
        got[(r["starting_at"][:10], r["group"]["rbac_group_id"])] += Decimal(r["cost"]["amount"])
    expected = _truth_by_user_and_day(api, org)
    # The parent's analytics API also reports its Console child, whose users are in no group.
    for child in org.child_ids:
        for row in api.truth(org=child, start=START, end=END)["organizations"][0]["days"]:
            expected[(row["date"], None)] += Decimal(row["cost_cents"])
    assert got == expected


def test_legacy_cost_by_group_matches_truth(
    api: Api, simulator: RunningSimulator, enterprise_key: str
) -> None:
    org = simulator.sim.world.enterprise
    params = {
        "starting_at": f"{START}T00:00:00Z",
        "ending_at": f"{END}T00:00:00Z",
        "limit": 31,
        "group_by": ["rbac_group_id"],
    }
    r = api.get(f"{ORG}/analytics/cost_report", enterprise_key, _query(params), beta=False)
    assert r.status_code == 200, r.text
    got = {
        (b["starting_at"][:10], row["rbac_group_id"]): Decimal(row["amount"])
        for b in r.json()["data"]
        for row in b["results"]
    }
    assert got == _truth_by_user_and_day(api, org)
    # The filter selects the usage of the group's members of each day.
    gid = next(m.group_id for m in _changes(org)[1] if m.end and m.end.date() < NOW.date())
    params = {**params, "rbac_group_ids": [gid]}
    del params["group_by"]
    r = api.get(f"{ORG}/analytics/cost_report", enterprise_key, _query(params), beta=False)
    filtered = {
        b["starting_at"][:10]: row["amount"] for b in r.json()["data"] for row in b["results"]
    }
    assert {d: Decimal(a) for d, a in filtered.items() if Decimal(a)} == {
        d: c for (d, g), c in got.items() if g == gid and c
    }


def test_engagement_users_by_group_follow_each_days_membership(
    api: Api, simulator: RunningSimulator, enterprise_key: str
) -> None:
    org = simulator.sim.world.enterprise
    users = f"{ORG}/analytics/users"
    # The days some membership changes, within the engagement data available at NOW.
    changed = sorted(
        {
            d
            for d in _days(START, "2026-11-21")
            for u in org.users
            if org.groups_of(u.id, d) != org.groups_of(u.id, d - timedelta(days=1))
            and u.added_at.date() < d - timedelta(days=1)
        }
    )
    assert len(changed) >= 3
    active_on: dict[date, set[str]] = {}
    for d in changed:
        rows = _pages(api, enterprise_key, users, date=d.isoformat(), limit=1000)
        active_on[d] = {r["user"]["id"] for r in rows}
        grouped = _pages(
            api, enterprise_key, users, date=d.isoformat(), group_by=["rbac_group_id"], limit=1000
        )
        expected: dict[str, set[str]] = defaultdict(set)
        for uid in active_on[d]:
            for g in org.groups_of(uid, d):
                expected[g].add(uid)
        assert {r["rbac_group_id"]: r["distinct_user_count"] for r in grouped} == {
            g: len(us) for g, us in expected.items()
        }
        for g, us in list(expected.items())[:2]:
            only = _pages(
                api, enterprise_key, users, date=d.isoformat(), filter=[f"rbac_group_id:{g}"]
            )
            assert {r["user"]["id"] for r in only} == us
    # /summaries scoped to a group counts, over a window, the days each member was in it.
    d = changed[-1]
    window = [d - timedelta(days=k) for k in range(7)]
    for day in window:
        if day not in active_on:
            rows = _pages(api, enterprise_key, users, date=day.isoformat(), limit=1000)
            active_on[day] = {r["user"]["id"] for r in rows}
    for g in org.rbac_groups:
        (entry,) = _pages(
            api,
            enterprise_key,
            f"{ORG}/analytics/summaries",
            starting_date=d.isoformat(),
            ending_date=(d + timedelta(days=1)).isoformat(),
            filter=[f"rbac_group_id:{g.id}"],
        )
        weekly = {u for day in window for u in active_on[day] if g.id in org.groups_of(u, day)}
        assert entry["weekly_active_user_count"] == len(weekly)


# -- API keys and the default workspace ---------------------------------------------------------


def test_some_api_keys_are_named_after_their_team(api: Api, console_key: str) -> None:
    keys = _id_pages(api, console_key, f"{ORG}/api_keys")
    teams = {k["name"]: m.group(1) for k in keys if (m := TEAM.match(k["name"]))}
    assert set(teams.values()) == {"payments", "search", "growth"}
    assert {"team-payments-prod", "team-search-ci", "team-growth-batch"} <= teams.keys()
    assert len(keys) - len(teams) >= 25  # most keys have other names
    default = {k["name"] for k in keys if k["workspace_id"] is None}
    assert len(default & teams.keys()) >= 2


def _id_pages(api: Api, key: str, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": 100, **({"after_id": after} if after else {})}
        body = api.get(path, key, params, beta=False).json()
        rows += body["data"]
        if not body["has_more"]:
            return rows
        after = body["last_id"]


def test_default_workspace_carries_spend_from_several_keys(
    api: Api, simulator: RunningSimulator
) -> None:
    org = simulator.sim.world.console
    default = next(w for w in org.workspaces if w.is_default)
    names = {k.id: k.name for k in org.api_keys}
    truth = api.truth(org=org.id, start=START, end=END, group_by=["workspace_id", "api_key_id"])
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for row in truth["organizations"][0]["days"]:
        if row["group"]["workspace_id"] == default.id and row["group"]["api_key_id"]:
            cost[names[row["group"]["api_key_id"]]] += Decimal(row["cost_cents"])
    spenders = {n for n, c in cost.items() if c > 0}
    assert len(spenders) >= 4
    assert len({n for n in spenders if TEAM.match(n)}) >= 2
    assert len({n for n in spenders if not TEAM.match(n)}) >= 2


def test_team_keys_keep_the_traffic_of_their_purpose(api: Api, simulator: RunningSimulator) -> None:
    org = simulator.sim.world.console
    ids = {k.name: k.id for k in org.api_keys}
    dims = ["api_key_id", "kind", "service_tier", "product"]
    truth = api.truth(org=org.id, start=START, end=END, group_by=dims)
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in truth["organizations"][0]["days"]:
        g = row["group"]
        if g["kind"] == "tokens":
            seen[g["api_key_id"]].add((g["service_tier"], g["product"]))
    assert seen[ids["team-growth-batch"]] == {("batch", "message_batches_api")}
    assert {p for _, p in seen[ids["team-search-ci"]]} == {"claude_code"}
