"""The Alerts page in a real browser (headless Chromium), against the app served by uvicorn over a
synced warehouse with anomalies in it (one API key's spend revised up on two days), whose
budgets were evaluated (thresholds firing) and with a notification that never arrived (titled
like HTML): the page shows the API's threshold states and the dead notification as text, and
the anomalies — or, from a server without anomaly detection, a note saying so. The anomalies'
cards show what the API answers, each chart draws its anomaly's series, and "Expected" is
recorded by the API and shown again after a reload. Hostile values, a refused feedback and the
state filter are checked on answers shaped as `GET /api/v1/anomalies` gives them, substituted
in the browser; the feedback is a same-origin JSON POST, as the dashboard's other changes
are."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from conftest import NOW, Dashboard, free_port
from spendscope.config import Settings
from spikes import EARLY, LATE, spiked_home
from test_page_budgets import HOSTILE, missing, not_found_logged, open_page, rows, traces
from test_web_browser import Tab, assert_chart_drawn, money

# the browser tests share one worker and one Chromium
pytestmark = [pytest.mark.timeout(90), pytest.mark.xdist_group("browser")]

ANOMALIES = "/api/v1/anomalies"
DEAD_TITLE = f"Budget org: 100 % reached {HOSTILE}"


@pytest.fixture(scope="module")
def board(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The synced warehouse with anomalies (`spikes.spiked_home`): `org` at 102 % of its amount
    and `console` within it, evaluated (every threshold of `org` fires), and one notification
    dead after its only attempt (its webhook's port has nothing listening)."""
    from benchmarks.background import BackgroundServer

    from spendscope.notify.alert import Alert
    from spendscope.notify.channels import ChannelStore, check_options
    from spendscope.notify.delivery import Pacing, deliver
    from spendscope.refresh import initialize
    from spendscope.warehouse.connection import Warehouse
    from spendscope.watch.budget_model import make_budget
    from spendscope.watch.budget_store import save_budgets
    from spendscope.watch.budgets import evaluate_budgets
    from spendscope.watch.outlook import forecast_scope
    from spendscope.web.app import create_app

    settings = spiked_home(synced, tmp_path_factory.mktemp("page-alerts"))
    wh = Warehouse(settings)
    try:
        initialize(wh)
        mtd = forecast_scope(wh, "organization", NOW).parent.forecast.actual
        amount = (mtd / Decimal("1.02")).quantize(Decimal("0.01"))
        save_budgets(
            wh,
            [
                make_budget("org", "organization", amount, forecast_threshold="100"),
                make_budget("console", "connection:acme-console", "100000", parent="org"),
            ],
            NOW,
        )
        assert evaluate_budgets(wh, NOW)
        store = ChannelStore(settings)
        found, plaintext = check_options("webhook", url=f"http://127.0.0.1:{free_port()}/hook")
        hook = store.add("hook", "webhook", found, plaintext, now=NOW)
        alert = Alert(
            kind="budget",
            scope="organization",
            subject="org@100%",
            period="2026-11",
            severity="critical",
            title=DEAD_TITLE,
            text="Month-to-date billed cost has reached 100 % of the budget.",
        )
        done = deliver(alert, [hook], NOW, warehouse=wh, store=store, pacing=Pacing(attempts=1))
        assert [d.state for d in done] == ["dead"]
    finally:
        wh.close()
    with BackgroundServer(create_app(settings, now=lambda: NOW)) as url:
        b = Dashboard(url, "", {})
        try:
            yield b
        finally:
            b.http.close()


@pytest.fixture
def opener(browser: Browser) -> Iterator[Callable[..., Tab]]:
    contexts: list[BrowserContext] = []
    yield lambda *args: open_page(browser, contexts, *args)
    for c in contexts:
        c.close()


