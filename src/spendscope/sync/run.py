"""One sync pass over the connections: the function `spendscope sync` and the scheduler call.

Builds the feeds of each connection (cost and usage, Claude Code or engagement, the admin lists),
gives each a client (analytics feeds share the organization's rate limiter), runs the
connections concurrently, then refreshes the double-booking table and the views.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import SpendscopeError
from ..refresh import initialize, refresh
from ..sources.base import ConnectionInfo, Feed
from ..sources.spend_limits import FEED as SPEND_LIMITS
from ..upstream.client import AnthropicClient
from ..upstream.ratelimit import limiter_for
from ..warehouse.connection import Warehouse
from ..warehouse.schema import row_key, to_arrow, utcnow
from ..warehouse.tables import CONNECTIONS, EVENTS
from .engine import ConnectionSync
from .notices import sync_alerts
from .reports import ConnectionReport, Progress, SyncRequest, event_row

if TYPE_CHECKING:
    from ..config import Settings
    from ..connections import Connection, ConnectionStore

log = logging.getLogger("spendscope.sync")

# Feeds served by the analytics API families (B, C, D): 60 requests/minute per organization.
_ADMIN_FEEDS = {
    "claude_code",
    "organization",
    "users",
    "workspaces",
    "api_keys",
    "invites",
    "service_accounts",
    "rbac_groups",
}


def feeds_for(kind: str) -> list[Feed]:
    from ..sources.admin import admin_feeds
    from ..sources.claude_code import claude_code_feeds
    from ..sources.cost_usage import cost_usage_feeds
    from ..sources.engagement import engagement_feeds
    from ..sources.spend_limits import spend_limit_feeds

    feeds: list[Feed] = list(cost_usage_feeds(kind))
    feeds += claude_code_feeds() if kind == "console" else engagement_feeds()
    feeds += admin_feeds(kind)
    feeds += spend_limit_feeds()
    return feeds


def uses_analytics_api(feed: Feed) -> bool:
    return feed.name not in _ADMIN_FEEDS


def connection_rows(store: ConnectionStore) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "row_key": row_key(c.label),
            "connection_label": c.label,
            "connection_kind": c.kind,
            "organization_id": c.organization_id,
            "organization_name": c.organization_name,
            "state": c.state,
            "updated_at": now,
        }
        for c in store.all(include_deleted=True)
    ]


def record_connections(warehouse: Warehouse, store: ConnectionStore) -> None:
    rows = connection_rows(store)
    if rows:
        warehouse.load({CONNECTIONS.name: to_arrow(CONNECTIONS, rows)})


def make_client_factory(
    settings: Settings, store: ConnectionStore, conn: Connection, **client_options: Any
) -> Callable[[Feed], AnthropicClient]:
    key = store.key(conn.label)
    org = conn.organization_id or conn.label

    def factory(feed: Feed) -> AnthropicClient:
        if feed.name == SPEND_LIMITS:  # its own 60 requests per minute per organization
            limiter = (
                limiter_for(f"spend_limits:{conn.base_url}:{org}", settings.spend_limits_rpm)
                if settings.spend_limits_rpm
                else None
            )
        elif uses_analytics_api(feed):
            limiter = (
                limiter_for(f"analytics:{conn.base_url}:{org}", settings.analytics_rpm)
                if settings.analytics_rpm
                else None
            )
        else:
            limiter = (
                limiter_for(f"admin:{conn.base_url}:{org}", settings.admin_rpm)
                if settings.admin_rpm
                else None
            )
        return AnthropicClient(
            key,
            base_url=conn.base_url,
            limiter=limiter,
            timeout=settings.http_timeout,
            **client_options,
        )

    return factory


def run_sync(
    settings: Settings,
    store: ConnectionStore,
    warehouse: Warehouse,
    labels: Sequence[str] | None = None,
    request: SyncRequest | None = None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = utcnow,
    client_options: dict[str, Any] | None = None,
    feeds: Callable[[str], list[Feed]] = feeds_for,
) -> list[ConnectionReport]:
    """Sync the given connections (default: every active one); returns a report for each."""
    request = request or SyncRequest()
    conns = [store.get(label) for label in labels] if labels else store.all()
    for c in conns:
        if not c.is_active:
            raise SpendscopeError(f"Connection '{c.label}' was deleted; it cannot be synced.")
    initialize(warehouse)
    record_connections(warehouse, store)
    first_sync = {c.label: not warehouse.sync_state(c.label) for c in conns}

    from ..reporting.health import syncing

    def one(conn: Connection) -> ConnectionReport:
        # A connection that can't start (its key can't be decrypted, ...) fails alone: the
        # others still sync, and its report names it and says why.
        try:
            factory = make_client_factory(settings, store, conn, **(client_options or {}))
        except SpendscopeError as exc:
            log.warning("%s: %s", conn.label, exc.message)
            return ConnectionReport(conn.label, error=exc.message, error_hint=exc.hint)
        info = ConnectionInfo(
            conn.label, conn.kind, conn.organization_id, conn.api_mode or settings.api_mode
        )
        job = ConnectionSync(
            warehouse, settings, info, factory, feeds(conn.kind), progress=progress, now=now
        )
        with syncing(conn.label):  # its health says `syncing`, not `interrupted`, meanwhile
            return job.run(request)

    # Not `with`: on Ctrl-C the caller leaves at once instead of waiting for the connections.
    pool = ThreadPoolExecutor(max_workers=max(1, len(conns)), thread_name_prefix="sync")
    interrupted = False
    try:
        reports = _results([pool.submit(one, conn) for conn in conns])
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=interrupted)
    if warehouse.fatal is not None:
        raise warehouse.fatal  # a full disk: one line, and the refresh would fail the same way
    refresh(warehouse)  # overlaps, views, marts: each followed by a checkpoint
    for report in reports:
        if first_sync.get(report.label) and not report.error:
            notify_ready(settings, warehouse, report)
    sync_alerts(settings, warehouse, reports, now(), first_sync)  # data_ready, sync_failing
    return reports


# How often the main thread wakes while it waits for the connections: a Ctrl-C delivered to a
# worker thread (blocked in a read) is only acted on when the main thread runs again, and an
# untimed wait on a lock would never return to it.
SIGNAL_CHECK_SECONDS = 0.2


def _results(futures: list[Future[ConnectionReport]]) -> list[ConnectionReport]:
    """The futures' results in order, waiting in short steps so that Ctrl-C stops the wait."""
    pending = set(futures)
    while pending:
        _done, pending = wait(pending, timeout=SIGNAL_CHECK_SECONDS)
    return [f.result() for f in futures]


def notify_ready(settings: Settings, warehouse: Warehouse, report: ConnectionReport) -> None:
    """After a connection's first backfill: the "data is ready" notification to
    `notify_webhook` (the channels get the `data_ready` alert: `notices.sync_alerts`)."""
    message = f"data is ready: first backfill finished ({report.rows} rows)"
    detail: dict[str, Any] = {"rows": report.rows}
    if settings.notify_webhook:
        import httpx

        try:
            httpx.post(
                settings.notify_webhook,
                timeout=10,
                content=json.dumps(
                    {"connection": report.label, "event": "data_ready", "rows": report.rows}
                ),
                headers={"content-type": "application/json"},
            )
            detail["webhook"] = "sent"
        except httpx.HTTPError as exc:
            detail["webhook"] = f"failed: {type(exc).__name__}"
    warehouse.load(
        {
            EVENTS.name: to_arrow(
                EVENTS, [event_row(report.label, "info", "notice", message, detail)]
            )
        }
    )
