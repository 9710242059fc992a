"""Forecast benchmark: month-end forecasts backtested over the simulator's 13 months.

The simulator's truth (`/_simulator/truth`: each organization's true billed cost per day, from
its facts) gives the daily series of each demo connection (Acme Platform, Console; Acme
Enterprise) and of the organization (their sum). For every month of the history after the first
(partial) one, the forecast is made as it would have been at the end of each day of the month —
the history through that day complete, `now` at noon the next day — with `watch.forecast`, and
compared with the month's true total:

- the month-end absolute percentage error of the P50 at day 7, 14 and 21 (median and mean over
  months, per series);
- the measured coverage of the P10–P90 band: how often the true total fell inside it, at days 7,
  14 and 21, and over every day of every month (it should be close to 80 %).

Run with `uv run python -m benchmarks.forecast [--no-write]`; rewrites the forecast section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any

import httpx

from benchmarks.markdown import write_section
from spendscope.watch.forecast import Day, forecast_month, next_month

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONNECTIONS = ("Acme Platform", "Acme Enterprise")
ORGANIZATION = "Organization (both)"
CHECKPOINTS = (7, 14, 21)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One forecast of one month's total, made at the end of day `day` of the month."""

    series: str
    month: date
    day: int
    state: str
    method: str | None
    actual: Decimal
    p10: Decimal
    p50: Decimal
    p90: Decimal

    @property
    def error(self) -> float:
        """The P50's absolute percentage error."""
        return float(abs(self.p50 - self.actual) / self.actual) if self.actual else 0.0

    @property
    def covered(self) -> bool:
        return self.p10 <= self.actual <= self.p90


def series_from_truth(truth: Mapping[str, Any], today: date) -> dict[str, list[Day]]:
    """Each demo connection's daily billed cost (dollars) and their sum, from the first day with
    spend to the day before `today`; days with no spend are 0."""
    out: dict[str, list[Day]] = {}
    total: dict[date, Decimal] = {}
    for org in truth["organizations"]:
        if org["name"] not in CONNECTIONS:
            continue
        by_day = {
            date.fromisoformat(r["date"]): Decimal(r["cost_cents"]) / 100 for r in org["days"]
        }
        out[org["name"]] = _filled(by_day, today)
        for d, v in by_day.items():
            total[d] = total.get(d, Decimal(0)) + v
    out[ORGANIZATION] = _filled(total, today)
    return out


def _filled(by_day: Mapping[date, Decimal], today: date) -> list[Day]:
    spent = sorted(d for d, v in by_day.items() if v and d < today)
    if not spent:
        return []
    n = (today - spent[0]).days
    return [(d, by_day.get(d, Decimal(0))) for d in (spent[0] + timedelta(i) for i in range(n))]


def backtest_months(name: str, days: Sequence[Day], every_day: bool = True) -> list[Outcome]:
    """The forecasts of each whole month after the series' first, made at the end of each of
    its days but the last (or only at the checkpoints)."""
    if not days:
        return []
    index = {d: i for i, (d, _) in enumerate(days)}
    last = days[-1][0]
    month = next_month(days[0][0])
    out = []
    while next_month(month) - timedelta(days=1) <= last:
        end = next_month(month)
        actual = sum((v for d, v in days if month <= d < end), Decimal(0))
        length = (end - month).days
        for day in range(1, length) if every_day else CHECKPOINTS:
            through = month + timedelta(days=day - 1)
            now = datetime.combine(through + timedelta(days=1), clock(12), UTC)
            f = forecast_month(days[: index[through] + 1], now)
            if f.p50 is None or f.p10 is None or f.p90 is None:
                continue
            out.append(Outcome(name, month, day, f.state, f.method, actual, f.p10, f.p50, f.p90))
        month = end
    return out


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Per series and checkpoint: median and mean APE, coverage; coverage over every day."""
    names = list(dict.fromkeys(o.series for o in outcomes))
    rows = []
    for name in names:
        mine = [o for o in outcomes if o.series == name]
        row: dict[str, Any] = {"series": name, "months": len({o.month for o in mine})}
        for c in CHECKPOINTS:
            at = [o for o in mine if o.day == c]
            errors = [o.error for o in at]
            row[f"median_{c}"] = statistics.median(errors) if errors else None
            row[f"mean_{c}"] = statistics.fmean(errors) if errors else None
            row[f"covered_{c}"] = _share([o.covered for o in at])
        row["covered_all"] = _share([o.covered for o in mine])
        row["forecasts"] = len(mine)
        rows.append(row)
    at_checkpoints = [o.covered for o in outcomes if o.day in CHECKPOINTS]
    return {
        "rows": rows,
        "coverage_checkpoints": _share(at_checkpoints),
        "checkpoint_forecasts": len(at_checkpoints),
        "coverage_all": _share([o.covered for o in outcomes]),
        "forecasts": len(outcomes),
    }


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f} %"


def markdown(result: Mapping[str, Any], seconds: float, first: date, last: date) -> list[str]:
    lines = [
        f"Measured {date.today():%Y-%m-%d} on a 2-core machine: the simulator's truth (seed 42) "
        f"from {first} to {last}, every whole month after the first; {seconds:.1f} s for "
        f"{result['forecasts']:,} forecasts (each with its own backtest).",
        "",
        "| Series | Months | APE day 7 (median / mean) | APE day 14 | APE day 21 "
        "| P10–P90 coverage at days 7, 14, 21 | Coverage, every day |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        cells = [f"{_pct(r[f'median_{c}'])} / {_pct(r[f'mean_{c}'])}" for c in CHECKPOINTS]
        cover = ", ".join(_pct(r[f"covered_{c}"]) for c in CHECKPOINTS)
        lines.append(
            f"| {r['series']} | {r['months']} | {' | '.join(cells)} | {cover} "
            f"| {_pct(r['covered_all'])} ({r['forecasts']:,}) |"
        )
    lines += [
        "",
        f"Coverage of the P10–P90 band over all series: {_pct(result['coverage_checkpoints'])} "
        f"at days 7, 14 and 21 ({result['checkpoint_forecasts']} forecasts), "
        f"{_pct(result['coverage_all'])} over every day ({result['forecasts']:,} forecasts); "
        "the target is 80 %.",
    ]
    return lines


def fetch_truth(now: datetime = NOW) -> dict[str, Any]:
    """The truth of a simulator (seed 42) frozen at `now`."""
    from spendscope.simulator.server import RunningSimulator
    from spendscope.simulator.state import SimConfig

    with RunningSimulator(SimConfig(seed=42, rpm=0), now=now) as running:
        r = httpx.get(running.url + "/_simulator/truth", timeout=600)
        r.raise_for_status()
        return dict(r.json())


def run(truth: Mapping[str, Any], today: date) -> tuple[dict[str, Any], list[Outcome]]:
    outcomes: list[Outcome] = []
    for name, days in series_from_truth(truth, today).items():
        outcomes += backtest_months(name, days)
    return summary(outcomes), outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="Do not rewrite BENCHMARKS.md.")
    args = parser.parse_args(argv)
    truth = fetch_truth()
    t0 = time.perf_counter()
    result, outcomes = run(truth, NOW.date())
    seconds = time.perf_counter() - t0
    first = min(o.month for o in outcomes)
    last = next_month(max(o.month for o in outcomes)) - timedelta(days=1)
    lines = markdown(result, seconds, first, last)
    print("\n".join(lines))
    if not args.no_write:
        write_section("forecast", "Forecasts (13 months of the simulator)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
