"""Shared fixtures: a real simulator on loopback with a frozen clock, an HTTP helper, a
warehouse synced from it, and the dashboard served over that warehouse."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendscope.config import Settings, load_settings
from spendscope.connections import ConnectionStore
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig
from spendscope.sync.reports import SyncRequest
from spendscope.sync.run import run_sync
from spendscope.upstream.ratelimit import reset_limiters
from spendscope.warehouse.connection import Warehouse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BACKFILL_DAYS = 40
BETA = "analytics-usage-cost-2026-08-24"


class Api:
    """Thin client for tests: GET with a key, query params as a list of pairs or a dict."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def get(
        self,
        path: str,
        key: str | None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        beta: bool = True,
    ) -> httpx.Response:
        h = {"anthropic-version": "2023-06-01"}
        if beta:
            h["anthropic-beta"] = BETA
        if key is not None:
            h["x-api-key"] = key
        h.update(headers or {})
        return self.http.get(path, params=params, headers=h)

    def info(self) -> dict[str, Any]:
        return self.http.get("/_simulator/info").json()

    def truth(self, **params: Any) -> dict[str, Any]:
        r = self.http.get("/_simulator/truth", params=params)
        r.raise_for_status()
        return r.json()

    def key(self, kind: str, label: str) -> str:
        """The secret of the credential labelled `label` of the first org of `kind`
        ("console" or "enterprise"; "globex" for the org without analytics)."""
        for org in self.info()["organizations"]:
            match = org["kind"] == kind or (kind == "globex" and org["name"] == "Globex Corp")
            if kind == "enterprise" and not org["analytics_enabled"]:
                match = False
            if match:
                for k in org["keys"]:
                    if k["label"] == label:
                        return str(k["key"])
        raise KeyError((kind, label))


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """One shared simulator, frozen at NOW, no rate limit, no faults. Tests must not change its
    config or clock; use `fresh_simulator` for that."""
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        yield running


@pytest.fixture(scope="session")
def api(simulator: RunningSimulator) -> Api:
    return Api(simulator.url)


@pytest.fixture
def fresh_simulator() -> Iterator[RunningSimulator]:
    """A private simulator whose clock and config a test may change."""
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        yield running


@pytest.fixture(scope="session")
def console_key(api: Api) -> str:
    return api.key("console", "admin")


@pytest.fixture(scope="session")
def oauth_key(api: Api) -> str:
    return api.key("console", "oauth-org-admin")


@pytest.fixture(scope="session")
def enterprise_key(api: Api) -> str:
    return api.key("enterprise", "analytics")


# -- a synced warehouse and the dashboard -----------------------------------------------


def make_settings(home: Path, **overrides: Any) -> Settings:
    base = {
        "console_backfill_days": BACKFILL_DAYS,
        "enterprise_backfill_days": BACKFILL_DAYS,
        "analytics_rpm": 0,
        "http_timeout": 10.0,
    }
    base.update(overrides)
    return load_settings(
        home=home, env={"SPENDSCOPE_SECRET_KEY": "test-master-key"}, overrides=base
    )


def connect(settings: Settings, api: Api, url: str, which: str = "both") -> ConnectionStore:
    store = ConnectionStore(settings)
    info = api.info()
    orgs = {o["name"]: o for o in info["organizations"]}
    if which in ("both", "console"):
        o = orgs["Acme Platform"]
        store.add(
            "acme-console",
            "console",
            api.key("console", "admin"),
            base_url=url,
            organization_id=o["id"],
            organization_name=o["name"],
        )
    if which in ("both", "enterprise"):
        o = orgs["Acme Enterprise"]
        store.add(
            "acme-enterprise",
            "enterprise",
            api.key("enterprise", "analytics"),
            base_url=url,
            organization_id=o["id"],
            organization_name=o["name"],
        )
    return store


def sync(
    settings: Settings,
    store: ConnectionStore,
    now: datetime = NOW,
    labels: list[str] | None = None,
    **request: Any,
) -> list[Any]:
    reset_limiters()
    wh = Warehouse(settings)
    try:
        return run_sync(
            settings,
            store,
            wh,
            labels,
            request=SyncRequest(**request),
            now=lambda: now,
            client_options={"backoff_base": 0.01, "backoff_max": 0.2},
        )
    finally:
        wh.close()


