"""The REST API, in process, over a warehouse synced from the simulator: its numbers equal the
simulator's truth and the `spend` / `usage` views, whatever the grouping."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import NOW, Api
from spendscope.config import Settings
from spendscope.web.app import create_app

TODAY = NOW.date()


@pytest.fixture(scope="module")
def client(synced: Settings) -> Any:
    app = create_app(synced, now=lambda: NOW)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def view(client: TestClient, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Straight SQL on the warehouse the app reads (the same DuckDB database)."""
    return client.app.state.spendscope.warehouse.read(sql, *params)  # type: ignore[attr-defined]


def test_meta_lists_every_dimension_and_metric(client: TestClient) -> None:
    m = client.get("/api/v1/meta").json()
    dims = {d["name"] for d in m["dimensions"]}
    assert {
        "workspace",
        "api_key",
        "user",
        "product",
        "model",
        "service_tier",
        "context_window",
        "inference_geo",
        "speed",
        "token_type",
        "cost_type",
        "connection",
        "provider",
        "billing_account",
        "project",
        "service",
        "sku",
        "resource",
    } <= dims
    assert {"cost", "list_cost", "tokens", "output_tokens", "requests", "web_search_requests"} <= {
        x["name"] for x in m["metrics"]
    }
    assert m["today"] == "2026-11-22"
    assert sorted(c["label"] for c in m["connections"]) == ["acme-console", "acme-enterprise"]


def spend_total(
    client: TestClient, since: date, until: date, where: str = "TRUE", *params: Any
) -> Decimal:
    rows = view(
        client,
        f"SELECT sum(billed_cost) FROM spendscope.spend WHERE charge_period_start >= ? "
        f"AND charge_period_start < ? AND {where}",
        since,
        until,
        *params,
    )
    return Decimal(rows[0][0] or 0)


def get(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


SINCE, UNTIL = date(2026, 10, 20), date(2026, 11, 23)

# Every grouping must give the same total: the grain is chosen per dimension, and double-booked
# spend is counted once.
ALL_DIMENSIONS = [
    "",
    "connection",
    "organization",
    "workspace",
    "api_key",
    "user",
    "product",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "token_type",
    "cost_type",
    "provider",
    "billing_account",
    "project",
    "service",
    "sku",
    "resource",
]


@pytest.mark.parametrize("group_by", ALL_DIMENSIONS)
def test_explore_total_equals_the_spend_view_whatever_the_grouping(
    client: TestClient, synced: Settings, group_by: str
) -> None:
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by=group_by,
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
        limit=100,
    )
    expected = spend_total(client, SINCE, UNTIL)
    assert expected > 0
    assert Decimal(r["total"]) == expected
    assert sum(Decimal(g["total"]) for g in r["groups"]) == expected
    # every series adds up to its group's total, and the periods cover the range
    assert len(r["periods"]) == (UNTIL - SINCE).days
    for g, s in zip(r["groups"], r["series"], strict=True):
        assert s["key"] == g["key"]
        assert sum(Decimal(v) for v in s["values"]) == Decimal(g["total"])


def test_explore_groups_match_the_view(client: TestClient, synced: Settings) -> None:
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by="model",
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
        limit=100,
    )
    rows = view(
        client,
        "SELECT model, sum(billed_cost) FROM spendscope.spend WHERE "
        "charge_period_start >= ? AND charge_period_start < ? GROUP BY 1",
        SINCE,
        UNTIL,
    )
    expected = {(m if m is not None else "__none__"): Decimal(v) for m, v in rows}
    assert {g["key"]: Decimal(g["total"]) for g in r["groups"]} == expected
    totals = [Decimal(g["total"]) for g in r["groups"]]
    assert totals == sorted(totals, reverse=True)


def test_console_product_comes_from_the_second_grain(client: TestClient) -> None:
    """The Console canonical grain has no product; grouping by it reads the actor grain, so
    every dollar but code execution (which has no product upstream) has a product, and the
    total does not move."""
    rng = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by="product",
        filter="connection:acme-console",
        **rng,
    )
    groups = {g["key"]: Decimal(g["total"]) for g in r["groups"]}
    assert len(groups) >= 3
    code_execution = get(
        client,
        "/api/v1/explore",
        metric="cost",
        filter=["connection:acme-console", "cost_type:code_execution"],
        **rng,
    )
    assert groups.get("__none__", Decimal(0)) == Decimal(code_execution["total"])
    console = spend_total(client, SINCE, UNTIL, "connection_label = ?", "acme-console")
    assert Decimal(r["total"]) == console


