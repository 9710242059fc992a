"""The sync engine: which windows to fetch, what changed, and loading it all.

For each feed of a connection:
1. plan the windows: the first run backfills (6 months Console, 12 months Enterprise, never
   before the API's floor); later runs fetch what is new plus the trailing reconciliation window
   (30 days for cost and usage, 7 for engagement and Claude Code) — so a refresh costs what the
   window costs, not what the history costs;
2. fetch a window, compare its rows with the loaded ones (row_key → metrics) and log every
   revision in `corrections`; rows that vanished upstream are deleted;
3. write the rows, the deletions, the corrections and the feed's cursor (`sync_state`) in one
   warehouse transaction (`warehouse/writer.py`), so the cursor never runs ahead of the data: a
   sync killed anywhere re-fetches at most one window per feed and, the writes being idempotent
   upserts, ends with the same rows.

Snapshot feeds (the organization lists) replace a connection's rows at every sync; a daily feed
(spend limits, which the API keeps no history of) is taken at most once per UTC day and kept day
by day, a second snapshot of the same day replacing the first.

Feeds of a connection run concurrently (they share the organization's rate limiter); each feed
thread writes its windows itself, one at a time under the warehouse's write lock. An error
(upstream, warehouse, or unexpected: an `internal` event) fails its feed only and is logged; the
other feeds go on, except after a refused key (401), which stops the feeds not yet started. A
scope the key lacks for an optional list is logged as a warning and skipped. A row no table can
hold is set aside in `rejected_rows` (`quarantine.py`) and the rest of its window loads.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import (
    AuthenticationFailed,
    PermissionDenied,
    SpendscopeError,
    WarehouseError,
)
from ..sources.base import ConnectionInfo, FetchContext, Window, split
from ..sources.quarantine import quarantine, rejected_from_rows
from ..sources.values import checked_arrow
from ..warehouse.connection import Warehouse
from ..warehouse.schema import row_key, to_arrow, utcnow
from ..warehouse.tables import CORRECTIONS, EVENTS, REJECTED_ROWS, SYNC_STATE
from .reports import (
    STOPPED,
    ConnectionReport,
    FeedReport,
    Progress,
    SyncRequest,
    error_category,
    event_row,
)
from .revisions import diff_rows

if TYPE_CHECKING:
    from ..config import Settings
    from ..sources.base import Feed

log = logging.getLogger("spendscope.sync")


def plan_windows(
    feed: Feed,
    conn: ConnectionInfo,
    state: dict[str, Any] | None,
    settings: Settings,
    request: SyncRequest,
    now: datetime,
) -> list[Window]:
    today = now.date()
    end = feed.latest(now)
    if request.until is not None:
        end = min(end, request.until)
    recon_days = (
        settings.engagement_reconciliation_days
        if feed.reconciliation == "engagement"
        else settings.reconciliation_days
    )
    backfill_start = settings.backfill_start(conn.kind, today)
    if request.since is not None:
        start = request.since
    elif request.full or not state or state.get("complete_through") is None:
        start = backfill_start
    else:
        done: date = state["complete_through"]
        start = min(done + timedelta(days=1), end - timedelta(days=recon_days))
        covered = state.get("covered_from")
        if covered is not None and backfill_start < covered:
            start = backfill_start  # the backfill setting grew: fill the gap
    earliest = feed.earliest(conn, today)
    if earliest is not None:
        start = max(start, earliest)
    if start >= end:
        return []
    return split(start, end, feed.window_days)


class ConnectionSync:
    """Syncs every feed of one connection."""

    def __init__(
        self,
        warehouse: Warehouse,
        settings: Settings,
        conn: ConnectionInfo,
        client_factory: Callable[[Feed], Any],
        feeds: Sequence[Feed],
        progress: Progress | None = None,
        max_workers: int = 4,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.warehouse = warehouse
        self.settings = settings
        self.conn = conn
        self.client_factory = client_factory
        self.feeds = list(feeds)
        self.progress = progress
        self.max_workers = max_workers
        self.now = now
        self._stop = threading.Event()
        self._clients: list[Any] = []
        self._clients_lock = threading.Lock()

    def run(self, request: SyncRequest) -> ConnectionReport:
        started = utcnow()
        report = ConnectionReport(self.conn.label)
        state = self.warehouse.sync_state(self.conn.label)
        now = self.now()
        self._event(
            "info",
            "sync",
            "sync started",
            {"since": request.since, "until": request.until, "full": request.full},
        )
        with ThreadPoolExecutor(
            max_workers=self.max_workers, thread_name_prefix=f"sync-{self.conn.label}"
        ) as pool:
            futures = [
                pool.submit(self._run_feed, feed, state.get(feed.name), request, now)
                for feed in self.feeds
            ]
            for fut in futures:
                report.feeds.append(fut.result())
        for client in self._clients:
            c = client.counters()
            report.requests += int(c.get("requests", 0))
            report.retries += int(c.get("retries", 0))
            report.rate_limited += int(c.get("rate_limited", 0))
            for path, n in dict(c.get("by_endpoint", {})).items():
                report.by_endpoint[path] = report.by_endpoint.get(path, 0) + int(n)
            client.close()
        failed = [f for f in report.feeds if f.error]
        fatal = self.warehouse.fatal
        if fatal is not None:
            report.error, report.error_hint = fatal.message, fatal.hint
        report.seconds = (utcnow() - started).total_seconds()
        if failed and report.error is None:
            report.error = failed[0].error
        level, message = (
            ("error", f"sync failed: {report.error}") if report.error else ("info", "sync finished")
        )
        self._event(
            level,
            "sync",
            message,
            {
                "rows": report.rows,
                "corrections": report.corrections,
                "requests": report.requests,
                "retries": report.retries,
                "rate_limited": report.rate_limited,
                "seconds": round(report.seconds, 2),
            },
        )
        try:
            self.warehouse.checkpoint()  # the connection's windows leave the write-ahead log
        except SpendscopeError as exc:
            report.error = report.error or exc.message
        return report

    def _client(self, feed: Feed) -> Any:
        client = self.client_factory(feed)
        with self._clients_lock:
            self._clients.append(client)
        return client

    def _run_feed(
        self, feed: Feed, state: dict[str, Any] | None, request: SyncRequest, now: datetime
    ) -> FeedReport:
        fr = FeedReport(feed.name)
        if self._stop.is_set():
            fr.skipped = STOPPED
            return fr
        try:
            client = self._client(feed)
            pages = [0]

            def on_page(_path: str) -> None:
                pages[0] += 1

            ctx = FetchContext(
                client=client, connection=self.conn, now=now, fetched_at=utcnow(), on_page=on_page
            )
            if feed.mode == "snapshot":
                self._snapshot(feed, ctx, fr)
            elif feed.mode == "daily":
                self._daily(feed, ctx, fr, request)
            else:
                windows = plan_windows(feed, self.conn, state, self.settings, request, now)
                for i, window in enumerate(windows):
                    if self._stop.is_set():
                        fr.skipped = STOPPED
                        break
                    state = self._window(feed, ctx, window, state, fr)
                    fr.windows += 1
                    if self.progress:
                        self.progress(self.conn.label, feed.name, i + 1, len(windows))
            fr.pages = pages[0]
        except PermissionDenied as exc:
            if getattr(feed, "optional", False):
                fr.skipped = exc.message
                self._event(
                    "warning",
                    "scope",
                    f"{feed.name} skipped: {exc.message}",
                    {"feed": feed.name, "hint": exc.hint},
                )
            else:
                self._fail(feed, fr, exc)
        except SpendscopeError as exc:
            self._fail(feed, fr, exc)
        except Exception as exc:  # a bug or a value nothing foresaw: this feed only
            self._fail(feed, fr, exc)
        return fr

    def _fail(self, feed: Feed, fr: FeedReport, exc: Exception) -> None:
        """Record a feed's failure; the other feeds go on. Only a refused key (401) stops
        them: they share the key, so every request they would send can only be refused too."""
        detail: dict[str, Any] = {"feed": feed.name}
        if isinstance(exc, SpendscopeError):
            if isinstance(exc, AuthenticationFailed):
                self._stop.set()
            fr.error = exc.message
            category = error_category(exc)
            if exc.hint:
                detail["hint"] = exc.hint
            for attr in ("status", "request_id", "path"):
                if getattr(exc, attr, None):
                    detail[attr] = getattr(exc, attr)
        else:
            fr.error = f"internal error: {type(exc).__name__}: {exc}"
            category = "internal"
            detail["traceback"] = "".join(traceback.format_exception(exc))
            log.debug("%s: %s failed", self.conn.label, feed.name, exc_info=exc)
        try:
            self._event("error", category, f"{feed.name}: {fr.error}", detail)
        except Exception as failure:  # the event log itself cannot be written
            log.debug("event not logged: %s", failure)
        log.error("%s: %s: %s", self.conn.label, feed.name, fr.error)

    def _event(
        self, level: str, category: str, message: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Log an event. A warehouse that cannot be written (a full disk) is not a second
        error: the failure is already the run's error (`warehouse.fatal`)."""
        try:
            self.warehouse.load(
                {
                    EVENTS.name: to_arrow(
                        EVENTS, [event_row(self.conn.label, level, category, message, detail)]
                    )
                }
            )
        except WarehouseError as exc:
            log.debug("event not logged (%s): %s", exc.message, message)

    def _window(
        self,
        feed: Feed,
        ctx: FetchContext,
        window: Window,
        state: dict[str, Any] | None,
        fr: FeedReport,
    ) -> dict[str, Any]:
        """Fetch, diff and queue one window; returns the feed's new cursor (its sync_state row)."""
        result = feed.fetch(ctx, window)
        detected_at = utcnow()
        tables: dict[str, Any] = {}
        deletions: dict[str, list[str]] = {}
        corrections: list[dict[str, Any]] = []
        by_name = {t.name: t for t in feed.tables}
        rejected = list(result.rejected)
        loaded = 0
        for name, fetched in result.rows.items():
            table = by_name[name]
            data, rows, unfit = checked_arrow(table, fetched)
            rejected += rejected_from_rows(name, unfit)
            loaded += len(rows)
            existing = self.warehouse.existing_rows_full(
                table, self.conn.label, window.start_at, window.end_at
            )
            fixes, removed = diff_rows(table, self.conn.label, existing, rows, detected_at)
            corrections += fixes
            if removed:
                deletions[name] = removed
            tables[name] = data
        # Tables of another source for these days (a switch between the analytics API and the
        # legacy reports): their rows go, without corrections — nothing was revised.
        replaced = {name for name in result.replaces if name not in result.rows}
        for name in replaced:
            keys = self.warehouse.window_keys(name, self.conn.label, window.start_at, window.end_at)
            if keys:
                deletions[name] = keys
        for name, spec in by_name.items():
            if name in result.rows or name in replaced:
                continue
            # The window came back empty for this table: what was there vanished upstream.
            existing = self.warehouse.existing_rows_full(
                spec, self.conn.label, window.start_at, window.end_at
            )
            if existing:
                fixes, removed = diff_rows(spec, self.conn.label, existing, [], detected_at)
                corrections += fixes
                deletions[name] = removed
        today = ctx.now.date()
        served = result.served_until or window.end
        complete = min(window.end, today, served) - timedelta(days=1)
        prev = state or {}
        state_row = {
            "row_key": row_key(self.conn.label, feed.name),
            "connection_label": self.conn.label,
            "feed": feed.name,
            "source": result.source,
            "covered_from": min(window.start, prev.get("covered_from") or window.start),
            # Never moves back: a window re-read for reconciliation ends before the cursor.
            "complete_through": max(complete, prev.get("complete_through") or complete),
            "loaded_through": max(
                window.end - timedelta(days=1), prev.get("loaded_through") or window.start
            ),
            "data_refreshed_at": result.data_refreshed_at or prev.get("data_refreshed_at"),
            "updated_at": detected_at,
        }
        tables[SYNC_STATE.name] = to_arrow(SYNC_STATE, [state_row])
        if corrections:
            tables[CORRECTIONS.name] = to_arrow(CORRECTIONS, corrections)
        events = [
            event_row(
                self.conn.label,
                result.notice_level,
                result.notice_category,
                n,
                {"feed": feed.name, "window": str(window)},
            )
            for n in result.notices
        ]
        events += self._quarantine(feed, window, rejected, tables, deletions, fr, detected_at)
        if events:
            tables[EVENTS.name] = to_arrow(EVENTS, events)
        self.warehouse.load(tables, deletions)  # rows, deletions, corrections, cursor: one commit
        fr.rows += loaded
        fr.corrections += len(corrections)
        return state_row

    def _snapshot(self, feed: Feed, ctx: FetchContext, fr: FeedReport) -> None:
        result = feed.fetch(ctx, Window(ctx.now.date(), ctx.now.date()))
        tables: dict[str, Any] = {}
        deletions: dict[str, list[str]] = {}
        rejected = list(result.rejected)
        for table in feed.tables:
            data, rows, unfit = checked_arrow(table, result.rows.get(table.name, []))
            rejected += rejected_from_rows(table.name, unfit)
            keys = {r["row_key"] for r in rows}
            old = self.warehouse.connection_keys(table.name, self.conn.label)
            gone = [k for k in old if k not in keys]
            if gone:
                deletions[table.name] = gone
            if rows:
                tables[table.name] = data
        events = self._quarantine(feed, None, rejected, tables, deletions, fr, utcnow())
        if events:
            tables[EVENTS.name] = to_arrow(EVENTS, events)
        self.warehouse.load(tables, deletions)  # one transaction
        fr.rows += sum(tables[t.name].num_rows for t in feed.tables if t.name in tables)
        fr.windows += 1

    def _daily(self, feed: Feed, ctx: FetchContext, fr: FeedReport, request: SyncRequest) -> None:
        """A daily snapshot (spend limits): taken when none of the feed's tables has rows of the
        UTC day yet, or again by a full sync; the day's rows, the deletion of the day's rows no
        longer there and the feed's notices in one transaction. No cursor: the rows say it."""
        day = ctx.now.date()
        window = Window(day, day + timedelta(days=1))
        label = self.conn.label
        taken = any(
            self.warehouse.window_keys(t.name, label, window.start_at, window.end_at)
            for t in feed.tables
        )
        if taken and not request.full:
            return
        result = feed.fetch(ctx, window)
        at = utcnow()
        tables: dict[str, Any] = {}
        deletions: dict[str, list[str]] = {}
        rejected = list(result.rejected)
        for table in feed.tables:
            data, rows, unfit = checked_arrow(table, result.rows.get(table.name, []))
            rejected += rejected_from_rows(table.name, unfit)
            keys = {r["row_key"] for r in rows}
            old = self.warehouse.window_keys(table.name, label, window.start_at, window.end_at)
            gone = [k for k in old if k not in keys]
            if gone:
                deletions[table.name] = gone
            if rows:
                tables[table.name] = data
            fr.rows += len(rows)
        detail = {"feed": feed.name, "day": day.isoformat()}
        events = [
            event_row(label, result.notice_level, result.notice_category, n, detail)
            for n in result.notices
        ]
        events += self._quarantine(feed, window, rejected, tables, deletions, fr, at)
        if events:
            tables[EVENTS.name] = to_arrow(EVENTS, events)
        self.warehouse.load(tables, deletions)
        fr.windows += 1

    def _quarantine(
        self,
        feed: Feed,
        window: Window | None,
        rejected: list[Any],
        tables: dict[str, Any],
        deletions: dict[str, list[str]],
        fr: FeedReport,
        at: datetime,
    ) -> list[dict[str, Any]]:
        """Add a window's rejected rows (and the deletion of those it no longer rejects) to its
        write; returns the warning event to log with it, if any."""
        q = quarantine(self.warehouse, self.conn.label, feed.name, window, rejected, at)
        if q.table is not None:
            tables[REJECTED_ROWS.name] = q.table
        if q.stale:
            deletions[REJECTED_ROWS.name] = q.stale
        fr.rejected += q.count
        if q.message is None:
            return []
        log.warning("%s: %s", self.conn.label, q.message)
        return [event_row(self.conn.label, "warning", "data", q.message, q.detail, at)]
