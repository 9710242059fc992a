"""The dashboard in a real browser: headless Chromium (Playwright) against the real app, served
by uvicorn over a warehouse synced from the simulator (the `dashboard` fixture).

Every page must reach body[data-ready="1"] with no console error, no page error and no request
leaving the dashboard's own origin; what the pages show is compared with the REST API.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

TIMEOUT_MS = 15_000

# One worker launches Chromium once and runs every browser test.
pytestmark = [pytest.mark.timeout(60), pytest.mark.xdist_group("browser")]


# -- fixtures -----------------------------------------------------------------------------------


class Tab:
    """A page of the dashboard with everything that went wrong on it."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.base_url = base_url
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console error: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on(
            "requestfailed",
            lambda r: self.errors.append(f"failed request: {r.url} ({r.failure})"),
        )

    def goto(self, path: str) -> Tab:
        self.page.goto(self.base_url + path)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Wait for body[data-ready="1"]; fail with the page's error box if the load failed."""
        # a selector, not wait_for_function: the page's CSP forbids evaluating strings
        self.page.wait_for_selector('body[data-ready="1"], body[data-error="1"]', state="attached")
        if self.page.evaluate("document.body.dataset.error === '1'"):
            box = self.page.locator("#error-box")
            pytest.fail(f"{self.page.url} shows an error: {box.inner_text()!r}")

    def assert_clean(self, allowed: Callable[[str], bool] = lambda _: False) -> None:
        unexpected = [e for e in self.errors if not allowed(e)]
        assert unexpected == [], f"errors on {self.page.url}: {unexpected}"


@pytest.fixture
def open_tab(browser: Browser, dashboard: Any) -> Iterator[Callable[[str], Tab]]:
    """Open a dashboard path in a fresh context; any request leaving the dashboard's origin is
    refused and recorded as an error (the dashboard must work with no internet)."""
    contexts: list[BrowserContext] = []
    tabs: list[Tab] = []

    def opener(path: str) -> Tab:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        tab = Tab(context, dashboard.url)

        def refuse(route: Any) -> None:
            tab.errors.append(f"external request: {route.request.url}")
            route.abort()

        context.route(
            lambda url: not url.startswith(dashboard.url) and not url.startswith("data:"), refuse
        )
        tabs.append(tab)
        return tab.goto(path)

    yield opener
    for c in contexts:
        c.close()


def test_api_docs_work_offline_under_the_csp(browser: Browser, dashboard: Any) -> None:
    """/api/docs draws every operation from the installed Swagger UI, with every request that
    leaves the dashboard refused, and no console error (a CSP violation would be one)."""
    context = browser.new_context()
    try:
        tab = Tab(context, dashboard.url)
        outside: list[str] = []

        def refuse(route: Any) -> None:
            outside.append(route.request.url)
            route.abort()

        context.route(lambda url: not url.startswith(dashboard.url), refuse)
        response = tab.page.goto(dashboard.url + "/api/docs")
        assert response is not None
        assert response.status == 200
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        operations = tab.page.locator(".opblock")
        expect(operations.first).to_be_visible()
        paths = dashboard.get("/api/v1/openapi.json")["paths"]
        assert operations.count() == sum(len(p) for p in paths.values())
        tab.page.locator(".opblock-summary").first.click()  # an operation opens
        expect(tab.page.locator(".opblock-body").first).to_be_visible()
        assert outside == []
        tab.assert_clean()
    finally:
        context.close()


# -- helpers ------------------------------------------------------------------------------------


def money(value: Any) -> str:
    """How the dashboard shows money: "$1,234.57" (half-up to the cent), "-$3.10"."""
    d = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return ("-" if d < 0 else "") + f"${abs(d):,.2f}"


def chart_drawn(page: Page, chart_id: str) -> dict[str, int]:
    """Counts of what Plotly drew in #chart_id: SVG roots, traces and non-empty marks."""
    result: dict[str, int] = page.evaluate(
        """id => {
            const gd = document.getElementById(id);
            if (!gd) return {svg: 0, traces: 0, marks: 0};
            const traces = gd.querySelectorAll('.cartesianlayer g.trace');
            let marks = 0;
            for (const t of traces)
                for (const p of t.querySelectorAll('path')) {
                    const d = p.getAttribute('d') || '';
                    if (d.length > 4 && d !== 'M0,0Z') marks++;
                }
            return {svg: gd.querySelectorAll('.main-svg').length, traces: traces.length, marks};
        }""",
        chart_id,
    )
    return result


def assert_chart_drawn(page: Page, chart_id: str) -> None:
    drawn = chart_drawn(page, chart_id)
    assert drawn["svg"] >= 1, f"#{chart_id} has no Plotly SVG: {drawn}"
    assert drawn["traces"] >= 1, f"#{chart_id} has no trace: {drawn}"
    assert drawn["marks"] >= 1, f"#{chart_id} drew no bar, line or area: {drawn}"


