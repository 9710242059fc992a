"""What the warehouse holds: every table declared, where they live, and how rows become Arrow.

`row_key` digests a row's natural key; `to_arrow` turns row dicts into an Arrow table of a
table's schema — the only form the write path accepts.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from .admin_tables import ADMIN_TABLES
from .alert_tables import ALERT_TABLES
from .allocation_tables import ALLOCATION_TABLES
from .anomaly_tables import ANOMALY_TABLES
from .engagement_tables import ENGAGEMENT_TABLES
from .limit_tables import LIMIT_TABLES
from .tables import BOOKKEEPING_TABLES, FACT_TABLES, Table
from .watch_tables import WATCH_TABLES

DATASET = "spendscope"
ALL_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        *FACT_TABLES,
        *ENGAGEMENT_TABLES,
        *ADMIN_TABLES,
        *BOOKKEEPING_TABLES,
        *ALLOCATION_TABLES,
        *ALERT_TABLES,
        *WATCH_TABLES,
        *LIMIT_TABLES,
        *ANOMALY_TABLES,
    )
}


def row_key(*parts: object) -> str:
    """A stable digest of a natural key (None and '' are distinct). Never fails: text that is
    not valid Unicode (a lone surrogate) is digested as is; the row is refused later, when it
    is converted for the warehouse."""
    text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def to_arrow(table: Table, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with any subset of the table's columns) as an Arrow table of its schema."""
    schema = table.arrow_schema()
    columns = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def utcnow() -> datetime:
    return datetime.now(UTC)


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)
