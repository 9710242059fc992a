"""Family D (Claude Enterprise engagement endpoints) of the simulator, over real HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest

from conftest import Api
from spendscope.simulator.facts_generation import active_users
from spendscope.simulator.server import RunningSimulator

B = "/v1/organizations/analytics"
DAY = "2026-11-10"
WEEK = ("2026-11-02", "2026-11-09")  # [start, end)
LATEST = "2026-11-21"  # clock 2026-11-22T12:00Z, lag 1 day
CENTS = re.compile(r"^\d+\.\d{6}$")


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for k, v in params.items():
        for item in v if isinstance(v, list) else [v]:
            pairs.append((f"{k}[]" if isinstance(v, list) else k, str(item)))
    return pairs


def _get(api: Api, key: str, path: str, status: int = 200, **params: Any) -> dict[str, Any]:
    r = api.get(B + path, key, params=_query(params), beta=False)
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def _all(api: Api, key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a query, walking `next_page`."""
    rows: list[dict[str, Any]] = []
    page: str | None = params.pop("page", None)
    while True:
        body = _get(api, key, path, **params, **({"page": page} if page else {}))
        rows += body["data"]
        page = body["next_page"]
        if not page:
            return rows


def _error(api: Api, key: str, path: str, **params: Any) -> str:
    body = _get(api, key, path, status=400, **params)
    assert body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def _days(start: str, end: str) -> list[str]:
    d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    return [(d0 + timedelta(days=i)).isoformat() for i in range((d1 - d0).days)]


@pytest.fixture(scope="module")
def sdk(simulator: RunningSimulator, enterprise_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=enterprise_key, base_url=simulator.url, max_retries=0)


def _ent(running: RunningSimulator) -> tuple[Api, str]:
    api = Api(running.url)
    return api, api.key("enterprise", "analytics")


# -- pagination through the SDK ---------------------------------------------------------------


def _gk(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r.get("product"), r.get("rbac_group_id"), r.get("user_id"))


PAGED: list[tuple[str, str, dict[str, Any], Callable[[dict[str, Any]], tuple[Any, ...]]]] = [
    ("users", "/users", {"date": DAY, "limit": 7}, lambda r: (r["user"]["id"],)),
    (
        "users",
        "/users",
        {
            "starting_date": "2026-11-01",
            "ending_date": "2026-11-15",
            "group_by": ["rbac_group_id"],
            "limit": 3,
        },
        lambda r: (r["rbac_group_id"], r["distinct_user_count"]),
    ),
    (
        "skills",
        "/skills",
        {"starting_date": WEEK[0], "ending_date": WEEK[1], "group_by": ["product"], "limit": 10},
        lambda r: (r["skill_name"], *_gk(r)),
    ),
    (
        "connectors",
        "/connectors",
        {"date": DAY, "group_by": ["user_id"], "limit": 25},
        lambda r: (r["connector_name"], *_gk(r)),
    ),
    (
        "plugins",
        "/plugins",
        {
            "starting_date": WEEK[0],
            "ending_date": WEEK[1],
            "group_by": ["user_id", "product"],
            "limit": 9,
        },
        lambda r: (r["plugin_name"], *_gk(r)),
    ),
    (
        "artifacts",
        "/artifacts",
        {"date": DAY, "group_by": ["user_id"], "limit": 8},
        lambda r: (r["artifact_type"], r["is_shared"], *_gk(r)),
    ),
    (
        "projects",
        "/apps/chat/projects",
        {"starting_date": WEEK[0], "ending_date": WEEK[1], "group_by": ["user_id"], "limit": 11},
        lambda r: (r["project_id"], *_gk(r)),
    ),
]


def _resource(sdk: anthropic.Anthropic, name: str) -> Any:
    a = sdk.organization.analytics
    return a.apps.chat.projects if name == "projects" else getattr(a, name)


