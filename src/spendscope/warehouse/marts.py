"""The analytics marts: `mart_spend` and `mart_usage`, the flat tables the dashboard reads.

They hold what the `spend` and `usage` views hold — the same rows, the same double-booking rule
— plus the *alternate grain* of each connection kind, materialized so that a question over ten
million rows reads a plain columnar table instead of re-running the views' joins. Only ids and
values are kept: names (workspaces, API keys) and the FinOps columns are derived when a question
is asked, so a renamed key shows its new name everywhere.

Each row carries `grain`:

- `canonical`: the grain the `spend`/`usage` views use (Console: workspace × API key × model ×
  tier × context window; Enterprise: organization × user × product × model × context window);
- `alternate`: the other grain the analytics API was asked for (Console: actor × product × model ×
  geo × speed; Enterprise: organization × product × model × geo × speed) — the same money cut
  another way, used when a question needs product, geo or speed on Console, or geo or speed on
  Enterprise;
- `legacy`: rows from the pre-analytics usage and cost reports, the only grain on the days they
  cover, so they count under both choices.

Summing `canonical` + `legacy` rows equals the `spend` / `usage` views exactly; so does
`alternate` + `legacy` (tests check both).

Refreshing is incremental: `mart_state` remembers when the marts were last refreshed; the days
from the earliest one any row was loaded (or removed) for since then are replaced. A full rebuild
happens the first time, when the overlap precedence changes, and after a connection is deleted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from .. import faults
from .schema import DATASET
from .views import (
    ALTERNATE_SPEND_SOURCES,
    ALTERNATE_USAGE_SOURCES,
    SPEND_SOURCES,
    USAGE_SOURCES,
    spend_select,
    usage_select,
)

if TYPE_CHECKING:
    from .connection import Warehouse

MART_SPEND = "mart_spend"
MART_USAGE = "mart_usage"
MART_STATE = "mart_state"
# Bumped when the marts' columns change: a warehouse built by another version is rebuilt.
LAYOUT = 6

ALTERNATE_TABLES = {t for t, _, _ in (*ALTERNATE_SPEND_SOURCES, *ALTERNATE_USAGE_SOURCES)}
CANONICAL_TABLES = {
    "analytics_cost_key",
    "analytics_cost_user",
    "analytics_usage_key",
    "analytics_usage_user",
}
SOURCE_TABLES = sorted({t for t, _, _ in (*SPEND_SOURCES, *USAGE_SOURCES)} | ALTERNATE_TABLES)


def _in(tables: set[str]) -> str:
    return ", ".join(f"'{t}'" for t in sorted(tables))


_DIMS = """b.connection_label, b.connection_kind,
    {canon} AS canon, {alt} AS alt,
    CASE b.connection_kind WHEN 'console' THEN {alt} ELSE {canon} END AS alt_console,
    CASE b.connection_kind WHEN 'console' THEN {canon} ELSE {alt} END AS alt_enterprise,
    CAST(b.{start} AS DATE) AS day, b.organization_id,
    b.workspace_id, b.api_key_id, COALESCE(b.user_email, b.user_id) AS user_key, b.product,
    b.model, b.service_tier, b.context_window, b.inference_geo, b.speed,
    CASE b.connection_kind WHEN 'console' THEN 'Anthropic (Console)'
        ELSE 'Anthropic (Enterprise)' END AS provider,
    CASE b.connection_kind WHEN 'console' THEN b.workspace_id ELSE b.user_email END AS project"""
# Money as integers of 1e-11 USD (1e-9 cent, the scale the API's amounts are stored at): sums
# of BIGINT are exact (DuckDB widens them to 128 bits) and an order of magnitude faster than
# DECIMAL(38, 11). One row holds at most 92 million dollars.
NANO = 100_000_000_000
_SPEND_VALUES = f"""b.cost_type, b.token_type,
    COALESCE(b.product, b.cost_type) || ' / ' || COALESCE(b.model, b.cost_type) AS sku,
    CAST(b.billed_cost * {NANO} AS BIGINT) AS billed_nc,
    CAST(b.list_cost * {NANO} AS BIGINT) AS list_nc, b.is_provisional"""
_USAGE_VALUES = """COALESCE(b.product, 'tokens') || ' / ' || COALESCE(b.model, 'tokens') AS sku,
    b.uncached_input_tokens, b.cache_read_input_tokens, b.cache_creation_5m_input_tokens,
    b.cache_creation_1h_input_tokens, b.output_tokens, b.web_search_requests, b.requests,
    b.is_provisional"""
# Text columns stored as ENUMs (grouping by a small integer instead of a string: several
# times faster); the types are made from the values present at each rebuild.
ENUM_COLUMNS = (
    "connection_label",
    "connection_kind",
    "organization_id",
    "workspace_id",
    "api_key_id",
    "user_key",
    "product",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "provider",
    "project",
    "sku",
    "cost_type",
    "token_type",
)


def _grain(table: str) -> str:
    if table in CANONICAL_TABLES:
        return "canonical"
    return "alternate" if table in ALTERNATE_TABLES else "legacy"


def without_overlaps(start: str, precedence: str) -> str:
    """An anti-join leaving out double-booked rows: the rule of the views' `_with_overlaps`,
    written as one hash join. Materializing every row, this is several times faster than the
    views' correlated form; for the views' filtered reads the correlated form is faster (date
    filters reach the scans), so each keeps its own."""
    if precedence == "console":
        return f"""LEFT JOIN (SELECT DISTINCT connection_label AS ol, organization_id AS oo,
            day AS od FROM {DATASET}.overlaps) o
        ON b.connection_kind = 'enterprise' AND o.ol = b.connection_label
            AND o.oo = b.organization_id AND o.od = CAST(b.{start} AS DATE)"""
    return f"""LEFT JOIN (SELECT DISTINCT console_label AS ol, day AS od FROM {DATASET}.overlaps) o
        ON b.connection_kind = 'console' AND o.ol = b.connection_label
            AND o.od = CAST(b.{start} AS DATE)"""


def _parts(existing: set[str], precedence: str) -> dict[str, list[str]]:
    """mart -> one SELECT per source table (rows that count, in the mart's columns)."""
    out: dict[str, list[str]] = {MART_SPEND: [], MART_USAGE: []}
    for mart, sources, select, start, values in (
        (
            MART_SPEND,
            [*SPEND_SOURCES, *ALTERNATE_SPEND_SOURCES],
            spend_select,
            "charge_period_start",
            _SPEND_VALUES,
        ),
        (
            MART_USAGE,
            [*USAGE_SOURCES, *ALTERNATE_USAGE_SOURCES],
            usage_select,
            "period_start",
            _USAGE_VALUES,
        ),
    ):
        for table, source, mapping in sources:
            if table not in existing:
                continue
            grain = _grain(table)
            dims = _DIMS.format(
                canon=str(grain != "alternate").upper(),
                alt=str(grain != "canonical").upper(),
                start=start,
            )
            out[mart].append(
                f"SELECT {dims}, {values} FROM ({select(table, source, mapping)}) b "
                f"{without_overlaps(start, precedence)} WHERE o.ol IS NULL "
                f"AND b.{start} >= CAST(? AS TIMESTAMPTZ)"
            )
    return out


def _stage(mart: str) -> str:
    return f"{DATASET}._stage_{mart}"


def stage_statements(
    existing: set[str], precedence: str, since: date | None = None
) -> list[tuple[str, list[Any]]]:
    """SQL (with parameters) that computes the marts' rows — all, or the days from `since` —
    into plain staging tables."""
    out: list[tuple[str, list[Any]]] = []
    start = since or date(1970, 1, 1)
    for mart, parts in _parts(existing, precedence).items():
        shape = "\nUNION ALL\n".join(parts)
        out.append(
            (f"CREATE OR REPLACE TABLE {_stage(mart)} AS {shape} LIMIT 0", [start] * len(parts))
        )
        out += [(f"INSERT INTO {_stage(mart)} {part}", [start]) for part in parts]
    return out


def _enum(mart: str, column: str) -> str:
    return f"{DATASET}.{mart}_{column}_t"


def _columns(cur: Any, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [r[0] for r in rows]


def _encoded_select(cur: Any, mart: str, source: str) -> str:
    cols = _columns(cur, source)
    return ", ".join(
        f"CAST({c} AS {_enum(mart, c)}) AS {c}" if c in ENUM_COLUMNS else c for c in cols
    )


def _rebuild(cur: Any, mart: str, rows: str | None = None) -> None:
    """(Re)create `mart` with fresh ENUM types from `rows` (a relation of text columns; by
    default the staged rows)."""
    source = _stage(mart)
    if rows is not None:
        source = f"{DATASET}._all_{mart}"
        cur.execute(f"CREATE OR REPLACE TABLE {source} AS {rows}")
    cols = [c for c in _columns(cur, source) if c in ENUM_COLUMNS]
    cur.execute(f"DROP TABLE IF EXISTS {DATASET}.{mart}")
    for c in cols:
        cur.execute(f"DROP TYPE IF EXISTS {_enum(mart, c)}")
        cur.execute(
            f"CREATE TYPE {_enum(mart, c)} AS ENUM ("
            f"SELECT DISTINCT CAST({c} AS VARCHAR) FROM {source} WHERE {c} IS NOT NULL ORDER BY 1)"
        )
    cur.execute(
        f"CREATE TABLE {DATASET}.{mart} AS "
        f"SELECT {_encoded_select(cur, mart, source)} FROM {source}"
    )
    if rows is not None:
        cur.execute(f"DROP TABLE {source}")


def _new_values(cur: Any, mart: str) -> bool:
    """Does the staged increment hold a value the mart's ENUM types lack?"""
    for c in _columns(cur, _stage(mart)):
        if c not in ENUM_COLUMNS:
            continue
        row = cur.execute(
            f"SELECT count(*) FROM {_stage(mart)} WHERE {c} IS NOT NULL "
            f"AND TRY_CAST({c} AS {_enum(mart, c)}) IS NULL"
        ).fetchone()
        if row and row[0]:
            return True
    return False


def _apply(cur: Any, existing: set[str], precedence: str, since: date | None) -> None:
    for sql, params in stage_statements(existing, precedence, since):
        cur.execute(sql, params)
    for mart in (MART_SPEND, MART_USAGE):
        stage = _stage(mart)
        if since is None:
            _rebuild(cur, mart)
        elif _new_values(cur, mart):
            # New keys, users or models: rebuild from the mart's older days and the increment.
            cols = ", ".join(
                f"CAST({c} AS VARCHAR) AS {c}" if c in ENUM_COLUMNS else c
                for c in _columns(cur, stage)
            )
            _rebuild(
                cur,
                mart,
                f"SELECT {cols} FROM {DATASET}.{mart} WHERE day < DATE '{since.isoformat()}' "
                f"UNION ALL BY NAME SELECT * FROM {stage}",
            )
        else:
            cur.execute(f"DELETE FROM {DATASET}.{mart} WHERE day >= ?", [since])
            cur.execute(
                f"INSERT INTO {DATASET}.{mart} "
                f"SELECT {_encoded_select(cur, mart, stage)} FROM {stage}"
            )
        cur.execute(f"DROP TABLE {stage}")


def changed_since(cur: Any, existing: set[str], watermark: datetime) -> date | None:
    """The first day any source row was loaded or removed for after `watermark`."""
    parts = [
        f"SELECT min(bucket_start) AS d FROM {DATASET}.{t} WHERE fetched_at > ?"
        for t in SOURCE_TABLES
        if t in existing
    ]
    params: list[Any] = [watermark] * len(parts)
    if "corrections" in existing:
        parts.append(f"SELECT min(bucket_start) FROM {DATASET}.corrections WHERE detected_at > ?")
        params.append(watermark)
    if not parts:
        return None
    row = cur.execute(f"SELECT min(d) FROM ({' UNION ALL '.join(parts)})", params).fetchone()
    value = row[0] if row else None
    if value is None:
        return None
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _write_state(cur: Any, started: datetime, precedence: str) -> None:
    cur.execute(
        f"CREATE OR REPLACE TABLE {DATASET}.{MART_STATE} AS SELECT "
        "CAST(? AS TIMESTAMPTZ) AS refreshed_at, CAST(? AS VARCHAR) AS precedence, "
        "CAST(? AS INTEGER) AS layout",
        [started, precedence, LAYOUT],
    )


def rebuild_marts_in(cur: Any, existing: set[str], precedence: str) -> None:
    """Rebuild the marts in full with `cur`, inside the caller's transaction (the caller
    checkpoints after its COMMIT)."""
    started = datetime.now(UTC)
    _apply(cur, existing, precedence, None)
    _write_state(cur, started, precedence)
    faults.step("mart")


def refresh_marts(warehouse: Warehouse, *, full: bool = False) -> str:
    """Bring `mart_spend` and `mart_usage` up to date in one transaction (readers see the old
    or the new state, never a mix), then checkpoint. Returns what was done: full, days from …,
    or unchanged."""
    existing = warehouse.existing_tables()
    precedence = warehouse.settings.overlap_precedence
    started = datetime.now(UTC)
    with warehouse.cursor() as cur:
        state = None
        if MART_STATE in existing:
            state = cur.execute(
                f"SELECT refreshed_at, precedence, layout FROM {DATASET}.{MART_STATE}"
            ).fetchone()
        rebuild = (
            full
            or state is None
            or state[1] != precedence
            or state[2] != LAYOUT
            or not {MART_SPEND, MART_USAGE} <= existing
        )
        since = None if rebuild else changed_since(cur, existing, state[0])  # type: ignore[index]
    if not rebuild and since is None:
        return "unchanged"
    with warehouse.transaction() as cur:
        _apply(cur, existing, precedence, since)
        _write_state(cur, started, precedence)
        faults.step("mart")
    warehouse.checkpoint()
    return "full" if since is None else f"from {since.isoformat()}"
