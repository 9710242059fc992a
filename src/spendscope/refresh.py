"""The one refresh step: what is derived from the loaded rows, brought up to date in order —
the double-booking table (`overlaps`), then the views, then the marts, then the allocation
(RBAC membership history, `allocation_rows` and `mart_allocation`).

Sync, delete, allocation changes and start-up all call it; no other code rebuilds derived
tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from .allocation.engine import allocate_in
from .allocation.mart import mart_is_behind
from .allocation.membership import update_membership
from .allocation.store import load_config
from .warehouse.connection import Warehouse
from .warehouse.marts import changed_since, rebuild_marts_in, refresh_marts
from .warehouse.schema import DATASET
from .warehouse.views import create_views, create_views_in, refresh_overlaps, refresh_overlaps_in

T = TypeVar("T")


def _write_state(cur: Any, started: datetime, dimensions: list[str]) -> None:
    row = cur.execute(f"SELECT max(change_id) FROM {DATASET}.allocation_log").fetchone()
    cur.execute(f"DELETE FROM {DATASET}.allocation_state")
    cur.execute(
        f"INSERT INTO {DATASET}.allocation_state (row_key, refreshed_at, change_id, dimensions) "
        "VALUES ('state', ?, ?, ?)",
        [started, row[0] if row else None, json.dumps(dimensions)],
    )


def _earliest(*days: date | None) -> date | None:
    known = [d for d in days if d is not None]
    return min(known) if known else None


def refresh_allocation(warehouse: Warehouse, *, full: bool = False) -> str:
    """Bring the membership history, `allocation_rows` and `mart_allocation` up to date in one
    transaction: the days rows were loaded or removed for since the last refresh, and those a
    configuration change affects — all of them the first time, with `full`, or when the mart
    does not sum the rows (a warehouse allocated before the mart existed: opening it created
    the mart empty). Returns what was done."""
    started = datetime.now(UTC)
    existing = warehouse.existing_tables()
    if "allocation_rows" not in existing:
        return "unchanged"
    config = load_config(warehouse)
    with warehouse.transaction() as cur:
        members_since = update_membership(cur)
        state = cur.execute(
            f"SELECT refreshed_at, change_id FROM {DATASET}.allocation_state"
        ).fetchone()
        if not config.dimensions:
            rows = cur.execute(f"SELECT count(*) FROM {DATASET}.allocation_rows").fetchone()
            if rows and rows[0]:
                allocate_in(cur, config, existing, warehouse.settings.overlap_precedence, None)
                _write_state(cur, started, config.dimensions)
            return "none configured"
        if full or state is None or mart_is_behind(cur):
            since: date | None = None
        else:
            changes = cur.execute(
                f"SELECT min(affects_from) FROM {DATASET}.allocation_log WHERE change_id > ?",
                [state[1] or 0],
            ).fetchone()
            since = _earliest(
                changed_since(cur, existing, state[0]),
                changes[0] if changes else None,
                members_since,
            )
            if since is None:
                return "unchanged"
        allocate_in(cur, config, existing, warehouse.settings.overlap_precedence, since)
        _write_state(cur, started, config.dimensions)
    warehouse.checkpoint()
    return "full" if since is None else f"from {since.isoformat()}"


def refresh(
    warehouse: Warehouse,
    *,
    full: bool = False,
    overlaps: bool = True,
    change: Callable[[Any], T] | None = None,
) -> T | None:
    """Overlaps → views → marts → allocation.

    Without `change`: the overlaps in one transaction (skipped with `overlaps=False`), the views,
    the marts incrementally (`full` rebuilds them), then the allocation (in full whenever the
    marts were rebuilt in full), each followed by a checkpoint.

    With `change` (a function of a cursor that changes rows, e.g. a delete): the change, the
    overlaps, the views, a full rebuild of the marts and of the allocation in ONE transaction, so
    readers never see the change without what depends on it; then a checkpoint. Returns what
    `change` returned."""
    if change is None:
        if overlaps:
            refresh_overlaps(warehouse)
        create_views(warehouse)
        marts = refresh_marts(warehouse, full=full)
        # Marts rebuilt in full (an upgrade changed them, or the overlap precedence changed):
        # what `spend` holds may have changed on any day, so every day is allocated again.
        refresh_allocation(warehouse, full=full or marts == "full")
        return None
    config = load_config(warehouse)
    started = datetime.now(UTC)
    with warehouse.transaction() as cur:
        result = change(cur)
        refresh_overlaps_in(cur)
        create_views_in(cur, warehouse)
        existing = warehouse.existing_tables()
        precedence = warehouse.settings.overlap_precedence
        rebuild_marts_in(cur, existing, precedence)
        if "allocation_rows" in existing:
            update_membership(cur)
            allocate_in(cur, config, existing, precedence, None)
            _write_state(cur, started, config.dimensions)
    warehouse.checkpoint()
    return result


def initialize(warehouse: Warehouse) -> None:
    """Open the warehouse (creating or migrating its tables), then (re)create the views and
    bring the marts and the allocation up to date. Safe to call at every start: the marts are
    built the first time or after an upgrade changed them, and otherwise only when rows were
    loaded since."""
    warehouse.prepare()
    refresh(warehouse, overlaps=False)
