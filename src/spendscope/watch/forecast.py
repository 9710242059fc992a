"""Month-end forecasts of a daily spend series, with a P10–P50–P90 band measured by backtests.

Pure functions over the complete days of one scope: `[(day, Decimal), …]`, consecutive, oldest
first, from the scope's first day with spend through its last complete day. Money stays Decimal
throughout; figures are rounded to the cent only when shown (and by `reconcile`, whose promise
is to the cent).

**The month-end figure** is the month-to-date actual over complete days plus a forecast of the
month's remaining days, the incomplete ones (today's partial day, provisional days) included.

**The method steps up with the number of complete days of history** (`method_for`):

- fewer than 3: `insufficient_history`, no number (a day or two says nothing about a month);
- 3–13, **run rate**: their mean per day, for every remaining day;
- 14–27, **weekday profile × level**: each weekday's share of its week (median over the full
  weeks held) times the mean day of the last two weeks;
- 28 and more, **seasonal**: the same weekday factors over up to the last eight full weeks, times
  a level smoothed exponentially (α = 0.15) over the deseasonalised days, each day clipped to
  between half and twice the level before it counts. Spend is a weekly rhythm (quiet weekends)
  on a level that drifts; factors × level keeps the rhythm exact when the level moves, the
  median over weeks ignores a week's spike, the clip keeps one spike day from lifting the level
  for weeks, and the smoothing follows growth within days. A trend term was left out: over a
  month's horizon its estimate from daily noise of ±30 % moves the forecast more than the
  growth it would capture; the backtest band carries what the level misses.

**The band is measured, not assumed**: the same method runs on the same series from past
origins (split conformal, rolling origin). From each origin with enough history for the
method, the next days — as many, and as far from the origin, as the days being forecast now —
are forecast and the ratio actual ÷ forecast kept. P10 and P90 are conformal quantiles of those
ratios (the ⌊(k+1)·0.1⌋-th and ⌈(k+1)·0.9⌉-th smallest of k) applied to today's forecast of the
remaining days; P50 is that forecast itself (moving it by the ratios' median made the month-end
error larger in the benchmark), and the band always holds it. With fewer than `MIN_ORIGINS`
origins the band is not measured: it is widened honestly (twice what the days' own scatter
gives, and at least as wide as any ratio seen), a note says so, and the state is
`low_confidence`.

**The state** (`STATES`): `insufficient_history` (< 3 complete days), else `stale` (the newest
complete day ended more than 48 h ago, or the source's data is behind), else `low_confidence`
(run rate, or a band not measured), else `ok`.

**Day by day** (`MonthForecast.daily`, `MonthForecast.days`): the remaining days' forecast is
also kept per day, the model's expected spend of each; the band is the month's, spread over
the days in proportion to their P50 (the days' P10s add up to the month's P10 less the month to
date, P90 alike): it is the band of the remaining days' sum, and one day alone scatters more.

**Children add up to their parent** (`reconcile`): see its docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from math import ceil, floor

CENT = Decimal("0.01")

OK = "ok"
LOW_CONFIDENCE = "low_confidence"
INSUFFICIENT_HISTORY = "insufficient_history"
STALE = "stale"
STATES = (OK, LOW_CONFIDENCE, INSUFFICIENT_HISTORY, STALE)

RUN_RATE = "run_rate"
WEEKDAY_PROFILE = "weekday_profile"
SEASONAL = "seasonal"
# The fewest complete days each method needs (also at each backtest origin).
MIN_DAYS = {RUN_RATE: 3, WEEKDAY_PROFILE: 14, SEASONAL: 28}

STALE_AFTER = timedelta(hours=48)
# Backtest origins: the band is measured from at least MIN_ORIGINS (conformal P10/P90 are finite
# from 9), and from the latest MAX_ORIGINS at most (older ones say less about today).
MIN_ORIGINS = 10
MAX_ORIGINS = 90
SEASON_WEEKS = 8
ALPHA = Decimal("0.15")
CLIP = Decimal(2)
# The unmeasured band: z of P90 for a normal spread, and the widening that says "not measured".
Z90 = Decimal("1.2816")
WIDEN = Decimal(2)
LOW_Q, HIGH_Q = Decimal("0.1"), Decimal("0.9")

Day = tuple[date, Decimal]


@dataclass(frozen=True, slots=True)
class Model:
    """A fitted method: the expected spend of a day is `level × factors[day.weekday()]`."""

    method: str
    level: Decimal
    factors: tuple[Decimal, ...]  # Monday first; mean 1
    days_in_level: int  # how many days the level rests on
    scatter: Decimal  # relative spread of the fitted days around the model

    def day(self, d: date) -> Decimal:
        return self.level * self.factors[d.weekday()]

    def total(self, first: date, count: int) -> Decimal:
        """The expected spend of `count` days from `first`."""
        return sum((self.day(first + timedelta(days=i)) for i in range(count)), Decimal(0))


@dataclass(frozen=True, slots=True)
class DayForecast:
    """One remaining day of the month: its P50 and the month's band spread over it (None with
    no band)."""

    day: date
    p10: Decimal | None
    p50: Decimal
    p90: Decimal | None


@dataclass(frozen=True, slots=True)
class MonthForecast:
    """The month-end forecast of one scope. Money in dollars; `p10`/`p50`/`p90` are None when
    the history is insufficient."""

    month: date  # the month's first day
    through: date | None  # the last complete day
    history_days: int
    method: str | None
    state: str
    actual: Decimal  # month to date, complete days
    remaining_days: int
    # The scope's own forecast of the remaining days (with too little history, its run rate so
    # far: only a weight for `reconcile`, never shown).
    remaining: Decimal
    p10: Decimal | None
    p50: Decimal | None
    p90: Decimal | None
    origins: int  # backtest origins the band was measured on
    notes: tuple[str, ...] = ()
    reconciled: bool = False
    # The P50 of each remaining day, from the first incomplete day to the month's last; they add
    # up to `p50 - actual` (none without a forecast).
    daily: tuple[Day, ...] = ()

    def remaining_dates(self) -> list[date]:
        """The days forecast: the month's last `remaining_days` days."""
        end = next_month(self.month)
        return [end - timedelta(days=i) for i in range(self.remaining_days, 0, -1)]

    def days(self) -> list[DayForecast]:
        """Each remaining day's P50 with the month's band spread over the days in proportion
        to it: a day's P10 is its P50 × (P10 − actual) ÷ (P50 − actual), so the days' P10s add
        up to the month's P10 less the month to date (P90 alike). Empty without a forecast."""
        if self.p50 is None:
            return []
        rest = self.p50 - self.actual

        def share(p: Decimal | None) -> Decimal | None:
            if p is None:
                return None
            return (p - self.actual) / rest if rest > 0 else Decimal(1)

        low, high = share(self.p10), share(self.p90)
        return [
            DayForecast(
                d,
                None if low is None else v * low,
                v,
                None if high is None else v * high,
            )
            for d, v in self.daily
        ]


