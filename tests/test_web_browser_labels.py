"""Upstream names in a real browser: chart legends, hover labels and tables show them as text,
never as HTML; with `pseudonymize_emails` on, pages show pseudonyms, never addresses.

API keys named `<a href="https://evil.example">x</a>` and `<img src=x onerror=…>` come from the
simulator through a real sync; the dashboard is served by uvicorn; Chromium draws the pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page

from conftest import NOW
from hostile_world import HTML_IMG, HTML_LINK, hostile_simulator, synced_home
from spendscope.privacy import PATTERN
from spendscope.warehouse.connection import Warehouse
from test_web_browser import TIMEOUT_MS, Tab

# a sync of its own (~10 s); the browser tests share one worker and one Chromium
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow, pytest.mark.xdist_group("browser")]

SPAN = {"since": "2026-11-18", "until": "2026-11-23"}
ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+")


class Board:
    def __init__(self, url: str, addresses: set[str]) -> None:
        self.url = url
        self.addresses = addresses
        self.http = httpx.Client(base_url=url, timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params or None)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    from benchmarks.background import BackgroundServer

    from spendscope.web.app import create_app

    home = tmp_path_factory.mktemp("labels")
    (home / "settings.toml").write_text("pseudonymize_emails = true\n")
    with hostile_simulator() as running:
        settings = synced_home(home, running)
    wh = Warehouse(settings)
    try:
        rows = wh.read("SELECT DISTINCT actor_email FROM spendscope.claude_code_usage")
    finally:
        wh.close()
    addresses = {r[0] for r in rows if r[0] and ADDRESS.fullmatch(r[0])}
    assert addresses
    with BackgroundServer(create_app(settings, now=lambda: NOW)) as url:
        b = Board(url, addresses)
        try:
            yield b
        finally:
            b.http.close()


@pytest.fixture
def tab(browser: Browser, board: Board) -> Iterator[Tab]:
    # The page's Content-Security-Policy would stop an injected `onerror` handler on its own;
    # it is bypassed here so that what is tested is the escaping itself (no element made).
    context = browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    t = Tab(context, board.url)
    t.page.set_default_timeout(TIMEOUT_MS)
    yield t
    context.close()


INJECTED = """root => {
    const found = [];
    for (const e of root.querySelectorAll('a, img, image, iframe, script')) {
        for (const a of e.attributes)
            if (/evil\\.example|onerror/.test(a.value) || (a.name === 'src' && a.value === 'x'))
                found.push(e.outerHTML);
        if (e.hasAttribute('onerror')) found.push(e.outerHTML);
    }
    return found;
}"""


def injected(page: Page, selector: str = "body") -> list[str]:
    found: list[str] = page.eval_on_selector(selector, INJECTED)
    return found


def test_chart_legend_hover_and_table_show_html_names_as_text(tab: Tab, board: Board) -> None:
    keys = board.get("/api/v1/dimensions/api_key/values", **SPAN)["values"]
    ids = {v["label"]: v["key"] for v in keys}
    assert HTML_LINK in ids
    assert HTML_IMG in ids
    params = {
        "metric": "cost",
        "group_by": "api_key",
        "granularity": "day",
        **SPAN,
        "filter": [f"api_key:{ids[HTML_LINK]}", f"api_key:{ids[HTML_IMG]}"],
    }
    tab.goto("/explorer?" + urlencode(params, doseq=True))
    page = tab.page
    legend = page.locator("#explorer-chart .legend .traces .legendtext").all_text_contents()
    assert sorted(legend) == sorted([HTML_LINK, HTML_IMG])
    labels = page.eval_on_selector_all(
        "#explorer-table tbody tr[data-key] td.group-label", "cs => cs.map(c => c.textContent)"
    )
    assert sorted(labels) == sorted([HTML_LINK, HTML_IMG])
    # hover over a bar: the unified hover label names the groups, as text
    bar = page.locator("#explorer-chart .cartesianlayer g.trace.bars g.point path").last
    box = bar.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator("#explorer-chart .hoverlayer")
    hover.locator("text").first.wait_for()
    text = hover.text_content() or ""
    assert HTML_LINK in text or HTML_IMG in text, text
    assert injected(page) == []
    assert page.evaluate("() => window.__pwned") is None
    tab.assert_clean()


def test_claude_code_page_shows_pseudonyms_not_addresses(tab: Tab, board: Board) -> None:
    tab.goto("/claude-code")
    page = tab.page
    users = page.eval_on_selector_all(
        "#cc-users-table tbody tr[data-user]", "rs => rs.map(r => r.dataset.user)"
    )
    assert any(PATTERN.fullmatch(u) for u in users), users
    html = page.content().lower()
    leaked = [a for a in board.addresses if a.lower() in html]
    assert leaked == []
    api = json.dumps(board.get("/api/v1/claude-code")).lower()
    assert not [a for a in board.addresses if a.lower() in api]
    tab.assert_clean()
