"""The alert tables: every alert instance with its state (`alert_instances`), every
notification of it to a channel with its delivery state (`alert_deliveries`), and every attempt
to send one (`alert_attempts`, the delivery log).

They belong to the warehouse, not to a connection: deleting a connection leaves them alone.
Channels are configuration and live in `channels.json`, not here. See `docs/alerts.md`.
"""

from __future__ import annotations

import pyarrow as pa

from .tables import TS, Column, Table, _i, _s


def _key(doc: str) -> Column:
    return Column("row_key", pa.string(), False, doc)


def _text(name: str, doc: str) -> Column:
    return Column(name, pa.string(), False, doc)


def _whole(name: str, doc: str) -> Column:
    return Column(name, pa.int64(), False, doc)


ALERT_INSTANCES = Table(
    name="alert_instances",
    doc="One row per alert, keyed by its fingerprint (a digest of kind, scope, subject and "
    "period): its current status and cycle, and what it said last. An alert that fires again "
    "after resolving starts its next cycle.",
    kind="alerts",
    columns=(
        _key("Digest of the fingerprint."),
        _text("fingerprint", "The alert's identity: 32 hex digits of SHA-256."),
        _text("kind", "What raised it (budget, anomaly, forecast, sync, …)."),
        _text("scope", "What it is about: organization, or dimension:value (team:payments)."),
        _s("subject", "What within the scope (a budget and threshold, a day, …)."),
        _s("period", "The period it concerns (a month such as 2026-11, a day)."),
        _text("severity", "info, warning or critical."),
        _text("title", "Its one-line title."),
        _s("text", "Its message."),
        _s("links_json", "Its links: a JSON list of {title, url}."),
        _s("details_json", "The evaluator's details (JSON object)."),
        _text("status", "firing or resolved."),
        _whole("cycle", "1 for its first firing, 2 when it fires again after resolving, …"),
        Column("started_at", TS, False, "When the current cycle began firing."),
        Column("resolved_at", TS, True, "When the current cycle resolved; null while firing."),
        Column("first_seen_at", TS, False, "When it first fired."),
        Column("last_evaluated_at", TS, False, "The last evaluation that reported it."),
    ),
)
ALERT_DELIVERIES = Table(
    name="alert_deliveries",
    doc="One row per notification and channel: an alert's status in one cycle, sent once to a "
    "channel. `row_key` digests channel, fingerprint, cycle and status; the evaluator that "
    "inserts it (in a write transaction, under a lock of the warehouse file) is the one that "
    "sends it, so evaluating again or twice at once sends nothing more.",
    kind="alerts",
    columns=(
        _key("Digest of channel, fingerprint, cycle and status."),
        _text("channel", "The channel's name."),
        _text("channel_kind", "webhook, slack or email."),
        _text("fingerprint", "The alert (see `alert_instances`)."),
        _whole("cycle", "The alert's cycle."),
        _text("status", "firing or resolved: which notification."),
        _text("idempotency_key", "Sent with it; the same for every attempt."),
        _text(
            "state",
            "held (waiting for its group, the end of quiet hours or the digest), pending (being "
            "sent or waiting to retry), sent, or dead.",
        ),
        _whole("attempts", "Attempts made so far."),
        Column("claimed_at", TS, False, "When an evaluator took it on."),
        Column(
            "lease_until",
            TS,
            True,
            "Until when that evaluator holds it; after, another "
            "evaluation resumes a pending delivery.",
        ),
        Column("last_attempt_at", TS, True, "When it was last tried."),
        _s("last_outcome", "sent, failed, rate_limited or rejected."),
        _s("last_error", "The last attempt's error, without secrets."),
        Column("sent_at", TS, True, "When it was delivered."),
        _i(
            "repeat",
            "0 (or null) for the first notification; 1, 2, … for the repeats of a "
            "still-firing alert (a route's repeat interval).",
        ),
        Column("due_at", TS, True, "A held notification: when it is due."),
        _s(
            "group_key",
            "A held notification: the group it is sent with (its route and grouped "
            "values, or `digest`); null when sent on its own.",
        ),
    ),
)
ALERT_ATTEMPTS = Table(
    name="alert_attempts",
    doc="The delivery log: one row per attempt to send a notification (test sends included), "
    "with its outcome and the receiver's answer. Error texts never hold a channel's secrets.",
    kind="alerts",
    columns=(
        _key("Digest of the delivery, channel, alert, attempt and its time."),
        Column("attempted_at", TS, False, "When the attempt started."),
        _text("channel", "The channel's name."),
        _text("channel_kind", "webhook, slack or email."),
        _text("fingerprint", "The alert."),
        _text("alert_kind", "The alert's kind (`test` for `alerts test-send`)."),
        _text("title", "The alert's title."),
        _text("status", "firing or resolved."),
        _whole("cycle", "The alert's cycle."),
        _whole("attempt", "1 for the first attempt of the notification, 2 for the next, …"),
        _text("outcome", "sent, failed, rate_limited or rejected."),
        _i("http_status", "The HTTP status answered (webhook, slack)."),
        _s("smtp_reply", "The SMTP reply (email): code and text."),
        _s("error", "What went wrong, on one line, without secrets."),
        Column("wait_seconds", pa.float64(), True, "The wait before the next attempt."),
        _s("delivery_key", "The `alert_deliveries` row; null for a test send."),
    ),
)

ALERT_TABLES: tuple[Table, ...] = (ALERT_INSTANCES, ALERT_DELIVERIES, ALERT_ATTEMPTS)
