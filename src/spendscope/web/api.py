"""The REST API under /api/v1: everything the pages show, and nothing they don't.

Each endpoint parses its parameters, calls one named query (`reporting.queries`,
`reporting.activity`) or operation (`operations`), and returns JSON. Filters are parameters,
never SQL; no response carries a key or any other secret. Every error answer is the one
envelope of errors.py, with a status chosen by the exception's class.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ..errors import ConfigError
from ..reporting import activity, queries
from ..validation import parse_date
from .errors import CONFLICT, ERROR_RESPONSES, UPSTREAM, Conflict, error_body

if TYPE_CHECKING:
    from .app import AppState


class JSON(JSONResponse):
    """JSON through orjson (dates, decimals as text): fast on large payloads."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)


def _state(request: Request) -> AppState:
    return request.app.state.spendscope  # type: ignore[no-any-return]


def _day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD parameter inside the accepted range (validation.parse_date), or None."""
    if value is None or not value.strip():
        return None
    return parse_date(value, name)


def _scope(
    state: AppState,
    since: str | None,
    until: str | None,
    filters: list[str] | None = None,
    days: int = 30,
) -> queries.Scope:
    today = state.today()
    end = _day(until, "until") or today + timedelta(days=1)
    start = _day(since, "since") or end - timedelta(days=days)
    if (end - start).days > 3700:
        raise ConfigError("The range is longer than ten years.", "Pick a shorter range.")
    return queries.Scope(start, end, queries.parse_filters(filters or []))


def _date_format(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            option["format"] = "date"


# Days are text parsed by validation.parse_date (a malformed or out-of-range day is a 400 naming
# the accepted range); the OpenAPI schema documents them as `format: date` strings.
DAY = _date_format
Since = Annotated[
    str | None,
    Query(
        description="First day (YYYY-MM-DD, UTC; 2000-01-01 to 2100-01-01).", json_schema_extra=DAY
    ),
]
Until = Annotated[
    str | None,
    Query(description="Day to stop before (YYYY-MM-DD, exclusive).", json_schema_extra=DAY),
]
Filters = Annotated[
    list[str] | None,
    Query(
        description="`dimension:value`, repeatable: values of one dimension are ORed, "
        "dimensions ANDed. `__none__` matches a missing value."
    ),
]
Granularity = Annotated[Literal["day", "week", "month"], Query(description="Time bucket.")]


# -- meta and freshness -------------------------------------------------------------------------


@router.get("/meta", summary="Dimensions, metrics, connections and settings the pages need")
def meta(request: Request) -> Any:
    from .. import __version__

    st = _state(request)
    return {
        "version": __version__,
        "today": st.today().isoformat(),
        "dimensions": [{"name": d.name, "label": d.label} for d in queries.DIMENSIONS.values()],
        "metrics": [
            {"name": m.name, "label": m.label, "unit": m.unit} for m in queries.METRICS.values()
        ],
        "granularities": list(queries.GRANULARITIES),
        "connections": [{"label": c.label, "kind": c.kind} for c in st.store().list()],
        "default_base_url": st.settings.base_url,
        "sync": {"scheduled": st.sync.scheduled, "every_hours": st.settings.refresh_hours},
    }


@router.get("/freshness", summary="How complete the data is, per connection and overall")
def freshness(request: Request) -> Any:
    st = _state(request)
    return queries.freshness(st.warehouse, st.today())


# -- spend and usage ----------------------------------------------------------------------------


@router.get("/overview", summary="Month to date, trend, top spenders, movers, freshness")
def overview(
    request: Request,
    as_of: Annotated[
        str | None,
        Query(description="The day to report as of (default today).", json_schema_extra=DAY),
    ] = None,
) -> Any:
    st = _state(request)
    return queries.overview(st.warehouse, _day(as_of, "as_of") or st.today())


Metric = Annotated[str, Query(description="A metric name (see /meta).")]
GroupBy = Annotated[str | None, Query(description="A dimension name, or empty for none.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Groups shown; the rest are 'Other'.")]


def explored(
    request: Request,
    metric: Metric = "cost",
    group_by: GroupBy = None,
    granularity: Granularity = "day",
    since: Since = None,
    until: Until = None,
    filter: Filters = None,
    limit: Limit = 10,
) -> dict[str, Any]:
    """The explorer's question, from the query string (shared by /explore and /explore.csv)."""
    st = _state(request)
    scope = _scope(st, since, until, filter)
    return queries.explore(
        st.warehouse, metric, scope, group_by or None, granularity=granularity, limit=limit
    )


