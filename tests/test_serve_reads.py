"""Reads while `spendscope serve` runs: `status`, `report` and `connections list` go through the
running server (found through `serve.json`, with its local token) and print exactly what they
print when they read the warehouse themselves; a stale `serve.json` is removed and ignored."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from conftest import Api, connect, free_port, make_settings, sync
from serving import Serve, cli_env
from spendscope.cli import main
from spendscope.cli.remote import (
    SERVE_FILE,
    ServerInfo,
    decode_events,
    decode_health,
    find_server,
    write_discovery,
)
from spendscope.config import Settings
from spendscope.errors import WarehouseError
from spendscope.operations import delete_connection
from spendscope.refresh import initialize
from spendscope.simulator.server import RunningSimulator
from spendscope.sync.reports import event_row
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import to_arrow
from spendscope.warehouse.tables import EVENTS

TOKEN = "a-dashboard-token-for-tests-0123456789"


def run(home: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), env=cli_env(home))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def synced_home(
    simulator: RunningSimulator, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Both demo connections synced (5 days); the enterprise one then deleted, history kept."""
    settings = make_settings(
        tmp_path_factory.mktemp("reads"), console_backfill_days=5, enterprise_backfill_days=5
    )
    store = connect(settings, api, simulator.url)
    assert not [r.error for r in sync(settings, store) if r.error]
    delete_connection(settings, store, "acme-enterprise")
    # a sync of acme-console that started and never ended (a killed process)
    wh = Warehouse(settings)
    try:
        wh.load(
            {
                EVENTS.name: to_arrow(
                    EVENTS, [event_row("acme-console", "info", "sync", "sync started")]
                )
            }
        )
    finally:
        wh.close()
    return settings