def method_for(history_days: int) -> str | None:
    """The method for this many complete days of history (None: too few for a forecast)."""
    if history_days >= MIN_DAYS[SEASONAL]:
        return SEASONAL
    if history_days >= MIN_DAYS[WEEKDAY_PROFILE]:
        return WEEKDAY_PROFILE
    if history_days >= MIN_DAYS[RUN_RATE]:
        return RUN_RATE
    return None


def next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


# -- the methods --------------------------------------------------------------------------------


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values) if values else Decimal(0)


def _median(values: Sequence[Decimal]) -> Decimal:
    s = sorted(values)
    n = len(s)
    if not n:
        return Decimal(0)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _scatter(values: Sequence[Decimal], fitted: Sequence[Decimal]) -> Decimal:
    """The standard deviation of actual ÷ fitted over the days with a positive fit."""
    ratios = [v / f for v, f in zip(values, fitted, strict=True) if f > 0]
    if len(ratios) < 2:
        return Decimal(1)
    m = _mean(ratios)
    return (sum(((r - m) ** 2 for r in ratios), Decimal(0)) / (len(ratios) - 1)).sqrt()


def weekday_factors(start: date, values: Sequence[Decimal], weeks: int) -> tuple[Decimal, ...]:
    """Each weekday's share of its week, as the median over the last `weeks` full weeks (blocks
    of seven days ending with the last day), normalised to a mean of 1; all 1 without a week
    of positive spend."""
    n = len(values)
    shares: list[list[Decimal]] = [[] for _ in range(7)]
    for w in range(min(weeks, n // 7)):
        lo = n - 7 * (w + 1)
        block = values[lo : lo + 7]
        mean = _mean(block)
        if mean <= 0:
            continue
        for i, v in enumerate(block):
            shares[(start + timedelta(days=lo + i)).weekday()].append(v / mean)
    raw = [_median(s) if s else Decimal(1) for s in shares]
    total = sum(raw, Decimal(0))
    if total <= 0:
        return (Decimal(1),) * 7
    return tuple(f * 7 / total for f in raw)


def fit(method: str, start: date, values: Sequence[Decimal]) -> Model:
    """Fit `method` to the days from `start` (`values`, at least `MIN_DAYS[method]`)."""
    n = len(values)
    if method == RUN_RATE:
        level = _mean(values)
        return Model(method, level, (Decimal(1),) * 7, n, _scatter(values, [level] * n))
    if method == WEEKDAY_PROFILE:
        factors = weekday_factors(start, values, n // 7)
        level = _mean(values[-14:])
        days = [start + timedelta(days=i) for i in range(n)]
        fitted = [level * factors[d.weekday()] for d in days]
        return Model(method, level, factors, 14, _scatter(values, fitted))
    factors = weekday_factors(start, values, SEASON_WEEKS)
    lo = max(0, n - 7 * SEASON_WEEKS)
    days = [start + timedelta(days=i) for i in range(lo, n)]
    window = values[lo:]
    # Deseasonalised days (a weekday whose factor is 0 says nothing about the level).
    flat = [
        (v / factors[d.weekday()] if factors[d.weekday()] > 0 else None)
        for v, d in zip(window, days, strict=True)
    ]
    level = _median([f for f in flat[:7] if f is not None])
    for f in flat[7:]:
        if f is None:
            continue
        clipped = min(max(f, level / CLIP), level * CLIP) if level > 0 else f
        level += ALPHA * (clipped - level)
    fitted = [level * factors[d.weekday()] for d in days]
    return Model(method, level, factors, len(window), _scatter(window, fitted))


# -- the backtest -------------------------------------------------------------------------------


def backtest(
    method: str, start: date, values: Sequence[Decimal], gap: int, horizon: int
) -> list[Decimal]:
    """Ratios actual ÷ forecast of the `horizon` days that start `gap` days after each past
    origin, the method fitted on the days through the origin (latest `MAX_ORIGINS` origins with
    at least `MIN_DAYS[method]` days; an origin whose forecast is not positive is skipped)."""
    last = len(values) - 1 - gap - horizon  # the latest origin whose days are all known
    first = max(MIN_DAYS[method] - 1, last - MAX_ORIGINS + 1)
    ratios = []
    for o in range(first, last + 1):
        model = fit(method, start, values[: o + 1])
        expected = model.total(start + timedelta(days=o + 1 + gap), horizon)
        if expected > 0:
            actual = sum(values[o + 1 + gap : o + 1 + gap + horizon], Decimal(0))
            ratios.append(actual / expected)
    return ratios


def band(ratios: Sequence[Decimal]) -> tuple[Decimal, Decimal] | None:
    """The conformal P10 and P90 of the ratios, widened to hold 1 (the forecast itself); None
    when there are fewer than `MIN_ORIGINS`."""
    k = len(ratios)
    if k < MIN_ORIGINS:
        return None
    s = sorted(ratios)
    low = s[max(1, floor((k + 1) * LOW_Q)) - 1]
    high = s[min(k, ceil((k + 1) * HIGH_Q)) - 1]
    return min(low, Decimal(1)), max(high, Decimal(1))


def widened(model: Model, horizon: int, ratios: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """The unmeasured band as ratios: twice the spread the days' scatter alone gives for a sum
    of `horizon` days on a level from `model.days_in_level` days, and at least as wide as any
    ratio seen."""
    spread = (Decimal(1) / horizon + Decimal(1) / max(1, model.days_in_level)).sqrt()
    half = WIDEN * Z90 * model.scatter * spread
    low = min([max(Decimal(0), 1 - half), *ratios])
    high = max([1 + half, *ratios])
    return low, high


# -- the month ----------------------------------------------------------------------------------


def stale_reason(through: date | None, now: datetime, behind: Sequence[str] = ()) -> str | None:
    """Why a forecast is stale: its newest complete day ended more than 48 h before `now`, or
    its sources are behind (`behind`: a sentence each); None when it is not."""
    if behind:
        return "; ".join(behind)
    if through is None:
        return None
    ended = datetime.combine(through + timedelta(days=1), time(), now.tzinfo)
    if now - ended > STALE_AFTER:
        return f"the newest complete day, {through}, ended more than 48 h ago"
    return None


def forecast_month(
    days: Sequence[Day],
    now: datetime,
    *,
    through: date | None = None,
    behind: Sequence[str] = (),
) -> MonthForecast:
    """The forecast for the month of `now` (UTC) from the complete `days` (consecutive, oldest
    first). `through` is the last complete day when `days` is empty (no spend yet in the scope);
    `behind` names sources whose data is behind (the forecast is then stale)."""
    today = now.date()
    month, end = today.replace(day=1), next_month(today)
    values = [v for _, v in days]
    start = days[0][0] if days else today
    last = days[-1][0] if days else through
    if days and any(b[0] - a[0] != timedelta(days=1) for a, b in pairwise(days)):
        raise ValueError("the days must be consecutive")
    actual = sum((v for d, v in days if d >= month), Decimal(0))
    first = month if last is None else max(month, last + timedelta(days=1))
    gap = 0 if last is None else (first - last - timedelta(days=1)).days
    horizon = (end - first).days
    n = len(values)
    method = method_for(n)
    notes: list[str] = []
    stale = stale_reason(last, now, behind)
    if stale:
        notes.append(f"stale: {stale}")
    if method is None:
        basis = _mean(values) * horizon
        notes.insert(0, f"{n} complete day{'s' if n != 1 else ''} of history: 3 are needed")
        return MonthForecast(
            month, last, n, None, INSUFFICIENT_HISTORY, actual, horizon, basis,
            None, None, None, 0, tuple(notes),
        )  # fmt: skip
    model = fit(method, start, values)
    daily = tuple((d, model.day(d)) for d in (first + timedelta(days=i) for i in range(horizon)))
    remaining = sum((v for _, v in daily), Decimal(0))
    ratios = backtest(method, start, values, gap, horizon)
    measured = band(ratios)
    if measured is None:
        low, high = widened(model, horizon, ratios)
        notes.append(
            f"band not measured: {len(ratios)} backtest origin{'s' if len(ratios) != 1 else ''}"
            f" (at least {MIN_ORIGINS} needed), widened"
        )
    else:
        low, high = measured
    state = OK
    if stale:
        state = STALE
    elif method == RUN_RATE or measured is None:
        state = LOW_CONFIDENCE
    return MonthForecast(
        month, last, n, method, state, actual, horizon, remaining,
        actual + remaining * low, actual + remaining, actual + remaining * high,
        len(ratios), tuple(notes), daily=daily,
    )  # fmt: skip


# -- children that add up -----------------------------------------------------------------------


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_EVEN)


def reconcile(
    parent: MonthForecast, children: Mapping[str, MonthForecast]
) -> dict[str, MonthForecast]:
    """The children's P50s made to add up to the parent's, to the cent.

    The children partition the parent (every dollar in exactly one child), so their
    month-to-date actuals already add up. Only the remaining days are shared out, top-down: the
    parent's P50 rounded to the cent, less the actuals, is split in proportion to each child's
    own P50 of its remaining days (a child with too little history for a forecast of its own
    weighs its run rate so far; when every weight is zero, the actuals weigh, and then the
    children share evenly). Each child's actual plus its share is rounded down to the cent and
    the cents left over go one each to the largest remainders (ties: the larger amount, then
    the key), so the children's P50s add up exactly to the parent's P50 in cents. A child's
    P10 and P90 keep their place around its P50, their distance scaled by the same factor as
    its remaining days' forecast (none when nothing is left to share), and its days are its
    own days scaled to its share (`_shared_daily`). With no parent P50 (insufficient history)
    nothing changes."""
    if parent.p50 is None or not children:
        return dict(children)
    target = _cents(parent.p50)
    keys = sorted(children)
    actuals = {k: children[k].actual for k in keys}
    own = {k: _own_remaining(children[k]) for k in keys}
    weights = {k: max(Decimal(0), own[k]) for k in keys}
    if not any(weights.values()):
        weights = {k: max(Decimal(0), actuals[k]) for k in keys}
    if not any(weights.values()):
        weights = dict.fromkeys(keys, Decimal(1))
    total_weight = sum(weights.values(), Decimal(0))
    to_share = target - sum(actuals.values(), Decimal(0))
    exact = {k: actuals[k] + to_share * weights[k] / total_weight for k in keys}
    floors = {k: exact[k].quantize(CENT, ROUND_FLOOR) for k in keys}
    left = int((target - sum(floors.values(), Decimal(0))) / CENT)
    order = sorted(keys, key=lambda k: (-(exact[k] - floors[k]), -exact[k], k))
    for k in order[: max(0, left)]:
        floors[k] += CENT
    out = {}
    for k in keys:
        child, p50 = children[k], floors[k]
        share = p50 - child.actual
        scale = share / own[k] if own[k] > 0 and share > 0 else Decimal(0)
        out[k] = replace(
            child,
            p50=p50,
            p10=_scaled(child, child.p10, p50, scale),
            p90=_scaled(child, child.p90, p50, scale),
            reconciled=True,
            daily=_shared_daily(child, share, own[k]),
        )
    return out


def _scaled(
    child: MonthForecast, p: Decimal | None, p50: Decimal, scale: Decimal
) -> Decimal | None:
    """A child's band end, its distance from the child's own P50 scaled like the remaining
    days' forecast, around the reconciled P50 (none without a band of its own)."""
    if p is None or child.p50 is None:
        return None
    return p50 + (p - child.p50) * scale


def _own_remaining(f: MonthForecast) -> Decimal:
    """A child's own P50 of its remaining days (its run rate so far when it has no forecast)."""
    return f.remaining if f.p50 is None else f.p50 - f.actual


def _shared_daily(child: MonthForecast, share: Decimal, own: Decimal) -> tuple[Day, ...]:
    """A reconciled child's remaining days, adding up to its `share`: its own days scaled to it,
    or, with no forecast of its own (or one of nothing), the share spread evenly (none when
    nothing is left to share)."""
    dates = child.remaining_dates()
    if share <= 0 or not dates:
        return tuple((d, Decimal(0)) for d in dates)
    if child.daily and own > 0:
        return tuple((d, v * share / own) for d, v in child.daily)
    return tuple((d, share / len(dates)) for d in dates)
