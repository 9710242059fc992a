"""The alert tables' reads and writes: moving an alert instance to its new status, claiming
its notifications channel by channel, logging attempts, and listing the log and dead deliveries.

**Only one evaluator sends a notification.** `open_notice` reads and writes in one write
transaction, under a lock held by every `Warehouse` of this process that opens the same file
(DuckDB admits one writing process per file, so no other process can interleave): the first
evaluator inserts the `alert_deliveries` row of (channel, fingerprint, cycle, status) and sends;
the next finds the row and sends nothing. A pending delivery whose evaluator stopped (killed,
crashed) is taken over by the next evaluation after its lease has run out.

**Routes.** A channel the routes do not give the alert to gets no row. A row a route holds is
inserted `held` with when it is due and its group (`batches` sends it when due). A
still-firing alert whose last notification to a channel was sent a route's repeat interval ago
gets the next repeat's row (`repeat` 1, 2, …), inserted the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..warehouse.alert_tables import ALERT_ATTEMPTS, ALERT_DELIVERIES, ALERT_INSTANCES
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET, row_key
from .alert import Alert, Notice
from .channels import Channel
from .routes import Route, route_for
from .senders import Outcome

LEASE = timedelta(minutes=10)
INSTANCES = f"{DATASET}.{ALERT_INSTANCES.name}"
DELIVERIES = f"{DATASET}.{ALERT_DELIVERIES.name}"
ATTEMPTS = f"{DATASET}.{ALERT_ATTEMPTS.name}"

_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def file_lock(warehouse: Warehouse) -> threading.Lock:
    """The lock of this warehouse file in this process (one per file, whatever the number of
    `Warehouse` objects opened on it)."""
    key = str(warehouse.path.resolve())
    with _file_locks_guard:
        return _file_locks.setdefault(key, threading.Lock())


@dataclass(frozen=True, slots=True)
class Claim:
    """A notification this evaluator sends: its channel, its delivery row, the attempts
    already made (by an evaluator that stopped), and which repeat of the alert it is."""

    channel: Channel
    key: str
    attempts: int
    repeat: int = 0


@dataclass(frozen=True, slots=True)
class Skipped:
    """A channel this evaluator sends nothing to now, and why: the notification is `sent`,
    `dead`, `pending` (another evaluator holds it) or `held` until `due` (a route holds it for
    its group, the end of quiet hours or the digest), or `not_notified` (a resolved message for
    a channel that never had the firing one). A preview says `would_send` or `would_hold`."""

    channel: str
    state: str
    attempts: int
    due: datetime | None = None


def delivery_key(channel: str, fingerprint: str, cycle: int, status: str, repeat: int = 0) -> str:
    if repeat:
        return row_key("delivery", channel, fingerprint, cycle, status, repeat)
    return row_key("delivery", channel, fingerprint, cycle, status)


def as_utc(value: Any) -> Any:
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
    status, cycle, started, resolved = row[0], int(row[1]), as_utc(row[2]), as_utc(row[3])
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


@dataclass(frozen=True, slots=True)
class _Step:
    """What to do for one channel: `new` (insert repeat `repeat`, held until `due` with
    `group_key` when due is set), `claim` (take over the pending row `key`), or `skip`."""

    action: str
    state: str = ""
    key: str = ""
    attempts: int = 0
    repeat: int = 0
    due: datetime | None = None
    group_key: str | None = None

    def skipped(self, channel: str) -> Skipped:
        return Skipped(channel, self.state, self.attempts, self.due)


def _step(
    cur: Any, channel: str, alert: Alert, cycle: int, route: Route | None, now: datetime
) -> _Step:
    """Decide, from the delivery rows of (channel, alert, cycle, status), what this evaluation
    does for `channel`."""
    fp, status = alert.fingerprint, alert.status
    row = cur.execute(
        f"SELECT row_key, state, attempts, lease_until, sent_at, coalesce(repeat, 0), due_at "
        f"FROM {DELIVERIES} WHERE channel = ? AND fingerprint = ? AND cycle = ? AND status = ? "
        "ORDER BY coalesce(repeat, 0) DESC LIMIT 1",
        [channel, fp, cycle, status],
    ).fetchone()
    repeat = 0
    if row is not None:
        key, state, attempts, lease, sent_at = row[0], str(row[1]), int(row[2]), row[3], row[4]
        if state == "pending" and (lease is None or as_utc(lease) <= now):
            return _Step("claim", key=key, attempts=attempts, repeat=int(row[5]))
        every = route.repeat_interval if route is not None else None
        again = (
            status == "firing"
            and state == "sent"
            and every
            and sent_at is not None
            and as_utc(sent_at) + timedelta(seconds=every) <= now
        )
        if not again:
            due = as_utc(row[6]) if state == "held" else None
            return _Step("skip", state=state, attempts=attempts, due=due)
        repeat = int(row[5]) + 1
    elif status == "resolved":
        fired = delivery_key(channel, fp, cycle, "firing")
        if not cur.execute(f"SELECT 1 FROM {DELIVERIES} WHERE row_key = ?", [fired]).fetchone():
            return _Step("skip", state="not_notified")
    held = None
    if route is not None:
        group = route.group_key(alert)
        (open_due,) = cur.execute(
            f"SELECT min(due_at) FROM {DELIVERIES} WHERE channel = ? AND group_key = ? "
            "AND state = 'held' AND due_at >= ?",
            [channel, group, now],
        ).fetchone()
        held = route.hold(alert, now, as_utc(open_due))
    if held is None:
        return _Step("new", repeat=repeat)
    return _Step("new", repeat=repeat, due=held[0], group_key=held[1])


def _steps(
    cur: Any,
    channels: Sequence[Channel],
    alert: Alert,
    cycle: int,
    routes: Sequence[Route],
    now: datetime,
) -> Iterator[tuple[Channel, _Step]]:
    """Each channel the routes give `alert` to, with what to do for it."""
    for channel in channels:
        routed, route = route_for(channel.name, alert, routes)
        if routed:
            yield channel, _step(cur, channel.name, alert, cycle, route, now)


def open_notice(
    warehouse: Warehouse,
    alert: Alert,
    channels: Sequence[Channel],
    now: datetime,
    routes: Sequence[Route] = (),
) -> tuple[Notice | None, list[Claim], list[Skipped]]:
    """Record the alert's evaluation and claim the notifications this evaluator must send now;
    the ones `routes` hold are recorded `held` (sent later by `claim_due`). A channel the
    routes do not give the alert to is left out."""
    claims: list[Claim] = []
    skipped: list[Skipped] = []
    with file_lock(warehouse), warehouse.transaction() as cur:
        notice = _transition(cur, alert, now)
        if notice is None:
            return None, [], []
        fp, cycle, status = alert.fingerprint, notice.cycle, alert.status
        for channel, step in _steps(cur, channels, alert, cycle, routes, now):
            if step.action == "skip":
                skipped.append(step.skipped(channel.name))
            elif step.action == "claim":
                cur.execute(
                    f"UPDATE {DELIVERIES} SET claimed_at = ?, lease_until = ? WHERE row_key = ?",
                    [now, now + LEASE, step.key],
                )
                claims.append(Claim(channel, step.key, step.attempts, step.repeat))
            else:
                key = delivery_key(channel.name, fp, cycle, status, step.repeat)
                held = step.due is not None
                ikey = replace(notice, repeat=step.repeat).idempotency_key
                cur.execute(
                    f"INSERT INTO {DELIVERIES} (row_key, channel, channel_kind, fingerprint, "
                    "cycle, status, idempotency_key, state, attempts, claimed_at, lease_until, "
                    "repeat, due_at, group_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                    [
                        key,
                        channel.name,
                        channel.kind,
                        fp,
                        cycle,
                        status,
                        ikey,
                        "held" if held else "pending",
                        now,
                        None if held else now + LEASE,
                        step.repeat,
                        step.due,
                        step.group_key,
                    ],
                )
                if held:
                    skipped.append(Skipped(channel.name, "held", 0, step.due))
                else:
                    claims.append(Claim(channel, key, 0, step.repeat))
    return notice, claims, skipped


def preview_notice(
    warehouse: Warehouse,
    alert: Alert,
    channels: Sequence[Channel],
    now: datetime,
    routes: Sequence[Route] | None = None,
) -> list[Skipped]:
    """What `open_notice` would do with `alert` at `now`, read only: per channel `would_send`,
    `would_hold` (with when it would be due), or the state that makes it send nothing (`sent`,
    `dead`, `pending`, `held`, `not_notified`). A resolved alert that never fired gives no row
    (it has nothing to clear). `routes` default to the home's."""
    if routes is None:
        from .channels import ChannelStore

        routes = ChannelStore(warehouse.settings).routes()
    with warehouse.cursor() as cur:
        row = cur.execute(
            f"SELECT status, cycle FROM {INSTANCES} WHERE fingerprint = ?", [alert.fingerprint]
        ).fetchone()
        if row is None and alert.status == "resolved":
            return []
        cycle = 1 if row is None else int(row[1])
        if row is not None and alert.status == "firing" and row[0] == "resolved":
            cycle += 1
        out = []
        for channel, step in _steps(cur, channels, alert, cycle, routes, now):
            if step.action == "skip":
                out.append(step.skipped(channel.name))
            elif step.due is not None:
                out.append(Skipped(channel.name, "would_hold", step.attempts, step.due))
            else:
                out.append(Skipped(channel.name, "would_send", step.attempts))
    return out


