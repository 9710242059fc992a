"""The REST API's watch endpoints under /api/v1: the month-end forecast of a scope (and of the
values within it), what `spendscope forecast` prints.

Each endpoint calls `spendscope.watch.outlook` with the app's clock; a bad scope or dimension is
a 400 with the CLI's wording.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..notify.records import dead_report
from ..watch.outlook import answer, forecast_scope
from .deps import State, WarehouseDep
from .errors import ERROR_RESPONSES
from .models import JSON
from .models_watch import DeadDeliveriesOut, ForecastOut

WATCH = "Forecasts"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)


@router.get(
    "/forecast",
    tags=[WATCH],
    response_model=ForecastOut,
    summary="Month-end forecast of billed cost with its P10–P90 band and state",
    description="For the current UTC month: month to date over complete days plus a "
    "weekday-aware forecast of the remaining days, with a band measured by backtests "
    "(docs/forecast.md). With `by`, each value of that dimension within the scope too, "
    "reconciled so their P50s add up to the scope's to the cent.",
)
def forecast(
    state: State,
    warehouse: WarehouseDep,
    scope: Annotated[
        str,
        Query(
            description="`organization`, or `dimension:value` for a connection, workspace, "
            "api_key, user, model or allocation dimension (e.g. `team:payments`).",
            max_length=500,
        ),
    ] = "organization",
    by: Annotated[
        str | None,
        Query(description="A dimension to break the scope down by (e.g. `team`).", max_length=60),
    ] = None,
) -> dict[str, Any]:
    return answer(forecast_scope(warehouse, scope, state.now(), by or None))


@router.get(
    "/alerts/dead",
    tags=[WATCH],
    response_model=DeadDeliveriesOut,
    summary="Alert notifications that never arrived",
    description="How many deliveries are dead (every attempt failed, docs/alerts.md) and the "
    "newest of them; what `spendscope status` shows.",
)
def dead_deliveries(warehouse: WarehouseDep) -> dict[str, Any]:
    return dead_report(warehouse)