def point_at(home: Path, base_url: str) -> None:
    """Point every connection of `home` at the simulator at `base_url` (one of the same seed
    holds the same keys and data)."""
    path = home / "connections.json"
    data = json.loads(path.read_text())
    for conn in data["connections"]:
        conn["base_url"] = base_url
    path.write_text(json.dumps(data))


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """A directory built by `build` once per test session, whichever worker asks first; the
    others wait for it (a file lock, not a sleep) and read the same finished directory. Callers
    copy what they change."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this run
    target = root / f"once-{name}"
    with open(root / f"once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".done").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            (target / ".done").touch()
    return target


def _build_synced(url: str) -> Callable[[Path], None]:
    def build(home: Path) -> None:
        api = Api(url)
        settings = make_settings(home)
        store = connect(settings, api, url)
        reports = sync(settings, store)
        assert not [r.error for r in reports if r.error]
        api.http.close()

    return build


@pytest.fixture(scope="session")
def synced(
    simulator: RunningSimulator, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A warehouse with both demo connections synced (40 days), shared read-only by the web
    tests: tests must not change it (the connect test's failure leaves it untouched). Synced once
    per test session and copied to each worker, its connections pointed at that worker's
    simulator."""
    built = built_once(tmp_path_factory, "synced", _build_synced(simulator.url))
    home = tmp_path_factory.mktemp("synced")
    shutil.copytree(built, home, dirs_exist_ok=True)
    (home / ".done").unlink()
    point_at(home, simulator.url)
    return make_settings(home)


def copy_home(
    synced: Settings, home: Path, *, base_url: str | None = None, **overrides: Any
) -> Settings:
    """A private copy of a synced home (warehouse, connections, keys) for a test that changes
    it: the cost of one file copy instead of a backfill. `base_url` points its connections at
    another simulator (one of the same seed holds the same keys and data)."""
    shutil.copytree(synced.home, home, dirs_exist_ok=True)
    if base_url is not None:
        point_at(home, base_url)
    return make_settings(home, **overrides)


class Dashboard:
    """The dashboard served by uvicorn on loopback, over the `synced` warehouse."""

    def __init__(self, url: str, simulator_url: str, keys: dict[str, str]):
        self.url = url
        self.simulator_url = simulator_url
        self.keys = keys
        self.http = httpx.Client(base_url=url, timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params or None)
        r.raise_for_status()
        return r.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def dashboard(synced: Settings, simulator: RunningSimulator, api: Api) -> Iterator[Dashboard]:
    from benchmarks.background import BackgroundServer

    from spendscope.web.app import create_app

    keys = {
        "standard": api.key("console", "standard"),
        "console": api.key("console", "admin"),
        "enterprise": api.key("enterprise", "analytics"),
    }
    with BackgroundServer(create_app(synced, now=lambda: NOW)) as url:
        board = Dashboard(url, simulator.url, keys)
        try:
            yield board
        finally:
            board.http.close()


# -- the browser ------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """One Playwright driver for the whole session: its sync API cannot run twice at once, so
    every browser test launches its Chromium from this one."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Chromium "
            "(Debian/Ubuntu: `apt-get install chromium`; CI installs it)."
        )
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver: Any) -> Iterator[Any]:
    """Headless Chromium, shared by the browser tests."""
    b = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield b
    finally:
        b.close()


# -- the order of the tests and their workers ---------------------------------------------------


def work_group(item: pytest.Item) -> str | None:
    """The tests that must run on one worker, one after another: those of an `xdist_group`, and
    those that share a module-scoped fixture of their own module (built once instead of once
    per worker, and again each time another module's test ran in between)."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    if names:
        return "_".join(sorted(names))
    module = item.getparent(pytest.Module)
    info = getattr(item, "_fixtureinfo", None)
    if module is None or info is None:
        return None
    for defs in info.name2fixturedefs.values():
        if defs and defs[-1].scope == "module" and defs[-1].baseid == module.nodeid:
            return module.nodeid
    return None


def _join_group(item: pytest.Item, group: str) -> None:
    """What `--dist loadgroup` does to a grouped test's id (`<id>@<group>`, the scheduler's sign
    of a group), done here too: pytest-xdist 3.8 writes it where pytest 9.2 no longer reads it,
    so its groups would silently be spread over the workers."""
    if item.nodeid.endswith(f"@{group}"):
        return  # xdist's own suffix took effect
    nodeid = f"{item.nodeid}@{group}"
    if hasattr(item, "_id"):  # pytest >= 9.2: a structured id
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(nodeid)
    else:
        item._nodeid = nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (stable otherwise): spread over the workers from the start, they do not
    leave one worker running alone at the end. Under `--dist loadgroup`, each group's tests go to
    one worker as a unit (see `work_group`)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if getattr(config.option, "loadgroup", False):
        for item in items:
            group = work_group(item)
            if group is not None:
                _join_group(item, group)
