"""The REST API's spend-limit endpoint: `GET /api/v1/spend-limits`, each member's Anthropic
spend cap (Claude Enterprise) and spend from the latest daily snapshot, beside spendscope's own
budgets — what `spendscope limits` prints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..watch.limit_alerts import spend_limits_answer
from .deps import WarehouseDep
from .errors import ERROR_RESPONSES
from .models import JSON
from .models_limits import SpendLimitsOut

LIMITS = "Spend limits"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)


@router.get(
    "/spend-limits",
    tags=[LIMITS],
    response_model=SpendLimitsOut,
    summary="Each member's Anthropic spend cap and spend, from the latest daily snapshot",
    description="Claude Enterprise spend limits as the sync snapshots them once per UTC day "
    "(docs/spend-limits.md): every active connection's snapshot status (`ok`, "
    "`missing_scope`, `not_enterprise`, `never`) with its message, and the members of each "
    "connection whose latest snapshot is `ok`: cap (null: unlimited), spend this period (null: "
    "unknown), percent of the cap, and where the cap comes from.",
)
def spend_limits(warehouse: WarehouseDep) -> dict[str, Any]:
    return spend_limits_answer(warehouse)
