"""Delivering an alert to its channels: once per channel and status, every attempt logged,
failures retried with exponential backoff, and the notification marked `dead` when the attempts
run out, so that an alert that did not arrive is visible (`records.dead_deliveries`).

`deliver()` is what the evaluators (budgets, anomalies, sync health) call with each alert they
see, firing or resolved, as often as they evaluate: the alert instance is persisted, the home's
routes decide which channels get it, and only notifications not yet claimed are sent (see
`records`); those a route holds (grouping, quiet hours, digest) are sent by `flush()` once due,
one message per group. The wait after attempt n is `alert_backoff_seconds × 2^(n-1)`, at most
`MAX_WAIT_SECONDS`, or the receiver's `Retry-After` when it answers 429; after `alert_attempts`
attempts, or at once when retrying cannot help (an HTTP 4xx, an SMTP 5xx reply), the
notification is dead. Time is injected: `now` is an argument, and the clock and the sleep of the
retries come from `Pacing` (the sleep from `sleeper` by default), so tests wait for nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..secrets import SecretError
from ..warehouse.connection import Warehouse
from . import records
from .alert import Alert, Bundle, Notice
from .batches import Batch, Member, claim_due
from .channels import Channel, ChannelStore
from .messages import Message
from .routes import DIGEST, Route
from .senders import Outcome, send

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("spendscope.notify")

MAX_WAIT_SECONDS = 300.0
# What waits between attempts when no `Pacing` says otherwise: the real sleep. A test replaces
# it (`monkeypatch.setattr(delivery, "sleeper", …)`) so that commands it runs wait for nothing.
sleeper: Callable[[float], None] = time.sleep


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sleep(seconds: float) -> None:
    sleeper(seconds)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How attempts are spaced: their number, the first wait (doubling after each failure), the
    longest wait, and the clock and sleep (`sleeper` and the real clock unless a test injects
    its own)."""

    attempts: int = 5
    backoff_seconds: float = 2.0
    max_wait_seconds: float = MAX_WAIT_SECONDS
    sleep: Callable[[float], None] = field(default=_sleep, repr=False)
    clock: Callable[[], datetime] = field(default=_utcnow, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> Pacing:
        found = cls(settings.alert_attempts, settings.alert_backoff_seconds)
        return replace(found, **changes)

    def wait(self, attempt: int, outcome: Outcome) -> float:
        """Seconds to wait after failed attempt number `attempt`."""
        if outcome.retry_after is not None:
            return min(outcome.retry_after, self.max_wait_seconds)
        return min(self.backoff_seconds * 2.0 ** (attempt - 1), self.max_wait_seconds)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of an alert's notification on one channel in this evaluation: `sent`,
    `dead`, or, when this evaluator sent nothing, the state it found (`sent`, `dead`, `pending`
    with another evaluator, `held` until `due` by a route, `not_notified`). `sent_now` tells
    which."""

    channel: str
    state: str
    attempts: int
    sent_now: bool = False
    outcome: Outcome | None = None
    due: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """channel, state, attempts, sent_now, and the outcome of an attempt made now."""
        o = self.outcome
        return {
            "channel": self.channel,
            "state": self.state,
            "attempts": self.attempts,
            "sent_now": self.sent_now,
            "outcome": o.outcome if o else None,
            "http_status": o.http_status if o else None,
            "error": None if o is None or o.ok else o.summary(),
        }


@dataclass(frozen=True, slots=True)
class Flushed:
    """A message of held notifications sent by `flush`: a `group` or a `digest` (`label`
    says which), its notices, and what became of it."""

    kind: str
    label: str
    notices: tuple[Notice, ...]
    delivery: Delivery

    def as_json(self) -> dict[str, Any]:
        notifications = [
            {
                "status": n.status,
                "severity": n.alert.severity,
                "kind": n.alert.kind,
                "title": n.alert.title,
                "fingerprint": n.alert.fingerprint,
                "repeat": n.repeat,
            }
            for n in self.notices
        ]
        shown = self.delivery.as_json()
        head = {"kind": self.kind, "label": self.label, "channel": shown.pop("channel")}
        return head | {"notifications": notifications} | shown

    def describe(self) -> str:
        return describe_flushed(self.as_json())


def describe_flushed(item: Mapping[str, Any]) -> str:
    """A flushed message (`Flushed.as_json()`) on one line: `digest 2026-11-22 (3
    notifications) → ops-mail: sent`, or `… dead after N attempt(s) (the error)`."""
    n = len(item["notifications"])
    what = f"{item['kind']} {item['label']} ({n} notification{'s' * (n != 1)})"
    where = f"{what} → {item['channel']}"
    if item["state"] == "dead":
        return f"{where}: dead after {item['attempts']} attempt(s) ({item['error']})"
    return f"{where}: {item['state']}"


@contextlib.contextmanager
def _client(http: httpx.Client | None) -> Iterator[httpx.Client]:
    if http is not None:
        yield http
        return
    import httpx

    with httpx.Client(follow_redirects=False) as client:
        yield client


def deliver(
    alert: Alert,
    channels: Sequence[Channel],
    now: datetime,
    *,
    warehouse: Warehouse,
    store: ChannelStore,
    pacing: Pacing | None = None,
    http: httpx.Client | None = None,
) -> list[Delivery]:
    """Persist `alert` as evaluated at `now` and send what no evaluator has sent yet: its
    firing notification (again after a route's repeat interval), or its resolved one to the
    channels that had the firing one. The home's routes decide which of `channels` get it and
    whether it is held (for a group, quiet hours, a digest: `flush` sends it when due)."""
    notice, claims, skipped = records.open_notice(warehouse, alert, channels, now, store.routes())
    results = [Delivery(s.channel, s.state, s.attempts, due=s.due) for s in skipped]
    if notice is None or not claims:
        return results
    pacing = pacing or Pacing.from_settings(store.settings)
    with _client(http) as client:
        for claim in claims:
            one = replace(notice, repeat=claim.repeat)
            members = [Member(one, claim.key, claim.attempts)]
            results.append(_send(warehouse, store, claim.channel, one, members, pacing, client))
    order = {c.name: i for i, c in enumerate(channels)}
    return sorted(results, key=lambda d: order.get(d.channel, len(order)))


def flush(
    warehouse: Warehouse,
    store: ChannelStore,
    now: datetime,
    *,
    pacing: Pacing | None = None,
    http: httpx.Client | None = None,
) -> list[Flushed]:
    """Send the held notifications due at `now`: one message per channel and group (a group
    of one as the notice itself), and each channel's digest. What `serve` runs every minute
    and `alerts evaluate` after its evaluation."""
    routes = store.routes()
    batches = claim_due(warehouse, store.all(), now)
    if not batches:
        return []
    pacing = pacing or Pacing.from_settings(store.settings)
    out = []
    with _client(http) as client:
        for batch in batches:
            notices = tuple(m.notice for m in batch.members)
            kind, label = bundle_label(batch, routes, now)
            message: Message = Bundle(kind, label, notices)
            if kind == "group" and len(notices) == 1:
                message = notices[0]
            done = _send(warehouse, store, batch.channel, message, batch.members, pacing, client)
            out.append(Flushed(kind, label, notices, done))
    return out


def bundle_label(batch: Batch, routes: Sequence[Route], now: datetime) -> tuple[str, str]:
    """(`digest`, its day in the digest's time zone) or (`group`, `route R: kind=…, …`)."""
    if batch.group_key == DIGEST:
        zone = next((r.zone for r in routes if r.digest and batch.channel.name in r.channels), UTC)
        return "digest", now.astimezone(zone).date().isoformat()
    _, name, values = batch.group_key.split(":", 2)
    try:
        shown = ", ".join(f"{k}={v}" for k, v in json.loads(values).items())
    except (ValueError, AttributeError):
        shown = ""
    return "group", f"route {name}" + (f": {shown}" if shown else "")


def _send(
    warehouse: Warehouse,
    store: ChannelStore,
    channel: Channel,
    message: Message,
    members: Sequence[Member],
    pacing: Pacing,
    client: httpx.Client,
) -> Delivery:
    """Attempt a claimed message until it is sent or dead; each attempt is logged for each of
    its notices."""
    attempt = max(m.attempts for m in members)
    keyed = [(m.notice, m.key) for m in members]
    secrets: dict[str, str] = {}
    refused: Outcome | None = None
    try:
        secrets = store.secrets(channel)
    except SecretError as exc:
        refused = Outcome("rejected", error=exc.message)
    while True:
        attempt += 1
        at = pacing.clock()
        outcome = refused or send(
            channel,
            secrets,
            message,
            attempt=attempt,
            sent_at=at,
            http=client,
            timeout=store.settings.http_timeout,
        )
        final = outcome.ok or outcome.permanent or attempt >= pacing.attempts
        state = "sent" if outcome.ok else "dead" if final else "pending"
        wait = None if final else pacing.wait(attempt, outcome)
        records.record_attempts(
            warehouse, channel, keyed, attempt=attempt, at=at, outcome=outcome, state=state,
            wait=wait,
        )  # fmt: skip
        if final:
            if state == "dead":
                titles = "; ".join(repr(n.alert.title) for n, _ in keyed)
                log.warning(
                    "alert %s to channel %s is dead after %d attempt(s): %s",
                    titles,
                    channel.name,
                    attempt,
                    outcome.summary(),
                )
            return Delivery(channel.name, state, attempt, sent_now=outcome.ok, outcome=outcome)
        pacing.sleep(wait or 0.0)


def probe_alert(channel: Channel, now: datetime) -> Alert:
    """The alert `alerts test-send` sends: kind `test`, its own fingerprint each time."""
    return Alert(
        kind="test",
        scope=f"channel:{channel.name}",
        subject=now.isoformat(),
        period=now.date().isoformat(),
        severity="info",
        title=f"Test alert for channel {channel.name}",
        text=f"spendscope can deliver alerts to channel {channel.name} ({channel.kind}). "
        "Nothing needs doing.",
    )


def send_test(
    channel: Channel,
    store: ChannelStore,
    now: datetime,
    *,
    warehouse: Warehouse | None = None,
    http: httpx.Client | None = None,
) -> Outcome:
    """Send a test alert once (no retry: a test answers at once) and log the attempt when a
    warehouse is given. A test alert is not an alert instance and never becomes dead."""
    notice = Notice(probe_alert(channel, now), 1, now)
    secrets = store.secrets(channel)
    with _client(http) as client:
        outcome = send(
            channel,
            secrets,
            notice,
            attempt=1,
            sent_at=now,
            http=client,
            timeout=store.settings.http_timeout,
        )
    if warehouse is not None:
        records.record_attempt(warehouse, channel, notice, attempt=1, at=now, outcome=outcome)
    return outcome