def test_thresholds_and_the_dead_notification_show_the_apis_and_anomalies_their_state(
    opener: Callable[..., Tab], board: Dashboard
) -> None:
    tab = opener(board.url, "/alerts")
    page = tab.page
    assert page.locator('nav .nav a[aria-current="page"]').get_attribute("href") == "/alerts"

    # Every threshold that is not `ok`, firing first and the most severe first.
    budgets = board.get("/api/v1/budgets")["budgets"]
    org = next(b for b in budgets if b["name"] == "org")
    assert [s["state"] for s in org["states"]] == ["firing"] * 4
    expected = [
        [b["name"], s["kind"], s["threshold"], s["state"], s["limit"], s["value"]]
        for b in budgets
        for s in b["states"]
        if s["state"] != "ok"
    ]
    severity = {"critical": 0, "warning": 1, "info": 2}
    by_rank = {
        (b["name"], s["kind"], s["threshold"]): severity[s["severity"]]
        for b in budgets
        for s in b["states"]
    }
    expected.sort(key=lambda r: by_rank[(r[0], r[1], r[2])])
    shown = rows(
        page,
        "#thresholds-table tbody tr.threshold-row",
        "rs => rs.map(r => [r.dataset.budget, r.dataset.kind, r.dataset.threshold,"
        " r.dataset.state, r.cells[4].dataset.value, r.cells[5].dataset.value])",
    )
    assert shown == expected
    first = page.locator("#thresholds-table tbody tr.threshold-row").first
    assert first.locator("td").nth(3).inner_text() == money(org["states"][2]["limit"])
    assert first.locator("a").get_attribute("href") == "/budgets?name=org"
    assert page.locator("#thresholds-note").inner_text() == "4 firing"

    # The notification that never arrived, its title as text.
    dead = board.get("/api/v1/alerts/dead")
    assert dead["count"] == 1
    assert page.locator("#dead-panel").get_attribute("data-count") == "1"
    assert page.locator("#dead-summary").inner_text().startswith("1 notification never arrived")
    assert (
        page.locator("#dead-table .dead-title").inner_text()
        == DEAD_TITLE
        == (dead["newest"]["title"])
    )
    assert page.locator("#dead-table .dead-row td").nth(1).inner_text() == "hook"
    assert page.locator("#main img").count() == 0

    if missing(board, ANOMALIES):
        note = page.locator("#anomalies-unavailable")
        assert note.inner_text() == "Anomaly detection is not available on this server."
        expect(page.locator("#anomalies-state")).to_be_disabled()
        assert page.locator(".anomaly").count() == 0
        tab.assert_clean(not_found_logged)
    else:
        found = board.get(ANOMALIES)["anomalies"]
        assert page.locator("#anomalies-panel").get_attribute("data-state") == "ok"
        cards = rows(page, ".anomaly", "as => as.map(a => a.dataset.anomaly)")
        assert cards == [a["id"] for a in found]
        tab.assert_clean()


# -- anomalies from the served warehouse --------------------------------------------------------

CARDS = """as => as.map(a => {
    const text = (sel) => a.querySelector(sel).innerText;
    return {
        id: a.dataset.anomaly,
        title: text('.anomaly-title'),
        state: text('.anomaly-state'),
        day: text('.anomaly-day'),
        actual: [a.querySelector('.anomaly-actual').dataset.value, text('.anomaly-actual')],
        expected: text('.anomaly-expected'),
        band: text('.anomaly-band'),
        impact: text('.anomaly-impact'),
        score: text('.anomaly-score'),
        reason: text('.anomaly-reason'),
        drivers: Array.from(a.querySelectorAll('.driver-row'),
                            r => Array.from(r.cells, c => c.innerText)),
        pressed: Array.from(a.querySelectorAll('button[data-feedback]'),
                            b => [b.dataset.feedback, b.getAttribute('aria-pressed')]),
    };
})"""

CHARTS = """as => as.map(a => {
    const gd = a.querySelector('.anomaly-chart');
    const marks = Array.from(gd.querySelectorAll('.cartesianlayer g.trace path'))
        .filter(p => (p.getAttribute('d') || '').length > 4).length;
    return [a.dataset.anomaly, marks, (gd.data || []).map(t => ({name: t.name, x: t.x, y: t.y}))];
})"""


def signed(value: str) -> str:
    return money(value) if Decimal(value) < 0 else "+" + money(value)


