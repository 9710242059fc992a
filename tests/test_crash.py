"""Killed at every step of the write path, the warehouse opens and the next sync is exact.

A real `spendscope sync` process (forked from a server that has the product imported, see
`forked.py`) is stopped hard (`os._exit`, through the SPENDSCOPE_FAULT hook) at the first and
the last occurrence of every step of a first sync and of a refresh. After each kill:
the process died at that step, the warehouse opens (recovering a log it cannot replay),
`spendscope status` exits 0, and the next `spendscope sync` ends exact against the simulator's
truth — spend to the cent and usage to the token per day, no duplicate row_key in any table, rows
that vanished upstream gone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import forked
from conftest import NOW, Api, built_once, connect, make_settings, point_at
from spendscope.cli import main
from spendscope.faults import FAULT_ENV, FAULT_EXIT_CODE, TRACE_ENV
from spendscope.refresh import initialize
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig
from spendscope.warehouse.schema import ALL_TABLES

BACKFILL_DAYS = 8  # two windows per feed, as with longer backfills: each step runs more than once
SETTINGS = (
    f"console_backfill_days = {BACKFILL_DAYS}\n"
    "reconciliation_days = 7\n"
    "engagement_reconciliation_days = 7\n"
    "analytics_rpm = 0\n"
)
ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
TOKENS = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "output_tokens",
    "web_search_requests",
)
# Rows planted before the refresh that upstream does not have: the refresh deletes them.
PHANTOMS = (
    ("analytics_cost_key", 3),
    ("analytics_usage_key", 4),
    ("claude_code_usage", 2),
    ("workspaces", None),
    ("api_keys", None),
)
FIRST_STEPS = (
    "schema",
    "window_load",
    "window_rows",
    "cursor",
    "commit",
    "overlaps",
    "view",
    "mart",
    "checkpoint",
)
REFRESH_STEPS = (
    "window_load",
    "window_rows",
    "delete",
    "cursor",
    "commit",
    "overlaps",
    "view",
    "mart",
    "checkpoint",
)


@dataclass
class Plan:
    sim: RunningSimulator
    api: Api
    empty: Path  # a home with the connection, never synced
    synced: Path  # a home after a first sync, with phantom rows planted
    refreshed: Path  # the synced home after a clean refresh
    counts: dict[str, Counter[str]]  # phase -> step -> occurrences in a clean run
    phantoms: list[str]


def _spendscope(home: Path, *args: str, **env: str) -> forked.Result:
    """`spendscope <args> --home <home>` in a child process of its own (killed for real)."""
    return forked.run([*args, "--home", str(home)], {**ENV, **env}, drop=(FAULT_ENV, TRACE_ENV))


def _in_process(home: Path, *args: str) -> Any:
    """`spendscope <args>` run in this process (the same command, without the start-up cost)."""
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def _copy(src: Path, dst: Path, url: str | None = None) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    if url is not None:
        point_at(dst, url)
    return dst


def _plant_phantoms(home: Path) -> list[str]:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    keys = []
    try:
        for table, days_ago in PHANTOMS:
            where = "connection_label = 'acme-console'"
            params: list[Any] = []
            if days_ago is not None:
                where += " AND CAST(bucket_start AS DATE) = ?"
                params.append((NOW - timedelta(days=days_ago)).date())
            key = con.execute(
                f"SELECT row_key FROM spendscope.{table} WHERE {where} ORDER BY row_key LIMIT 1",
                params,
            ).fetchone()
            assert key, table
            phantom = f"phantom-{table}"
            con.execute(
                f"INSERT INTO spendscope.{table} SELECT * REPLACE (? AS row_key) "
                f"FROM spendscope.{table} WHERE row_key = ?",
                [phantom, key[0]],
            )
            keys.append(phantom)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return keys


def _trace(home: Path, phase: str) -> None:
    trace = home.parent / f"trace-{phase}"
    r = _spendscope(home, "sync", **{TRACE_ENV: str(trace)})
    assert r.returncode == 0, r.output


def _build_plan(url: str) -> Callable[[Path], None]:
    """The homes every kill starts from and the clean runs' step traces, made once per test
    session: a never-synced home, a first sync (traced), phantoms planted, a refresh (traced)."""

    def build(root: Path) -> None:
        api = Api(url)
        empty = root / "empty"
        empty.mkdir()
        (empty / "settings.toml").write_text(SETTINGS)
        connect(make_settings(empty), api, url, which="console")
        first = _copy(empty, root / "first")
        _trace(first, "first")
        synced = _copy(first, root / "synced")
        (root / "phantoms").write_text("\n".join(_plant_phantoms(synced)))
        _trace(_copy(synced, root / "refresh"), "refresh")
        api.http.close()

    return build


@pytest.fixture(scope="session")  # not per module: the kills are spread over the workers
def plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as sim:
        built = built_once(tmp_path_factory, "crash-plan", _build_plan(sim.url))
        root = tmp_path_factory.mktemp("crash")
        homes = {
            name: _copy(built / name, root / name, sim.url)
            for name in ("empty", "synced", "refresh")
        }
        counts = {
            phase: Counter((built / f"trace-{phase}").read_text().split())
            for phase in ("first", "refresh")
        }
        phantoms = (built / "phantoms").read_text().split()
        yield Plan(
            sim, Api(sim.url), homes["empty"], homes["synced"], homes["refresh"], counts, phantoms
        )


def _occurrences(total: int) -> list[int]:
    """The first occurrence (nothing of its kind done yet) and the last (all the others done):
    a kill between them leaves a state the last one already covers (some done, some not)."""
    return sorted({1, total})


def _truth(api: Api) -> dict[str, dict[str, Any]]:
    start = (NOW - timedelta(days=BACKFILL_DAYS)).date()
    data = api.truth(org="Acme Platform", start=start.isoformat(), end=NOW.date().isoformat())
    return {r["date"]: r for r in data["organizations"][0]["days"]}


def assert_exact(api: Api, home: Path) -> None:
    """Spend and usage per day equal the truth, and the marts the views; no duplicate keys; no
    phantom left."""
    org = next(o for o in api.info()["organizations"] if o["name"] == "Acme Platform")
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        spend = dict(
            con.execute(
                "SELECT CAST(CAST(charge_period_start AS DATE) AS VARCHAR), sum(billed_cost) "
                "FROM spendscope.spend WHERE organization_id = ? GROUP BY 1",
                [org["id"]],
            ).fetchall()
        )
        cols = ", ".join(f"sum({t})" for t in TOKENS)
        usage = {
            r[0]: dict(zip(TOKENS, map(int, r[1:]), strict=True))
            for r in con.execute(
                f"SELECT CAST(CAST(period_start AS DATE) AS VARCHAR), {cols} "
                "FROM spendscope.usage WHERE organization_id = ? GROUP BY 1",
                [org["id"]],
            ).fetchall()
        }
        # The marts (what the dashboard reads) hold what the views hold.
        views = con.execute(
            "SELECT CAST(charge_period_start AS DATE), "
            "CAST(sum(billed_cost) * 100000000000 AS HUGEINT) FROM spendscope.spend GROUP BY ALL"
        ).fetchall()
        mart = con.execute(
            "SELECT day, sum(billed_nc) FROM spendscope.mart_spend WHERE canon GROUP BY ALL"
        ).fetchall()
        assert dict(mart) == dict(views)
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'spendscope'"
            ).fetchall()
        }
        for name, spec in ALL_TABLES.items():
            if name not in tables or "row_key" not in spec.column_names:
                continue
            dupes, phantoms = con.execute(
                f"SELECT count(*) - count(DISTINCT row_key), "
                f"count(*) FILTER (WHERE row_key LIKE 'phantom-%') FROM spendscope.{name}"
            ).fetchone()
            assert phantoms == 0, name
            if spec.kind != "log":
                assert dupes == 0, name
    finally:
        con.close()
    truth = _truth(api)
    assert len(truth) == BACKFILL_DAYS
    for day, t in truth.items():
        assert spend.get(day) == Decimal(t["cost_cents"]) / 100, (day, spend.get(day))
        assert usage[day] == {k: t[k] for k in TOKENS}, day


def _kill_and_recover(plan: Plan, base: Path, home: Path, step: str, k: int) -> None:
    _copy(base, home)
    killed = _spendscope(home, "sync", **{FAULT_ENV: f"{step}:{k}"})
    assert killed.returncode == FAULT_EXIT_CODE, (step, k, killed.returncode, killed.output)
    status = _in_process(home, "status")
    assert status.exit_code == 0, (step, k, status.output)
    done = _in_process(home, "sync")
    assert done.exit_code == 0, (step, k, done.output)
    assert_exact(plan.api, home)


@pytest.mark.slow
def test_the_clean_runs_meet_every_step(plan: Plan) -> None:
    for phase, steps in (("first", FIRST_STEPS), ("refresh", REFRESH_STEPS)):
        missing = [s for s in steps if not plan.counts[phase][s]]
        assert not missing, (phase, missing, plan.counts[phase])
    assert "schema" not in plan.counts["refresh"]  # a refresh runs no table DDL
    assert_exact(plan.api, plan.refreshed)


@pytest.mark.slow
@pytest.mark.parametrize("step", FIRST_STEPS)
def test_killed_first_sync_recovers_exactly(plan: Plan, step: str, tmp_path: Path) -> None:
    for k in _occurrences(plan.counts["first"][step]):
        _kill_and_recover(plan, plan.empty, tmp_path / f"{step}-{k}", step, k)


@pytest.mark.slow
@pytest.mark.parametrize("step", REFRESH_STEPS)
def test_killed_refresh_recovers_exactly(plan: Plan, step: str, tmp_path: Path) -> None:
    for k in _occurrences(plan.counts["refresh"][step]):
        _kill_and_recover(plan, plan.synced, tmp_path / f"{step}-{k}", step, k)


# -- a write-ahead log that cannot be replayed ---------------------------------------------------

# What a first sync killed before its first checkpoint could leave (earlier versions): the schema,
# tables, a mart's ENUM type and rows, all in the write-ahead log only. DuckDB cannot replay it
# ("Schema with name spendscope does not exist!").
UNREPLAYABLE = """
import duckdb, os, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE SCHEMA spendscope")
con.execute("CREATE TABLE spendscope.sync_state (row_key VARCHAR, connection_label VARCHAR)")
con.execute("INSERT INTO spendscope.sync_state VALUES ('k', 'acme-console')")
con.execute("CREATE TYPE spendscope.mart_spend_model_t AS ENUM ('claude-x')")
con.execute(
    "CREATE OR REPLACE TABLE spendscope.mart_spend AS "
    "SELECT CAST('claude-x' AS spendscope.mart_spend_model_t) AS model"
)
os._exit(9)
"""


def _console_home(home: Path, api: Api, url: str) -> Path:
    home.mkdir()
    (home / "settings.toml").write_text(SETTINGS)
    connect(make_settings(home), api, url, which="console")
    return home


@pytest.mark.slow  # two CLI runs and a sync: about 15 s
def test_an_unreplayable_log_is_moved_aside_and_the_next_sync_is_exact(
    simulator: RunningSimulator, api: Api, tmp_path: Path
) -> None:
    home = _console_home(tmp_path / "home", api, simulator.url)
    path = home / "warehouse.duckdb"
    subprocess.run([sys.executable, "-c", UNREPLAYABLE, str(path)], check=False)
    with pytest.raises(duckdb.Error, match="replaying WAL"):
        duckdb.connect(str(path)).close()  # genuinely unreplayable

    status = _spendscope(home, "status")
    assert status.returncode == 0, status.output
    kept = list(home.glob("warehouse.duckdb.wal.unreplayable-*"))
    assert len(kept) == 1
    assert not (home / "warehouse.duckdb.wal").exists() or kept[0].stat().st_size
    warnings = [line for line in status.output.splitlines() if "write-ahead log" in line]
    assert len(warnings) == 1, status.output
    assert str(kept[0]) in warnings[0]
    assert "Traceback" not in status.output

    done = _spendscope(home, "sync")
    assert done.returncode == 0, done.output
    assert "write-ahead log" not in done.output  # recovered once, not at every open
    assert_exact(api, home)
    con = duckdb.connect(str(path), read_only=True)
    try:
        events = con.execute(
            "SELECT level, detail FROM spendscope.events WHERE message LIKE '%write-ahead log%'"
        ).fetchall()
    finally:
        con.close()
    assert len(events) == 1
    assert events[0][0] == "warning"
    assert kept[0].name in events[0][1]


# -- a warehouse written through dlt by an earlier version ---------------------------------------

DLT_WAREHOUSE = """
CREATE SCHEMA spendscope;
CREATE TABLE spendscope.events (
    row_key VARCHAR NOT NULL, connection_label VARCHAR NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL, level VARCHAR, category VARCHAR,
    message VARCHAR, detail VARCHAR,
    _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL);
