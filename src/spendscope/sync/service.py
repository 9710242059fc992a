"""Syncs inside `spendscope serve`: on demand ("sync now") and every `refresh_hours`.

DuckDB lets one process write a database file, so while the dashboard runs, its process is the
one that syncs: a single background thread runs one sync at a time on the app's warehouse, and
the API reports its state. Operations that change the warehouse otherwise (deleting a
connection) hold `exclusive()`: no sync runs while they do, and none starts.

After a sync in which at least one connection succeeded, the service runs its `after_sync`
hook (what `serve` evaluates alerts with). The hook returns warnings (alerts not delivered),
written to the event log of the connections synced; an error of the hook is logged there too,
and the server keeps running. Every `FLUSH_SECONDS` it sends the alert notifications that
routes held (groups, quiet hours, digests) once they are due.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse

log = logging.getLogger("spendscope.serve")

# How often `serve` sends the alert notifications routes held that have fallen due.
FLUSH_SECONDS = 60.0


class SyncBusy(Exception):
    pass


class SyncService:
    def __init__(
        self,
        settings: Settings,
        warehouse: Warehouse,
        *,
        scheduled: bool,
        now: Callable[[], datetime] | None = None,
        client_options: dict[str, Any] | None = None,
        after_sync: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.settings = settings
        self._after_sync = after_sync
        self.warehouse = warehouse
        self.scheduled = scheduled and settings.refresh_hours > 0
        self._now = now or (lambda: datetime.now(UTC))
        self._client_options = client_options
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Set each time a run finishes (cleared when one starts): what a caller waits on.
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._scheduler: threading.Thread | None = None
        self._flusher: threading.Thread | None = None
        self.running = False
        self._held = False  # an operation holds exclusive()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.next_run_at: datetime | None = None
        self.results: list[dict[str, Any]] = []
        self.error: str | None = None
        self.labels: list[str] = []

    # -- state ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "running": self.running,
            "connections": list(self.labels),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "next_run_at": iso(self.next_run_at) if self.scheduled else None,
            "scheduled": self.scheduled,
            "every_hours": self.settings.refresh_hours,
            "results": list(self.results),
            "error": self.error,
        }

    # -- running -------------------------------------------------------------------------------
    def start(self, labels: Sequence[str] | None = None) -> dict[str, Any]:
        """Start a sync in the background; `SyncBusy` if one is running."""
        with self._lock:
            if self.running or self._held:
                raise SyncBusy
            self.running = True
            self.labels = list(labels or [])
            self.started_at = self._now()
            self.finished_at = None
            self.error = None
            self.finished.clear()
            self._thread = threading.Thread(
                target=self._run, args=(list(labels or []),), name="serve-sync", daemon=True
            )
            self._thread.start()
        return self.status()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Run an operation on the warehouse with no sync running or starting meanwhile;
        `SyncBusy` at once if a sync is running (or another operation holds it)."""
        with self._lock:
            if self.running or self._held:
                raise SyncBusy
            self._held = True
        try:
            yield
        finally:
            with self._lock:
                self._held = False

    def wait(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)

    def _run(self, labels: list[str]) -> None:
        from ..connections import ConnectionStore
        from .run import run_sync

        try:
            store = ConnectionStore(self.settings)
            if not labels and not store.all():
                self.results = []
                return
            reports = run_sync(
                self.settings,
                store,
                self.warehouse,
                labels=labels or None,
                now=self._now,
                client_options=self._client_options,
            )
            self.results = [
                {
                    "label": r.label,
                    "rows": r.rows,
                    "requests": r.requests,
                    "seconds": round(r.seconds, 1),
                    "error": r.error,
                }
                for r in reports
            ]
            self.run_after_sync([r.label for r in reports if r.error is None])
        except Exception as exc:  # reported through the API, the server keeps running
            from ..errors import SpendscopeError

            self.error = exc.message if isinstance(exc, SpendscopeError) else repr(exc)
            log.warning("sync failed: %s", self.error)
        finally:
            with self._lock:
                self.running = False
                self.finished_at = self._now()
                if self.scheduled:
                    self.next_run_at = self.finished_at + timedelta(
                        hours=self.settings.refresh_hours
                    )
                self.finished.set()

    def run_after_sync(self, labels: Sequence[str]) -> None:
        """Run the `after_sync` hook after a sync of `labels` (the connections that synced;
        none: nothing runs). Its warnings, or its error, go to their event log; never raises."""
        if self._after_sync is None or not labels:
            return
        from ..errors import SpendscopeError

        events: list[tuple[str, str, dict[str, Any]]]
        try:
            events = [("warning", w, {}) for w in self._after_sync()]
        except Exception as exc:
            error = exc.message if isinstance(exc, SpendscopeError) else repr(exc)
            log.warning("alert evaluation after the sync failed: %s", error)
            events = [("error", "alert evaluation after the sync failed", {"error": error})]
        if not events:
            return
        from ..warehouse.schema import to_arrow
        from ..warehouse.tables import EVENTS
        from .reports import event_row

        rows = [
            event_row(label, level, "notice", message, detail, at=self._now())
            for label in labels
            for level, message, detail in events
        ]
        try:
            self.warehouse.load({EVENTS.name: to_arrow(EVENTS, rows)})
        except Exception as exc:  # the event log itself failed: the server keeps running
            log.warning("could not log the alert evaluation's outcome: %r", exc)

    # -- held alert notifications --------------------------------------------------------------
    def flush_alerts(self) -> int:
        """Send the alert notifications that routes held (groups, quiet hours, digests) and
        that are now due; returns how many messages went out. Never raises: a failure, and a
        message that died, is logged."""
        from ..errors import SpendscopeError
        from ..notify.channels import ChannelStore
        from ..notify.delivery import flush

        try:
            done = flush(self.warehouse, ChannelStore(self.settings), self._now())
        except Exception as exc:  # the server keeps running; the next tick tries again
            error = exc.message if isinstance(exc, SpendscopeError) else repr(exc)
            log.warning("sending the held alert notifications failed: %s", error)
            return 0
        for message in done:
            if message.delivery.state == "dead":
                log.warning("alert not delivered: %s", message.describe())
        return sum(m.delivery.sent_now for m in done)

    def _flush_loop(self) -> None:
        while not self._stop.wait(timeout=FLUSH_SECONDS):
            self.flush_alerts()

    # -- the schedule --------------------------------------------------------------------------
    def start_schedule(self, last_success: datetime | None) -> None:
        """Sync every `refresh_hours`; at once if the last success is older than that. Send
        the held alert notifications as they fall due (every `FLUSH_SECONDS`), with or without
        the schedule."""
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="serve-alerts", daemon=True
            )
            self._flusher.start()
        if not self.scheduled:
            return
        every = timedelta(hours=self.settings.refresh_hours)
        self.next_run_at = self._now() if last_success is None else last_success + every
        self._scheduler = threading.Thread(target=self._loop, name="serve-schedule", daemon=True)
        self._scheduler.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            due = self.next_run_at
            if due is not None and self._now() >= due and not self.running and not self._held:
                with contextlib.suppress(SyncBusy):
                    self.start()
                self.wait()
            self._stop.wait(timeout=min(30.0, self._seconds_until(due)))

    def _seconds_until(self, due: datetime | None) -> float:
        if due is None:
            return 30.0
        return max(1.0, (due - self._now()).total_seconds())

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in (self._scheduler, self._flusher):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        self.wait(max(0.0, deadline - time.monotonic()))