def card_of(a: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """What the page shows of an anomaly the API answered."""
    day = date.fromisoformat(a["day"])
    title = (
        "Organization" if a["scope"] == "organization" else f"{labels[a['scope']]}: {a['value']}"
    )
    reason = a["reason"].replace("_", " ").capitalize() + "." if a["reason"] else ""
    return {
        "id": a["id"],
        "title": title,
        "state": a["state"],
        "day": f"{day.day} {day:%b %Y}",
        "actual": [a["actual"], money(a["actual"])],
        "expected": money(a["expected"]),
        "band": f"{money(a['low'])} – {money(a['high'])}",
        "impact": signed(a["impact"]),
        "score": a["score"],
        "reason": reason,
        "drivers": [
            [
                labels[d["dimension"]],
                d["value"],
                money(d["actual"]),
                money(d["expected"]),
                signed(d["impact"]),
            ]
            for d in a["drivers"]
        ],
        "pressed": [[f, str(a["feedback"] == f).lower()] for f in ("expected", "unexpected")],
    }


def number(v: str | None) -> float | None:
    return None if v is None else float(v)


def test_real_anomalies_show_the_apis_figures_and_charts_and_keep_their_feedback(
    opener: Callable[..., Tab], board: Dashboard
) -> None:
    found = board.get(ANOMALIES)["anomalies"]
    labels = {d["name"]: d["label"] for d in board.get("/api/v1/meta")["dimensions"]}
    org_late = next(a for a in found if (a["scope"], a["day"]) == ("organization", str(LATE)))
    assert (org_late["state"], org_late["feedback"]) == ("active", None)
    assert org_late["drivers"]
    assert {("api_key", str(EARLY), "past")} <= {(a["scope"], a["day"], a["state"]) for a in found}
    tab = opener(board.url, "/alerts")
    page = tab.page
    assert rows(page, ".anomaly", CARDS) == [card_of(a, labels) for a in found]

    # Each card's chart: its anomaly's series, the actual cost against the expected band.
    charts = rows(page, ".anomaly", CHARTS)
    assert [c[0] for c in charts] == [a["id"] for a in found]
    for (anomaly_id, marks, drawn), a in zip(charts, found, strict=True):
        days = board.get(f"{ANOMALIES}/{anomaly_id}")["series"]
        assert days[-1]["day"] == a["day"]
        assert marks >= 1
        by_name = {t["name"]: t for t in drawn}
        assert by_name["Actual"]["x"] == [d["day"] for d in days]
        assert by_name["Actual"]["y"] == [float(d["actual"]) for d in days]
        assert by_name["Expected"]["y"] == [number(d["expected"]) for d in days]
        assert by_name["Expected band"]["y"] == [number(d["low"]) for d in days]
        assert by_name["Expected high"]["y"] == [number(d["high"]) for d in days]
        assert (by_name["Anomaly"]["x"], by_name["Anomaly"]["y"]) == (
            [a["day"]],
            [float(a["actual"])],
        )

    # "Expected" on the organization's newest anomaly: the API records it, and so does the card,
    # then and after a reload.
    card = page.locator(f'.anomaly[data-anomaly="{org_late["id"]}"]')
    button = card.locator('button[data-feedback="expected"]')
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path.endswith("/feedback")
    ) as posted:
        button.click()
    response = posted.value
    assert urlsplit(response.url).path == f"{ANOMALIES}/{org_late['id']}/feedback"
    assert response.status == 200
    assert json.loads(response.request.post_data or "") == {"feedback": "expected"}
    expect(button).to_have_attribute("aria-pressed", "true")
    now = board.get(f"{ANOMALIES}/{org_late['id']}")
    assert (now["state"], now["reason"], now["feedback"]) == (
        "resolved",
        "marked_expected",
        "expected",
    )
    del now["series"]
    after = [now if a["id"] == now["id"] else a for a in found]
    tab.goto("/alerts")
    assert rows(page, ".anomaly", CARDS) == [card_of(a, labels) for a in after]
    assert card.get_attribute("data-feedback") == "expected"
    assert card.locator(".anomaly-state").inner_text() == "resolved"
    assert card.locator(".anomaly-reason").inner_text() == "Marked expected."
    tab.assert_clean()


