"""The Claude Code, engagement and admin-list feeds against the simulator over real HTTP."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import NOW, Api
from spendscope.config import load_settings
from spendscope.errors import PermissionDenied
from spendscope.refresh import initialize
from spendscope.simulator.server import RunningSimulator
from spendscope.sources.admin import admin_feeds
from spendscope.sources.base import ConnectionInfo, Feed, FeedResult, FetchContext, Window
from spendscope.sources.claude_code import PATH as CC_PATH
from spendscope.sources.claude_code import claude_code_feeds
from spendscope.sources.engagement import available_end, engagement_feeds
from spendscope.sync.engine import ConnectionSync
from spendscope.sync.reports import SyncRequest
from spendscope.upstream.client import AnthropicClient
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import ALL_TABLES, to_arrow

D = date.fromisoformat
ORG = "/v1/organizations"


class Fetcher:
    """Feeds fetched with one real client per credential, requests counted."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.clients: list[AnthropicClient] = []

    def ctx(self, key: str, kind: str, label: str = "acme") -> FetchContext:
        client = AnthropicClient(key, base_url=self.base_url, max_attempts=1)
        self.clients.append(client)
        return FetchContext(
            client=client,
            connection=ConnectionInfo(label, kind, None, "auto"),
            now=NOW,
            fetched_at=NOW,
        )


@pytest.fixture
def fetcher(simulator: RunningSimulator) -> Iterator[Fetcher]:
    f = Fetcher(simulator.url)
    yield f
    for c in f.clients:
        c.close()


def requests(ctx: FetchContext) -> Counter[str]:
    return Counter(ctx.client.counters()["by_endpoint"])


def fetch(feed: Feed, ctx: FetchContext, start: str, end: str) -> FeedResult:
    result = feed.fetch(ctx, Window(D(start), D(end)))
    for name, rows in result.rows.items():
        to_arrow(ALL_TABLES[name], rows)  # conforms to the table's Arrow schema
        keys = [r["row_key"] for r in rows]
        assert len(keys) == len(set(keys)), name
    return result


def by_name(feeds: list[Feed]) -> dict[str, Feed]:
    return {f.name: f for f in feeds}


# -- Claude Code ---------------------------------------------------------------------------------


def test_claude_code_rows_equal_the_report_and_the_truth(
    fetcher: Fetcher, api: Api, console_key: str
) -> None:
    (feed,) = claude_code_feeds()
    assert (feed.name, feed.window_days, feed.reconciliation) == ("claude_code", 7, "engagement")
    ctx = fetcher.ctx(console_key, "console")
    result = fetch(feed, ctx, "2026-11-17", "2026-11-20")
    assert requests(ctx) == {CC_PATH: 3}  # one request per day
    usage, models = result.rows["claude_code_usage"], result.rows["claude_code_model_usage"]
    assert not any(r["is_provisional"] for r in usage + models)
    for day in ("2026-11-17", "2026-11-18", "2026-11-19"):
        report = api.get(CC_PATH, console_key, {"starting_at": day, "limit": 1000}).json()["data"]
        rows = [r for r in usage if r["bucket_start"].date() == D(day)]
        assert len(rows) == len(report) > 0
        got = {(r["actor_type"], r["actor_email"], r["api_key_name"]): r for r in rows}
        for rec in report:
            actor = rec["actor"]
            row = got[(actor["type"], actor.get("email_address"), actor.get("api_key_name"))]
            core = rec["core_metrics"]
            assert row["num_sessions"] == core["num_sessions"]
            assert row["lines_added"] == core["lines_of_code"]["added"]
            assert row["commits"] == core["commits_by_claude_code"]
            assert row["edit_tool_accepted"] == rec["tool_actions"]["edit_tool"]["accepted"]
            assert row["write_tool_rejected"] == rec["tool_actions"]["write_tool"]["rejected"]
            assert row["output_tokens"] == sum(
                m["tokens"]["output"] for m in rec["model_breakdown"]
            )
            assert row["estimated_cost_cents"] == sum(
                (Decimal(str(m["estimated_cost"]["amount"])) for m in rec["model_breakdown"]),
                Decimal(0),
            )
            assert row["terminal_type"] == rec["terminal_type"]
        truth = api.truth(
            org="Acme Platform",
            start=day,
            end=(D(day) + timedelta(days=1)).isoformat(),
            group_by="product",
        )
        (code,) = [
            t for t in truth["organizations"][0]["days"] if t["group"]["product"] == "claude_code"
        ]
        day_models = [m for m in models if m["bucket_start"].date() == D(day)]
        for table_rows in (rows, day_models):
            assert sum(r["input_tokens"] for r in table_rows) == code["uncached_input_tokens"]
            assert sum(r["output_tokens"] for r in table_rows) == code["output_tokens"]
            assert (
                sum(r["cache_read_tokens"] for r in table_rows) == code["cache_read_input_tokens"]
            )
            assert (
                sum(r["cache_creation_tokens"] for r in table_rows)
                == code["cache_creation_5m_input_tokens"] + code["cache_creation_1h_input_tokens"]
            )
    # stable: a second fetch gives the same keys and values
    again = fetch(feed, ctx, "2026-11-17", "2026-11-20")
    assert again.rows == result.rows


