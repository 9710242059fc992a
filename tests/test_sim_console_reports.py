"""Family A Console reports against a live simulator: `/usage_report/messages`, `/cost_report`
and `/usage_report/claude_code` (anthropic-api.md §3.1-§3.3)."""

from __future__ import annotations

import base64
import itertools
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from conftest import Api
from spendscope.simulator.server import RunningSimulator

MESSAGES = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"
CLAUDE_CODE = "/v1/organizations/usage_report/claude_code"
FAST = {"anthropic-beta": "fast-mode-2026-02-01"}
DIMS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
    "speed",
)
ROW_KEYS = {
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "output_tokens",
    "server_tool_use",
    *DIMS,
}
COST_KEYS = {
    "amount",
    "currency",
    "cost_type",
    "description",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
    "workspace_id",
}
Tokens = tuple[int, ...]
ZERO: Tokens = (0,) * 6


# -- helpers ----------------------------------------------------------------------------------
def row_tokens(row: dict[str, Any]) -> Tokens:
    return (
        row["uncached_input_tokens"],
        row["cache_read_input_tokens"],
        row["cache_creation"]["ephemeral_5m_input_tokens"],
        row["cache_creation"]["ephemeral_1h_input_tokens"],
        row["output_tokens"],
        row["server_tool_use"]["web_search_requests"],
    )


def truth_tokens(t: dict[str, Any]) -> Tokens:
    return (
        t["uncached_input_tokens"],
        t["cache_read_input_tokens"],
        t["cache_creation_5m_input_tokens"],
        t["cache_creation_1h_input_tokens"],
        t["output_tokens"],
        t["web_search_requests"],
    )


def add(a: Tokens, b: Tokens) -> Tokens:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def total(rows: Iterable[dict[str, Any]]) -> Tokens:
    out = ZERO
    for r in rows:
        out = add(out, row_tokens(r))
    return out


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bad(r: httpx.Response, status: int = 400, kind: str = "invalid_request_error") -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == kind