INSERT INTO spendscope.events VALUES ('e1', 'acme-console', TIMESTAMPTZ '2026-11-20 10:00:00+00',
    'info', 'sync', 'sync finished', '{}', '1732000000.1', 'abc');
CREATE TABLE spendscope.sync_state (
    row_key VARCHAR NOT NULL, connection_label VARCHAR NOT NULL, feed VARCHAR, source VARCHAR,
    covered_from DATE, complete_through DATE, loaded_through DATE,
    data_refreshed_at TIMESTAMP WITH TIME ZONE, updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL);
CREATE TABLE spendscope._dlt_loads (load_id VARCHAR NOT NULL, schema_name VARCHAR,
    status BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL,
    schema_version_hash VARCHAR);
CREATE TABLE spendscope._dlt_version (version BIGINT NOT NULL, engine_version BIGINT NOT NULL,
    inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_name VARCHAR NOT NULL,
    version_hash VARCHAR NOT NULL, schema VARCHAR NOT NULL);
CREATE TABLE spendscope._dlt_pipeline_state (version BIGINT NOT NULL,
    engine_version BIGINT NOT NULL, pipeline_name VARCHAR NOT NULL, state VARCHAR NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, version_hash VARCHAR,
    _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL);
CREATE SCHEMA spendscope_staging;
CREATE TABLE spendscope_staging.events (row_key VARCHAR);
CHECKPOINT;
"""


def test_a_warehouse_written_through_dlt_is_migrated_on_open(tmp_path: Path) -> None:
    from spendscope.sync.reports import event_row
    from spendscope.warehouse.connection import Warehouse
    from spendscope.warehouse.schema import to_arrow
    from spendscope.warehouse.tables import EVENTS

    settings = make_settings(tmp_path)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(DLT_WAREHOUSE)
    con.close()

    wh = Warehouse(settings)
    try:
        initialize(wh)
        wh.load({EVENTS.name: to_arrow(EVENTS, [event_row("acme-console", "info", "sync", "x")])})
        dlt_columns = wh.read(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE column_name LIKE '\\_dlt\\_%' ESCAPE '\\' OR table_name LIKE '\\_dlt\\_%' "
            "ESCAPE '\\' OR table_schema = 'spendscope_staging'"
        )
        assert dlt_columns == []
        assert wh.read("SELECT row_key FROM spendscope.events ORDER BY occurred_at")[0] == ("e1",)
        assert len(wh.read("SELECT * FROM spendscope.events")) == 2
        assert {"spend", "usage", "mart_spend", "analytics_cost_key"} <= wh.existing_tables()
    finally:
        wh.close()
    # Migrated once, checkpointed: the log holds no DDL, and opening again changes nothing.
    wal = Path(str(settings.warehouse_path) + ".wal")
    assert not wal.exists() or wal.stat().st_size < 4096
    wh = Warehouse(settings)
    try:
        initialize(wh)
        assert len(wh.read("SELECT * FROM spendscope.events")) == 2
    finally:
        wh.close()


# -- one transaction per window ------------------------------------------------------------------


def test_a_window_that_fails_midway_leaves_nothing(tmp_path: Path) -> None:
    import pyarrow as pa

    from spendscope.errors import WarehouseError
    from spendscope.sync.reports import event_row
    from spendscope.warehouse.connection import Warehouse
    from spendscope.warehouse.schema import row_key, to_arrow
    from spendscope.warehouse.tables import EVENTS, SYNC_STATE

    wh = Warehouse(make_settings(tmp_path))
    try:
        initialize(wh)
        state = {
            "row_key": row_key("acme", "cost"),
            "connection_label": "acme",
            "feed": "cost",
            "updated_at": NOW,
        }
        wh.load({SYNC_STATE.name: to_arrow(SYNC_STATE, [state])})
        # The cursor moves on and an event is logged, but the third table's row breaks a NOT
        # NULL constraint: none of the window may stay.
        moved = {**state, "complete_through": NOW.date()}
        bad = pa.table({"row_key": pa.array([None], pa.string()), "connection_label": ["acme"]})
        with pytest.raises(WarehouseError):
            wh.load(
                {
                    SYNC_STATE.name: to_arrow(SYNC_STATE, [moved]),
                    EVENTS.name: to_arrow(EVENTS, [event_row("acme", "info", "sync", "x")]),
                    "connections": bad,
                },
                {"analytics_cost_key": ["k1"]},
            )
        assert wh.sync_state("acme")["cost"]["complete_through"] is None
        assert wh.read("SELECT count(*) FROM spendscope.events") == [(0,)]
        # The same window again, whole: written once, however many times.
        for _ in range(2):
            wh.load(
                {
                    SYNC_STATE.name: to_arrow(SYNC_STATE, [moved]),
                    EVENTS.name: to_arrow(EVENTS, [event_row("acme", "info", "sync", "y")]),
                }
            )
        assert wh.sync_state("acme")["cost"]["complete_through"] == NOW.date()
        assert wh.read("SELECT count(*) FROM spendscope.sync_state") == [(1,)]
    finally:
        wh.close()
