"""Anomaly scoring on synthetic series: the method steps up with history, MAD = 0 is guarded, a
level shift is one anomaly, and a backtest — trend, weekly season with quiet weekends, noise,
injected spikes and level shifts, seeded — holds the precision and recall docs/anomalies.md
states; a predictable weekly pattern (Monday peaks, quiet weekends) and short histories raise
nothing."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from spendscope.watch.anomaly_score import MAD, SEASONAL, Floors, Scorer

DEFAULT = Floors(impact_usd=50.0, impact_share=0.3)  # the settings' defaults
NO_FLOOR = Floors(impact_usd=0.01, impact_share=0.0)  # the score alone decides
# Monday first: a Monday peak, quiet weekends.
WEEK = (1.35, 1.05, 1.0, 1.0, 0.95, 0.08, 0.05)


@dataclass(frozen=True)
class Event:
    kind: str  # spike | shift
    day: int
    found_by: int  # last day a detection counts as finding it
    spans: int  # last day a detection counts as a true positive


def synthetic(
    rng: random.Random, days: int = 182, spikes: int = 3, shift: bool = True
) -> tuple[list[float], list[Event]]:
    """Spend with a trend (-0.2 %..+0.6 % a day), the weekly season above, log-normal noise
    (σ 6–20 % on weekdays, 40 % on weekends), and injected events: a level shift (×1.8–2.5
    from a day on) and spikes (1.5–4 weekdays' worth added to a day, weekends included)."""
    level0 = rng.uniform(100, 2000)
    growth = rng.uniform(-0.002, 0.006)
    sd = rng.uniform(0.06, 0.2)
    start = rng.randrange(7)
    values, level = [], []
    for t in range(days):
        lvl = level0 * math.exp(growth * t)
        wd = (start + t) % 7
        s = sd if wd < 5 else 0.4
        values.append(lvl * WEEK[wd] * math.exp(rng.gauss(0, s) - s * s / 2))
        level.append(lvl)
    events: list[Event] = []
    taken: set[int] = set()

    def free(a: int, b: int) -> bool:
        return all(x not in taken for x in range(a - 10, b + 10))

    if shift:
        for _ in range(50):
            s0 = rng.randrange(30, days - 20)
            if free(s0, s0 + 14):
                factor = rng.uniform(1.8, 2.5)
                for t in range(s0, days):
                    values[t] *= factor
                    level[t] *= factor
                events.append(Event("shift", s0, s0 + 3, s0 + 13))
                taken.update(range(s0, s0 + 14))
                break
    for _ in range(spikes):
        for _ in range(50):
            t = rng.randrange(16, days)
            if free(t, t):
                values[t] += rng.uniform(1.5, 4) * level[t]
                events.append(Event("spike", t, t, t))
                taken.add(t)
                break
    return values, events


def backtest(seed: int, series: int, **kw: object) -> tuple[int, int, int, int, int]:
    """(true positives, false positives, events found, events, days scored) over `series`
    synthetic series. A detection is true when it falls on a spike or within the 14 days of a
    level shift; an event is found when an anomaly starts on the spike, or within the first 4
    days of the shift (the first weekday after a weekend)."""
    rng = random.Random(seed)
    tp = fp = found = total = scored = 0
    for _ in range(series):
        values, events = synthetic(rng, **kw)  # type: ignore[arg-type]
        starts = [e.start.index for e in Scorer(values).episodes(14, DEFAULT)]
        scored += len(values) - 14
        for s in starts:
            if any(e.day <= s <= e.spans for e in events):
                tp += 1
            else:
                fp += 1
        for e in events:
            total += 1
            found += any(e.day <= s <= e.found_by for s in starts)
    return tp, fp, found, total, scored


def test_the_backtest_holds_the_stated_precision_and_recall() -> None:
    tp, fp, found, total, _ = backtest(seed=7, series=120)
    precision, recall = tp / (tp + fp), found / total
    assert total == 480  # 3 spikes and a shift per series
    assert precision >= 0.90, (precision, tp, fp)
    assert recall >= 0.90, (recall, found, total)


def test_without_events_false_alarms_stay_rare() -> None:
    tp, fp, _, _, scored = backtest(seed=3, series=60, spikes=0, shift=False)
    assert tp == 0
    assert fp / scored <= 0.005, (fp, scored)  # at most one day in 200


@pytest.mark.parametrize("amplitude", [0.0, 0.15])
def test_a_predictable_weekly_pattern_raises_nothing(amplitude: float) -> None:
    """Monday peaks, quiet weekends, a trend and bounded noise: whatever the floors, nothing
    (the highest score stays well below 3.5)."""
    rng = random.Random(5)
    week = (1.6, 1.1, 1.0, 1.0, 0.9, 0.05, 0.03)
    highest = 0.0
    for _ in range(30):
        level = rng.uniform(50, 3000)
        start = rng.randrange(7)
        growth = rng.uniform(-0.002, 0.005)
        values = [
            level
            * math.exp(growth * t)
            * week[(start + t) % 7]
            * (1 + rng.uniform(-amplitude, amplitude))
            for t in range(200)
        ]
        scorer = Scorer(values)
        assert scorer.episodes(0, NO_FLOOR) == []
        assert scorer.episodes(0, DEFAULT) == []
        for t in range(14, len(values)):
            base = scorer.baseline(t)
            assert base is not None
            highest = max(highest, base.score(values[t]))
    assert highest < 3.4


def test_the_method_steps_up_with_history() -> None:
    values = [100.0 + (t % 7) for t in range(40)]
    scorer = Scorer(values)
    assert [scorer.baseline(t) for t in range(14)] == [None] * 14
    assert {scorer.baseline(t).method for t in range(14, 28)} == {MAD}  # type: ignore[union-attr]
    assert {scorer.baseline(t).method for t in range(28, 40)} == {SEASONAL}  # type: ignore[union-attr]


@pytest.mark.parametrize("days", [1, 7, 13, 14])
def test_a_short_history_raises_nothing(days: int) -> None:
    """Under 14 complete days before a day, it is not scored: a huge last day is no anomaly."""
    values = [100.0] * (days - 1) + [100_000.0]
    assert Scorer(values).episodes(0, NO_FLOOR) == []


def test_a_flat_history_has_a_guarded_spread() -> None:
    """MAD = 0 (every day alike): the spread falls back and is never below 10 % of the median,
    so a small wobble is not an anomaly and a doubling is, with a finite score."""
    flat = [200.0] * 20
    scorer = Scorer([*flat, 210.0])
    base = scorer.baseline(20)
    assert base is not None
    assert base.method == MAD
    assert base.expected == 200.0
    assert base.spread == pytest.approx(20.0)  # 10 % of the median
    assert scorer.episodes(0, NO_FLOOR) == []
    doubled = Scorer([*flat, 400.0]).episodes(0, DEFAULT)
    (episode,) = doubled
    assert episode.start.index == 20
    assert episode.start.score == pytest.approx(10.0)
    assert episode.start.impact == pytest.approx(200.0)


def test_a_spike_is_one_anomaly_with_its_band() -> None:
    rng = random.Random(1)
    values = [1000 * WEEK[t % 7] * (1 + rng.uniform(-0.1, 0.1)) for t in range(70)]
    values[60] = 3000.0  # a Friday (weekday 4) three times its usual
    (episode,) = Scorer(values).episodes(0, DEFAULT)
    s = episode.start
    assert (s.index, s.method, episode.last, episode.ongoing) == (60, SEASONAL, 60, False)
    assert s.low < s.expected < s.high < s.actual
    assert s.expected == pytest.approx(950, rel=0.1)
    assert s.impact == pytest.approx(3000 - s.expected)
    assert s.score >= 3.5


def test_a_level_shift_is_one_anomaly_that_stays_active_while_elevated() -> None:
    """The shift's first day is the anomaly; the days after stay in its episode while they
    are still elevated, and it ends once the baseline has caught up."""
    rng = random.Random(2)
    base = [500 * WEEK[t % 7] * (1 + rng.uniform(-0.08, 0.08)) for t in range(120)]
    shifted = [v * (2.5 if t >= 84 else 1) for t, v in enumerate(base)]
    (episode,) = Scorer(shifted).episodes(0, DEFAULT)
    assert episode.start.index == 84
    assert 84 < episode.last < 110
    assert not episode.ongoing
    # Cut just after the shift: still elevated through the newest day, so ongoing.
    (early,) = Scorer(shifted[:88]).episodes(0, DEFAULT)
    assert (early.start.index, early.last, early.ongoing) == (84, 87, True)


def test_floors_decide_between_equal_scores() -> None:
    """A big score with a small impact is no anomaly: both floors must pass."""
    values = [10.0 * WEEK[t % 7] for t in range(63)] + [60.0]  # a Monday 4.4× its usual
    scorer = Scorer(values)
    assert scorer.episodes(0, NO_FLOOR)
    assert scorer.episodes(0, Floors(impact_usd=50.0, impact_share=0.3)) == []  # $46.50
    assert scorer.episodes(0, Floors(impact_usd=40.0, impact_share=5.0)) == []  # < 500 %
    assert scorer.episodes(0, Floors(impact_usd=40.0, impact_share=3.0))