def instance_status(warehouse: Warehouse, fingerprint: str) -> str | None:
    """The alert's status (`firing`, `resolved`), or None when it never fired."""
    with warehouse.cursor() as cur:
        row = cur.execute(
            f"SELECT status FROM {INSTANCES} WHERE fingerprint = ?", [fingerprint]
        ).fetchone()
    return None if row is None else str(row[0])


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
    record_attempts(
        warehouse,
        channel,
        [(notice, key)],
        attempt=attempt,
        at=at,
        outcome=outcome,
        state=state,
        wait=wait,
    )


def record_attempts(
    warehouse: Warehouse,
    channel: Channel,
    notices: Sequence[tuple[Notice, str | None]],
    *,
    attempt: int,
    at: datetime,
    outcome: Outcome,
    state: str | None = None,
    wait: float | None = None,
) -> None:
    """Log one attempt of a message carrying `notices` (one row per notice and its delivery
    key), and bring each delivery row to `state`, in one transaction."""
    error = None if outcome.ok else outcome.summary()
    lease = at + timedelta(seconds=wait or 0) + LEASE if state == "pending" else None
    with warehouse.transaction() as cur:
        for notice, key in notices:
            alert = notice.alert
            cur.execute(
                f"INSERT INTO {ATTEMPTS} (row_key, attempted_at, channel, channel_kind, "
                "fingerprint, alert_kind, title, status, cycle, attempt, outcome, http_status, "
                "smtp_reply, error, wait_seconds, delivery_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    row_key(
                        "attempt", key, channel.name, alert.fingerprint, attempt, at.isoformat()
                    ),
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
                continue
            cur.execute(
                f"UPDATE {DELIVERIES} SET state = ?, attempts = ?, last_attempt_at = ?, "
                "last_outcome = ?, last_error = ?, lease_until = ?, "
                "sent_at = CASE WHEN ? THEN ? ELSE sent_at END WHERE row_key = ?",
                [state, attempt, at, outcome.outcome, error, lease, outcome.ok, at, key],
            )


