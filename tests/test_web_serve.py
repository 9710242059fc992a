"""`serve` around the API: tokens off loopback, the same-origin rule, sync now, the schedule,
deleting a connection, and the one-writer rule between `serve` and `sync`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from conftest import NOW, Api, connect, free_port, make_settings
from spendscope.cli import main
from spendscope.cli.dashboard import READY_LINE
from spendscope.errors import ConfigError
from spendscope.simulator.server import RunningSimulator
from spendscope.web.app import create_app, is_loopback, serve_token

TOKEN = "s3cret-token-for-tests-0123456789"
LOCAL = "http://127.0.0.1"  # a Host the dashboard answers to (TestClient's default is not)


@pytest.fixture
def fresh_home(tmp_path: Path, simulator: RunningSimulator, api: Api) -> Any:
    settings = make_settings(tmp_path, console_backfill_days=3, enterprise_backfill_days=3)
    connect(settings, api, simulator.url, which="console")
    return settings


def test_loopback_needs_no_token_elsewhere_one_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    monkeypatch.delenv("SPENDSCOPE_SERVE_TOKEN", raising=False)
    assert serve_token("127.0.0.1") is None
    with pytest.raises(ConfigError, match="needs a token"):
        serve_token("0.0.0.0")
    monkeypatch.setenv("SPENDSCOPE_SERVE_TOKEN", "short")
    with pytest.raises(ConfigError):
        serve_token("0.0.0.0")
    monkeypatch.setenv("SPENDSCOPE_SERVE_TOKEN", TOKEN)
    assert serve_token("0.0.0.0") == TOKEN


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPENDSCOPE_SERVE_TOKEN"}
    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--home", str(tmp_path)], env=env)
    assert r.exit_code == 1
    assert "needs a token" in r.output
    assert "SPENDSCOPE_SERVE_TOKEN" in r.output


def test_token_guards_pages_and_api(synced: Any) -> None:
    app = create_app(synced, token=TOKEN, now=lambda: NOW)
    with TestClient(app, base_url=LOCAL) as c:
        r = c.get("/api/v1/meta")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        r = c.get("/explorer?group_by=model&metric=tokens", follow_redirects=False)
        assert r.status_code == 303
        # the view survives signing in
        assert r.headers["location"] == "/login?next=/explorer%3Fgroup_by%3Dmodel%26metric%3Dtokens"
        assert c.get("/api/v1/meta", headers={"authorization": "Bearer nope"}).status_code == 401
        ok = c.get("/api/v1/meta", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        # static files (the login page's CSS) are open; plotly comes from the package
        assert c.get("/static/vendor/plotly.min.js").status_code == 200
        wrong = c.post(
            "/login",
            content="token=nope&next=/explorer",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert wrong.headers["location"].startswith("/login?error=1")
        assert "spendscope_session" not in wrong.cookies
        right = c.post(
            "/login",
            content=f"token={TOKEN}&next=/explorer",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert right.headers["location"] == "/explorer"
        cookie = right.cookies["spendscope_session"]
        assert TOKEN not in cookie
        assert "httponly" in right.headers["set-cookie"].lower()
        c.cookies.set("spendscope_session", cookie)
        assert c.get("/api/v1/meta").status_code == 200
        # an open redirect through next= is not possible
        evil = c.post(
            "/login",
            content=f"token={TOKEN}&next=//evil.example/",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert evil.headers["location"] == "/"


def test_changes_from_another_site_are_refused(synced: Any) -> None:
    app = create_app(synced, now=lambda: NOW)
    with TestClient(app, base_url=LOCAL) as c:
        r = c.post("/api/v1/sync", json={}, headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        assert c.get("/api/v1/sync").json()["running"] is False
        r = c.delete("/api/v1/connections/acme-console", headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        assert len(c.get("/api/v1/connections").json()["connections"]) == 2


def _wait_idle(app: Any, c: TestClient, timeout: float = 120) -> dict[str, Any]:
    """The sync's status once its run has finished (waits on the service's event)."""
    assert app.state.spendscope.sync.finished.wait(timeout), "the sync did not finish"
    return c.get("/api/v1/sync").json()  # type: ignore[no-any-return]


def test_sync_now_then_delete(fresh_home: Any) -> None:
    app = create_app(
        fresh_home, now=lambda: NOW, client_options={"backoff_base": 0.01, "backoff_max": 0.2}
    )
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/api/v1/explore").json()["total"] == "0.00"
        r = c.post("/api/v1/sync", json={})
        assert r.status_code == 202
        assert r.json()["sync"]["running"] is True
        again = c.post("/api/v1/sync", json={})
        assert again.status_code == 409
        assert "already running" in again.json()["error"]["message"]
        status = _wait_idle(app, c)
        assert status["error"] is None
        [result] = status["results"]
        assert result["label"] == "acme-console"
        assert result["rows"] > 0
        assert result["error"] is None
        total = c.get("/api/v1/explore", params={"since": "2026-11-01"}).json()["total"]
        view = app.state.spendscope.warehouse.read(
            "SELECT sum(billed_cost) FROM spendscope.spend WHERE charge_period_start >= ?",
            "2026-11-01",
        )[0][0]
        assert total != "0.00"
        assert float(total) == pytest.approx(float(view), abs=1e-9)
        conns = c.get("/api/v1/connections").json()["connections"]
        assert conns[0]["health"] == "ok"
        assert conns[0]["complete_through"]
        r = c.delete("/api/v1/connections/acme-console", params={"purge": "true"})
        assert r.status_code == 200
        assert r.json()["rows_removed"] > 0
        assert c.get("/api/v1/connections").json()["connections"] == []
        assert c.get("/api/v1/explore", params={"since": "2026-11-01"}).json()["total"] == "0.00"
        assert c.delete("/api/v1/connections/acme-console").status_code == 404


def test_scheduled_refresh_runs_when_the_data_is_stale(fresh_home: Any) -> None:
    app = create_app(
        fresh_home,
        scheduled_sync=True,
        now=lambda: NOW,
        client_options={"backoff_base": 0.01, "backoff_max": 0.2},
    )
    with TestClient(app, base_url=LOCAL) as c:
        s = _wait_idle(app, c)  # the schedule's first run: the data is stale at start
        assert s["scheduled"] is True
        assert s["results"]
        assert s["results"][0]["rows"] > 0
        # the next run is refresh_hours after this one
        assert s["next_run_at"] > s["finished_at"]
        assert c.get("/api/v1/meta").json()["sync"] == {"scheduled": True, "every_hours": 6.0}


def test_sync_while_serve_holds_the_warehouse_says_so(fresh_home: Any) -> None:
    env = {
        **os.environ,
        "SPENDSCOPE_HOME": str(fresh_home.home),
        "SPENDSCOPE_SECRET_KEY": "test-master-key",
        "SPENDSCOPE_NOW": NOW.isoformat(),
    }
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "spendscope", "serve", "--no-sync", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # serve says when it is ready (after the warehouse is open and serve.json written)
        assert server.stderr is not None
        for line in server.stderr:
            if line.rstrip("\n") == READY_LINE:
                break
        else:
            raise AssertionError(f"serve exited ({server.wait()}) before it was ready")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        r = subprocess.run(
            [sys.executable, "-m", "spendscope", "sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 1
        assert "in use by another spendscope process" in r.stderr
        assert "Sync now" in r.stderr
    finally:
        server.terminate()
        server.wait(30)