@pytest.mark.parametrize(
    ("name", "path", "params", "key"), PAGED, ids=[f"{p[0]}-{i}" for i, p in enumerate(PAGED)]
)
def test_sdk_paginator_walks_every_page(
    api: Api,
    enterprise_key: str,
    sdk: anthropic.Anthropic,
    name: str,
    path: str,
    params: dict[str, Any],
    key: Callable[[dict[str, Any]], tuple[Any, ...]],
) -> None:
    whole = _get(api, enterprise_key, path, **{**params, "limit": 1000})
    assert whole["next_page"] is None
    assert len(whole["data"]) > 2 * params["limit"]  # several pages
    pages = _all(api, enterprise_key, path, **params)
    assert pages == whole["data"]  # pages concatenated == one page
    items = list(_resource(sdk, name).list(**params))
    model = type(items[0]).__name__
    assert model.startswith("Analytics")
    assert [key(i.to_dict()) for i in items] == [key(r) for r in whole["data"]]
    assert len({key(r) for r in whole["data"]}) == len(whole["data"])  # unique row keys


def test_sdk_summaries_and_ungrouped_artifacts_single_page(sdk: anthropic.Anthropic) -> None:
    a = sdk.organization.analytics
    series = list(a.summaries.list(starting_date="2026-10-01", ending_date="2026-11-01"))
    assert [s.starting_at.date().isoformat() for s in series] == _days("2026-10-01", "2026-11-01")
    assert all(s.ending_at - s.starting_at == timedelta(days=1) for s in series)
    cube = a.artifacts.list(date=DAY, limit=1)
    assert cube.next_page is None
    assert len(cube.data) > 1  # limit does not apply to the ungrouped cube
    keys = [(c.artifact_type, c.is_shared) for c in cube.data]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert all(
        0 <= c.published_artifacts_created_count <= c.artifacts_created_count for c in cube.data
    )


# -- range mode ---------------------------------------------------------------------------------

ENTITIES = [
    ("/skills", "skill_name"),
    ("/connectors", "connector_name"),
    ("/plugins", "plugin_name"),
    ("/apps/chat/projects", "project_id"),
]


@pytest.mark.parametrize(("path", "name"), ENTITIES)
def test_range_distinct_user_count_is_the_exact_union(
    api: Api, enterprise_key: str, path: str, name: str
) -> None:
    k = enterprise_key
    ranged = {
        r[name]: r["distinct_user_count"]
        for r in _all(api, k, path, starting_date=WEEK[0], ending_date=WEEK[1], limit=1000)
    }
    union: dict[str, set[str]] = {}
    daily_sum: dict[str, int] = {}
    for d in _days(*WEEK):
        for r in _all(api, k, path, date=d, group_by=["user_id"], limit=1000):
            union.setdefault(r[name], set()).add(r["user_id"])
        for r in _all(api, k, path, date=d, limit=1000):
            daily_sum[r[name]] = daily_sum.get(r[name], 0) + r["distinct_user_count"]
    assert ranged.keys() == union.keys()
    assert all(ranged[e] == len(union[e]) <= daily_sum[e] for e in ranged)
    assert any(ranged[e] < daily_sum[e] for e in ranged)  # never a plain sum


def test_range_sums_additive_counters(api: Api, enterprise_key: str) -> None:
    k = enterprise_key
    ranged = {
        r["skill_name"]: r
        for r in _all(api, k, "/skills", starting_date=WEEK[0], ending_date=WEEK[1], limit=1000)
    }
    inv: dict[str, int] = {}
    spend: dict[str, float] = {}
    for d in _days(*WEEK):
        for r in _all(api, k, "/skills", date=d, limit=1000):
            inv[r["skill_name"]] = inv.get(r["skill_name"], 0) + r["invocation_count"]
            spend[r["skill_name"]] = spend.get(r["skill_name"], 0.0) + float(
                r["estimated_overage_spend"]
            )
            assert CENTS.match(r["estimated_overage_spend"])
            assert r["currency"] == "USD"
    assert {s: r["invocation_count"] for s, r in ranged.items()} == inv
    assert all(
        abs(float(r["estimated_overage_spend"]) - spend[s]) < 1e-5 for s, r in ranged.items()
    )
    assert all(r["enable_count"] is None for r in ranged.values())  # null in range mode


def test_one_day_range_is_range_mode(api: Api, enterprise_key: str) -> None:
    single = _all(api, enterprise_key, "/skills", date=DAY)
    ranged = _all(api, enterprise_key, "/skills", starting_date=DAY, ending_date=_shift(DAY, 1))
    assert any(r["enable_count"] is not None for r in single)
    assert all(r["enable_count"] is None for r in ranged)
    strip = [{k: v for k, v in r.items() if k != "enable_count"} for r in single]
    assert strip == [{k: v for k, v in r.items() if k != "enable_count"} for r in ranged]