def test_claude_code_today_is_provisional_and_future_days_are_not_asked(
    fetcher: Fetcher, console_key: str
) -> None:
    (feed,) = claude_code_feeds()
    assert feed.latest(NOW) == D("2026-11-23")
    assert feed.latest(datetime(2026, 11, 22, 0, 30, tzinfo=UTC)) == D("2026-11-22")
    ctx = fetcher.ctx(console_key, "console")
    result = fetch(feed, ctx, "2026-11-21", "2026-11-28")
    assert requests(ctx) == {CC_PATH: 2}  # 11-21 and today; nothing is served later
    flags = {
        r["bucket_start"].date(): r["is_provisional"] for r in result.rows["claude_code_usage"]
    }
    assert flags == {D("2026-11-21"): False, D("2026-11-22"): True}


def test_claude_code_accepts_plain_dates(
    fresh_simulator: RunningSimulator, fetcher: Fetcher, api: Api, console_key: str
) -> None:
    httpx.post(
        f"{fresh_simulator.url}/_simulator/config", json={"claude_code_date_format": "date"}
    ).raise_for_status()
    raw = httpx.get(
        f"{fresh_simulator.url}{CC_PATH}",
        params={"starting_at": "2026-11-18"},
        headers={"x-api-key": console_key},
    ).json()
    assert raw["data"][0]["date"] == "2026-11-18"
    (feed,) = claude_code_feeds()
    plain = FetchContext(
        client=AnthropicClient(console_key, base_url=fresh_simulator.url),
        connection=ConnectionInfo("acme", "console", None, "auto"),
        now=NOW,
        fetched_at=NOW,
    )
    fetcher.clients.append(plain.client)
    a = fetch(feed, plain, "2026-11-18", "2026-11-19")
    b = fetch(feed, fetcher.ctx(console_key, "console"), "2026-11-18", "2026-11-19")
    assert a.rows == b.rows
    assert a.rows["claude_code_usage"]


# -- engagement ----------------------------------------------------------------------------------


def test_engagement_feed_contract() -> None:
    feeds = engagement_feeds()
    assert [f.name for f in feeds] == [
        "engagement_users",
        "engagement_summaries",
        "engagement_skills",
        "engagement_connectors",
        "engagement_plugins",
        "engagement_artifacts",
        "engagement_projects",
    ]
    for f in feeds:
        assert (f.mode, f.window_days, f.reconciliation) == ("fact", 31, "engagement")
        assert f.earliest(ConnectionInfo("e", "enterprise", None, "auto"), NOW.date()) == D(
            "2026-01-01"
        )
        assert f.latest(NOW) == D("2026-11-22")  # through 11-21, aggregated at 10:00 today
        assert f.latest(datetime(2026, 11, 22, 9, 59, tzinfo=UTC)) == D("2026-11-21")
    assert available_end(datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) == D("2026-11-22")


