"""`allocation_rows`: every billed spend row allocated to one value per dimension, exactly.

For the days to recompute (those a sync loaded or removed rows for, or a configuration change
affects — see `store.py`), in the caller's transaction:

1. the rows of `spend` (canonical grain and legacy reports, double-booked spend left out) are
   read, each with its day's *epoch* (the days between two configuration boundaries, over which
   nothing in force changes) and its *profile key*, a 64-bit hash of the row's subjects and the
   attributes the rules test (checked free of collisions: a collision hashes again with another
   seed). Each step reads them again rather than staging ten million wide rows, which costs
   more;
2. each distinct profile and epoch is resolved into an *outcome* per dimension, each outcome
   stored once (`outcomes.py`): the profile, epoch and dimension name it by small integer keys;
3. dimension by dimension, the rows are joined to their outcome on those keys and written. A
   row with one part keeps its amount. A split row's amount is divided by weight in integer
   units of 1e-11 USD, rounded down, and the units left over go to the part with the largest
   weight (ties: the first value in alphabetical order), so the parts always add up to the row
   exactly. Proportional weights are each value's own spend (its rows with one part, same
   connection and day); when they are all zero the split is even. A split's weights are the
   same for every row of one outcome, connection and day, so they are computed once for each,
   and the parts of a row from them;
4. `mart_allocation` (`mart.py`) is brought up to date for the same days.
"""

from __future__ import annotations

import bisect
from datetime import date
from typing import Any

import pyarrow as pa

from .. import faults
from ..warehouse.marts import NANO, without_overlaps
from ..warehouse.schema import DATASET
from ..warehouse.views import SPEND_SOURCES, spend_select
from .mart import clear_mart_in, refresh_mart_in
from .outcomes import Names, decide, epoch_boundaries, profile_fields, uses_rbac
from .store import Config

_TEMP = ("_alloc_days", "_alloc_out", "_alloc_dec", "_alloc_cd", "_alloc_own", "_alloc_w")


def _sources(existing: set[str]) -> list[tuple[str, str, dict[str, str]]]:
    return [s for s in SPEND_SOURCES if s[0] in existing]


def _day_epochs(
    cur: Any, existing: set[str], since: date | None, boundaries: list[date]
) -> list[date]:
    """`_alloc_days`: every day the spend tables hold rows for (from `since`), with its epoch.
    Returns the days."""
    start = since or date(1970, 1, 1)
    parts = [
        f"SELECT DISTINCT CAST(bucket_start AS DATE) FROM {DATASET}.{table} "
        "WHERE bucket_start >= CAST(? AS TIMESTAMPTZ)"
        for table, _, _ in _sources(existing)
    ]
    days = []
    if parts:
        days = [r[0] for r in cur.execute(" UNION ".join(parts), [start] * len(parts)).fetchall()]
    _temp(
        cur,
        "_alloc_days",
        pa.table(
            {
                "day": pa.array(days, pa.date32()),
                "epoch": pa.array([bisect.bisect_right(boundaries, d) for d in days], pa.int32()),
            }
        ),
    )
    return days


def _temp(cur: Any, name: str, table: pa.Table) -> None:
    """A temporary table holding an Arrow table."""
    cur.register(f"{name}_arrow", table)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    cur.unregister(f"{name}_arrow")


def _nano(amount: str) -> str:
    """An amount (DECIMAL(38, 11) USD) in integer units of 1e-11 USD, exactly.

    DuckDB casts a 128-bit decimal to an integer with a long division in software (about a
    microsecond a value: seconds for a million rows), while a double converts in nanoseconds.
    The double is exact for amounts under $10,000: n units (n < 10^15 < 2^50) go through two
    roundings of relative error 2^-53 each, off by at most 2 * 2^-53 * 2^50 = 0.25 of a unit,
    which `round` removes. Larger amounts take the exact cast."""
    return f"""CASE WHEN abs({amount}) < 10000
        THEN CAST(round(CAST({amount} AS DOUBLE) * {NANO}) AS BIGINT)
        ELSE CAST({amount} * {NANO} AS BIGINT) END"""


