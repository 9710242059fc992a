"""The REST API's watch answers, as pydantic models: month-end forecasts of a scope and of the
values within it.

Fields come in the order `spendscope.watch.outlook.answer` gives them, so `spendscope forecast
--json` prints the same thing whether it reads the warehouse or a running server.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from .models import Money, Out

State = Literal["ok", "low_confidence", "insufficient_history", "stale"]
Method = Literal["run_rate", "weekday_profile", "seasonal"]


class DayForecastOut(Out):
    day: date = Field(description="A remaining day of the month.")
    p10: Money | None = Field(
        description="The day's share of the band's low end: its P50 × (month P10 − month to "
        "date) ÷ (month P50 − month to date), to the cent; null with no band."
    )
    p50: Money = Field(description="The day's forecast billed cost (to the cent).")
    p90: Money | None = Field(
        description="The day's share of the band's high end, as `p10`; null with no band."
    )


class ScopeForecastOut(Out):
    scope: str | None = Field(
        description="The scope: `organization` or `dimension:value` (null for `Other`, the "
        "values beyond the biggest 100 of a breakdown)."
    )
    key: str = Field(description="The value's key (`__none__`: no value; `__other__`: Other).")
    label: str = Field(description="What people read for it.")
    state: State = Field(
        description="`ok`; `low_confidence` (run rate, or a band not measured); "
        "`insufficient_history` (fewer than 3 complete days: no forecast); `stale` (the newest "
        "complete day ended more than 48 h ago, or the source's data is behind)."
    )
    method: Method | None = Field(
        description="`run_rate` (3–13 complete days), `weekday_profile` (14–27) or `seasonal` "
        "(28 and more); null without a forecast."
    )
    history_days: int = Field(description="Complete days of history, from the first with spend.")
    complete_through: date | None = Field(
        description="The last complete day: the month to date runs through it."
    )
    month_to_date: Money = Field(description="Billed cost of the month's complete days, exact.")
    remaining_days: int = Field(
        description="Days of the month forecast: the incomplete ones (provisional days, today) "
        "and those to come."
    )
    p10: Money | None = Field(description="Month-end billed cost, 10th percentile (to the cent).")
    p50: Money | None = Field(description="Month-end billed cost, the forecast (to the cent).")
    p90: Money | None = Field(description="Month-end billed cost, 90th percentile (to the cent).")
    backtest_origins: int = Field(
        description="Past origins the band was measured on (at least 10 for a measured band)."
    )
    reconciled: bool = Field(
        description="Whether the P50 (and band) was reconciled so a breakdown adds up."
    )
    notes: list[str] = Field(description="Why the forecast is stale, low-confidence or missing.")
    days: list[DayForecastOut] = Field(
        description="The remaining days, oldest first, through the month's last day: each "
        "day's forecast, adding up to `p50` less `month_to_date` (to rounding), and the month's "
        "band spread over the days in proportion to it — the band of their sum, not of each "
        "day (one day scatters more). Empty without a forecast."
    )


class ForecastOut(Out):
    as_of: datetime = Field(description="The time the forecast was made for.")
    month: str = Field(description="The month forecast, `YYYY-MM` (UTC).")
    scope: str = Field(description="The scope, its value as stored (a name becomes its id).")
    by: str | None = Field(description="The breakdown's dimension, or null.")
    complete_through: date = Field(description="The last complete day of the scope's sources.")
    forecast: ScopeForecastOut = Field(description="The scope's forecast.")
    children: list[ScopeForecastOut] = Field(
        description="With `by`: each value's forecast, biggest spend first (then `Other`); "
        "their P50s add up to the scope's to the cent."
    )


class DeadDeliveryOut(Out):
    at: datetime | None = Field(description="The last attempt (UTC).")
    channel: str = Field(description="The channel it was for.")
    title: str = Field(description="The alert's title.")
    status: str = Field(description="`firing` or `resolved`.")
    error: str | None = Field(description="The last attempt's error, without secrets.")


class DeadDeliveriesOut(Out):
    """Notifications that never arrived: every attempt failed (see `alerts log --dead`)."""

    count: int = Field(description="How many notifications are dead.")
    newest: DeadDeliveryOut | None = Field(description="The most recent of them, if any.")
