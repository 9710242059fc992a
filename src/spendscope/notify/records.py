"""The alert tables' reads and writes: moving an alert instance to its new status, claiming
its notifications channel by channel, logging attempts, and listing the log and dead deliveries.

**Only one evaluator sends a notification.** `open_notice` reads and writes in one write
transaction, under a lock held by every `Warehouse` of this process that opens the same file
(DuckDB admits one writing process per file, so no other process can interleave): the first
evaluator inserts the `alert_deliveries` row of (channel, fingerprint, cycle, status) and sends;
the next finds the row and sends nothing. A pending delivery whose evaluator stopped (killed,
crashed) is taken over by the next evaluation after its lease has run out.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..warehouse.alert_tables import ALERT_ATTEMPTS, ALERT_DELIVERIES, ALERT_INSTANCES
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET, row_key
from .alert import Alert, Notice
from .channels import Channel
from .senders import Outcome

LEASE = timedelta(minutes=10)
INSTANCES = f"{DATASET}.{ALERT_INSTANCES.name}"
DELIVERIES = f"{DATASET}.{ALERT_DELIVERIES.name}"
ATTEMPTS = f"{DATASET}.{ALERT_ATTEMPTS.name}"

_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(warehouse: Warehouse) -> threading.Lock:
    """The lock of this warehouse file in this process (one per file, whatever the number of
    `Warehouse` objects opened on it)."""
    key = str(warehouse.path.resolve())
    with _file_locks_guard:
        return _file_locks.setdefault(key, threading.Lock())


@dataclass(frozen=True, slots=True)
class Claim:
    """A notification this evaluator sends: its channel, its delivery row, the attempts
    already made (by an evaluator that stopped)."""

    channel: Channel
    key: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A channel this evaluator sends nothing to, and why: the notification is `sent`, `dead`
    or `pending` (another evaluator holds it), or `not_notified` (a resolved message for a
    channel that never had the firing one)."""

    channel: str
    state: str
    attempts: int


def delivery_key(channel: str, fingerprint: str, cycle: int, status: str) -> str:
    return row_key("delivery", channel, fingerprint, cycle, status)


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _transition(cur: Any, alert: Alert, now: datetime) -> Notice | None:
    """Move the alert's instance to the alert's status; the notice to send, or None for a
    resolved alert that never fired."""
    row = cur.execute(
        f"SELECT status, cycle, started_at, resolved_at FROM {INSTANCES} WHERE fingerprint = ?",
        [alert.fingerprint],
    ).fetchone()
    content = [
        alert.severity,
        alert.title,
        alert.text,
        alert.links_json(),
        alert.details_json(),
    ]
    if row is None:
        if alert.status == "resolved":
            return None
        cur.execute(
            f"INSERT INTO {INSTANCES} (row_key, fingerprint, kind, scope, subject, period, "
            "severity, title, text, links_json, details_json, status, cycle, started_at, "
            "resolved_at, first_seen_at, last_evaluated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'firing', 1, ?, NULL, ?, ?)",
            [
                row_key("alert", alert.fingerprint),
                alert.fingerprint,
                alert.kind,
                alert.scope,
                alert.subject,
                alert.period,
                *content,
                now,
                now,
                now,
            ],
        )
        return Notice(alert, 1, now)
    status, cycle, started, resolved = row[0], int(row[1]), _utc(row[2]), _utc(row[3])
    if alert.status == "firing" and status == "resolved":
        cycle, started, resolved = cycle + 1, now, None
    elif alert.status == "resolved" and status == "firing":
        resolved = now
    cur.execute(
        f"UPDATE {INSTANCES} SET severity = ?, title = ?, text = ?, links_json = ?, "
        "details_json = ?, status = ?, cycle = ?, started_at = ?, resolved_at = ?, "
        "last_evaluated_at = ? WHERE fingerprint = ?",
        [*content, alert.status, cycle, started, resolved, now, alert.fingerprint],
    )
    return Notice(alert, cycle, started, resolved if alert.status == "resolved" else None)