class _Rows:
    """The `spend` rows of the days from `since`, as a relation each step reads: the columns
    `allocation_rows` keeps, amounts in 1e-11 USD, the day's epoch (from `_alloc_days`) and the
    profile key."""

    def __init__(
        self, existing: set[str], precedence: str, since: date | None, fields: list[str]
    ) -> None:
        self.fields = fields
        self.seed = 0
        parts = [
            f"SELECT b.* FROM ({spend_select(table, source, mapping)}) b "
            f"{without_overlaps('charge_period_start', precedence)} WHERE o.ol IS NULL "
            "AND b.charge_period_start >= CAST(? AS TIMESTAMPTZ)"
            for table, source, mapping in _sources(existing)
        ]
        if parts:
            self.params: list[Any] = [since or date(1970, 1, 1)] * len(parts)
        else:
            parts, self.params = (
                [f"SELECT * FROM ({spend_select(*SPEND_SOURCES[0])}) WHERE FALSE"],
                [],
            )
        self.union = " UNION ALL ".join(parts)

    def sql(self) -> str:
        """The relation (the profile key hashes the profile's fields and a seed)."""
        return f"""(SELECT b.row_key, CAST(b.charge_period_start AS DATE) AS day, d.epoch,
            hash({", ".join(f"b.{f}" for f in self.fields)}, {self.seed}) AS pkey,
            b.connection_label, b.connection_kind, b.organization_id, b.workspace_id,
            b.api_key_id, b.user_id, b.user_email, b.service_account_id, b.product, b.model,
            b.service_tier, b.context_window, b.inference_geo, b.speed, b.cost_type,
            b.token_type, {_nano("b.billed_cost")} AS billed_nc, {_nano("b.list_cost")} AS list_nc,
            b.is_provisional
        FROM ({self.union}) b JOIN _alloc_days d ON d.day = CAST(b.charge_period_start AS DATE))"""

    def profiles(self, cur: Any) -> list[tuple[Any, ...]]:
        """The distinct (profile key, epoch, *fields). A key two different profiles share (a
        hash collision) makes every key be hashed again with another seed."""
        while True:
            rows: list[tuple[Any, ...]] = cur.execute(
                f"SELECT pkey, epoch, {', '.join(self.fields)} FROM {self.sql()} GROUP BY ALL",
                self.params,
            ).fetchall()
            if len({(r[0], r[1]) for r in rows}) == len(rows):
                return rows
            self.seed += 1


_OUT_COLUMNS = """b.connection_label, b.connection_kind, b.day, ? AS dimension, o.value, o.method,
    o.split_method, o.rule_id, o.rule_version, o.mapping_key, o.reason, b.organization_id,
    b.workspace_id, b.api_key_id, COALESCE(b.user_email, b.user_id) AS user_key, b.product,
    b.model, b.service_tier, b.context_window, b.inference_geo, b.speed, b.cost_type,
    b.token_type,
    CASE b.connection_kind WHEN 'console' THEN 'Anthropic (Console)'
        ELSE 'Anthropic (Enterprise)' END AS provider,
    CASE b.connection_kind WHEN 'console' THEN b.workspace_id ELSE b.user_email END AS project,
    COALESCE(b.product, b.cost_type) || ' / ' || COALESCE(b.model, b.cost_type) AS sku,
    b.is_provisional"""


def _share(column: str) -> str:
    """A row's amount of `column` for its part: the whole row, or for a split part its
    weight's share rounded down, plus, for the part that takes them, the units the rounding
    left over."""
    whole = f"CAST(b.{column} AS HUGEINT)"
    return f"""CASE WHEN o.split_method IS NULL THEN b.{column}
        ELSE CAST({whole} * w.ws[o.part] // w.wt AS BIGINT)
            + CASE WHEN o.part = w.top THEN b.{column} - list_sum(
                list_transform(w.ws, lambda x: CAST({whole} * x // w.wt AS BIGINT))) ELSE 0 END
        END"""