def query_rows(warehouse: Warehouse, sql: str, *params: Any) -> list[dict[str, Any]]:
    with warehouse.cursor() as cur:
        result = cur.execute(sql, list(params))
        names = [d[0] for d in result.description]
        return [{n: as_utc(v) for n, v in zip(names, r, strict=True)} for r in result.fetchall()]


def attempt_log(warehouse: Warehouse, limit: int = 50) -> list[dict[str, Any]]:
    """The latest attempts, newest first."""
    return query_rows(
        warehouse,
        "SELECT attempted_at, channel, channel_kind, alert_kind, title, status, cycle, attempt, "
        "outcome, http_status, smtp_reply, error, wait_seconds, fingerprint "
        f"FROM {ATTEMPTS} ORDER BY attempted_at DESC, attempt DESC, rowid DESC LIMIT ?",
        limit,
    )


def dead_deliveries(warehouse: Warehouse, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications that never arrived (marked dead), the latest first: what `status` and the
    dashboard show so that an alert that did not arrive is visible."""
    return query_rows(
        warehouse,
        "SELECT d.last_attempt_at, d.channel, d.channel_kind, i.kind AS alert_kind, i.scope, "
        "i.title, d.status, d.cycle, d.attempts, d.last_outcome, d.last_error, d.fingerprint "
        f"FROM {DELIVERIES} d LEFT JOIN {INSTANCES} i USING (fingerprint) "
        "WHERE d.state = 'dead' ORDER BY d.last_attempt_at DESC NULLS LAST LIMIT ?",
        limit,
    )
