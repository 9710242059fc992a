"""The REST API under /api/v1: everything the pages show, and nothing they don't.

Each endpoint parses its parameters, calls one named query (`reporting.queries`,
`reporting.activity`, `reporting.connections`) or operation (`operations`), and answers JSON
of a model of models.py, checked against it before it leaves; /explore.csv answers CSV.
Filters are parameters, never SQL; no response carries a key or any other secret. Every error
answer is the one envelope of errors.py, with a status chosen by the exception's class.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from ..errors import ConfigError
from ..reporting import activity, catalog, queries
from ..reporting.freshness import freshness as data_freshness
from ..reporting.overview import overview as overview_figures
from ..reporting.sql import allocation_dimensions
from ..validation import parse_date
from .deps import State, Store, Today, WarehouseDep
from .errors import (
    ERROR_RESPONSES,
)
from .models import (
    DAY,
    JSON,
    ClaudeCodeOut,
    DimensionValuesOut,
    EngagementOut,
    ExploreOut,
    FreshnessOut,
    MetaOut,
    OverviewOut,
    ReportOut,
)

META = "Meta and freshness"
SPEND = "Spend and usage"
ACTIVITY = "Claude Code and engagement"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)


def _day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD parameter inside the accepted range (validation.parse_date), or None."""
    if value is None or not value.strip():
        return None
    return parse_date(value, name)


def _scope(
    today: date,
    since: str | None,
    until: str | None,
    filters: list[str] | None = None,
    days: int = 30,
) -> catalog.Scope:
    end = _day(until, "until") or today + timedelta(days=1)
    start = _day(since, "since") or end - timedelta(days=days)
    if (end - start).days > 3700:
        raise ConfigError("The range is longer than ten years.", "Pick a shorter range.")
    return catalog.Scope(start, end, catalog.parse_filters(filters or []))


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
Connection = Annotated[str | None, Query(description="Only this connection.")]


# -- meta and freshness -------------------------------------------------------------------------


@router.get(
    "/meta",
    tags=[META],
    response_model=MetaOut,
    summary="Dimensions, metrics, connections and settings the pages need",
)
def meta(state: State, store: Store, today: Today, warehouse: WarehouseDep) -> dict[str, Any]:
    from .. import __version__

    dims = [*catalog.DIMENSIONS.values(), *allocation_dimensions(warehouse).values()]
    return {
        "version": __version__,
        "today": today.isoformat(),
        "dimensions": [
            {"name": d.name, "label": d.label, "allocation": d.allocation} for d in dims
        ],
        "metrics": [
            {"name": m.name, "label": m.label, "unit": m.unit} for m in catalog.METRICS.values()
        ],
        "granularities": list(catalog.GRANULARITIES),
        "connections": [{"label": c.label, "kind": c.kind} for c in store.all()],
        "default_base_url": state.settings.base_url,
        "sync": {"scheduled": state.sync.scheduled, "every_hours": state.settings.refresh_hours},
    }


@router.get(
    "/freshness",
    tags=[META],
    response_model=FreshnessOut,
    summary="How complete the data is, per connection and overall",
)
def freshness(warehouse: WarehouseDep, today: Today) -> dict[str, Any]:
    return data_freshness(warehouse, today)


# -- spend and usage ----------------------------------------------------------------------------


@router.get(
    "/overview",
    tags=[SPEND],
    response_model=OverviewOut,
    summary="Month to date, trend, top spenders, movers, freshness",
)
def overview(
    warehouse: WarehouseDep,
    today: Today,
    as_of: Annotated[
        str | None,
        Query(description="The day to report as of (default today).", json_schema_extra=DAY),
    ] = None,
) -> dict[str, Any]:
    return overview_figures(warehouse, _day(as_of, "as_of") or today)


Metric = Annotated[str, Query(description="A metric name (see /meta).")]
GroupBy = Annotated[str | None, Query(description="A dimension name, or empty for none.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Groups shown; the rest are 'Other'.")]


