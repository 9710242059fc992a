"""The cost and usage feeds against the simulator over real HTTP: totals equal the simulator's
truth to the token and the cent, per day, per API key, per user; the legacy paths; the
api_mode rules; idempotent row keys; the minimum number of requests; the top-100 split."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from conftest import NOW, Api
from spendscope.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from spendscope.simulator.server import RunningSimulator
from spendscope.sources.analytics_feeds import ANALYTICS_PATHS, analytics_start
from spendscope.sources.base import ConnectionInfo, FeedResult, FetchContext, Window
from spendscope.sources.cost_usage import CostUsageFeed, cost_usage_feeds
from spendscope.upstream.client import AnthropicClient, QueryParams
from spendscope.warehouse.tables import ANALYTICS_GRAINS, FACT_TABLES, USAGE_METRIC_NAMES

# One worker fetches every feed once (the module's fixtures) and runs all of these.
pytestmark = pytest.mark.xdist_group("feeds-cost-usage")

WINDOW = Window(date(2026, 10, 22), date(2026, 11, 22))  # 31 whole days before "today"
TOKENS = USAGE_METRIC_NAMES  # the five token columns and web_search_requests
TABLES = {t.name: t for t in FACT_TABLES}


# -- helpers ------------------------------------------------------------------------------------


def feed(kind: str, name: str, cap: int = 100) -> CostUsageFeed:
    for f in cost_usage_feeds(kind, legacy_group_cap=cap):
        if f.name == name:
            assert isinstance(f, CostUsageFeed)
            return f
    raise KeyError(name)


def context(client: AnthropicClient, kind: str, mode: str, label: str = "acme") -> FetchContext:
    return FetchContext(
        client=client,
        connection=ConnectionInfo(label, kind, None, mode),
        now=NOW,
        fetched_at=NOW,
    )


def run(
    url: str, key: str, kind: str, name: str, mode: str, window: Window = WINDOW, cap: int = 100
) -> tuple[FeedResult, dict[str, Any]]:
    """One fetch with a fresh client: the result and the client's counters."""
    with AnthropicClient(key, base_url=url) as client:
        result = feed(kind, name, cap).fetch(context(client, kind, mode), window)
        return result, client.counters()