def test_engagement_users_one_row_per_active_member_equal_to_dau(
    fetcher: Fetcher, enterprise_key: str
) -> None:
    feeds = by_name(engagement_feeds())
    ctx = fetcher.ctx(enterprise_key, "enterprise")
    users = fetch(feeds["engagement_users"], ctx, "2026-11-08", "2026-11-11")
    summaries = fetch(feeds["engagement_summaries"], ctx, "2026-11-08", "2026-11-11")
    assert requests(ctx) == {f"{ORG}/analytics/users": 3, f"{ORG}/analytics/summaries": 1}
    rows = users.rows["engagement_users"]
    per_day = Counter(r["bucket_start"].date() for r in rows)
    assert len({(r["bucket_start"], r["user_id"]) for r in rows}) == len(rows)
    series = summaries.rows["engagement_summaries"]
    assert [s["bucket_start"].date() for s in series] == [
        D("2026-11-08"),
        D("2026-11-09"),
        D("2026-11-10"),
    ]
    for s in series:
        assert per_day[s["bucket_start"].date()] == s["daily_active_user_count"] > 0
        assert s["bucket_end"] - s["bucket_start"] == timedelta(days=1)
        assert s["claude_code_daily_active_user_count"] is not None
    assert all(r["user_id"] and r["user_email"] and r["metrics_json"] for r in rows)
    assert sum(r["claude_code_lines_added"] for r in rows) > 0
    assert any(r["office_excel_message_count"] for r in rows)


def _ungrouped(api: Api, key: str, endpoint: str, day: str) -> list[dict[str, Any]]:
    body = api.get(f"{ORG}/analytics/{endpoint}", key, {"date": day, "limit": 1000}).json()
    assert body["next_page"] is None
    return list(body["data"])


def test_skills_and_connectors_per_user_rows_sum_to_the_ungrouped_figures(
    fetcher: Fetcher, api: Api, enterprise_key: str
) -> None:
    feeds = by_name(engagement_feeds())
    ctx = fetcher.ctx(enterprise_key, "enterprise")
    day = "2026-11-12"
    skills = fetch(feeds["engagement_skills"], ctx, day, "2026-11-13").rows["engagement_skills"]
    conns = fetch(feeds["engagement_connectors"], ctx, day, "2026-11-13").rows[
        "engagement_connectors"
    ]
    assert requests(ctx) == {f"{ORG}/analytics/skills": 1, f"{ORG}/analytics/connectors": 1}
    assert all(r["product"] and r["user_id"] for r in skills + conns)

    sums: dict[str, Counter[str]] = defaultdict(Counter)
    money: dict[str, Decimal] = defaultdict(Decimal)
    for r in skills:
        sums[r["skill_name"]]["invocations"] += r["invocation_count"]
        sums[r["skill_name"]]["conversations"] += r["chat_conversation_count"] or 0
        money[r["skill_name"]] += r["estimated_overage_spend_cents"] or 0
    upstream = _ungrouped(api, enterprise_key, "skills", day)
    assert {s["skill_name"] for s in upstream} == set(sums)
    for s in upstream:
        got = sums[s["skill_name"]]
        assert got["invocations"] == s["invocation_count"], s["skill_name"]
        assert got["conversations"] == s["chat_metrics"]["distinct_conversation_skill_used_count"]
        assert money[s["skill_name"]] == Decimal(s["estimated_overage_spend"])

    calls: dict[str, Counter[str]] = defaultdict(Counter)
    for r in conns:
        for metric in (
            "read_call_count",
            "write_call_count",
            "unclassified_call_count",
            "claude_code_session_count",
        ):
            calls[r["connector_name"]][metric] += r[metric] or 0
    upstream = _ungrouped(api, enterprise_key, "connectors", day)
    assert {c["connector_name"] for c in upstream} == set(calls)
    for c in upstream:
        got = calls[c["connector_name"]]
        for name in ("read_call_count", "write_call_count", "unclassified_call_count"):
            assert got[name] == c[name], (c["connector_name"], name)
        assert (
            got["claude_code_session_count"]
            == c["claude_code_metrics"]["distinct_session_connector_used_count"]
        )