def test_users_grouped_by_rbac_counts_members_exactly(
    api: Api, enterprise_key: str, simulator: RunningSimulator
) -> None:
    org = simulator.sim.world.enterprise
    active_on = {
        d: {r["user"]["id"] for r in _all(api, enterprise_key, "/users", date=d, limit=1000)}
        for d in _days(*WEEK)
    }
    rows = _all(
        api,
        enterprise_key,
        "/users",
        starting_date=WEEK[0],
        ending_date=WEEK[1],
        group_by=["rbac_group_id"],
    )
    names = {g.id: g.name for g in org.rbac_groups}
    assert {r["rbac_group_id"] for r in rows} <= names.keys()
    assert len(rows) > 5
    # A member counts in a group when active on a day they belong to it.
    in_group: dict[str, set[str]] = {}
    for d, users in active_on.items():
        for u in users:
            for g in org.groups_of(u, date.fromisoformat(d)):
                in_group.setdefault(g, set()).add(u)
    for r in rows:
        assert r["user"] is None
        assert r["rbac_group_name"] == names[r["rbac_group_id"]]
        assert r["distinct_user_count"] == len(in_group[r["rbac_group_id"]])
    assert {r["rbac_group_id"] for r in rows} == in_group.keys()
    # Any-membership: users in two groups count in both, so the groups sum above the org.
    assert sum(r["distinct_user_count"] for r in rows) > len(set().union(*in_group.values()))


# -- consistency --------------------------------------------------------------------------------


def test_summaries_active_counts_match_users_rows(api: Api, enterprise_key: str) -> None:
    series = _get(
        api, enterprise_key, "/summaries", starting_date="2026-11-03", ending_date="2026-11-13"
    )["data"]
    per_day = {
        d: {r["user"]["id"] for r in _all(api, enterprise_key, "/users", date=d, limit=1000)}
        for d in _days("2026-10-30", "2026-11-13")
    }
    assert len(series) == 10
    for entry in series:
        d = entry["starting_at"][:10]
        assert entry["daily_active_user_count"] == len(per_day[d])
        week = set().union(*(per_day[x] for x in per_day if d >= x > _shift(d, -7)))
        assert entry["weekly_active_user_count"] == len(week)
        assert (
            entry["daily_active_user_count"]
            <= entry["weekly_active_user_count"]
            <= entry["monthly_active_user_count"]
            <= entry["assigned_seat_count"]
        )
        seats = entry["assigned_seat_count"]
        assert entry["daily_adoption_rate"] == round(len(per_day[d]) / seats * 100, 1)


def _shift(d: str, days: int) -> str:
    return (date.fromisoformat(d) + timedelta(days=days)).isoformat()


def test_summaries_scoped_by_rbac_group(
    api: Api, enterprise_key: str, simulator: RunningSimulator
) -> None:
    group = simulator.sim.world.enterprise.rbac_groups[0]
    bare = group.id.removeprefix("rbac_group_")
    entry = _get(
        api,
        enterprise_key,
        "/summaries",
        starting_date=DAY,
        ending_date=_shift(DAY, 1),
        filter=[f"rbac_group_id:{bare}"],
    )["data"][0]
    rows = _all(api, enterprise_key, "/users", date=DAY, filter=[f"rbac_group_id:{group.id}"])
    assert entry["daily_active_user_count"] == len(rows) > 0
    for f in (
        "assigned_seat_count",
        "pending_invite_count",
        "daily_adoption_rate",
        "science_entitled_user_count",
        "claude_tag_daily_active_user_count",
    ):
        assert entry[f] is None


