"""The write path of the DuckDB warehouse: Arrow tables in, one transaction per sync window.

The transaction boundary: `write_window()` applies everything a sync window produced in ONE
DuckDB transaction —

- its rows: every table of the window's dict. Fact, snapshot and state tables are upserted on
  `row_key` (rows with an incoming key are deleted, then the incoming rows inserted by column
  name; a key repeated in the batch keeps its last row); log tables (`corrections`, `events`, …)
  are appended;
- its deletions: row keys per table (rows that vanished upstream, or a replaced source's rows);
- its corrections (the `corrections` table of the dict) and its cursor (the feed's `sync_state`
  row).

They become visible together at COMMIT, or not at all: a process killed or a disk that fills
before the COMMIT leaves the warehouse as it was, with the cursor where the data is, and the next
sync fetches the window again. The upsert makes loading a window twice change nothing.

DDL never shares a transaction with a window, and is checkpointed as soon as it commits:
`create_tables()` (schema, tables, columns added by a newer version, the migration of a warehouse
written through dlt), the views and the marts are each followed by `checkpoint()`. An unclean stop
therefore leaves only row changes to replay. Windows checkpoint too, whenever the log has grown
past `WAL_CHECKPOINT_BYTES`, so it stays small.

No index or key constraint is declared: the upsert's DELETE is a hash semi-join narrowed by the
batch's connection and bucket range (DuckDB skips row groups by their min/max), which costs no
index memory on ten-million-row tables and avoids the constraint checks DuckDB applies when a key
is deleted and inserted again in one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import faults
from .schema import DATASET
from .tables import SYNC_STATE, Table

# A load that leaves the write-ahead log larger than this checkpoints (DuckDB's own automatic
# checkpoint is set to the same threshold).
WAL_CHECKPOINT_BYTES = 8 * 2**20
# What dlt added to the tables and schema of warehouses written by earlier versions.
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
STAGING = f"{DATASET}_staging"
_INCOMING = "_spendscope_incoming"


def sql_type(t: pa.DataType) -> str:
    """The DuckDB column type of an Arrow type used by the tables."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"
    raise TypeError(f"no DuckDB type for {t}")


def _columns_sql(table: Table) -> str:
    return ", ".join(
        f"{c.name} {sql_type(c.type)}{'' if c.nullable else ' NOT NULL'}" for c in table.columns
    )


def table_columns(con: Any) -> dict[str, list[str]]:
    """table name -> its columns, for every table of the dataset."""
    out: dict[str, list[str]] = {}
    for name, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = ? ORDER BY table_name, ordinal_position",
        [DATASET],
    ).fetchall():
        out.setdefault(name, []).append(column)
    return out


def _schema_exists(con: Any, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?", [name]
        ).fetchall()
    )


def create_tables(con: Any, tables: Iterable[Table]) -> bool:
    """Create the schema and every missing table, add missing columns, and drop what dlt left in
    a warehouse written by an earlier version; then checkpoint. Returns whether anything changed
    (nothing is written, and no checkpoint taken, when everything is in place)."""
    existing = table_columns(con)
    statements: list[str] = []
    if not _schema_exists(con, DATASET):
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {DATASET}")
    wanted = {t.name: t for t in tables}
    for name, table in wanted.items():
        have = existing.get(name)
        if have is None:
            statements.append(f"CREATE TABLE {DATASET}.{name} ({_columns_sql(table)})")
            continue
        for c in table.columns:
            if c.name not in have:
                statements.append(
                    f"ALTER TABLE {DATASET}.{name} ADD COLUMN {c.name} {sql_type(c.type)}"
                )
    if _schema_exists(con, STAGING):
        statements.append(f"DROP SCHEMA {STAGING} CASCADE")
    for name, have in existing.items():
        if name.startswith("_dlt_"):
            statements.append(f"DROP TABLE {DATASET}.{name}")
            continue
        statements += [
            f"ALTER TABLE {DATASET}.{name} DROP COLUMN {c}" for c in DLT_COLUMNS if c in have
        ]
    if not statements:
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        for sql in statements:
            con.execute(sql)
        faults.step("schema")
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    checkpoint(con)
    return True


