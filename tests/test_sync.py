"""End to end: connections synced from the simulator into a real DuckDB warehouse, exactly."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import forked
from conftest import BACKFILL_DAYS, Api, connect, copy_home, make_settings, sync
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.marts import refresh_marts

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TOKENS = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)
TRUTH_TOKENS = {
    "cache_creation_5m_input_tokens": "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens": "cache_creation_1h_input_tokens",
    **{t: t for t in TOKENS},
}


def query(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a read, through the warehouse's own connection settings: the dashboard a test of
    this worker served over the session's warehouse may hold it open in this process (DuckDB
    opens one file once per process, with one configuration)."""
    wh = Warehouse(settings)
    try:
        return wh.read(sql, *params)
    finally:
        wh.close()


def truth_by_day(api: Api, org: str, start: str, end: str, **kw: Any) -> dict[Any, dict[str, Any]]:
    data = api.truth(org=org, start=start, end=end, **kw)
    out = {}
    for r in data["organizations"][0]["days"]:
        key = (r["date"], *r.get("group", {}).values()) if kw.get("group_by") else r["date"]
        out[key] = r
    return out


def spend_by_day(settings: Settings, org_id: str) -> dict[str, Decimal]:
    rows = query(
        settings,
        "SELECT CAST(charge_period_start AS DATE), sum(billed_cost) "
        "FROM spendscope.spend WHERE organization_id = ? GROUP BY 1",
        org_id,
    )
    return {d.isoformat(): v for d, v in rows}


def usage_by_day(settings: Settings, org_id: str) -> dict[str, dict[str, int]]:
    cols = ", ".join(f"sum({c})" for c in TRUTH_TOKENS)
    rows = query(
        settings,
        f"SELECT CAST(period_start AS DATE), {cols} FROM spendscope.usage "
        "WHERE organization_id = ? GROUP BY 1",
        org_id,
    )
    return {r[0].isoformat(): dict(zip(TRUTH_TOKENS, map(int, r[1:]), strict=True)) for r in rows}


def assert_exact(
    api: Api, settings: Settings, now: datetime = NOW, days: int = BACKFILL_DAYS
) -> None:
    """Every organization, every day of the backfill: spend to the cent, usage to the token."""
    start = (now - timedelta(days=days)).date()
    end = now.date()  # complete days only (today is partial and provisional)
    for name in ("Acme Platform", "Acme Enterprise"):
        org_id = api.info_org(name)["id"]
        truth = truth_by_day(api, name, start.isoformat(), end.isoformat())
        spend = spend_by_day(settings, org_id)
        usage = usage_by_day(settings, org_id)
        days = [d for d in truth if start.isoformat() <= d < end.isoformat()]
        assert days
        for d in days:
            expected = Decimal(truth[d]["cost_cents"]) / 100
            assert spend.get(d) == expected, (name, d, spend.get(d), expected)
            for col in TRUTH_TOKENS:
                assert usage[d][col] == truth[d][col], (name, d, col)


@pytest.fixture
def sim() -> Iterator[tuple[RunningSimulator, Api]]:
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        yield running, Api(running.url)


def _info_org(self: Api, name: str) -> dict[str, Any]:
    return next(o for o in self.info()["organizations"] if o["name"] == name)


Api.info_org = _info_org  # type: ignore[attr-defined]


# -- exactness --


def test_backfill_is_exact_per_day_key_and_user(synced: Settings, api: Api) -> None:
    """The session's warehouse: both connections backfilled from the shared simulator (the
    fixture asserts the sync reported no error)."""
    settings = synced
    assert_exact(api, settings)
    start = (NOW - timedelta(days=BACKFILL_DAYS)).date().isoformat()
    end = NOW.date().isoformat()
    # Billed cost per API key (Console).
    console_id = api.info_org("Acme Platform")["id"]
    truth = defaultdict(Decimal)
    for r in api.truth(org="Acme Platform", start=start, end=end, group_by="api_key_id")[
        "organizations"
    ][0]["days"]:
        truth[r["group"]["api_key_id"]] += Decimal(r["cost_cents"]) / 100
    got = dict(
        query(
            settings,
            "SELECT api_key_id, sum(billed_cost) FROM spendscope.spend "
            "WHERE organization_id = ? AND charge_period_start >= ? "
            "AND charge_period_start < ? GROUP BY 1",
            console_id,
            start,
            end,
        )
    )
    assert got == dict(truth)
    # Billed cost per user (Enterprise).
    ent_id = api.info_org("Acme Enterprise")["id"]
    truth = defaultdict(Decimal)
    for r in api.truth(org="Acme Enterprise", start=start, end=end, group_by="user_id")[
        "organizations"
    ][0]["days"]:
        truth[r["group"]["user_id"]] += Decimal(r["cost_cents"]) / 100
    got = dict(
        query(
            settings,
            "SELECT user_id, sum(billed_cost) FROM spendscope.spend "
            "WHERE organization_id = ? AND charge_period_start >= ? "
            "AND charge_period_start < ? GROUP BY 1",
            ent_id,
            start,
            end,
        )
    )
    assert got == dict(truth)