def test_user_blocks_follow_the_days_facts(
    api: Api, enterprise_key: str, simulator: RunningSimulator
) -> None:
    sim = simulator.sim
    org, d = sim.world.enterprise, date.fromisoformat(DAY)
    products: dict[str, set[str]] = {}
    for f in sim.store.day_facts(org, d, sim.now()):
        if f.user_id:
            products.setdefault(f.user_id, set()).add(str(f.product))
    rows = {r["user"]["id"]: r for r in _all(api, enterprise_key, "/users", date=DAY)}
    assert rows.keys() == {u.id for u in active_users(sim.world.seed, org, d)}
    for uid, r in rows.items():
        has = products.get(uid, set())
        assert (r["claude_code_metrics"]["core_metrics"]["distinct_session_count"] > 0) == (
            "claude_code" in has
        )
        assert (r["chat_metrics"]["message_count"] > 0) == ("chat" in has)
        assert (r["cowork_metrics"]["message_count"] > 0) == ("cowork" in has)
        assert (r["design_metrics"]["message_count"] > 0) == ("claude_design" in has)
        office = sum(b["message_count"] for b in r["office_metrics"].values())
        assert (office > 0) == ("office_agent" in has)
        assert r["last_activity_date"] == DAY
        assert r["distinct_user_count"] is None
    emails = [r["user"]["email_address"] for r in rows.values()]
    assert emails == sorted(emails)


def test_chat_artifacts_and_projects_agree_across_endpoints(api: Api, enterprise_key: str) -> None:
    k = enterprise_key
    users = _all(api, k, "/users", date=DAY)
    cube = _get(api, k, "/artifacts", date=DAY, filter=["product:chat"])["data"]
    assert (
        sum(r["chat_metrics"]["distinct_artifacts_created_count"] for r in users)
        == sum(c["artifacts_created_count"] for c in cube)
        > 0
    )
    project = _all(api, k, "/apps/chat/projects", date=DAY, order_by="message_count")[0]
    sliced = _all(api, k, "/users", date=DAY, filter=[f"project_id:{project['project_id']}"])
    assert len(sliced) == project["distinct_user_count"]
    assert sum(r["chat_metrics"]["message_count"] for r in sliced) == project["message_count"]
    assert all(
        r["claude_code_metrics"]["core_metrics"]["commit_count"] == 0
        and r["claude_tag_metrics"] == {"active_day_count": 0, "active_message_count": 0}
        for r in sliced
    )


# -- filters, grouping, ordering ----------------------------------------------------------------


def test_filters_or_within_and_across_dimensions(api: Api, enterprise_key: str) -> None:
    k = enterprise_key
    by_product = _all(api, k, "/skills", date=DAY, group_by=["product", "user_id"])
    chat_or_code = _all(
        api,
        k,
        "/skills",
        date=DAY,
        group_by=["product", "user_id"],
        filter=["product:chat", "product:claude_code"],
    )
    expected = [r for r in by_product if r["product"] in ("chat", "claude_code")]
    assert chat_or_code == expected
    assert {r["product"] for r in expected} == {"chat", "claude_code"}
    uid = expected[0]["user_id"]
    both = _all(
        api,
        k,
        "/skills",
        date=DAY,
        group_by=["product", "user_id"],
        filter=["product:chat", "product:claude_code", f"user_id:{uid}"],
    )
    assert both == [r for r in expected if r["user_id"] == uid]
    named = _all(api, k, "/connectors", date=DAY, filter=["connector_name:GitHub MCP"])
    assert [r["connector_name"] for r in named] == ["github"]


def test_group_keys_present_only_when_grouped(api: Api, enterprise_key: str) -> None:
    plain = _get(api, enterprise_key, "/skills", date=DAY)["data"]
    assert all(
        {"product", "user_id", "rbac_group_id", "rbac_group_name"}.isdisjoint(r) for r in plain
    )
    assert any(r["enable_count"] is not None for r in plain)
    grouped = _get(api, enterprise_key, "/skills", date=DAY, group_by=["rbac_group_id"])["data"]
    assert all(
        r["rbac_group_id"].startswith("rbac_group_")
        and r["rbac_group_name"]
        and "product" not in r
        and "user_id" not in r
        and r["enable_count"] is None
        for r in grouped
    )
    users = _get(api, enterprise_key, "/users", date=DAY)["data"]
    assert all("rbac_group_id" not in r for r in users)


def test_order_by_metric_and_direction(api: Api, enterprise_key: str) -> None:
    k = enterprise_key
    top = _all(api, k, "/plugins", date=DAY, order_by="invocation_count")
    assert [r["invocation_count"] for r in top] == sorted(
        (r["invocation_count"] for r in top), reverse=True
    )
    rising = _all(api, k, "/plugins", date=DAY, order_by="invocation_count", order="asc")
    assert [r["invocation_count"] for r in rising] == sorted(r["invocation_count"] for r in top)
    names = [r["plugin_name"] for r in _all(api, k, "/plugins", date=DAY, order="desc")]
    assert names == sorted(names, reverse=True)
    assert len(names) > 2
    by_email = _all(api, k, "/users", date=DAY, order_by="email_address", order="desc")
    assert [r["user"]["email_address"] for r in by_email] == sorted(
        (r["user"]["email_address"] for r in by_email), reverse=True
    )


