"""The engagement feeds of Enterprise connections (anthropic-api.md §6).

Six per-entity endpoints are read one UTC day at a time (`date=YYYY-MM-DD&limit=1000`, token
cursor), grouped so that each row is exact for its day: members ungrouped (one row each),
skills, connectors, plugins and artifacts by product and user, projects by user. Summing a
day's rows over any columns gives the API's figure for that cut; a range-mode rollup would not
(distinct counts are recounted over the range). `/summaries` answers a whole window in one page.

Engagement data of day N is aggregated at 10:00 UTC on day N+1. `latest()` is conservative;
should the API still refuse a day ("Data is not yet available for D; the latest available date
is L."), the feed stops at L, returns what it has and logs a notice instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..errors import InvalidRequest, MalformedResponse
from ..upstream.pagination import token_pages
from ..warehouse.engagement_tables import (
    CONNECTOR_PATHS,
    ENGAGEMENT_ARTIFACTS,
    ENGAGEMENT_CONNECTORS,
    ENGAGEMENT_PLUGINS,
    ENGAGEMENT_PROJECTS,
    ENGAGEMENT_SKILLS,
    ENGAGEMENT_SUMMARIES,
    ENGAGEMENT_USERS,
    PLUGIN_PATHS,
    PROJECT_PATHS,
    SKILL_PATHS,
    USER_PATHS,
    Path,
)
from ..warehouse.schema import row_key
from ..warehouse.tables import FACT_HEAD, FACT_TAIL, Table
from .base import ANALYTICS_FLOOR, ConnectionInfo, Feed, FeedResult, FetchContext, Window
from .values import Unrepresentable, bucket_bound, raw_json, to_column

__all__ = [
    "AGGREGATION_HOUR",
    "BASE",
    "DailyEngagementFeed",
    "SummariesFeed",
    "available_end",
    "engagement_feeds",
    "not_yet_available",
]

BASE = "/v1/organizations/analytics"
PAGE_LIMIT = 1000  # the endpoints' maximum
AGGREGATION_HOUR = 10  # day N-1 is aggregated at 10:00 UTC on day N
WINDOW_DAYS = 31
_BOOKKEEPING = frozenset(c.name for c in (*FACT_HEAD, *FACT_TAIL)) | {"metrics_json"}
_NOT_YET = re.compile(r"latest available (?:date|day) is (\d{4}-\d{2}-\d{2})")


def available_end(now: datetime) -> date:
    """The exclusive end day engagement data can be asked for at `now`, conservatively:
    yesterday once today's aggregation (10:00 UTC) has run, the day before until then."""
    lag = 1 if now.hour >= AGGREGATION_HOUR else 2
    return now.date() - timedelta(days=lag) + timedelta(days=1)


def not_yet_available(exc: InvalidRequest) -> date | None:
    """The latest available day named by a "Data is not yet available" 400, else None."""
    m = _NOT_YET.search(exc.upstream_message or "")
    return date.fromisoformat(m.group(1)) if m else None


def _malformed(path: str, why: str) -> MalformedResponse:
    return MalformedResponse(f"Unexpected answer from GET {path}: {why}", status=200, path=path)


def _dig(item: dict[str, Any], path: Path) -> Any:
    value: Any = item
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _day_start(day: date) -> datetime:
    return Window(day, day).start_at


def _key(table: Table, label: str, row: dict[str, Any]) -> str:
    parts = [v.isoformat() if isinstance(v, datetime) else v for v in (row[c] for c in table.key)]
    return row_key(label, table.name, *parts)