def test_plugins_artifacts_projects_one_request_per_day_exact_sums(
    fetcher: Fetcher, api: Api, enterprise_key: str
) -> None:
    feeds = by_name(engagement_feeds())
    ctx = fetcher.ctx(enterprise_key, "enterprise")
    day, end = "2026-11-12", "2026-11-14"
    plugins = fetch(feeds["engagement_plugins"], ctx, day, end).rows["engagement_plugins"]
    artifacts = fetch(feeds["engagement_artifacts"], ctx, day, end).rows["engagement_artifacts"]
    projects = fetch(feeds["engagement_projects"], ctx, day, end).rows["engagement_projects"]
    assert requests(ctx) == {
        f"{ORG}/analytics/plugins": 2,
        f"{ORG}/analytics/artifacts": 2,
        f"{ORG}/analytics/apps/chat/projects": 2,
    }
    first = D(day)
    inv = Counter[str]()
    for r in plugins:
        if r["bucket_start"].date() == first:
            inv[r["plugin_name"]] += r["invocation_count"]
    assert inv == {
        p["plugin_name"]: p["invocation_count"]
        for p in _ungrouped(api, enterprise_key, "plugins", day)
    }
    created = sum(
        r["artifacts_created_count"] for r in artifacts if r["bucket_start"].date() == first
    )
    assert created == sum(
        a["artifacts_created_count"] for a in _ungrouped(api, enterprise_key, "artifacts", day)
    )
    msgs = Counter[str]()
    for r in projects:
        if r["bucket_start"].date() == first:
            msgs[r["project_id"]] += r["message_count"]
    assert msgs == {
        p["project_id"]: p["message_count"]
        for p in _ungrouped(api, enterprise_key, "apps/chat/projects", day)
    }
    assert any(r["project_created_at"] is not None for r in projects)


def test_too_recent_days_stop_the_window_with_a_notice(
    fetcher: Fetcher, enterprise_key: str
) -> None:
    feeds = by_name(engagement_feeds())
    ctx = fetcher.ctx(enterprise_key, "enterprise")
    users = fetch(feeds["engagement_users"], ctx, "2026-11-20", "2026-11-25")
    days = {r["bucket_start"].date() for r in users.rows["engagement_users"]}
    assert days == {D("2026-11-20"), D("2026-11-21")}
    assert len(users.notices) == 1
    assert "2026-11-22" in users.notices[0]
    assert "2026-11-21" in users.notices[0]
    summaries = fetch(feeds["engagement_summaries"], ctx, "2026-11-20", "2026-11-25")
    assert [r["bucket_start"].date() for r in summaries.rows["engagement_summaries"]] == [
        D("2026-11-20"),
        D("2026-11-21"),
    ]
    assert len(summaries.notices) == 1
    # one request per day up to the refused one; summaries asked once more, shorter
    assert requests(ctx) == {f"{ORG}/analytics/users": 3, f"{ORG}/analytics/summaries": 2}
    later = fetch(feeds["engagement_skills"], ctx, "2026-11-22", "2026-11-24")
    assert later.rows == {"engagement_skills": []}
    assert len(later.notices) == 1


