"""Held notifications and the batches they are sent in: a route holds a notification (for its
group, the end of quiet hours, the channel's digest) as an `alert_deliveries` row in state
`held` with when it is due and its group; `claim_due` turns the due ones into batches, one
message per channel and group, in one write transaction under the lock of the warehouse file
(see `records`), so two flushes at once claim each notification once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..warehouse.connection import Warehouse
from .alert import Alert, Link, Notice
from .channels import Channel
from .records import DELIVERIES, INSTANCES, LEASE, as_utc, file_lock, query_rows


@dataclass(frozen=True, slots=True)
class Member:
    """One notification of a batch: the notice, its delivery row, the attempts made."""

    notice: Notice
    key: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Held notifications due together on one channel: one message. `group_key` is the
    group's (see `routes.Route.group_key`)."""

    channel: Channel
    group_key: str
    members: tuple[Member, ...]


def _notice(row: Sequence[Any]) -> Notice:
    """A held notice back from its delivery row and its alert's instance (the instance's
    latest content, the row's status, cycle and repeat)."""
    (fp, cycle, status, repeat, claimed, kind, scope, subject, period, severity) = row[:10]
    (title, text, links, details, now_cycle, started, resolved) = row[10:17]
    alert = Alert(
        kind=kind,
        scope=scope,
        subject=subject or "",
        period=period or "",
        severity=severity,
        title=title,
        text=text or "",
        status=status,
        links=tuple(Link(str(x["title"]), str(x["url"])) for x in json.loads(links or "[]")),
        details=json.loads(details or "{}"),
        fingerprint=fp,
    )
    same = int(now_cycle) == int(cycle)
    begun = as_utc(started) if same else as_utc(claimed)
    ended = (as_utc(resolved) if same else as_utc(claimed)) if status == "resolved" else None
    return Notice(alert, int(cycle), begun, ended, int(repeat))


def claim_due(warehouse: Warehouse, channels: Sequence[Channel], now: datetime) -> list[Batch]:
    """Claim the held notifications due at `now` (and grouped ones whose sender stopped), one
    batch per channel and group. Two callers at once claim each notification once. Those of a
    channel that was removed are dead."""
    by_name = {c.name: c for c in channels}
    batches: list[Batch] = []
    with file_lock(warehouse), warehouse.transaction() as cur:
        rows = cur.execute(
            "SELECT d.row_key, d.channel, d.group_key, d.attempts, d.fingerprint, d.cycle, "
            "d.status, coalesce(d.repeat, 0), d.claimed_at, i.kind, i.scope, i.subject, "
            "i.period, i.severity, i.title, i.text, i.links_json, i.details_json, i.cycle, "
            f"i.started_at, i.resolved_at FROM {DELIVERIES} d JOIN {INSTANCES} i "
            "USING (fingerprint) WHERE d.group_key IS NOT NULL AND ((d.state = 'held' AND "
            "d.due_at <= ?) OR (d.state = 'pending' AND d.lease_until <= ?)) "
            "ORDER BY d.channel, d.group_key, d.due_at, d.claimed_at, d.row_key",
            [now, now],
        ).fetchall()
        groups: dict[tuple[str, str], list[Member]] = {}
        for r in rows:
            member = Member(_notice(r[4:]), str(r[0]), int(r[3]))
            groups.setdefault((str(r[1]), str(r[2])), []).append(member)
        for (name, group), members in groups.items():
            keys = [m.key for m in members]
            marks = ", ".join("?" for _ in keys)
            channel = by_name.get(name)
            if channel is None:
                cur.execute(
                    f"UPDATE {DELIVERIES} SET state = 'dead', last_attempt_at = ?, "
                    "last_error = 'the channel was removed before it was sent', "
                    f"lease_until = NULL WHERE row_key IN ({marks})",
                    [now, *keys],
                )
                continue
            cur.execute(
                f"UPDATE {DELIVERIES} SET state = 'pending', claimed_at = ?, lease_until = ? "
                f"WHERE row_key IN ({marks})",
                [now, now + LEASE, *keys],
            )
            batches.append(Batch(channel, group, tuple(members)))
    return batches


def held_report(warehouse: Warehouse, now: datetime) -> list[dict[str, Any]]:
    """The held notifications per channel and group: how many, and when the first is due
    (`due_now`: already due, sent by the next flush)."""
    return [
        {**r, "due_now": r["due_at"] <= now}
        for r in query_rows(
            warehouse,
            f"SELECT channel, group_key, count(*) AS notifications, min(due_at) AS due_at "
            f"FROM {DELIVERIES} WHERE state = 'held' GROUP BY 1, 2 ORDER BY due_at, channel",
        )
    ]
