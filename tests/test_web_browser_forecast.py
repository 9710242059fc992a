"""The Overview's month-end forecast in a real browser (headless Chromium): the card shows the
API's P50, P10–P90 band, method and state, the daily chart carries the forecast's days to month
end with the band shaded; a state without a number, a stale forecast and a failed forecast
request are shown as the API says them (their answers substituted in the browser)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from test_web_browser import Tab, assert_chart_drawn, money

# the browser tests share one worker and one Chromium
pytestmark = [pytest.mark.timeout(60), pytest.mark.xdist_group("browser")]

BAND = "Forecast P10–P90"
MEDIAN = "Forecast P50"
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


@pytest.fixture
def overview(browser: Browser, dashboard: Any) -> Iterator[Callable[..., Tab]]:
    """Open the Overview in a fresh context (requests leaving the dashboard refused); with
    `answer`, the browser receives answer(real forecast) for /api/v1/forecast instead."""
    contexts: list[BrowserContext] = []

    def opener(answer: Answer | None = None) -> Tab:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        tab = Tab(context, dashboard.url)

        def refuse(route: Route) -> None:
            tab.errors.append(f"external request: {route.request.url}")
            route.abort()

        context.route(lambda url: not url.startswith(dashboard.url), refuse)
        if answer is not None:
            status, body = answer(dashboard.get("/api/v1/forecast"))

            def substitute(route: Route) -> None:
                route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

            context.route(f"{dashboard.url}/api/v1/forecast*", substitute)
        return tab.goto("/")

    yield opener
    for c in contexts:
        c.close()


def drawn_traces(page: Page) -> list[dict[str, Any]]:
    """Name, x and y of every trace of the daily chart, in drawing order."""
    traces: list[dict[str, Any]] = page.evaluate(
        "() => document.getElementById('trend-chart').data"
        ".map(t => ({name: t.name, x: t.x, y: t.y, fill: t.fill || null}))"
    )
    return traces


def band_fill(page: Page, first: str, last: str) -> dict[str, float]:
    """Where Plotly drew the band's shaded area (a `tonexty` fill lives in the group of the
    trace it fills up to, the P90 edge): its left and right ends in pixels, and where the days
    `first` and `last` are on the x axis."""
    result: dict[str, float] = page.evaluate(
        """([name, first, last]) => {
            const gd = document.getElementById('trend-chart');
            const i = gd._fullData.findIndex(t => t.name === name);
            const xa = gd._fullLayout.xaxis;
            const out = {left: NaN, right: NaN, first: xa.d2p(first), last: xa.d2p(last)};
            for (const g of gd.querySelectorAll('.scatterlayer g.trace')) {
                const cd = g.__data__;
                if (!cd || !cd[0] || cd[0].trace.index !== i - 1) continue;
                for (const p of g.querySelectorAll('path.js-fill')) {
                    if ((p.getAttribute('d') || '').length < 5) continue;
                    const box = p.getBBox();
                    out.left = box.x;
                    out.right = box.x + box.width;
                }
            }
            return out;
        }""",
        [BAND, first, last],
    )
    return result


def test_the_card_and_the_chart_show_the_apis_forecast(
    overview: Callable[..., Tab], dashboard: Any
) -> None:
    tab = overview()
    page = tab.page
    f = dashboard.get("/api/v1/forecast")["forecast"]
    assert f["state"] == "low_confidence"  # the synced warehouse: 40 days of history
    shown = page.locator("#forecast-cost")
    assert shown.inner_text() == money(f["p50"])
    assert shown.get_attribute("data-value") == f["p50"]
    assert page.locator("#forecast-band").inner_text() == (
        f"P10–P90 {money(f['p10'])} – {money(f['p90'])}"
    )
    state = page.locator("#forecast-state")
    assert state.get_attribute("data-state") == "low_confidence"
    assert state.inner_text() == "Low confidence"
    assert page.locator("#forecast-method").inner_text() == "seasonal"
    notes = page.locator("#forecast-note")
    expect(notes).to_be_visible()
    assert notes.inner_text().startswith("Band not measured:")

    # The daily chart: actuals, then the forecast's days to month end, band shaded.
    assert_chart_drawn(page, "trend-chart")
    traces = drawn_traces(page)
    names = [t["name"] for t in traces]
    assert names[0] == "Daily cost"
    assert names[-3:] == ["Forecast P90", BAND, MEDIAN]
    days = [d["day"] for d in f["days"]]
    assert days[-1] == "2026-11-30"
    upper, lower, median = traces[-3:]
    assert upper["x"] == lower["x"] == median["x"] == days
    assert upper["y"] == [float(d["p90"]) for d in f["days"]]
    assert lower["y"] == [float(d["p10"]) for d in f["days"]]
    assert median["y"] == [float(d["p50"]) for d in f["days"]]
    assert lower["fill"] == "tonexty"  # shaded up to the P90 edge drawn just before it
    # The shaded area is drawn, from the first forecast day to month end.
    drawn = band_fill(page, days[0], days[-1])
    assert abs(drawn["left"] - drawn["first"]) < 1, drawn
    assert abs(drawn["right"] - drawn["last"]) < 1, drawn
    assert "its P10–P90 band" in page.locator("#trend-note").inner_text()
    tab.assert_clean()


def _no_history(found: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    f = found["forecast"]
    f.update(
        state="insufficient_history",
        method=None,
        history_days=2,
        p10=None,
        p50=None,
        p90=None,
        days=[],
        notes=["2 complete days of history: 3 are needed"],
    )
    return 200, found


def _stale(found: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    found["forecast"].update(
        state="stale", notes=["stale: acme-console is complete only through 2026-11-19"]
    )
    return 200, found


def _failed(_found: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    error = {"code": "unavailable", "message": "The warehouse is busy.", "hint": "Try again."}
    return 503, {"error": error}


@pytest.mark.parametrize(
    ("answer", "value", "state", "note", "band"),
    [
        (
            _no_history,
            "—",
            "Not enough history",
            "2 complete days of history: 3 are needed.",
            False,
        ),
        (_stale, None, "Stale", "Stale: acme-console is complete only through 2026-11-19.", True),
        (_failed, "—", None, "The warehouse is busy.\nTry again.", False),
    ],
    ids=["insufficient_history", "stale", "failed"],
)
def test_the_card_says_why_when_there_is_no_number_or_it_is_stale(
    overview: Callable[..., Tab],
    dashboard: Any,
    answer: Answer,
    value: str | None,
    state: str | None,
    note: str,
    band: bool,
) -> None:
    tab = overview(answer)
    page = tab.page
    real = dashboard.get("/api/v1/forecast")["forecast"]
    assert page.locator("#forecast-cost").inner_text() == (value or money(real["p50"]))
    badge = page.locator("#forecast-state")
    if state is None:
        expect(badge).to_be_hidden()
    else:
        assert badge.inner_text() == state
    assert page.locator("#forecast-note").inner_text() == note
    # the rest of the Overview stands, and the chart has the band only with a forecast
    assert page.locator("#mtd-cost").get_attribute("data-value")
    assert_chart_drawn(page, "trend-chart")
    assert (BAND in [t["name"] for t in drawn_traces(page)]) == band
    # Chromium logs the substituted failure itself ("Failed to load resource: … 503")
    tab.assert_clean(lambda e: "Failed to load resource" in e and "503" in e)
