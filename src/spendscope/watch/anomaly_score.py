"""Scoring daily spend for anomalies: pure functions over one scope's complete days.

A series is `values[0..n-1]`, the billed cost of consecutive complete days from the scope's
first day with spend (no zero-padding before it), oldest first, in dollars (floats: scores
need no cents, and the figures kept are rounded to the cent by the caller). Day `t` is scored
against the days before it only, so a later day never changes an earlier day's score.

**The baseline steps up with the history before the day** (`Scorer.baseline`):

- fewer than 14 days: none — no statistical anomaly;
- 14–27 days, `mad`: the median of the trailing 14 days, the robust z being
  `(x − median) ÷ (1.4826 · MAD)` (MAD: the median absolute deviation from that median). When
  MAD is 0 (half the days alike), 1.2533 × the mean absolute deviation stands in for
  1.4826 · MAD (both estimate σ of a normal spread), and the spread is never below 10 % of the
  median nor one cent. The weekly rhythm is not measured yet, so a day is expected to cost at
  least the lower of its weekday's two values in the window: a Monday peak seen on both earlier
  Mondays is no surprise.
- 28 days and more, `seasonal`: a same-weekday baseline scaled to the current level
  (`seasonal_expected`): the weekday's factor — the median of its share of its week over the
  last 4–8 weeks (as many whole weeks as the history holds, at most 8) — times the level, the
  weighted median over the last 14 days of each day's spend ÷ its weekday's factor (weighted
  by the factor, so quiet weekends weigh little). The robust z is taken on the residuals, on a
  log scale (spend scatters in proportion to its level, and more above than below):
  `ln((x + c) ÷ (expected + c)) ÷ spread`, where the spread is 1.4826 × the median absolute
  residual of the days like it (weekdays with weekdays, quiet days with quiet days: weekday
  factors within a ratio of 2) over the last 8 weeks, each residual that of the same baseline
  made the day before it — measured out of sample, it holds the baseline's own error. The spread
  is never below 0.10 (a day within about ±40 % of its expected spend is never scored 3.5), and
  the offset `c`, 0.2 % of the mean day of the last 28 (at least a cent), keeps days of no
  spend finite.

**The band** is where the score stays within the threshold: `expected ± 3.5 · spread` for
`mad`, `(expected + c) · e^(±3.5 · spread) − c` for `seasonal`; its low end is never below 0.

**An anomaly** is a day whose score is at least the threshold (3.5) **and** whose impact —
actual − expected, an increase — is at least the floor in dollars and at least the floor as a
share of the expected spend (`Floors`). Only increases are anomalies: a drop in spend is not a
cost to alert on.

**Episodes** (`Scorer.episodes`): an anomaly day starts one; the days after it stay in it while
they are still elevated (score ≥ 2, spend above expected), and the first day that is not ends
it. A level shift is thus one anomaly, on its first day, not one a day until the baseline has
caught up. An episode that runs through the series' last day is `ongoing`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAD = "mad"
SEASONAL = "seasonal"
METHODS = (MAD, SEASONAL)

MIN_HISTORY = 14
SEASONAL_HISTORY = 28
MAD_WINDOW = 14
SEASON_WEEKS = 8
LEVEL_DAYS = 14
# σ of a normal spread from its median absolute deviation, and from its mean absolute deviation.
MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533
# The narrowest spread: a share of the expected spend (on the log scale: 0.10), and one cent.
MIN_RELATIVE_SPREAD = 0.1
MIN_SPREAD = 0.01
THRESHOLD = 3.5
# The log scale's offset, a share of the mean day of the last 28: days of no spend stay finite.
OFFSET_SHARE = 0.002
# Days whose weekday factors are within this ratio scatter alike (weekdays; quiet weekends).
SIMILAR = 2.0
ELEVATED_SCORE = 2.0
MAX_SCORE = 99.9


@dataclass(frozen=True, slots=True)
class Floors:
    """What a day must pass to be an anomaly: the score, the impact in dollars and the impact
    as a share of the expected spend (0.2 for 20 %)."""

    impact_usd: float
    impact_share: float
    score: float = THRESHOLD


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a day is expected to cost, and the robust spread around it."""

    method: str
    expected: float
    spread: float

    def score(self, actual: float) -> float:
        z = (actual - self.expected) / self.spread
        return max(-MAX_SCORE, min(MAX_SCORE, z))

    def band(self, threshold: float = THRESHOLD) -> tuple[float, float]:
        half = threshold * self.spread
        return max(0.0, self.expected - half), self.expected + half