# -- errors -------------------------------------------------------------------------------------

ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("/users", {"date": "2025-12-31"}, "on or after 2026-01-01"),
    ("/skills", {"starting_date": "2025-12-01"}, "on or after 2026-01-01"),
    (
        "/users",
        {"date": "2026-11-22"},
        "Data is not yet available for 2026-11-22; the latest available date is 2026-11-21.",
    ),
    (
        "/connectors",
        {"starting_date": "2026-11-01", "ending_date": "2026-11-23"},
        "latest available date is 2026-11-21",
    ),
    ("/users", {"date": DAY, "starting_date": DAY}, "either date or starting_date"),
    ("/users", {"ending_date": DAY}, "only valid together with starting_date"),
    ("/users", {}, "date or starting_date is required"),
    ("/plugins", {"starting_date": DAY, "ending_date": DAY}, "after starting_date"),
    ("/skills", {"date": DAY, "filter": ["model:claude-opus-5"]}, "unsupported dimension"),
    ("/skills", {"date": DAY, "filter": ["product:claude_design"]}, "not a valid product"),
    ("/skills", {"date": DAY, "filter": ["product"]}, "dimension:value"),
    ("/skills", {"date": DAY, "filter": [f"user_id:user_{i}" for i in range(101)]}, "at most"),
    ("/skills", {"date": DAY, "group_by": ["model"]}, "group_by"),
    ("/users", {"date": DAY, "group_by": ["user_id"]}, "group_by"),
    (
        "/users",
        {"date": DAY, "filter": ["project_id:claude_proj_x"], "group_by": ["rbac_group_id"]},
        "project_id",
    ),
    (
        "/users",
        {"date": DAY, "filter": ["project_id:claude_proj_x", "rbac_group_id:x"]},
        "project_id",
    ),
    ("/apps/chat/projects", {"date": DAY, "filter": ["product:chat"]}, "unsupported dimension"),
    ("/apps/chat/projects", {"date": DAY, "group_by": ["product"]}, "group_by"),
    ("/artifacts", {"date": DAY, "page": "page_abc"}, "only valid with group_by"),
    ("/artifacts", {"starting_date": DAY}, "use date"),
    ("/artifacts", {"date": DAY, "filter": ["is_shared:maybe"]}, "is_shared"),
    ("/summaries", {"date": DAY}, "starting_date"),
    ("/summaries", {"starting_date": DAY, "group_by": ["user_id"]}, "group_by"),
    ("/summaries", {"starting_date": DAY, "order": "asc"}, "order"),
    ("/users", {"date": DAY, "limit": 0}, "limit"),
    ("/users", {"date": DAY, "limit": 1001}, "limit"),
    ("/users", {"date": DAY, "order_by": "message_count"}, "order_by"),
    ("/skills", {"date": DAY, "order": "sideways"}, "order"),
]


@pytest.mark.parametrize(
    ("path", "params", "needle"), ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)]
)
def test_invalid_requests_are_400(
    api: Api, enterprise_key: str, path: str, params: dict[str, Any], needle: str
) -> None:
    assert needle in _error(api, enterprise_key, path, **params)


def test_span_limit_is_366_days(fresh_simulator: RunningSimulator) -> None:
    fresh_simulator.sim.clock.set(datetime(2027, 3, 1, 12, tzinfo=UTC))
    api, key = _ent(fresh_simulator)
    for path in ("/users", "/summaries"):
        msg = _error(api, key, path, starting_date="2026-01-01", ending_date="2027-01-03")
        assert msg == "The date range may span at most 366 days."
    ok = _get(api, key, "/summaries", starting_date="2026-01-01", ending_date="2027-01-02")
    assert len(ok["data"]) == 366


def test_cursor_from_another_query_is_rejected(api: Api, enterprise_key: str) -> None:
    first = _get(api, enterprise_key, "/skills", date=DAY, limit=2)
    assert first["next_page"]
    msg = _error(
        api, enterprise_key, "/skills", date=_shift(DAY, -1), limit=2, page=first["next_page"]
    )
    assert msg == "cursor does not match current query parameters"
    msg = _error(api, enterprise_key, "/connectors", date=DAY, limit=2, page=first["next_page"])
    assert msg == "cursor does not match current query parameters"


