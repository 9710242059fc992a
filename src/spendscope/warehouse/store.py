"""The warehouse: loading through dlt, reading back, and the bookkeeping every sync relies on.

Loads go through a dlt pipeline (DuckDB file by default; any SQL destination dlt supports), as
Arrow tables with explicit schemas (dlt's row-by-row dict loading is far slower). Fact and state
tables are merged on `row_key`, so loading the same window twice changes nothing. A load of one
window carries the window's data, its corrections and the sync cursor in one dlt package: a
process killed mid-load finishes that package on the next run, and the cursor never runs ahead
of the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .admin_tables import ADMIN_TABLES
from .engagement_tables import ENGAGEMENT_TABLES
from .tables import BOOKKEEPING_TABLES, FACT_TABLES, SYNC_STATE, Table

if TYPE_CHECKING:
    from ..config import Settings

DATASET = "spendscope"
DUCKDB_MEMORY_LIMIT = "256MB"
# Backpressure: fetchers wait while this many rows are queued for loading, and one dlt run takes
# about this many rows at most — memory stays bounded however large the backfill.
MAX_QUEUED_ROWS = 60_000
ALL_TABLES: dict[str, Table] = {
    t.name: t for t in (*FACT_TABLES, *ENGAGEMENT_TABLES, *ADMIN_TABLES, *BOOKKEEPING_TABLES)
}


def row_key(*parts: object) -> str:
    """A stable digest of a natural key (None and '' are distinct)."""
    text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _quiet_dlt() -> None:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")


class Warehouse:
    """One warehouse (a DuckDB file unless another dlt destination is given)."""

    def __init__(self, settings: Settings, destination: Any = None) -> None:
        self.settings = settings
        self.path = Path(settings.warehouse_path)
        self._destination = destination
        self._pipeline: Any = None
        self._lock = threading.RLock()  # initialize() reads back while holding it
        self._duck: Any = None
        self._duck_lock = threading.Lock()
        # The coalescing loader: windows queued by the sync, loaded in as few dlt runs as
        # possible (a dlt run costs about a second whatever its size).
        self._queue: list[tuple[dict[str, pa.Table], Mapping[str, Sequence[str]]]] = []
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._busy = False
        self._failure: BaseException | None = None
        self.load_runs = 0

    # -- dlt --------------------------------------------------------------------------------
    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            _quiet_dlt()
            import dlt

            self.settings.ensure_home()
            # One DuckDB connection for dlt and our reads, opened with a memory limit: by
            # default DuckDB would let its caches grow to 80% of the machine's memory.
            destination = self._destination or dlt.destinations.duckdb(self.duckdb())
            self._pipeline = dlt.pipeline(
                pipeline_name="spendscope",
                destination=destination,
                dataset_name=DATASET,
                pipelines_dir=str(Path(self.settings.home) / "pipelines"),
            )
        return self._pipeline

    @property
    def is_duckdb(self) -> bool:
        return self._destination is None

    @property
    def mark(self) -> str:
        """The destination's query-parameter placeholder."""
        return "?" if self.is_duckdb else "%s"

    def initialize(self) -> None:
        """Create every table (empty) and the views. Safe to call at every start."""
        with self._lock:
            self._finish_pending()
            existing = self.existing_tables()
            missing = [t for t in ALL_TABLES.values() if t.name not in existing]
            if missing:
                self._run({t.name: t.arrow_schema().empty_table() for t in missing})
        from .marts import refresh_marts
        from .views import create_views

        create_views(self)
        # Builds the marts the first time (or after an upgrade changed them); otherwise a no-op
        # unless rows were loaded since they were last refreshed.
        refresh_marts(self)

    def _finish_pending(self) -> None:
        """Load what a killed process had extracted but not loaded (dlt keeps it on disk)."""
        p = self.pipeline
        if p.has_pending_data:
            p.normalize()
            p.load()

    def _run(self, tables: dict[str, pa.Table]) -> None:
        import dlt

        resources = []
        for name, data in tables.items():
            spec = ALL_TABLES[name]
            options: dict[str, Any] = {"name": name, "write_disposition": "append"}
            if spec.kind != "log":
                options.update(write_disposition="merge", primary_key=list(spec.primary_key))
            resources.append(dlt.resource(data, **options))
        self.pipeline.run(resources, loader_file_format="parquet")

    def load(
        self, tables: dict[str, pa.Table], deletions: Mapping[str, Sequence[str]] | None = None
    ) -> int:
        """Upsert Arrow tables (by table name), then delete rows by row_key. Returns rows loaded."""
        tables = {k: v for k, v in tables.items() if v.num_rows or k not in ALL_TABLES}
        rows = int(sum(t.num_rows for t in tables.values()))
        with self._lock:
            if tables:
                self._run(tables)
                self.load_runs += 1
            for name, keys in (deletions or {}).items():
                self._delete(name, keys)
        return rows

    # -- the coalescing loader --------------------------------------------------------------
    def submit(
        self, tables: dict[str, pa.Table], deletions: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """Queue a load; it joins the next dlt run. `flush()` waits for everything queued."""
        rows = sum(t.num_rows for t in tables.values())
        with self._cond:
            self._raise_failure()
            while (
                self._queued_rows() + rows > MAX_QUEUED_ROWS
                and self._queue
                and (self._worker is not None and self._worker.is_alive())
            ):
                self._cond.wait(0.5)
                self._raise_failure()
            self._queue.append((tables, deletions or {}))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._drain, daemon=True, name="warehouse-loader"
                )
                self._worker.start()
            self._cond.notify_all()

    def _queued_rows(self) -> int:
        return sum(t.num_rows for tables, _ in self._queue for t in tables.values())

    def flush(self) -> None:
        with self._cond:
            while self._queue or self._busy:
                self._cond.wait(0.5)
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(0.2)
                    if not self._queue:
                        return
                batch: list[tuple[dict[str, pa.Table], Mapping[str, Sequence[str]]]] = []
                taken = 0
                while self._queue and (not batch or taken < MAX_QUEUED_ROWS):
                    item = self._queue.pop(0)
                    batch.append(item)
                    taken += sum(t.num_rows for t in item[0].values())
                self._busy = True
                self._cond.notify_all()
            try:
                tables, deletions = _coalesce(batch)
                self.load(tables, deletions)
                del tables, batch
                _release_memory()
            except Exception as exc:  # reported to the next submit()/flush()
                with self._cond:
                    self._failure = _warehouse_error(exc)
                    self._queue.clear()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _delete(self, table: str, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self.pipeline.sql_client() as client:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i : i + 500])
                marks = ", ".join([self.mark] * len(chunk))
                client.execute_sql(
                    f"DELETE FROM {DATASET}.{table} WHERE row_key IN ({marks})", *chunk
                )

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on the destination (views, deletes, reads) and return the rows."""
        with self._lock, self.pipeline.sql_client() as client:
            rows = client.execute_sql(sql, *params)
        return list(rows or [])

    def read(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """A read that need not wait for loads in progress (its own DuckDB cursor)."""
        if not self.is_duckdb:
            return self.execute(sql, *params)
        with self._duck_lock:
            cursor = self.duckdb().cursor()
        try:
            return list(cursor.execute(sql, list(params)).fetchall())
        finally:
            cursor.close()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        """A DuckDB cursor of its own (reads that need not wait for loads, transactions)."""
        with self._duck_lock:
            cursor = self.duckdb().cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def existing_tables(self) -> set[str]:
        try:
            rows = self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                + self.mark,
                DATASET,
            )
        except Exception:  # the dataset does not exist yet
            return set()
        return {r[0] for r in rows}

    # -- reads used by the sync -------------------------------------------------------------
    def existing_rows_full(
        self, table: Table, connection: str, start: datetime, end: datetime
    ) -> dict[str, tuple[Any, ...]]:
        """row_key -> (bucket_start, is_provisional, *metrics) of a connection's rows in a
        window: what the sync compares fresh rows with."""
        cols = ", ".join(table.metrics)
        mark = self.mark
        rows = self.read(
            f"SELECT row_key, bucket_start, is_provisional, {cols} FROM {DATASET}.{table.name} "
            f"WHERE connection_label = {mark} AND bucket_start >= {mark} "
            f"AND bucket_start < {mark}",
            connection,
            start,
            end,
        )
        return {r[0]: tuple(r[1:]) for r in rows}

    def window_keys(self, table: str, connection: str, start: datetime, end: datetime) -> list[str]:
        mark = self.mark
        rows = self.read(
            f"SELECT row_key FROM {DATASET}.{table} WHERE connection_label = {mark} "
            f"AND bucket_start >= {mark} AND bucket_start < {mark}",
            connection,
            start,
            end,
        )
        return [r[0] for r in rows]

    def connection_keys(self, table: str, connection: str) -> list[str]:
        mark = self.mark
        rows = self.read(
            f"SELECT row_key FROM {DATASET}.{table} WHERE connection_label = {mark}", connection
        )
        return [r[0] for r in rows]

    def sync_state(self, connection: str) -> dict[str, dict[str, Any]]:
        mark = self.mark
        rows = self.execute(
            f"SELECT feed, source, covered_from, complete_through, loaded_through, "
            f"data_refreshed_at, updated_at FROM {DATASET}.{SYNC_STATE.name} "
            f"WHERE connection_label = {mark}",
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

    def delete_connection_rows(self, connection: str, tables: Iterable[str] | None = None) -> int:
        """Remove a connection's rows (for `connections delete --purge`, or a source switch)."""
        names = list(tables) if tables is not None else list(ALL_TABLES)
        existing = self.existing_tables()
        mark = self.mark
        removed = 0
        for name in names:
            if name not in existing:
                continue
            n = self.execute(
                f"SELECT count(*) FROM {DATASET}.{name} WHERE connection_label = {mark}", connection
            )[0][0]
            if n:
                self.execute(
                    f"DELETE FROM {DATASET}.{name} WHERE connection_label = {mark}", connection
                )
                removed += int(n)
        return removed

    # -- direct DuckDB reads (reports, dashboard) -------------------------------------------
    def duckdb(self) -> Any:
        """A DuckDB connection to the warehouse file (DuckDB destination only)."""
        if not self.is_duckdb:
            raise RuntimeError("direct queries need the DuckDB warehouse")
        if self._duck is None:
            import duckdb

            self.settings.ensure_home()
            try:
                self._duck = duckdb.connect(
                    str(self.path), config={"memory_limit": DUCKDB_MEMORY_LIMIT}
                )
            except duckdb.IOException as exc:
                raise _locked_error(exc) from None
        return self._duck

    def close(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None


# -- helpers to build Arrow tables ------------------------------------------------------------


def _release_memory() -> None:
    """Hand freed heap pages back to the system after a load (glibc keeps them otherwise)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


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
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WarehouseError(
        f"Could not write to the warehouse: {text[:300]}",
        "Check free disk space and that no other process holds the warehouse file; the rows "
        "already loaded are consistent and the next sync resumes where this one stopped.",
    )


def _coalesce(
    batch: list[tuple[dict[str, pa.Table], Mapping[str, Sequence[str]]]],
) -> tuple[dict[str, pa.Table], dict[str, list[str]]]:
    """Merge queued loads: tables concatenated (keeping the last row of a row_key, as loading
    them one after the other would), deletions united."""
    parts: dict[str, list[pa.Table]] = {}
    deletions: dict[str, list[str]] = {}
    for tables, dels in batch:
        for name, t in tables.items():
            parts.setdefault(name, []).append(t)
        for name, keys in dels.items():
            deletions.setdefault(name, []).extend(keys)
    merged: dict[str, pa.Table] = {}
    for name, ts in parts.items():
        t = ts[0] if len(ts) == 1 else pa.concat_tables(ts)
        spec = ALL_TABLES.get(name)
        if spec is not None and spec.kind != "log" and t.num_rows > 1:
            keys = t.column("row_key").to_pylist()
            if len(set(keys)) < len(keys):
                last = {k: i for i, k in enumerate(keys)}
                t = t.take(sorted(last.values()))
        merged[name] = t
    return merged, deletions


def to_arrow(table: Table, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with any subset of the table's columns) as an Arrow table of its schema."""
    schema = table.arrow_schema()
    columns = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def utcnow() -> datetime:
    return datetime.now(UTC)


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)
