"""Revisions: how a re-fetched window differs from the rows already loaded, as the rows of the
`corrections` log (a changed value, a new row, a row gone upstream)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ..warehouse.schema import row_key
from ..warehouse.tables import Table


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    if isinstance(v, float):
        return format(Decimal(repr(v)).normalize(), "f")
    return str(v)


def diff_rows(
    table: Table,
    connection: str,
    existing: dict[str, tuple[Any, ...]],
    new_rows: list[dict[str, Any]],
    detected_at: datetime,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(corrections, row_keys to delete) between the loaded rows of a window and new ones.

    `existing` maps row_key -> (bucket_start, is_provisional, *metrics). Rows that were
    provisional are expected to grow and are updated without a correction entry."""
    corrections: list[dict[str, Any]] = []
    seen = set()
    for row in new_rows:
        key = row["row_key"]
        seen.add(key)
        old = existing.get(key)
        if old is None:
            if existing:
                corrections.append(
                    correction_row(
                        table,
                        connection,
                        key,
                        row["bucket_start"],
                        "*",
                        None,
                        "present",
                        "added",
                        detected_at,
                    )
                )
            continue
        bucket_start, was_provisional, *old_metrics = old
        if was_provisional:
            continue
        for name, old_value in zip(table.metrics, old_metrics, strict=True):
            a, b = _text(old_value), _text(row.get(name))
            if a != b:
                corrections.append(
                    correction_row(
                        table, connection, key, bucket_start, name, a, b, "changed", detected_at
                    )
                )
    removed = [k for k in existing if k not in seen]
    for key in removed:
        bucket_start, was_provisional, *_ = existing[key]
        if not was_provisional:
            corrections.append(
                correction_row(
                    table,
                    connection,
                    key,
                    bucket_start,
                    "*",
                    "present",
                    None,
                    "removed",
                    detected_at,
                )
            )
    return corrections, removed


def correction_row(
    table: Table,
    connection: str,
    target: str,
    bucket_start: Any,
    column: str,
    old: str | None,
    new: str | None,
    change: str,
    at: datetime,
) -> dict[str, Any]:
    return {
        "row_key": row_key(connection, table.name, target, column, at.isoformat()),
        "connection_label": connection,
        "table_name": table.name,
        "target_row_key": target,
        "bucket_start": bucket_start,
        "column_name": column,
        "old_value": old,
        "new_value": new,
        "change": change,
        "detected_at": at,
    }
