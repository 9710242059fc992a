"""The alerts a sync raises, delivered through the alert channels and routes like any other:

- `data_ready` (info): a connection's first backfill finished, its data is there;
- `sync_failing` (warning): a connection's syncs have kept failing for longer than
  `sync_failing_hours`; resolved by its next successful sync.

A connection's syncs are failing since its first failed sync after its last successful one
(the event log's `sync failed` and `sync finished`); a connection with no failed sync logged
(its key can't be decrypted, say) counts from its last success, else from when it was added.
Nothing here stops a sync: a delivery that fails is a warning in the connection's event log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import SpendscopeError
from ..notify import records
from ..notify.alert import Alert
from ..notify.channels import ChannelStore
from ..notify.delivery import Delivery, deliver
from ..warehouse.schema import DATASET, to_arrow
from ..warehouse.tables import EVENTS
from .reports import ConnectionReport, event_row

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse

log = logging.getLogger("spendscope.sync")

DATA_READY = "data_ready"
SYNC_FAILING = "sync_failing"


def data_ready_alert(label: str, rows: int, now: datetime) -> Alert:
    """The notice that a connection's first backfill finished (one per connection and day)."""
    return Alert(
        kind=DATA_READY,
        scope=f"connection:{label}",
        subject=label,
        period=now.date().isoformat(),
        severity="info",
        title=f"Data is ready for connection {label}",
        text=f"The first backfill of connection {label} finished ({rows:,} rows): reports, "
        "forecasts and budgets cover it from now on.",
        details={"connection": label, "rows": rows},
    )


def sync_failing_alert(
    label: str, since: datetime, error: str | None, hours: float, status: str = "firing"
) -> Alert:
    """A connection whose syncs keep failing since `since` (firing), or that synced again at
    `since` (resolved): the same alert (fingerprint) until it syncs again, a new cycle if it
    fails again later."""
    if status == "firing":
        text = f"Every sync of connection {label} since {since:%Y-%m-%d %H:%M} UTC has failed"
        text += f"; the last error: {error}" if error else "."
        details: dict[str, Any] = {"failing_since": since, "last_error": error}
    else:
        text = f"Connection {label} synced successfully again at {since:%Y-%m-%d %H:%M} UTC."
        details = {"recovered_at": since}
    return Alert(
        kind=SYNC_FAILING,
        scope=f"connection:{label}",
        subject=label,
        period="",
        severity="warning",
        title=f"Sync of connection {label} is failing",
        text=text,
        status=status,
        details={"connection": label, **details, "threshold_hours": hours},
    )


def failing_since(warehouse: Warehouse, label: str) -> datetime | None:
    """When the connection's current run of failed syncs began: its first `sync failed`
    after its last `sync finished` (None when none is logged)."""
    events = f"{DATASET}.{EVENTS.name}"
    row = warehouse.read(
        f"SELECT min(occurred_at) FROM {events} WHERE connection_label = ? AND category = "
        "'sync' AND message LIKE 'sync failed%' AND occurred_at > coalesce((SELECT "
        f"max(occurred_at) FROM {events} WHERE connection_label = ? AND category = 'sync' "
        "AND message = 'sync finished'), TIMESTAMPTZ '1970-01-01 00:00:00+00')",
        label,
        label,
    )
    return _aware(row[0][0] if row else None)


def _aware(found: Any) -> datetime | None:
    return found.astimezone(UTC) if isinstance(found, datetime) else None


def _last_success(warehouse: Warehouse, label: str) -> datetime | None:
    row = warehouse.read(
        f"SELECT max(occurred_at) FROM {DATASET}.{EVENTS.name} WHERE connection_label = ? "
        "AND category = 'sync' AND message = 'sync finished'",
        label,
    )
    return _aware(row[0][0] if row else None)


def sync_alerts(
    settings: Settings,
    warehouse: Warehouse,
    reports: Sequence[ConnectionReport],
    now: datetime,
    first_sync: dict[str, bool],
) -> dict[str, list[Delivery]]:
    """After a sync: `data_ready` for each connection whose first backfill just finished,
    `sync_failing` for each that has failed for longer than `sync_failing_hours` (and its
    resolution for each that synced again). What became of each, by connection."""
    store = ChannelStore(settings)
    try:
        channels = store.all()
    except SpendscopeError as exc:
        log.warning("alerts of the sync not delivered: %s", exc.message)
        return {}
    if not channels:
        return {}
    hours = settings.sync_failing_hours
    out: dict[str, list[Delivery]] = {}
    for report in reports:
        label = report.label
        found: list[Alert] = []
        if report.error is None:
            cleared = sync_failing_alert(label, now, None, hours, status="resolved")
            if records.instance_status(warehouse, cleared.fingerprint) == "firing":
                found.append(cleared)
            if first_sync.get(label):
                found.append(data_ready_alert(label, report.rows, now))
        else:
            since = failing_since(warehouse, label) or _last_success(warehouse, label)
            if since is None:
                since = _added(settings, label) or now
            if now - since >= timedelta(hours=hours):
                found.append(sync_failing_alert(label, since, report.error, hours))
        for alert in found:
            out.setdefault(label, []).extend(
                _deliver(settings, warehouse, store, channels, alert, now)
            )
    return out


def _added(settings: Settings, label: str) -> datetime | None:
    from ..connections import ConnectionStore

    try:
        return ConnectionStore(settings).get(label).created_at
    except SpendscopeError:
        return None


def _deliver(
    settings: Settings,
    warehouse: Warehouse,
    store: ChannelStore,
    channels: Sequence[Any],
    alert: Alert,
    now: datetime,
) -> list[Delivery]:
    """Deliver one alert; a failure (or a notification that died) is a warning in the
    connection's event log, never an error of the sync."""
    label = str(alert.details.get("connection"))
    try:
        done = deliver(alert, channels, now, warehouse=warehouse, store=store)
    except Exception as exc:
        error = exc.message if isinstance(exc, SpendscopeError) else repr(exc)
        log.warning("alert %r not delivered: %s", alert.title, error)
        _event(warehouse, label, f"alert not delivered: {alert.title}", {"error": error}, now)
        return []
    for d in done:
        if d.state == "dead" and d.outcome is not None:
            message = f"alert not delivered: {alert.title} ({alert.status})"
            detail = {"channel": d.channel, "error": d.outcome.summary()}
            _event(warehouse, label, message, detail, now)
    return done


def _event(
    warehouse: Warehouse, label: str, message: str, detail: dict[str, Any], at: datetime
) -> None:
    row = event_row(label, "warning", "notice", message, detail, at=at)
    try:
        warehouse.load({EVENTS.name: to_arrow(EVENTS, [row])})
    except SpendscopeError as exc:
        log.warning("could not log %r: %s", message, exc.message)
