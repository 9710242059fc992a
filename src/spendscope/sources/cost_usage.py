"""The cost and usage feeds of a connection: which endpoint serves which window, and how.

    feeds = cost_usage_feeds("console")   # cost, cost_detail, usage, usage_detail

Each feed prefers the Usage and Cost Analytics API (family B) and falls back to the legacy
reports (Console family A, Enterprise family C) according to the connection's `api_mode`:

- `analytics`: always family B (days it cannot serve are left out, with a notice);
- `legacy`: always the legacy reports (Console detail feeds have none: empty results);
- `auto`: family B where it answers. For Console canonical feeds, the days before the analytics
  API's reach (2026-01-01, 365 days back) go to the legacy Console reports, splitting a window
  at that day. If family B refuses the organization as a whole (404 on the path, or a 400 about
  the beta / the endpoint being unavailable), the feed switches to the legacy reports for the
  rest of the sync and says so in a notice. 401 and 403 are raised, never a fallback.

A window served by one source names the other source's table in `FeedResult.replaces`, so a
switch never leaves both for the same days. See docs/feeds-cost-usage.md.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ..errors import UpstreamError
from ..warehouse.tables import (
    CANONICAL_GRAIN,
    CONSOLE_COST,
    CONSOLE_USAGE,
    ENTERPRISE_COST,
    ENTERPRISE_USAGE,
    ENTERPRISE_USER_COST,
    ENTERPRISE_USER_USAGE,
    GRAINS_BY_KIND,
    Table,
)
from .analytics_feeds import analytics_start, analytics_table, clip, fetch_analytics, refused
from .base import (
    ANALYTICS_FLOOR,
    ANALYTICS_LOOKBACK_DAYS,
    ANALYTICS_MAX_DAYS,
    ConnectionInfo,
    Feed,
    FeedResult,
    FetchContext,
    Window,
)
from .legacy_feeds import (
    LEGACY_GROUP_CAP,
    BucketedReport,
    fetch_console_cost,
    fetch_console_usage,
    fetch_enterprise_users,
)

__all__ = ["CostUsageFeed", "cost_usage_feeds"]

ANALYTICS = "analytics"
LEGACY = "legacy"

# (connection kind, endpoint, detail?) -> the legacy table that stands in for family B.
LEGACY_TABLES: dict[tuple[str, str, bool], Table | None] = {
    ("console", "cost", False): CONSOLE_COST,
    ("console", "usage", False): CONSOLE_USAGE,
    ("console", "cost", True): None,
    ("console", "usage", True): None,
    ("enterprise", "cost", False): ENTERPRISE_COST,
    ("enterprise", "usage", False): ENTERPRISE_USAGE,
    ("enterprise", "cost", True): ENTERPRISE_USER_COST,
    ("enterprise", "usage", True): ENTERPRISE_USER_USAGE,
}


class CostUsageFeed:
    """One cost or usage feed of a connection kind (implements `base.Feed`)."""

    mode = "fact"
    window_days = ANALYTICS_MAX_DAYS
    reconciliation = "cost"

    def __init__(
        self, kind: str, endpoint: str, detail: bool, legacy_group_cap: int = LEGACY_GROUP_CAP
    ) -> None:
        if kind not in GRAINS_BY_KIND:
            raise ValueError(f"unknown connection kind: {kind!r}")
        self.kind = kind
        self.endpoint = endpoint  # "cost" | "usage"
        self.detail = detail
        self.name = f"{endpoint}_detail" if detail else endpoint
        self.grain = GRAINS_BY_KIND[kind][1] if detail else CANONICAL_GRAIN[kind]
        self.analytics = analytics_table(self.grain, endpoint)
        self.legacy = LEGACY_TABLES[(kind, endpoint, detail)]
        self.tables: tuple[Table, ...] = (
            (self.analytics,) if self.legacy is None else (self.analytics, self.legacy)
        )
        self.legacy_group_cap = legacy_group_cap
        # Connections (by label) whose organization refused family B during this sync.
        self.fallen_back: set[str] = set()

    def __repr__(self) -> str:
        return f"CostUsageFeed({self.kind!r}, {self.name!r})"

    # -- the Feed contract --------------------------------------------------------------------
    def earliest(self, connection: ConnectionInfo, today: date) -> date | None:
        """Console canonical feeds reach back through the legacy reports (no limit) unless the
        connection is analytics-only; everything else starts where family B/C start."""
        if self.kind == "console" and self.legacy is not None and connection.api_mode != ANALYTICS:
            return None
        # A day is served when it starts within 365 days of the request: today - 364 holds at
        # any hour of `today` (today - 365 only at midnight).
        return max(ANALYTICS_FLOOR, today - timedelta(days=ANALYTICS_LOOKBACK_DAYS - 1))

    def latest(self, now: datetime) -> date:
        return now.date() + timedelta(days=1)  # today is partial (and provisional)

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        result = FeedResult(source=ANALYTICS)
        served: list[str] = []
        for source, part in self._plan(ctx, window, result):
            served.append(self._serve(ctx, source, part, result))
        for table in self.tables:
            if any(s == self._source_of(table) for s in served):
                result.rows.setdefault(table.name, [])
        used = set(served)
        if served:
            result.source = served[-1]
        elif ctx.connection.api_mode == LEGACY or ctx.connection.label in self.fallen_back:
            result.source = LEGACY
        if len(used) == 1 and any(self._source_of(t) in used for t in self.tables):
            result.replaces = tuple(t.name for t in self.tables if self._source_of(t) not in used)
        return result

    # -- planning -----------------------------------------------------------------------------
    def _source_of(self, table: Table) -> str:
        return ANALYTICS if table is self.analytics else LEGACY

    def _wants_legacy(self, conn: ConnectionInfo) -> bool:
        return conn.api_mode == LEGACY or (
            conn.api_mode != ANALYTICS and conn.label in self.fallen_back
        )

    def _plan(
        self, ctx: FetchContext, window: Window, result: FeedResult
    ) -> list[tuple[str, Window]]:
        """The (source, days) parts of a window, in time order."""
        conn = ctx.connection
        first = analytics_start(ctx.now)
        legacy = self._wants_legacy(conn)
        if legacy and self.legacy is None:
            return []  # no legacy report at this grain
        if self.kind == "console" and self.legacy is not None:
            if legacy:
                return [(LEGACY, window)]
            if conn.api_mode == "auto":
                parts = []
                if window.start < first:
                    parts.append((LEGACY, Window(window.start, min(window.end, first))))
                if window.end > first:
                    parts.append((ANALYTICS, Window(max(window.start, first), window.end)))
                return parts
        served = clip(window, first)
        if served != window:
            result.notices.append(
                f"{self.name}: days before {first} are outside the analytics API's reach "
                f"(2026-01-01, 365 days back); {'nothing' if served is None else served} of "
                f"{window} fetched"
            )
        if served is None:
            return []
        return [(LEGACY if legacy else ANALYTICS, served)]

    # -- fetching -----------------------------------------------------------------------------
    def _serve(self, ctx: FetchContext, source: str, window: Window, result: FeedResult) -> str:
        """Fetch one part from `source` into `result`; returns the source that served it."""
        if source == ANALYTICS:
            try:
                rows = fetch_analytics(ctx, self.grain, self.endpoint, window, result)
            except UpstreamError as exc:
                if ctx.connection.api_mode != "auto" or not refused(exc):
                    raise
                self.fallen_back.add(ctx.connection.label)
                result.notices.append(
                    f"{self.name}: the analytics API refused this organization ({exc.message}); "
                    "using the legacy reports for the rest of the sync"
                )
                if self.legacy is None:
                    return LEGACY
                return self._serve(ctx, LEGACY, window, result)
            result.rows.setdefault(self.analytics.name, []).extend(rows)
            return ANALYTICS
        assert self.legacy is not None
        result.rows.setdefault(self.legacy.name, []).extend(self._legacy_rows(ctx, window, result))
        return LEGACY

    def _legacy_rows(
        self, ctx: FetchContext, window: Window, result: FeedResult
    ) -> list[dict[str, Any]]:
        cost = self.endpoint == "cost"
        if self.kind == "console":
            return (
                fetch_console_cost(ctx, window, result)
                if cost
                else fetch_console_usage(ctx, window, result)
            )
        if self.detail:
            return fetch_enterprise_users(ctx, window, cost, result)
        return BucketedReport(ctx, window, cost, result, self.legacy_group_cap).rows()


def cost_usage_feeds(kind: str, *, legacy_group_cap: int = LEGACY_GROUP_CAP) -> list[Feed]:
    """The cost and usage feeds of a connection kind ("console" or "enterprise"): `cost`,
    `cost_detail`, `usage`, `usage_detail`. `legacy_group_cap` is the per-bucket group cap of
    the legacy Enterprise reports (documented: 100)."""
    return [
        CostUsageFeed(kind, endpoint, detail, legacy_group_cap)
        for endpoint in ("cost", "usage")
        for detail in (False, True)
    ]