@dataclass(frozen=True, slots=True)
class LogBaseline(Baseline):
    """A baseline whose spread is on the log scale: the score of a day is the log of
    (actual + offset) ÷ (expected + offset) over the spread, so its band is wider above the
    expected spend than below it, as spend scatters."""

    offset: float = MIN_SPREAD

    def score(self, actual: float) -> float:
        z = math.log((actual + self.offset) / (self.expected + self.offset)) / self.spread
        return max(-MAX_SCORE, min(MAX_SCORE, z))

    def band(self, threshold: float = THRESHOLD) -> tuple[float, float]:
        base = self.expected + self.offset
        low = base * math.exp(-threshold * self.spread) - self.offset
        return max(0.0, low), base * math.exp(threshold * self.spread) - self.offset


@dataclass(frozen=True, slots=True)
class DayScore:
    """One day scored: its baseline, score, band and impact, and whether it is an anomaly
    (`qualifies`) or still elevated (enough to keep an episode going)."""

    index: int
    actual: float
    method: str
    expected: float
    low: float
    high: float
    score: float
    impact: float
    qualifies: bool
    elevated: bool


@dataclass(frozen=True, slots=True)
class Episode:
    """An anomaly: the day that started it, the last day still elevated, and whether it runs
    through the series' last day."""

    start: DayScore
    last: int
    ongoing: bool


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return 0.0
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def weighted_median(pairs: Sequence[tuple[float, float]]) -> float | None:
    """The value at half the total weight of (value, weight) pairs (the lower one on a tie);
    None without positive weight."""
    items = sorted((v, w) for v, w in pairs if w > 0)
    total = sum(w for _, w in items)
    if total <= 0:
        return None
    run = 0.0
    for v, w in items:
        run += w
        if run >= total / 2:
            return v
    return items[-1][0]


def _mad_baseline(values: Sequence[float], t: int) -> Baseline:
    """The trailing-14-day median and 1.4826 · MAD (see the module's docstring)."""
    window = values[t - MAD_WINDOW : t]
    mid = median(window)
    deviations = [abs(v - mid) for v in window]
    spread = MAD_TO_SIGMA * median(deviations)
    if spread <= 0:
        spread = MEAN_AD_TO_SIGMA * sum(deviations) / len(deviations)
    spread = max(spread, MIN_RELATIVE_SPREAD * abs(mid), MIN_SPREAD)
    weekday = min(values[t - 7], values[t - 14])
    return Baseline(MAD, max(mid, weekday), spread)


