"""Client-side rate limiting: one sliding-window limiter per organization, shared by every
client, thread and endpoint that talks to that organization.

The analytics API allows 60 requests per minute per organization, across all its endpoints and
keys (anthropic-api.md §1.6). The limiter paces requests so a sync stays under that budget
instead of running into 429s:

- `acquire()` blocks until fewer than `rpm` requests occupy the last `window` seconds, then
  takes a slot. A slot stays "in flight" until `release()`; from then it ages out `window`
  seconds later. Counting a slot from the moment its answer arrived (not from when it was
  sent) makes the pacing safe against the server's own clock: the server counted the request
  at some instant before the answer arrived, so the server's window always sees at most `rpm`.
- `penalize(seconds)` pauses every user of the limiter, e.g. for a 429's `retry-after`.

Clock and sleep are injectable, so the behaviour can be tested without waiting.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["DEFAULT_WINDOW", "RateLimiter", "limiter_for", "reset_limiters"]

DEFAULT_WINDOW = 60.0
_IN_FLIGHT = math.inf


class RateLimiter:
    """At most `rpm` requests in any `window` seconds (rpm <= 0: unlimited). Thread-safe."""

    def __init__(
        self,
        rpm: int,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._rpm = rpm
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: dict[int, float] = {}  # ticket -> time the request finished (or in flight)
        self._tickets = itertools.count(1)
        self._paused_until = -math.inf
        # Figures for benchmarks and logs.
        self.acquired = 0
        self.waits = 0
        self.waited_seconds = 0.0
        self.penalties = 0

    @property
    def rpm(self) -> int:
        return self._rpm

    @rpm.setter
    def rpm(self, value: int) -> None:
        with self._lock:
            self._rpm = value

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        for ticket in [t for t, at in self._slots.items() if at <= horizon]:
            del self._slots[ticket]

    def _try_take(self) -> tuple[int | None, float]:
        """Take a slot now (ticket, 0) or say how long to wait (None, seconds)."""
        with self._lock:
            now = self._clock()
            if self._paused_until > now:
                return None, self._paused_until - now
            if self._rpm <= 0:
                self.acquired += 1
                return 0, 0.0
            self._expire(now)
            if len(self._slots) < self._rpm:
                ticket = next(self._tickets)
                self._slots[ticket] = _IN_FLIGHT
                self.acquired += 1
                return ticket, 0.0
            # A finished slot frees `window` after it finished; one in flight cannot free
            # before `window` from now.
            earliest = min(at if at != _IN_FLIGHT else now for at in self._slots.values())
            return None, max(earliest + self.window - now, 1e-3)

    def acquire(self) -> int:
        """Block until a request may be sent; return the ticket to `release()` afterwards."""
        waited = False
        while True:
            ticket, wait = self._try_take()
            if ticket is not None:
                return ticket
            if not waited:
                waited = True
                with self._lock:
                    self.waits += 1
            with self._lock:
                self.waited_seconds += wait
            self._sleep(wait)

    def release(self, ticket: int) -> None:
        """The request of `ticket` got its answer (or failed): its slot ages from now."""
        with self._lock:
            if ticket in self._slots:
                self._slots[ticket] = self._clock()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """`with limiter.slot(): send one request`."""
        ticket = self.acquire()
        try:
            yield
        finally:
            self.release(ticket)

    def penalize(self, seconds: float) -> None:
        """Hold every user of this limiter for `seconds` from now (e.g. a 429's retry-after)."""
        if seconds <= 0:
            return
        with self._lock:
            self.penalties += 1
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def in_window(self) -> int:
        """Requests currently counted against the window (in flight included)."""
        with self._lock:
            self._expire(self._clock())
            return len(self._slots)

    def __repr__(self) -> str:
        return f"RateLimiter(rpm={self._rpm}, window={self.window})"


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def _registry_key(org_key: str) -> str:
    # Callers should pass an organization id or connection label; should a secret be passed
    # anyway, it is not kept in memory as a dictionary key.
    if org_key.startswith("sk-ant-"):
        return "sha256:" + hashlib.sha256(org_key.encode()).hexdigest()
    return org_key


def limiter_for(org_key: str, rpm: int, *, window: float = DEFAULT_WINDOW) -> RateLimiter:
    """The process-wide limiter of one organization (created on first use). `org_key` names
    the organization (its id or connection label, never a key). A later call with another
    `rpm` updates the shared limiter."""
    name = _registry_key(org_key)
    with _registry_lock:
        limiter = _registry.get(name)
        if limiter is None or limiter.window != window:
            limiter = RateLimiter(rpm, window)
            _registry[name] = limiter
        elif limiter.rpm != rpm:
            limiter.rpm = rpm
        return limiter


def reset_limiters() -> None:
    """Forget every registered limiter (tests, or a process that reconfigures)."""
    with _registry_lock:
        _registry.clear()