def test_a_longer_lag_is_read_from_the_api_not_guessed(
    fresh_simulator: RunningSimulator, enterprise_key: str
) -> None:
    httpx.post(
        f"{fresh_simulator.url}/_simulator/config",
        json={"engagement_lag_days": 3, "summaries_envelope": "summaries"},
    ).raise_for_status()
    feeds = by_name(engagement_feeds())
    with AnthropicClient(enterprise_key, base_url=fresh_simulator.url) as client:
        ctx = FetchContext(
            client=client,
            now=NOW,
            fetched_at=NOW,
            connection=ConnectionInfo("e", "enterprise", None, "auto"),
        )
        window = Window(D("2026-11-15"), feeds["engagement_artifacts"].latest(NOW))
        artifacts = feeds["engagement_artifacts"].fetch(ctx, window)
        summaries = feeds["engagement_summaries"].fetch(ctx, window)  # legacy envelope
    last = D("2026-11-19")
    assert max(r["bucket_start"].date() for r in artifacts.rows["engagement_artifacts"]) == last
    assert [r["bucket_start"].date() for r in summaries.rows["engagement_summaries"]] == [
        D("2026-11-15") + timedelta(days=i) for i in range(5)
    ]
    assert all(f"{last}" in n for n in artifacts.notices + summaries.notices)


# -- admin lists ---------------------------------------------------------------------------------


def test_console_admin_lists(fetcher: Fetcher, api: Api, console_key: str) -> None:
    feeds = by_name(admin_feeds("console"))
    assert list(feeds) == [
        "organization",
        "users",
        "workspaces",
        "api_keys",
        "invites",
        "service_accounts",
    ]
    assert all(f.mode == "snapshot" for f in feeds.values())
    assert [n for n, f in feeds.items() if getattr(f, "optional", False)] == ["service_accounts"]
    ctx = fetcher.ctx(console_key, "console")
    ignored = "2020-01-01"  # snapshot feeds ignore the window
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in ("organization", "users", "workspaces", "api_keys", "invites"):
        rows |= fetch(feeds[name], ctx, ignored, ignored).rows
    assert [o["name"] for o in rows["organizations"]] == ["Acme Platform"]
    assert len(rows["org_users"]) == 24
    assert len(rows["api_keys"]) == 36
    assert len(rows["invites"]) == 7
    spaces = rows["workspaces"]
    assert len(spaces) == 7
    assert sum(w["archived_at"] is not None for w in spaces) == 1
    assert "Default" in {w["name"] for w in spaces}
    ids = {w["id"] for w in spaces}
    assert {k["workspace_id"] for k in rows["api_keys"]} <= ids  # scope's real ids
    assert None not in {k["created_at"] for k in rows["api_keys"]}
    members = Counter(m["workspace_id"] for m in rows["workspace_members"])
    for ws in ids:
        listed = api.get(f"{ORG}/workspaces/{ws}/members", console_key, {"limit": 1000}).json()[
            "data"
        ]
        assert members[ws] == len(listed)
    assert sum(members.values()) > 0
    n = requests(ctx)
    assert n[f"{ORG}/me"] == n[f"{ORG}/users"] == n[f"{ORG}/workspaces"] == 1
    assert n[f"{ORG}/api_keys"] == n[f"{ORG}/invites"] == 1
    assert sum(n.values()) == 5 + 7  # one page per list, one per workspace's members


def test_service_accounts_need_an_oauth_token(
    fetcher: Fetcher, console_key: str, oauth_key: str
) -> None:
    feed = by_name(admin_feeds("console"))["service_accounts"]
    with pytest.raises(PermissionDenied):
        feed.fetch(fetcher.ctx(console_key, "console"), Window(NOW.date(), NOW.date()))
    ctx = fetcher.ctx(oauth_key, "console")
    rows = fetch(feed, ctx, "2026-11-22", "2026-11-22").rows["service_accounts"]
    assert len(rows) >= 3
    assert all(r["id"].startswith("svac_") and r["created_at"] for r in rows)
    assert requests(ctx) == {f"{ORG}/service_accounts": 1}