def seasonal_expected(values: Sequence[float], t: int) -> tuple[float, list[float]]:
    """Day `t`'s expected spend, its weekday's factor × the current level, and the factors
    (`factors[d]` is the factor of the weekday of day `t - d`, d = 1..7).

    The factor of a weekday is the median, over the last `min(8, t // 7)` weeks (at least 2;
    blocks of seven days ending the day before `t`), of that weekday's share of its week (its
    spend ÷ the week's mean day), the factors normalised to a mean of 1: the shape of the week,
    whatever the level did meanwhile. The level is the weighted median, over the last 14 days,
    of each day's spend ÷ its weekday's factor, weighted by the factor (quiet days weigh
    little)."""
    weeks = min(SEASON_WEEKS, t // 7)
    # Phase d is the weekday of day t - d: d = 7 is day t's own weekday.
    shares: list[list[float]] = [[] for _ in range(8)]
    for i in range(weeks):
        block = values[t - 7 * (i + 1) : t - 7 * i]
        mean = sum(block) / 7
        if mean <= 0:
            continue
        for d in range(1, 8):
            shares[d].append(values[t - d - 7 * i] / mean)
    raw = [median(s) if s else 1.0 for s in shares[1:]]
    total = sum(raw)
    factors = [0.0] + ([7 * f / total for f in raw] if total > 0 else [1.0] * 7)
    recent = []
    for j in range(1, LEVEL_DAYS + 1):
        f = factors[(j - 1) % 7 + 1]
        if f > 0:
            recent.append((values[t - j] / f, f))
    level = weighted_median(recent)
    return (0.0 if level is None else factors[7] * level), factors


class Scorer:
    """One series' days scored, the seasonal expectations cached: a day's seasonal spread is
    measured on the errors of the same expectation over the days before it, out of sample."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self._expected: dict[int, tuple[float, list[float]]] = {}
        self._baselines: dict[int, Baseline | None] = {}

    def _seasonal(self, t: int) -> tuple[float, list[float]]:
        found = self._expected.get(t)
        if found is None:
            found = self._expected[t] = seasonal_expected(self.values, t)
        return found

    def _seasonal_baseline(self, t: int) -> Baseline:
        expected, factors = self._seasonal(t)
        window = self.values[max(0, t - SEASONAL_HISTORY) : t]
        offset = max(MIN_SPREAD, OFFSET_SHARE * sum(window) / len(window))
        own = factors[7]
        first = max(MIN_HISTORY, t - 7 * SEASON_WEEKS)
        values, log = self.values, math.log
        similar = [
            abs(log((values[j] + offset) / (self._seasonal(j)[0] + offset)))
            for d in range(1, 8)
            if own / SIMILAR <= factors[d] <= own * SIMILAR or factors[d] == own
            for j in range(t - d, first - 1, -7)
        ]
        spread = max(MAD_TO_SIGMA * median(similar), MIN_RELATIVE_SPREAD)
        return LogBaseline(SEASONAL, expected, spread, offset)

    def baseline(self, t: int) -> Baseline | None:
        """The baseline of day `t` from the days before it (None with fewer than 14)."""
        if t not in self._baselines:
            found = None
            if t >= SEASONAL_HISTORY:
                found = self._seasonal_baseline(t)
            elif t >= MIN_HISTORY:
                found = _mad_baseline(self.values, t)
            self._baselines[t] = found
        return self._baselines[t]

    def expected_of(self, t: int) -> float:
        """What day `t` was expected to cost, for a driver: the baseline's expected spend, or
        with less history the median of the days before it (0 with none: a new value was
        expected to cost nothing)."""
        if t >= SEASONAL_HISTORY:
            return self._seasonal(t)[0]
        if t >= MIN_HISTORY:
            return _mad_baseline(self.values, t).expected
        return median(self.values[max(0, t - MAD_WINDOW) : t])

    def score(self, t: int, floors: Floors) -> DayScore | None:
        """Day `t` scored against its baseline (None with fewer than 14 days before it)."""
        base = self.baseline(t)
        if base is None:
            return None
        actual = self.values[t]
        z = base.score(actual)
        impact = actual - base.expected
        low, high = base.band(floors.score)
        qualifies = (
            z >= floors.score
            and impact > 0
            and impact >= floors.impact_usd
            and impact >= floors.impact_share * base.expected
        )
        elevated = z >= ELEVATED_SCORE and impact > 0
        return DayScore(
            t, actual, base.method, base.expected, low, high, z, impact, qualifies, elevated
        )

    def episodes(self, first: int, floors: Floors) -> list[Episode]:
        """The anomalies of the days from index `first` to the last (see the module's
        docstring). An episode already under way at `first` is not seen: start early enough."""
        found: list[Episode] = []
        current: DayScore | None = None
        last = 0
        for t in range(max(first, MIN_HISTORY), len(self.values)):
            s = self.score(t, floors)
            if s is None:
                continue
            if current is not None:
                if s.elevated:
                    last = t
                    continue
                found.append(Episode(current, last, False))
                current = None
            if s.qualifies:
                current, last = s, t
        if current is not None:
            found.append(Episode(current, last, last == len(self.values) - 1))
        return found
