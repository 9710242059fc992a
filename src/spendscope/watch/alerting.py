"""From budget events and anomalies to delivered alerts: what `spendscope alerts evaluate` and
`serve` (after each sync) run.

`evaluate_alerts` steps the budgets' threshold states (`evaluate_budgets`) and turns each event
into `notify.Alert`s (`budget_alerts`); then it evaluates the anomalies in daily spend
(`anomalies.evaluate_anomalies`) and offers their alerts (`anomaly_alerts`: the active ones
firing, those that stopped being active resolved), and the members at a share of their
Anthropic spend cap (`limit_alerts.limit_alerts`). Every alert goes to delivery, which sends
each notification once per channel and status, however often this runs (see `notify`).

**What an evaluation reports.** Every budget alert it offers; an anomaly or spend-cap alert
only when it did something: a new status (first firing, or resolved), or a notification sent,
attempted or — in a dry run — due now. One offered again with nothing to send is left out, so
evaluating the same data again reports nothing.

**Mapping.** A firing event is one alert, named after its most severe threshold: its
fingerprint is the threshold's (`budget`, the budget, the kind, the percent, the month), so the
alert keeps its identity when the figures, the amount or the scope change. A resolved event
clears every threshold it covers; each is offered as its own resolved alert, and delivery
sends a resolved message only for those that were notified firing (the most severe of a group
crossed at once) — the others have nothing to clear and are left out.

**Dry run.** The states are computed and not written, and for each alert the channels are
checked read-only (`records.preview_notice`): what would be sent, and to whom; nothing is sent
and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..notify import records
from ..notify.alert import Alert
from ..notify.channels import ChannelStore
from ..notify.delivery import Delivery, Pacing, deliver
from ..warehouse.connection import Warehouse
from .anomalies import evaluate_anomalies
from .anomaly_alerts import anomaly_alerts
from .budget_model import percent_text
from .budget_states import ACTUAL, FIRING, BudgetEvent, ThresholdRef
from .budgets import evaluate_budgets
from .limit_alerts import limit_alerts

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

WOULD_SEND = "would_send"
CENT = Decimal("0.01")
# Why a channel gets nothing (or, in a dry run, that it would get the alert).
SKIPPED = {
    WOULD_SEND: "would send",
    "sent": "already sent",
    "dead": "dead earlier (see alerts log --dead)",
    "pending": "being sent by another evaluation",
    "not_notified": "never had the firing notification",
}


def _label(kind: str, threshold: Any) -> str:
    pct = f"{percent_text(threshold)}%"
    return pct if kind == ACTUAL else f"forecast {pct}"


def _alert(event: BudgetEvent, ref: ThresholdRef, title: str) -> Alert:
    return Alert(
        kind="budget",
        scope=event.scope,
        subject=f"{event.budget}@{_label(ref.kind, ref.threshold)}",
        period=event.month,
        severity=ref.severity,
        title=title,
        text=event.text,
        status=event.status,
        details={
            "budget": event.budget,
            "month": event.month,
            "threshold_kind": ref.kind,
            "threshold_percent": ref.threshold,
            "value": event.value,
            "amount": None if event.amount is None else event.amount.quantize(CENT),
            "basis": event.basis,
            "reason": event.reason,
            "covers": [
                {"kind": c.kind, "threshold_percent": c.threshold, "severity": c.severity}
                for c in event.covers
            ],
        },
        fingerprint=ref.fingerprint,
    )


def budget_alerts(event: BudgetEvent) -> list[Alert]:
    """The alerts of one budget event: the firing alert of its most severe threshold, or a
    resolved alert for each threshold it clears (the most severe first)."""
    head = ThresholdRef(
        event.kind, event.threshold, event.severity, event.fingerprint, event.fingerprint_parts
    )
    if event.status == FIRING:
        return [_alert(event, head, event.title)]
    out = [_alert(event, head, event.title)]
    for ref in event.covers:
        if ref.fingerprint == head.fingerprint:
            continue
        pct = f"{percent_text(ref.threshold)} %"
        label = pct if ref.kind == ACTUAL else f"forecast {pct}"
        title = f"Budget {event.budget}: {label} cleared ({event.month})"
        out.append(_alert(event, ref, title))
    return out


@dataclass(frozen=True, slots=True)
class AlertResult:
    """One alert of an evaluation and what became of it on each channel (in a dry run, what
    would: `would_send`, or why nothing would be sent)."""

    alert: Alert
    deliveries: list[Delivery]

    @property
    def failed(self) -> list[Delivery]:
        """Notifications of this alert that died in this evaluation."""
        return [d for d in self.deliveries if d.state == "dead" and d.outcome is not None]

    def as_json(self) -> dict[str, Any]:
        a = self.alert
        return {
            "status": a.status,
            "severity": a.severity,
            "kind": a.kind,
            "scope": a.scope,
            "subject": a.subject,
            "period": a.period,
            "title": a.title,
            "text": a.text,
            "fingerprint": a.fingerprint,
            "details": dict(a.details),
            "deliveries": [
                {
                    "channel": d.channel,
                    "state": d.state,
                    "attempts": d.attempts,
                    "sent_now": d.sent_now,
                    "outcome": d.outcome.outcome if d.outcome else None,
                    "http_status": d.outcome.http_status if d.outcome else None,
                    "error": None if d.outcome is None or d.outcome.ok else d.outcome.summary(),
                }
                for d in self.deliveries
            ],
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation found and did."""

    at: datetime
    dry_run: bool
    channels: list[str]
    events: int
    results: list[AlertResult] = field(default_factory=list)

    @property
    def failed(self) -> list[tuple[AlertResult, Delivery]]:
        return [(r, d) for r in self.results for d in r.failed]

    @property
    def sent(self) -> int:
        return sum(d.sent_now for r in self.results for d in r.deliveries)

    def as_json(self) -> dict[str, Any]:
        return {
            "evaluated_at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "channels": list(self.channels),
            "events": self.events,
            "alerts": [r.as_json() for r in self.results],
            "sent": self.sent,
            "failed": len(self.failed),
        }