def test_enterprise_admin_lists(fetcher: Fetcher, api: Api, enterprise_key: str) -> None:
    feeds = by_name(admin_feeds("enterprise"))
    assert list(feeds) == ["organization", "users", "invites", "rbac_groups"]
    assert [n for n, f in feeds.items() if getattr(f, "optional", False)] == [
        "users",
        "invites",
        "rbac_groups",
    ]
    ctx = fetcher.ctx(enterprise_key, "enterprise")
    rows: dict[str, list[dict[str, Any]]] = {}
    for feed in feeds.values():
        rows |= fetch(feed, ctx, "2026-11-22", "2026-11-22").rows
    assert [o["name"] for o in rows["organizations"]] == ["Acme Enterprise"]
    listed = api.get(f"{ORG}/users", enterprise_key, {"limit": 1000}).json()["data"]
    assert {u["id"] for u in rows["org_users"]} == {u["id"] for u in listed}
    assert len(listed) > 50
    assert len(rows["invites"]) == 9
    groups = rows["rbac_groups"]
    assert len(groups) == 10
    members = Counter(m["rbac_group_id"] for m in rows["rbac_group_members"])
    for g in groups:
        upstream = api.get(
            f"{ORG}/rbac_groups/{g['id']}/members", enterprise_key, {"limit": 1000}
        ).json()["data"]
        assert members[g["id"]] == len(upstream)
    n = requests(ctx)
    assert n[f"{ORG}/rbac_groups"] == 1
    assert sum(n.values()) == 4 + 10  # me, users, invites, groups + one per group


def test_missing_scopes_raise_permission_denied_on_optional_feeds(
    fetcher: Fetcher, api: Api
) -> None:
    key = api.key("enterprise", "analytics-only")
    feeds = by_name(admin_feeds("enterprise"))
    ctx = fetcher.ctx(key, "enterprise")
    assert fetch(feeds["organization"], ctx, "2026-11-22", "2026-11-22").rows["organizations"]
    for name in ("users", "invites", "rbac_groups"):
        with pytest.raises(PermissionDenied):
            feeds[name].fetch(ctx, Window(NOW.date(), NOW.date()))
    with pytest.raises(ValueError, match="kind"):
        admin_feeds("other")


def test_engine_loads_the_feeds_and_skips_a_missing_scope(
    simulator: RunningSimulator, console_key: str, tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "home", env={})
    warehouse = Warehouse(settings)
    conn = ConnectionInfo("acme", "console", None, "auto")
    feeds: list[Feed] = [*admin_feeds("console"), *claude_code_feeds()]
    initialize(warehouse)  # every table, empty
    sync = ConnectionSync(
        warehouse,
        settings,
        conn,
        lambda *_: AnthropicClient(console_key, base_url=simulator.url),
        feeds,
        now=lambda: NOW,
    )
    report = sync.run(SyncRequest(since=D("2026-11-16")))
    assert report.error is None
    status = {f.feed: f for f in report.feeds}
    assert status["service_accounts"].skipped
    assert status["claude_code"].windows == 1
    assert status["api_keys"].rows == 36
    db = warehouse.duckdb()
    assert db.sql("select count(*) from spendscope.workspaces").fetchone() == (7,)
    assert db.sql(
        "select count(distinct bucket_start) from spendscope.claude_code_usage"
    ).fetchone() == (7,)
    warehouse.close()


def test_every_table_and_column_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "feeds-engagement-admin.md").read_text()
    feeds = [
        *claude_code_feeds(),
        *engagement_feeds(),
        *admin_feeds("console"),
        *admin_feeds("enterprise"),
    ]
    bookkeeping = {
        "row_key",
        "connection_label",
        "bucket_start",
        "bucket_end",
        "fetched_at",
        "is_provisional",
        "data_refreshed_at",
    }
    for table in {t.name: t for f in feeds for t in f.tables}.values():
        assert f"`{table.name}`" in doc
        for column in table.column_names:
            if column in bookkeeping:
                continue
            series = column.split("daily_")[0].split("weekly_")[0].split("monthly_")[0]
            assert f"`{column}`" in doc or f"`{series}…`" in doc, (table.name, column)