Explored = Annotated[dict[str, Any], Depends(explored)]


@router.get("/explore", summary="A metric over time, split by one dimension")
def explore(result: Explored) -> Any:
    return result


@router.get(
    "/explore.csv",
    summary="The explorer's result as CSV (period, key, label, value)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def explore_csv(result: Explored) -> Response:
    from ..output import csv_text  # every cell neutralised (no spreadsheet formulas)

    columns = ["period", "key", "label", result["metric"]]
    rows = queries.explore_rows(result)
    body = csv_text(columns, ([row[c] for c in columns] for row in rows))
    name = f"spendscope-{result['metric']}-by-{result['group_by'] or 'total'}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/report", summary="Totals of a metric grouped by any dimensions (`spendscope report`)")
def report(
    request: Request,
    metric: Metric = "cost",
    by: Annotated[str, Query(description="Dimensions (or day, week, month), comma-separated.")] = (
        ""
    ),
    since: Since = None,
    until: Until = None,
    filter: Filters = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="At most this many rows.")] = (
        None
    ),
) -> Any:
    st = _state(request)
    scope = queries.Scope(
        _day(since, "since") or date(2000, 1, 1),
        _day(until, "until") or date(2100, 1, 1),
        queries.parse_filters(filter or []),
    )
    dims = [d.strip() for d in by.split(",") if d.strip()]
    columns, rows = queries.totals(st.warehouse, metric, scope, dims, limit)
    return {"columns": columns, "rows": rows}


@router.get("/dimensions/{name}/values", summary="The values a dimension takes (filter pickers)")
def dimension_values(
    request: Request,
    name: str,
    metric: Metric = "cost",
    since: Since = None,
    until: Until = None,
) -> Any:
    st = _state(request)
    scope = _scope(st, since, until, days=90)
    return {
        "dimension": name,
        "values": queries.dimension_values(st.warehouse, name, metric, scope),
    }


# -- Claude Code and engagement -----------------------------------------------------------------


@router.get("/claude-code", summary="Claude Code activity, in total, over time and by user")
def claude_code(
    request: Request,
    since: Since = None,
    until: Until = None,
    granularity: Granularity = "day",
    connection: Annotated[str | None, Query(description="Only this connection.")] = None,
) -> Any:
    st = _state(request)
    return activity.claude_code(
        st.warehouse, _scope(st, since, until), granularity, connection or None
    )


@router.get("/engagement", summary="Enterprise engagement: active users, adoption, skills, …")
def engagement(
    request: Request,
    since: Since = None,
    until: Until = None,
    connection: Annotated[str | None, Query(description="Only this connection.")] = None,
) -> Any:
    st = _state(request)
    return activity.engagement(st.warehouse, _scope(st, since, until), connection or None)


# -- connections and sync -----------------------------------------------------------------------


def _connection_out(c: Any, h: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": c.label,
        "kind": c.kind,
        "organization_id": c.organization_id,
        "organization_name": c.organization_name,
        "state": c.state,
        "health": h.get("state", "never synced"),
        "created_at": c.created_at.isoformat(),
        "last_success": h.get("last_success"),
        "last_error": h.get("last_error"),
        "last_error_at": h.get("last_error_at"),
        "complete_through": h.get("complete_through"),
        "rows": h.get("rows", 0),
        "rejected": h.get("rejected", 0),
    }


@router.get("/connections", summary="Connections with their health (never any key material)")
def list_connections(request: Request) -> Any:
    from ..reporting.health import connection_health

    st = _state(request)
    health = connection_health(st.warehouse)
    return {"connections": [_connection_out(c, health.get(c.label, {})) for c in st.store().list()]}


@router.get("/health", summary="Each connection's sync health, deleted connections included")
def health(request: Request) -> Any:
    from ..reporting.health import connection_health

    return {"connections": connection_health(_state(request).warehouse)}


