"""`connections delete` is all or nothing: through a running `serve`, refused before anything
changes when another process holds the warehouse, and a crash in the middle (the fault hook,
not a timed kill) leaves the key, the record and the rows as they were."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import Api, connect, make_settings, sync
from serving import Serve, cli_env
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.errors import SpendscopeError
from spendscope.faults import FAULT_ENV, FAULT_EXIT_CODE, TRACE_ENV
from spendscope.simulator.server import RunningSimulator
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import ALL_TABLES, DATASET


@pytest.fixture(scope="module")
def synced_home(
    simulator: RunningSimulator, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    settings = make_settings(
        tmp_path_factory.mktemp("delete"), console_backfill_days=5, enterprise_backfill_days=5
    )
    store = connect(settings, api, simulator.url)
    assert not [r.error for r in sync(settings, store) if r.error]
    return settings


@pytest.fixture
def home(synced_home: Settings, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(synced_home.home, copy)
    return copy


def state(home: Path, label: str) -> dict[str, Any]:
    """Everything a delete touches: the key, the record, the rows, the marts, the warehouse's
    record of the connection."""
    settings = make_settings(home)
    store = ConnectionStore(settings)
    try:
        key: str | None = store.key(label)
    except SpendscopeError:
        key = None
    records = {c.label: c.state for c in store.all(include_deleted=True)}
    wh = Warehouse(settings)
    try:
        existing = wh.existing_tables()
        rows = {
            name: wh.read(
                f"SELECT count(*) FROM {DATASET}.{name} WHERE connection_label = ?", label
            )[0][0]
            for name in sorted(set(ALL_TABLES) & existing)
            if "connection_label" in ALL_TABLES[name].column_names
        }
        marts = {
            name: wh.read(
                f"SELECT count(*) FROM {DATASET}.{name} WHERE connection_label = ?", label
            )[0][0]
            for name in ("mart_spend", "mart_usage")
        }
        recorded = wh.read(
            f"SELECT state FROM {DATASET}.connections WHERE connection_label = ?", label
        )
    finally:
        wh.close()
    return {
        "key": key,
        "record": records.get(label),
        "rows": rows,
        "marts": marts,
        "recorded": recorded[0][0] if recorded else None,
    }


def run(home: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args), env=cli_env(home))
    return r.exit_code, r.stderr


@pytest.mark.slow
def test_delete_while_serve_runs_goes_through_it(home: Path, api: Api) -> None:
    before = state(home, "acme-console")
    assert before["key"] == api.key("console", "admin")
    assert sum(before["rows"].values()) > 0
    assert before["recorded"] == "active"
    kept = state(home, "acme-enterprise")
    with Serve(home):
        code, err = run(home, "connections", "delete", "acme-console", "--purge")
        assert code == 0, err
        purged = sum(before["rows"].values())
        assert f"deleted acme-console: key removed, {purged:,} rows purged" in err
        code, err = run(home, "connections", "delete", "acme-enterprise")
        assert code == 0, err
        assert "deleted acme-enterprise: key removed, history kept" in err
        code, err = run(home, "connections", "delete", "nope")
        assert code == 1
        assert "nope" in err
    gone = state(home, "acme-console")
    assert gone["key"] is None
    assert gone["record"] is None
    assert set(gone["rows"].values()) == {0}
    assert set(gone["marts"].values()) == {0}
    assert gone["recorded"] is None
    history = state(home, "acme-enterprise")
    assert history["key"] is None
    assert history["record"] == "deleted"
    assert history["recorded"] == "deleted"
    # its rows stay; only the double-booking table, derived, changed (its overlaps were with
    # the purged connection)
    assert history["rows"] == {**kept["rows"], "overlaps": 0}
    assert kept["rows"]["overlaps"] > 0


def test_delete_is_refused_when_another_process_holds_the_warehouse(home: Path) -> None:
    before = state(home, "acme-console")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.readline()",
            str(home / "warehouse.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        for args in (("--purge",), ()):
            code, err = run(home, "connections", "delete", "acme-console", *args)
            assert code == 1
            assert "in use by another spendscope process" in err
            assert "Traceback" not in err
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    assert state(home, "acme-console") == before  # the key still decrypts; nothing changed


@pytest.mark.parametrize(
    ("purge", "fault"),
    [
        (True, "delete:3"),  # the rows of some tables deleted, the transaction still open
        (True, "mart:1"),  # rows deleted, overlaps recomputed, marts rebuilt: not committed
        (False, "overlaps:1"),  # recorded as deleted, overlaps recomputed: not committed
    ],
)
def test_a_crash_in_the_middle_changes_nothing(home: Path, purge: bool, fault: str) -> None:
    before = state(home, "acme-console")
    other = state(home, "acme-enterprise")
    args = ["connections", "delete", "acme-console", *(["--purge"] if purge else [])]
    trace = home.parent / "steps.txt"
    env = {**cli_env(home), FAULT_ENV: fault, TRACE_ENV: str(trace)}
    crashed = subprocess.run(
        [sys.executable, "-m", "spendscope", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == FAULT_EXIT_CODE, crashed.stderr
    steps = trace.read_text().split()
    assert steps[-1] == fault.split(":", maxsplit=1)[0]
    if purge:  # the crash came inside the transaction that deletes the rows
        assert "delete" in steps
    assert "checkpoint" not in steps[steps.index(fault.split(":", maxsplit=1)[0]) :]
    assert state(home, "acme-console") == before
    assert state(home, "acme-enterprise") == other
    # run again without the fault: it completes
    code, err = run(home, *args)
    assert code == 0, err
    after = state(home, "acme-console")
    assert after["key"] is None
    if purge:
        assert after["record"] is None
        assert set(after["rows"].values()) == {0}
    else:
        assert after["record"] == "deleted"
        assert after["recorded"] == "deleted"
        assert after["rows"] == before["rows"]


def test_no_sync_starts_while_the_server_deletes(home: Path) -> None:
    """The server deletes under `SyncService.exclusive()`: no sync starts meanwhile, and a
    second operation is refused rather than interleaved."""
    from spendscope.sync.service import SyncBusy, SyncService

    settings = make_settings(home)
    wh = Warehouse(settings)
    try:
        service = SyncService(settings, wh, scheduled=False)
        with service.exclusive():
            with pytest.raises(SyncBusy):
                service.start()
            with pytest.raises(SyncBusy), service.exclusive():
                pass
        assert service.running is False
    finally:
        wh.close()