def follow(
    api: Api, path: str, key: str, params: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every page of a query, re-sending the original parameters with `page`."""
    pages = [ok(api.get(path, key, params, headers))]
    while pages[-1]["has_more"]:
        assert pages[-1]["next_page"]
        pages.append(ok(api.get(path, key, {**params, "page": pages[-1]["next_page"]}, headers)))
        assert len(pages) < 500
    assert pages[-1]["next_page"] is None
    return pages


def by_day(data: list[dict[str, Any]]) -> dict[str, Tokens]:
    out: dict[str, Tokens] = {}
    for b in data:
        d = b["starting_at"][:10]
        out[d] = add(out.get(d, ZERO), total(b["results"]))
    return out


def truth_by_day(api: Api, org: str, start: str, end: str) -> dict[str, dict[str, Any]]:
    days = api.truth(org=org, start=start, end=end)["organizations"][0]["days"]
    return {d["date"]: d for d in days}


@pytest.fixture(scope="module")
def org_id(api: Api) -> str:
    return next(str(o["id"]) for o in api.info()["organizations"] if o["kind"] == "console")


@pytest.fixture(scope="module")
def default_ws(simulator: RunningSimulator) -> str:
    return simulator.sim.world.console.workspaces[0].id


# -- authentication -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "start"),
    [
        (MESSAGES, "2026-11-20T00:00:00Z"),
        (COST, "2026-11-20T00:00:00Z"),
        (CLAUDE_CODE, "2026-11-20"),
    ],
)
def test_wrong_keys(api: Api, path: str, start: str, enterprise_key: str, oauth_key: str) -> None:
    params = {"starting_at": start}
    bad(api.get(path, enterprise_key, params), 403, "permission_error")
    bad(api.get(path, api.key("console", "standard"), params), 401, "authentication_error")
    bad(api.get(path, api.key("console", "admin-revoked"), params), 401, "authentication_error")
    bad(api.get(path, None, params), 401, "authentication_error")
    body = ok(api.get(path, None, params, {"authorization": f"Bearer {oauth_key}"}))
    assert body["data"]
    assert body["has_more"] is False


# -- messages usage report: validation ---------------------------------------------------------
S = "2026-11-10T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, None),
        ({"starting_at": "yesterday"}, None),
        ({"starting_at": "2026-11-10T00:00:00"}, None),
        ({"starting_at": S, "bucket_width": "1w"}, None),
        ({"starting_at": S, "bucket_width": "1d", "limit": 0}, None),
        ({"starting_at": S, "bucket_width": "1d", "limit": 32}, None),
        ({"starting_at": S, "bucket_width": "1h", "limit": 169}, None),
        ({"starting_at": S, "bucket_width": "1m", "limit": 1441}, None),
        ({"starting_at": S, "limit": "many"}, None),
        ({"starting_at": S, "group_by[]": "product"}, None),
        ({"starting_at": S, "group_by[]": ["model", "user_id"]}, None),
        ({"starting_at": S, "group_by[]": "speed"}, None),
        ({"starting_at": S, "speeds[]": "fast"}, None),
        ({"starting_at": S, "speeds[]": "slow"}, FAST),
        ({"starting_at": S, "service_tiers[]": "gold"}, None),
        ({"starting_at": S, "context_window[]": "1M"}, None),
        ({"starting_at": S, "inference_geos[]": "eu"}, None),
        ({"starting_at": S, "ending_at": S}, None),
        ({"starting_at": S, "ending_at": "2026-11-09T00:00:00Z"}, None),
        ({"starting_at": S, "page": "page_!!!"}, None),
        (
            {
                "starting_at": S,
                "page": "page_" + base64.b64encode(b"2026-11-12T05:00:00Z").decode(),
            },
            None,
        ),
        (
            {
                "starting_at": S,
                "page": "page_" + base64.b64encode(b"2026-11-01T00:00:00Z").decode(),
            },
            None,
        ),
    ],
)
def test_messages_rejects(
    api: Api, console_key: str, params: dict[str, Any], headers: dict[str, str] | None
) -> None:
    bad(api.get(MESSAGES, console_key, params, headers))


@pytest.mark.parametrize(
    ("width", "default", "top"), [("1d", 7, 31), ("1h", 24, 168), ("1m", 60, 1440)]
)
def test_messages_limits(api: Api, console_key: str, width: str, default: int, top: int) -> None:
    params = {
        "starting_at": "2026-09-01T00:00:00Z",
        "ending_at": "2026-11-22T00:00:00Z",
        "bucket_width": width,
    }
    step = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}
    for limit, expected in ((None, default), (top, top), (1, 1)):
        p = dict(params) if limit is None else {**params, "limit": limit}
        body = ok(api.get(MESSAGES, console_key, p))
        assert len(body["data"]) == expected
        assert body["has_more"] is True
        starts = [datetime.fromisoformat(b["starting_at"]) for b in body["data"]]
        assert all(b - a == step[width] for a, b in itertools.pairwise(starts))
        for b in body["data"]:
            assert (
                datetime.fromisoformat(b["ending_at"]) - datetime.fromisoformat(b["starting_at"])
                == step[width]
            )


# -- buckets: snapping, density, exclusive end, now -------------------------------------------
@pytest.mark.parametrize(
    ("width", "first"),
    [
        ("1d", "2026-11-10T00:00:00Z"),
        ("1h", "2026-11-10T13:00:00Z"),
        ("1m", "2026-11-10T13:45:00Z"),
    ],
)
def test_snapping(api: Api, console_key: str, width: str, first: str) -> None:
    for start in ("2026-11-10T13:45:12.427722Z", "2026-11-10T14:45:12+01:00"):
        body = ok(
            api.get(
                MESSAGES, console_key, {"starting_at": start, "bucket_width": width, "limit": 2}
            )
        )
        assert body["data"][0]["starting_at"] == first


def test_dense_buckets_and_history_edge(api: Api, console_key: str) -> None:
    history = date.fromisoformat(api.info()["history_start"])
    start = history - timedelta(days=3)
    body = ok(api.get(MESSAGES, console_key, {"starting_at": f"{start}T00:00:00Z"}))
    data = body["data"]
    assert [b["starting_at"][:10] for b in data] == [
        str(start + timedelta(days=i)) for i in range(7)
    ]
    assert [b["results"] for b in data[:3]] == [[], [], []]
    assert all(len(b["results"]) == 1 for b in data[3:])
    # Minute buckets at night: contiguous, some empty, and the empties are real buckets.
    night = ok(
        api.get(
            MESSAGES,
            console_key,
            {
                "starting_at": "2026-11-18T02:00:00Z",
                "ending_at": "2026-11-18T05:00:00Z",
                "bucket_width": "1m",
                "limit": 1440,
            },
        )
    )
    assert len(night["data"]) == 180
    assert night["has_more"] is False
    empties = sum(1 for b in night["data"] if not b["results"])
    assert 0 < empties < 180


def test_no_bucket_at_or_after_now(api: Api, console_key: str) -> None:
    body = ok(
        api.get(
            MESSAGES,
            console_key,
            {"starting_at": "2026-11-20T00:00:00Z", "ending_at": "2026-12-31T00:00:00Z"},
        )
    )
    assert [b["starting_at"] for b in body["data"]] == [
        "2026-11-20T00:00:00Z",
        "2026-11-21T00:00:00Z",
        "2026-11-22T00:00:00Z",
    ]
    assert body["has_more"] is False
    hours = ok(
        api.get(
            MESSAGES,
            console_key,
            {
                "starting_at": "2026-11-22T00:00:00Z",
                "ending_at": "2026-11-23T00:00:00Z",
                "bucket_width": "1h",
            },
        )
    )
    assert len(hours["data"]) == 12  # now is 12:00: the 12:00 bucket starts at now
    minutes = ok(
        api.get(
            MESSAGES, console_key, {"starting_at": "2026-11-22T11:00:00Z", "bucket_width": "1m"}
        )
    )
    assert len(minutes["data"]) == 60
    assert all(b["results"] == [] for b in minutes["data"][-5:])  # data ~5 minutes late
    future = ok(api.get(MESSAGES, console_key, {"starting_at": "2026-12-01T00:00:00Z"}))
    assert future == {"data": [], "has_more": False, "next_page": None}


def test_ending_at_exclusive_and_default(api: Api, console_key: str) -> None:
    base = {"starting_at": "2026-11-10T00:00:00Z"}
    aligned = ok(api.get(MESSAGES, console_key, {**base, "ending_at": "2026-11-13T00:00:00Z"}))
    assert [b["starting_at"][:10] for b in aligned["data"]] == [
        "2026-11-10",
        "2026-11-11",
        "2026-11-12",
    ]
    straddle = ok(api.get(MESSAGES, console_key, {**base, "ending_at": "2026-11-13T06:00:00Z"}))
    assert straddle["data"] == aligned["data"]
    # No ending_at: `limit` buckets from the start, capped at now, one page.
    dflt = ok(api.get(MESSAGES, console_key, {**base, "limit": 5}))
    assert [b["starting_at"][:10] for b in dflt["data"]] == [f"2026-11-{d}" for d in range(10, 15)]
    assert dflt["has_more"] is False
    capped = ok(api.get(MESSAGES, console_key, {"starting_at": "2026-11-21T00:00:00Z"}))
    assert len(capped["data"]) == 2


def test_partial_bucket_and_default_ending_modes(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    fresh_simulator.sim.config.update(
        {"console_ending_partial_bucket": True, "console_default_ending": "now"}
    )
    body = ok(
        api.get(
            MESSAGES,
            key,
            {"starting_at": "2026-11-10T00:00:00Z", "ending_at": "2026-11-13T06:00:00Z"},
        )
    )
    assert len(body["data"]) == 4
    hours = ok(
        api.get(
            MESSAGES,
            key,
            {
                "starting_at": "2026-11-13T00:00:00Z",
                "ending_at": "2026-11-13T06:00:00Z",
                "bucket_width": "1h",
            },
        )
    )
    assert total(body["data"][3]["results"]) == total(
        r for b in hours["data"] for r in b["results"]
    )
    assert total(body["data"][3]["results"]) != ZERO
    pages = follow(api, MESSAGES, key, {"starting_at": "2026-11-01T00:00:00Z"})
    assert [len(p["data"]) for p in pages] == [7, 7, 7, 1]  # Nov 1 .. Nov 22 (today)
    assert pages[-1]["data"][-1]["starting_at"] == "2026-11-22T00:00:00Z"


# -- pagination ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "small", "big"),
    [
        (
            {
                "starting_at": "2026-10-30T00:00:00Z",
                "ending_at": "2026-11-22T00:00:00Z",
                "group_by[]": "model",
            },
            3,
            31,
        ),
        (
            {
                "starting_at": "2026-11-18T00:00:00Z",
                "ending_at": "2026-11-21T00:00:00Z",
                "bucket_width": "1h",
                "group_by[]": ["api_key_id", "workspace_id"],
            },
            10,
            168,
        ),
        (
            {
                "starting_at": "2026-11-19T13:00:00Z",
                "ending_at": "2026-11-19T16:00:00Z",
                "bucket_width": "1m",
            },
            50,
            1440,
        ),
    ],
)
def test_pages_concatenate_to_one_page(
    api: Api, console_key: str, params: dict[str, Any], small: int, big: int
) -> None:
    one = ok(api.get(MESSAGES, console_key, {**params, "limit": big}))
    assert one["has_more"] is False
    assert one["next_page"] is None
    pages = follow(api, MESSAGES, console_key, {**params, "limit": small})
    assert len(pages) == -(-len(one["data"]) // small)
    for prev, nxt in itertools.pairwise(pages):
        token = prev["next_page"]
        assert token.startswith("page_")
        assert base64.b64decode(token[5:]).decode() == nxt["data"][0]["starting_at"]
    assert [b for p in pages for b in p["data"]] == one["data"]


# -- exact sums ---------------------------------------------------------------------------------
GROUPINGS = [[d] for d in DIMS] + [
    ["model", "workspace_id"],
    ["api_key_id", "account_id", "service_account_id"],
    ["service_tier", "context_window", "inference_geo", "speed"],
    list(DIMS),
]


@pytest.mark.parametrize("dims", GROUPINGS, ids="+".join)
def test_grouped_sums_equal_ungrouped_and_truth(
    api: Api, console_key: str, org_id: str, dims: list[str]
) -> None:
    params = {
        "starting_at": "2026-11-10T00:00:00Z",
        "ending_at": "2026-11-23T00:00:00Z",
        "limit": 31,
    }
    plain = ok(api.get(MESSAGES, console_key, params))["data"]
    grouped = ok(api.get(MESSAGES, console_key, {**params, "group_by[]": dims}, FAST))["data"]
    assert len(plain) == len(grouped) == 13
    for p, g in zip(plain, grouped, strict=True):
        assert p["starting_at"] == g["starting_at"]
        assert len(p["results"]) == 1
        assert total(g["results"]) == row_tokens(p["results"][0])
        keys = [tuple(r[d] for d in dims) for r in g["results"]]
        assert len(keys) == len(set(keys))  # one row per combination
        for r in g["results"]:
            assert set(r) == ROW_KEYS
            assert all(r[d] is None for d in DIMS if d not in dims)
    truth = truth_by_day(api, org_id, "2026-11-10", "2026-11-23")
    assert by_day(plain) == {d: truth_tokens(t) for d, t in truth.items()}


@pytest.mark.parametrize("dim", DIMS)
def test_group_values_match_truth(
    api: Api, console_key: str, org_id: str, default_ws: str, dim: str
) -> None:
    body = ok(
        api.get(
            MESSAGES,
            console_key,
            {
                "starting_at": "2026-11-14T00:00:00Z",
                "ending_at": "2026-11-17T00:00:00Z",
                "group_by[]": dim,
            },
            FAST,
        )
    )
    days = api.truth(org=org_id, start="2026-11-14", end="2026-11-17", group_by=dim)[
        "organizations"
    ][0]["days"]
    for b in body["data"]:
        expected: dict[Any, Tokens] = {}
        for t in days:
            if t["date"] != b["starting_at"][:10] or truth_tokens(t) == ZERO:
                continue
            v = t["group"][dim]
            if dim == "workspace_id" and v == default_ws:
                v = None
            expected[v] = add(expected.get(v, ZERO), truth_tokens(t))
        assert {r[dim]: row_tokens(r) for r in b["results"]} == expected
        if dim == "workspace_id":
            assert None in expected
            assert default_ws not in expected
        if dim == "api_key_id":
            assert None in expected  # OAuth (Claude Code, Workbench) and OIDC usage


@pytest.mark.parametrize(("width", "limit", "days"), [("1h", 72, 3), ("1m", 1440, 1)])
def test_sub_day_buckets_sum_to_truth(
    api: Api, console_key: str, org_id: str, *, width: str, limit: int, days: int
) -> None:
    start = date(2026, 11, 17)
    end = start + timedelta(days=days)
    params = {
        "starting_at": f"{start}T00:00:00Z",
        "ending_at": f"{end}T00:00:00Z",
        "bucket_width": width,
        "limit": limit,
    }
    plain = ok(api.get(MESSAGES, console_key, params))
    grouped = ok(api.get(MESSAGES, console_key, {**params, "group_by[]": ["model", "api_key_id"]}))
    assert len(plain["data"]) == limit
    assert plain["has_more"] is False
    truth = truth_by_day(api, org_id, str(start), str(end))
    expected = {d: truth_tokens(t) for d, t in truth.items()}
    assert by_day(plain["data"]) == expected
    assert by_day(grouped["data"]) == expected


FILTERS = [
    ("models[]", "model", 1, None),
    ("api_key_ids[]", "api_key_id", 2, None),
    ("workspace_ids[]", "workspace_id", 2, None),
    ("service_tiers[]", "service_tier", 2, None),
    ("context_window[]", "context_window", 1, None),
    ("inference_geos[]", "inference_geo", 1, "not_available"),
    ("speeds[]", "speed", 1, "fast"),
    ("account_ids[]", "account_id", 2, None),
    ("service_account_ids[]", "service_account_id", 1, None),
]


@pytest.mark.parametrize(("param", "dim", "n", "value"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_select_grouped_rows(
    api: Api,
    console_key: str,
    default_ws: str,
    *,
    param: str,
    dim: str,
    n: int,
    value: str | None,
) -> None:
    params = {"starting_at": "2026-11-14T00:00:00Z", "ending_at": "2026-11-19T00:00:00Z"}
    grouped = ok(api.get(MESSAGES, console_key, {**params, "group_by[]": dim}, FAST))["data"]
    seen = Counter(r[dim] for b in grouped for r in b["results"] if r[dim] is not None)
    picked = [value] if value else [v for v, _ in seen.most_common(n)]
    assert len(picked) == n
    assert all(v in seen for v in picked)
    wanted = set(picked)
    query = list(picked)
    if dim == "workspace_id":  # the default workspace shows as null but filters by its id
        wanted, query = {picked[0], None}, [picked[0], default_ws]
    filtered = ok(api.get(MESSAGES, console_key, {**params, param: query}, FAST))["data"]
    bare = ok(api.get(MESSAGES, console_key, {**params, param[:-2]: query}, FAST))["data"]
    assert bare == filtered
    both = ok(api.get(MESSAGES, console_key, {**params, param: query, "group_by[]": dim}, FAST))[
        "data"
    ]
    for g, f, fb in zip(grouped, filtered, both, strict=True):
        expected = total(r for r in g["results"] if r[dim] in wanted)
        assert total(f["results"]) == expected
        assert {r[dim] for r in fb["results"]} <= wanted
        assert total(fb["results"]) == expected
    assert any(f["results"] for f in filtered)


def test_speed_field_config(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    params = {"starting_at": "2026-11-18T00:00:00Z", "limit": 1}
    assert ok(api.get(MESSAGES, key, params))["data"][0]["results"][0]["speed"] is None
    fresh_simulator.sim.config.update({"console_usage_speed_field": "beta"})
    assert "speed" not in ok(api.get(MESSAGES, key, params))["data"][0]["results"][0]
    row = ok(api.get(MESSAGES, key, {**params, "group_by[]": "speed"}, FAST))["data"][0]
    assert {r["speed"] for r in row["results"]} == {"fast", "standard"}


def test_cached_page_of_1000_rows_is_fast(api: Api, console_key: str) -> None:
    params = {
        "starting_at": "2026-11-14T00:00:00Z",
        "ending_at": "2026-11-21T00:00:00Z",
        "bucket_width": "1h",
        "limit": 168,
        "group_by[]": list(DIMS),
    }
    ok(api.get(MESSAGES, console_key, params, FAST))
    t0 = time.perf_counter()
    body = ok(api.get(MESSAGES, console_key, params, FAST))
    elapsed = time.perf_counter() - t0
    assert sum(len(b["results"]) for b in body["data"]) >= 900
    assert elapsed < 0.1, elapsed


# -- cost report --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"starting_at": S, "bucket_width": "1h"},
        {"starting_at": S, "bucket_width": "1m"},
        {"starting_at": S, "limit": 0},
        {"starting_at": S, "limit": 32},
        {"starting_at": S, "group_by[]": "model"},
        {"starting_at": S, "group_by[]": ["workspace_id", "api_key_id"]},
        {"starting_at": S, "ending_at": "2026-11-01T00:00:00Z"},
    ],
)
def test_cost_rejects(api: Api, console_key: str, params: dict[str, Any]) -> None:
    bad(api.get(COST, console_key, params))


def test_cost_limits_and_pages(api: Api, console_key: str) -> None:
    params = {"starting_at": "2026-09-01T00:00:00Z", "ending_at": "2026-11-22T00:00:00Z"}
    assert len(ok(api.get(COST, console_key, params))["data"]) == 7
    assert len(ok(api.get(COST, console_key, {**params, "limit": 31}))["data"]) == 31
    window = {
        "starting_at": "2026-10-28T00:00:00Z",
        "ending_at": "2026-11-20T00:00:00Z",
        "group_by[]": ["workspace_id", "description"],
    }
    one = ok(api.get(COST, console_key, {**window, "limit": 31}))
    pages = follow(api, COST, console_key, {**window, "limit": 4})
    assert len(pages) == 6
    assert [b for p in pages for b in p["data"]] == one["data"]


def _amounts(data: list[dict[str, Any]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for b in data:
        d = b["starting_at"][:10]
        out[d] = out.get(d, Decimal(0)) + sum(
            (Decimal(r["amount"]) for r in b["results"]), Decimal(0)
        )
    return out


def test_cost_totals_equal_truth_minus_priority(api: Api, console_key: str, org_id: str) -> None:
    params = {
        "starting_at": "2026-10-25T00:00:00Z",
        "ending_at": "2026-11-23T00:00:00Z",
        "limit": 31,
    }
    data = ok(api.get(COST, console_key, params))["data"]
    assert len(data) == 29
    for b in data:
        assert len(b["results"]) == 1
        row = b["results"][0]
        assert set(row) == COST_KEYS  # no `speed` without the fast-mode beta
        assert row["currency"] == "USD"
        assert all(row[k] is None for k in COST_KEYS - {"amount", "currency"})
        assert len(row["amount"].split(".")[1]) == 6
    truth = truth_by_day(api, org_id, "2026-10-25", "2026-11-23")
    expected = {
        d: Decimal(t["cost_cents"]) - Decimal(t["priority_cost_cents"]) for d, t in truth.items()
    }
    assert _amounts(data) == expected
    assert all(Decimal(t["priority_cost_cents"]) > 0 for t in truth.values())


def test_cost_description_grouping(api: Api, console_key: str, org_id: str) -> None:
    params = {
        "starting_at": "2026-11-08T00:00:00Z",
        "ending_at": "2026-11-22T00:00:00Z",
        "limit": 31,
    }
    plain = ok(api.get(COST, console_key, params))["data"]
    grouped = ok(api.get(COST, console_key, {**params, "group_by[]": "description"}, FAST))["data"]
    assert _amounts(grouped) == _amounts(plain)
    labels: dict[str, set[tuple[Any, ...]]] = {}
    fields: dict[tuple[Any, ...], set[str]] = {}
    per_type: dict[str, Decimal] = {}
    for b in grouped:
        for r in b["results"]:
            assert set(r) == COST_KEYS | {"speed"}
            assert r["workspace_id"] is None
            key = (
                r["cost_type"],
                r["model"],
                r["token_type"],
                r["service_tier"],
                r["context_window"],
                r["inference_geo"],
                r["speed"],
            )
            labels.setdefault(r["description"], set()).add(key)
            fields.setdefault(key, set()).add(r["description"])
            per_type[r["cost_type"]] = per_type.get(r["cost_type"], Decimal(0)) + Decimal(
                r["amount"]
            )
            if r["cost_type"] == "tokens":
                assert r["model"]
                assert r["token_type"]
                assert r["context_window"]
                assert r["service_tier"] not in ("priority", "priority_on_demand")
                assert r["description"].startswith("Claude ")
                assert " Usage - " in r["description"]
            else:
                assert key[1:] == (None,) * 6
                assert (
                    r["description"]
                    == {
                        "web_search": "Web Search Usage",
                        "code_execution": "Code Execution Usage",
                        "session_usage": "Managed Agents Session Usage",
                    }[r["cost_type"]]
                )
    assert all(len(v) == 1 for v in labels.values())
    assert all(len(v) == 1 for v in fields.values())
    assert set(per_type) == {"tokens", "web_search", "code_execution", "session_usage"}
    assert "Claude Sonnet 5 Usage - Input Tokens" in labels
    truth = truth_by_day(api, org_id, "2026-11-08", "2026-11-22").values()
    assert per_type["code_execution"] == sum(Decimal(t["code_execution_cost_cents"]) for t in truth)
    assert per_type["session_usage"] == sum(Decimal(t["session_usage_cost_cents"]) for t in truth)


def test_cost_workspace_grouping(api: Api, console_key: str, org_id: str, default_ws: str) -> None:
    params = {"starting_at": "2026-11-12T00:00:00Z", "ending_at": "2026-11-19T00:00:00Z"}
    plain = ok(api.get(COST, console_key, params))["data"]
    by_ws = ok(api.get(COST, console_key, {**params, "group_by[]": "workspace_id"}))["data"]
    both = ok(
        api.get(COST, console_key, {**params, "group_by[]": ["workspace_id", "description"]})
    )["data"]
    assert _amounts(by_ws) == _amounts(plain) == _amounts(both)
    days = api.truth(org=org_id, start="2026-11-12", end="2026-11-19", group_by="workspace_id")[
        "organizations"
    ][0]["days"]
    for b in by_ws:
        expected: dict[Any, Decimal] = {}
        for t in days:
            if t["date"] == b["starting_at"][:10]:
                ws = (
                    None if t["group"]["workspace_id"] == default_ws else t["group"]["workspace_id"]
                )
                expected[ws] = (
                    expected.get(ws, Decimal(0))
                    + Decimal(t["cost_cents"])
                    - Decimal(t["priority_cost_cents"])
                )
        got = {r["workspace_id"]: Decimal(r["amount"]) for r in b["results"]}
        assert got == {k: v for k, v in expected.items() if v or k in got}
        assert None in got
        assert default_ws not in got


def test_cost_excluded_tiers_config(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    org = next(o["id"] for o in api.info()["organizations"] if o["kind"] == "console")
    fresh_simulator.sim.config.update({"cost_report_excluded_tiers": []})
    data = ok(
        api.get(
            COST, key, {"starting_at": "2026-11-15T00:00:00Z", "ending_at": "2026-11-18T00:00:00Z"}
        )
    )["data"]
    truth = truth_by_day(api, org, "2026-11-15", "2026-11-18")
    assert _amounts(data) == {d: Decimal(t["cost_cents"]) for d, t in truth.items()}


# -- Claude Code report -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"starting_at": "2026-11-3"},
        {"starting_at": "2026-11-03T00:00:00Z"},
        {"starting_at": "2026-13-01"},
        {"starting_at": "20261103"},
        {"starting_at": "2026-11-03", "limit": 0},
        {"starting_at": "2026-11-03", "limit": 1001},
        {"starting_at": "2026-11-03", "limit": "x"},
        {"starting_at": "2026-11-03", "page": "garbage"},
    ],
)
def test_claude_code_rejects(api: Api, console_key: str, params: dict[str, Any]) -> None:
    bad(api.get(CLAUDE_CODE, console_key, params))


def test_claude_code_cursor_bound_to_day(api: Api, console_key: str) -> None:
    first = ok(api.get(CLAUDE_CODE, console_key, {"starting_at": "2026-11-18", "limit": 1}))
    assert first["has_more"] is True
    bad(
        api.get(CLAUDE_CODE, console_key, {"starting_at": "2026-11-19", "page": first["next_page"]})
    )


@pytest.mark.parametrize("day", ["2026-11-16", "2026-11-17", "2026-11-19", "2026-11-21"])
def test_claude_code_day(api: Api, console_key: str, org_id: str, day: str) -> None:
    one = ok(api.get(CLAUDE_CODE, console_key, {"starting_at": day, "limit": 1000}))
    assert one["has_more"] is False
    assert one["next_page"] is None
    pages = follow(api, CLAUDE_CODE, console_key, {"starting_at": day, "limit": 2})
    records = [r for p in pages for r in p["data"]]
    assert records == one["data"]
    assert all(len(p["data"]) == 2 for p in pages[:-1])
    actors = [tuple(sorted(r["actor"].items())) for r in records]
    assert len(actors) == len(set(actors)) > 2
    assert any(r["actor"]["type"] == "api_actor" for r in records)
    totals = ZERO
    cost = Decimal(0)
    for r in records:
        assert r["date"] == f"{day}T00:00:00Z"
        assert r["organization_id"] == org_id
        assert r["customer_type"] == "api"
        assert r["subscription_type"] is None
        assert set(r["tool_actions"]) == {
            "edit_tool",
            "multi_edit_tool",
            "write_tool",
            "notebook_edit_tool",
        }
        cm = r["core_metrics"]
        assert cm["num_sessions"] >= 1
        assert cm["lines_of_code"]["added"] >= cm["lines_of_code"]["removed"] >= 0
        assert r["terminal_type"]
        assert r["model_breakdown"]
        for m in r["model_breakdown"]:
            t = m["tokens"]
            totals = add(
                totals, (t["input"], t["cache_read"], t["cache_creation"], 0, t["output"], 0)
            )
            assert m["estimated_cost"]["currency"] == "USD"
            assert isinstance(m["estimated_cost"]["amount"], float | int)
            cost += Decimal(str(m["estimated_cost"]["amount"]))
    end = str(date.fromisoformat(day) + timedelta(days=1))
    groups = api.truth(
        org=org_id, start=day, end=end, group_by=["product", "user_id", "api_key_id"]
    )
    rows = [t for t in groups["organizations"][0]["days"] if t["group"]["product"] == "claude_code"]
    expected = ZERO
    list_cost = Decimal(0)
    for t in rows:
        u, cr, c5, c1, o, _ = truth_tokens(t)
        expected = add(expected, (u, cr, c5 + c1, 0, o, 0))
        list_cost += Decimal(t["list_cost_cents"]) - Decimal(t["web_search_cost_cents"])
    assert totals == expected
    assert len(rows) == len(records)  # one record per (day, actor)
    n_models = sum(len(r["model_breakdown"]) for r in records)
    assert abs(cost - list_cost) <= Decimal("0.005") * n_models


def test_claude_code_empty_days(api: Api, console_key: str) -> None:
    history = date.fromisoformat(api.info()["history_start"])
    for day in ("2026-11-23", "2027-01-01", str(history - timedelta(days=1))):
        body = ok(api.get(CLAUDE_CODE, console_key, {"starting_at": day}))
        assert body == {"data": [], "has_more": False, "next_page": None}


def test_claude_code_one_hour_freshness_and_date_format(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    org = next(o["id"] for o in api.info()["organizations"] if o["kind"] == "console")
    clock = "/_simulator/clock"
    api.http.post(clock, json={"now": "2026-11-22T11:05:00Z"}).raise_for_status()
    days = api.truth(org=org, start="2026-11-22", end="2026-11-23", group_by="product")[
        "organizations"
    ][0]["days"]
    (seen,) = [t for t in days if t["group"]["product"] == "claude_code"]
    api.http.post(clock, json={"now": "2026-11-22T12:00:00Z"}).raise_for_status()
    fresh_simulator.sim.config.update({"claude_code_date_format": "date"})
    body = ok(api.get(CLAUDE_CODE, key, {"starting_at": "2026-11-22", "limit": 1000}))
    out = sum(m["tokens"]["output"] for r in body["data"] for m in r["model_breakdown"])
    assert out == seen["output_tokens"] > 0
    assert {r["date"] for r in body["data"]} == {"2026-11-22"}
    # Usage from the last hour appears once it is an hour old.
    api.http.post(clock, json={"now": "2026-11-22T13:00:00Z"}).raise_for_status()
    later = ok(api.get(CLAUDE_CODE, key, {"starting_at": "2026-11-22", "limit": 1000}))
    assert sum(m["tokens"]["output"] for r in later["data"] for m in r["model_breakdown"]) > out