def open_notice(
    warehouse: Warehouse, alert: Alert, channels: Sequence[Channel], now: datetime
) -> tuple[Notice | None, list[Claim], list[Skipped]]:
    """Record the alert's evaluation and claim the notifications this evaluator must send."""
    claims: list[Claim] = []
    skipped: list[Skipped] = []
    with _file_lock(warehouse), warehouse.transaction() as cur:
        notice = _transition(cur, alert, now)
        if notice is None:
            return None, [], []
        fp, cycle, status = alert.fingerprint, notice.cycle, alert.status
        for channel in channels:
            key = delivery_key(channel.name, fp, cycle, status)
            row = cur.execute(
                f"SELECT state, attempts, lease_until FROM {DELIVERIES} WHERE row_key = ?", [key]
            ).fetchone()
            if row is None:
                claim_tail = (notice.idempotency_key, now, now + LEASE)
                fired = delivery_key(channel.name, fp, cycle, "firing")
                if (
                    status == "resolved"
                    and not cur.execute(
                        f"SELECT 1 FROM {DELIVERIES} WHERE row_key = ?", [fired]
                    ).fetchone()
                ):
                    skipped.append(Skipped(channel.name, "not_notified", 0))
                    continue
                cur.execute(
                    f"INSERT INTO {DELIVERIES} (row_key, channel, channel_kind, fingerprint, "
                    "cycle, status, idempotency_key, state, attempts, claimed_at, lease_until) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                    [key, channel.name, channel.kind, fp, cycle, status, *claim_tail],
                )
                claims.append(Claim(channel, key, 0))
            elif row[0] == "pending" and (row[2] is None or _utc(row[2]) <= now):
                cur.execute(
                    f"UPDATE {DELIVERIES} SET claimed_at = ?, lease_until = ? WHERE row_key = ?",
                    [now, now + LEASE, key],
                )
                claims.append(Claim(channel, key, int(row[1])))
            else:
                skipped.append(Skipped(channel.name, str(row[0]), int(row[1])))
    return notice, claims, skipped


def preview_notice(
    warehouse: Warehouse, alert: Alert, channels: Sequence[Channel], now: datetime
) -> list[Skipped]:
    """What `open_notice` would do with `alert` at `now`, read only: per channel `would_send`,
    or the state that makes it send nothing (`sent`, `dead`, `pending`, `not_notified`). A
    resolved alert that never fired gives no row (it has nothing to clear)."""
    with warehouse.cursor() as cur:
        row = cur.execute(
            f"SELECT status, cycle FROM {INSTANCES} WHERE fingerprint = ?", [alert.fingerprint]
        ).fetchone()
        if row is None:
            if alert.status == "resolved":
                return []
            return [Skipped(c.name, "would_send", 0) for c in channels]
        cycle = int(row[1])
        if alert.status == "firing" and row[0] == "resolved":
            return [Skipped(c.name, "would_send", 0) for c in channels]
        out = []
        for channel in channels:
            key = delivery_key(channel.name, alert.fingerprint, cycle, alert.status)
            found = cur.execute(
                f"SELECT state, attempts, lease_until FROM {DELIVERIES} WHERE row_key = ?", [key]
            ).fetchone()
            if found is None:
                fired = delivery_key(channel.name, alert.fingerprint, cycle, "firing")
                notified = cur.execute(
                    f"SELECT 1 FROM {DELIVERIES} WHERE row_key = ?", [fired]
                ).fetchone()
                state = "not_notified" if alert.status == "resolved" and not notified else None
                out.append(Skipped(channel.name, state or "would_send", 0))
            elif found[0] == "pending" and (found[2] is None or _utc(found[2]) <= now):
                out.append(Skipped(channel.name, "would_send", int(found[1])))
            else:
                out.append(Skipped(channel.name, str(found[0]), int(found[1])))
    return out