# -- anomalies, as the API answers them -------------------------------------------------------


def anomaly(**fields: Any) -> dict[str, Any]:
    base = {
        "method": "seasonal",
        "reason": None,
        "feedback": None,
        "drivers": [],
    }
    return {**base, **fields}


SPIKE = anomaly(
    id="3f1c9a7e0b2d4c6e8f1a3b5c7d9e0f12",
    day="2026-11-18",
    scope="workspace",
    value=HOSTILE,
    actual="912.50",
    expected="310.00",
    low="250.00",
    high="372.25",
    impact="602.50",
    score="9.4",
    state="active",
    drivers=[
        {
            "dimension": "api_key",
            "value": '<a href="https://evil.example">key</a>',
            "actual": "640.00",
            "expected": "80.00",
            "impact": "560.00",
        },
        {
            "dimension": "model",
            "value": "claude-opus-4-5",
            "actual": "200.00",
            "expected": "157.50",
            "impact": "42.50",
        },
    ],
)
SHIFT = anomaly(
    id="9a8b7c6d5e4f30211203f4e5d6c7b8a9",
    day="2026-11-09",
    scope="organization",
    value="",
    actual="1500.00",
    expected="1100.00",
    low="1000.00",
    high="1190.00",
    impact="400.00",
    score="4.2",
    method="mad",
    state="resolved",
    reason="marked_expected",
    feedback="expected",
)


def series(a: dict[str, Any]) -> list[dict[str, Any]]:
    """The 56 days up to the anomaly's day: the first 14 without a baseline, then a flat one."""
    last = date.fromisoformat(a["day"])
    out = []
    for i in range(56):
        day = (last - timedelta(days=55 - i)).isoformat()
        base = i >= 14
        actual = a["actual"] if i == 55 else f"{300 + i % 7 * 5}.00"
        out.append(
            {
                "day": day,
                "actual": actual,
                "expected": a["expected"] if base else None,
                "low": a["low"] if base else None,
                "high": a["high"] if base else None,
            }
        )
    return out


