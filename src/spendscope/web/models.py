"""The REST API's answers, as pydantic models: what /api/v1/openapi.json documents, and what
every endpoint's answer is checked against before it leaves.

Money is exact decimal text in US dollars (`Money`, e.g. "1234.567891230"), never a JSON number;
counts are integers; a metric's value (`Value`) is money text for a `usd` metric and an integer
for a `count` metric. Days are `YYYY-MM-DD` (UTC); times are ISO 8601 (RFC 3339), UTC written `Z`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..reporting.connections import ConnectionRow
from .errors import ErrorDetail

Money = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+\.[0-9]{2,}$",
        description="Exact decimal text in US dollars (at least two decimals).",
        examples=["1234.567891230"],
    ),
]
Value = Annotated[
    Money | int,
    Field(description="Exact dollar text for a `usd` metric, an integer for a `count` metric."),
]
Share = Annotated[float, Field(description="A fraction of the total (0 to 1).")]


def _date_format(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            option["format"] = "date"


# Days sent as text are parsed by validation.parse_date (a malformed or out-of-range day is a 400
# naming the accepted range); the OpenAPI schema documents them as `format: date` strings.
DAY = _date_format
Rate = Annotated[float | None, Field(description="accepted ÷ (accepted + rejected); null if none.")]


class Out(BaseModel):
    """An API answer: its fields are exactly those documented."""

    model_config = ConfigDict(extra="forbid")


# -- meta and freshness -------------------------------------------------------------------------


class DimensionOut(Out):
    name: str = Field(description="The name to pass as `group_by`, `by` or in a filter.")
    label: str = Field(description="The name people read.")
    allocation: bool = Field(
        description="An allocation dimension (team, cost_center, …): cost metrics only, one "
        "per question."
    )


class MetricOut(Out):
    name: str = Field(description="The name to pass as `metric`.")
    label: str = Field(description="The name people read.")
    unit: Literal["usd", "count"] = Field(description="`usd` (money text) or `count`.")


class ConnectionRef(Out):
    label: str = Field(description="The connection's label.")
    kind: str = Field(description="`console` or `enterprise`.")


class SyncScheduleOut(Out):
    scheduled: bool = Field(description="Whether `serve` syncs on a schedule.")
    every_hours: float = Field(description="The schedule's period, in hours.")


class MetaOut(Out):
    version: str = Field(description="spendscope's version.")
    today: date = Field(description="The server's current day (UTC).")
    dimensions: list[DimensionOut] = Field(
        description="Every dimension, in display order: the built-in ones, then the "
        "allocation dimensions."
    )
    metrics: list[MetricOut] = Field(description="Every metric, in display order.")
    granularities: list[str] = Field(description="The time buckets: day, week, month.")
    connections: list[ConnectionRef] = Field(description="The active connections.")
    default_base_url: str = Field(description="The Anthropic API base URL used by default.")
    sync: SyncScheduleOut = Field(description="The sync schedule.")


class FreshnessConnection(Out):
    label: str = Field(description="The connection's label.")
    kind: str = Field(description="`console` or `enterprise`.")
    health: str = Field(description="Its sync state (see /connections).")
    last_success: datetime | None = Field(description="When its last sync finished.")
    complete_through: date | None = Field(description="Cost and usage complete through this day.")
    provisional_from: date | None = Field(
        description="Its first day (in the last 62) still marked provisional."
    )


class FreshnessOut(Out):
    complete_through: date | None = Field(
        description="The earliest `complete_through` of the active connections; null while one "
        "has not finished its first sync."
    )
    provisional_from: date | None = Field(
        description="The first day any connection still marks provisional (may change)."
    )
    message: str = Field(description="One sentence for a banner.")
    connections: list[FreshnessConnection] = Field(description="The active connections.")


# -- spend and usage ----------------------------------------------------------------------------


class MonthToDate(Out):
    since: date = Field(description="The month's first day.")
    until: date = Field(description="The day after `as_of` (exclusive).")
    cost: Money = Field(description="Billed cost.")
    list_cost: Money = Field(description="List cost.")


class LastMonth(Out):
    since: date = Field(description="Last month's first day.")
    until: date = Field(description="The end of the same days of last month (exclusive).")
    cost: Money = Field(description="Billed cost over the same days of last month.")
    full_month_cost: Money = Field(description="Billed cost over the whole of last month.")


class TrendDay(Out):
    day: date = Field(description="The day.")
    cost: Money = Field(description="Billed cost that day.")
    provisional: bool = Field(description="Whether the day holds provisional rows.")


class TopItem(Out):
    key: str = Field(description="The dimension's value (`__none__` when missing).")
    label: str = Field(description="What people read for it.")
    cost: Money = Field(description="Billed cost month to date.")
    share: Share


class TopOut(Out):
    """Month to date, at most five each, biggest first."""

    workspace: list[TopItem] = Field(description="Console workspaces.")
    api_key: list[TopItem] = Field(description="Console API keys.")
    user: list[TopItem] = Field(description="Enterprise users.")
    model: list[TopItem] = Field(description="Models.")


class Mover(Out):
    dimension: str = Field(description="workspace, api_key, user or model.")
    key: str = Field(description="The dimension's value.")
    label: str = Field(description="What people read for it.")
    current: Money = Field(description="Billed cost over the last 7 days.")
    previous: Money = Field(description="Billed cost over the 7 days before.")
    delta: Money = Field(description="current − previous.")


class OverviewOut(Out):
    as_of: date = Field(description="The day reported as of.")
    month: str = Field(description="`as_of`'s month, `YYYY-MM`.")
    month_to_date: MonthToDate = Field(
        description="The month so far: from its first day through `as_of`."
    )
    last_month: LastMonth = Field(description="Last month: its same days, and the whole of it.")
    change: float | None = Field(
        description="Month to date against the same days of last month, as a fraction; null "
        "when last month had none."
    )
    trend: list[TrendDay] = Field(description="The last 60 days, oldest first.")
    top: TopOut = Field(description="Top spenders month to date; `share` is of month to date.")
    movers: list[Mover] = Field(
        description="Last 7 days against the 7 before, at most 8, biggest change first."
    )
    freshness: FreshnessOut = Field(description="As /freshness.")


class GroupOut(Out):
    key: str = Field(
        description="The group's value: `__none__` when missing, `__other__` for the groups "
        "past `limit`, `__total__` with no `group_by`."
    )
    label: str = Field(description="What people read: `(none)`, `Other`, `Total`, or a name.")
    total: Value
    share: Share


class SeriesOut(Out):
    key: str = Field(description="As in `groups`.")
    label: str = Field(description="As in `groups`.")
    values: list[Value] = Field(description="One value per period, aligned with `periods`.")


class ExploreOut(Out):
    metric: str = Field(description="The metric's name.")
    metric_label: str = Field(description="The metric's label.")
    unit: Literal["usd", "count"] = Field(description="The metric's unit.")
    group_by: str | None = Field(description="The dimension grouped by, or null.")
    granularity: Literal["day", "week", "month"] = Field(description="The time bucket.")
    since: date = Field(description="First day.")
    until: date = Field(description="Day to stop before (exclusive).")
    filters: dict[str, list[str]] = Field(description="The filters, by dimension.")
    periods: list[date] = Field(description="Every period's first day in the range, oldest first.")
    groups: list[GroupOut] = Field(description="Biggest first, `Other` last.")
    series: list[SeriesOut] = Field(description="The groups over time, in the same order.")
    total: Value
    provisional_from: date | None = Field(
        description="The first day in the range holding provisional rows."
    )
    notes: list[str] = Field(description="What to know about this grouping (missing values).")


Cell = Annotated[
    str | int | date | None,
    Field(description="A dimension value (null when missing), a period's day, or the metric."),
]


class ReportOut(Out):
    columns: list[str] = Field(description="The grouping columns, then the metric.")
    rows: list[dict[str, Cell]] = Field(description="One object per group, keyed by column.")


class DimensionValue(Out):
    key: str = Field(description="The value to filter on (`__none__` when missing).")
    label: str = Field(description="What people read for it.")
    total: Value


class DimensionValuesOut(Out):
    dimension: str = Field(description="The dimension's name.")
    values: list[DimensionValue] = Field(description="Biggest first, at most 500.")


# -- Claude Code and engagement -----------------------------------------------------------------


class ClaudeCodeTotals(Out):
    active_users: int = Field(description="Users or keys with any activity.")
    sessions: int = Field(description="Claude Code sessions.")
    lines_added: int = Field(description="Lines of code added.")
    lines_removed: int = Field(description="Lines of code removed.")
    commits: int = Field(description="Commits made with Claude Code.")
    pull_requests: int = Field(description="Pull requests opened with Claude Code.")
    accept_rate: Rate
    cost: Money = Field(description="Estimated cost.")
    cost_per_active_user: Money | None = Field(description="null with no active user.")


class ToolOut(Out):
    tool: str = Field(description="edit, multi_edit, write or notebook_edit.")
    accepted: int = Field(description="Suggestions of this tool accepted.")
    rejected: int = Field(description="Suggestions of this tool rejected.")
    accept_rate: Rate


class ClaudeCodePeriod(Out):
    period: date = Field(description="The period's first day.")
    active_users: int = Field(description="Users or keys with any activity in the period.")
    sessions: int = Field(description="Claude Code sessions.")
    lines_added: int = Field(description="Lines of code added.")
    lines_removed: int = Field(description="Lines of code removed.")
    commits: int = Field(description="Commits made with Claude Code.")
    pull_requests: int = Field(description="Pull requests opened with Claude Code.")
    cost: Money = Field(description="Estimated cost.")


class ClaudeCodeUser(Out):
    user: str | None = Field(description="The user's e-mail (or pseudonym), or the API key name.")
    actor_type: str | None = Field(description="As reported (a user or an API key).")
    active_days: int = Field(description="Days with any activity.")
    sessions: int = Field(description="Claude Code sessions.")
    lines_added: int = Field(description="Lines of code added.")
    lines_removed: int = Field(description="Lines of code removed.")
    commits: int = Field(description="Commits made with Claude Code.")
    pull_requests: int = Field(description="Pull requests opened with Claude Code.")
    accept_rate: Rate
    cost: Money = Field(description="Estimated cost.")


class ClaudeCodeOut(Out):
    since: date = Field(description="First day.")
    until: date = Field(description="Day to stop before (exclusive).")
    granularity: Literal["day", "week", "month"] = Field(description="The time bucket of `series`.")
    totals: ClaudeCodeTotals = Field(description="Over the whole range.")
    tools: list[ToolOut] = Field(description="Accepted and rejected suggestions per editing tool.")
    series: list[ClaudeCodePeriod] = Field(description="Every period in the range, oldest first.")
    users: list[ClaudeCodeUser] = Field(description="By cost, biggest first, at most 200.")


class EngagementLatest(Out):
    """The last day with data. Adoption rates are percentages (active users ÷ seats × 100), as
    the API reports them."""

    day: date = Field(description="The day.")
    daily_active: int | None = Field(description="Users active that day.")
    weekly_active: int | None = Field(description="Users active in the 7 days through that day.")
    monthly_active: int | None = Field(description="Users active in the 30 days through that day.")
    seats: int | None = Field(description="Assigned seats.")
    pending_invites: int | None = Field(description="Invitations not yet accepted.")
    daily_adoption_rate: float | None = Field(description="Daily active users ÷ seats × 100.")
    weekly_adoption_rate: float | None = Field(description="Weekly active users ÷ seats × 100.")
    monthly_adoption_rate: float | None = Field(description="Monthly active users ÷ seats × 100.")


class EngagementDay(EngagementLatest):
    """One day (several Enterprise connections add up; rates are averaged)."""

    chat_daily_active: int | None = Field(description="Users active in chat that day.")
    claude_code_daily_active: int | None = Field(
        description="Users active in Claude Code that day."
    )
    cowork_daily_active: int | None = Field(description="Users active in Cowork that day.")


class SkillOut(Out):
    name: str = Field(description="The skill's name.")
    label: str | None = Field(description="Its display name.")
    users: int = Field(description="Users who invoked it.")
    invocations: int | None = Field(description="Times it was invoked.")


class ConnectorOut(Out):
    name: str = Field(description="The connector's name.")
    label: str | None = Field(description="Its display name.")
    users: int = Field(description="Users who called it.")
    calls: int | None = Field(description="Read, write and other calls.")


class ProjectOut(Out):
    id: str = Field(description="The project's id.")
    name: str | None = Field(description="Its name.")
    users: int = Field(description="Users active in it.")
    conversations: int | None = Field(description="Distinct conversations in it.")


class EngagementOut(Out):
    since: date = Field(description="First day.")
    until: date = Field(description="Day to stop before (exclusive).")
    available: bool = Field(description="false when no Enterprise connection has engagement data.")
    latest: EngagementLatest | None = Field(description="The last day with data, or null.")
    series: list[EngagementDay] = Field(description="Every day with data, oldest first.")
    skills: list[SkillOut] = Field(description="By users, at most 50.")
    connectors: list[ConnectorOut] = Field(description="By users, at most 50.")
    projects: list[ProjectOut] = Field(description="By users, at most 50.")


# -- connections and sync -----------------------------------------------------------------------


class ConnectionsOut(Out):
    connections: list[ConnectionRow] = Field(description="The active connections.")


class HealthEntry(Out):
    """A field is absent when it does not apply (no sync yet, no error, ...)."""

    state: str = Field(description="As `health` in /connections.")
    last_success: datetime | None = Field(None, description="When its last sync finished.")
    last_error: str | None = Field(None, description="Why its last sync failed, or its key.")
    last_error_at: datetime | None = Field(None, description="When its last sync failed.")
    started_at: datetime | None = Field(None, description="When the running sync started.")
    interrupted_at: datetime | None = Field(
        None, description="When the sync that never ended started."
    )
    complete_through: date | None = Field(None, description="Cost and usage complete through.")
    rows: int | None = Field(None, description="Its rows in the spend and usage marts.")
    rejected: int | None = Field(None, description="Its rows set aside (unrepresentable).")


class HealthOut(Out):
    connections: dict[str, HealthEntry] = Field(
        description="By label: every connection the warehouse knows, deleted ones included."
    )


class ConnectedOut(Out):
    connection: ConnectionRow = Field(description="The new connection (never synced yet).")
    message: str = Field(description="`Connected <label>: <organization> (<id>).`")


class ConnectionTestPassed(Out):
    ok: Literal[True] = Field(description="The key works.")
    message: str = Field(description="`<label> reaches <organization> (<id>).`")


class ConnectionTestFailed(Out):
    ok: Literal[False] = Field(description="The key does not work.")
    error: ErrorDetail = Field(description="Why the key does not work.")


class DeletedOut(Out):
    deleted: str = Field(description="The connection's label.")
    purged: bool = Field(description="Whether its data was deleted too.")
    rows_removed: int = Field(description="Rows deleted from the warehouse.")


# Free-form by nature: what an event records (counts, the endpoint, a request id, ...).
Detail = Annotated[
    dict[str, object] | str | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "object", "additionalProperties": True},
                {"type": "string"},
                {"type": "null"},
            ],
            "description": "The event's detail: a JSON object (counts, endpoint, request id, "
            "...); text if it could not be read as JSON; null if none.",
        }
    ),
]


class EventOut(Out):
    occurred_at: datetime = Field(description="When it happened.")
    level: str = Field(description="info, warning or error.")
    category: str = Field(description="What the event is about (sync, feed, ...).")
    message: str = Field(description="What happened, in one line.")
    detail: Detail


class EventsOut(Out):
    events: list[EventOut] = Field(description="Newest first.")


class SyncResult(Out):
    label: str = Field(description="The connection.")
    rows: int = Field(description="Rows written.")
    requests: int = Field(description="API requests made.")
    seconds: float = Field(description="How long its sync took.")
    error: str | None = Field(description="Why the connection's sync failed, or null.")


class SyncStatusOut(Out):
    running: bool = Field(description="Whether a sync is running now.")
    connections: list[str] = Field(description="The connections being synced (empty: all).")
    started_at: datetime | None = Field(description="When the current or last sync started.")
    finished_at: datetime | None = Field(
        description="When the last sync finished (null while one runs)."
    )
    next_run_at: datetime | None = Field(description="The next scheduled sync, or null.")
    scheduled: bool = Field(description="Whether `serve` syncs on a schedule.")
    every_hours: float = Field(description="The schedule's period, in hours.")
    results: list[SyncResult] = Field(description="Per connection, of the last finished sync.")
    error: str | None = Field(description="Why the last sync failed as a whole, or null.")


class SyncStartedOut(Out):
    sync: SyncStatusOut = Field(description="The sync's status, as GET /sync answers it.")


class JSON(JSONResponse):
    """JSON through orjson (dates, decimals as text): fast on large payloads."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)