def _flatten(
    table: Table, paths: dict[str, Path], item: dict[str, Any], where: str
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in _BOOKKEEPING:
            continue
        path = paths.get(column.name, (column.name,))
        value = to_column(column, _dig(item, path), ".".join(path))
        if value is None and not column.nullable:
            raise Unrepresentable(f"{'.'.join(path)} is missing")
        row[column.name] = value
    if "metrics_json" in table.column_names:
        row["metrics_json"] = raw_json(item)
    return row


def _finish(table: Table, ctx: FetchContext, row: dict[str, Any], day: date) -> dict[str, Any]:
    bounds = Window(day, day + timedelta(days=1))
    row.update(
        connection_label=ctx.connection.label,
        bucket_start=bounds.start_at,
        bucket_end=bounds.end_at,
        fetched_at=ctx.fetched_at,
        is_provisional=False,  # a day is served once aggregated; revisions are corrections
        data_refreshed_at=None,
    )
    row["row_key"] = _key(table, ctx.connection.label, row)
    return row


def _stop_notice(feed: str, asked: date, latest: date) -> str:
    return (
        f"{feed}: engagement data for {asked} is not available yet (the API's latest "
        f"available day is {latest}); loaded through {latest}"
    )


@dataclass(slots=True)
class _EngagementBase:
    name: str
    tables: tuple[Table, ...]
    mode: str = "fact"
    window_days: int = WINDOW_DAYS
    reconciliation: str = "engagement"
    optional: bool = False

    def earliest(self, connection: ConnectionInfo, today: date) -> date | None:
        return ANALYTICS_FLOOR

    def latest(self, now: datetime) -> date:
        return available_end(now)


@dataclass(slots=True)
class DailyEngagementFeed(_EngagementBase):
    """A per-entity endpoint, one request sequence per day."""

    path: str = ""
    group_by: tuple[str, ...] = ()
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def table(self) -> Table:
        return self.tables[0]

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        result = FeedResult(source="analytics")
        result.rows[self.table.name] = []
        day = window.start
        while day < window.end:
            try:
                rows = list(self._day(ctx, day, result))
            except InvalidRequest as exc:
                latest = not_yet_available(exc)
                if latest is None or latest >= day:
                    raise
                result.notices.append(_stop_notice(self.name, day, latest))
                result.served_until = day
                break
            result.rows[self.table.name] += rows
            day += timedelta(days=1)
        return result

    def _day(self, ctx: FetchContext, day: date, result: FeedResult) -> Iterator[dict[str, Any]]:
        params = [("date", day.isoformat()), *(("group_by[]", g) for g in self.group_by)]
        seen: set[str] = set()
        for page in token_pages(ctx.client, self.path, params, limit=PAGE_LIMIT):
            ctx.on_page(self.path)
            for item in page["data"]:
                try:
                    if not isinstance(item, dict):
                        raise Unrepresentable("the row is not an object")
                    flat = _flatten(self.table, self.paths, item, self.path)
                except Unrepresentable as exc:
                    result.reject(self.table.name, self.path, item, exc.reason, _day_start(day))
                    continue
                row = _finish(self.table, ctx, flat, day)
                if row["row_key"] in seen:
                    keys = {c: row[c] for c in self.table.key}
                    raise _malformed(self.path, f"two rows for {keys} on {day}")
                seen.add(row["row_key"])
                yield row


@dataclass(slots=True)
class SummariesFeed(_EngagementBase):
    """`/summaries`: the organization-wide daily series, one request per window."""

    path: str = f"{BASE}/summaries"

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        table = ENGAGEMENT_SUMMARIES
        result = FeedResult(source="analytics")
        result.rows[table.name] = []
        end = window.end
        while True:
            try:
                entries = self._series(ctx, window.start, end)
                break
            except InvalidRequest as exc:
                latest = not_yet_available(exc)
                if latest is None or latest + timedelta(days=1) >= end:
                    raise
                result.notices.append(_stop_notice(self.name, latest + timedelta(days=1), latest))
                if latest < window.start:
                    result.served_until = window.start
                    return result
                end = latest + timedelta(days=1)
                result.served_until = end
        for entry in entries:
            try:
                start = bucket_bound(entry.get("starting_at"), "starting_at")
                day = start.date()
                if not window.start <= day < end:
                    continue
                flat = _flatten(table, {}, entry, self.path)
            except Unrepresentable as exc:
                result.reject(table.name, self.path, entry, exc.reason)
                continue
            result.add(table.name, _finish(table, ctx, flat, day))
        return result

    def _series(self, ctx: FetchContext, start: date, end: date) -> list[dict[str, Any]]:
        """Every entry of [start, end): one page (the API sends the whole series at once;
        a `next_page`, should one come, is followed). Accepts the `data` envelope and the
        older `summaries` one."""
        base = [("starting_date", start.isoformat()), ("ending_date", end.isoformat())]
        query = list(base)
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            page = ctx.client.get(self.path, query)
            ctx.on_page(self.path)
            items = page.get("data")
            if not isinstance(items, list):
                items = page.get("summaries")
            if not isinstance(items, list):
                raise _malformed(self.path, "neither `data` nor `summaries` is a list")
            entries += [i for i in items if isinstance(i, dict)]
            cursor = page.get("next_page")
            if not isinstance(cursor, str) or not cursor:
                return entries
            if cursor in seen:
                raise _malformed(self.path, f"cursor {cursor!r} repeats")
            seen.add(cursor)
            query = [*base, ("page", cursor)]


_BY_PRODUCT_USER = ("product", "user_id")


def engagement_feeds() -> list[Feed]:
    """The engagement feeds of an Enterprise connection."""
    return [
        DailyEngagementFeed(
            "engagement_users", (ENGAGEMENT_USERS,), path=f"{BASE}/users", paths=USER_PATHS
        ),
        SummariesFeed("engagement_summaries", (ENGAGEMENT_SUMMARIES,)),
        DailyEngagementFeed(
            "engagement_skills",
            (ENGAGEMENT_SKILLS,),
            path=f"{BASE}/skills",
            group_by=_BY_PRODUCT_USER,
            paths=SKILL_PATHS,
        ),
        DailyEngagementFeed(
            "engagement_connectors",
            (ENGAGEMENT_CONNECTORS,),
            path=f"{BASE}/connectors",
            group_by=_BY_PRODUCT_USER,
            paths=CONNECTOR_PATHS,
        ),
        DailyEngagementFeed(
            "engagement_plugins",
            (ENGAGEMENT_PLUGINS,),
            path=f"{BASE}/plugins",
            group_by=_BY_PRODUCT_USER,
            paths=PLUGIN_PATHS,
        ),
        DailyEngagementFeed(
            "engagement_artifacts",
            (ENGAGEMENT_ARTIFACTS,),
            path=f"{BASE}/artifacts",
            group_by=_BY_PRODUCT_USER,
        ),
        DailyEngagementFeed(
            "engagement_projects",
            (ENGAGEMENT_PROJECTS,),
            path=f"{BASE}/apps/chat/projects",
            group_by=("user_id",),
            paths=PROJECT_PATHS,
        ),
    ]
