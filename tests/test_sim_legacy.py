"""Family C: the legacy Claude Enterprise cost/usage reports, over real HTTP."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anthropic
import pytest
from anthropic.types.beta.organization import (
    BetaAnalyticsCostReportTimeBucket,
    BetaAnalyticsCostUsersItem,
    BetaAnalyticsUsageReportTimeBucket,
    BetaAnalyticsUsageUsersItem,
)

from conftest import Api
from spendscope.simulator.server import RunningSimulator

B = "/v1/organizations/analytics"
START, END = "2026-10-22T00:00:00Z", "2026-11-22T00:00:00Z"  # 31 days
DAYS = [(date(2026, 10, 22) + timedelta(days=i)).isoformat() for i in range(31)]
TOKEN_FIELDS = (
    ("uncached_input_tokens", "uncached_input_tokens"),
    ("cache_read_input_tokens", "cache_read_input_tokens"),
    ("output_tokens", "output_tokens"),
)
BIG = ["model", "product", "context_window", "inference_geo", "speed", "rbac_group_id"]


def micro(amount: str) -> int:
    """A decimal string in cents -> integer micro-cents (exact)."""
    whole, _, frac = amount.partition(".")
    assert len(frac) == 6, amount
    return int(whole) * 1_000_000 + int(frac)


def usage_vector(row: dict[str, Any]) -> tuple[int, ...]:
    cc = row["cache_creation"]
    return (
        row["uncached_input_tokens"],
        row["cache_read_input_tokens"],
        cc["ephemeral_5m_input_tokens"],
        cc["ephemeral_1h_input_tokens"],
        row["output_tokens"],
        row["server_tool_use"]["web_search_requests"],
        row["requests"] or 0,
    )


def add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in params.items():
        for item in v if isinstance(v, list) else [v]:
            out.append((f"{k}[]" if isinstance(v, list) else k, str(item)))
    return out


@pytest.fixture(scope="module")
def ent(api: Api) -> dict[str, Any]:
    return next(o for o in api.info()["organizations"] if o["name"] == "Acme Enterprise")


@pytest.fixture(scope="module")
def get(api: Api, enterprise_key: str) -> Any:
    def call(path: str, **params: Any) -> dict[str, Any]:
        r = api.get(f"{B}/{path}", enterprise_key, pairs(params), beta=False)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    return call


@pytest.fixture(scope="module")
def client(simulator: RunningSimulator, enterprise_key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=enterprise_key, base_url=simulator.url, max_retries=0) as c:
        yield c


def walk(get: Any, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a query, following next_page; returns (rows, pages)."""
    rows: list[dict[str, Any]] = []
    page, pages = None, 0
    while True:
        body = get(path, **params, **({"page": page} if page else {}))
        rows += body["data"]
        pages += 1
        assert body["has_more"] == (body["next_page"] is not None)
        if not body["has_more"]:
            return rows, pages
        page = body["next_page"]


