"""The REST API's cost allocation endpoints under /api/v1/allocation: coverage, explain, the
mappings and rules in force, and the changes (an import of mappings, a rules version, a
re-allocation) that `spendscope allocation …` sends while `serve` runs.

Reads call `spendscope.allocation.readers`; a change is checked in full first (a bad file is a
400 naming the line, and nothing is applied), then applied and the allocation brought up to
date with no sync running meanwhile (409 while one runs). Every change is refused from another
site (403).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query

from ..allocation import readers
from ..allocation import store as allocation_store
from ..allocation.model import check_text, parse_import
from ..refresh import refresh_allocation
from ..sync.service import SyncBusy, SyncService
from ..validation import EARLIEST_DATE, LATEST_DATE, check_range, parse_date
from ..warehouse.connection import Warehouse
from .api import Since, Until
from .deps import State, Sync, Today, WarehouseDep
from .errors import CONFLICT, CROSS_SITE, ERROR_RESPONSES, Conflict
from .models import DAY, JSON
from .models_allocation import (
    CoverageOut,
    ExplainOut,
    ImportedOut,
    MappingsIn,
    MappingsOut,
    ReallocatedOut,
    ReallocateIn,
    RulesIn,
    RulesInstalledOut,
    RulesOut,
)
from .state import AppState

ALLOCATION = "Cost allocation"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)
T = TypeVar("T")

Dimension = Annotated[
    str | None, Query(description="Only this allocation dimension (e.g. team).", max_length=40)
]


def _day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD value inside the accepted range (validation.parse_date), or None."""
    if value is None or not value.strip():
        return None
    return parse_date(value, name)


@dataclass(frozen=True, slots=True)
class _Changes:
    """What a change to the allocation's configuration is made with."""

    state: AppState
    warehouse: Warehouse
    sync: SyncService
    today: date

    def apply(
        self, change: Callable[..., T], *args: Any, backfill_from: date | None, **kwargs: Any
    ) -> T:
        """`change(warehouse, *args, **kwargs)`, one of `allocation.store`'s changes, given
        today, `backfill_from` and the time now; then the allocation brought up to date. No
        sync runs or starts meanwhile (409 while one runs)."""
        try:
            with self.sync.exclusive():
                result = change(
                    self.warehouse,
                    *args,
                    today=self.today,
                    backfill_from=backfill_from,
                    now=self.state.now(),
                    **kwargs,
                )
                refresh_allocation(self.warehouse)
        except SyncBusy:
            raise Conflict(
                "A sync (or another change) is running.", "Try again when it has finished."
            ) from None
        return result


def _changes(state: State, warehouse: WarehouseDep, sync: Sync, today: Today) -> _Changes:
    return _Changes(state, warehouse, sync, today)


Changes = Annotated[_Changes, Depends(_changes)]


# -- reads --------------------------------------------------------------------------------------


@router.get(
    "/allocation/coverage",
    tags=[ALLOCATION],
    response_model=CoverageOut,
    summary="Allocated and unallocated cost per month and dimension, unallocated by reason",
    description="`since`/`until` default to the whole history. A month at either end of the "
    "range counts only its days inside it. What `spendscope allocation coverage` prints.",
)
def coverage(
    warehouse: WarehouseDep,
    since: Since = None,
    until: Until = None,
    dimension: Dimension = None,
) -> dict[str, Any]:
    start = _day(since, "since") or EARLIEST_DATE
    end = _day(until, "until") or LATEST_DATE
    check_range(start, end)
    return {"months": readers.coverage(warehouse, start, end, dimension or None)}


@router.get(
    "/allocation/explain",
    tags=[ALLOCATION],
    response_model=ExplainOut,
    summary="A subject's value in each allocation dimension on a day, and what decided it",
    description="What `spendscope allocation explain` prints: for each connection that knows "
    "the subject, each dimension's value (several when its spend is split) and the mapping, "
    "rule (with its version) or default that decided it.",
)
def explain(
    warehouse: WarehouseDep,
    today: Today,
    subject_type: Annotated[
        str,
        Query(
            description="api_key, service_account, user, rbac_group, workspace or connection.",
            max_length=40,
        ),
    ],
    subject: Annotated[
        str,
        Query(description="Its id, name or e-mail (case ignored).", min_length=1, max_length=200),
    ],
    day: Annotated[
        str | None,
        Query(alias="date", description="The day (default today).", json_schema_extra=DAY),
    ] = None,
) -> dict[str, Any]:
    when = _day(day, "date") or today
    return {"rows": readers.explain(warehouse, subject_type, subject, when)}


