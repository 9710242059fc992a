"""Family B — `/v1/organizations/analytics/usage` and `/analytics/cost` against the simulator,
over real HTTP, mostly through the official SDK's paginators."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from anthropic.types.beta.organization.analytics import (
    BetaAnalyticsCostItem,
    BetaAnalyticsUsageItem,
)

from conftest import Api
from spendscope.simulator.server import RunningSimulator

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)

USAGE = "/v1/organizations/analytics/usage"
COST = "/v1/organizations/analytics/cost"
START = "2026-10-21T00:00:00Z"
END = "2026-11-21T00:00:00Z"  # exactly 31 days
WINDOW = {"starting_at": START, "ending_at": END}
DIMS = (
    "actor", "actor_type", "agent_id", "api_key_id", "claude_tag_category", "claude_tag_user_id",
    "context_window", "deployment_id", "environment_id", "inference_geo", "model",
    "organization_id", "product", "service_tier", "session_id", "slack_channel_id", "speed",
    "user_profile_id", "workspace_id",
)  # fmt: skip
USAGE_FIELDS = ("uncached", "cache_read", "cache_5m", "cache_1h", "output", "web", "requests")


def usage_vector(u: Any) -> tuple[int, ...]:
    """The summable fields of a usage object (SDK model or JSON dict)."""
    if isinstance(u, dict):
        cc = u["cache_creation"]
        return (
            u["uncached_input_tokens"],
            u["cache_read_input_tokens"],
            cc["ephemeral_5m_input_tokens"],
            cc["ephemeral_1h_input_tokens"],
            u["output_tokens"],
            u["server_tool_use"]["web_search_requests"],
            u["requests"],
        )
    return (
        u.uncached_input_tokens,
        u.cache_read_input_tokens,
        u.cache_creation.ephemeral_5m_input_tokens,
        u.cache_creation.ephemeral_1h_input_tokens,
        u.output_tokens,
        u.server_tool_use.web_search_requests,
        u.requests or 0,
    )


def vsum(vectors: Any) -> tuple[int, ...]:
    return tuple(sum(col) for col in zip(*vectors, strict=True)) or (0,) * len(USAGE_FIELDS)


def money(items: list[BetaAnalyticsCostItem]) -> tuple[Decimal, Decimal]:
    return (
        sum((Decimal(i.cost.amount) for i in items), Decimal(0)),
        sum((Decimal(i.cost.list_amount) for i in items), Decimal(0)),
    )


@pytest.fixture(scope="module")
def sdk(simulator: RunningSimulator) -> Iterator[Any]:
    clients: dict[str, anthropic.Anthropic] = {}

    def client(key: str) -> anthropic.Anthropic:
        if key not in clients:
            clients[key] = anthropic.Anthropic(api_key=key, base_url=simulator.url, max_retries=0)
        return clients[key]

    yield client
    for c in clients.values():
        c.close()


def walk_usage(sdk: Any, key: str, **params: Any) -> list[BetaAnalyticsUsageItem]:
    params.setdefault("limit", 1000)
    return list(sdk(key).beta.organization.analytics.usage.list(**params))


def walk_cost(sdk: Any, key: str, **params: Any) -> list[BetaAnalyticsCostItem]:
    params.setdefault("limit", 1000)
    return list(sdk(key).beta.organization.analytics.cost.list(**params))


def truth_totals(api: Api, org_ids: list[str], **extra: Any) -> dict[str, Any]:
    """Sum /_simulator/truth over the window's days for these organizations."""
    tot: dict[str, Any] = defaultdict(int)
    for org_id in org_ids:
        t = api.truth(org=org_id, start=START[:10], end=END[:10], **extra)
        for day in t["organizations"][0]["days"]:
            for k, v in day.items():
                if k.endswith("_cents"):
                    tot[k] = tot.get(k, Decimal(0)) + Decimal(v)
                elif isinstance(v, int):
                    tot[k] += v
    return tot