def dead_summary(warehouse: Warehouse) -> tuple[int, dict[str, Any] | None]:
    """How many notifications are dead, and the newest of them (None when there is none)."""
    with warehouse.cursor() as cur:
        (count,) = cur.execute(f"SELECT count(*) FROM {DELIVERIES} WHERE state = 'dead'").fetchone()
    newest = dead_deliveries(warehouse, 1)
    return int(count), (newest[0] if newest else None)


def dead_report(warehouse: Warehouse) -> dict[str, Any]:
    """`{count, newest}` of the dead notifications, as `status` and the API show them: the
    newest with its `at`, `channel`, `title`, `status` and `error` (None when there is none)."""
    count, row = dead_summary(warehouse)
    newest = None
    if row is not None:
        newest = {
            "at": row["last_attempt_at"],
            "channel": row["channel"],
            "title": row["title"],
            "status": row["status"],
            "error": row["last_error"],
        }
    return {"count": count, "newest": newest}


def record_attempt(
    warehouse: Warehouse,
    channel: Channel,
    notice: Notice,
    *,
    attempt: int,
    at: datetime,
    outcome: Outcome,
    state: str | None = None,
    wait: float | None = None,
    key: str | None = None,
) -> None:
    """Log one attempt; with a delivery `key`, bring its row to `state` in the same
    transaction."""
    alert = notice.alert
    error = None if outcome.ok else outcome.summary()
    with warehouse.transaction() as cur:
        cur.execute(
            f"INSERT INTO {ATTEMPTS} (row_key, attempted_at, channel, channel_kind, "
            "fingerprint, alert_kind, title, status, cycle, attempt, outcome, http_status, "
            "smtp_reply, error, wait_seconds, delivery_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row_key("attempt", key, channel.name, alert.fingerprint, attempt, at.isoformat()),
                at,
                channel.name,
                channel.kind,
                alert.fingerprint,
                alert.kind,
                alert.title,
                alert.status,
                notice.cycle,
                attempt,
                outcome.outcome,
                outcome.http_status,
                outcome.smtp_reply,
                outcome.error,
                wait,
                key,
            ],
        )
        if key is None:
            return
        lease = at + timedelta(seconds=wait or 0) + LEASE if state == "pending" else None
        cur.execute(
            f"UPDATE {DELIVERIES} SET state = ?, attempts = ?, last_attempt_at = ?, "
            "last_outcome = ?, last_error = ?, lease_until = ?, "
            "sent_at = CASE WHEN ? THEN ? ELSE sent_at END WHERE row_key = ?",
            [state, attempt, at, outcome.outcome, error, lease, outcome.ok, at, key],
        )


def _rows(warehouse: Warehouse, sql: str, *params: Any) -> list[dict[str, Any]]:
    with warehouse.cursor() as cur:
        result = cur.execute(sql, list(params))
        names = [d[0] for d in result.description]
        return [{n: _utc(v) for n, v in zip(names, r, strict=True)} for r in result.fetchall()]


def attempt_log(warehouse: Warehouse, limit: int = 50) -> list[dict[str, Any]]:
    """The latest attempts, newest first."""
    return _rows(
        warehouse,
        "SELECT attempted_at, channel, channel_kind, alert_kind, title, status, cycle, attempt, "
        "outcome, http_status, smtp_reply, error, wait_seconds, fingerprint "
        f"FROM {ATTEMPTS} ORDER BY attempted_at DESC, attempt DESC, rowid DESC LIMIT ?",
        limit,
    )


def dead_deliveries(warehouse: Warehouse, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications that never arrived (marked dead), the latest first: what `status` and the
    dashboard show so that an alert that did not arrive is visible."""
    return _rows(
        warehouse,
        "SELECT d.last_attempt_at, d.channel, d.channel_kind, i.kind AS alert_kind, i.scope, "
        "i.title, d.status, d.cycle, d.attempts, d.last_outcome, d.last_error, d.fingerprint "
        f"FROM {DELIVERIES} d LEFT JOIN {INSTANCES} i USING (fingerprint) "
        "WHERE d.state = 'dead' ORDER BY d.last_attempt_at DESC NULLS LAST LIMIT ?",
        limit,
    )