def by_day(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    sums: dict[str, list[Any]] = defaultdict(lambda: [0] * len(columns))
    for r in rows:
        acc = sums[r["bucket_start"].date().isoformat()]
        for i, c in enumerate(columns):
            acc[i] += r[c] or 0
    return {d: tuple(v) for d, v in sums.items()}


def truth_by_day(api: Api, org: str, window: Window, columns: Sequence[str]) -> dict[str, Any]:
    days = api.truth(org=org, start=window.start.isoformat(), end=window.end.isoformat())
    out = {}
    for d in days["organizations"][0]["days"]:
        out[d["date"]] = tuple(Decimal(d[c]) if c.endswith("_cents") else d[c] for c in columns)
    return out


def nonzero(sums: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    return {d: v for d, v in sums.items() if any(v)}


@pytest.fixture(scope="module")
def orgs(api: Api) -> dict[str, str]:
    return {
        o["kind"] + ("" if o["analytics_enabled"] else "-off"): o["id"]
        for o in api.info()["organizations"]
    }


@pytest.fixture(scope="module")
def results(
    simulator: RunningSimulator, console_key: str, enterprise_key: str
) -> dict[tuple[str, str, str], tuple[FeedResult, dict[str, Any]]]:
    """Every feed of both kinds, analytics and legacy, over WINDOW (fetched once)."""
    out = {}
    for kind, key in (("console", console_key), ("enterprise", enterprise_key)):
        for name in ("cost", "cost_detail", "usage", "usage_detail"):
            for mode in ("analytics", "legacy"):
                out[(kind, name, mode)] = run(simulator.url, key, kind, name, mode)
    return out


# -- analytics path: exact totals -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["cost", "cost_detail"])
def test_console_cost_per_day_equals_truth(results: Any, api: Api, orgs: Any, name: str) -> None:
    result, _ = results[("console", name, "analytics")]
    table = "analytics_cost_key" if name == "cost" else "analytics_cost_actor"
    rows = result.rows[table]
    assert all(isinstance(r["amount_cents"], Decimal) for r in rows)
    got = by_day(rows, ("amount_cents", "list_amount_cents"))
    want = truth_by_day(api, orgs["console"], WINDOW, ("cost_cents", "list_cost_cents"))
    assert len(want) == 31
    assert nonzero(got) == nonzero(want)
    assert result.source == "analytics"
    assert result.replaces == (("console_cost_report",) if name == "cost" else ())


@pytest.mark.parametrize("name", ["usage", "usage_detail"])
def test_console_usage_per_day_equals_truth(results: Any, api: Api, orgs: Any, name: str) -> None:
    result, _ = results[("console", name, "analytics")]
    table = "analytics_usage_key" if name == "usage" else "analytics_usage_actor"
    columns = (*TOKENS, "requests")
    got = by_day(result.rows[table], columns)
    assert nonzero(got) == nonzero(truth_by_day(api, orgs["console"], WINDOW, columns))


def test_console_per_api_key_equals_truth(results: Any, api: Api, orgs: Any) -> None:
    cost, _ = results[("console", "cost", "analytics")]
    usage, _ = results[("console", "usage", "analytics")]
    got: dict[tuple[str, str | None], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for r in cost.rows["analytics_cost_key"]:
        got[(r["bucket_start"].date().isoformat(), r["api_key_id"])][0] += r["amount_cents"]
    for r in usage.rows["analytics_usage_key"]:
        got[(r["bucket_start"].date().isoformat(), r["api_key_id"])][1] += r["output_tokens"]
    t = api.truth(
        org=orgs["console"], start=str(WINDOW.start), end=str(WINDOW.end), group_by="api_key_id"
    )
    want = {
        (d["date"], d["group"]["api_key_id"]): [Decimal(d["cost_cents"]), d["output_tokens"]]
        for d in t["organizations"][0]["days"]
    }
    assert len({k for _, k in want}) > 10
    assert {k: v for k, v in got.items() if any(v)} == {k: v for k, v in want.items() if any(v)}


def test_actor_columns(results: Any) -> None:
    result, _ = results[("console", "usage_detail", "analytics")]
    types = defaultdict(set)
    for r in result.rows["analytics_usage_actor"]:
        types[r["actor_type"]].add(r["actor_id"][:5] if r["actor_id"] else None)
        if r["actor_type"] == "user_actor":
            assert r["actor_email"]
            assert r["actor_name"]
            assert r["actor_deleted"] is not None
    assert types["user_actor"] == {"user_"}
    assert types["api_actor"] == {"apike"}
    assert types["service_account_actor"] == {"svac_"}


@pytest.mark.parametrize(
    ("name", "table"), [("cost", "analytics_cost_user"), ("cost_detail", "analytics_cost_detail")]
)
def test_enterprise_cost_per_org_and_day(
    results: Any, api: Api, orgs: Any, name: str, table: str
) -> None:
    result, _ = results[("enterprise", name, "analytics")]
    rows = result.rows[table]
    assert {r["organization_id"] for r in rows} == {orgs["enterprise"], orgs["console"]}
    for org in (orgs["enterprise"], orgs["console"]):
        got = by_day(
            (r for r in rows if r["organization_id"] == org), ("amount_cents", "list_amount_cents")
        )
        want = truth_by_day(api, org, WINDOW, ("cost_cents", "list_cost_cents"))
        assert nonzero(got) == nonzero(want)


@pytest.mark.parametrize(
    ("name", "table"),
    [("usage", "analytics_usage_user"), ("usage_detail", "analytics_usage_detail")],
)
def test_enterprise_usage_per_org_and_day(
    results: Any, api: Api, orgs: Any, name: str, table: str
) -> None:
    result, _ = results[("enterprise", name, "analytics")]
    columns = (*TOKENS, "requests")
    for org in (orgs["enterprise"], orgs["console"]):
        got = by_day((r for r in result.rows[table] if r["organization_id"] == org), columns)
        assert nonzero(got) == nonzero(truth_by_day(api, org, WINDOW, columns))


def test_enterprise_per_user_equals_truth(results: Any, api: Api, orgs: Any) -> None:
    cost, _ = results[("enterprise", "cost", "analytics")]
    usage, _ = results[("enterprise", "usage", "analytics")]
    got: dict[tuple[str, str | None], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for r in cost.rows["analytics_cost_user"]:
        if r["organization_id"] == orgs["enterprise"]:
            got[(r["bucket_start"].date().isoformat(), r["actor_id"])][0] += r["amount_cents"]
    for r in usage.rows["analytics_usage_user"]:
        if r["organization_id"] == orgs["enterprise"]:
            got[(r["bucket_start"].date().isoformat(), r["actor_id"])][1] += r["output_tokens"]
    t = api.truth(
        org=orgs["enterprise"], start=str(WINDOW.start), end=str(WINDOW.end), group_by="user_id"
    )
    want = {
        (d["date"], d["group"]["user_id"]): [Decimal(d["cost_cents"]), d["output_tokens"]]
        for d in t["organizations"][0]["days"]
    }
    assert len({k for _, k in want}) > 30
    assert {k: v for k, v in got.items() if any(v)} == {k: v for k, v in want.items() if any(v)}


def test_provisional_and_watermark(simulator: RunningSimulator, console_key: str) -> None:
    """Provisional = the bucket ends after the response's watermark (not the sync's clock, here
    a day ahead of the simulator's); the Console reports have none: after `now`."""
    window = Window(date(2026, 11, 20), date(2026, 11, 23))
    mark = datetime(2026, 11, 22, 12, tzinfo=UTC)  # the simulator's now floored to 4 hours
    with AnthropicClient(console_key, base_url=simulator.url) as client:
        ctx = context(client, "console", "analytics")
        ctx.now = datetime(2026, 11, 23, 12, tzinfo=UTC)
        result = feed("console", "cost").fetch(ctx, window)
        ctx.now = datetime(2026, 11, 22, 23, tzinfo=UTC)
        legacy = feed("console", "usage").fetch(context(client, "console", "legacy"), window)
    assert result.data_refreshed_at == mark
    rows = result.rows["analytics_cost_key"]
    assert {r["bucket_start"].day for r in rows} == {20, 21, 22}
    for r in rows:
        assert r["data_refreshed_at"] == mark
        assert r["fetched_at"] == NOW
        assert r["is_provisional"] == (r["bucket_start"].day == 22)
    for r in legacy.rows["console_usage_report"]:
        assert r["data_refreshed_at"] is None
        assert r["is_provisional"] == (r["bucket_start"].day == 22)
    assert legacy.data_refreshed_at is None


# -- legacy paths ---------------------------------------------------------------------------------


def test_console_legacy_cost_plus_priority_equals_truth(results: Any, api: Api, orgs: Any) -> None:
    result, _ = results[("console", "cost", "legacy")]
    assert result.source == "legacy"
    assert result.replaces == ("analytics_cost_key",)
    rows = result.rows["console_cost_report"]
    assert all(r["list_amount_cents"] is None and r["data_refreshed_at"] is None for r in rows)
    assert any(r["speed"] == "fast" for r in rows)  # the fast-mode beta was sent
    got = by_day(rows, ("amount_cents",))
    truth = truth_by_day(api, orgs["console"], WINDOW, ("cost_cents", "priority_cost_cents"))
    assert nonzero(got) == {d: (c - p,) for d, (c, p) in truth.items() if c - p}


def test_console_legacy_usage_equals_truth(results: Any, api: Api, orgs: Any) -> None:
    result, _ = results[("console", "usage", "legacy")]
    rows = result.rows["console_usage_report"]
    assert any(r["speed"] for r in rows)
    assert any(r["account_id"] for r in rows)
    got = by_day(rows, TOKENS)
    assert nonzero(got) == nonzero(truth_by_day(api, orgs["console"], WINDOW, TOKENS))


@pytest.mark.parametrize("name", ["cost_detail", "usage_detail"])
def test_console_detail_has_no_legacy(results: Any, name: str) -> None:
    result, counters = results[("console", name, "legacy")]
    assert result.rows == {}
    assert result.source == "legacy"
    assert counters["requests"] == 0


def test_enterprise_legacy_equals_truth(results: Any, api: Api, orgs: Any) -> None:
    cost, _ = results[("enterprise", "cost", "legacy")]
    usage, _ = results[("enterprise", "usage", "legacy")]
    assert cost.replaces == ("analytics_cost_user",)
    assert cost.data_refreshed_at is not None
    money = by_day(cost.rows["enterprise_cost_report"], ("amount_cents", "list_amount_cents"))
    ent = orgs["enterprise"]
    assert nonzero(money) == nonzero(
        truth_by_day(api, ent, WINDOW, ("cost_cents", "list_cost_cents"))
    )
    columns = (*TOKENS, "requests")
    got = by_day(usage.rows["enterprise_usage_report"], columns)
    assert nonzero(got) == nonzero(truth_by_day(api, ent, WINDOW, columns))
    products = {r["product"] for r in cost.rows["enterprise_cost_report"]}
    assert "claude_tag" in products
    assert "claude-tag" not in products


def test_enterprise_legacy_user_reports(results: Any, api: Api, orgs: Any) -> None:
    cost, _ = results[("enterprise", "cost_detail", "legacy")]
    usage, _ = results[("enterprise", "usage_detail", "legacy")]
    got: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for r in cost.rows["enterprise_user_cost_report"]:
        got[(r["bucket_start"].date().isoformat(), r["user_id"])][0] += r["amount_cents"]
    for r in usage.rows["enterprise_user_usage_report"]:
        got[(r["bucket_start"].date().isoformat(), r["user_id"])][1] += r["output_tokens"]
        assert r["user_email"]
        assert r["user_name"]
        assert r["user_deleted"] is not None
    t = api.truth(
        org=orgs["enterprise"], start=str(WINDOW.start), end=str(WINDOW.end), group_by="user_id"
    )
    want = {
        (d["date"], d["group"]["user_id"]): [Decimal(d["cost_cents"]), d["output_tokens"]]
        for d in t["organizations"][0]["days"]
        if d["group"]["user_id"]
    }
    assert {k: v for k, v in got.items() if any(v)} == {k: v for k, v in want.items() if any(v)}


# -- row keys and request counts ------------------------------------------------------------------


def test_row_keys_unique_and_stable(
    results: Any, simulator: RunningSimulator, console_key: str, enterprise_key: str
) -> None:
    keys = {"console": console_key, "enterprise": enterprise_key}
    for (kind, name, mode), (first, _) in results.items():
        for table, rows in first.rows.items():
            assert set(rows[0]) >= {c.name for c in TABLES[table].columns if not c.nullable}
            assert len({r["row_key"] for r in rows}) == len(rows), (kind, name, table)
        again, _ = run(simulator.url, keys[kind], kind, name, mode)
        assert {t: sorted(r["row_key"] for r in rows) for t, rows in again.rows.items()} == {
            t: sorted(r["row_key"] for r in rows) for t, rows in first.rows.items()
        }


def units(rows: list[dict[str, Any]], dims: Sequence[str]) -> int:
    return len({(r["bucket_start"], *(r[d] for d in dims)) for r in rows})


def test_request_counts_are_minimal(results: Any) -> None:
    """B and the per-user reports: ceil(units / 1000) pages; the bucketed reports: one page of
    31 days. A unit is a day x a group (cost components don't count)."""
    measured = {}
    for (kind, name, mode), (result, counters) in results.items():
        if not result.rows:
            expected = 0
        elif mode == "analytics":
            grain = feed(kind, name).grain
            dims = [
                c
                for d in ANALYTICS_GRAINS[grain]
                for c in (("actor_type", "actor_id") if d == "actor" else (d,))
            ]
            (rows,) = result.rows.values()
            expected = math.ceil(units(rows, dims) / 1000)
        elif name.endswith("detail"):
            (rows,) = result.rows.values()
            expected = math.ceil(units(rows, ("user_id", "product", "model")) / 1000)
        else:
            expected = 1
        measured[(kind, name, mode)] = counters["requests"]
        assert counters["requests"] == expected, (kind, name, mode, counters)
        assert counters["retries"] == 0
    assert measured[("enterprise", "cost", "analytics")] > 1  # several pages were needed


# -- api_mode rules -------------------------------------------------------------------------------


def test_auto_splits_a_window_at_the_analytics_floor(
    simulator: RunningSimulator, console_key: str, api: Api, orgs: Any
) -> None:
    window = Window(date(2025, 12, 15), date(2026, 1, 15))
    assert analytics_start(NOW) == date(2026, 1, 1)
    result, counters = run(simulator.url, console_key, "console", "cost", "auto", window)
    legacy, analytics = result.rows["console_cost_report"], result.rows["analytics_cost_key"]
    assert {r["bucket_start"].date() for r in legacy} <= set(_days(date(2025, 12, 15), 17))
    assert {r["bucket_start"].date() for r in analytics} <= set(_days(date(2026, 1, 1), 14))
    assert legacy
    assert analytics
    assert result.replaces == ()
    assert result.source == "analytics"
    assert counters["requests"] == 2
    truth = truth_by_day(api, orgs["console"], window, ("cost_cents", "priority_cost_cents"))
    got = {**by_day(legacy, ("amount_cents",)), **by_day(analytics, ("amount_cents",))}
    assert nonzero(got) == {
        d: (c - p if d < "2026-01-01" else c,) for d, (c, p) in truth.items() if c
    }


def _days(start: date, n: int) -> Iterator[date]:
    return (date.fromordinal(start.toordinal() + i) for i in range(n))


def test_auto_before_the_floor_is_legacy_and_after_is_analytics(
    simulator: RunningSimulator, console_key: str
) -> None:
    early, _ = run(
        simulator.url,
        console_key,
        "console",
        "usage",
        "auto",
        Window(date(2025, 11, 1), date(2025, 12, 2)),
    )
    assert early.source == "legacy"
    assert early.replaces == ("analytics_usage_key",)
    assert early.rows["console_usage_report"]
    assert not early.rows.get("analytics_usage_key")
    late, _ = run(simulator.url, console_key, "console", "usage", "auto", WINDOW)
    assert late.source == "analytics"
    assert late.replaces == ("console_usage_report",)


class NoBetaClient(AnthropicClient):
    """Drops the analytics beta header, so family B answers 400 as for an organization
    without access to the beta."""

    def get(
        self, path: str, params: QueryParams | None = None, betas: Sequence[str] = ()
    ) -> dict[str, Any]:
        if path in ANALYTICS_PATHS.values():
            betas = ()
        return super().get(path, params, betas)


def test_auto_falls_back_when_analytics_is_refused(
    simulator: RunningSimulator, console_key: str
) -> None:
    f = feed("console", "cost")
    with NoBetaClient(console_key, base_url=simulator.url) as client:
        ctx = context(client, "console", "auto")
        first = f.fetch(ctx, WINDOW)
        assert first.source == "legacy"
        assert first.replaces == ("analytics_cost_key",)
        assert first.rows["console_cost_report"]
        assert "analytics" in first.notices[0]
        assert f.fallen_back == {"acme"}
        second = f.fetch(ctx, Window(date(2026, 9, 21), date(2026, 10, 22)))
        assert second.source == "legacy"
        assert not second.notices
        by_path = client.counters()["by_endpoint"]
        assert by_path[ANALYTICS_PATHS["cost"]] == 1  # asked once, never again
        with pytest.raises(InvalidRequest):  # analytics-only: no fallback
            feed("console", "cost").fetch(context(client, "console", "analytics"), WINDOW)
        detail = feed("console", "usage_detail")
        empty = detail.fetch(ctx, WINDOW)
        assert empty.source == "legacy"
        assert empty.rows == {}
        assert empty.notices


def test_errors_that_are_not_a_fallback(api: Api, simulator: RunningSimulator) -> None:
    # a key without the analytics scope: 403 is raised, not a reason to use another API
    f = feed("enterprise", "cost")
    key = api.key("enterprise", "no-analytics-scope")
    with AnthropicClient(key, base_url=simulator.url) as client, pytest.raises(PermissionDenied):
        f.fetch(context(client, "enterprise", "auto"), WINDOW)
    assert not f.fallen_back
    # a revoked key: 401 is raised
    f = feed("console", "usage")
    key = api.key("console", "admin-revoked")
    client = AnthropicClient(key, base_url=simulator.url)
    with client, pytest.raises(AuthenticationFailed):
        f.fetch(context(client, "console", "auto"), WINDOW)
    assert not f.fallen_back
    # analytics not enabled: B answers 404, the legacy reports too -- never read as "no data"
    f = feed("enterprise", "usage")
    with AnthropicClient(api.key("globex", "analytics"), base_url=simulator.url) as client:
        with pytest.raises(NotFound):
            f.fetch(context(client, "enterprise", "auto"), WINDOW)
        assert client.counters()["by_endpoint"] == {
            ANALYTICS_PATHS["usage"]: 1,
            "/v1/organizations/analytics/usage_report": 1,
        }


def test_earliest_and_latest() -> None:
    today = date(2026, 11, 22)
    conn = {m: ConnectionInfo("x", "console", None, m) for m in ("auto", "legacy", "analytics")}
    console = {f.name: f for f in cost_usage_feeds("console")}
    assert console["cost"].earliest(conn["auto"], today) is None
    assert console["usage"].earliest(conn["legacy"], today) is None
    assert console["cost"].earliest(conn["analytics"], today) == date(2026, 1, 1)
    assert console["cost_detail"].earliest(conn["auto"], today) == date(2026, 1, 1)
    later = date(2027, 6, 1)
    assert console["usage_detail"].earliest(conn["auto"], later) == date(2026, 6, 2)
    ent = ConnectionInfo("y", "enterprise", None, "auto")
    for f in cost_usage_feeds("enterprise"):
        assert f.earliest(ent, today) == date(2026, 1, 1)
        assert f.latest(NOW) == date(2026, 11, 23)
        assert f.window_days == 31
        assert f.mode == "fact"
        assert f.reconciliation == "cost"
    assert [f.name for f in console.values()] == ["cost", "cost_detail", "usage", "usage_detail"]


# -- the top-100 cap of the legacy Enterprise reports ---------------------------------------------


def test_truncated_buckets_are_split(
    fresh_simulator: RunningSimulator, results: Any, api: Api, orgs: Any
) -> None:
    """With the simulator's cap at 5 groups per bucket every bucket is truncated; the split
    (by product, then model, ...) plus the remainder gives back exactly the uncapped rows."""
    cap = 5
    fresh_simulator.sim.config.update({"legacy_group_cap": cap})
    url, key = fresh_simulator.url, api.key("enterprise", "analytics")  # same seed, same keys
    truth = api.truth(
        org=orgs["enterprise"], start=str(WINDOW.start), end=str(WINDOW.end), group_by="product"
    )["organizations"][0]["days"]
    for name, columns, truth_columns in (
        ("cost", ("amount_cents", "list_amount_cents"), ("cost_cents", "list_cost_cents")),
        ("usage", (*TOKENS, "requests"), (*TOKENS, "requests")),
    ):
        table = f"enterprise_{name}_report"
        capped, _ = run(url, key, "enterprise", name, "legacy", cap=10**6)  # no split
        result, counters = run(url, key, "enterprise", name, "legacy", cap=cap)
        rows = result.rows[table]
        assert len(capped.rows[table]) < len(rows)
        assert not capped.notices
        assert result.notices
        assert "split by product" in result.notices[0]
        assert 1 < counters["requests"] < 100
        uncapped, _ = results[("enterprise", name, "legacy")]  # the shared simulator, cap 100
        assert {(r["row_key"], *(r[c] for c in columns)) for r in rows} == {
            (r["row_key"], *(r[c] for c in columns)) for r in uncapped.rows[table]
        }
        got: dict[tuple[str, str | None], list[Any]] = {}
        for r in rows:
            acc = got.setdefault(
                (r["bucket_start"].date().isoformat(), r["product"]), [0] * len(columns)
            )
            for i, c in enumerate(columns):
                acc[i] += r[c] or 0
        want = {
            (d["date"], d["group"]["product"]): [
                Decimal(d[c]) if c.endswith("_cents") else d[c] for c in truth_columns
            ]
            for d in truth
        }
        assert {k: v for k, v in got.items() if any(v)} == {k: v for k, v in want.items() if any(v)}