def test_filters_are_parameters(client: TestClient, synced: Settings) -> None:
    models = get(
        client, "/api/v1/dimensions/model/values", since=SINCE.isoformat(), until=UNTIL.isoformat()
    )["values"]
    top, second = models[0]["key"], models[1]["key"]
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by="connection",
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
        filter=[f"model:{top}", f"model:{second}"],
    )
    expected = spend_total(client, SINCE, UNTIL, "model IN (?, ?)", top, second)
    assert Decimal(r["total"]) == expected
    assert r["filters"] == {"model": [top, second]}
    # a value that looks like SQL is just a value that matches nothing
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
        filter="model:x' OR '1'='1",
    )
    assert Decimal(r["total"]) == 0
    # several dimensions are ANDed
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
        filter=[f"model:{top}", "connection:acme-enterprise"],
    )
    assert Decimal(r["total"]) == spend_total(
        client, SINCE, UNTIL, "model = ? AND connection_label = ?", top, "acme-enterprise"
    )


def test_usage_metrics_and_token_types(client: TestClient, synced: Settings) -> None:
    cols = [
        "uncached_input_tokens",
        "cache_read_input_tokens",
        "cache_creation_5m_input_tokens",
        "cache_creation_1h_input_tokens",
        "output_tokens",
    ]
    row = view(
        client,
        f"SELECT {', '.join(f'sum({c})' for c in cols)}, sum(requests), "
        "sum(web_search_requests) FROM spendscope.usage WHERE period_start >= ? AND "
        "period_start < ?",
        SINCE,
        UNTIL,
    )[0]
    expected = dict(zip([*cols, "requests", "web_search_requests"], row, strict=True))
    rng = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    for name, v in expected.items():
        assert get(client, "/api/v1/explore", metric=name, group_by="model", **rng)["total"] == v
    by_type = get(client, "/api/v1/explore", metric="tokens", group_by="token_type", **rng)
    assert by_type["total"] == sum(expected[c] for c in cols)
    assert len(by_type["groups"]) == 5
    got = {g["key"]: g["total"] for g in by_type["groups"]}
    assert got["output_tokens"] == expected["output_tokens"]
    assert (
        got["cache_creation.ephemeral_5m_input_tokens"]
        == expected["cache_creation_5m_input_tokens"]
    )
    one = get(client, "/api/v1/explore", metric="output_tokens", group_by="token_type", **rng)
    assert [g["key"] for g in one["groups"]] == ["output_tokens"]


@pytest.mark.parametrize("granularity", ["week", "month"])
def test_coarser_periods_keep_the_total(
    client: TestClient, synced: Settings, granularity: str
) -> None:
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by="connection",
        granularity=granularity,
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
    )
    assert Decimal(r["total"]) == spend_total(client, SINCE, UNTIL)
    starts = [date.fromisoformat(p) for p in r["periods"]]
    if granularity == "week":
        assert all(d.weekday() == 0 for d in starts)
    else:
        assert starts == [date(2026, 10, 1), date(2026, 11, 1)]


def test_limit_folds_the_rest_into_other(client: TestClient, synced: Settings) -> None:
    r = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by="api_key",
        limit=3,
        since=SINCE.isoformat(),
        until=UNTIL.isoformat(),
    )
    keys = [g["key"] for g in r["groups"]]
    assert len(keys) == 4
    assert keys[-1] == "__other__"
    assert Decimal(r["total"]) == spend_total(client, SINCE, UNTIL)
    # names, not ids, are what people read
    named = [g for g in r["groups"] if g["key"].startswith("apikey_")]
    assert named
    assert all(g["label"] != g["key"] for g in named)