class ConnectIn(BaseModel):
    kind: Literal["console", "enterprise"] = Field(description="The kind of organization.")
    label: str = Field(description="A short name for the connection.", max_length=64)
    key: str = Field(description="The Admin API key (console) or analytics key (enterprise).")
    base_url: str | None = Field(default=None, description="API base URL (default Anthropic's).")
    api: Literal["auto", "analytics", "legacy"] | None = Field(
        default=None, description="Which Console API to read (default: the setting)."
    )

    def __repr__(self) -> str:  # the key never shows in a log or a traceback
        return f"ConnectIn(kind={self.kind!r}, label={self.label!r})"

    __str__ = __repr__


@router.post(
    "/connections",
    status_code=201,
    summary="Connect an organization (the key is tested first; nothing is saved if it fails)",
    responses={**CONFLICT, **UPSTREAM},
)
def create_connection(request: Request, body: ConnectIn) -> Any:
    from ..operations import connect

    st = _state(request)
    label = body.label.strip()
    taken = {c.label: c.is_active for c in st.store().list(include_deleted=True)}
    if label in taken:
        raise Conflict(
            f"A connection labelled '{label}' already exists"
            + ("." if taken[label] else " (deleted, its history kept)."),
            "Choose another label"
            + ("." if taken[label] else ", or purge the old connection first."),
        )
    done = connect(
        st.settings,
        st.store(),
        body.kind,
        label,
        body.key,
        base_url=(body.base_url or "").strip() or None,
        api=body.api,
        now=st.now(),
    )
    org = done.organization
    return JSON(
        {
            "connection": _connection_out(done.connection, {}),
            "message": f"Connected {done.connection.label}: {org.name or org.id} ({org.id}).",
        },
        status_code=201,
    )


def _known(st: AppState, label: str) -> None:
    """Raise NotFoundLocally (404, the CLI's own wording) unless a connection, active or
    deleted, is labelled `label`."""
    st.store().get(label)


@router.post(
    "/connections/{label}/test",
    summary="Test a connection's key against the API",
    description="`ok` says whether the key works; when it does not, `error` is the usual error "
    "object (`code`, `message`, `hint`) and the status is still 200.",
)
def test_connection(request: Request, label: str) -> Any:
    from ..errors import SpendscopeError
    from ..operations import check_connection

    st = _state(request)
    _known(st, label)
    try:
        done = check_connection(st.settings, st.store(), label, now=st.now())
    except SpendscopeError as exc:
        return {"ok": False, "error": error_body(exc)["error"]}
    org = done.organization
    return {"ok": True, "message": f"{label} reaches {org.name or org.id} ({org.id})."}


@router.delete(
    "/connections/{label}",
    summary="Delete a connection (history kept unless purge)",
    responses=CONFLICT,
)
def delete_connection(
    request: Request,
    label: str,
    purge: Annotated[bool, Query(description="Also delete its data.")] = False,
) -> Any:
    from ..operations import delete_connection as do_delete
    from ..sync.service import SyncBusy

    st = _state(request)
    _known(st, label)
    try:
        with st.sync.exclusive():  # no sync starts while the connection is being deleted
            removed = do_delete(st.settings, st.store(), label, purge=purge, warehouse=st.warehouse)
    except SyncBusy:
        raise Conflict("A sync is running.", "Try again when it has finished.") from None
    return {"deleted": label, "purged": purge, "rows_removed": removed}


@router.get("/connections/{label}/events", summary="A connection's event log, newest first")
def connection_events(
    request: Request,
    label: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    from ..reporting.health import recent_events

    st = _state(request)
    _known(st, label)
    events = recent_events(st.warehouse, label, limit)
    for e in events:
        if isinstance(e.get("detail"), str):
            with contextlib.suppress(orjson.JSONDecodeError):
                e["detail"] = orjson.loads(e["detail"])
    return {"events": events}


class SyncIn(BaseModel):
    connection: str | None = Field(default=None, description="Only this connection.")


@router.post(
    "/sync", status_code=202, summary="Sync now (every connection, or one)", responses=CONFLICT
)
def start_sync(request: Request, body: Annotated[SyncIn | None, Body()] = None) -> Any:
    from ..sync.service import SyncBusy

    st = _state(request)
    label = body.connection if body else None
    if label:
        _known(st, label)
    try:
        status = st.sync.start([label] if label else None)
    except SyncBusy:
        raise Conflict("A sync is already running.", "Wait for it to finish.") from None
    return JSON({"sync": status}, status_code=202)


@router.get("/sync", summary="The state of the current or last sync, and the schedule")
def sync_status(request: Request) -> Any:
    return _state(request).sync.status()