def truth_vector(t: dict[str, Any]) -> tuple[int, ...]:
    return (
        t["uncached_input_tokens"],
        t["cache_read_input_tokens"],
        t["cache_creation_5m_input_tokens"],
        t["cache_creation_1h_input_tokens"],
        t["output_tokens"],
        t["web_search_requests"],
        t["requests"],
    )


@pytest.fixture(scope="module")
def orgs(api: Api) -> dict[str, dict[str, Any]]:
    by = {o["name"]: o for o in api.info()["organizations"]}
    return {"console": by["Acme Platform"], "enterprise": by["Acme Enterprise"]}


@pytest.fixture(scope="module")
def keys(api: Api) -> dict[str, str]:
    return {
        "console": api.key("console", "admin"),
        "enterprise": api.key("enterprise", "analytics"),
    }


def scope_ids(orgs: dict[str, dict[str, Any]], who: str) -> list[str]:
    """Organizations a key's Family B report covers: a parent includes its children."""
    org = orgs[who]
    return [org["id"], *org["child_ids"]]


@pytest.fixture(scope="module")
def totals(sdk: Any, keys: dict[str, str]) -> dict[str, Any]:
    """Ungrouped usage vector and cost (amount, list) per key, for the window."""
    out: dict[str, Any] = {}
    for who, key in keys.items():
        (u,) = walk_usage(sdk, key, **WINDOW)
        c = walk_cost(sdk, key, **WINDOW)
        assert len(c) == 1
        out[who] = (usage_vector(u.usage), money(c), c[0].cost.requests)
    return out


# ---------------------------------------------------------------------------------------------
# Totals, dimensions, fan-outs


@pytest.mark.parametrize("who", ["console", "enterprise"])
def test_ungrouped_totals_equal_truth(
    sdk: Any, api: Api, keys: dict[str, str], orgs: dict[str, Any], who: str
) -> None:
    (row,) = walk_usage(sdk, keys[who], **WINDOW)
    truth = truth_totals(api, scope_ids(orgs, who))
    assert usage_vector(row.usage) == truth_vector(truth)
    u = row.usage
    assert u.total_tokens == sum(usage_vector(u)[:5]) > 0
    assert row.starting_at.isoformat() == "2026-10-21T00:00:00+00:00"
    assert row.ending_at.isoformat() == "2026-11-21T00:00:00+00:00"
    (cost,) = walk_cost(sdk, keys[who], **WINDOW)
    assert Decimal(cost.cost.amount) == truth["cost_cents"]
    assert Decimal(cost.cost.list_amount) == truth["list_cost_cents"]
    assert cost.cost.currency == "USD"
    assert cost.cost.requests == truth["requests"]
    assert len(cost.cost.amount.split(".")[1]) == 6


@pytest.mark.parametrize("dim", DIMS)
def test_each_dimension_sums_to_total(
    sdk: Any, keys: dict[str, str], totals: dict[str, Any], dim: str
) -> None:
    key = keys["enterprise"]
    rows = walk_usage(sdk, key, group_by=[dim], **WINDOW)
    assert vsum(usage_vector(r.usage) for r in rows) == totals["enterprise"][0]
    values = [getattr(r.group, dim) for r in rows]
    assert len(values) == len({repr(v) for v in values})  # one row per value
    for r in rows:  # only the grouped key carries a value
        others = r.group.model_dump(exclude={dim})
        assert all(v is None for v in others.values())
    costs = walk_cost(sdk, key, group_by=[dim], **WINDOW)
    assert money(costs) == totals["enterprise"][1]
    assert sum(c.cost.requests or 0 for c in costs) == totals["enterprise"][2]
    for c in costs:
        assert Decimal(c.cost.amount) <= Decimal(c.cost.list_amount)