def test_csv_adds_up_to_the_api_total(client: TestClient) -> None:
    params = {
        "metric": "cost",
        "group_by": "workspace",
        "granularity": "week",
        "since": SINCE.isoformat(),
        "until": UNTIL.isoformat(),
    }
    api_total = Decimal(get(client, "/api/v1/explore", **params)["total"])
    r = client.get("/api/v1/explore.csv", params=params)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows
    assert set(rows[0]) == {"period", "key", "label", "cost"}
    assert sum(Decimal(x["cost"]) for x in rows) == api_total


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"metric": "dollars"}, 400, "Unknown metric"),
        ({"group_by": "color"}, 400, "Unknown dimension"),
        ({"since": "2026-13-01"}, 400, "not a date"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, 400, "empty"),
        ({"metric": "tokens", "group_by": "cost_type"}, 400, "cost metrics only"),
        ({"filter": "model"}, 400, "dimension:value"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": -1}, 422, "limit"),
        ({"granularity": "hour"}, 422, "granularity"),
        # dates outside 2000-01-01 .. 2100-01-01 are refused with the range, not a 500
        ({"until": "0001-01-05"}, 400, "2000-01-01 to 2100-01-01"),
        ({"since": "9999-12-31"}, 400, "2100-01-01"),
        ({"since": "1999-12-31", "until": "2000-01-05"}, 400, "out of range"),
    ],
)
def test_bad_parameters_get_one_clear_error(
    client: TestClient, params: dict[str, Any], status: int, words: str
) -> None:
    r = client.get("/api/v1/explore", params=params)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert words in err["message"]
    assert err["hint"]


def test_out_of_range_days_are_400_everywhere(client: TestClient) -> None:
    for path, params in [
        ("/api/v1/overview", {"as_of": "9999-12-31"}),
        ("/api/v1/overview", {"as_of": "0001-01-01"}),
        ("/api/v1/claude-code", {"until": "0001-01-05"}),
        ("/api/v1/engagement", {"since": "2100-01-02"}),
        ("/api/v1/dimensions/model/values", {"until": "9999-12-31"}),
        ("/api/v1/explore.csv", {"since": "0001-01-01"}),
    ]:
        r = client.get(path, params=params)
        assert r.status_code == 400, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid"
        assert "out of range" in err["message"]


def test_overview_month_to_date_and_last_month(client: TestClient, synced: Settings) -> None:
    o = get(client, "/api/v1/overview")
    first = date(2026, 11, 1)
    assert o["month_to_date"]["since"] == "2026-11-01"
    assert o["month_to_date"]["until"] == "2026-11-23"
    mtd = spend_total(client, first, date(2026, 11, 23))
    assert Decimal(o["month_to_date"]["cost"]) == mtd
    last = spend_total(client, date(2026, 10, 1), date(2026, 10, 23))
    assert Decimal(o["last_month"]["cost"]) == last
    assert o["change"] == pytest.approx(float((mtd - last) / last))
    assert len(o["trend"]) == 60
    assert o["trend"][-1]["day"] == "2026-11-22"
    assert any(t["provisional"] for t in o["trend"][-5:])
    trend_sum = sum(Decimal(t["cost"]) for t in o["trend"] if t["day"] >= "2026-11-01")
    assert trend_sum == mtd
    for name in ("workspace", "api_key", "user", "model"):
        top = o["top"][name]
        assert 1 <= len(top) <= 5
        costs = [Decimal(t["cost"]) for t in top]
        assert costs == sorted(costs, reverse=True)
    model_top = get(
        client,
        "/api/v1/explore",
        metric="cost",
        group_by="model",
        since="2026-11-01",
        until="2026-11-23",
    )["groups"][0]
    assert o["top"]["model"][0]["key"] == model_top["key"]
    assert o["top"]["model"][0]["cost"] == model_top["total"]
    assert o["movers"]
    assert all(Decimal(m["delta"]) != 0 for m in o["movers"])
    f = o["freshness"]
    assert f["complete_through"]
    assert f["complete_through"] <= "2026-11-22"
    assert "complete through" in f["message"]
    assert {c["label"] for c in f["connections"]} == {"acme-console", "acme-enterprise"}


def test_claude_code_matches_its_table(client: TestClient, synced: Settings) -> None:
    since, until = TODAY - timedelta(days=29), TODAY + timedelta(days=1)
    r = get(client, "/api/v1/claude-code", since=since.isoformat(), until=until.isoformat())
    row = view(
        client,
        "SELECT sum(num_sessions), sum(lines_added), sum(commits), "
        "sum(estimated_cost_cents), count(DISTINCT COALESCE(actor_email, api_key_name)) "
        "FROM spendscope.claude_code_usage WHERE bucket_start >= ? AND bucket_start < ?",
        since,
        until,
    )[0]
    t = r["totals"]
    assert t["sessions"] == row[0]
    assert t["lines_added"] == row[1]
    assert t["commits"] == row[2]
    assert Decimal(t["cost"]) == Decimal(row[3]) / 100
    assert 0 < t["active_users"] <= row[4]
    assert 0 < t["accept_rate"] < 1
    assert sum(u["sessions"] for u in r["users"]) == t["sessions"]
    assert sum(s["lines_added"] for s in r["series"]) == t["lines_added"]
    assert len(r["series"]) == 30


