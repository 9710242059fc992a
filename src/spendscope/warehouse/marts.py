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

from .store import DATASET
from .views import (
    ALTERNATE_SPEND_SOURCES,
    ALTERNATE_USAGE_SOURCES,
    SPEND_SOURCES,
    USAGE_SOURCES,
    _spend_select,
    _usage_select,
)

if TYPE_CHECKING:
    from .store import Warehouse

S = DATASET
MART_SPEND = "mart_spend"
MART_USAGE = "mart_usage"
MART_STATE = "mart_state"
# Bumped when the marts' columns change: a warehouse built by another version is rebuilt.
LAYOUT = 3

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


_DIMS = """b.connection_label, b.connection_kind, '{grain}' AS grain,
    CAST(b.{start} AS DATE) AS day, b.organization_id, b.workspace_id, b.api_key_id, b.user_id,
    b.user_email, b.product, b.model, b.service_tier, b.context_window, b.inference_geo, b.speed"""
_SPEND_VALUES = "b.cost_type, b.token_type, b.billed_cost, b.list_cost, b.is_provisional"
_USAGE_VALUES = """'tokens' AS cost_type, b.uncached_input_tokens, b.cache_read_input_tokens,
    b.cache_creation_5m_input_tokens, b.cache_creation_1h_input_tokens, b.output_tokens,
    b.web_search_requests, b.requests, b.is_provisional"""


def _grain(table: str) -> str:
    if table in CANONICAL_TABLES:
        return "canonical"
    return "alternate" if table in ALTERNATE_TABLES else "legacy"


def _without_overlaps(start: str, precedence: str) -> str:
    """An anti-join leaving out double-booked rows — the rule of the views' `_with_overlaps`,
    written as one hash join (the views' correlated form is far slower on large tables)."""
    if precedence == "console":
        return f"""LEFT JOIN (SELECT DISTINCT connection_label AS ol, organization_id AS oo,
            day AS od FROM {S}.overlaps) o
        ON b.connection_kind = 'enterprise' AND o.ol = b.connection_label
            AND o.oo = b.organization_id AND o.od = CAST(b.{start} AS DATE)"""
    return f"""LEFT JOIN (SELECT DISTINCT console_label AS ol, day AS od FROM {S}.overlaps) o
        ON b.connection_kind = 'console' AND o.ol = b.connection_label
            AND o.od = CAST(b.{start} AS DATE)"""


def _parts(existing: set[str], precedence: str) -> dict[str, list[str]]:
    """mart -> one SELECT per source table (rows that count, in the mart's columns)."""
    out: dict[str, list[str]] = {MART_SPEND: [], MART_USAGE: []}
    for mart, sources, select, start, values in (
        (
            MART_SPEND,
            [*SPEND_SOURCES, *ALTERNATE_SPEND_SOURCES],
            _spend_select,
            "charge_period_start",
            _SPEND_VALUES,
        ),
        (
            MART_USAGE,
            [*USAGE_SOURCES, *ALTERNATE_USAGE_SOURCES],
            _usage_select,
            "period_start",
            _USAGE_VALUES,
        ),
    ):
        for table, source, mapping in sources:
            if table not in existing:
                continue
            dims = _DIMS.format(grain=_grain(table), start=start)
            out[mart].append(
                f"SELECT {dims}, {values} FROM ({select(table, source, mapping)}) b "
                f"{_without_overlaps(start, precedence)} WHERE o.ol IS NULL "
                f"AND b.{start} >= CAST(? AS TIMESTAMPTZ)"
            )
    return out


def mart_statements(
    existing: set[str], precedence: str, since: date | None = None
) -> list[tuple[str, list[Any]]]:
    """SQL (with parameters) that rebuilds both marts — all of them, or the days from `since`."""
    out: list[tuple[str, list[Any]]] = []
    start = since or date(1970, 1, 1)
    for mart, parts in _parts(existing, precedence).items():
        if not parts:
            continue
        if since is None:
            shape = "\nUNION ALL\n".join(parts)
            out.append(
                (f"CREATE OR REPLACE TABLE {S}.{mart} AS {shape} LIMIT 0", [start] * len(parts))
            )
        else:
            out.append((f"DELETE FROM {S}.{mart} WHERE day >= ?", [since]))
        out += [(f"INSERT INTO {S}.{mart} {part}", [start]) for part in parts]
    return out


def _changed_since(cur: Any, existing: set[str], watermark: datetime) -> date | None:
    """The first day any source row was loaded or removed for after `watermark`."""
    parts = [
        f"SELECT min(bucket_start) AS d FROM {S}.{t} WHERE fetched_at > ?"
        for t in SOURCE_TABLES
        if t in existing
    ]
    params: list[Any] = [watermark] * len(parts)
    if "corrections" in existing:
        parts.append(f"SELECT min(bucket_start) FROM {S}.corrections WHERE detected_at > ?")
        params.append(watermark)
    if not parts:
        return None
    row = cur.execute(f"SELECT min(d) FROM ({' UNION ALL '.join(parts)})", params).fetchone()
    value = row[0] if row else None
    if value is None:
        return None
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def refresh_marts(warehouse: Warehouse, *, full: bool = False) -> str:
    """Bring `mart_spend` and `mart_usage` up to date in one transaction (readers see the old
    or the new state, never a mix). Returns what was done: full, days from …, or unchanged."""
    if not warehouse.is_duckdb:
        return "unsupported"
    existing = warehouse.existing_tables()
    precedence = warehouse.settings.overlap_precedence
    started = datetime.now(UTC)
    with warehouse.cursor() as cur:
        state = None
        if MART_STATE in existing:
            state = cur.execute(
                f"SELECT refreshed_at, precedence, layout FROM {S}.{MART_STATE}"
            ).fetchone()
        rebuild = (
            full
            or state is None
            or state[1] != precedence
            or state[2] != LAYOUT
            or not {MART_SPEND, MART_USAGE} <= existing
        )
        since = None if rebuild else _changed_since(cur, existing, state[0])  # type: ignore[index]
        if not rebuild and since is None:
            return "unchanged"
        cur.execute("BEGIN TRANSACTION")
        try:
            for sql, params in mart_statements(existing, precedence, since):
                cur.execute(sql, params)
            cur.execute(
                f"CREATE OR REPLACE TABLE {S}.{MART_STATE} AS SELECT "
                "CAST(? AS TIMESTAMPTZ) AS refreshed_at, CAST(? AS VARCHAR) AS precedence, "
                "CAST(? AS INTEGER) AS layout",
                [started, precedence, LAYOUT],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    return "full" if since is None else f"from {since.isoformat()}"


def marts_exist(warehouse: Warehouse) -> bool:
    return {MART_SPEND, MART_USAGE, MART_STATE} <= warehouse.existing_tables()
