"""The REST API's anomaly answers and request body, as pydantic models.

Fields come in the order `spendscope.watch.anomaly_view` gives them, so `spendscope anomalies
--json` prints the same thing whether it reads the warehouse or a running server. Money is
exact decimal text in US dollars, to the cent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from .models import Money, Out

AnomalyState = Literal["active", "past", "resolved"]
Feedback = Literal["expected", "unexpected"]


class DriverOut(Out):
    dimension: str = Field(
        description="The child dimension: `connection`, an allocation dimension, `workspace`, "
        "`api_key`, `user` or `model`."
    )
    value: str = Field(description="The value, as people read it (a key's or workspace's name).")
    actual: Money = Field(description="Its billed cost on the anomaly's day.")
    expected: Money = Field(description="Its own expected cost that day (its baseline).")
    impact: Money = Field(description="actual − expected: its part of the change.")


class AnomalyOut(Out):
    id: str = Field(
        description="The anomaly's stable identity: the fingerprint of its alert (kind, scope, "
        "day)."
    )
    day: date = Field(description="The day of the anomaly (UTC), the first of its episode.")
    scope: str = Field(
        description="`organization`, `connection`, an allocation dimension (e.g. `team`), "
        "`workspace`, `api_key`, `user` or `model`."
    )
    value: str = Field(
        description="The scope's value as people read it; empty for the organization."
    )
    actual: Money = Field(description="The day's billed cost.")
    expected: Money = Field(description="What the baseline expected the day to cost.")
    low: Money = Field(description="The band's low end: a robust score of −3.5 (at least 0).")
    high: Money = Field(description="The band's high end: a robust score of 3.5.")
    impact: Money = Field(description="actual − expected.")
    score: str = Field(
        description="The robust z of the day, one decimal (an anomaly scores 3.5 or more).",
        pattern=r"^-?[0-9]+\.[0-9]$",
    )
    method: Literal["mad", "seasonal"] = Field(
        description="`mad`: against the trailing-14-day median (14–27 days of history); "
        "`seasonal`: against a same-weekday baseline scaled to the current level (28 and more)."
    )
    state: AnomalyState = Field(
        description="`active` (the newest scored day, or spend still elevated), `past` (back to "
        "normal since) or `resolved` (revised away, marked expected, or muted)."
    )
    reason: str | None = Field(
        description="Why it is past or resolved: `back_to_normal`, `revised`, "
        "`marked_expected` or `muted`; null while active."
    )
    feedback: Feedback | None = Field(description="The feedback given, or null.")
    drivers: list[DriverOut] = Field(
        description="The values of the child dimensions that explain the change, biggest "
        "impact first (the 3 biggest of each dimension, 10 at most)."
    )


class AnomaliesOut(Out):
    anomalies: list[AnomalyOut] = Field(
        description="The anomalies of the days asked, newest day first, biggest impact first "
        "within a day."
    )
    as_of: datetime = Field(description="The time of the evaluation.")


class SeriesPointOut(Out):
    day: date = Field(description="A complete day of the scope.")
    actual: Money = Field(description="Its billed cost.")
    expected: Money | None = Field(
        description="Its expected cost (null before the scope has 14 days of history)."
    )
    low: Money | None = Field(description="The band's low end, or null.")
    high: Money | None = Field(description="The band's high end, or null.")


class AnomalyDetailOut(AnomalyOut):
    series: list[SeriesPointOut] = Field(
        description="The scope's complete days up to and including the anomaly's day (56 at "
        "most; none before its first day with spend), with the baseline of each."
    )


class FeedbackIn(BaseModel):
    feedback: Feedback = Field(
        description="`expected` resolves the anomaly and mutes similar ones (the same scope "
        "and value, up to 30 days after it, at most twice its impact); `unexpected` confirms "
        "it."
    )
