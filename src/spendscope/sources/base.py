"""What a feed is: one kind of upstream data, fetched window by window into warehouse tables.

A *feed* knows which endpoint(s) to call for a time window and how to flatten the answers into
rows of its tables. The sync engine (`engine.py`) decides which windows to fetch (backfill,
new data, the trailing reconciliation window), compares the rows with what is loaded to log
corrections, and loads everything through the warehouse. Feeds never touch the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from ..upstream.client import AnthropicClient
from ..warehouse.tables import Table

ANALYTICS_FLOOR = date(2026, 1, 1)  # the analytics API serves nothing earlier
ANALYTICS_LOOKBACK_DAYS = 365  # ... and nothing more than 365 days back
ANALYTICS_MAX_DAYS = 31  # one query spans at most 31 days


@dataclass(frozen=True, slots=True)
class Window:
    """Days [start, end), UTC."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


def split(start: date, end: date, size: int) -> list[Window]:
    """[start, end) cut into windows of at most `size` days."""
    out = []
    d = start
    while d < end:
        e = min(end, d + timedelta(days=size))
        out.append(Window(d, e))
        d = e
    return out


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    label: str
    kind: str  # "console" | "enterprise"
    organization_id: str | None
    api_mode: str  # "auto" | "analytics" | "legacy"


@dataclass(slots=True)
class FetchContext:
    """Everything a feed needs to fetch: the client, the connection, the clock."""

    client: AnthropicClient
    connection: ConnectionInfo
    now: datetime
    fetched_at: datetime
    # Called once per page fetched, for progress reporting.
    on_page: Callable[[str], None] = lambda _path: None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row the API sent that no table can hold (see `values.py`): kept in `rejected_rows`."""

    table: str  # the table it was meant for
    endpoint: str | None  # the path that sent it
    raw: Any  # the item as the API sent it (decoded JSON)
    reason: str
    bucket_start: datetime | None = None  # its day or bucket, when known


@dataclass(slots=True)
class FeedResult:
    """Rows of one window, per table name, plus what the API said about freshness."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The endpoint family that served it ("analytics" or "legacy"); stored in sync_state.
    source: str = "analytics"
    # The API's data_refreshed_at watermark (families B, C); None where the API has none.
    data_refreshed_at: datetime | None = None
    # Tables whose rows for this window came from another source and must go (a switch
    # between the analytics API and the legacy reports for the same days).
    replaces: tuple[str, ...] = ()
    # Notices for the event log (e.g. "top-100 cap reached, split by product"), logged at this
    # level and in this category.
    notices: list[str] = field(default_factory=list)
    notice_level: str = "warning"
    notice_category: str = "data"
    # Set when the feed served less than the window (the API's latest day came first): the
    # exclusive end of what it served, so the cursor does not claim the rest.
    served_until: date | None = None
    # Rows set aside as unrepresentable (the rest of the window loads).
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def reject(
        self,
        table: str,
        endpoint: str | None,
        raw: Any,
        reason: str,
        bucket_start: datetime | None = None,
    ) -> None:
        self.rejected.append(Rejected(table, endpoint, raw, reason, bucket_start))


class Feed(Protocol):
    """One kind of data of a connection."""

    name: str  # the sync_state key
    tables: tuple[Table, ...]  # every table it writes
    # "fact": loaded by windows and revisable; "snapshot": the whole list each sync; "daily":
    # a snapshot of the day, taken at most once per UTC day, kept day by day.
    mode: str
    # Largest window one fetch covers (days); the engine cuts ranges into such windows.
    window_days: int
    # Trailing days re-read on every refresh ("cost" = settings.reconciliation_days,
    # "engagement" = settings.engagement_reconciliation_days).
    reconciliation: str

    def earliest(self, connection: ConnectionInfo, today: date) -> date | None:
        """The first day this feed can serve (None: no limit)."""
        ...

    def latest(self, now: datetime) -> date:
        """The exclusive end day this feed can serve at `now` (e.g. today + 1)."""
        ...

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        """Fetch one window (fact feeds) or everything (snapshot feeds; window ignored)."""
        ...


def as_int(value: Any) -> int:
    return int(value or 0)


def parse_ts(value: Any) -> datetime | None:
    """RFC 3339 (Z or offset) or YYYY-MM-DD as an aware UTC datetime."""
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) == 10:
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
