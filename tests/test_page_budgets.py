"""The Budgets page in a real browser (headless Chromium), against the app served by uvicorn over a
synced warehouse with nested budgets (evaluated once, so a threshold fires) and one budget whose
scope is a hostile name: the table shows the API's figures as a tree with the sums of the budgets
within a budget, each budget's chart runs from the month to date to the forecast's month end,
names are text, and the Anthropic spend caps beside them show each member's cap or why there is
none (an answer substituted in the browser where the server has none to give)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from conftest import NOW, Dashboard, copy_home
from spendscope.config import Settings
from test_web_browser import Tab, assert_chart_drawn, money

# the browser tests share one worker and one Chromium
pytestmark = [pytest.mark.timeout(90), pytest.mark.xdist_group("browser")]

HOSTILE = "<img src=x onerror=alert(1)>"
SPEND_LIMITS = "/api/v1/spend-limits"
# path -> (status, body) or a function of the route answering it
Answers = dict[str, Any]


@pytest.fixture(scope="module")
def board(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A copy of the synced warehouse with budgets: `org` over the organization with `console`
    and `ent` within it, and `odd`, scoped on a model named like HTML. The last three complete
    days are made provisional (Anthropic may still revise them). Evaluated once, so `console`'s
    50 % threshold fires."""
    from benchmarks.background import BackgroundServer

    from spendscope.refresh import initialize
    from spendscope.warehouse.connection import Warehouse
    from spendscope.watch.budget_model import make_budget
    from spendscope.watch.budget_store import save_budgets
    from spendscope.watch.budgets import evaluate_budgets
    from spendscope.web.app import create_app

    settings = copy_home(synced, tmp_path_factory.mktemp("page-budgets"))
    wh = Warehouse(settings)
    try:
        initialize(wh)
        save_budgets(
            wh,
            [
                make_budget("org", "organization", "30000", forecast_threshold="100"),
                make_budget("console", "connection:acme-console", "5000", parent="org"),
                make_budget(
                    "ent",
                    "connection:acme-enterprise",
                    "100000",
                    parent="org",
                    basis="billed_estimated",
                ),
                make_budget("odd", f"model:{HOSTILE}", "10"),
            ],
            NOW,
        )
        wh.execute(
            "UPDATE spendscope.mart_spend SET is_provisional = TRUE WHERE day >= ?",
            date(2026, 11, 19),
        )
        assert evaluate_budgets(wh, NOW)  # something fires
    finally:
        wh.close()
    with BackgroundServer(create_app(settings, now=lambda: NOW)) as url:
        b = Dashboard(url, "", {})
        try:
            yield b
        finally:
            b.http.close()


def missing(board: Dashboard, path: str) -> bool:
    """Whether the served app has no such endpoint (404)."""
    return board.http.get(path).status_code == 404


def not_found_logged(error: str) -> bool:
    """Chromium logs an answered 404 itself ("Failed to load resource: … 404")."""
    return "Failed to load resource" in error and "404" in error


def under(base_url: str, prefix: str) -> Callable[[str], bool]:
    """Matches the dashboard's URLs whose path starts with `prefix`."""
    return lambda url: url.startswith(base_url) and urlsplit(url).path.startswith(prefix)


def substitute(answer: Any) -> Callable[[Route], None]:
    """A route handler: `answer(route)` when it is a function, else the (status, body) given."""

    def handle(route: Route) -> None:
        if callable(answer):
            answer(route)
            return
        status, body = answer
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    return handle