def truth_days(api: Api, ent: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    t = api.truth(org=ent["id"], start=DAYS[0], end="2026-11-22", **params)
    days: list[dict[str, Any]] = t["organizations"][0]["days"]
    return days


# -- SDK -------------------------------------------------------------------------------------


def test_sdk_paginators_walk_every_page(client: anthropic.Anthropic, get: Any) -> None:
    a = client.beta.organization.analytics
    buckets = list(
        a.usage_report.list(starting_at=START, ending_at=END, limit=5, group_by=["product"])
    )
    assert len(buckets) == 31
    assert all(isinstance(b, BetaAnalyticsUsageReportTimeBucket) for b in buckets)
    assert [b.starting_at for b in buckets] == sorted(b.starting_at for b in buckets)
    assert buckets[0].starting_at == datetime(2026, 10, 22, tzinfo=UTC)
    one = get("usage_report", starting_at=START, ending_at=END, limit=31, group_by=["product"])
    assert [b.model_dump(mode="json")["results"] for b in buckets] == [
        b["results"] for b in one["data"]
    ]

    costs = list(
        a.cost_report.list(
            starting_at=datetime(2026, 11, 1, tzinfo=UTC), limit=4, group_by=["cost_type"]
        )
    )
    assert len(costs) == 22  # default ending_at = now (2026-11-22T12:00Z): 22 daily buckets
    assert all(isinstance(b, BetaAnalyticsCostReportTimeBucket) for b in costs)
    assert {r.cost_type for b in costs for r in b.results} == {
        "tokens",
        "web_search",
        "code_execution",
    }

    users = list(a.user_usage_report.list(starting_at=START, ending_at=END, limit=7))
    assert all(isinstance(u, BetaAnalyticsUsageUsersItem) for u in users)
    full = get("user_usage_report", starting_at=START, ending_at=END, limit=1000)["data"]
    assert len(users) == len(full) > 7
    assert [u.actor.user_id for u in users] == [r["actor"]["user_id"] for r in full]
    assert [u.total_tokens for u in users] == sorted((u.total_tokens for u in users), reverse=True)

    ucost = list(
        a.user_cost_report.list(
            starting_at=START, ending_at=END, limit=9, order_by="list_amount", order="asc"
        )
    )
    assert all(isinstance(u, BetaAnalyticsCostUsersItem) for u in ucost)
    listed = [micro(u.list_amount) for u in ucost]
    assert listed == sorted(listed)
    assert len(ucost) == len(full)


# -- totals ----------------------------------------------------------------------------------


def test_ungrouped_daily_totals_equal_truth(get: Any, api: Api, ent: dict[str, Any]) -> None:
    usage = get("usage_report", starting_at=START, ending_at=END, limit=31)
    cost = get("cost_report", starting_at=START, ending_at=END, limit=31)
    assert usage["organization_id"] == ent["tagged_id"]
    assert not usage["has_more"]
    assert usage["data_refreshed_at"] == "2026-11-22T12:00:00Z"
    truth = {d["date"]: d for d in truth_days(api, ent)}
    assert len(truth) >= 28
    for ub, cb, day in zip(usage["data"], cost["data"], DAYS, strict=True):
        assert ub["starting_at"] == cb["starting_at"] == f"{day}T00:00:00Z"
        t = truth.get(day)
        if t is None:
            assert ub["results"] == []
            assert cb["results"] == []
            continue
        (u,), (c,) = ub["results"], cb["results"]
        assert usage_vector(u) == (
            t["uncached_input_tokens"],
            t["cache_read_input_tokens"],
            t["cache_creation_5m_input_tokens"],
            t["cache_creation_1h_input_tokens"],
            t["output_tokens"],
            t["web_search_requests"],
            t["requests"],
        )
        assert micro(c["amount"]) == micro(t["cost_cents"])
        assert micro(c["list_amount"]) == micro(t["list_cost_cents"])
        assert c["currency"] == "USD"
        assert c["requests"] == t["requests"]
        assert all(u[k] is None for k in ("model", "product", "rbac_group_id", "speed"))


@pytest.mark.parametrize("dim", ["product", "model", "inference_geo", "rbac_group_id"])
def test_grouped_usage_sums_to_total(get: Any, dim: str) -> None:
    total = get("usage_report", starting_at=START, ending_at=END, limit=31)["data"]
    grouped = get("usage_report", starting_at=START, ending_at=END, limit=31, group_by=[dim])[
        "data"
    ]
    values = set()
    for tb, gb in zip(total, grouped, strict=True):
        if not tb["results"]:
            assert gb["results"] == []
            continue
        s = (0,) * 7
        for row in gb["results"]:
            s = add(s, usage_vector(row))
            values.add(row[dim])
        if dim == "rbac_group_id":  # any-membership: groups overlap
            assert all(a >= b for a, b in zip(s, usage_vector(tb["results"][0]), strict=True))
        else:
            assert s == usage_vector(tb["results"][0])
    if dim == "product":
        assert "claude-tag" in values
        assert "claude_tag" not in values
        assert None in values
    if dim == "inference_geo":
        assert values == {"global", "us", None}  # not_available -> null
    if dim == "rbac_group_id":
        assert None in values
        assert len(values) == 11


@pytest.mark.parametrize(
    "dims", [["model"], ["cost_type"], ["token_type"], ["product", "cost_type", "token_type"]]
)
def test_grouped_cost_sums_to_total(get: Any, dims: list[str]) -> None:
    total = get("cost_report", starting_at=START, ending_at=END, limit=31)["data"]
    grouped = get("cost_report", starting_at=START, ending_at=END, limit=31, group_by=dims)["data"]
    for tb, gb in zip(total, grouped, strict=True):
        if not tb["results"]:
            continue
        rows = gb["results"]
        assert sum(micro(r["amount"]) for r in rows) == micro(tb["results"][0]["amount"])
        assert sum(micro(r["list_amount"]) for r in rows) == micro(tb["results"][0]["list_amount"])
        fanned = "cost_type" in dims or "token_type" in dims
        assert all((r["requests"] is None) == fanned for r in rows)
        if "token_type" in dims:
            assert {r["token_type"] for r in rows if r["cost_type"] == "tokens"} <= {
                "uncached_input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation.ephemeral_5m_input_tokens",
                "cache_creation.ephemeral_1h_input_tokens",
            }
            assert all(r["token_type"] is None for r in rows if r["cost_type"] != "tokens")
            assert None not in {r["token_type"] for r in rows if r["cost_type"] == "tokens"}


def test_top_100_groups_per_bucket(get: Any) -> None:
    usage = get("usage_report", starting_at=START, ending_at=END, limit=31, group_by=BIG)
    sizes = [len(b["results"]) for b in usage["data"]]
    assert max(sizes) == 100
    assert all(s <= 100 for s in sizes)
    for b in usage["data"]:
        tokens = [sum(usage_vector(r)[:5]) for r in b["results"]]
        assert tokens == sorted(tokens, reverse=True)
    cost = get("cost_report", starting_at=START, ending_at=END, limit=31, group_by=BIG)
    for b in cost["data"]:
        amounts = [micro(r["amount"]) for r in b["results"]]
        assert len(amounts) <= 100
        assert amounts == sorted(amounts, reverse=True)


def test_cap_keeps_the_largest_groups(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    params = pairs({"starting_at": START, "ending_at": END, "limit": 31, "group_by": BIG})
    capped = api.get(f"{B}/usage_report", key, params).json()["data"]
    api.http.post("/_simulator/config", json={"legacy_group_cap": 100_000}).raise_for_status()
    full = api.get(f"{B}/usage_report", key, params).json()["data"]
    over = 0
    for cb, fb in zip(capped, full, strict=True):

        def tokens(r: dict[str, Any]) -> int:
            return sum(usage_vector(r)[:5])

        ranked = sorted(fb["results"], key=tokens, reverse=True)
        assert [tokens(r) for r in cb["results"]] == [tokens(r) for r in ranked[:100]]
        if len(fb["results"]) > 100:
            over += 1
            assert len(cb["results"]) == 100  # no remainder row
            capped_sum = sum(tokens(r) for r in cb["results"])
            assert capped_sum < sum(tokens(r) for r in fb["results"])
    assert over > 0


# -- per-user reports ------------------------------------------------------------------------


def test_user_reports_sum_to_truth_over_users(get: Any, api: Api, ent: dict[str, Any]) -> None:
    by_user: dict[str, tuple[int, ...]] = defaultdict(lambda: (0,) * 8)
    for d in truth_days(api, ent, group_by="user_id"):
        uid = d["group"]["user_id"]
        if uid is None:
            continue
        by_user[uid] = add(
            by_user[uid],
            (
                d["uncached_input_tokens"],
                d["cache_read_input_tokens"],
                d["cache_creation_5m_input_tokens"],
                d["cache_creation_1h_input_tokens"],
                d["output_tokens"],
                d["web_search_requests"],
                d["requests"],
                micro(d["cost_cents"]),
            ),
        )
    usage = get("user_usage_report", starting_at=START, ending_at=END, limit=1000)
    cost = get("user_cost_report", starting_at=START, ending_at=END, limit=1000)
    assert not usage["has_more"]
    assert usage["organization_id"] == ent["tagged_id"]
    assert len(usage["data"]) == len(cost["data"]) == len(by_user)
    for row in usage["data"]:
        t = by_user[row["actor"]["user_id"]]
        assert usage_vector(row) == t[:7]
        assert row["total_tokens"] == sum(t[:5])
        assert row["starting_at"] is None
        assert row["ending_at"] is None
    for row in cost["data"]:
        actor = row["actor"]
        assert micro(row["amount"]) == by_user[actor["user_id"]][7]
        assert actor["type"] == "user_actor"
        assert actor["email"] == actor["email_address"]
        assert actor["email_address"].endswith("@acme.example")
        assert actor["name"]
        assert actor["deleted"] is False  # removed members were inactive in this window
    amounts = [micro(r["amount"]) for r in cost["data"]]
    assert amounts == sorted(amounts, reverse=True)


def test_user_report_buckets_match_truth(get: Any, api: Api, ent: dict[str, Any]) -> None:
    t = api.truth(org=ent["id"], start="2026-11-10", end="2026-11-13", group_by="user_id")
    expected = {
        (d["date"], d["group"]["user_id"]): micro(d["cost_cents"])
        for d in t["organizations"][0]["days"]
        if d["group"]["user_id"]
    }
    rows, pages = walk(
        get,
        "user_cost_report",
        starting_at="2026-11-10T00:00:00Z",
        ending_at="2026-11-13T00:00:00Z",
        bucket_width="1d",
        limit=25,
    )
    assert pages > 1
    got = {(r["starting_at"][:10], r["actor"]["user_id"]): micro(r["amount"]) for r in rows}
    assert got == expected
    assert all(
        r["ending_at"]
        == (datetime.fromisoformat(r["starting_at"]) + timedelta(days=1))
        .isoformat()
        .replace("+00:00", "Z")
        for r in rows
    )


def test_user_cost_fanout_rows_do_not_count_toward_limit(get: Any) -> None:
    plain = get("user_cost_report", starting_at=START, ending_at=END, limit=5)
    fan = get(
        "user_cost_report", starting_at=START, ending_at=END, limit=5, group_by=["token_type"]
    )
    assert len(plain["data"]) == 5
    assert len(fan["data"]) > 5
    assert fan["has_more"]
    for p in plain["data"]:
        mine = [r for r in fan["data"] if r["actor"]["user_id"] == p["actor"]["user_id"]]
        assert sum(micro(r["amount"]) for r in mine) == micro(p["amount"])
        assert all(r["requests"] is None for r in mine)
        assert p["requests"] > 0
    rows, _ = walk(
        get, "user_cost_report", starting_at=START, ending_at=END, limit=7, group_by=["token_type"]
    )
    one = get(
        "user_cost_report", starting_at=START, ending_at=END, limit=1000, group_by=["token_type"]
    )
    assert rows == one["data"]


def test_user_report_group_by_and_order(get: Any) -> None:
    plain = get("user_usage_report", starting_at=START, ending_at=END, limit=1000)["data"]
    split = get(
        "user_usage_report",
        starting_at=START,
        ending_at=END,
        limit=1000,
        group_by=["product"],
        order_by="output_tokens",
        order="asc",
    )["data"]
    assert len(split) > len(plain)
    outs = [r["output_tokens"] for r in split]
    assert outs == sorted(outs)
    per_user: dict[str, tuple[int, ...]] = defaultdict(lambda: (0,) * 7)
    for r in split:
        per_user[r["actor"]["user_id"]] = add(per_user[r["actor"]["user_id"]], usage_vector(r))
    assert per_user == {r["actor"]["user_id"]: usage_vector(r) for r in plain}


def test_exclude_deleted_users(get: Any) -> None:
    # Deleted members were active only in the first half of the history (before May 2026).
    window = {"starting_at": "2026-04-01T00:00:00Z", "ending_at": "2026-05-01T00:00:00Z"}
    rows, _ = walk(get, "user_usage_report", **window, limit=10)
    deleted = {r["actor"]["user_id"] for r in rows if r["actor"]["deleted"]}
    assert deleted
    kept, _ = walk(get, "user_usage_report", **window, limit=10, exclude_deleted_users="true")
    assert not any(r["actor"]["deleted"] for r in kept)
    assert len(kept) == len(rows) - len(deleted)


# -- filters ---------------------------------------------------------------------------------


def _total(get: Any, **params: Any) -> tuple[int, ...]:
    s = (0,) * 7
    for b in get("usage_report", starting_at=START, ending_at=END, limit=31, **params)["data"]:
        for r in b["results"]:
            s = add(s, usage_vector(r))
    return s


def _group_total(get: Any, dim: str, value: Any) -> tuple[int, ...]:
    s = (0,) * 7
    for b in get("usage_report", starting_at=START, ending_at=END, limit=31, group_by=[dim])[
        "data"
    ]:
        for r in b["results"]:
            if r[dim] == value:
                s = add(s, usage_vector(r))
    return s


def test_filters_select_what_grouping_shows(get: Any, ent: dict[str, Any]) -> None:
    tag = _total(get, products=["claude-tag"])
    assert tag[0] > 0
    assert tag == _group_total(get, "product", "claude-tag")
    na = _total(get, inference_geos=["not_available"])
    assert na[0] > 0
    assert na == _group_total(get, "inference_geo", None)
    assert _total(get, models=["claude-haiku-4-5"]) == _group_total(
        get, "model", "claude-haiku-4-5"
    )
    groups = get(
        "usage_report", starting_at=START, ending_at=END, limit=31, group_by=["rbac_group_id"]
    )["data"]
    gid = next(r["rbac_group_id"] for b in groups for r in b["results"] if r["rbac_group_id"])
    tagged = _total(get, rbac_group_ids=[gid])
    assert tagged[0] > 0
    assert tagged == _total(get, rbac_group_ids=[gid[len("rbac_group_") :]])
    assert tagged == _group_total(get, "rbac_group_id", gid)
    assert _total(get, rbac_group_ids=["rbac_group_nope"]) == (0,) * 7
    users = get("user_usage_report", starting_at=START, ending_at=END, limit=2)["data"]
    ids = [u["actor"]["user_id"] for u in users]
    only = get("user_usage_report", starting_at=START, ending_at=END, user_ids=ids)["data"]
    assert [u["actor"]["user_id"] for u in only] == ids
    assert _total(get, user_ids=ids) == add(usage_vector(users[0]), usage_vector(users[1]))
    cats = get(
        "usage_report",
        starting_at=START,
        ending_at=END,
        limit=31,
        claude_tag_categories=["dm"],
        group_by=["claude_tag_category", "product"],
    )
    seen = {(r["claude_tag_category"], r["product"]) for b in cats["data"] for r in b["results"]}
    assert seen == {("dm", "claude-tag")}


# -- buckets and pagination ------------------------------------------------------------------


def test_dense_hour_and_minute_buckets(get: Any) -> None:
    hours = get(
        "usage_report",
        starting_at="2026-11-15T00:00:00Z",
        ending_at="2026-11-16T00:00:00Z",
        bucket_width="1h",
    )
    assert len(hours["data"]) == 24
    assert not hours["has_more"]
    starts = [datetime.fromisoformat(b["starting_at"]) for b in hours["data"]]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    assert any(b["results"] == [] for b in hours["data"])  # a quiet Sunday night
    minutes, pages = walk(
        get,
        "usage_report",
        starting_at="2026-11-16T00:00:00Z",
        ending_at="2026-11-17T00:00:00Z",
        bucket_width="1m",
        limit=256,
    )
    assert len(minutes) == 1440
    assert pages == 6
    assert sum(1 for b in minutes if b["results"]) > 30
    default = get("usage_report", starting_at="2026-11-16T06:30:00Z", bucket_width="1m")
    assert len(default["data"]) == 60
    assert default["has_more"]
    assert default["data"][0]["starting_at"] == "2026-11-16T06:30:00Z"
    snapped = get("usage_report", starting_at="2026-11-20T06:30:00Z", limit=31)
    assert [b["starting_at"][:10] for b in snapped["data"]] == [
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ]


def test_pages_concatenate_and_cursor_is_bound(api: Api, enterprise_key: str, get: Any) -> None:
    q = {"starting_at": START, "ending_at": END, "group_by": ["model"]}
    rows, pages = walk(get, "usage_report", **q, limit=3)
    assert pages == 11
    assert rows == get("usage_report", **q, limit=31)["data"]
    first = get("user_usage_report", **q, limit=4)
    bad = api.get(
        f"{B}/user_usage_report",
        enterprise_key,
        pairs({**q, "group_by": ["product"], "page": first["next_page"]}),
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "type": "invalid_request_error",
        "message": "cursor does not match current query parameters",
    }
    # Changing only limit keeps the cursor valid.
    second = get("user_usage_report", **q, limit=6, page=first["next_page"])
    one = get("user_usage_report", **q, limit=1000)["data"]
    assert second["data"] == one[4:10]


def test_page_of_1000_rows_is_fast(api: Api, enterprise_key: str) -> None:
    params = pairs(
        {
            "starting_at": START,
            "ending_at": END,
            "bucket_width": "1d",
            "group_by": ["model"],
            "limit": 1000,
        }
    )
    first = api.get(f"{B}/user_usage_report", enterprise_key, params)
    assert len(first.json()["data"]) == 1000
    nxt = [*params, ("page", first.json()["next_page"])]
    best = min(_timed(api, enterprise_key, nxt) for _ in range(3))
    assert best < 0.05


def _timed(api: Api, key: str, params: list[tuple[str, str]]) -> float:
    t = time.perf_counter()
    r = api.get(f"{B}/user_usage_report", key, params)
    elapsed = time.perf_counter() - t
    assert r.status_code == 200
    assert r.json()["data"]
    return elapsed


# -- errors ----------------------------------------------------------------------------------

BAD: list[tuple[str, dict[str, Any]]] = [
    ("usage_report", {}),
    ("usage_report", {"starting_at": "2025-12-31T00:00:00Z"}),
    ("usage_report", {"starting_at": "2026-11-23T00:00:00Z"}),
    ("usage_report", {"starting_at": "not-a-date"}),
    ("cost_report", {"starting_at": START, "ending_at": START}),
    ("cost_report", {"starting_at": END, "ending_at": START}),
    ("usage_report", {"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-11-01T00:00:01Z"}),
    ("usage_report", {"starting_at": START, "bucket_width": "1w"}),
    ("usage_report", {"starting_at": START, "limit": 0}),
    ("usage_report", {"starting_at": START, "limit": 32}),
    ("cost_report", {"starting_at": START, "bucket_width": "1h", "limit": 169}),
    ("usage_report", {"starting_at": START, "bucket_width": "1m", "limit": 257}),
    ("cost_report", {"starting_at": START, "group_by": ["actor"]}),
    ("usage_report", {"starting_at": START, "group_by": ["cost_type"]}),
    ("usage_report", {"starting_at": START, "group_by": ["workspace_id"]}),
    ("usage_report", {"starting_at": START, "products": ["claude_tag"]}),
    ("usage_report", {"starting_at": START, "products": ["chat_cowork_unified"]}),
    ("usage_report", {"starting_at": START, "inference_geos": ["eu"]}),
    ("usage_report", {"starting_at": START, "models": [f"m{i}" for i in range(101)]}),
    (
        "usage_report",
        {
            "starting_at": START,
            "group_by": ["claude_tag_user_id"],
            "rbac_group_ids": ["rbac_group_x"],
        },
    ),
    ("user_usage_report", {"starting_at": START, "bucket_width": "1d"}),
    (
        "user_usage_report",
        {"starting_at": START, "ending_at": "2026-10-23T00:01:00Z", "bucket_width": "1m"},
    ),
    ("user_usage_report", {"starting_at": START, "limit": 1001}),
    ("user_usage_report", {"starting_at": START, "order_by": "amount"}),
    ("user_cost_report", {"starting_at": START, "order_by": "total_tokens"}),
    ("user_cost_report", {"starting_at": START, "order": "up"}),
    ("user_cost_report", {"starting_at": START, "group_by": ["actor"]}),
    ("user_cost_report", {"starting_at": START, "exclude_deleted_users": "maybe"}),
    ("user_cost_report", {"starting_at": START, "page": "page_garbage"}),
]


@pytest.mark.parametrize(("path", "params"), BAD)
def test_invalid_requests_are_400(
    api: Api, enterprise_key: str, path: str, params: dict[str, Any]
) -> None:
    r = api.get(f"{B}/{path}", enterprise_key, pairs(params))
    assert r.status_code == 400, (path, params, r.text)
    body = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["request_id"] == r.headers["request-id"]


def test_limits_at_their_maximum_are_accepted(get: Any) -> None:
    assert len(get("usage_report", starting_at=START, limit=31)["data"]) == 31
    week = {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-08T00:00:00Z"}
    assert len(get("cost_report", **week, bucket_width="1h", limit=168)["data"]) == 168
    day = {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z"}
    assert len(get("usage_report", **day, bucket_width="1m", limit=256)["data"]) == 256
    minutes = get("user_cost_report", **day, bucket_width="1m", limit=1000)["data"]
    assert minutes
    assert all(r["starting_at"][:10] == "2026-11-01" for r in minutes)


def test_starting_at_must_be_within_365_days(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    api.http.post("/_simulator/clock", json={"now": "2027-03-01T00:00:00Z"}).raise_for_status()
    old = api.get(f"{B}/cost_report", key, {"starting_at": "2026-02-27T00:00:00Z"})
    assert old.status_code == 400
    assert "365" in old.json()["error"]["message"]
    ok = api.get(f"{B}/cost_report", key, {"starting_at": "2026-03-02T00:00:00Z"})
    assert ok.status_code == 200
    assert len(ok.json()["data"]) == 7


@pytest.mark.parametrize(
    "path", ["usage_report", "cost_report", "user_usage_report", "user_cost_report"]
)
def test_wrong_keys(api: Api, console_key: str, path: str) -> None:
    params = {"starting_at": START}
    r = api.get(f"{B}/{path}", console_key, params)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "The analytics API requires an enterprise plan"
    r = api.get(f"{B}/{path}", api.key("globex", "analytics"), params)
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"
    r = api.get(f"{B}/{path}", api.key("enterprise", "no-analytics-scope"), params)
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "permission_error"
    r = api.get(f"{B}/{path}", api.key("enterprise", "analytics-only"), params)
    assert r.status_code == 200


def test_actor_email_keys_are_configurable(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    params = {"starting_at": START, "limit": 3}
    for mode, keys in (
        ("both", {"email", "email_address"}),
        ("email", {"email"}),
        ("email_address", {"email_address"}),
    ):
        api.http.post(
            "/_simulator/config", json={"legacy_actor_email_keys": mode}
        ).raise_for_status()
        rows = api.get(f"{B}/user_cost_report", key, params).json()["data"]
        assert {k for k in rows[0]["actor"] if k.startswith("email")} == keys


def test_actor_ordering_mode(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    api.http.post("/_simulator/config", json={"legacy_user_order": "actor"}).raise_for_status()
    params = pairs({"starting_at": START, "ending_at": END, "bucket_width": "1d", "limit": 1000})
    rows = api.get(f"{B}/user_cost_report", key, params).json()["data"]
    order = [r["actor"]["user_id"] for r in rows]
    firsts = list(dict.fromkeys(order))
    assert order == [u for u in firsts for _ in range(order.count(u))]  # contiguous per actor
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[r["actor"]["user_id"]] += micro(r["amount"])
    assert [totals[u] for u in firsts] == sorted(totals.values(), reverse=True)