def test_engagement_latest_and_lists(client: TestClient, synced: Settings) -> None:
    r = get(client, "/api/v1/engagement")
    assert r["available"] is True
    last = view(
        client,
        "SELECT CAST(bucket_start AS DATE), daily_active_user_count, "
        "monthly_active_user_count, assigned_seat_count FROM "
        "spendscope.engagement_summaries ORDER BY bucket_start DESC LIMIT 1",
    )[0]
    assert r["latest"]["day"] == last[0].isoformat()
    assert (
        r["latest"]["daily_active"],
        r["latest"]["monthly_active"],
        r["latest"]["seats"],
    ) == last[1:]
    assert r["skills"]
    assert r["connectors"]
    assert r["projects"]
    users = [s["users"] for s in r["skills"]]
    assert users == sorted(users, reverse=True)


def test_connections_show_health_and_never_a_key(client: TestClient, api: Api) -> None:
    r = client.get("/api/v1/connections")
    assert r.status_code == 200
    conns = {c["label"]: c for c in r.json()["connections"]}
    assert set(conns) == {"acme-console", "acme-enterprise"}
    assert all(c["health"] == "ok" and c["rows"] > 0 for c in conns.values())
    assert "sk-ant" not in r.text
    for k in ("admin", "analytics"):
        secret = api.key("console" if k == "admin" else "enterprise", k)
        assert secret not in r.text
        assert secret[-12:] not in r.text
    ev = get(client, "/api/v1/connections/acme-console/events", limit=5)["events"]
    assert ev
    assert ev[0]["occurred_at"] >= ev[-1]["occurred_at"]
    for method, path in [
        ("GET", "/api/v1/connections/nope/events"),
        ("POST", "/api/v1/connections/nope/test"),
        ("DELETE", "/api/v1/connections/nope"),
    ]:
        missing = client.request(method, path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "not_found"
        message = missing.json()["error"]["message"]
        assert message.startswith("unknown connection 'nope'")  # the CLI's own words
        assert "acme-console" in message
    r = client.post("/api/v1/sync", json={"connection": "nope"})
    assert r.status_code == 404
    assert client.get("/api/v1/sync").json()["running"] is False


def test_connect_refuses_a_wrong_key_and_saves_nothing(
    client: TestClient, api: Api, simulator: Any, synced: Settings
) -> None:
    before = (synced.home / "connections.json").read_bytes()
    standard = api.key("console", "standard")
    r = client.post(
        "/api/v1/connections",
        json={"kind": "console", "label": "wrong", "key": standard, "base_url": simulator.url},
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert "key" in err["message"].lower()
    assert err["hint"]
    assert standard not in r.text
    enterprise = api.key("enterprise", "analytics")
    r = client.post(
        "/api/v1/connections",
        json={"kind": "console", "label": "wrong", "key": enterprise, "base_url": simulator.url},
    )
    assert r.status_code == 400
    assert "enterprise" in r.text.lower()
    r = client.post(
        "/api/v1/connections",
        json={
            "kind": "console",
            "label": "acme-console",
            "key": standard,
            "base_url": simulator.url,
        },
    )
    assert r.status_code == 409  # a conflict with an existing connection
    assert "already exists" in r.json()["error"]["message"]
    assert (synced.home / "connections.json").read_bytes() == before
    ok = client.post("/api/v1/connections/acme-console/test").json()
    assert ok["ok"] is True


def test_openapi_and_server_timing(client: TestClient) -> None:
    r = client.get("/api/v1/openapi.json")
    paths = set(r.json()["paths"])
    assert {
        "/api/v1/meta",
        "/api/v1/freshness",
        "/api/v1/overview",
        "/api/v1/explore",
        "/api/v1/explore.csv",
        "/api/v1/dimensions/{name}/values",
        "/api/v1/connections",
        "/api/v1/connections/{label}/test",
        "/api/v1/connections/{label}",
        "/api/v1/connections/{label}/events",
        "/api/v1/sync",
        "/api/v1/claude-code",
        "/api/v1/engagement",
    } <= paths
    timing = client.get("/api/v1/meta").headers["server-timing"]
    assert timing.startswith("app;dur=")
    assert float(timing.split("=")[1]) > 0


# -- the contract: typed answers, one connection row, status by class, no import cycle ----------


def _schema_refs(node: Any) -> list[str]:
    """The component names a response schema points to (directly or as alternatives)."""
    if "$ref" in node:
        return [node["$ref"].rsplit("/", 1)[-1]]
    return [n for option in node.get("anyOf", []) for n in _schema_refs(option)]


def test_every_answer_is_a_documented_model(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    components = spec["components"]["schemas"]
    operations = [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(operations) == 38
    for method, path, op in operations:
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert len(ok) == 1, (method, path)
        content = op["responses"][ok[0]]["content"]
        if path.endswith(".csv"):
            assert set(content) == {"text/csv"}
            continue
        refs = _schema_refs(content["application/json"]["schema"])
        assert refs, (method, path)
        for name in refs:
            assert components[name]["properties"], name
        assert {"400", "401", "404", "422", "503"} <= set(op["responses"]), (method, path)

    def untyped(node: Any, where: str) -> list[str]:
        if isinstance(node, dict):
            found = [where] if node == {} else []
            return found + [x for k, v in node.items() for x in untyped(v, f"{where}/{k}")]
        if isinstance(node, list):
            return [x for i, v in enumerate(node) for x in untyped(v, f"{where}[{i}]")]
        return []

    assert untyped(components, "") == []  # no field of any answer is "any JSON"
    # Money is decimal text, never a JSON number.
    assert components["MonthToDate"]["properties"]["cost"]["type"] == "string"
    assert components["ConnectionRow"]["properties"]["created_at"]["format"] == "date-time"


def test_the_api_and_the_cli_list_connections_with_one_row(
    client: TestClient, synced: Settings
) -> None:
    from spendscope.connections import ConnectionStore
    from spendscope.reporting.connections import ConnectionRow, connection_rows
    from spendscope.reporting.health import connection_health

    spec = client.get("/api/v1/openapi.json").json()
    documented = spec["components"]["schemas"]["ConnectionRow"]["properties"]
    assert "key_hint" not in documented  # the CLI shows it; the API never does
    answered = client.get("/api/v1/connections").json()["connections"]
    assert all(set(row) == set(documented) for row in answered)
    assert set(documented) == set(ConnectionRow.model_fields) - {"key_hint"}
    wh = client.app.state.spendscope.warehouse  # type: ignore[attr-defined]
    rows = connection_rows(ConnectionStore(synced), connection_health(wh))
    assert answered == [r.model_dump(mode="json") for r in rows]
    assert all(r.key_hint.startswith("sk-ant-") for r in rows)
    assert "key_hint" not in str(answered)


def test_the_status_of_an_error_follows_its_class_not_its_words() -> None:
    from spendscope.connections import UnknownConnection
    from spendscope.errors import (
        ConfigError,
        InvalidInput,
        NotFoundLocally,
        ServerError,
        WarehouseError,
    )
    from spendscope.web.errors import Conflict, status_for

    assert status_for(UnknownConnection("a sync is running")) == 404
    assert status_for(NotFoundLocally("The range is empty.")) == 404
    assert status_for(ConfigError("unknown connection 'nope'")) == 400
    assert status_for(InvalidInput("not found")) == 400
    assert status_for(Conflict("unknown connection 'nope'")) == 409
    assert status_for(ServerError("unknown connection")) == 502
    assert status_for(WarehouseError("A sync is running.")) == 503


def test_no_import_cycle_in_the_web_package() -> None:
    """Every import between spendscope.web's modules (top-level, in functions, or for type
    checking only) goes one way."""
    import ast
    from pathlib import Path

    import spendscope.web

    package = Path(spendscope.web.__file__).parent
    modules = {p.stem for p in package.glob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m in modules:
        for node in ast.walk(ast.parse((package / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 and node.module:
                    target = node.module.split(".")[0]
                elif node.module and node.module.startswith("spendscope.web."):
                    target = node.module.split(".")[2]
                else:
                    continue
                if target in modules and target != m:
                    graph[m].add(target)
    assert graph["api"]
    assert "app" not in graph["api"]

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start]
        )

    assert [m for m in sorted(modules) if reaches(m, m, {m})] == []