@pytest.fixture
def home(synced_home: Settings, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(synced_home.home, copy)
    return copy


READS = [
    ("status",),
    ("status", "--events", "3"),
    ("connections", "list"),
    ("connections", "list", "--all"),
    ("report",),
    ("report", "--by", "connection,product,model", "--since", "2026-11-18"),
    ("report", "--by", "day,model", "--metric", "tokens", "--limit", "7"),
    ("report", "--by", "week,workspace", "--filter", "model:claude-sonnet-4-5"),
    ("report", "--by", "user", "--connection", "acme-enterprise", "--metric", "requests"),
]
FORMATS = [(), ("--json",), ("--csv",)]


def outputs(home: Path) -> dict[tuple[str, ...], str]:
    out = {}
    for read in READS:
        for fmt in FORMATS:
            code, stdout, stderr = run(home, *read, *fmt)
            assert code == 0, (read, fmt, stderr)
            out[(*read, *fmt)] = stdout
    return out


@pytest.mark.slow
def test_reads_while_serve_runs_print_what_they_print_without_it(home: Path) -> None:
    before = outputs(home)
    # the outputs are not trivially equal: there is data, events and a deleted connection
    assert "acme-console" in before[("status",)]
    assert "recent events" in before[("status",)]
    assert "interrupted" in before[("status", "--json")]
    assert "deleted" in before[("connections", "list", "--all")]
    assert len(before[("report", "--by", "day,model", "--metric", "tokens", "--limit", "7")]) > 100
    with Serve(home) as served:
        info = served.discovery()
        assert info is not None
        assert info["url"] == served.url
        assert info["pid"] == served.proc.pid
        assert stat.S_IMODE((home / SERVE_FILE).stat().st_mode) == 0o600
        # the server holds the warehouse: reading it directly is refused
        with pytest.raises(WarehouseError, match="in use"):
            initialize(Warehouse(make_settings(home)))
        during = outputs(home)
        # a second writer is still refused, with the message that says what to do
        code, _, stderr = run(home, "sync")
        assert code == 1
        assert "in use by another spendscope process" in stderr
        assert served.discovery() == info  # nothing stale about it
    assert not (home / SERVE_FILE).exists()  # removed on a clean stop (SIGTERM)
    after = outputs(home)
    for key, text in before.items():
        assert during[key] == text, key
        assert after[key] == text, key


def test_health_and_events_come_back_from_json_as_they_were(home: Path) -> None:
    """What the API sends (orjson) decodes to the very values the warehouse gives: times,
    days, counts, text — whatever fields the health carries."""
    from spendscope.reporting.health import connection_health, recent_events
    from spendscope.web.api import JSON

    wh = Warehouse(make_settings(home))
    try:
        health = connection_health(wh)
        events = recent_events(wh, "acme-console", 50)
    finally:
        wh.close()
    assert set(health) == {"acme-console", "acme-enterprise"}
    assert {type(v) for h in health.values() for v in h.values()} >= {str, int}
    assert decode_health(json.loads(JSON(health).body)) == health
    shown = ["occurred_at", "level", "category", "message"]
    wire = decode_events(json.loads(JSON(events).body))
    assert [[e[c] for c in shown] for e in wire] == [[e[c] for c in shown] for e in events]
    assert all(
        type(a["occurred_at"]) is type(b["occurred_at"]) for a, b in zip(wire, events, strict=True)
    )


def test_errors_from_the_server_read_like_local_ones(home: Path) -> None:
    bad = [
        ("report", "--metric", "nope"),
        ("report", "--filter", "nonsense"),
        ("report", "--by", "planet"),
    ]
    local = [run(home, *args) for args in bad]
    with Serve(home):
        served = [run(home, *args) for args in bad]
    for (code, out, err), (code2, out2, err2) in zip(local, served, strict=True):
        assert code == code2 == 2
        assert err.startswith("error: ")
        assert (out, err) == (out2, err2)


def test_the_local_token_opens_a_server_that_needs_a_token(home: Path) -> None:
    with Serve(home, {"SPENDSCOPE_SERVE_TOKEN": TOKEN}) as served:
        info = served.discovery()
        assert info is not None
        assert info["token"] != TOKEN
        assert httpx.get(f"{served.url}/api/v1/health").status_code == 401
        nope = {"authorization": "Bearer not-the-token"}
        assert httpx.get(f"{served.url}/api/v1/health", headers=nope).status_code == 401
        ok = {"authorization": f"Bearer {info['token']}"}
        health = httpx.get(f"{served.url}/api/v1/health", headers=ok).json()["connections"]
        assert health["acme-enterprise"]["state"] == "deleted"
        code, stdout, stderr = run(home, "connections", "list", "--json")
        assert code == 0, stderr
        assert [c["label"] for c in json.loads(stdout)] == ["acme-console"]


def test_a_stale_serve_file_is_removed_and_ignored(home: Path) -> None:
    expected = run(home, "connections", "list", "--csv")
    settings = make_settings(home)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    # a process that is gone
    write_discovery(settings, ServerInfo(f"http://127.0.0.1:{free_port()}", int(dead.stdout), "x"))
    assert run(home, "connections", "list", "--csv") == expected
    assert not (home / SERVE_FILE).exists()
    # a live process (this one) but nothing listening at the address
    write_discovery(settings, ServerInfo(f"http://127.0.0.1:{free_port()}", os.getpid(), "y"))
    assert find_server(settings) is None
    assert not (home / SERVE_FILE).exists()
    assert run(home, "status", "--json")[0] == 0
    # a file that is not ours to understand
    (home / SERVE_FILE).write_text("{not json")
    assert run(home, "report", "--csv")[0] == 0
    assert not (home / SERVE_FILE).exists()


def test_a_serve_that_dies_leaves_a_file_the_next_command_clears(home: Path) -> None:
    with Serve(home) as served:
        served.proc.kill()  # SIGKILL: no chance to remove serve.json
        served.proc.wait(30)
        assert served.discovery() is not None
    code, stdout, stderr = run(home, "connections", "list", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)[0]["label"] == "acme-console"
    assert not (home / SERVE_FILE).exists()