def test_dimension_values(
    sdk: Any, keys: dict[str, str], orgs: dict[str, Any], simulator: RunningSimulator
) -> None:
    key = keys["enterprise"]

    def values(dim: str) -> set[Any]:
        return {getattr(r.group, dim) for r in walk_usage(sdk, key, group_by=[dim], **WINDOW)}

    assert values("organization_id") == set(scope_ids(orgs, "enterprise"))
    assert values("inference_geo") == {"global", "us", None}
    default_ws = simulator.sim.world.console.workspaces[0]
    assert default_ws.is_default
    assert default_ws.id in values("workspace_id")
    assert {"messages_api", "chat", "claude_code", None} <= values("product")
    assert values("user_profile_id") == {None}
    assert values("actor_type") == {"user_actor", "api_actor", "service_account_actor", None}
    # Code execution rows: no product, no model, zero tokens, requests = spans.
    rows = walk_usage(sdk, key, group_by=["product", "model"], **WINDOW)
    (sandbox,) = [r for r in rows if r.group.product is None and r.group.model is None]
    assert sandbox.usage.total_tokens == 0
    assert (sandbox.usage.requests or 0) > 0


def test_actor_objects(sdk: Any, keys: dict[str, str], simulator: RunningSimulator) -> None:
    rows = walk_usage(sdk, keys["enterprise"], group_by=["actor", "actor_type"], **WINDOW)
    users = {u.id: u for o in simulator.sim.world.orgs for u in o.users}
    seen = set()
    for r in rows:
        a, t = r.group.actor, r.group.actor_type
        if a is None:
            assert t is None
            continue
        assert a.type == t
        seen.add(a.type)
        if a.type == "user_actor":
            u = users[a.user_id]
            assert (a.email_address, a.name, a.deleted) == (u.email, u.name, u.deleted)
        elif a.type == "api_actor":
            assert a.api_key_id.startswith("apikey_")
        else:
            assert a.service_account_id.startswith("svac_")
    assert seen == {"user_actor", "api_actor", "service_account_actor"}


def test_rbac_fanout(
    sdk: Any, keys: dict[str, str], totals: dict[str, Any], simulator: RunningSimulator
) -> None:
    key = keys["enterprise"]
    rows = walk_usage(sdk, key, group_by=["rbac_group_id"], **WINDOW)
    by_group = {r.group.rbac_group_id: usage_vector(r.usage) for r in rows}
    fanned = vsum(by_group.values())
    total = totals["enterprise"][0]
    assert all(f >= t for f, t in zip(fanned, total, strict=True))
    assert fanned != total
    # Each day's usage counts in the groups its user belongs to that day.
    actors = walk_usage(sdk, key, group_by=["actor"], time_bucket_width="1d", **WINDOW)
    org_of = {u.id: o for o in simulator.sim.world.orgs for u in o.users}
    expected: dict[str | None, list[tuple[int, ...]]] = defaultdict(list)
    changed = set()
    for r in actors:
        a = r.group.actor
        groups: tuple[str, ...] = ()
        if a and a.type == "user_actor":
            org, day = org_of[a.user_id], r.starting_at.date()
            groups = org.groups_of(a.user_id, day)
            if groups != org.groups_of(a.user_id, date(2026, 10, 21)):
                changed.add(a.user_id)
        for g in groups or (None,):
            expected[g].append(usage_vector(r.usage))
    assert changed  # memberships change inside the window
    assert by_group == {g: vsum(v) for g, v in expected.items()}
    # The filter (tagged or bare id) selects the group's members' usage.
    gid = next(g for g in by_group if g)
    for ref in (gid, gid.removeprefix("rbac_group_")):
        (row,) = walk_usage(sdk, key, rbac_group_ids=[ref], **WINDOW)
        assert usage_vector(row.usage) == by_group[gid]


