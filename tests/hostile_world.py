"""A simulator whose workspaces and API keys carry hostile names, and a warehouse synced from it:
shared by the export-safety, privacy and browser-label tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conftest import NOW, Api, connect, make_settings, sync
from spendscope.config import Settings
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig

DAYS = 3

# Spreadsheet formulas (OWASP's examples), a terminal escape and HTML, as upstream names.
FORMULAS = {
    "Default": '=HYPERLINK("http://evil.example","click")',
    "Data Science": "@SUM(A1)",
    "Support Bots": "+cmd|' /C calc'!A0",
    "Research": "-2+3+cmd|' /C calc'!A0",
    "staging-default-14": '=HYPERLINK("http://evil.example/key","key")',
    "notebook-internal-tools-33": "\tleading tab=1+1",
    "prod-backend-default-00": "\rleading cr=1+1",
}
TERMINAL = {"prod-worker-research-25": "\x1b]0;pwned\x07title \x1b[31mred\x1b[0m"}
HTML_LINK = '<a href="https://evil.example">x</a>'
HTML_IMG = '<img src=x onerror="window.__pwned=1">'
HTML = {"eval-harness-production-08": HTML_LINK, "search-svc-internal-tools-05": HTML_IMG}
RENAMES = {**FORMULAS, **TERMINAL, **HTML}
WORKSPACES = ("Default", "Data Science", "Support Bots", "Research")


@contextmanager
def hostile_simulator() -> Iterator[RunningSimulator]:
    config = SimConfig(seed=42, rpm=0, renames=tuple(f"{k}={v}" for k, v in RENAMES.items()))
    with RunningSimulator(config, now=NOW) as running:
        yield running


def synced_home(home: Path, running: RunningSimulator, **overrides: Any) -> Settings:
    """Connect both demo organizations and sync DAYS days into a warehouse under `home`."""
    settings = make_settings(
        home, console_backfill_days=DAYS, enterprise_backfill_days=DAYS, **overrides
    )
    store = connect(settings, Api(running.url), running.url)
    reports = sync(settings, store)
    assert not [r.error for r in reports if r.error]
    return settings


def local_client(settings: Settings) -> TestClient:
    """The app in process, addressed by a loopback name (the dashboard answers no other)."""
    from spendscope.web.app import create_app

    return TestClient(create_app(settings, now=lambda: NOW), base_url="http://127.0.0.1")