def _weights(cur: Any, rows: _Rows, index: int, proportional: list[str]) -> None:
    """`_alloc_w`: the weights of each split outcome of dimension `index` on every connection
    and day (the same for all its rows there), the part taking the remainder, and their sum."""
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _alloc_own (connection_label VARCHAR, day DATE, "
        "value VARCHAR, own HUGEINT)"
    )
    if proportional:
        # Each value's own spend per connection and day: its rows with one part, not the
        # default.
        cur.execute(
            f"""INSERT INTO _alloc_own
            SELECT b.connection_label, b.day, k.value, greatest(sum(b.billed_nc), 0)
            FROM {rows.sql()} b JOIN (
                SELECT d.pkey, d.epoch, o.value FROM _alloc_dec d
                JOIN _alloc_out o ON o.oid = d.oid
                WHERE d.dim = ? AND o.split_method IS NULL AND o.method <> 'default'
                    AND list_contains(?, o.value)
            ) k ON k.pkey = b.pkey AND k.epoch = b.epoch
            GROUP BY ALL""",
            [*rows.params, index, proportional],
        )
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _alloc_w AS
        WITH parts AS (
            SELECT o.oid, o.part, o.value, cd.connection_label, cd.day,
                COALESCE(o.weight, own.own, 0) AS w0
            FROM _alloc_out o CROSS JOIN _alloc_cd cd
            LEFT JOIN _alloc_own own ON o.weight IS NULL
                AND own.connection_label = cd.connection_label AND own.day = cd.day
                AND own.value = o.value
            WHERE o.split_method IS NOT NULL
                AND o.oid IN (SELECT oid FROM _alloc_dec WHERE dim = ?)
        ), even AS (
            SELECT *, CASE WHEN sum(w0) OVER g = 0 THEN 1 ELSE w0 END AS w
            FROM parts WINDOW g AS (PARTITION BY oid, connection_label, day)
        )
        SELECT oid, connection_label, day, list(w ORDER BY part) AS ws, sum(w) AS wt,
            first(part ORDER BY w DESC, value) AS top
        FROM even GROUP BY ALL""",
        [index],
    )


def _write_dimension(cur: Any, rows: _Rows, dim: str, index: int) -> int:
    """Insert one dimension's rows: a row per part of each spend row's outcome. (`_alloc_w`
    holds split outcomes only, so rows with one part find no weights; a condition on `o` in
    that join, too, would make it a nested loop.)"""
    written = cur.execute(
        f"""INSERT INTO {DATASET}.allocation_rows BY NAME
        SELECT md5(b.row_key || '|' || ? || '|' || o.value) AS row_key,
            b.row_key AS spend_row_key, {_OUT_COLUMNS},
            {_share("billed_nc")} AS billed_nc, {_share("list_nc")} AS list_nc,
            CASE WHEN o.split_method IS NULL THEN CAST(1 AS DECIMAL(38, 18))
                ELSE CAST(CAST(w.ws[o.part] AS DOUBLE) / CAST(w.wt AS DOUBLE)
                    AS DECIMAL(38, 18)) END AS ratio
        FROM {rows.sql()} b
        JOIN (SELECT pkey, epoch, oid FROM _alloc_dec WHERE dim = ?) d
            ON d.pkey = b.pkey AND d.epoch = b.epoch
        JOIN _alloc_out o ON o.oid = d.oid
        LEFT JOIN _alloc_w w
            ON w.oid = d.oid AND w.connection_label = b.connection_label AND w.day = b.day""",
        [dim, dim, *rows.params, index],
    ).fetchone()
    return int(written[0] if written else 0)


def allocate_in(
    cur: Any, config: Config, existing: set[str], precedence: str, since: date | None
) -> int:
    """Recompute `allocation_rows` and `mart_allocation` for the days from `since` (None: all),
    in the caller's transaction. Returns the number of rows written."""
    if not config.dimensions:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows")
        clear_mart_in(cur)
        return 0
    rbac = uses_rbac(config)
    names = Names(cur, existing, rbac)
    boundaries = epoch_boundaries(config, rbac, names.memberships)
    fields = profile_fields(config)
    # Rows are written on every core (their order in the table means nothing).
    cur.execute("SET SESSION preserve_insertion_order = false")
    days = _day_epochs(cur, existing, since, boundaries)
    rows = _Rows(existing, precedence, since, fields)
    profiles = rows.profiles(cur)
    outcomes, decisions, used = decide(profiles, config, names, fields, boundaries)
    _temp(cur, "_alloc_out", outcomes.table())
    _temp(cur, "_alloc_dec", decisions)
    at = 2 + fields.index("connection_label")  # (pkey, epoch, *fields)
    connections = sorted({p[at] for p in profiles})
    _temp(
        cur,
        "_alloc_cd",
        pa.table(
            {
                "connection_label": pa.array([c for c in connections for _ in days], pa.string()),
                "day": pa.array([d for _ in connections for d in days], pa.date32()),
            }
        ),
    )
    if since is None:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows")
    else:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows WHERE day >= ?", [since])
    written = 0
    for index, dim in enumerate(config.dimensions):
        splits = [p for o in used[index] for p in outcomes.parts[o] if p.split_method]
        proportional = sorted({p.value for p in splits if p.weight is None})
        _weights(cur, rows, index, proportional)
        written += _write_dimension(cur, rows, dim, index)
    refresh_mart_in(cur, since)
    for table in _TEMP:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute("RESET SESSION preserve_insertion_order")
    faults.step("allocation")
    return written
