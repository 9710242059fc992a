"""Quarantine: the rows of a window that no table can hold, kept in `rejected_rows`.

A feed sets such rows aside (`FeedResult.reject`) and the checked Arrow conversion catches any
left (`values.checked_arrow`); the engine adds them to the window's write with `quarantine()`:

- one `rejected_rows` row each, keyed by connection, feed, table, endpoint, bucket and the raw
  JSON, so fetching the window again updates it instead of adding a copy;
- the deletion of the feed's rejected rows of the same window (a snapshot feed: of the whole
  feed) that were not rejected again, so a window fetched cleanly clears them — in the same
  transaction as the window's data;
- one warning event per window with rejections, with the count and the first reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..warehouse.schema import DATASET, row_key, to_arrow
from ..warehouse.tables import REJECTED_ROWS
from .base import Rejected, Window
from .values import raw_json

if TYPE_CHECKING:
    import pyarrow as pa

    from ..warehouse.connection import Warehouse

__all__ = ["Quarantine", "quarantine", "rejected_from_rows"]

SHOWN_REASONS = 5  # reasons listed in the event's detail


@dataclass(slots=True)
class Quarantine:
    """What a window adds to its write: rows, stale keys to delete, and the event text."""

    table: pa.Table | None = None
    stale: list[str] = field(default_factory=list)
    count: int = 0
    message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def rejected_from_rows(table: str, rows: Sequence[tuple[dict[str, Any], str]]) -> list[Rejected]:
    """Rows refused by the checked conversion, as quarantine entries (the flattened row is
    kept, since the API's own item is no longer at hand)."""
    out = []
    for row, reason in rows:
        bucket = row.get("bucket_start")
        kept = {k: v for k, v in row.items() if k not in ("row_key", "fetched_at")}
        out.append(
            Rejected(table, None, kept, reason, bucket if isinstance(bucket, datetime) else None)
        )
    return out


def _existing(warehouse: Warehouse, connection: str, feed: str, window: Window | None) -> list[str]:
    sql = (
        f"SELECT row_key FROM {DATASET}.{REJECTED_ROWS.name} "
        "WHERE connection_label = ? AND feed = ?"
    )
    params: list[Any] = [connection, feed]
    if window is not None:
        sql += " AND bucket_start >= ? AND bucket_start < ?"
        params += [window.start_at, window.end_at]
    return [r[0] for r in warehouse.read(sql, *params)]


def quarantine(
    warehouse: Warehouse,
    connection: str,
    feed: str,
    window: Window | None,
    rejected: Sequence[Rejected],
    at: datetime,
) -> Quarantine:
    """The `rejected_rows` side of one window's write (`window` None: a snapshot feed)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in rejected:
        bucket = r.bucket_start
        if window is not None and (bucket is None or not window.start_at <= bucket < window.end_at):
            bucket = window.start_at  # the row's day cannot be read, or is outside the window
        raw = raw_json(r.raw)
        bucket_text = bucket.isoformat() if bucket is not None else None
        key = row_key(connection, REJECTED_ROWS.name, feed, r.table, r.endpoint, bucket_text, raw)
        rows[key] = {
            "row_key": key,
            "connection_label": connection,
            "feed": feed,
            "table_name": r.table,
            "endpoint": r.endpoint,
            "bucket_start": bucket,
            "window_start": window.start if window is not None else None,
            "window_end": window.end if window is not None else None,
            "reason": r.reason,
            "raw_json": raw,
            "rejected_at": at,
        }
    out = Quarantine(count=len(rows))
    out.stale = [k for k in _existing(warehouse, connection, feed, window) if k not in rows]
    if not rows:
        return out
    out.table = to_arrow(REJECTED_ROWS, list(rows.values()))
    where = f" of {window}" if window is not None else ""
    out.message = (
        f"{feed}: {len(rows)} row(s){where} could not be loaded and were set aside in "
        "rejected_rows; the rest of the window loaded"
    )
    reasons = sorted({r["reason"] for r in rows.values()})
    out.detail = {
        "feed": feed,
        "rejected": len(rows),
        "reasons": reasons[:SHOWN_REASONS],
        **({"window": str(window)} if window is not None else {}),
    }
    return out