@router.get(
    "/allocation/mappings",
    tags=[ALLOCATION],
    response_model=MappingsOut,
    summary="The stored mappings, with their intervals and where they came from",
)
def mappings(
    warehouse: WarehouseDep,
    as_of: Annotated[
        str | None,
        Query(
            description="Only the mappings in force on this day (default: all).",
            json_schema_extra=DAY,
        ),
    ] = None,
    dimension: Dimension = None,
) -> dict[str, Any]:
    day = _day(as_of, "as_of")
    return {"mappings": readers.mappings_in_force(warehouse, day, dimension or None)}


@router.get(
    "/allocation/rules",
    tags=[ALLOCATION],
    response_model=RulesOut,
    summary="The rules version in force on a day, and every version installed",
)
def rules(
    warehouse: WarehouseDep,
    today: Today,
    as_of: Annotated[
        str | None,
        Query(description="The day (default today).", json_schema_extra=DAY),
    ] = None,
) -> dict[str, Any]:
    day = _day(as_of, "as_of") or today
    return {
        "in_force": readers.rules_in_force(warehouse, day),
        "versions": readers.versions(warehouse),
    }


# -- changes ------------------------------------------------------------------------------------


@router.post(
    "/allocation/mappings",
    tags=[ALLOCATION],
    status_code=201,
    summary="Import mappings from a CSV file or a SCIM Groups export (all rows or none)",
    description="Every row is checked first: one bad row is a 400 naming its line (CSV) or "
    "member (SCIM), and nothing is applied. A row starting in a closed month (before the "
    "first day of this month) needs `backfill_from` on or before its day. The allocation is "
    "brought up to date before the answer. 409 while a sync runs.",
    responses={**CROSS_SITE, **CONFLICT},
)
def import_mappings(changes: Changes, body: MappingsIn) -> ImportedOut:
    name = check_text(body.name, "name")
    backfill = _day(body.backfill_from, "backfill_from")
    valid_from = _day(body.valid_from, "valid_from") if body.format == "scim" else None
    parsed = parse_import(
        body.format,
        body.text,
        name,
        dimension=body.dimension,
        valid_from=valid_from or changes.today,
        priority=body.priority,
    )
    result = changes.apply(
        allocation_store.import_mappings,
        parsed.mappings,
        source=name,
        backfill_from=backfill,
        replace_source=parsed.replace_source,
    )
    return ImportedOut(
        message=result.message(name, parsed.skipped),
        change_id=result.change_id,
        rows=result.rows,
        trimmed=result.trimmed,
        closed=result.closed,
        skipped=parsed.skipped,
    )


@router.post(
    "/allocation/rules",
    tags=[ALLOCATION],
    status_code=201,
    summary="Install a new rules version (TOML), checked in full first",
    description="The version applies from `effective` (default today) until a later one. An "
    "effective day in a closed month needs `backfill_from` on or before it; a version may not "
    "start before the newest one installed. 409 while a sync runs.",
    responses={**CROSS_SITE, **CONFLICT},
)
def install_rules(changes: Changes, body: RulesIn) -> RulesInstalledOut:
    name = check_text(body.name, "name")
    effective = _day(body.effective, "effective") or changes.today
    backfill = _day(body.backfill_from, "backfill_from")
    version = changes.apply(
        allocation_store.install_rules,
        body.toml,
        source=name,
        effective=effective,
        backfill_from=backfill,
    )
    dims = sorted(version.rules.dimensions)
    return RulesInstalledOut(
        message=f"installed rules version {version.version} ({', '.join(dims)}), "
        f"effective {effective}",
        version=version.version,
        effective_from=effective,
        dimensions=dims,
    )


@router.post(
    "/allocation/reallocate",
    tags=[ALLOCATION],
    summary="Re-allocate every day from a day, closed months included (logged)",
    description="Recomputes every day from `backfill_from` with the configuration as it "
    "stands, and records it in the allocation log. 409 while a sync runs.",
    responses={**CROSS_SITE, **CONFLICT},
)
def reallocate(changes: Changes, body: ReallocateIn) -> ReallocatedOut:
    backfill = parse_date(body.backfill_from, "backfill_from")
    change = changes.apply(allocation_store.reallocate, backfill_from=backfill)
    return ReallocatedOut(
        message=f"re-allocated every day from {backfill} (change {change})", change_id=change
    )
