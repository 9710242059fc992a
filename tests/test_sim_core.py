"""The simulator's transport, authentication, errors, rate limits, faults, clock and truth."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from conftest import NOW, Api
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig

USAGE = "/v1/organizations/analytics/usage"
ME = "/v1/organizations/me"
B_PARAMS = {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-08T00:00:00Z"}


def _assert_error(r: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == type_
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert body["request_id"] == r.headers["request-id"]
    assert r.headers["content-type"] == "application/json"
    return body


# -- transport and authentication ---------------------------------------------------------------


def test_every_response_has_a_request_id(api: Api, console_key: str) -> None:
    ok = api.get(ME, console_key)
    assert ok.status_code == 200
    assert ok.headers["request-id"].startswith("req_")
    assert ok.headers["content-type"] == "application/json"
    bad = api.get(ME, "sk-ant-admin01-nope")
    _assert_error(bad, 401, "authentication_error")
    assert bad.headers["request-id"] != ok.headers["request-id"]


def test_both_auth_headers_are_accepted(api: Api, console_key: str) -> None:
    by_header = api.get(ME, console_key).json()
    by_bearer = api.get(ME, None, headers={"authorization": f"Bearer {console_key}"}).json()
    assert by_header == by_bearer
    assert by_header["type"] == "organization"


def test_missing_garbage_revoked_and_standard_keys(api: Api) -> None:
    _assert_error(api.get(ME, None), 401, "authentication_error")
    _assert_error(api.get(ME, "garbage"), 401, "authentication_error")
    body = _assert_error(
        api.get(ME, api.key("console", "admin-revoked")), 401, "authentication_error"
    )
    assert "revoked" in body["error"]["message"]
    _assert_error(api.get(ME, api.key("console", "standard")), 401, "authentication_error")
    _assert_error(
        api.get(USAGE, api.key("enterprise", "analytics-revoked"), B_PARAMS),
        401,
        "authentication_error",
    )


def test_standard_key_status_is_configurable(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    fresh_simulator.sim.config.standard_key_status = 403
    _assert_error(api.get(ME, api.key("console", "standard")), 403, "permission_error")


def test_wrong_key_types_get_their_documented_errors(
    api: Api, console_key: str, enterprise_key: str
) -> None:
    # Admin key on the Enterprise analytics API (families C, D): the enterprise-plan message.
    body = _assert_error(
        api.get("/v1/organizations/analytics/users", console_key, {"date": "2026-11-01"}),
        400,
        "invalid_request_error",
    )
    assert body["error"]["message"] == "The analytics API requires an enterprise plan"
    assert body["error"]["details"]["error_code"] == "organization_type_not_supported"
    # Analytics key on the Console Admin API.
    _assert_error(api.get("/v1/organizations/workspaces", enterprise_key), 403, "permission_error")
    # Key without read:analytics: 403 naming the scope.
    body = _assert_error(
        api.get(USAGE, api.key("enterprise", "no-analytics-scope"), B_PARAMS),
        403,
        "permission_error",
    )
    assert "read:analytics" in body["error"]["message"]
    # Organization whose analytics API is not enabled: 404 not_found_error, never data.
    _assert_error(api.get(USAGE, api.key("globex", "analytics"), B_PARAMS), 404, "not_found_error")
    _assert_error(
        api.get(
            "/v1/organizations/analytics/summaries",
            api.key("globex", "analytics"),
            {"starting_date": "2026-11-01"},
        ),
        404,
        "not_found_error",
    )


def test_unknown_path_is_404_not_found_error(api: Api, console_key: str) -> None:
    _assert_error(api.get("/v1/organizations/nope", console_key), 404, "not_found_error")


def test_beta_header_is_required_on_family_b(api: Api, console_key: str) -> None:
    body = _assert_error(
        api.get(USAGE, console_key, B_PARAMS, beta=False), 400, "invalid_request_error"
    )
    assert "analytics-usage-cost-2026-08-24" in body["error"]["message"]
    listed = api.get(
        USAGE,
        console_key,
        B_PARAMS,
        beta=False,
        headers={"anthropic-beta": "other-beta,analytics-usage-cost-2026-08-24"},
    )
    assert listed.status_code == 200


# -- rate limits ------------------------------------------------------------------------------


def test_rate_limit_per_organization_on_analytics_only() -> None:
    with RunningSimulator(SimConfig(seed=42, rpm=5), now=NOW) as running:
        api = Api(running.url)
        ent, console = api.key("enterprise", "analytics"), api.key("console", "admin")
        statuses = [api.get(USAGE, ent, B_PARAMS).status_code for _ in range(5)]
        assert statuses == [200] * 5
        r = api.get(USAGE, ent, B_PARAMS)
        _assert_error(r, 429, "rate_limit_error")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["x-should-retry"] == "true"
        # Another key of the same organization shares the limit.
        _assert_error(
            api.get(USAGE, api.key("enterprise", "analytics-only"), B_PARAMS),
            429,
            "rate_limit_error",
        )
        # Another organization has its own budget; the Admin API is not limited by default.
        assert api.get(USAGE, console, B_PARAMS).status_code == 200
        assert all(api.get(ME, console).status_code == 200 for _ in range(10))
        stats = api.http.get("/_simulator/stats").json()
        assert stats["rate_limited"] == 2


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "type_"), [("500", 500, "api_error"), ("529", 529, "overloaded_error")]
)
def test_injected_server_errors(
    fresh_simulator: RunningSimulator, kind: str, status: int, type_: str
) -> None:
    api = Api(fresh_simulator.url)
    fresh_simulator.sim.config.update({"fault_rate": 1.0, "fault_kinds": [kind]})
    r = api.get(ME, api.key("console", "admin"))
    _assert_error(r, status, type_)
    assert r.headers["x-should-retry"] == "true"


def test_dropped_connections_and_truncated_bodies(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    fresh_simulator.sim.config.update({"fault_rate": 1.0, "fault_kinds": ["drop"]})
    with pytest.raises(httpx.TransportError):
        api.get(ME, key)
    fresh_simulator.sim.config.update({"fault_kinds": ["truncate"]})
    with pytest.raises(httpx.TransportError):
        api.get(ME, key)
    fresh_simulator.sim.config.update({"fault_rate": 0.0})
    assert api.get(ME, key).status_code == 200


def test_slow_responses_and_latency(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    fresh_simulator.sim.config.update({"fault_rate": 1.0, "fault_kinds": ["slow"], "slow_ms": 400})
    t0 = time.perf_counter()
    assert api.get(ME, key).status_code == 200
    assert time.perf_counter() - t0 >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        api.http.get(ME, headers={"x-api-key": key}, timeout=0.1)


def test_scheduled_malformed_json(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    r = api.http.post("/_simulator/faults", json={"path": ME, "kind": "malformed", "count": 1})
    assert r.json() == {"scheduled": 1}
    bad = api.get(ME, api.key("console", "admin"))
    assert bad.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011
        bad.json()
    assert api.get(ME, api.key("console", "admin")).json()["type"] == "organization"


def test_fault_rate_is_roughly_honoured(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    fresh_simulator.sim.config.update({"fault_rate": 0.3, "fault_kinds": ["500"]})
    key = api.key("console", "admin")
    codes = [api.get(ME, key).status_code for _ in range(200)]
    assert 30 <= codes.count(500) <= 90
    assert set(codes) == {200, 500}


# -- the world --------------------------------------------------------------------------------


def test_info_describes_the_synthetic_organizations(api: Api) -> None:
    info = api.info()
    assert info["now"] == "2026-11-22T12:00:00Z"
    orgs = {o["name"]: o for o in info["organizations"]}
    console, ent, globex = orgs["Acme Platform"], orgs["Acme Enterprise"], orgs["Globex Corp"]
    assert console["kind"] == "console"
    assert ent["kind"] == "enterprise"
    assert console["parent_id"] == ent["id"]
    assert ent["child_ids"] == [console["id"]]
    assert not globex["analytics_enabled"]
    assert console["counts"]["workspaces"] >= 5
    assert console["counts"]["api_keys"] >= 30
    assert ent["counts"]["users"] >= 50
    assert ent["counts"]["rbac_groups"] >= 5
    assert info["history_start"] <= (NOW - timedelta(days=396)).date().isoformat()
    kinds = {k["kind"] for k in console["keys"]}
    assert {"admin", "oauth", "standard"} <= kinds
    assert all(k["key"].startswith("sk-ant-api01-") for k in ent["keys"])


def _truth_rows(api: Api, org: str, **params: Any) -> list[dict[str, Any]]:
    data = api.truth(org=org, **params)
    return list(data["organizations"][0]["days"])


def test_console_data_covers_every_dimension(api: Api) -> None:
    rows = _truth_rows(
        api,
        "Acme Platform",
        start="2026-10-01",
        end="2026-11-01",
        group_by=["service_tier", "context_window", "inference_geo", "speed", "kind", "product"],
    )
    seen: dict[str, set[Any]] = defaultdict(set)
    for r in rows:
        for k, v in r["group"].items():
            seen[k].add(v)
    assert {"standard", "batch", "priority", "priority_on_demand", "flex", "flex_discount"} <= seen[
        "service_tier"
    ]
    assert {"0-200k", "200k-1M"} <= seen["context_window"]
    assert {"global", "us", "not_available"} <= seen["inference_geo"]
    assert {"standard", "fast"} <= seen["speed"]
    assert {"tokens", "code_execution", "session"} <= seen["kind"]
    assert {
        "messages_api",
        "message_batches_api",
        "claude_code",
        "claude_console",
        "managed_agents_api",
    } <= seen["product"]
    assert sum(r["web_search_requests"] for r in rows) > 0
    assert sum(Decimal(r["code_execution_cost_cents"]) for r in rows) > 0


def test_enterprise_data_covers_every_surface(api: Api) -> None:
    rows = _truth_rows(
        api, "Acme Enterprise", start="2026-10-01", end="2026-11-01", group_by=["product"]
    )
    products = {r["group"]["product"] for r in rows}
    assert {
        "chat",
        "claude_code",
        "cowork",
        "office_agent",
        "claude_in_chrome",
        "claude_design",
        "claude_tag",
    } <= products


def test_weekday_rhythm_and_growth(api: Api) -> None:
    rows = _truth_rows(api, "Acme Platform")
    by_day = {r["date"]: Decimal(r["cost_cents"]) for r in rows}
    from datetime import date

    weekdays = [v for d, v in by_day.items() if date.fromisoformat(d).weekday() < 5]
    weekends = [v for d, v in by_day.items() if date.fromisoformat(d).weekday() >= 5]
    assert sum(weekdays) / len(weekdays) > 2 * sum(weekends) / len(weekends)
    days = sorted(by_day)
    first, last = days[:60], days[-61:-1]
    assert sum(by_day[d] for d in last) > Decimal("1.3") * sum(by_day[d] for d in first)


def test_truth_groups_sum_to_the_daily_totals(api: Api) -> None:
    total = {
        r["date"]: r
        for r in _truth_rows(api, "Acme Platform", start="2026-11-01", end="2026-11-08")
    }
    for dim in ("api_key_id", "workspace_id", "model", "service_tier", "account_id"):
        sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for r in _truth_rows(
            api, "Acme Platform", start="2026-11-01", end="2026-11-08", group_by=dim
        ):
            for field in (
                "output_tokens",
                "uncached_input_tokens",
                "cost_cents",
                "list_cost_cents",
                "requests",
            ):
                sums[r["date"]][field] += Decimal(str(r[field]))
        for d, t in total.items():
            for field, value in sums[d].items():
                assert value == Decimal(str(t[field])), (dim, d, field)
    for r in total.values():
        assert Decimal(r["cost_cents"]) <= Decimal(r["list_cost_cents"])
        assert Decimal(r["cost_cents"]) > 0


def test_same_seed_same_data_other_seed_other_data() -> None:
    def totals(seed: int) -> list[Any]:
        with RunningSimulator(SimConfig(seed=seed, rpm=0), now=NOW) as running:
            return Api(running.url).truth(start="2026-11-10", end="2026-11-12")["organizations"]

    a, b, c = totals(7), totals(7), totals(8)
    assert a == b
    assert a != c


# -- the clock and revisions --------------------------------------------------------------------


def test_no_data_after_now_and_horizon_moves_with_the_clock(
    fresh_simulator: RunningSimulator,
) -> None:
    api = Api(fresh_simulator.url)
    today = _truth_rows(api, "Acme Platform", start="2026-11-22", end="2026-11-24")
    assert [r["date"] for r in today] == ["2026-11-22"]
    before = today[0]["output_tokens"]
    r = api.http.post("/_simulator/clock", json={"hours": 6})
    assert r.json()["now"] == "2026-11-22T18:00:00Z"
    after = _truth_rows(api, "Acme Platform", start="2026-11-22", end="2026-11-23")
    assert after[0]["output_tokens"] > before
    assert api.http.post("/_simulator/clock", json={"hours": -1}).status_code == 400


def test_revisions_inside_the_window_only(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)

    def snapshot() -> dict[str, tuple[int, str]]:
        return {
            r["date"]: (r["output_tokens"], r["cost_cents"])
            for r in _truth_rows(api, "Acme Platform", start="2026-09-01", end="2026-11-22")
        }

    before = snapshot()
    api.http.post("/_simulator/clock", json={"days": 3})
    after = snapshot()
    changed = {d for d in before if before[d] != after[d]}
    assert changed, "advancing the clock revised nothing"
    cutoff = (NOW + timedelta(days=3) - timedelta(days=31)).date().isoformat()
    assert all(d >= cutoff for d in changed), sorted(changed)
    # Old days stay final.
    assert before["2026-09-15"] == after["2026-09-15"]


def test_startup_is_fast_with_13_months_of_history() -> None:
    t0 = time.perf_counter()
    with RunningSimulator(SimConfig(seed=3, rpm=0), now=NOW) as running:
        info = httpx.get(running.url + "/_simulator/info").json()
        elapsed = time.perf_counter() - t0
    assert info["history_start"] <= "2025-10-22"
    assert elapsed < 2.0
