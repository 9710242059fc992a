"""The Allocation page, the Explorer's allocation dimensions and the Overview's top teams in a
real browser (headless Chromium), against the app served by uvicorn over a synced warehouse with
allocation configured (rules and mappings from October): what the pages show is compared with
the REST API; an import's error is shown as the API's text, never as HTML."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from conftest import NOW, copy_home
from spendscope.config import Settings
from test_web_allocation import configure
from test_web_browser import Tab, assert_chart_drawn, display_order, legend_texts, trace_names

# the browser tests share one worker and one Chromium
pytestmark = [pytest.mark.timeout(90), pytest.mark.xdist_group("browser")]

TODAY = NOW.date().isoformat()
VIEW = "/allocation?dimension=team&since=2026-11-01&until=2026-11-23&granularity=day"
SPAN = {"since": "2026-11-01", "until": "2026-11-23"}


class Board:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=60)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params or None)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def board(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    from benchmarks.background import BackgroundServer

    from spendscope.web.app import create_app

    settings = copy_home(synced, tmp_path_factory.mktemp("browser-allocation"))
    configure(settings)
    with BackgroundServer(create_app(settings, now=lambda: NOW)) as url:
        b = Board(url)
        try:
            yield b
        finally:
            b.http.close()


@pytest.fixture
def opener(browser: Browser) -> Iterator[Callable[[str, str], Tab]]:
    """Open a path of the dashboard at a base URL in a fresh context; any request that leaves
    the dashboard is refused and recorded as an error."""
    contexts: list[BrowserContext] = []

    def open_at(base_url: str, path: str) -> Tab:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        tab = Tab(context, base_url)

        def refuse(route: Any) -> None:
            tab.errors.append(f"external request: {route.request.url}")
            route.abort()

        context.route(lambda url: not url.startswith(base_url), refuse)
        return tab.goto(path)

    yield open_at
    for c in contexts:
        c.close()


def explored(board: Board, dimension: str) -> dict[str, Any]:
    params = {"metric": "cost", "group_by": dimension, "granularity": "day", "limit": 10}
    result: dict[str, Any] = board.get("/api/v1/explore", **params, **SPAN)
    return result


def data_values(page: Page, selector: str) -> list[str]:
    values: list[str] = page.eval_on_selector_all(selector, "ns => ns.map(n => n.dataset.value)")
    return values


def mapping_keys(page: Page) -> list[str]:
    keys: list[str] = page.eval_on_selector_all(
        "#mappings-table tbody tr[data-key]", "rs => rs.map(r => r.dataset.key)"
    )
    return keys


def refused_post(error: str) -> bool:
    """Chromium logs a refused request itself ("Failed to load resource: … 400")."""
    return "Failed to load resource" in error and "400" in error


# -- the page ---------------------------------------------------------------------------------


def test_spend_by_team_has_one_series_per_value(
    opener: Callable[[str, str], Tab], board: Board
) -> None:
    tab = opener(board.url, VIEW)
    page = tab.page
    expect(page.locator("#allocation-empty")).to_be_hidden()
    options = page.eval_on_selector_all(
        "#allocation-dimension option", "os => os.map(o => o.value)"
    )
    assert options == ["cost_center", "team"]
    assert_chart_drawn(page, "allocation-chart")
    data = explored(board, "team")
    labels = [g["label"] for g in display_order(data["groups"])]
    assert len(labels) >= 4  # research, payments, search, growth, …
    assert trace_names(page, "allocation-chart") == labels
    assert legend_texts(page, "allocation-chart") == labels
    lengths = page.evaluate(
        "() => document.getElementById('allocation-chart').data.map(t => t.y.length)"
    )
    assert lengths == [len(data["periods"])] * len(labels)
    href = page.locator("#allocation-explore").get_attribute("href") or ""
    assert parse_qs(urlsplit(href).query)["group_by"] == ["team"]

    page.select_option("#allocation-dimension", "cost_center")
    tab.wait_ready()
    assert parse_qs(urlsplit(page.url).query)["dimension"] == ["cost_center"]
    centers = [g["label"] for g in display_order(explored(board, "cost_center")["groups"])]
    assert trace_names(page, "allocation-chart") == centers
    assert {"CC-000", "CC-100", "CC-200"} <= set(centers)
    tab.assert_clean()


def test_coverage_rules_and_mappings_on_the_page_equal_the_api(
    opener: Callable[[str, str], Tab], board: Board
) -> None:
    tab = opener(board.url, VIEW)
    page = tab.page
    months = board.get("/api/v1/allocation/coverage", dimension="team", **SPAN)["months"]
    assert [m["month"] for m in months] == ["2026-11"]
    rows = page.eval_on_selector_all(
        "#coverage-table tbody tr[data-month]",
        "rs => rs.map(r => [r.dataset.month, r.querySelector('.cov-total').dataset.value,"
        " r.querySelector('.cov-allocated').dataset.value,"
        " r.querySelector('.cov-unallocated').dataset.value])",
    )
    assert rows == [[m["month"], m["total"], m["allocated"], m["unallocated"]] for m in months]
    # the gauge: the allocated share of the range
    total = sum(Decimal(m["total"]) for m in months)
    allocated = sum(Decimal(m["allocated"]) for m in months)
    share = float(allocated / total)
    shown = page.locator("#coverage-share")
    assert abs(float(shown.get_attribute("data-value") or "nan") - share) < 1e-12
    assert shown.inner_text() == f"{share * 100:.1f}%"
    assert Decimal(page.locator("#coverage-total").get_attribute("data-value") or "") == total
    assert Decimal(page.locator("#coverage-allocated").get_attribute("data-value") or "") == (
        allocated
    )
    assert 0 < share < 1
    # unallocated, by reason, over the range
    by_reason: dict[str, Decimal] = defaultdict(Decimal)
    for m in months:
        for r in m["unallocated_by_reason"]:
            by_reason[r["reason"]] += Decimal(r["cost"])
    assert by_reason
    reasons = page.eval_on_selector_all(
        "#unallocated-table tbody tr[data-reason]",
        "rs => rs.map(r => [r.dataset.reason, r.querySelector('td.num').dataset.value])",
    )
    assert {reason: Decimal(cost) for reason, cost in reasons} == by_reason
    # the rules version in force, the versions, the mappings in force today
    rules = board.get("/api/v1/allocation/rules")
    assert page.locator("#rules-current").get_attribute("data-version") == str(
        rules["in_force"]["version"]
    )
    versions = page.eval_on_selector_all(
        "#rules-versions tbody tr[data-version]", "rs => rs.map(r => r.dataset.version)"
    )
    assert versions == [str(v["version"]) for v in rules["versions"]]
    page.locator("#rules-toml-box summary").click()
    assert "[dimensions.team]" in page.locator("#rules-toml").inner_text()
    mappings = board.get("/api/v1/allocation/mappings", as_of=TODAY, dimension="team")
    assert mapping_keys(page) == [m["key"] for m in mappings["mappings"]]
    assert mapping_keys(page)
    tab.assert_clean()


def test_a_bad_csv_shows_the_apis_error_as_text_and_changes_nothing(
    opener: Callable[[str, str], Tab], board: Board
) -> None:
    tab = opener(board.url, VIEW)
    page = tab.page
    before = board.get("/api/v1/allocation/mappings")
    bad = (
        "subject_type,subject,dimension,value,valid_from,valid_to\n"
        "workspace,Research,team,research,2026-11-20,\n"
        "<img src=x id=injected>,<b>x</b>,team,x,2026-11-20,\n"
    )
    page.fill("#import-text", bad)
    with page.expect_response(
        lambda r: (
            urlsplit(r.url).path == "/api/v1/allocation/mappings" and r.request.method == "POST"
        )
    ) as posted:
        page.click("#import-submit")
    assert posted.value.status == 400
    box = page.locator("#import-error")
    expect(box).to_be_visible()
    # what the API says for the very same request
    direct = board.http.post(
        "/api/v1/allocation/mappings", json={"format": "csv", "name": "pasted text", "text": bad}
    )
    assert direct.status_code == 400
    message = direct.json()["error"]["message"]
    assert message.startswith("pasted text line 3: subject_type '<img src=x id=injected>'")
    assert message in box.inner_text()  # the characters, as they are
    assert page.locator("#injected").count() == 0  # text, never HTML
    assert box.locator("img, b").count() == 0
    expect(page.locator("#import-result")).to_be_hidden()
    assert board.get("/api/v1/allocation/mappings") == before
    tab.assert_clean(refused_post)


def test_explorer_offers_team_and_the_overview_shows_top_teams(
    opener: Callable[[str, str], Tab], board: Board
) -> None:
    tab = opener(
        board.url, "/explorer?metric=cost&group_by=model&since=2026-11-01&until=2026-11-23"
    )
    page = tab.page
    grouped = page.eval_on_selector_all(
        "#group-by optgroup[label=Allocation] option", "os => os.map(o => o.value)"
    )
    assert grouped == ["cost_center", "team"]
    page.select_option("#group-by", "team")
    tab.wait_ready()
    data = board.get(
        "/api/v1/explore", metric="cost", group_by="team", granularity="day", limit=10, **SPAN
    )
    assert trace_names(page) == [g["label"] for g in display_order(data["groups"])]
    tab.assert_clean()

    tab = opener(board.url, "/")
    page = tab.page
    expect(page.locator("section.top-allocation h2")).to_have_text(
        ["Top cost centers", "Top teams"]
    )
    overview = board.get("/api/v1/overview")
    mtd = overview["month_to_date"]
    top = board.get(
        "/api/v1/explore",
        metric="cost",
        group_by="team",
        granularity="month",
        since=mtd["since"],
        until=mtd["until"],
        limit=5,
    )
    expected = [g["total"] for g in top["groups"] if g["key"] != "__other__"]
    assert len(expected) == 5
    assert data_values(page, "#top-team tbody tr td.num") == expected
    tab.assert_clean()


def test_without_allocation_the_page_says_how_to_configure_it(
    opener: Callable[[str, str], Tab], dashboard: Any
) -> None:
    tab = opener(dashboard.url, "/allocation")
    page = tab.page
    empty = page.locator("#allocation-empty")
    expect(empty).to_be_visible()
    assert "spendscope allocation import teams.csv" in empty.inner_text()
    assert "spendscope allocation rules set rules.toml" in empty.inner_text()
    expect(page.locator("#allocation-content")).to_be_hidden()
    expect(page.locator("#import-form")).to_be_visible()
    tab.assert_clean()
    tab = opener(dashboard.url, "/")
    assert tab.page.locator("section.top-allocation").count() == 0
    tab.assert_clean()


def test_an_import_shows_the_message_and_the_page_reloads(
    opener: Callable[[str, str], Tab], board: Board, tmp_path: Any
) -> None:
    """Last in the file: it changes the board's configuration."""
    tab = opener(board.url, VIEW)
    page = tab.page
    drawn = "() => document.getElementById('allocation-chart').data.map(t => [t.name, t.y])"
    before = page.evaluate(drawn)
    moves = tmp_path / "moves.csv"
    moves.write_text(
        "subject_type,subject,dimension,value,valid_from,valid_to\n"
        "api_key,team-search-ci,team,platform,2026-11-10,\n"
    )
    page.set_input_files("#import-file", str(moves))
    page.click("#import-submit")
    result = page.locator("#import-result")
    expect(result).to_have_text(re.compile(r"^imported 1 mappings from moves\.csv \(change \d+\)$"))
    tab.wait_ready()
    # drawn anew: the key's spend from 10 November moved from search to platform
    assert page.evaluate(drawn) != before
    labels = [g["label"] for g in display_order(explored(board, "team")["groups"])]
    assert trace_names(page, "allocation-chart") == labels
    mappings = board.get("/api/v1/allocation/mappings", as_of=TODAY, dimension="team")
    assert mapping_keys(page) == [m["key"] for m in mappings["mappings"]]
    assert any(m["value"] == "platform" for m in mappings["mappings"])
    expect(page.locator("#import-error")).to_be_hidden()
    assert page.input_value("#import-text") == ""
    tab.assert_clean()