def evaluate_alerts(
    settings: Settings,
    warehouse: Warehouse,
    now: datetime,
    *,
    dry_run: bool = False,
    pacing: Pacing | None = None,
    http: httpx.Client | None = None,
) -> Evaluation:
    """Evaluate every budget and the anomalies as of `now` and deliver their alerts to every
    channel (see the module's docstring); with `dry_run`, change nothing and send nothing."""
    store = ChannelStore(settings)
    channels = store.all()

    def offer(alert: Alert) -> list[Delivery]:
        if dry_run:
            found = records.preview_notice(warehouse, alert, channels, now)
            return [Delivery(s.channel, s.state, s.attempts) for s in found]
        return deliver(
            alert, channels, now, warehouse=warehouse, store=store, pacing=pacing, http=http
        )

    events = evaluate_budgets(warehouse, now, dry_run=dry_run)
    results = []
    for event in events:
        for alert in budget_alerts(event):
            done = offer(alert)
            if alert.status != FIRING and all(d.state == "not_notified" for d in done):
                continue  # never announced: nothing to clear
            results.append(AlertResult(alert, done))
    found = evaluate_anomalies(warehouse, settings, now, dry_run=dry_run)
    reported = 0
    # Anomalies and members near their Anthropic cap are offered on every evaluation, whether
    # or not anything changed: only what did something is reported.
    offered = anomaly_alerts(warehouse, settings, found.rows, now)
    offered += limit_alerts(warehouse, settings, now)
    for alert in offered:
        before = records.instance_status(warehouse, alert.fingerprint)
        done = offer(alert)
        if alert.status != FIRING and all(d.state == "not_notified" for d in done):
            continue
        if before == alert.status and not any(_acted(d) for d in done):
            continue  # offered again, nothing new
        results.append(AlertResult(alert, done))
        reported += 1
    return Evaluation(now, dry_run, [c.name for c in channels], len(events) + reported, results)


def _acted(d: Delivery) -> bool:
    """Whether an offer did something on a channel: sent or attempted now, or (dry run) would
    send or hold."""
    return d.sent_now or d.outcome is not None or d.state in (WOULD_SEND, "would_hold")


def after_sync(
    settings: Settings, warehouse: Warehouse, clock: Callable[[], datetime]
) -> Callable[[], list[str]]:
    """The evaluation `serve` runs after each successful sync (`SyncService(after_sync=…)`):
    it returns a warning for each notification that died, for the event log."""

    def run() -> list[str]:
        found = evaluate_alerts(settings, warehouse, clock())
        return [
            f"alert not delivered: {r.alert.title} ({r.alert.status}) — {describe_delivery(d)}"
            for r, d in found.failed
        ]

    return run


def describe_delivery(d: Delivery) -> str:
    """`channel: state`, with the attempts and the last error of a failed one."""
    if d.state == "dead" and d.outcome is not None:
        return f"{d.channel}: dead after {d.attempts} attempt(s) ({d.outcome.summary()})"
    if d.state == "sent" and d.sent_now:
        return f"{d.channel}: sent"
    return f"{d.channel}: {SKIPPED.get(d.state, d.state)}"


def describe(results: Sequence[AlertResult]) -> list[str]:
    """One line per alert: status, severity, title, and per channel the outcome."""
    lines = []
    for r in results:
        a = r.alert
        where = "; ".join(describe_delivery(d) for d in r.deliveries) or "no channel"
        lines.append(f"{a.status} {a.severity}: {a.title} → {where}")
    return lines