def checkpoint(con: Any) -> None:
    """Write the log into the database file (and empty the log)."""
    faults.step("checkpoint")
    con.execute("CHECKPOINT")


def _rollback(con: Any) -> None:
    with contextlib.suppress(Exception):
        con.execute("ROLLBACK")


def _last_per_key(data: pa.Table) -> pa.Table:
    """The batch with one row per row_key (the last one, as loading them in turn would leave)."""
    keys = data.column("row_key")
    if pc.count_distinct(keys).as_py() == data.num_rows:
        return data
    last = {k: i for i, k in enumerate(keys.to_pylist())}
    return data.take(sorted(last.values()))


def _narrowing(table: Table, data: pa.Table) -> tuple[str, list[Any]]:
    """Extra predicates that hold for every row sharing a key with the batch: same connection
    (every row_key digests it), bucket within the batch's range (where the table's key holds the
    bucket). They let DuckDB skip whole row groups."""
    names = set(data.schema.names)
    sql, params = "", []
    if "connection_label" in names and not data.column("connection_label").null_count:
        labels = pc.unique(data.column("connection_label")).to_pylist()
        if len(labels) == 1:
            sql += " AND connection_label = ?"
            params.append(labels[0])
    if "bucket_start" in table.key and not data.column("bucket_start").null_count:
        bounds = pc.min_max(data.column("bucket_start")).as_py()
        if bounds["min"] is not None:
            sql += " AND bucket_start BETWEEN ? AND ?"
            params += [bounds["min"], bounds["max"]]
    return sql, params


def _upsert(con: Any, table: Table, data: pa.Table) -> None:
    target = f"{DATASET}.{table.name}"
    if table.kind != "log":
        data = _last_per_key(data)
    con.register(_INCOMING, data)
    try:
        if table.kind != "log":
            where, params = _narrowing(table, data)
            con.execute(
                f"DELETE FROM {target} WHERE row_key IN (SELECT row_key FROM {_INCOMING}){where}",
                params,
            )
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {_INCOMING}")
    finally:
        con.unregister(_INCOMING)


def _delete(con: Any, table: str, keys: Sequence[str]) -> None:
    gone = pa.table({"row_key": pa.array(list(keys), pa.string())})
    con.register(_INCOMING, gone)
    try:
        con.execute(
            f"DELETE FROM {DATASET}.{table} WHERE row_key IN (SELECT row_key FROM {_INCOMING})"
        )
    finally:
        con.unregister(_INCOMING)


def write_window(
    con: Any,
    specs: Mapping[str, Table],
    tables: Mapping[str, pa.Table],
    deletions: Mapping[str, Sequence[str]],
) -> int:
    """Apply one window — rows, deletions, corrections, cursor — in one transaction (see the
    module's docstring). `specs` maps table names to their declarations. Returns rows written."""
    rows = 0
    con.execute("BEGIN TRANSACTION")
    try:
        faults.step("window_load")
        for name, data in tables.items():
            if not data.num_rows:
                continue
            _upsert(con, specs[name], data)
            rows += data.num_rows
            if name == SYNC_STATE.name:
                faults.step("cursor")
        faults.step("window_rows")
        for name, keys in deletions.items():
            if keys:
                _delete(con, name, keys)
                faults.step("delete")
        faults.step("commit")
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return rows


def delete_connection(con: Any, tables: Iterable[str], connection: str) -> int:
    """Delete every row of a connection from `tables`, in the caller's transaction. Returns the
    number of rows deleted."""
    removed = 0
    for name in tables:
        row = con.execute(
            f"DELETE FROM {DATASET}.{name} WHERE connection_label = ?", [connection]
        ).fetchone()
        removed += int(row[0]) if row else 0
        faults.step("delete")
    return removed