def test_auth_console_key_and_disabled_org(api: Api, console_key: str) -> None:
    body = _get(api, console_key, "/users", status=400, date=DAY)
    assert "requires an enterprise plan" in body["error"]["message"]
    globex = api.key("globex", "analytics")
    assert _get(api, globex, "/summaries", status=404, starting_date=DAY)["error"]["type"] == (
        "not_found_error"
    )


# -- availability -------------------------------------------------------------------------------


def test_latest_day_follows_10utc_aggregation_and_lag(fresh_simulator: RunningSimulator) -> None:
    api, key = _ent(fresh_simulator)
    assert _get(api, key, "/users", date=LATEST)["data"]
    fresh_simulator.sim.clock.set(datetime(2026, 11, 23, 9, 59, tzinfo=UTC))
    assert "latest available date is 2026-11-21." in _error(api, key, "/users", date="2026-11-22")
    fresh_simulator.sim.clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert _get(api, key, "/users", date="2026-11-22")["data"]
    fresh_simulator.sim.config.engagement_lag_days = 3
    assert "latest available date is 2026-11-20." in _error(api, key, "/users", date="2026-11-21")
    fresh_simulator.sim.config.engagement_lookback_days = 90
    assert "past 90 days" in _error(api, key, "/skills", date="2026-08-01")
    assert _get(api, key, "/skills", date="2026-09-01")["data"]


def test_default_ending_date_is_frozen_into_the_cursor(fresh_simulator: RunningSimulator) -> None:
    api, key = _ent(fresh_simulator)
    q = {"starting_date": "2026-11-15", "group_by": ["user_id"]}
    first = _get(api, key, "/skills", limit=40, **q)
    series = _get(api, key, "/summaries", starting_date="2026-11-15")["data"]
    assert series[-1]["starting_at"].startswith(LATEST)  # default end = latest available + 1
    fresh_simulator.sim.clock.advance(timedelta(days=2))
    rest = _all(api, key, "/skills", limit=40, page=first["next_page"], **q)
    whole = _all(api, key, "/skills", ending_date="2026-11-22", limit=1000, **q)
    assert first["data"] + rest == whole
    assert _all(api, key, "/skills", limit=1000, **q) != whole  # a new sequence sees more days


# -- configuration and feature flags --------------------------------------------------------


def test_summaries_envelope_switch(fresh_simulator: RunningSimulator) -> None:
    api, key = _ent(fresh_simulator)
    cfg = fresh_simulator.sim.config
    assert set(_get(api, key, "/summaries", starting_date=DAY)) == {"data", "next_page"}
    cfg.summaries_envelope = "summaries"
    legacy = _get(api, key, "/summaries", starting_date=DAY)
    assert set(legacy) == {"summaries"}
    assert len(legacy["summaries"]) == 12
    cfg.summaries_envelope = "both"
    both = _get(api, key, "/summaries", starting_date=DAY)
    assert both["data"] == both["summaries"]
    assert both["next_page"] is None