def test_second_sync_changes_nothing(synced: Settings, tmp_path: Path) -> None:
    settings = copy_home(synced, tmp_path / "home", reconciliation_days=7)
    store = ConnectionStore(settings)
    before = query(
        settings,
        "SELECT connection_label, count(*), sum(billed_cost) "
        "FROM spendscope.spend GROUP BY 1 ORDER BY 1",
    )
    reports = sync(settings, store)
    assert all(r.error is None for r in reports)
    assert sum(r.corrections for r in reports) == 0
    after = query(
        settings,
        "SELECT connection_label, count(*), sum(billed_cost) "
        "FROM spendscope.spend GROUP BY 1 ORDER BY 1",
    )
    assert before == after
    # A refresh re-reads the reconciliation window only: far fewer requests than the backfill.
    assert sum(r.requests for r in reports) < 400


@pytest.mark.slow
def test_refresh_picks_up_revisions_and_logs_them(
    synced: Settings, sim: tuple[RunningSimulator, Api], tmp_path: Path
) -> None:
    """The session's backfill, copied and pointed at a private simulator of the same seed whose
    clock then moves on three days (upstream revises recent days)."""
    running, api = sim
    settings = copy_home(synced, tmp_path / "home", base_url=running.url)
    store = ConnectionStore(settings)
    api.http.post("/_simulator/clock", json={"days": 3})
    later = NOW + timedelta(days=3)
    reports = sync(settings, store, now=later)
    assert all(r.error is None for r in reports)
    changed = query(
        settings, "SELECT count(*) FROM spendscope.corrections WHERE change = 'changed'"
    )[0][0]
    assert changed > 0
    sample = query(
        settings,
        "SELECT old_value, new_value FROM spendscope.corrections "
        "WHERE change = 'changed' AND column_name = 'amount_cents' LIMIT 1",
    )
    assert sample
    assert sample[0][0] != sample[0][1]
    assert_exact(api, settings, now=later)
    assert_marts_match_views(settings)


def assert_marts_match_views(settings: Settings) -> None:
    """The marts (refreshed incrementally) hold exactly what the views hold, under either grain,
    and exactly what a full rebuild gives."""
    views = {
        "spend": query(
            settings,
            "SELECT connection_label, CAST(charge_period_start AS DATE), "
            "CAST(sum(billed_cost) * 100000000000 AS HUGEINT) FROM spendscope.spend GROUP BY ALL",
        ),
        "usage": query(
            settings,
            "SELECT connection_label, CAST(period_start AS DATE), sum(output_tokens) "
            "FROM spendscope.usage GROUP BY ALL",
        ),
    }

    def marts() -> dict[tuple[str, bool], dict[tuple[str, Any], Any]]:
        out: dict[tuple[str, bool], dict[tuple[str, Any], Any]] = {}
        for name, mart, value in (
            ("spend", "mart_spend", "sum(billed_nc)"),
            ("usage", "mart_usage", "sum(output_tokens)"),
        ):
            for alt in (False, True):
                rows = query(
                    settings,
                    f"SELECT CAST(connection_label AS VARCHAR), day, {value} "
                    f"FROM spendscope.{mart} WHERE {'alt' if alt else 'canon'} GROUP BY ALL",
                )
                out[(name, alt)] = {(r[0], r[1]): r[2] for r in rows}
        return out

    incremental = marts()
    for (name, _alt), got in incremental.items():
        assert got == {(r[0], r[1]): r[2] for r in views[name]}, name
    wh = Warehouse(settings)
    try:
        assert refresh_marts(wh, full=True) == "full"
    finally:
        wh.close()
    assert marts() == incremental


# -- faults and rate limits (kills: test_crash.py) --


FAULTY_DAYS = 14  # a shorter backfill: every request still meets the faults and the limit