def test_cost_fanouts(
    sdk: Any, api: Api, keys: dict[str, str], orgs: dict[str, Any], totals: dict[str, Any]
) -> None:
    key = keys["enterprise"]
    truth = truth_totals(api, scope_ids(orgs, "enterprise"))
    by_type = walk_cost(sdk, key, group_by=["cost_type"], **WINDOW)
    assert money(by_type) == totals["enterprise"][1]
    amounts = {r.group.cost_type: Decimal(r.cost.amount) for r in by_type}
    assert amounts == {
        "tokens": truth["token_cost_cents"],
        "web_search": truth["web_search_cost_cents"],
        "code_execution": truth["code_execution_cost_cents"],
        "session_usage": truth["session_usage_cost_cents"],
    }
    assert all(r.cost.requests is None and r.group.token_type is None for r in by_type)
    by_token = walk_cost(sdk, key, group_by=["token_type"], **WINDOW)
    assert money(by_token) == totals["enterprise"][1]
    token_rows = [r for r in by_token if r.group.token_type]
    assert len(token_rows) == 5
    assert all(r.group.cost_type == "tokens" for r in token_rows)
    assert money(token_rows)[0] == truth["token_cost_cents"]
    both = walk_cost(sdk, key, group_by=["cost_type", "token_type", "model"], **WINDOW)
    assert money(both) == totals["enterprise"][1]
    assert all(r.cost.requests is None for r in both)
    assert all(r.group.token_type is None for r in both if r.group.cost_type != "tokens")
    assert all(Decimal(r.cost.amount) > 0 for r in both)  # zero components are left out


def test_configurable_behaviours(fresh_simulator: RunningSimulator) -> None:
    cfg = fresh_simulator.sim.config
    cfg.analytics_token_type_other_rows = "combined"
    cfg.analytics_envelope_org_id = True
    cfg.analytics_console_products = "null"
    cfg.analytics_empty_total_row = False
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    day = {"starting_at": "2026-11-20T00:00:00Z", "ending_at": "2026-11-21T00:00:00Z"}
    body = api.get(COST, key, {**day, "group_by[]": "token_type", "limit": 5}).json()
    other = [x for x in body["data"] if x["group"]["token_type"] is None]
    assert len(body["data"]) == 6
    assert len(other) == 1
    assert other[0]["group"]["cost_type"] is None
    info = {o["name"]: o for o in api.info()["organizations"]}
    assert body["organization_id"] == info["Acme Enterprise"]["id"]
    console = api.key("console", "admin")
    products = api.get(USAGE, console, {**day, "group_by[]": "product"}).json()["data"]
    assert [r["group"]["product"] for r in products] == [None]
    # The filter still selects Console products by their filter values.
    (api_row,) = api.get(USAGE, console, {**day, "products[]": "messages_api"}).json()["data"]
    assert api_row["usage"]["requests"] > 0
    empty = api.get(USAGE, console, {**day, "models[]": "claude-none"}).json()
    assert empty["data"] == []