def test_feature_flags_gate_blocks(fresh_simulator: RunningSimulator) -> None:
    api, key = _ent(fresh_simulator)
    features = fresh_simulator.sim.world.enterprise.features
    user = _get(api, key, "/users", date=DAY, limit=1)["data"][0]
    assert "chat_cowork_unified_metrics" not in user
    assert "claude_tag_metrics" in user
    assert "last_activity_date" in user
    skill = _get(api, key, "/skills", date=DAY, limit=1)["data"][0]
    assert "chat_cowork_unified_metrics" not in skill
    assert skill["invocation_count"] is not None
    day = _get(api, key, "/summaries", starting_date=DAY)["data"][0]
    assert "chat_daily_active_user_count" in day
    assert "claude_tag_daily_active_user_count" in day
    assert "chat_cowork_unified_daily_active_user_count" not in day
    assert "chat_cowork_unified" in _error(
        api, key, "/skills", date=DAY, filter=["product:chat_cowork_unified"]
    )
    features.update(
        chat_cowork_unified=True,
        claude_tag=False,
        last_activity_date=False,
        per_product_summaries=False,
        invocation_reporting=False,
        spend_reporting=False,
    )
    users = _get(api, key, "/users", date=DAY)["data"]
    assert all("claude_tag_metrics" not in u and "last_activity_date" not in u for u in users)
    unified = [u for u in users if u["chat_cowork_unified_metrics"]["chat"]["message_count"]]
    assert unified
    assert all(u["chat_metrics"]["message_count"] == 0 for u in unified)
    assert all(
        u["chat_cowork_unified_metrics"]["chat"]["distinct_shared_artifacts_viewed_count"] is None
        for u in users
    )
    skills = _get(api, key, "/skills", date=DAY, group_by=["product"])["data"]
    assert "chat_cowork_unified" in {s["product"] for s in skills}
    assert all(
        s["invocation_count"] is None
        and s["estimated_overage_spend"] is None
        and s["currency"] is None
        and "chat_cowork_unified_metrics" in s
        for s in skills
    )
    plugin = _get(api, key, "/plugins", date=DAY, limit=1)["data"][0]
    assert set(plugin["chat_cowork_unified_metrics"]) == {"distinct_session_plugin_used_count"}
    day = _get(api, key, "/summaries", starting_date=DAY)["data"][0]
    assert "chat_daily_active_user_count" not in day
    assert "science_entitled_user_count" not in day
    assert "claude_tag_daily_active_user_count" not in day
    assert day["chat_cowork_unified_daily_active_user_count"] > 0


def test_ungrouped_keys_null_and_inactive_members(fresh_simulator: RunningSimulator) -> None:
    api, key = _ent(fresh_simulator)
    cfg = fresh_simulator.sim.config
    active = _all(api, key, "/users", date=DAY)
    cfg.engagement_ungrouped_keys = "null"
    row = _get(api, key, "/connectors", date=DAY, limit=1)["data"][0]
    assert {k: row[k] for k in ("product", "rbac_group_id", "rbac_group_name", "user_id")} == (
        dict.fromkeys(("product", "rbac_group_id", "rbac_group_name", "user_id"))
    )
    assert _get(api, key, "/users", date=DAY, limit=1)["data"][0]["rbac_group_id"] is None
    cfg.engagement_include_inactive = True
    everyone = _all(api, key, "/users", date=DAY)
    org = fresh_simulator.sim.world.enterprise
    assert len(active) < len(everyone) <= len(org.users)
    ids = {r["user"]["id"] for r in active}
    idle = [r for r in everyone if r["user"]["id"] not in ids]
    assert all(
        r["chat_metrics"]["message_count"] == 0
        and r["web_search_count"] == 0
        and r["last_activity_date"] is None
        for r in idle
    )


def test_connector_nullability_windows(api: Api, enterprise_key: str) -> None:
    early = _all(
        api, enterprise_key, "/connectors", starting_date="2026-05-20", ending_date="2026-07-05"
    )
    assert early
    assert all(
        r["read_call_count"] is None and r["managed_auth_distinct_user_count"] is None
        for r in early
    )
    late = _all(api, enterprise_key, "/connectors", date=DAY)
    assert all(isinstance(r["read_call_count"], int) for r in late)
    assert any(isinstance(r["managed_auth_distinct_user_count"], int) for r in late)


def test_page_of_1000_rows_is_fast(api: Api, enterprise_key: str) -> None:
    q = {
        "starting_date": "2026-09-01",
        "ending_date": "2026-11-01",
        "group_by": ["user_id", "product"],
        "limit": 1000,
    }
    first = _get(api, enterprise_key, "/skills", **q)
    assert len(first["data"]) == 1000
    assert first["next_page"]
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = api.get(B + "/skills", enterprise_key, params=_query(q), beta=False)
        timings.append(time.perf_counter() - t0)
        assert r.status_code == 200
    assert sorted(timings)[2] < 0.05, timings


def test_raw_httpx_with_bearer_header(simulator: RunningSimulator, enterprise_key: str) -> None:
    r = httpx.get(
        f"{simulator.url}{B}/users",
        params={"date": DAY, "limit": 1},
        headers={"Authorization": f"Bearer {enterprise_key}"},
    )
    assert r.status_code == 200
    assert r.headers["request-id"].startswith("req_")
    assert len(r.json()["data"]) == 1
    assert r.json()["next_page"]
