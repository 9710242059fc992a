"""Connection health: state, last successful sync, data complete through, the event log.

A connection's `state` is, by precedence:

- `deleted`: the connection was deleted (its history is kept);
- `error`: its stored key can't be decrypted (the master key is missing or another one);
  `last_error` says why and what to do;
- `syncing`: a sync of it is running in this process (`serve`'s "Sync now" or schedule);
- `interrupted`: its last sync started and never ended (the process was killed, the machine
  stopped, Ctrl-C): shown until the next sync of that connection ends; `interrupted_at` is
  when the unfinished sync started;
- `failing` / `ok`: how its last finished sync ended;
- `never synced`.

`rejected` counts the connection's rows kept in `rejected_rows` (values that could not be
represented); the rest of its data loaded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import SpendscopeError
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET

if TYPE_CHECKING:
    from ..connections import ConnectionStore

# Feeds whose completeness defines "data complete through" (the money).
CORE_FEEDS = ("cost", "usage")

_syncing: dict[str, int] = {}  # connections being synced by this process, with a count
_syncing_lock = threading.Lock()


@contextlib.contextmanager
def syncing(label: str) -> Iterator[None]:
    """Marks `label` as being synced by this process while the block runs: its unfinished
    "sync started" then means `syncing`, not `interrupted`."""
    with _syncing_lock:
        _syncing[label] = _syncing.get(label, 0) + 1
    try:
        yield
    finally:
        with _syncing_lock:
            _syncing[label] -= 1
            if not _syncing[label]:
                del _syncing[label]


def connection_health(
    warehouse: Warehouse, count_rows: bool = True, *, store: ConnectionStore | None = None
) -> dict[str, dict[str, Any]]:
    """Health per connection label. `store` (default: the one of the warehouse's home) is
    checked for keys that can't be decrypted."""
    with _syncing_lock:
        running = set(_syncing)
    with warehouse.cursor() as con:
        out = _health(con, count_rows, running)
    if store is None:
        from ..connections import ConnectionStore

        store = ConnectionStore(warehouse.settings)
    for label, h in key_health(store).items():
        if out.get(label, {}).get("state") != "deleted":
            out.setdefault(label, {}).update(h)
    return out


def key_health(store: ConnectionStore) -> dict[str, dict[str, Any]]:
    """`state: error` and the reason for each active connection whose key can't be decrypted.

    A connection store that can't be read is reported by the commands that read it, not here."""
    try:
        problems = store.key_problems()
    except SpendscopeError:
        return {}
    return {label: {"state": "error", "last_error": why} for label, why in problems.items()}


def _health(con: Any, count_rows: bool, running: set[str]) -> dict[str, dict[str, Any]]:
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]
        ).fetchall()
    }
    if "events" not in tables:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for label, at in con.execute(
        f"SELECT connection_label, max(occurred_at) FROM {DATASET}.events "
        "WHERE category = 'sync' AND message = 'sync finished' GROUP BY 1"
    ).fetchall():
        out.setdefault(label, {})["last_success"] = at
    for label, level, message, at in con.execute(
        f"""SELECT connection_label, level, message, occurred_at FROM (
              SELECT *, row_number() OVER (
                  PARTITION BY connection_label ORDER BY occurred_at DESC) AS n
              FROM {DATASET}.events WHERE category = 'sync' AND message <> 'sync started')
            WHERE n = 1"""
    ).fetchall():
        h = out.setdefault(label, {})
        h["state"] = "failing" if level == "error" else "ok"
        if level == "error":
            h["last_error"] = message
            h["last_error_at"] = at
    # A "sync started" with no later end: the sync was interrupted (or is running here).
    for label, started in con.execute(
        f"""SELECT connection_label, started FROM (
              SELECT connection_label,
                     max(occurred_at) FILTER (WHERE message = 'sync started') AS started,
                     max(occurred_at) FILTER (
                         WHERE message = 'sync finished' OR message LIKE 'sync failed%') AS ended
              FROM {DATASET}.events WHERE category = 'sync' GROUP BY 1)
            WHERE started IS NOT NULL AND (ended IS NULL OR ended < started)"""
    ).fetchall():
        h = out.setdefault(label, {})
        if label in running:
            h["state"], h["started_at"] = "syncing", started
        else:
            h["state"], h["interrupted_at"] = "interrupted", started
    marks = ", ".join("?" for _ in CORE_FEEDS)
    for label, through in con.execute(
        f"SELECT connection_label, min(complete_through) FROM {DATASET}.sync_state "
        f"WHERE feed IN ({marks}) GROUP BY 1",
        list(CORE_FEEDS),
    ).fetchall():
        out.setdefault(label, {})["complete_through"] = through
    if count_rows and {"mart_spend", "mart_usage"} <= tables:
        for label, n in con.execute(
            f"""SELECT connection_label, sum(n) FROM (
                  SELECT connection_label, count(*) AS n FROM {DATASET}.mart_spend
                  WHERE canon GROUP BY 1
                  UNION ALL
                  SELECT connection_label, count(*) FROM {DATASET}.mart_usage
                  WHERE canon GROUP BY 1)
                GROUP BY 1"""
        ).fetchall():
            out.setdefault(label, {})["rows"] = int(n)
    if "rejected_rows" in tables:
        # Rows set aside because they could not be represented (see docs/sync.md).
        for label, n in con.execute(
            f"SELECT connection_label, count(*) FROM {DATASET}.rejected_rows GROUP BY 1"
        ).fetchall():
            out.setdefault(label, {})["rejected"] = int(n)
    for label, state in con.execute(
        f"SELECT connection_label, state FROM {DATASET}.connections"
    ).fetchall():
        if state == "deleted":
            out.setdefault(label, {})["state"] = "deleted"
    for h in out.values():
        h.setdefault("state", "never synced")
    return out


def recent_events(warehouse: Warehouse, connection: str, n: int = 10) -> list[dict[str, Any]]:
    cols = ["occurred_at", "level", "category", "message", "detail"]
    rows = warehouse.read(
        f"SELECT {', '.join(cols)} FROM {DATASET}.events "
        "WHERE connection_label = ? ORDER BY occurred_at DESC LIMIT ?",
        connection,
        n,
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]
