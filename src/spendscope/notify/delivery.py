"""Delivering an alert to its channels: once per channel and status, every attempt logged,
failures retried with exponential backoff, and the notification marked `dead` when the attempts
run out, so that an alert that did not arrive is visible (`records.dead_deliveries`).

`deliver()` is what the evaluators (budgets, anomalies, sync health) call with each alert they
see, firing or resolved, as often as they evaluate: the alert instance is persisted, and only
notifications not yet claimed are sent (see `records`). The wait after attempt n is
`alert_backoff_seconds × 2^(n-1)`, at most `MAX_WAIT_SECONDS`, or the receiver's `Retry-After`
when it answers 429; after `alert_attempts` attempts, or at once when retrying cannot help (an
HTTP 4xx, an SMTP 5xx reply), the notification is dead. The clock and the sleep are injected
(`Pacing`), so tests wait for nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..secrets import SecretError
from ..warehouse.connection import Warehouse
from . import records
from .alert import Alert, Notice
from .channels import Channel, ChannelStore
from .senders import Outcome, send

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("spendscope.notify")

MAX_WAIT_SECONDS = 300.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How attempts are spaced: their number, the first wait (doubling after each failure), the
    longest wait, and the clock and sleep (real ones unless a test injects its own)."""

    attempts: int = 5
    backoff_seconds: float = 2.0
    max_wait_seconds: float = MAX_WAIT_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
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
    with another evaluator, `not_notified`). `sent_now` tells which."""

    channel: str
    state: str
    attempts: int
    sent_now: bool = False
    outcome: Outcome | None = None


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
    firing notification, or its resolved one to the channels that had the firing one."""
    notice, claims, skipped = records.open_notice(warehouse, alert, channels, now)
    results = [Delivery(s.channel, s.state, s.attempts) for s in skipped]
    if notice is None or not claims:
        return results
    pacing = pacing or Pacing.from_settings(store.settings)
    with _client(http) as client:
        for claim in claims:
            results.append(_send_claim(warehouse, store, claim, notice, pacing, client))
    return results


def _send_claim(
    warehouse: Warehouse,
    store: ChannelStore,
    claim: records.Claim,
    notice: Notice,
    pacing: Pacing,
    client: httpx.Client,
) -> Delivery:
    """Attempt a claimed notification until it is sent or dead."""
    channel = claim.channel
    attempt = claim.attempts
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
            notice,
            attempt=attempt,
            sent_at=at,
            http=client,
            timeout=store.settings.http_timeout,
        )
        final = outcome.ok or outcome.permanent or attempt >= pacing.attempts
        state = "sent" if outcome.ok else "dead" if final else "pending"
        wait = None if final else pacing.wait(attempt, outcome)
        records.record_attempt(
            warehouse,
            channel,
            notice,
            attempt=attempt,
            at=at,
            outcome=outcome,
            state=state,
            wait=wait,
            key=claim.key,
        )
        if final:
            if state == "dead":
                log.warning(
                    "alert %r (%s) to channel %s is dead after %d attempt(s): %s",
                    notice.alert.title,
                    notice.status,
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