@pytest.mark.slow
def test_exact_under_faults_and_a_tight_rate_limit(tmp_path: Path) -> None:
    config = SimConfig(seed=42, rpm=40, fault_rate=0.2, slow_ms=300, rate_window_seconds=2.0)
    with RunningSimulator(config, now=NOW) as running:
        api = Api(running.url)
        # The simulator allows 40 requests per 2 s; the client paces at a per-minute budget a
        # little under that, so bursts still meet real 429s (retried after retry-after).
        settings = make_settings(
            tmp_path,
            analytics_rpm=1100,
            http_timeout=2.0,
            console_backfill_days=FAULTY_DAYS,
            enterprise_backfill_days=FAULTY_DAYS,
        )
        store = connect(settings, api, running.url)
        reports = sync(settings, store)
        assert all(r.error is None for r in reports), [r.error for r in reports]
        assert sum(r.retries for r in reports) > 0
        running.sim.config.update({"fault_rate": 0.0})
        assert_exact(api, settings, days=FAULTY_DAYS)


@pytest.mark.slow
def test_malformed_json_stops_the_connection_and_leaves_it_consistent(
    sim: tuple[RunningSimulator, Api], tmp_path: Path
) -> None:
    running, api = sim
    settings = make_settings(tmp_path)
    store = connect(settings, api, running.url, which="console")
    api.http.post(
        "/_simulator/faults",
        json={"path": "/v1/organizations/analytics/cost", "kind": "malformed", "count": 50},
    )
    reports = sync(settings, store)
    assert reports[0].error is not None
    assert "JSON" in reports[0].error or "malformed" in reports[0].error.lower()
    events = query(settings, "SELECT level, category FROM spendscope.events WHERE level = 'error'")
    assert ("error", "data") in events
    running.sim.scheduled_faults.clear()
    reports = sync(settings, store)
    assert reports[0].error is None
    spend = spend_by_day(settings, api.info_org("Acme Platform")["id"])
    truth = truth_by_day(api, "Acme Platform", "2026-11-01", "2026-11-22")
    for d, r in truth.items():
        assert spend[d] == Decimal(r["cost_cents"]) / 100


def test_not_found_is_an_error_never_no_data(
    sim: tuple[RunningSimulator, Api], tmp_path: Path
) -> None:
    running, api = sim
    settings = make_settings(tmp_path)
    store = ConnectionStore(settings)
    globex = api.info_org("Globex Corp")
    store.add(
        "globex",
        "enterprise",
        api.key("globex", "analytics"),
        base_url=running.url,
        organization_id=globex["id"],
        organization_name=globex["name"],
    )
    reports = sync(settings, store)
    assert reports[0].error is not None
    rows = query(settings, "SELECT count(*) FROM spendscope.spend")[0][0]
    assert rows == 0
    states = query(
        settings, "SELECT count(*) FROM spendscope.sync_state WHERE feed IN ('cost', 'usage')"
    )[0][0]
    assert states == 0  # nothing is marked complete


# -- double-booking --


def test_overlapping_spend_is_counted_once(synced: Settings, api: Api) -> None:
    settings = synced
    console_id = api.info_org("Acme Platform")["id"]
    # The parent's connection reported the child's spend too; it is marked and left out.
    marked = query(
        settings,
        "SELECT count(*), sum(billed_cost) FROM spendscope.spend_overlaps "
        "WHERE connection_label = 'acme-enterprise' AND organization_id = ?",
        console_id,
    )[0]
    assert marked[0] > 0
    counted = query(
        settings,
        "SELECT count(*) FROM spendscope.spend "
        "WHERE connection_label = 'acme-enterprise' AND organization_id = ?",
        console_id,
    )[0][0]
    assert counted == 0
    flagged = query(
        settings,
        "SELECT count(*) FROM spendscope.spend "
        "WHERE connection_label = 'acme-console' "
        "AND overlaps_connection = 'acme-enterprise'",
    )[0][0]
    assert flagged > 0
    # The duplicate is the same money: what the parent saw of the child equals the child.
    child = query(
        settings,
        "SELECT sum(billed_cost) FROM spendscope.spend "
        "WHERE connection_label = 'acme-console' AND charge_period_start < ?",
        NOW.date().isoformat(),
    )[0][0]
    dup = query(
        settings,
        "SELECT sum(billed_cost) FROM spendscope.spend_overlaps "
        "WHERE organization_id = ? AND charge_period_start < ?",
        console_id,
        NOW.date().isoformat(),
    )[0][0]
    assert child == dup


@pytest.mark.slow
def test_enterprise_precedence_counts_the_parent(
    synced: Settings, api: Api, tmp_path: Path
) -> None:
    """The setting changed on a synced warehouse: the next sync rebuilds views and marts."""
    settings = copy_home(
        synced, tmp_path / "home", overlap_precedence="enterprise", reconciliation_days=7
    )
    sync(settings, ConnectionStore(settings))
    assert (
        query(
            settings,
            "SELECT count(*) FROM spendscope.spend WHERE connection_label = 'acme-console'",
        )[0][0]
        == 0
    )
    assert_exact(api, settings)


