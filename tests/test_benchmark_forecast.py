"""The forecast benchmark's core on a small made-up truth: the series it builds from the truth,
the month-end errors and band coverage it measures, and the section it writes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks import forecast as bench
from benchmarks.markdown import write_section

TODAY = date(2026, 5, 20)
START = date(2026, 1, 5)


def truth(noise: dict[date, int] | None = None) -> dict[str, Any]:
    """Two organizations with a weekly rhythm (weekends at a tenth), the first with `noise`
    (extra cents on some days); a third organization the benchmark leaves out."""
    orgs = []
    for name, weekday in (("Acme Platform", 10_000), ("Acme Enterprise", 4_000), ("Globex", 9)):
        days = []
        d = START
        while d <= TODAY:
            cents = weekday if d.weekday() < 5 else weekday // 10
            if name == "Acme Platform":
                cents += (noise or {}).get(d, 0)
            if d != START + timedelta(days=3):  # a day with no spend is not listed
                days.append({"date": d.isoformat(), "cost_cents": f"{cents}.5"})
            d += timedelta(days=1)
        orgs.append({"name": name, "days": days})
    return {"organizations": orgs}


def test_series_sum_the_connections_and_fill_days_without_spend() -> None:
    series = bench.series_from_truth(truth(), TODAY)
    assert set(series) == {"Acme Platform", "Acme Enterprise", bench.ORGANIZATION}
    platform = dict(series["Acme Platform"])
    assert min(platform) == START
    assert max(platform) == TODAY - timedelta(days=1)
    assert platform[START + timedelta(days=3)] == 0
    assert platform[START] == Decimal("100.005")
    org = dict(series[bench.ORGANIZATION])
    assert org[START] == platform[START] + Decimal("40.005")


def test_a_steady_rhythm_is_forecast_exactly_and_noise_is_measured(tmp_path: Path) -> None:
    steady, outcomes = bench.run(truth(), TODAY)
    assert {r["series"] for r in steady["rows"]} == {
        "Acme Platform",
        "Acme Enterprise",
        bench.ORGANIZATION,
    }
    months = {o.month for o in outcomes}
    assert months == {date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)}
    late = [o for o in outcomes if o.month >= date(2026, 3, 1)]
    # With four weeks of history the rhythm is known: every month end is right.
    assert max(o.error for o in late) < 0.002
    assert all(r["median_21"] is not None for r in steady["rows"])
    noise = {START + timedelta(days=i): (i * 7919) % 9_000 for i in range(140)}
    noisy, _ = bench.run(truth(noise), TODAY)
    platform = next(r for r in noisy["rows"] if r["series"] == "Acme Platform")
    assert platform["median_7"] > 0.001
    assert 0 < noisy["coverage_all"] <= 1
    lines = bench.markdown(noisy, 1.0, date(2026, 2, 1), date(2026, 4, 30))
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n")
    write_section("forecast", "Forecasts", lines, path)
    text = path.read_text()
    assert "<!-- forecast:begin -->" in text
    assert "| Acme Platform | 3 |" in text
    assert "the target is 80 %" in text
