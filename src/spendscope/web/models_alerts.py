"""The REST API's alert answers and request bodies, as pydantic models: the delivery log, the
notifications that never arrived, and an evaluation (what `spendscope alerts evaluate` prints
with `--json`, the same whether it runs locally or through a running server)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .models import Out

Status = Literal["firing", "resolved"]
Severity = Literal["info", "warning", "critical"]


class AttemptOut(Out):
    attempted_at: datetime = Field(description="When the attempt started (UTC).")
    channel: str = Field(description="The channel's name.")
    channel_kind: str = Field(description="`webhook`, `slack` or `email`.")
    alert_kind: str = Field(description="The alert's kind (`test` for `alerts test-send`).")
    title: str = Field(description="The alert's title.")
    status: Status = Field(description="Which notification: `firing` or `resolved`.")
    cycle: int = Field(description="The alert's cycle.")
    attempt: int = Field(description="1 for a notification's first attempt, 2 for the next, …")
    outcome: Literal["sent", "failed", "rate_limited", "rejected"] = Field(
        description="How the attempt ended."
    )
    http_status: int | None = Field(description="The HTTP status answered (webhook, Slack).")
    smtp_reply: str | None = Field(description="The SMTP reply (e-mail): code and text.")
    error: str | None = Field(description="What went wrong, on one line, without secrets.")
    wait_seconds: float | None = Field(description="The wait before the next attempt.")
    fingerprint: str = Field(description="The alert's fingerprint.")


class AttemptsOut(Out):
    attempts: list[AttemptOut] = Field(description="The latest attempts, newest first.")


class DeadOut(Out):
    last_attempt_at: datetime | None = Field(description="The last attempt (UTC).")
    channel: str = Field(description="The channel it was for.")
    channel_kind: str = Field(description="`webhook`, `slack` or `email`.")
    alert_kind: str | None = Field(description="The alert's kind.")
    scope: str | None = Field(description="The alert's scope.")
    title: str | None = Field(description="The alert's title.")
    status: Status = Field(description="Which notification: `firing` or `resolved`.")
    cycle: int = Field(description="The alert's cycle.")
    attempts: int = Field(description="Attempts made.")
    last_outcome: str | None = Field(description="How the last attempt ended.")
    last_error: str | None = Field(description="The last attempt's error, without secrets.")
    fingerprint: str = Field(description="The alert's fingerprint.")


class DeadListOut(Out):
    deliveries: list[DeadOut] = Field(
        description="Notifications never delivered (marked dead), the latest first."
    )


class DeliveryOut(Out):
    channel: str = Field(description="The channel.")
    state: str = Field(
        description="`sent`, `dead`, `held` (a route holds it until `due`), or, when nothing "
        "was sent now, why: `pending` (another evaluation is sending it), `not_notified`; in a "
        "dry run `would_send` or `would_hold`."
    )
    attempts: int = Field(description="Attempts made.")
    sent_now: bool = Field(description="Whether this evaluation delivered it.")
    outcome: str | None = Field(description="The last attempt's outcome, if one was made now.")
    http_status: int | None = Field(description="Its HTTP status (webhook, Slack).")
    error: str | None = Field(description="Its error, without secrets.")
    due: datetime | None = Field(description="A held notification: when it is due.")


class AlertOut(Out):
    status: Status = Field(description="`firing` or `resolved`.")
    severity: Severity = Field(description="`info`, `warning` or `critical`.")
    kind: str = Field(description="What raised it: `budget`, `anomaly`, `sync_failing`, …")
    scope: str = Field(description="What it is about: `organization` or `dimension:value`.")
    subject: str = Field(description="What within the scope (a budget and threshold, …).")
    period: str = Field(description="The period it concerns (a month, a day), or empty.")
    title: str = Field(description="Its one-line title.")
    text: str = Field(description="Its message.")
    fingerprint: str = Field(description="The alert's stable identity.")
    details: dict[str, Any] = Field(description="What its evaluator adds.")
    deliveries: list[DeliveryOut] = Field(description="What became of it on each channel.")


class NotificationOut(Out):
    status: Status = Field(description="`firing` or `resolved`.")
    severity: Severity = Field(description="`info`, `warning` or `critical`.")
    kind: str = Field(description="The alert's kind.")
    title: str = Field(description="The alert's title.")
    fingerprint: str = Field(description="The alert's fingerprint.")
    repeat: int = Field(description="0 for the first notification, 1, 2, … for repeats.")


class FlushedOut(Out):
    kind: Literal["group", "digest"] = Field(
        description="A group (notifications of one route group due together) or a channel's "
        "daily digest."
    )
    label: str = Field(description="The route and grouped values, or the digest's day.")
    channel: str = Field(description="The channel it went to.")
    notifications: list[NotificationOut] = Field(description="The notifications it carried.")
    state: str = Field(description="`sent` or `dead`.")
    attempts: int = Field(description="Attempts made.")
    sent_now: bool = Field(description="Whether it was delivered.")
    outcome: str | None = Field(description="The last attempt's outcome.")
    http_status: int | None = Field(description="Its HTTP status (webhook, Slack).")
    error: str | None = Field(description="Its error, without secrets.")


class HeldOut(Out):
    channel: str = Field(description="The channel they are held for.")
    group_key: str = Field(description="The group (`route:NAME:{…}`) or `digest`.")
    notifications: int = Field(description="How many notifications are held in it.")
    due_at: datetime = Field(description="When the first of them is due.")
    due_now: bool = Field(description="Whether it is due (sent by the next evaluation).")


class EvaluationOut(Out):
    evaluated_at: datetime = Field(description="The time evaluated for.")
    dry_run: bool = Field(description="Whether this was a dry run (nothing sent or changed).")
    channels: list[str] = Field(description="The channels.")
    events: int = Field(description="How many budget events the evaluation found.")
    alerts: list[AlertOut] = Field(
        description="Each alert the evaluation found, and what became of it on each channel."
    )
    sent: int = Field(description="Notifications delivered now (in messages of their own).")
    failed: int = Field(description="Notifications that died now.")
    flushed: list[FlushedOut] = Field(
        description="Messages of held notifications that fell due and were sent (not in a dry run)."
    )
    held: list[HeldOut] = Field(
        description="The notifications still held by routes, per channel and group."
    )


class EvaluateIn(BaseModel):
    dry_run: bool = Field(
        False, description="Say what would be sent and to whom; send nothing, change nothing."
    )