def trace_names(page: Page, chart_id: str = "explorer-chart") -> list[str]:
    names: list[str] = page.evaluate(
        "id => (document.getElementById(id).data || []).map(t => t.name)", chart_id
    )
    return names


def legend_texts(page: Page, chart_id: str = "explorer-chart") -> list[str]:
    return page.locator(f"#{chart_id} .legend .traces .legendtext").all_text_contents()


def explorer_rows(page: Page) -> list[tuple[str, str, str]]:
    """(key, label, exact total) of each row of #explorer-table, top to bottom."""
    rows: list[list[str]] = page.eval_on_selector_all(
        "#explorer-table tbody tr[data-key]",
        "rows => rows.map(r => [r.dataset.key, r.dataset.label,"
        " r.querySelector('td.group-total').dataset.value])",
    )
    return [(k, label, total) for k, label, total in rows]


def display_order(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's groups as the dashboard shows them: biggest first, "Other" last."""
    return sorted(groups, key=lambda g: g["key"] == "__other__")


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def api_params(url: str) -> dict[str, list[str]]:
    """The API parameters in an explorer URL (the page's own `periods` switch left out)."""
    q = query_of(url)
    q.pop("periods", None)
    return q


def expected_rows(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(g["key"], g["label"], str(g["total"])) for g in display_order(data["groups"])]


# -- 1. every page loads and draws --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "chart"),
    [
        ("/", "trend-chart"),
        ("/explorer", "explorer-chart"),
        ("/connections", None),
        ("/claude-code", "cc-chart"),
        ("/engagement", "engagement-chart"),
    ],
)
def test_page_loads_and_draws(
    open_tab: Callable[[str], Tab], dashboard: Any, path: str, chart: str | None
) -> None:
    tab = open_tab(path)
    page = tab.page
    assert page.locator("body").get_attribute("data-ready") == "1"
    expect(page.locator("#error-box")).to_be_hidden()
    # the nav has the eight pages, the current one marked
    nav = page.locator("nav .nav a")
    assert nav.all_inner_texts() == [
        "Overview",
        "Explorer",
        "Allocation",
        "Budgets",
        "Alerts",
        "Connections",
        "Claude Code",
        "Engagement",
    ]
    assert page.locator('nav .nav a[aria-current="page"]').get_attribute("href") == path
    if chart:
        assert_chart_drawn(page, chart)
    if path == "/engagement":
        # the Enterprise connection has engagement data: no empty state, and a second chart
        expect(page.locator("#engagement-empty")).to_be_hidden()
        assert_chart_drawn(page, "surface-chart")
        latest = dashboard.get("/api/v1/engagement")["latest"]
        assert page.locator("#eng-dau").get_attribute("data-value") == str(latest["daily_active"])
    if path == "/claude-code":
        assert_chart_drawn(page, "cc-tools-chart")
        users = dashboard.get("/api/v1/claude-code")["users"]
        assert page.locator("#cc-users-table tbody tr[data-user]").count() == len(users) > 0
    if path == "/connections":
        labels = page.eval_on_selector_all(
            "#connections-table tbody tr[data-label]", "rs => rs.map(r => r.dataset.label)"
        )
        assert sorted(labels) == ["acme-console", "acme-enterprise"]
    tab.assert_clean()


# -- 2. explorer: changing the grouping ---------------------------------------------------------


def test_explorer_group_by_change_updates_url_chart_and_table(
    open_tab: Callable[[str], Tab], dashboard: Any
) -> None:
    tab = open_tab("/explorer?metric=cost&group_by=model&granularity=day")
    page = tab.page
    before = dashboard.get("/api/v1/explore", **api_params(page.url))
    assert before["group_by"] == "model"
    names_before = trace_names(page)
    rows_before = explorer_rows(page)
    assert names_before == [g["label"] for g in display_order(before["groups"])]
    assert legend_texts(page) == names_before
    assert rows_before == expected_rows(before)

    page.select_option("#group-by", "workspace")
    tab.wait_ready()

    assert query_of(page.url)["group_by"] == ["workspace"]
    after = dashboard.get("/api/v1/explore", **api_params(page.url))
    assert after["group_by"] == "workspace"
    names_after = trace_names(page)
    rows_after = explorer_rows(page)
    assert names_after != names_before
    assert rows_after != rows_before
    assert names_after == [g["label"] for g in display_order(after["groups"])]
    assert legend_texts(page) == names_after
    assert rows_after == expected_rows(after)
    # same range and metric, so the same total
    assert Decimal(str(after["total"])) == Decimal(str(before["total"]))
    assert page.locator("#explorer-total").get_attribute("data-value") == str(after["total"])
    tab.assert_clean()