def open_page(
    browser: Browser,
    contexts: list[BrowserContext],
    base_url: str,
    path: str,
    answers: Answers | None = None,
) -> Tab:
    """Open a path of the dashboard at `base_url` in a fresh context (added to `contexts`):
    requests leaving the dashboard are refused, a dialog (an `alert()` a hostile name would
    run) is recorded as an error, and the API paths in `answers` get the given answer instead
    of the server's."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    contexts.append(context)
    tab = Tab(context, base_url)
    tab.page.on("dialog", lambda d: (tab.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def refuse(route: Route) -> None:
        tab.errors.append(f"external request: {route.request.url}")
        route.abort()

    context.route(lambda url: not url.startswith(base_url), refuse)
    for prefix, answer in (answers or {}).items():
        context.route(under(base_url, prefix), substitute(answer))
    return tab.goto(path)


@pytest.fixture
def opener(browser: Browser) -> Iterator[Callable[..., Tab]]:
    contexts: list[BrowserContext] = []
    yield lambda *args: open_page(browser, contexts, *args)
    for c in contexts:
        c.close()


def rows(page: Page, selector: str, script: str) -> list[Any]:
    found: list[Any] = page.eval_on_selector_all(selector, script)
    return found


def traces(page: Page, chart_id: str) -> dict[str, dict[str, Any]]:
    """The traces of a chart by name: x and y as drawn."""
    drawn: list[dict[str, Any]] = page.evaluate(
        "id => document.getElementById(id).data.map(t => ({name: t.name, x: t.x, y: t.y}))",
        chart_id,
    )
    return {t["name"]: t for t in drawn}


def test_the_table_the_roll_up_and_the_charts_show_the_apis_budgets(
    opener: Callable[..., Tab], board: Dashboard
) -> None:
    tab = opener(board.url, "/budgets?name=console")
    page = tab.page
    found = board.get("/api/v1/budgets")
    budgets = found["budgets"]
    assert [b["name"] for b in budgets] == ["odd", "org", "console", "ent"]
    assert {(b["complete_through"], b["provisional_from"]) for b in budgets} == {
        ("2026-11-18", "2026-11-19")
    }
    expect(page.locator("#budgets-empty")).to_be_hidden()
    assert page.locator('nav .nav a[aria-current="page"]').get_attribute("href") == "/budgets"

    # One row per budget in the API's order (parents first), children marked with their parent,
    # and after the last child the sums of the budgets within `org`.
    shown = rows(
        page,
        "#budgets-table tbody tr",
        "rs => rs.map(r => r.dataset.budget ? ['budget', r.dataset.budget, r.dataset.parent]"
        " : ['rollup', r.dataset.rollup, ''])",
    )
    assert shown == [
        ["budget", "odd", ""],
        ["budget", "org", ""],
        ["budget", "console", "org"],
        ["budget", "ent", "org"],
        ["rollup", "org", ""],
    ]
    for b in budgets:
        row = page.locator(f'tr[data-budget="{b["name"]}"]')
        mtd = row.locator("td.budget-mtd")
        assert mtd.get_attribute("data-value") == b["month_to_date"]
        assert mtd.inner_text().splitlines()[0] == money(b["month_to_date"])
        assert row.locator("td.num").first.get_attribute("data-value") == b["amount"]
        assert row.locator(".budget-basis").inner_text() == b["basis_label"]
        estimated = row.locator(".budget-estimate")
        if b["estimate"] and Decimal(b["estimate"]["amount"]):
            assert estimated.get_attribute("data-value") == b["estimate"]["amount"]
        else:
            assert estimated.count() == 0
        assert row.locator(".usage").get_attribute("data-value") == b["used_percent"]
        p50 = row.locator("td.budget-p50")
        assert p50.get_attribute("data-value") == (b["p50"] or "")
        if b["p50"] is None:
            assert b["forecast_state"] == "insufficient_history"
            assert row.locator(".forecast-state").inner_text() == "not enough history"
        else:
            assert p50.inner_text().splitlines()[0] == money(b["p50"])
            band = row.locator(".budget-band")
            assert band.inner_text() == f"{money(b['p10'])} – {money(b['p90'])}"
        mark = row.locator(".provisional-mark")
        assert mark.get_attribute("data-provisional-from") == b["provisional_from"]
        assert mark.inner_text() == (
            f"provisional from 19 Nov, {money(b['provisional_cost'])} not counted yet"
            if Decimal(b["provisional_cost"])
            else "provisional from 19 Nov"
        )
        badges = rows(
            page,
            f'tr[data-budget="{b["name"]}"] .threshold',
            "bs => bs.map(x => [x.dataset.kind, x.dataset.threshold, x.dataset.state])",
        )
        assert badges == [[s["kind"], s["threshold"], s["state"]] for s in b["states"]]
    assert page.locator('tr[data-budget="ent"] .budget-basis').inner_text() == "billed + estimated"
    firing = page.locator('tr[data-budget="console"] .threshold[data-state="firing"]')
    assert firing.inner_text() == "50% firing"
    assert "current" in (page.locator('tr[data-budget="console"]').get_attribute("class") or "")

    # The roll-up: the children's sums against the parent's own amount.
    up = next(b for b in budgets if b["name"] == "org")["rollup"]
    assert up["children"] == ["console", "ent"]
    roll = page.locator('tr[data-rollup="org"]')
    assert roll.locator("th").inner_text().startswith("Σ 2 budgets within org")
    amount = roll.locator("td.rollup-amount")
    assert amount.get_attribute("data-value") == up["amount"] == "105000.00"
    assert amount.get_attribute("data-left") == up["amount_left"] == "-75000.00"
    assert "$75,000.00 more than org's $30,000.00" in amount.inner_text()
    assert roll.locator("td.rollup-mtd").get_attribute("data-value") == up["month_to_date"]
    assert roll.locator("td.rollup-p50").get_attribute("data-value") == up["p50"]

    # Each budget's chart: the cumulative month to date ends at its month to date on its last
    # complete day, the forecast's P50 at its P50 on the month's last day, the amount flat.
    for i, b in enumerate(budgets):
        chart = f"budget-chart-{i}"
        assert page.locator(f"#{chart}").get_attribute("data-budget") == b["name"]
        assert_chart_drawn(page, chart)
        drawn = traces(page, chart)
        actual = drawn["Month to date"]
        assert actual["x"][0] == "2026-11-01"
        assert actual["x"][-1] == b["complete_through"]
        assert actual["y"][-1] == pytest.approx(float(b["month_to_date"]), abs=1e-6)
        assert drawn["Budget"]["y"] == [float(b["amount"])] * 2
        if b["p50"] is None:
            assert "Forecast P50" not in drawn
            continue
        median = drawn["Forecast P50"]
        assert median["x"][0] == b["complete_through"]  # from the last complete day
        assert median["x"][-1] == "2026-11-30"
        assert median["y"][-1] == pytest.approx(float(b["p50"]), abs=0.05)
        assert drawn["Forecast P10–P90"]["y"][-1] == pytest.approx(float(b["p10"]), abs=0.05)
        assert drawn["Forecast P90"]["y"][-1] == pytest.approx(float(b["p90"]), abs=0.05)
    if missing(board, SPEND_LIMITS):
        expect(page.locator("#caps-unavailable")).to_be_visible()
        tab.assert_clean(not_found_logged)
    else:
        assert_caps_shown(page, board.get(SPEND_LIMITS))
        tab.assert_clean()


def assert_caps_shown(page: Page, limits: dict[str, Any]) -> None:
    """The spend caps section shows the API's answer: each connection that cannot be read with
    its message, each member with their cap and spend."""
    assert page.locator("#caps-panel").get_attribute("data-state") == "ok"
    messages = rows(page, ".caps-message", "ms => ms.map(m => [m.dataset.status, m.innerText])")
    assert messages == [
        [c["status"], f"{c['connection']}: {c['message']}"]
        for c in limits["connections"]
        if c["status"] != "ok"
    ]
    members = rows(
        page,
        "#caps-table tbody tr[data-member]",
        "rs => rs.map(r => [r.dataset.member, r.querySelector('.cap-amount').dataset.value,"
        " r.querySelector('.cap-spend').dataset.value])",
    )
    assert members == [
        [m["user_id"], m["amount"] or "", m["spend"] or ""] for m in limits["members"]
    ]


def spend_limits_answer() -> dict[str, Any]:
    """A spend-limits answer as the API gives it: capped, unlimited and unknown members, one
    named like HTML, and connections that cannot be read."""
    member = {
        "connection": "acme-enterprise",
        "currency": "USD",
        "period": "monthly",
        "source_detail": None,
    }
    return {
        "snapshot_date": "2026-11-22",
        "connections": [
            {"connection": "acme-enterprise", "status": "ok", "message": None},
            {
                "connection": "acme-console",
                "status": "not_enterprise",
                "message": "spend limits exist on Enterprise organizations only",
            },
            {"connection": "other-ent", "status": "missing_scope", "message": HOSTILE},
        ],
        "members": [
            {
                **member,
                "user_id": "user_1",
                "name": HOSTILE,
                "email": "a@example.com",
                "amount": "500.00",
                "spend": "412.80",
                "percent": "82.6",
                "source": "user",
            },
            {
                **member,
                "user_id": "user_2",
                "name": None,
                "email": "b@example.com",
                "amount": None,
                "spend": "12.00",
                "percent": None,
                "source": "organization",
            },
            {
                **member,
                "user_id": "user_3",
                "name": "Cy",
                "email": None,
                "amount": "1000.00",
                "spend": None,
                "percent": None,
                "source": "rbac_group",
                "source_detail": "Engineering",
            },
        ],
    }


def test_hostile_names_are_text_and_spend_caps_show_each_member(
    opener: Callable[..., Tab], board: Dashboard
) -> None:
    limits = spend_limits_answer()
    tab = opener(board.url, "/budgets", {SPEND_LIMITS: (200, limits)})
    page = tab.page
    # the scope named like HTML is its characters, in the table and over its chart
    scope = page.locator('tr[data-budget="odd"] .scope-label')
    assert scope.inner_text() == HOSTILE
    assert HOSTILE in page.locator('.budget-chart[data-budget="odd"] .panel-head').inner_text()

    expect(page.locator("#caps-table")).to_be_visible()
    assert page.locator("#caps-note").inner_text().startswith("As read on 22 Nov 2026")
    assert_caps_shown(page, limits)
    messages = rows(page, ".caps-message", "ms => ms.map(m => m.innerText)")
    assert messages[1] == f"other-ent: {HOSTILE}"
    shown = rows(
        page,
        "#caps-table tbody tr",
        "rs => rs.map(r => [r.dataset.member, r.querySelector('th').firstChild.textContent,"
        " r.querySelector('.cap-amount').dataset.value, r.querySelector('.cap-amount').innerText,"
        " r.querySelector('.cap-spend').dataset.value, r.querySelector('.cap-spend').innerText,"
        " r.querySelector('.cap-used').innerText])",
    )
    assert shown == [
        ["user_1", HOSTILE, "500.00", "$500.00", "412.80", "$412.80", "82.6%"],
        ["user_2", "b@example.com", "", "no cap", "12.00", "$12.00", "—"],
        ["user_3", "Cy", "1000.00", "$1,000.00", "", "unknown", "—"],
    ]
    assert page.locator('#caps-table tr[data-member="user_3"] .cap-source').inner_text() == (
        "group\nEngineering"
    )
    # nothing named like HTML became an element, and no script ran
    assert page.locator("#main img").count() == 0
    tab.assert_clean()


def test_a_server_without_spend_caps_says_so_and_no_budget_shows_how_to_set_one(
    opener: Callable[..., Tab], dashboard: Dashboard
) -> None:
    tab = opener(dashboard.url, "/budgets", {SPEND_LIMITS: (404, {"error": {"code": "not_found"}})})
    page = tab.page
    assert dashboard.get("/api/v1/budgets")["budgets"] == []
    expect(page.locator("#budgets-empty")).to_be_visible()
    expect(page.locator("#budgets-panel")).to_be_hidden()
    assert "spendscope budgets set" in page.locator("#budgets-empty").inner_text()
    assert page.locator("#budget-charts .budget-chart").count() == 0
    note = page.locator("#caps-unavailable")
    assert note.inner_text() == "Anthropic spend caps are not available on this server."
    expect(page.locator("#caps-table")).to_be_hidden()
    expect(page.locator("#error-box")).to_be_hidden()
    tab.assert_clean(not_found_logged)
