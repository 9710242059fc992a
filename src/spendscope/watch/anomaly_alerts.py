"""Anomalies as alerts (`notify.Alert`, kind `anomaly`), what `alerts evaluate` and `serve`
deliver.

**Which.** An `active` anomaly is a firing alert, offered at every evaluation while it is
active (delivery sends it once per channel, and again only when a route's repeat interval says
so). When it stops being active — back to normal (`past`), revised away, marked expected or
muted (`resolved`) — it is offered as resolved, once, for as long as its alert still fires;
delivery sends the resolved message only to the channels that had the firing one. An anomaly
found when it was already past or resolved (a backfill, a late revision) is listed, never
notified.

**Identity.** The alert's fingerprint is the anomaly's id: kind `anomaly`, its scope
(`organization` or `dimension:key`), subject `daily spend`, period its day — never its figures,
so a revised figure names the same alert.

**Severity** by the impact, against the dollar floor `anomaly_min_impact_usd`: `critical` from
10× the floor, `warning` from 3×, `info` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from ..money import dollars
from ..notify.alert import Alert
from ..notify.records import instance_status
from ..privacy import Pseudonymizer
from ..reporting.sql import privacy, shown_value
from ..warehouse.connection import Warehouse
from .anomalies import KIND, SUBJECT
from .anomaly_store import (
    ACTIVE,
    BACK_TO_NORMAL,
    MARKED_EXPECTED,
    MUTED,
    ORGANIZATION,
    REVISED,
    Anomaly,
)

if TYPE_CHECKING:
    from ..config import Settings

FIRING, RESOLVED = "firing", "resolved"
CRITICAL_TIMES = 10
WARNING_TIMES = 3
# How far back a non-active anomaly is checked for an alert still firing.
RESOLVE_DAYS = 90
HUNDRED = Decimal(100)


def severity(impact: Decimal, floor: float) -> str:
    """`critical` from 10× the dollar floor, `warning` from 3×, else `info`."""
    base = Decimal(repr(floor))
    if impact >= base * CRITICAL_TIMES:
        return "critical"
    if impact >= base * WARNING_TIMES:
        return "warning"
    return "info"


def who(a: Anomaly, p: Pseudonymizer | None) -> str:
    """The scope in words: `the organization`, `workspace Production`."""
    if a.dimension == ORGANIZATION:
        return "the organization"
    return f"{a.dimension} {shown_value(p, a.dimension, a.value_label)}"


def _cleared(a: Anomaly) -> str:
    if a.reason == BACK_TO_NORMAL:
        return f"spend back to normal after {a.last_day}"
    if a.reason == REVISED:
        return "the day was revised and is no longer an anomaly"
    if a.reason == MARKED_EXPECTED:
        return "marked expected"
    if a.reason == MUTED:
        return "muted: like an anomaly of the same scope marked expected"
    return a.reason or a.state


def _text(a: Anomaly, p: Pseudonymizer | None) -> str:
    share = "" if a.expected <= 0 else f" (+{a.impact / a.expected * HUNDRED:.0f} %)"
    lines = [
        f"Billed cost of {who(a, p)} on {a.day}: {dollars(a.actual)}, expected "
        f"{dollars(a.expected)} (band {dollars(a.low)}–{dollars(a.high)}); impact "
        f"{dollars(a.impact)}{share}, score {a.score:.1f} ({a.method} baseline).",
    ]
    if a.drivers:
        shown = "; ".join(
            f"{d.dimension} {shown_value(p, d.dimension, d.value)} +{dollars(d.impact)}"
            for d in a.drivers[:3]
        )
        lines.append(f"Drivers: {shown}.")
    if a.state != ACTIVE:
        lines.append(f"Cleared: {_cleared(a)}.")
    return "\n".join(lines)


def anomaly_alert(a: Anomaly, settings: Settings, p: Pseudonymizer | None) -> Alert:
    """The alert of an anomaly: firing while it is active, resolved otherwise."""
    status = FIRING if a.state == ACTIVE else RESOLVED
    if status == FIRING:
        title = (
            f"Spend anomaly: {who(a, p)} spent {dollars(a.actual)} on {a.day}, "
            f"{dollars(a.impact)} above the expected {dollars(a.expected)}"
        )
    else:
        title = f"Spend anomaly cleared: {who(a, p)} on {a.day} ({_cleared(a)})"
    return Alert(
        kind=KIND,
        scope=a.scope,
        subject=SUBJECT,
        period=a.day.isoformat(),
        severity=severity(a.impact, settings.anomaly_min_impact_usd),
        title=title,
        text=_text(a, p),
        status=status,
        details={
            "anomaly": a.id,
            "day": a.day,
            "dimension": a.dimension,
            "value": ""
            if a.dimension == ORGANIZATION
            else shown_value(p, a.dimension, a.value_label),
            "actual": a.actual,
            "expected": a.expected,
            "low": a.low,
            "high": a.high,
            "impact": a.impact,
            "score": f"{a.score:.1f}",
            "method": a.method,
            "state": a.state,
            "reason": a.reason,
            "drivers": [
                {
                    "dimension": d.dimension,
                    "value": shown_value(p, d.dimension, d.value),
                    "impact": d.impact,
                }
                for d in a.drivers[:3]
            ],
        },
        fingerprint=a.id,
    )


def anomaly_alerts(
    warehouse: Warehouse, settings: Settings, rows: Sequence[Anomaly], now: datetime
) -> list[Alert]:
    """The alerts to offer (see the module's docstring): the active anomalies firing, and the
    others whose alert still fires resolved (newest day first)."""
    p = privacy(warehouse)
    recent = now.date() - timedelta(days=RESOLVE_DAYS)
    out = []
    for a in sorted(rows, key=lambda r: (-r.day.toordinal(), r.id)):
        if a.state == ACTIVE or (a.day >= recent and instance_status(warehouse, a.id) == FIRING):
            out.append(anomaly_alert(a, settings, p))
    return out