# -- 3. explorer: the CSV adds up to the total ------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "metric=cost&group_by=workspace&granularity=week&limit=3",
        "metric=output_tokens&group_by=model&granularity=day&limit=2",
    ],
)
def test_explorer_csv_sums_to_the_total(
    open_tab: Callable[[str], Tab], dashboard: Any, query: str
) -> None:
    tab = open_tab("/explorer?" + query)
    page = tab.page
    href = page.locator("#csv-link").get_attribute("href")
    assert href is not None
    assert href.startswith("/api/v1/explore.csv?")
    params = query_of(href)
    assert params == api_params(page.url), "the CSV link must carry the view's parameters"

    resp = page.request.get(dashboard.url + href)
    assert resp.ok, resp.status
    assert resp.headers["content-type"].startswith("text/csv")
    reader = csv.reader(io.StringIO(resp.text()))
    header = next(reader)
    metric = params["metric"][0]
    assert header == ["period", "key", "label", metric]
    lines = list(reader)
    assert lines, "the CSV has no rows"
    csv_total = sum((Decimal(line[-1]) for line in lines), Decimal(0))

    api_total = Decimal(str(dashboard.get("/api/v1/explore", **params)["total"]))
    assert csv_total == api_total
    shown = page.locator("#explorer-total")
    assert Decimal(shown.get_attribute("data-value") or "nan") == csv_total
    if metric == "cost":
        assert shown.inner_text() == money(csv_total)
    tab.assert_clean()


# -- 4. connections: a wrong-kind key is refused and never echoed ------------------------------


def test_connect_form_refuses_a_standard_key_without_echoing_it(
    open_tab: Callable[[str], Tab], dashboard: Any
) -> None:
    tab = open_tab("/connections")
    page = tab.page
    key = dashboard.keys["standard"]
    label = "browser-wrong-kind"

    page.select_option("#connect-kind", "console")
    page.fill("#connect-label", label)
    page.fill("#connect-key", key)
    page.locator("#connect-advanced summary").click()
    expect(page.locator("#connect-base-url")).to_have_value(
        dashboard.get("/api/v1/meta")["default_base_url"]
    )
    page.fill("#connect-base-url", dashboard.simulator_url)
    with page.expect_response(
        lambda r: urlsplit(r.url).path == "/api/v1/connections" and r.request.method == "POST"
    ) as posted:
        page.locator("#connect-submit").click()
    assert posted.value.status == 400

    error_box = page.locator("#connect-error")
    expect(error_box).to_be_visible()
    shown = error_box.inner_text()
    # what the API says for the very same request
    direct = dashboard.http.post(
        "/api/v1/connections",
        json={"kind": "console", "label": label, "key": key, "base_url": dashboard.simulator_url},
    )
    assert direct.status_code == 400
    error = direct.json()["error"]
    assert re.search(r"standard|admin|key (kind|type)", error["message"], re.IGNORECASE)
    assert error["message"] in shown
    if error.get("hint"):
        assert error["hint"] in shown
    expect(page.locator("#connect-result")).to_be_hidden()

    # the key is nowhere in the page, not even in the input
    assert page.input_value("#connect-key") == ""
    assert key not in page.content()
    assert key not in page.evaluate("document.body.innerText")

    page.reload()
    tab.wait_ready()
    labels = page.eval_on_selector_all(
        "#connections-table tbody tr[data-label]", "rs => rs.map(r => r.dataset.label)"
    )
    assert sorted(labels) == ["acme-console", "acme-enterprise"]
    api_labels = [c["label"] for c in dashboard.get("/api/v1/connections")["connections"]]
    assert sorted(api_labels) == ["acme-console", "acme-enterprise"]
    # Chromium logs the refused POST itself ("Failed to load resource: … 400"); nothing else
    tab.assert_clean(lambda e: "Failed to load resource" in e and "400" in e)


# -- 5. overview: month to date ---------------------------------------------------------------


def test_overview_month_to_date_matches_the_api(
    open_tab: Callable[[str], Tab], dashboard: Any
) -> None:
    tab = open_tab("/")
    page = tab.page
    overview = dashboard.get("/api/v1/overview")
    mtd = overview["month_to_date"]["cost"]
    shown = page.locator("#mtd-cost")
    assert shown.get_attribute("data-value") == mtd
    assert shown.inner_text() == money(mtd)
    assert page.locator("#last-month-cost").inner_text() == money(
        overview["last_month"]["full_month_cost"]
    )
    # the freshness banner, marked when days are still provisional
    freshness = overview["freshness"]
    banner = page.locator("#freshness-banner")
    assert freshness["message"] in banner.inner_text()
    classes = (banner.get_attribute("class") or "").split()
    assert ("provisional" in classes) == bool(freshness["provisional_from"])
    # top tables: one row per top entry, exact cost in data-value
    for dim, entries in overview["top"].items():
        values = page.eval_on_selector_all(
            f"#top-{dim} tbody tr td.num", "tds => tds.map(td => td.dataset.value)"
        )
        assert values == [e["cost"] for e in entries], dim
    tab.assert_clean()


