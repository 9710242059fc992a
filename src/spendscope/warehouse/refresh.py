"""The one refresh step: what is derived from the loaded rows, brought up to date in order —
the double-booking table (`overlaps`), then the views, then the marts.

Sync, delete and start-up all call it; no other code rebuilds derived tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .connection import Warehouse
from .marts import rebuild_marts_in, refresh_marts
from .views import create_views, create_views_in, refresh_overlaps, refresh_overlaps_in

T = TypeVar("T")


def refresh(
    warehouse: Warehouse,
    *,
    full: bool = False,
    overlaps: bool = True,
    change: Callable[[Any], T] | None = None,
) -> T | None:
    """Overlaps → views → marts.

    Without `change`: the overlaps in one transaction (skipped with `overlaps=False`), the views,
    then the marts incrementally (`full` rebuilds them), each followed by a checkpoint.

    With `change` (a function of a cursor that changes rows, e.g. a delete): the change, the
    overlaps, the views and a full rebuild of the marts in ONE transaction, so readers never see
    the change without what depends on it; then a checkpoint. Returns what `change` returned."""
    if change is None:
        if overlaps:
            refresh_overlaps(warehouse)
        create_views(warehouse)
        refresh_marts(warehouse, full=full)
        return None
    with warehouse.transaction() as cur:
        result = change(cur)
        refresh_overlaps_in(cur)
        create_views_in(cur, warehouse)
        rebuild_marts_in(cur, warehouse.existing_tables(), warehouse.settings.overlap_precedence)
    warehouse.checkpoint()
    return result


def initialize(warehouse: Warehouse) -> None:
    """Open the warehouse (creating or migrating its tables), then (re)create the views and
    bring the marts up to date. Safe to call at every start: the marts are built the first time
    or after an upgrade changed them, and otherwise only when rows were loaded since."""
    warehouse.prepare()
    refresh(warehouse, overlaps=False)
