"""`mart_allocation`: `allocation_rows` summed by day, connection, dimension, value and what
decided it (method, reason).

A few thousand rows a dimension, which the questions by an allocation dimension alone (with the
connection at most) and the coverage report read instead of millions. The engine brings it up
to date for the days it recomputed, in the same transaction as `allocation_rows`, so the two
never disagree; the table is declared with the others (`warehouse/allocation_tables.py`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..warehouse.allocation_tables import MART_ALLOCATION
from ..warehouse.schema import DATASET

_KEYS = "day, connection_label, connection_kind, dimension, value, method, reason"


def refresh_mart_in(cur: Any, since: date | None) -> None:
    """`mart_allocation` brought up to date with `allocation_rows` from `since` (None: all), in
    the caller's transaction."""
    mart = f"{DATASET}.{MART_ALLOCATION}"
    days = "day >= ?" if since is not None else "TRUE"
    params = [since] if since is not None else []
    cur.execute(f"DELETE FROM {mart} WHERE {days}", params)
    cur.execute(
        f"""INSERT INTO {mart} BY NAME
        SELECT {_KEYS}, sum(billed_nc) AS billed_nc, sum(list_nc) AS list_nc
        FROM {DATASET}.allocation_rows WHERE {days} GROUP BY ALL""",
        params,
    )


def clear_mart_in(cur: Any) -> None:
    """`mart_allocation` emptied (nothing is allocated), in the caller's transaction."""
    cur.execute(f"DELETE FROM {DATASET}.{MART_ALLOCATION}")


def mart_is_behind(cur: Any) -> bool:
    """Whether `allocation_rows` holds rows `mart_allocation` does not sum: the mart is empty
    while the rows are not (a warehouse allocated before the mart existed)."""
    row = cur.execute(
        f"""SELECT NOT EXISTS (SELECT 1 FROM {DATASET}.{MART_ALLOCATION})
            AND EXISTS (SELECT 1 FROM {DATASET}.allocation_rows)"""
    ).fetchone()
    return bool(row and row[0])