# -- 6. explorer: the whole view lives in the URL ----------------------------------------------


def test_explorer_restores_its_state_from_the_url(
    open_tab: Callable[[str], Tab], dashboard: Any
) -> None:
    models = dashboard.get("/api/v1/dimensions/model/values")["values"]
    picked = [v for v in models if v["key"] != "__none__"][:2]
    assert len(picked) == 2
    filters = [f"model:{v['key']}" for v in picked]
    params: dict[str, Any] = {
        "metric": "output_tokens",
        "group_by": "product",
        "granularity": "week",
        "since": "2026-10-19",
        "until": "2026-11-23",
        "filter": filters,
    }
    tab = open_tab("/explorer?" + urlencode(params, doseq=True))
    page = tab.page

    assert page.input_value("#metric") == "output_tokens"
    assert page.input_value("#group-by") == "product"
    assert page.input_value("#granularity") == "week"
    assert page.input_value("#since") == "2026-10-19"
    assert page.input_value("#until") == "2026-11-23"
    chips = page.locator("#filter-chips .chip")
    assert [c.get_attribute("data-filter") for c in chips.all()] == filters
    for chip, v in zip(chips.all(), picked, strict=True):
        assert v["label"] in chip.inner_text()

    data = dashboard.get("/api/v1/explore", **params)
    assert data["filters"] == {"model": [v["key"] for v in picked]}
    assert trace_names(page) == [g["label"] for g in display_order(data["groups"])]
    assert explorer_rows(page) == expected_rows(data)
    assert page.locator("#explorer-total").get_attribute("data-value") == str(data["total"])
    # the URL still says the same thing (so it can be shared as is)
    q = query_of(page.url)
    assert {k: q[k] for k in ("metric", "group_by", "granularity", "since", "until")} == {
        k: [params[k]] for k in ("metric", "group_by", "granularity", "since", "until")
    }
    assert q["filter"] == filters

    # removing a chip removes the filter from the URL and the data
    chips.nth(0).get_by_role("button").click()
    tab.wait_ready()
    assert query_of(page.url)["filter"] == filters[1:]
    narrower = dashboard.get("/api/v1/explore", **{**params, "filter": filters[1:]})
    assert page.locator("#explorer-total").get_attribute("data-value") == str(narrower["total"])
    assert trace_names(page) == [g["label"] for g in display_order(narrower["groups"])]
    tab.assert_clean()


# -- Claude Code: sortable user table -----------------------------------------------------------


def test_claude_code_users_sort_by_clicking_a_header(
    open_tab: Callable[[str], Tab], dashboard: Any
) -> None:
    tab = open_tab("/claude-code")
    page = tab.page
    users = dashboard.get("/api/v1/claude-code")["users"]
    header = page.locator('#cc-users-table th[data-sort="sessions"]')
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    shown = page.eval_on_selector_all(
        "#cc-users-table tbody tr[data-user]",
        "rs => rs.map(r => Number(r.children[3].dataset.value))",
    )
    assert shown == sorted((u["sessions"] for u in users), reverse=True)
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    shown = page.eval_on_selector_all(
        "#cc-users-table tbody tr[data-user]",
        "rs => rs.map(r => Number(r.children[3].dataset.value))",
    )
    assert shown == sorted(u["sessions"] for u in users)
    tab.assert_clean()


def test_sign_in_with_a_token_keeps_the_shared_view(browser: Browser, synced: Any) -> None:
    """Bound beyond loopback the dashboard asks for the token: a wrong one is refused, the
    right one opens the page that was asked for, with its view."""
    from benchmarks.background import BackgroundServer

    from conftest import NOW
    from spendscope.web.app import create_app

    token = "browser-test-token-0123456789"
    app = create_app(synced, token=token, now=lambda: NOW)
    with BackgroundServer(app) as base:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{base}/explorer?group_by=product&metric=output_tokens")
            assert urlsplit(page.url).path == "/login"
            page.fill("#token", "wrong-token")
            page.click("#login-form button[type=submit]")
            expect(page.locator("#login-error")).to_be_visible()
            assert token not in page.content()
            page.fill("#token", token)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector('body[data-ready="1"]', timeout=20_000)
            shown = urlsplit(page.url)
            assert shown.path == "/explorer"
            assert parse_qs(shown.query)["group_by"] == ["product"]
            assert page.locator("#explorer-chart .main-svg").count() > 0
            assert token not in page.content()
        finally:
            context.close()