def test_pages_keep_their_snapshot(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    params = {"starting_at": "2026-11-20T00:00:00Z", "group_by[]": ["actor", "model"]}
    whole = api.get(USAGE, key, {**params, "limit": 1000}).json()["data"]
    first = api.get(USAGE, key, {**params, "limit": 5}).json()
    fresh_simulator.sim.clock.set(NOW + timedelta(days=2))  # new usage, and revisions
    moved = api.get(USAGE, key, {**params, "limit": 1000}).json()["data"]
    assert moved[5:10] != whole[5:10]
    second = api.get(USAGE, key, {**params, "limit": 5, "page": first["next_page"]}).json()
    assert first["data"] + second["data"] == whole[:10]


# ---------------------------------------------------------------------------------------------
# Buckets, ranges, ordering, pagination


def test_day_buckets_sum_to_whole_range(
    sdk: Any, api: Api, keys: dict[str, str], orgs: dict[str, Any], totals: dict[str, Any]
) -> None:
    key = keys["console"]
    rows = walk_usage(sdk, key, time_bucket_width="1d", group_by=["model"], **WINDOW)
    assert vsum(usage_vector(r.usage) for r in rows) == totals["console"][0]
    days = {r.starting_at for r in rows}
    assert len(days) == 31
    assert all(
        r.ending_at - r.starting_at == (r.ending_at - r.starting_at).__class__(days=1) for r in rows
    )
    truth = api.truth(org=orgs["console"]["id"], start=START[:10], end=END[:10])
    for day in truth["organizations"][0]["days"]:
        got = vsum(
            usage_vector(r.usage) for r in rows if r.starting_at.date().isoformat() == day["date"]
        )
        assert got == truth_vector(day)
    costs = walk_cost(sdk, key, time_bucket_width="1d", **WINDOW)
    assert money(costs) == totals["console"][1]
    hours = walk_usage(
        sdk,
        key,
        time_bucket_width="1h",
        starting_at="2026-11-20T00:00:00Z",
        ending_at="2026-11-21T00:00:00Z",
    )
    (day_row,) = walk_usage(
        sdk, key, starting_at="2026-11-20T00:00:00Z", ending_at="2026-11-21T00:00:00Z"
    )
    assert vsum(usage_vector(r.usage) for r in hours) == usage_vector(day_row.usage)
    assert 12 <= len(hours) <= 24


def test_unbucketed_rows_cover_whole_hours(api: Api, keys: dict[str, str]) -> None:
    key = keys["console"]
    body = api.get(USAGE, key, {"starting_at": "2026-11-20T10:30:00Z"}).json()
    (row,) = body["data"]
    # Default end: min(now, start + 31 d) = now (12:00), rounded down to the hour.
    assert (row["starting_at"], row["ending_at"]) == (
        "2026-11-20T10:00:00Z",
        "2026-11-22T12:00:00Z",
    )
    hours = api.get(
        USAGE,
        key,
        {
            "starting_at": "2026-11-20T10:00:00Z",
            "limit": 1000,
            "ending_at": "2026-11-22T12:00:00Z",
            "time_bucket_width": "1h",
        },
    )
    assert vsum(usage_vector(r["usage"]) for r in hours.json()["data"]) == usage_vector(
        row["usage"]
    )
    old = api.get(USAGE, key, {"starting_at": "2026-09-01T00:00:00+00:00"}).json()
    assert old["data"][0]["ending_at"] == "2026-10-02T00:00:00Z"
    assert body["data_refreshed_at"] == "2026-11-22T12:00:00Z"
    assert body["has_more"] is False
    assert body["next_page"] is None


def test_ordering(api: Api, keys: dict[str, str]) -> None:
    key = keys["enterprise"]
    base = {**WINDOW, "group_by[]": ["actor", "model"], "limit": 1000}

    def metric(order_by: str, order: str) -> list[int]:
        rows = api.get(USAGE, key, {**base, "order_by": order_by, "order": order}).json()["data"]
        return [r["usage"][order_by] for r in rows]

    default = [r["usage"]["total_tokens"] for r in api.get(USAGE, key, base).json()["data"]]
    assert default == sorted(default, reverse=True) == metric("total_tokens", "desc")
    assert metric("total_tokens", "asc") == sorted(default)
    out = metric("output_tokens", "desc")
    assert out == sorted(out, reverse=True)
    req = metric("requests", "asc")
    assert req == sorted(req)
    costs = api.get(COST, key, {**base, "order_by": "list_amount"}).json()["data"]
    lst = [Decimal(r["cost"]["list_amount"]) for r in costs]
    assert lst == sorted(lst, reverse=True)
    timed = api.get(
        USAGE,
        key,
        {
            **WINDOW,
            "time_bucket_width": "1d",
            "order_by": "time",
            "group_by[]": "model",
            "limit": 1000,
        },
    ).json()["data"]
    keys_ = [(r["starting_at"], -r["usage"]["total_tokens"]) for r in timed]
    assert [k[0] for k in keys_] == sorted((k[0] for k in keys_), reverse=True)
    assert keys_ == sorted(keys_, key=lambda k: (tuple(-ord(c) for c in k[0]), k[1]))
    asc = api.get(
        USAGE,
        key,
        {**WINDOW, "time_bucket_width": "1d", "order_by": "time", "order": "asc", "limit": 1000},
    ).json()["data"]
    assert [r["starting_at"] for r in asc] == sorted(r["starting_at"] for r in asc)


@pytest.mark.parametrize("path", [USAGE, COST])
def test_pages_concatenate_to_one_page(api: Api, keys: dict[str, str], path: str) -> None:
    key = keys["enterprise"]
    params: dict[str, Any] = {**WINDOW, "group_by[]": ["model", "product", "rbac_group_id"]}
    if path == COST:
        params["group_by[]"] = [*params["group_by[]"], "cost_type"]
    whole = api.get(path, key, {**params, "limit": 1000}).json()
    assert whole["has_more"] is False
    pages: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        body = api.get(path, key, {**params, "limit": 7, **({"page": page} if page else {})})
        assert body.status_code == 200
        b = body.json()
        units = {(r["group"]["model"], r["group"]["product"]) for r in b["data"]}
        assert len(units) <= 7 < len(b["data"])  # fan-out rows don't count toward limit
        pages.extend(b["data"])
        page = b["next_page"]
        assert b["has_more"] == (page is not None)
        if not page:
            break
    assert pages == whole["data"]


def test_cursor_is_bound_to_query(api: Api, keys: dict[str, str]) -> None:
    key = keys["console"]
    params = {**WINDOW, "group_by[]": "model", "limit": 2}
    first = api.get(USAGE, key, params).json()
    cursor = first["next_page"]
    assert first["has_more"]
    assert cursor
    changed = api.get(USAGE, key, {**params, "group_by[]": "product", "page": cursor})
    assert changed.status_code == 400
    assert changed.json()["error"]["message"] == "cursor does not match current query parameters"
    other = api.get(USAGE, key, {**params, "models[]": "claude-opus-5", "page": cursor})
    assert other.status_code == 400
    second = api.get(USAGE, key, {**params, "page": cursor, "limit": 3}).json()
    whole = api.get(USAGE, key, {**params, "limit": 5}).json()
    assert first["data"] + second["data"] == whole["data"]


# ---------------------------------------------------------------------------------------------
# Filters


FILTER_DIMS = [
    ("models", "model"),
    ("products", "product"),
    ("service_tiers", "service_tier"),
    ("context_windows", "context_window"),
    ("speeds", "speed"),
    ("workspace_ids", "workspace_id"),
    ("agent_ids", "agent_id"),
    ("deployment_ids", "deployment_id"),
    ("environment_ids", "environment_id"),
    ("session_ids", "session_id"),
    ("slack_channel_ids", "slack_channel_id"),
    ("claude_tag_categories", "claude_tag_category"),
    ("claude_tag_user_ids", "claude_tag_user_id"),
    ("actor_types", "actor_type"),
    ("api_key_ids", "api_key_id"),
    ("inference_geos", "inference_geo"),
    ("organization_ids", "organization_id"),
]


@pytest.mark.parametrize(("param", "dim"), FILTER_DIMS)
def test_filter_matches_its_group_row(api: Api, keys: dict[str, str], param: str, dim: str) -> None:
    key = keys["enterprise"]
    rows = api.get(USAGE, key, {**WINDOW, "group_by[]": dim, "limit": 1000}).json()["data"]
    named = [r for r in rows if r["group"][dim] is not None]
    assert named
    pick = named[-1]  # the smallest named group
    value = pick["group"][dim]
    (got,) = api.get(USAGE, key, {**WINDOW, f"{param}[]": value}).json()["data"]
    assert usage_vector(got["usage"]) == usage_vector(pick["usage"])


def test_special_filters(api: Api, keys: dict[str, str], totals: dict[str, Any]) -> None:
    key = keys["enterprise"]

    def total(**params: Any) -> tuple[int, ...]:
        body = api.get(USAGE, key, {**WINDOW, **params, "limit": 1000}).json()
        return vsum(usage_vector(r["usage"]) for r in body["data"])

    by_key = api.get(USAGE, key, {**WINDOW, "group_by[]": "api_key_id", "limit": 1000}).json()
    rows = {r["group"]["api_key_id"]: usage_vector(r["usage"]) for r in by_key["data"]}
    some = next(k for k in rows if k)
    assert total(**{"api_key_ids[]": [some, ""]}) == vsum([rows[some], rows[None]])
    # not_available = region unset: the null geo row minus code execution (no tokens, spans).
    by_geo = {
        r["group"]["inference_geo"]: usage_vector(r["usage"])
        for r in api.get(USAGE, key, {**WINDOW, "group_by[]": "inference_geo"}).json()["data"]
    }
    na = total(**{"inference_geos[]": "not_available"})
    assert na[0] > 0
    assert na[:6] == by_geo[None][:6]
    assert na[6] < by_geo[None][6]
    assert (
        vsum([na, total(**{"inference_geos[]": ["global", "us"]})])[:6]
        == totals["enterprise"][0][:6]
    )
    # An apikey_ actor id matches only usage attributed to the key itself.
    actors = api.get(USAGE, key, {**WINDOW, "group_by[]": "actor", "limit": 1000}).json()["data"]
    api_row = next(
        r for r in actors if r["group"]["actor"] and r["group"]["actor"]["type"] == "api_actor"
    )
    kid = api_row["group"]["actor"]["api_key_id"]
    assert total(**{"actor_ids[]": kid}) == usage_vector(api_row["usage"])
    user_row = next(
        r for r in actors if r["group"]["actor"] and r["group"]["actor"]["type"] == "user_actor"
    )
    assert total(**{"actor_ids[]": user_row["group"]["actor"]["user_id"]}) == usage_vector(
        user_row["usage"]
    )
    # Filters that match nothing for this data.
    assert total(**{"user_profile_ids[]": "uprof_01abc"}) == (0,) * 7
    assert total(**{"organization_ids[]": "org_unknown"}) == (0,) * 7
    assert total(**{"actor_types[]": "federated_actor"}) == (0,) * 7
    # exclude_deleted_users drops deleted users' rows, keeps the rest (removed members were
    # still active in the spring).
    spring = {
        "starting_at": "2026-04-01T00:00:00Z",
        "ending_at": "2026-05-01T00:00:00Z",
        "group_by[]": "actor",
        "limit": 1000,
    }
    actors = api.get(USAGE, key, spring).json()["data"]
    kept = api.get(USAGE, key, {**spring, "exclude_deleted_users": "true"}).json()["data"]
    deleted = [r for r in actors if r["group"]["actor"] and r["group"]["actor"].get("deleted")]
    assert deleted
    assert len(kept) == len(actors) - len(deleted)
    assert not any(r["group"]["actor"] and r["group"]["actor"].get("deleted") for r in kept)


def test_organization_ids_filter(
    sdk: Any, api: Api, keys: dict[str, str], orgs: dict[str, Any]
) -> None:
    child = orgs["console"]
    truth = truth_totals(api, [child["id"]])
    for ref in (child["id"], child["tagged_id"]):
        (row,) = walk_cost(sdk, keys["enterprise"], organization_ids=[ref], **WINDOW)
        assert Decimal(row.cost.amount) == truth["cost_cents"]
    r = api.get(USAGE, keys["console"], {**WINDOW, "organization_ids[]": child["id"]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["details"]["error_code"] == "parent_organization_required"


# ---------------------------------------------------------------------------------------------
# Errors, shapes, speed


ERRORS = [
    ({"starting_at": "2025-12-31T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z"}, "2026-01-01"),
    ({"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z"}, "31 days"),
    ({**WINDOW, "time_bucket_width": "1m", "ending_at": "2026-10-22T00:00:01Z"}, "24 hours"),
    (
        {
            **WINDOW,
            "group_by[]": ["model", "product", "speed", "actor", "workspace_id", "agent_id"],
        },
        "at most 5",
    ),
    ({**WINDOW, "group_by[]": "team"}, "group_by"),
    ({**WINDOW, "group_by[]": "cost_type"}, "group_by"),
    ({"starting_at": START, "time_bucket_width": "1d"}, "ending_at"),
    ({**WINDOW, "exclude_deleted_users": "true", "group_by[]": "model"}, "exclude_deleted_users"),
    ({"starting_at": END, "ending_at": START}, "after starting_at"),
    ({"ending_at": END}, "starting_at"),
    ({**WINDOW, "limit": 0}, "limit"),
    ({**WINDOW, "limit": 1001}, "limit"),
    ({**WINDOW, "time_bucket_width": "1w"}, "time_bucket_width"),
    ({**WINDOW, "order_by": "amount"}, "order_by"),
    ({**WINDOW, "products[]": "api"}, "products"),
    ({**WINDOW, "products[]": "chat_cowork_unified"}, "chat_cowork_unified"),
    ({**WINDOW, "actor_ids[]": "wrkspc_01x"}, "actor_ids"),
    ({**WINDOW, "models[]": [f"m{i}" for i in range(101)]}, "at most 100"),
    ({**WINDOW, "claude_tag_user_ids[]": "U01", "group_by[]": "rbac_group_id"}, "rbac"),
    ({**WINDOW, "claude_tag_user_ids[]": "U01", "rbac_group_ids[]": "rbac_group_x"}, "rbac"),
]


@pytest.mark.parametrize(("params", "fragment"), ERRORS)
def test_invalid_queries(
    api: Api, keys: dict[str, str], params: dict[str, Any], fragment: str
) -> None:
    r = api.get(USAGE, keys["enterprise"], params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]
    assert body["request_id"] == r.headers["request-id"]


def test_cost_dimension_count_and_beta_header(api: Api, keys: dict[str, str]) -> None:
    five = ["model", "product", "speed", "actor", "workspace_id"]
    ok = api.get(
        COST,
        keys["console"],
        {**WINDOW, "group_by[]": [*five, "cost_type", "token_type"], "limit": 1},
    )
    assert ok.status_code == 200
    assert ok.json()["has_more"] is True
    for path in (USAGE, COST):
        r = api.get(path, keys["console"], WINDOW, beta=False)
        assert r.status_code == 400
        assert "analytics-usage-cost-2026-08-24" in r.json()["error"]["message"]


def test_lookback_of_365_days(fresh_simulator: RunningSimulator) -> None:
    fresh_simulator.sim.clock.set(fresh_simulator.sim.now().replace(year=2027, month=3, day=1))
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    r = api.get(
        USAGE, key, {"starting_at": "2026-02-01T00:00:00Z", "ending_at": "2026-02-02T00:00:00Z"}
    )
    assert r.status_code == 400
    assert "365 days" in r.json()["error"]["message"]
    assert api.get(USAGE, key, {"starting_at": "2026-03-05T00:00:00Z"}).status_code == 200


def test_rows_validate_against_sdk_models(api: Api, keys: dict[str, str]) -> None:
    key = keys["enterprise"]
    for path, model, extra in (
        (USAGE, BetaAnalyticsUsageItem, []),
        (COST, BetaAnalyticsCostItem, ["cost_type", "token_type"]),
    ):
        groups = ["actor", "inference_geo", "product", "rbac_group_id", "organization_id", *extra]
        body = api.get(path, key, {**WINDOW, "group_by[]": groups, "limit": 50}).json()
        assert set(body) == {"data", "has_more", "next_page", "data_refreshed_at"}
        for row in body["data"]:
            model.model_validate(row)
            all_keys = set(model.model_fields["group"].annotation.model_fields)  # type: ignore[union-attr]
            assert set(row["group"]) == all_keys


def test_page_of_1000_rows_is_fast(api: Api, keys: dict[str, str]) -> None:
    params: dict[str, Any] = {
        **WINDOW,
        "time_bucket_width": "1h",
        "limit": 1000,
        "group_by[]": ["actor", "model"],
    }
    api.get(COST, keys["enterprise"], WINDOW)  # facts generated; the query itself is not cached
    timings: list[float] = []
    page = None
    while True:
        t0 = time.perf_counter()
        r = api.get(COST, keys["enterprise"], {**params, **({"page": page} if page else {})})
        timings.append((time.perf_counter() - t0) * 1000)
        body = r.json()
        assert len(body["data"]) == 1000 or not body["has_more"]
        page = body["next_page"]
        if not page:
            break
    assert len(timings) >= 3
    first, rest = timings[0], statistics.median(timings[1:-1])
    print(f"\n1,000-row page: first {first:.1f} ms, subsequent median {rest:.1f} ms")
    assert first < 1000
    assert rest < 150
