"""The REST API's anomaly endpoints under /api/v1/anomalies: the anomalies in daily spend, one
with its scope's series, and feedback on one — what `spendscope anomalies …` sends while
`serve` runs.

The reads answer the anomalies as an evaluation now finds them (`watch.anomaly_view`: new days
scored, revised days re-scored) and change nothing; `serve` keeps them with its evaluation after
each sync. Feedback is refused from another site (403); an unknown id is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from ..validation import parse_date
from ..watch.anomaly_view import anomalies_answer, anomaly_answer, feedback_answer
from .deps import SettingsDep, State, WarehouseDep
from .errors import CROSS_SITE, ERROR_RESPONSES
from .models import DAY, JSON
from .models_anomalies import AnomaliesOut, AnomalyDetailOut, AnomalyOut, FeedbackIn

ANOMALIES = "Anomalies"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)

Id = Annotated[str, Path(description="The anomaly's id (its alert's fingerprint).", max_length=64)]


@router.get(
    "/anomalies",
    tags=[ANOMALIES],
    response_model=AnomaliesOut,
    summary="Anomalies in daily spend, with their expected value, band, impact and drivers",
    description="Every scope — the organization, each connection, allocation value, "
    "workspace, API key, user and model above the spend floor — scored day by day against a "
    "robust baseline (docs/anomalies.md): the days scoring 3.5 or more with an impact above the "
    "floors, newest first, as an evaluation now finds them (nothing is written or sent). What "
    "`spendscope anomalies` prints.",
)
def list_anomalies(
    state: State,
    settings: SettingsDep,
    warehouse: WarehouseDep,
    since: Annotated[
        str | None,
        Query(
            description="Anomalies of this day and after (YYYY-MM-DD, UTC); default: 30 days "
            "before today.",
            json_schema_extra=DAY,
        ),
    ] = None,
    filter_state: Annotated[
        Literal["active", "past", "resolved", "all"],
        Query(alias="state", description="Only anomalies in this state."),
    ] = "all",
) -> dict[str, Any]:
    first = parse_date(since, "since") if since and since.strip() else None
    return anomalies_answer(warehouse, settings, state.now(), first, filter_state)


@router.get(
    "/anomalies/{anomaly}",
    tags=[ANOMALIES],
    response_model=AnomalyDetailOut,
    summary="One anomaly with the daily series of its scope",
    description="The anomaly as listed, plus its scope's complete days up to and including its "
    "day (56 at most), each with the baseline's expected cost and band.",
)
def get_anomaly(
    state: State, settings: SettingsDep, warehouse: WarehouseDep, anomaly: Id
) -> dict[str, Any]:
    return anomaly_answer(warehouse, settings, anomaly, state.now())


@router.post(
    "/anomalies/{anomaly}/feedback",
    tags=[ANOMALIES],
    response_model=AnomalyOut,
    summary="Say whether an anomaly was expected",
    description="`expected` resolves it and mutes similar ones (the same scope and value, up "
    "to 30 days after it, at most twice its impact); `unexpected` confirms it. Answers the "
    "anomaly as it now stands.",
    responses=CROSS_SITE,
)
def anomaly_feedback(
    state: State, settings: SettingsDep, warehouse: WarehouseDep, anomaly: Id, body: FeedbackIn
) -> dict[str, Any]:
    return feedback_answer(warehouse, settings, anomaly, body.feedback, state.now())
