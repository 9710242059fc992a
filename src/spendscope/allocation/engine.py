"""`allocation_rows`: every billed spend row allocated to one value per dimension, exactly.

For the days to recompute (those a sync loaded or removed rows for, or a configuration change
affects — see `store.py`), in the caller's transaction:

1. the rows of `spend` (canonical grain and legacy reports, double-booked spend left out) are
   read, each with its day's *epoch* — the days between two configuration boundaries (a
   mapping's or a membership's start or end, a rules version's start), over which nothing in
   force changes — and its *profile key*, a 64-bit hash of the row's subjects and the attributes
   the rules test (checked free of collisions: a collision hashes again with another seed). Each
   step reads them again rather than staging ten million wide rows, which costs more;
2. each distinct profile and epoch is resolved in Python (`resolve.py`), once per dimension, into
   an *outcome*: its parts (a value, a weight, and what decided it). Outcomes repeat across
   profiles, so each is stored once, and each profile, epoch and dimension names its outcome;
3. dimension by dimension, the rows are joined to their outcome on those small integer keys and
   written. A row with one part keeps its amount. A split row's amount is divided by weight in
   integer units of 1e-11 USD, rounded down, and the units left over go to the part with the
   largest weight (ties: the first value in alphabetical order), so the parts always add up to
   the row exactly. Proportional weights are each value's own spend (its rows with one part,
   same connection and day); when they are all zero the split is even. A split's weights are
   the same for every row of one outcome, connection and day, so they are computed once for
   each, and the parts of a row from them.

`mart_allocation` sums `allocation_rows` by day, connection, dimension, value and what decided
it (method, reason): a few thousand rows a dimension, which the questions by an allocation
dimension alone (with the connection at most) and the coverage report read instead of millions.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date
from typing import Any

import pyarrow as pa

from .. import faults
from ..warehouse.marts import NANO, without_overlaps
from ..warehouse.schema import DATASET
from ..warehouse.views import SPEND_SOURCES, spend_select
from .model import Mapping
from .resolve import (
    DayConfig,
    Part,
    Profile,
    dimension_rules,
    identities,
    index_mappings,
    resolve,
)
from .rules import RuleSet
from .store import Config

# Profile attributes read from the staged rows (always), and those read only when a rule tests
# them (each one multiplies the distinct profiles to resolve).
_BASE = (
    "connection_label",
    "organization_id",
    "workspace_id",
    "api_key_id",
    "user_id",
    "user_email",
    "service_account_id",
)
_OPTIONAL = (
    "product",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "cost_type",
    "token_type",
)
# One row per part of each outcome (`part` 1, 2, … in the order the resolver gave them).
_OUTCOME_SCHEMA = pa.schema(
    [
        ("oid", pa.int32()),
        ("part", pa.int32()),
        ("value", pa.string()),
        ("weight", pa.int64()),
        ("method", pa.string()),
        ("split_method", pa.string()),
        ("rule_id", pa.string()),
        ("rule_version", pa.int64()),
        ("mapping_key", pa.string()),
        ("reason", pa.string()),
    ]
)
# The outcome of each profile, epoch and dimension (the dimension's position in the list).
_DECISION_SCHEMA = pa.schema(
    [
        ("pkey", pa.uint64()),
        ("epoch", pa.int32()),
        ("dim", pa.int32()),
        ("oid", pa.int32()),
    ]
)
MART_ALLOCATION = "mart_allocation"
_MART_KEYS = "day, connection_label, connection_kind, dimension, value, method, reason"
_TEMP = ("_alloc_days", "_alloc_out", "_alloc_dec", "_alloc_cd", "_alloc_own", "_alloc_w")


def _rule_fields(rulesets: Iterable[RuleSet]) -> set[str]:
    fields: set[str] = set()
    for rs in rulesets:
        for dim in rs.dimensions.values():
            for rule in dim.rules:
                fields.update(c.field for c in rule.conditions)
                if rule.inherit in ("product", "model"):
                    fields.add(rule.inherit)
    return fields


def _uses_rbac(config: Config) -> bool:
    if any(m.subject_type == "rbac_group" for m, _ in config.mappings):
        return True
    for v in config.versions:
        for dim in v.rules.dimensions.values():
            for rule in dim.rules:
                if rule.inherit == "rbac_group_name" or any(
                    c.field == "rbac_group" for c in rule.conditions
                ):
                    return True
    return False


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


def _epochs(config: Config, rbac: bool, memberships: list[tuple[Any, ...]]) -> list[date]:
    """Every day on which something in force can change, sorted."""
    days: set[date] = set()
    for m, _ in config.mappings:
        days.add(m.valid_from)
        if m.valid_to is not None:
            days.add(m.valid_to)
    days.update(v.effective_from for v in config.versions)
    if rbac:
        for r in memberships:
            days.add(r[3])
            if r[4] is not None:
                days.add(r[4])
    return sorted(days)


class _Names:
    """Names and lists the rules read: workspaces, keys, service accounts, groups."""

    def __init__(self, cur: Any, existing: set[str], rbac: bool) -> None:
        def pairs(table: str) -> dict[tuple[str, str], str | None]:
            if table not in existing:
                return {}
            rows = cur.execute(
                f"SELECT connection_label, id, any_value(name) FROM {DATASET}.{table} GROUP BY 1, 2"
            ).fetchall()
            return {(r[0], r[1]): r[2] for r in rows}

        self.workspaces = pairs("workspaces")
        self.api_keys = pairs("api_keys")
        self.service_accounts = pairs("service_accounts")
        self.groups = pairs("rbac_groups")
        self.memberships: list[tuple[Any, ...]] = []
        self.by_user: dict[tuple[str, str], list[tuple[str, date, date | None]]] = {}
        if rbac:
            self.memberships = cur.execute(
                f"SELECT connection_label, rbac_group_id, user_id, valid_from, valid_to "
                f"FROM {DATASET}.rbac_membership"
            ).fetchall()
            for conn, group, user, start, end in self.memberships:
                self.by_user.setdefault((conn, user), []).append((group, start, end))

    def groups_of(self, conn: str, user: str | None, day: date) -> tuple[tuple[str, str], ...]:
        if user is None:
            return ()
        out = []
        for group, start, end in self.by_user.get((conn, user), ()):
            if start <= day and (end is None or day < end):
                out.append((group, self.groups.get((conn, group)) or group))
        return tuple(sorted(set(out)))


def _profile(row: dict[str, Any], names: _Names, day: date) -> Profile:
    conn = row["connection_label"]
    key = row["api_key_id"]
    return Profile(
        connection=conn,
        organization=row["organization_id"],
        workspace=row["workspace_id"],
        workspace_name=names.workspaces.get((conn, row["workspace_id"])),
        api_key=key,
        api_key_name=names.api_keys.get((conn, key)),
        api_key_listed=key is None or (conn, key) in names.api_keys,
        user=row["user_id"],
        user_email=row["user_email"],
        service_account=row["service_account_id"],
        service_account_name=names.service_accounts.get((conn, row["service_account_id"])),
        rbac_groups=names.groups_of(conn, row["user_id"], day),
        **{f: row.get(f) for f in _OPTIONAL},
    )


class _Outcomes:
    """Distinct outcomes (a dimension's parts), numbered as they are first met."""

    def __init__(self) -> None:
        self.ids: dict[tuple[Part, ...], int] = {}
        self.parts: list[tuple[Part, ...]] = []
        self.columns: dict[str, list[Any]] = {f.name: [] for f in _OUTCOME_SCHEMA}

    def id(self, parts: list[Part]) -> int:
        key = tuple(parts)
        oid = self.ids.get(key)
        if oid is None:
            oid = self.ids[key] = len(self.ids)
            self.parts.append(key)
            for i, part in enumerate(parts, 1):
                for name, value in (
                    ("oid", oid),
                    ("part", i),
                    ("value", part.value),
                    ("weight", part.weight),
                    ("method", part.method),
                    ("split_method", part.split_method),
                    ("rule_id", part.rule_id),
                    ("rule_version", part.rule_version),
                    ("mapping_key", part.mapping_key),
                    ("reason", part.reason),
                ):
                    self.columns[name].append(value)
        return oid

    def table(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=_OUTCOME_SCHEMA)


_Key = tuple[str, str, str]
_Hit = tuple[Mapping, str]


class _Noted(dict[_Key, _Hit]):
    """An epoch's mappings (DayConfig.mappings) noting every key a decision looks up: the
    decision depends on the profile, the rules version and those lookups alone, so another
    epoch where they give the same answers decides the same."""

    def __init__(self, mappings: dict[_Key, _Hit]) -> None:
        super().__init__(mappings)
        self.seen: list[Any] = []

    def get(self, key: _Key, default: Any = None) -> Any:
        self.seen.append(key)
        return super().get(key, default)

    def __getitem__(self, key: _Key) -> _Hit:
        self.seen.append(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.seen.append(key)
        return super().__contains__(key)


def _decide(
    profiles: list[tuple[Any, ...]],
    config: Config,
    names: _Names,
    fields: list[str],
    boundaries: list[date],
) -> tuple[_Outcomes, pa.Table, list[set[int]]]:
    """Resolve every distinct (profile, epoch) of the rows, for every dimension: the
    outcomes, the decisions naming them, and each dimension's outcomes. A profile decided in
    another epoch with the same rules version and the same answers to its mapping lookups
    keeps that outcome (most epochs change the mappings of a few subjects only)."""
    dims = config.dimensions
    epoch_start = [date(1970, 1, 1), *boundaries]
    day_configs: dict[int, tuple[DayConfig, _Noted, list[Any]]] = {}
    known = identities(config.mappings)
    outcomes = _Outcomes()
    # (profile, dimension) -> (rules version, mapping lookups and answers, outcome)
    decided: dict[tuple[Profile, int], tuple[int | None, tuple[tuple[_Key, Any], ...], int]] = {}
    pkeys: list[int] = []
    epochs: list[int] = []
    dim_ids: list[int] = []
    oids: list[int] = []
    used: list[set[int]] = [set() for _ in dims]
    for pkey, epoch, *values in profiles:
        row = dict(zip(fields, values, strict=True))
        day = epoch_start[epoch]
        if epoch not in day_configs:
            version = config.version_on(day)
            noted = _Noted(index_mappings(config.mappings, day))
            dc = DayConfig(
                version.rules if version else None,
                version.version if version else None,
                noted,
                known,
            )
            day_configs[epoch] = (dc, noted, [dimension_rules(dc.rules, d) for d in dims])
        dc, noted, rules = day_configs[epoch]
        profile = _profile(row, names, day)
        for i, dim_rules in enumerate(rules):
            before = decided.get((profile, i))
            if (
                before is not None
                and before[0] == dc.version
                and all(dict.get(noted, k) == hit for k, hit in before[1])
            ):
                oid = before[2]
            else:
                noted.seen = []
                oid = outcomes.id(resolve(profile, dim_rules, dc))
                lookups = tuple((k, dict.get(noted, k)) for k in noted.seen)
                decided[(profile, i)] = (dc.version, lookups, oid)
            pkeys.append(pkey)
            epochs.append(epoch)
            dim_ids.append(i)
            oids.append(oid)
            used[i].add(oid)
    decisions = pa.Table.from_pydict(
        {"pkey": pkeys, "epoch": epochs, "dim": dim_ids, "oid": oids}, schema=_DECISION_SCHEMA
    )
    return outcomes, decisions, used


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


def _refresh_mart(cur: Any, since: date | None) -> None:
    """`mart_allocation` brought up to date with `allocation_rows` from `since` (None: all)."""
    mart = f"{DATASET}.{MART_ALLOCATION}"
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {mart} (day DATE, connection_label VARCHAR, "
        "connection_kind VARCHAR, dimension VARCHAR, value VARCHAR, method VARCHAR, "
        "reason VARCHAR, billed_nc HUGEINT, list_nc HUGEINT)"
    )
    days = "day >= ?" if since is not None else "TRUE"
    params = [since] if since is not None else []
    cur.execute(f"DELETE FROM {mart} WHERE {days}", params)
    cur.execute(
        f"""INSERT INTO {mart} SELECT {_MART_KEYS}, sum(billed_nc), sum(list_nc)
        FROM {DATASET}.allocation_rows WHERE {days} GROUP BY ALL""",
        params,
    )


def allocate_in(
    cur: Any, config: Config, existing: set[str], precedence: str, since: date | None
) -> int:
    """Recompute `allocation_rows` for the days from `since` (None: all), in the caller's
    transaction. Returns the number of rows written."""
    if not config.dimensions:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows")
        if MART_ALLOCATION in existing:
            cur.execute(f"DELETE FROM {DATASET}.{MART_ALLOCATION}")
        return 0
    rbac = _uses_rbac(config)
    names = _Names(cur, existing, rbac)
    boundaries = _epochs(config, rbac, names.memberships)
    fields = [
        *_BASE,
        *(f for f in _OPTIONAL if f in _rule_fields(v.rules for v in config.versions)),
    ]
    # Rows are written on every core (their order in the table means nothing).
    cur.execute("SET SESSION preserve_insertion_order = false")
    days = _day_epochs(cur, existing, since, boundaries)
    rows = _Rows(existing, precedence, since, fields)
    profiles = rows.profiles(cur)
    outcomes, decisions, used = _decide(profiles, config, names, fields, boundaries)
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
    # (all days the first time)
    _refresh_mart(cur, since if MART_ALLOCATION in existing else None)
    for table in _TEMP:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute("RESET SESSION preserve_insertion_order")
    faults.step("allocation")
    return written