# -- the CLI --


def _cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`spendscope <args>` in a child process of its own (see `forked.py`)."""
    env = {
        "SPENDSCOPE_HOME": str(home),
        "SPENDSCOPE_SECRET_KEY": "cli-key",
        "SPENDSCOPE_NOW": NOW.isoformat(),
    }
    return forked.cli(args, env, drop=("SPENDSCOPE_KEY",), stdin=stdin, timeout=600)


@pytest.mark.parametrize(
    ("kind", "label", "expected"),
    [
        ("console", ("enterprise", "analytics"), "analytics key"),
        ("enterprise", ("console", "admin"), "Admin API key"),
        ("console", ("console", "standard"), "standard"),
        ("console", ("console", "admin-revoked"), "revoked"),
        ("enterprise", ("globex", "analytics"), "not enabled"),
        ("enterprise", ("enterprise", "no-analytics-scope"), "read:analytics"),
    ],
)
def test_connect_diagnoses_the_classic_mistakes(
    sim: tuple[RunningSimulator, Api],
    tmp_path: Path,
    kind: str,
    label: tuple[str, str],
    expected: str,
) -> None:
    running, api = sim
    key = api.key(*label)
    r = _cli(
        tmp_path,
        "connect",
        kind,
        "--label",
        "x",
        "--key",
        "-",
        "--base-url",
        running.url,
        stdin=key + "\n",
    )
    assert r.returncode == 1
    assert expected.lower() in r.stderr.lower(), r.stderr
    assert key not in r.stderr + r.stdout
    assert r.stderr.startswith("error: ")
    listed = _cli(tmp_path, "connections", "list", "--json")
    assert listed.returncode == 0
    assert listed.stdout.strip() == "[]"


@pytest.mark.slow
def test_cli_connect_sync_status_report(
    synced: Settings, sim: tuple[RunningSimulator, Api], tmp_path: Path
) -> None:
    """connect, sync, status and report as a user runs them, over a copy of the session's
    backfilled warehouse (same organizations and keys): `sync` refreshes it, `report` is exact."""
    running, api = sim
    (tmp_path / "settings.toml").write_text(
        f"console_backfill_days = {BACKFILL_DAYS}\nenterprise_backfill_days = {BACKFILL_DAYS}\n"
        "reconciliation_days = 7\nanalytics_rpm = 0\n"
    )
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (synced.home / name).exists():
            shutil.copy2(synced.home / name, tmp_path / name)
    ck, ek = api.key("console", "admin"), api.key("enterprise", "analytics")
    r = _cli(
        tmp_path,
        "connect",
        "console",
        "--label",
        "acme-console",
        "--key",
        "-",
        "--base-url",
        running.url,
        stdin=ck + "\n",
    )
    assert r.returncode == 0, r.stderr
    r = _cli(
        tmp_path,
        "connect",
        "enterprise",
        "--label",
        "acme-enterprise",
        "--key",
        "-",
        "--base-url",
        running.url,
        stdin=ek + "\n",
    )
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, "sync", "--json")
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, "status")
    assert r.returncode == 0
    assert "acme-console" in r.stdout
    assert "ok" in r.stdout
    r = _cli(
        tmp_path,
        "report",
        "--by",
        "connection",
        "--json",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-22",
    )
    assert r.returncode == 0, r.stderr
    import json

    totals = {row["connection"]: Decimal(row["cost"]) for row in json.loads(r.stdout)}
    truth_c = (
        sum(
            Decimal(x["cost_cents"])
            for x in truth_by_day(api, "Acme Platform", "2026-11-01", "2026-11-22").values()
        )
        / 100
    )
    truth_e = (
        sum(
            Decimal(x["cost_cents"])
            for x in truth_by_day(api, "Acme Enterprise", "2026-11-01", "2026-11-22").values()
        )
        / 100
    )
    assert totals == {"acme-console": truth_c, "acme-enterprise": truth_e}
    listed = _cli(tmp_path, "connections", "list")
    for secret in (ck, ek):
        assert secret not in listed.stdout + r.stdout
        assert secret.encode() not in (tmp_path / "connections.json").read_bytes()
    r = _cli(tmp_path, "report", "--by", "nonsense")
    assert r.returncode == 2  # a refused input
    assert "unknown dimension" in r.stderr.lower()
    r = _cli(tmp_path, "sync", "--since", "2026-13-01")
    assert r.returncode != 0
    r = _cli(tmp_path, "connections", "delete", "acme-console", "--purge")
    assert r.returncode == 0
    r = _cli(tmp_path, "report", "--by", "connection", "--json")
    assert "acme-console" not in r.stdout
