"""The warehouse: a DuckDB file written from Arrow, read back, and the bookkeeping every sync
relies on.

Writes go through `writer.py`, one transaction per sync window (rows, deletions, corrections and
cursor together); DDL is always followed by a checkpoint. Opening the file recovers from a
write-ahead log DuckDB cannot replay: the log is moved aside (kept, named in a warning), the
warehouse opens at its last checkpoint — data and cursors together — and the next sync fetches
again what the log held. A full disk becomes one `WarehouseError` line naming the directory and
the space needed.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import logging
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import writer
from .schema import ALL_TABLES, DATASET, row_key, to_arrow, utcnow
from .tables import CONNECTIONS, EVENTS, SYNC_STATE, Table

if TYPE_CHECKING:
    from ..config import Settings
    from ..errors import WarehouseError

log = logging.getLogger("spendscope.warehouse")


class _Absent(importlib.abc.MetaPathFinder):
    """Answers "not installed" for a module at once. DuckDB looks for pandas on every statement
    that has parameters; without pandas, each failed import searches the whole `sys.path`
    again (about 5 % of a small sync's time). The answer cannot change while we run."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


if importlib.util.find_spec("pandas") is None:
    sys.meta_path.insert(0, _Absent("pandas"))

DUCKDB_MEMORY_LIMIT = "256MB"
# DuckDB spills to `<warehouse>.tmp` beyond its memory limit; this caps the spill.
MAX_TEMP_DIRECTORY_SIZE = "4GB"
# Free space asked for when the disk is full: at least this, and twice the warehouse's size (a
# checkpoint writes changed blocks before it frees the old ones; mart rebuilds copy the marts).
MIN_FREE_BYTES = 64 * 2**20


class Warehouse:
    """The DuckDB warehouse of a spendscope home.

    One connection per process; every write holds `_lock` (writes are serialized, one window at
    a time), reads take cursors of their own and never wait for a write.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = Path(settings.warehouse_path)
        self._lock = threading.RLock()
        self._duck: Any = None
        self._duck_lock = threading.Lock()
        # Write-ahead logs moved aside when the file was opened, not yet in the event log.
        self._recovered: list[tuple[Path, str]] = []
        # A write failure that leaves the connection unusable (a full disk): raised again by
        # every write until `prepare()` reopens the warehouse.
        self.fatal: WarehouseError | None = None
        # Figures for the benchmark: write transactions, checkpoints, seconds spent writing.
        self.load_runs = 0
        self.checkpoints = 0
        self.write_seconds = 0.0

    @property
    def wal_path(self) -> Path:
        return self.path.with_name(self.path.name + ".wal")

    # -- schema -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Open the warehouse, creating or migrating its tables (`initialize()` in `refresh`
        also brings the views and marts up to date). Reopens it after a fatal error."""
        with self._lock:
            if self.fatal is not None:
                self.fatal = None
                self.close()
            with self._writing():
                pass  # opening creates or migrates the tables (see `duckdb()`)

    def _record_recovery(self, cur: Any) -> None:
        """Log each recovery of this process in the event log (of every connection known)."""
        if not self._recovered:
            return
        labels = [
            r[0]
            for r in cur.execute(
                f"SELECT DISTINCT connection_label FROM {DATASET}.{CONNECTIONS.name}"
            ).fetchall()
        ] or ["*"]
        at = utcnow()
        message = (
            "the warehouse's write-ahead log could not be replayed; the warehouse was opened at "
            "its last checkpoint and the next sync fetches again what the log held"
        )
        rows = [
            {
                "row_key": row_key(label, at.isoformat(), "data", message, str(kept)),
                "connection_label": label,
                "occurred_at": at,
                "level": "warning",
                "category": "data",
                "message": message,
                "detail": json.dumps({"kept": str(kept), "reason": reason}, sort_keys=True),
            }
            for kept, reason in self._recovered
            for label in labels
        ]
        writer.write_window(cur, ALL_TABLES, {EVENTS.name: to_arrow(EVENTS, rows)}, {})
        writer.checkpoint(cur)
        self._recovered.clear()

    # -- writes -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[Any]:
        """A cursor for one write, under the write lock; DuckDB's failures come out as one
        `WarehouseError` (a full disk named as such)."""
        with self._lock:
            if self.fatal is not None:
                raise self.fatal
            try:
                with self.cursor() as cur:
                    yield cur
            except Exception as exc:
                err = self._error(exc)
                if err is exc:
                    raise
                raise err from exc

    def _error(self, exc: Exception) -> Exception:
        from ..errors import SpendscopeError, WarehouseError

        if isinstance(exc, SpendscopeError):
            return exc
        if _is_disk_full(exc) or "invalidated" in str(exc):
            err = self.disk_full_error() if _is_disk_full(exc) else _warehouse_error(exc)
            if isinstance(err, WarehouseError):
                self.fatal = err
            return err
        if isinstance(exc, KeyError | TypeError | ValueError):
            return exc  # a programming error: keep its traceback
        return _warehouse_error(exc)

    def disk_full_error(self) -> WarehouseError:
        from ..errors import WarehouseError

        directory = self.path.parent
        used = sum(p.stat().st_size for p in (self.path, self.wal_path) if p.exists())
        needed = max(MIN_FREE_BYTES, 2 * used)
        try:
            free = shutil.disk_usage(directory).free
        except OSError:
            free = 0
        return WarehouseError(
            f"No space left on device in {directory}: the warehouse needs about "
            f"{_mb(needed)} free there ({_mb(free)} free now). Free some space and run the "
            "command again; nothing committed was lost and the next sync resumes exactly."
        )

    def load(
        self, tables: dict[str, pa.Table], deletions: Mapping[str, Sequence[str]] | None = None
    ) -> int:
        """Write one window — its tables (by name), deletions (row keys by table),
        corrections and cursor — in one transaction (see `writer.py`). Returns rows written."""
        tables = {k: v for k, v in tables.items() if v.num_rows}
        deletions = {k: v for k, v in (deletions or {}).items() if v}
        unknown = [n for n in (*tables, *deletions) if n not in ALL_TABLES]
        if unknown:
            raise ValueError(f"unknown warehouse tables: {', '.join(sorted(unknown))}")
        if not tables and not deletions:
            return 0
        with self._writing() as cur:
            started = time.perf_counter()
            rows = writer.write_window(cur, ALL_TABLES, tables, deletions)
            self.load_runs += 1
            if self._wal_size() > writer.WAL_CHECKPOINT_BYTES:
                writer.checkpoint(cur)
                self.checkpoints += 1
            self.write_seconds += time.perf_counter() - started
        return rows

    def checkpoint(self) -> None:
        """Write the log into the file (at the end of a connection's sync, after a refresh)."""
        with self._writing() as cur:
            writer.checkpoint(cur)
            self.checkpoints += 1

    def _wal_size(self) -> int:
        try:
            return self.wal_path.stat().st_size
        except OSError:
            return 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in an open transaction under the write lock: committed when the block ends,
        rolled back if it raises. The caller checkpoints after DDL."""
        with self._writing() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement under the write lock (its own transaction) and return its rows."""
        with self._writing() as cur:
            return list(cur.execute(sql, list(params)).fetchall())

    def read(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """A read that need not wait for a write in progress (its own DuckDB cursor)."""
        with self.cursor() as cur:
            return list(cur.execute(sql, list(params)).fetchall())

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        """A DuckDB cursor of its own (reads that need not wait for writes, transactions)."""
        with self._duck_lock:
            cursor = self.duckdb().cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def existing_tables(self) -> set[str]:
        rows = self.read(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", DATASET
        )
        return {r[0] for r in rows}

    # -- reads used by the sync -------------------------------------------------------------
    def existing_rows_full(
        self, table: Table, connection: str, start: datetime, end: datetime
    ) -> dict[str, tuple[Any, ...]]:
        """row_key -> (bucket_start, is_provisional, *metrics) of a connection's rows in a
        window: what the sync compares fresh rows with."""
        cols = ", ".join(table.metrics)
        rows = self.read(
            f"SELECT row_key, bucket_start, is_provisional, {cols} FROM {DATASET}.{table.name} "
            "WHERE connection_label = ? AND bucket_start >= ? AND bucket_start < ?",
            connection,
            start,
            end,
        )
        return {r[0]: tuple(r[1:]) for r in rows}

    def window_keys(self, table: str, connection: str, start: datetime, end: datetime) -> list[str]:
        rows = self.read(
            f"SELECT row_key FROM {DATASET}.{table} WHERE connection_label = ? "
            "AND bucket_start >= ? AND bucket_start < ?",
            connection,
            start,
            end,
        )
        return [r[0] for r in rows]

    def connection_keys(self, table: str, connection: str) -> list[str]:
        rows = self.read(
            f"SELECT row_key FROM {DATASET}.{table} WHERE connection_label = ?", connection
        )
        return [r[0] for r in rows]

    def sync_state(self, connection: str) -> dict[str, dict[str, Any]]:
        rows = self.read(
            f"SELECT feed, source, covered_from, complete_through, loaded_through, "
            f"data_refreshed_at, updated_at FROM {DATASET}.{SYNC_STATE.name} "
            "WHERE connection_label = ?",
            connection,
        )
        return {
            r[0]: {
                "source": r[1],
                "covered_from": r[2],
                "complete_through": r[3],
                "loaded_through": r[4],
                "data_refreshed_at": r[5],
                "updated_at": r[6],
            }
            for r in rows
        }

    def delete_connection_rows_in(
        self, cur: Any, connection: str, tables: Iterable[str] | None = None
    ) -> int:
        """Delete a connection's rows from `tables` (default: every table) with `cur`, inside
        the caller's transaction; returns the number of rows deleted. The caller refreshes what
        depends on them (`refresh.refresh(..., change=...)` does both in one transaction)."""
        existing = self.existing_tables()
        if tables is None:  # every table that has a connection's rows (not the configuration)
            tables = [n for n, t in ALL_TABLES.items() if "connection_label" in t.column_names]
        names = [n for n in tables if n in existing]
        return writer.delete_connection(cur, names, connection)

    # -- the connection -----------------------------------------------------------------------
    def duckdb(self) -> Any:
        """The DuckDB connection to the warehouse file. Opening it recovers from a log that
        cannot be replayed, and creates (or migrates) the tables: a warehouse that opens is
        complete."""
        if self._duck is None:
            self.settings.ensure_home()
            con = self._open()
            try:
                cur = con.cursor()
                try:
                    writer.create_tables(cur, ALL_TABLES.values())
                    self._record_recovery(cur)
                finally:
                    cur.close()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    con.close()
                err = self._error(exc)
                if err is exc:
                    raise
                raise err from exc
            self._duck = con
        return self._duck

    def _open(self) -> Any:
        import duckdb

        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "checkpoint_threshold": f"{writer.WAL_CHECKPOINT_BYTES // 2**20}MB",
            "temp_directory": str(self.path) + ".tmp",
            "max_temp_directory_size": MAX_TEMP_DIRECTORY_SIZE,
        }
        try:
            return duckdb.connect(str(self.path), config=config)
        except duckdb.Error as exc:
            if not _is_wal_failure(exc) or not self.wal_path.exists():
                raise self._open_error(exc) from None
            reason = _first_line(exc)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = self.wal_path.with_name(f"{self.wal_path.name}.unreplayable-{stamp}")
        self.wal_path.rename(kept)
        log.warning(
            "warning: the warehouse's write-ahead log could not be replayed (%s); it was moved "
            "to %s and the warehouse opened at its last checkpoint: the next sync fetches "
            "again what was lost.",
            reason,
            kept,
        )
        self._recovered.append((kept, reason))
        try:
            return duckdb.connect(str(self.path), config=config)
        except duckdb.Error as exc:
            raise self._open_error(exc) from None

    def _open_error(self, exc: Exception) -> Exception:
        if _is_disk_full(exc):
            return self.disk_full_error()
        return _locked_error(exc)

    def close(self) -> None:
        with self._duck_lock:
            if self._duck is not None:
                with contextlib.suppress(Exception):
                    self._duck.close()
                self._duck = None


# -- errors -------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{max(1, round(n / 2**20)):,} MB"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _is_disk_full(exc: BaseException) -> bool:
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return "No space left on device" in str(exc)


def _is_wal_failure(exc: BaseException) -> bool:
    text = str(exc)
    return "replaying WAL" in text or ("WAL" in text and "replay" in text.lower())


def _locked_error(exc: Exception) -> Exception:
    import re

    from ..errors import WarehouseError

    text = str(exc)
    if "lock" not in text.lower():
        return _warehouse_error(exc)
    pid = re.search(r"PID (\d+)", text)
    who = f" (process {pid.group(1)})" if pid else ""
    return WarehouseError(
        f"The warehouse is in use by another spendscope process{who}.",
        "If `spendscope serve` is running, sync from its dashboard (Sync now) or with "
        "`curl -X POST <dashboard>/api/v1/sync`; otherwise wait for the other command to finish.",
    )


def _warehouse_error(exc: Exception) -> Exception:
    from ..errors import SpendscopeError, WarehouseError

    if isinstance(exc, SpendscopeError):
        return exc
    return WarehouseError(
        f"Could not write to the warehouse: {_first_line(exc)}",
        "Check free disk space and that no other process holds the warehouse file; the rows "
        "already loaded are consistent and the next sync resumes where this one stopped.",
    )
