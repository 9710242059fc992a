"""A sync that started and never ended (killed, Ctrl-C, power cut) shows as `interrupted` in
`status` and the API until the next sync of that connection ends. Deterministic: events written
through the warehouse, and a real `spendscope sync` interrupted while its upstream holds a
request (no timing)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import forked
from conftest import NOW, Api, connect, make_settings, sync
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.refresh import initialize
from spendscope.reporting.health import connection_health, syncing
from spendscope.simulator.server import RunningSimulator
from spendscope.sync.reports import event_row
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import to_arrow, utcnow
from spendscope.warehouse.tables import EVENTS

KEY = "sk-ant-admin01-" + "Kp3" * 30 + "w9AA"


def log_event(wh: Warehouse, message: str, level: str = "info", **at: Any) -> None:
    when = utcnow() + timedelta(**at)
    wh.load({EVENTS.name: to_arrow(EVENTS, [event_row("acme", level, "sync", message, at=when)])})


def health(wh: Warehouse) -> dict[str, Any]:
    return connection_health(wh).get("acme", {})


def status(settings: Settings) -> dict[str, Any]:
    """`spendscope status --json` in a child process of its own (see `forked.py`)."""
    env = {"SPENDSCOPE_HOME": str(settings.home), "SPENDSCOPE_SECRET_KEY": "test-master-key"}
    r = forked.cli(["status", "--json"], env, timeout=120)
    assert r.returncode == 0, r.stderr
    rows: list[dict[str, Any]] = json.loads(r.stdout)
    return next(row for row in rows if row["connection"] == "acme")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "home")
    ConnectionStore(settings).add(
        "acme",
        "console",
        KEY,
        base_url="http://127.0.0.1:9",
        organization_id="org",
        organization_name="Acme",
    )
    return settings


def test_a_start_without_an_end_is_interrupted(settings: Settings) -> None:
    wh = Warehouse(settings)
    try:
        initialize(wh)
        log_event(wh, "sync started", minutes=-50)
        log_event(wh, "sync finished", minutes=-40)
        assert health(wh)["state"] == "ok"
        log_event(wh, "sync started", minutes=-30)
        assert health(wh)["state"] == "interrupted"
        assert health(wh)["interrupted_at"] is not None
        # A sync running in this process (serve's "Sync now") is not an interrupted one.
        with syncing("acme"):
            assert health(wh)["state"] == "syncing"
        assert health(wh)["state"] == "interrupted"
    finally:
        wh.close()
    assert status(settings)["state"] == "interrupted"

    from benchmarks.background import BackgroundServer

    from spendscope.web.app import create_app

    app = create_app(settings, now=lambda: NOW)
    with BackgroundServer(app) as url:
        rows = httpx.get(f"{url}/api/v1/connections", timeout=30).json()["connections"]
        assert [r["health"] for r in rows if r["label"] == "acme"] == ["interrupted"]
        # The next sync's end, failed or not, ends the interrupted state.
        wh = app.state.spendscope.warehouse
        log_event(wh, "sync started", minutes=-20)
        log_event(wh, "sync failed: the API refused", level="error", minutes=-10)
        rows = httpx.get(f"{url}/api/v1/connections", timeout=30).json()["connections"]
        assert [r["health"] for r in rows if r["label"] == "acme"] == ["failing"]


def test_interrupted_until_the_next_sync_ends(
    tmp_path: Path, simulator: RunningSimulator, api: Api
) -> None:
    settings = make_settings(tmp_path / "home", console_backfill_days=2, enterprise_backfill_days=2)
    store = connect(settings, api, simulator.url, "console")
    wh = Warehouse(settings)
    try:
        initialize(wh)
        row = event_row("acme-console", "info", "sync", "sync started", at=utcnow())
        wh.load({EVENTS.name: to_arrow(EVENTS, [row])})
        assert connection_health(wh)["acme-console"]["state"] == "interrupted"
    finally:
        wh.close()
    assert not [r.error for r in sync(settings, store) if r.error]
    wh = Warehouse(settings)
    try:
        assert connection_health(wh)["acme-console"]["state"] == "ok"
    finally:
        wh.close()


class _HeldUpstream:
    """An upstream that holds every request until released: the sync is surely running."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.arrived.set()
                outer.release.wait(120)
                self.send_response(503)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def held() -> Iterator[_HeldUpstream]:
    upstream = _HeldUpstream()
    upstream.thread.start()
    try:
        yield upstream
    finally:
        upstream.release.set()
        upstream.server.shutdown()
        upstream.server.server_close()


# Starts `spendscope sync` as from a shell: Ctrl-C with its default disposition, unblocked (a
# test runner's worker may ignore or block it, and a process inherits both across exec).
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def _signal_state(pid: int) -> str:
    """The process's ignored, blocked and caught signal masks, to explain a failure."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return ", ".join(line for line in lines if line.startswith(("SigIgn", "SigBlk", "SigCgt")))


# tgkill(2), to signal one thread of another process (its number per architecture).
TGKILL = {"x86_64": 234, "aarch64": 131}


def _signal_a_worker_thread(pid: int) -> None:
    """SIGINT to one of the process's worker threads (not its main thread), as the kernel may
    choose when Ctrl-C reaches a process whose main thread is waiting."""
    import ctypes

    tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
    assert tids, "the sync runs no worker thread"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(TGKILL[os.uname().machine], pid, tids[-1], signal.SIGINT) == 0


@pytest.mark.parametrize("target", ["process", "worker thread"])
def test_ctrl_c_during_a_sync(tmp_path: Path, held: _HeldUpstream, target: str) -> None:
    if target == "worker thread" and os.uname().machine not in TGKILL:
        pytest.skip("tgkill's number is not known for this architecture")
    settings = make_settings(tmp_path / "home")
    ConnectionStore(settings).add(
        "acme", "console", KEY, base_url=held.url, organization_id="o", organization_name="Acme"
    )
    env = {
        **os.environ,
        "SPENDSCOPE_HOME": str(settings.home),
        "SPENDSCOPE_SECRET_KEY": "test-master-key",
        "SPENDSCOPE_HTTP_TIMEOUT": "300",
    }
    proc = subprocess.Popen(
        # faulthandler: a process that does not stop dumps every thread's stack on SIGABRT
        [
            sys.executable,
            "-c",
            AS_FROM_A_TERMINAL,
            "-X",
            "faulthandler",
            "-m",
            "spendscope",
            "sync",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert held.arrived.wait(120), "the sync never reached its upstream"
        signals = _signal_state(proc.pid)
        if target == "process":
            proc.send_signal(signal.SIGINT)
        else:
            _signal_a_worker_thread(proc.pid)
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # its threads' stacks, to say where it hangs
            _out, err = proc.communicate(timeout=30)
            raise AssertionError(f"the sync did not stop on Ctrl-C ({signals}):\n{err}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "error: interrupted (Ctrl-C)" in err
    # The warehouse opens and the unfinished sync shows until the next one ends.
    assert status(settings)["state"] == "interrupted"