def explored(
    warehouse: WarehouseDep,
    today: Today,
    metric: Metric = "cost",
    group_by: GroupBy = None,
    granularity: Granularity = "day",
    since: Since = None,
    until: Until = None,
    filter: Filters = None,
    limit: Limit = 10,
) -> dict[str, Any]:
    """The explorer's question, from the query string (shared by /explore and /explore.csv)."""
    scope = _scope(today, since, until, filter)
    return queries.explore(
        warehouse, metric, scope, group_by or None, granularity=granularity, limit=limit
    )


Explored = Annotated[dict[str, Any], Depends(explored)]


@router.get(
    "/explore",
    tags=[SPEND],
    response_model=ExploreOut,
    summary="A metric over time, split by one dimension",
    description="The top `limit` groups by total, the rest folded into one group (key "
    "`__other__`, label `Other`); with no `group_by`, one group (key `__total__`, label "
    "`Total`). A missing dimension value has key `__none__` and label `(none)`. A filter's value "
    "is a group's `key`. `since`/`until` default to the last 30 days through today.",
)
def explore(result: Explored) -> dict[str, Any]:
    return result


@router.get(
    "/explore.csv",
    tags=[SPEND],
    summary="The explorer's result as CSV (period, key, label, value)",
    description="The parameters of /explore. One line per period and group, zero cells left "
    "out; the header is `period,key,label,<metric>`, and the last column sums to the `total` "
    "of /explore. Cells a spreadsheet would read as a formula are prefixed with `'`.",
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


@router.get(
    "/report",
    tags=[SPEND],
    response_model=ReportOut,
    summary="Totals of a metric grouped by any dimensions (`spendscope report`)",
    description="What `spendscope report` prints: totals of one metric grouped by any "
    "dimensions (and `day`, `week`, `month`), biggest first, double-booked spend counted once. "
    "`since`/`until` default to the whole history.",
)
def report(
    warehouse: WarehouseDep,
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
) -> dict[str, Any]:
    scope = catalog.Scope(
        _day(since, "since") or date(2000, 1, 1),
        _day(until, "until") or date(2100, 1, 1),
        catalog.parse_filters(filter or []),
    )
    dims = [d.strip() for d in by.split(",") if d.strip()]
    columns, rows = queries.totals(warehouse, metric, scope, dims, limit)
    return {"columns": columns, "rows": rows}


@router.get(
    "/dimensions/{name}/values",
    tags=[SPEND],
    response_model=DimensionValuesOut,
    summary="The values a dimension takes (filter pickers)",
    description="`since`/`until` default to the last 90 days.",
)
def dimension_values(
    warehouse: WarehouseDep,
    today: Today,
    name: Annotated[str, Path(description="A dimension name (see /meta).")],
    metric: Metric = "cost",
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    scope = _scope(today, since, until, days=90)
    return {
        "dimension": name,
        "values": queries.dimension_values(warehouse, name, metric, scope),
    }


# -- Claude Code and engagement -----------------------------------------------------------------


@router.get(
    "/claude-code",
    tags=[ACTIVITY],
    response_model=ClaudeCodeOut,
    summary="Claude Code activity, in total, over time and by user",
)
def claude_code(
    warehouse: WarehouseDep,
    today: Today,
    since: Since = None,
    until: Until = None,
    granularity: Granularity = "day",
    connection: Connection = None,
) -> dict[str, Any]:
    return activity.claude_code(
        warehouse, _scope(today, since, until), granularity, connection or None
    )


@router.get(
    "/engagement",
    tags=[ACTIVITY],
    response_model=EngagementOut,
    summary="Enterprise engagement: active users, adoption, skills, …",
)
def engagement(
    warehouse: WarehouseDep,
    today: Today,
    since: Since = None,
    until: Until = None,
    connection: Connection = None,
) -> dict[str, Any]:
    return activity.engagement(warehouse, _scope(today, since, until), connection or None)