class FakeAnomalies:
    """Answers /api/v1/anomalies… as the API does, over two anomalies; records feedback POSTs,
    the first of which `fail_first` answers with 503."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.items = {a["id"]: json.loads(json.dumps(a)) for a in (SPIKE, SHIFT)}
        self.posts: list[dict[str, Any]] = []
        self.fail_first = True

    def __call__(self, route: Route) -> None:
        request = route.request
        parts = urlsplit(request.url)
        rest = parts.path.removeprefix(ANOMALIES).strip("/").split("/")
        if request.method == "POST" and len(rest) == 2 and rest[1] == "feedback":
            self.posts.append(
                {"headers": request.headers, "body": request.post_data, "id": rest[0]}
            )
            if self.fail_first:
                self.fail_first = False
                error = {"code": "busy", "message": "The warehouse is busy.", "hint": "Retry."}
                return self.answer(route, 503, {"error": error})
            item = self.items[rest[0]]
            item["feedback"] = json.loads(request.post_data or "{}")["feedback"]
            item["state"], item["reason"] = "resolved", "marked_expected"
            return self.answer(route, 200, item)
        if rest == [""]:
            state = parse_qs(parts.query).get("state", ["all"])[0]
            found = [a for a in self.items.values() if state in ("all", a["state"])]
            return self.answer(route, 200, {"anomalies": found, "as_of": "2026-11-22T12:00:00Z"})
        item = self.items[rest[0]]
        return self.answer(route, 200, {**item, "series": series(item)})

    @staticmethod
    def answer(route: Route, status: int, body: Any) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_anomalies_show_band_impact_drivers_and_chart_and_take_feedback(
    opener: Callable[..., Tab], board: Dashboard
) -> None:
    fake = FakeAnomalies(board.url)
    tab = opener(board.url, "/alerts", {ANOMALIES: fake})
    page = tab.page
    assert rows(page, ".anomaly", "as => as.map(a => a.dataset.anomaly)") == [
        SPIKE["id"],
        SHIFT["id"],
    ]
    card = page.locator(f'.anomaly[data-anomaly="{SPIKE["id"]}"]')
    # the scope's value, named like HTML, is its characters
    assert card.locator(".anomaly-title").inner_text() == f"Workspace: {HOSTILE}"
    assert card.locator(".anomaly-state").inner_text() == "active"
    assert card.locator(".anomaly-day").inner_text() == "18 Nov 2026"
    assert card.locator(".anomaly-actual").get_attribute("data-value") == "912.50"
    assert card.locator(".anomaly-actual").inner_text() == "$912.50"
    assert card.locator(".anomaly-expected").inner_text() == "$310.00"
    assert card.locator(".anomaly-band").inner_text() == "$250.00 – $372.25"
    assert card.locator(".anomaly-impact").inner_text() == "+$602.50"
    assert card.locator(".anomaly-score").inner_text() == "9.4"
    drivers = rows(
        page,
        f'.anomaly[data-anomaly="{SPIKE["id"]}"] .driver-row',
        "rs => rs.map(r => Array.from(r.cells).map(c => c.innerText))",
    )
    assert drivers == [
        ["API key", SPIKE["drivers"][0]["value"], "$640.00", "$80.00", "+$560.00"],
        ["Model", "claude-opus-4-5", "$200.00", "$157.50", "+$42.50"],
    ]
    other = page.locator(f'.anomaly[data-anomaly="{SHIFT["id"]}"]')
    assert other.locator(".anomaly-title").inner_text() == "Organization"
    assert other.locator(".anomaly-reason").inner_text() == "Marked expected."
    assert other.locator('button[data-feedback="expected"]').get_attribute("aria-pressed") == (
        "true"
    )

    # The chart: the 56 days' actual cost against the expected value and its band.
    chart = card.locator(".anomaly-chart")
    chart_id = "spike-chart"
    chart.evaluate("(n, id) => { n.id = id; }", chart_id)
    assert_chart_drawn(page, chart_id)
    drawn = traces(page, chart_id)
    days = series(SPIKE)
    assert drawn["Actual"]["x"] == [d["day"] for d in days]
    assert drawn["Actual"]["y"] == [float(d["actual"]) for d in days]
    assert drawn["Expected band"]["y"][14:] == [250.0] * 42
    assert drawn["Anomaly"]["x"] == ["2026-11-18"]

    # Feedback: a refused POST leaves the buttons as they were and says why; the next one
    # takes, and the card shows what the API answered.
    expected_button = card.locator('button[data-feedback="expected"]')
    assert expected_button.get_attribute("aria-pressed") == "false"
    expected_button.click()
    expect(card.locator(".anomaly-feedback-message .message.error")).to_contain_text(
        "The warehouse is busy."
    )
    assert expected_button.get_attribute("aria-pressed") == "false"
    expected_button.click()
    expect(expected_button).to_have_attribute("aria-pressed", "true")
    assert card.get_attribute("data-feedback") == "expected"
    assert card.locator(".anomaly-state").inner_text() == "resolved"
    assert card.locator('button[data-feedback="unexpected"]').get_attribute("aria-pressed") == (
        "false"
    )
    assert len(fake.posts) == 2
    for post in fake.posts:
        assert post["id"] == SPIKE["id"]
        assert json.loads(post["body"]) == {"feedback": "expected"}
        assert post["headers"]["content-type"] == "application/json"
        assert post["headers"]["origin"] == board.url  # what the server's Origin check reads

    # The state filter asks the API for those anomalies and keeps the choice in the address.
    page.select_option("#anomalies-state", "active")
    tab.wait_ready()
    assert parse_qs(urlsplit(page.url).query) == {"state": ["active"]}
    assert rows(page, ".anomaly", "as => as.map(a => a.dataset.anomaly)") == []
    assert page.locator("#anomalies-empty").is_visible()
    page.select_option("#anomalies-state", "resolved")
    tab.wait_ready()
    assert rows(page, ".anomaly", "as => as.map(a => a.dataset.anomaly)") == [
        SPIKE["id"],
        SHIFT["id"],
    ]
    assert page.locator("#main img, #main a[href^='https']").count() == 0
    tab.assert_clean(lambda e: "Failed to load resource" in e and "503" in e)
