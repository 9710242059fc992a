"""What a sync reports: the request, each feed's outcome, each connection's, and the event rows
written to the `events` log."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..errors import (
    AuthenticationFailed,
    MalformedResponse,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportFailure,
    UpstreamError,
)
from ..warehouse.schema import row_key, utcnow


@dataclass(slots=True)
class SyncRequest:
    since: date | None = None
    until: date | None = None  # exclusive
    full: bool = False


@dataclass(slots=True)
class FeedReport:
    feed: str
    windows: int = 0
    rows: int = 0
    corrections: int = 0
    pages: int = 0
    error: str | None = None
    skipped: str | None = None
    # Rows set aside in `rejected_rows` (unrepresentable values); the rest loaded.
    rejected: int = 0


@dataclass(slots=True)
class ConnectionReport:
    label: str
    feeds: list[FeedReport] = field(default_factory=list)
    error: str | None = None
    error_hint: str | None = None
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    # Requests per endpoint path (retries included).
    by_endpoint: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.feeds)

    @property
    def corrections(self) -> int:
        return sum(f.corrections for f in self.feeds)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.feeds)

    @property
    def failed_feeds(self) -> list[FeedReport]:
        return [f for f in self.feeds if f.error]


Progress = Callable[[str, str, int, int], None]  # (connection, feed, done, total)
STOPPED = "not synced: the key was refused (401) on another feed"


def error_category(exc: BaseException) -> str:
    if isinstance(exc, AuthenticationFailed):
        return "credential"
    if isinstance(exc, PermissionDenied):
        return "scope"
    if isinstance(exc, RateLimited):
        return "rate_limit"
    if isinstance(exc, ServerError | TransportFailure):
        return "server"
    if isinstance(exc, MalformedResponse | UpstreamError):
        return "data"
    return "sync"


def event_row(
    connection: str,
    level: str,
    category: str,
    message: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    at = at or utcnow()
    return {
        "row_key": row_key(connection, at.isoformat(), category, message),
        "connection_label": connection,
        "occurred_at": at,
        "level": level,
        "category": category,
        "message": message,
        "detail": json.dumps(detail or {}, default=str, sort_keys=True),
    }
