"""`allocation_rows`: every billed spend row allocated to one value per dimension, exactly.

For the days to recompute (those a sync loaded or removed rows for, or a configuration change
affects — see `store.py`), in the caller's transaction:

1. the rows of `spend` (canonical grain and legacy reports, double-booked spend left out) are
   staged with their day's *epoch* — the days between two configuration boundaries (a mapping's
   or a membership's start or end, a rules version's start), over which nothing in force changes;
2. each distinct profile (the row's subjects and the attributes the rules test) and epoch is
   resolved in Python (`resolve.py`), once per dimension, into parts: a value, a weight, and
   what decided it;
3. the parts are joined back to the rows. A row with one part keeps its amount. A split row's
   amount is divided by weight in integer units of 1e-11 USD, rounded down, and the units left
   over go to the part with the largest weight (ties: the first value in alphabetical order), so
   the parts always add up to the row exactly. Proportional weights are each value's own spend
   (its rows with one part, same connection and day); when they are all zero the split is even.
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
_DECISION_SCHEMA = pa.schema(
    [
        ("pkey", pa.string()),
        ("epoch", pa.int32()),
        ("dimension", pa.string()),
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


def _stage_rows(cur: Any, existing: set[str], precedence: str, since: date | None) -> None:
    """The `spend` rows of the days from `since` into `_alloc_base`."""
    parts = []
    for table, source, mapping in SPEND_SOURCES:
        if table not in existing:
            continue
        parts.append(
            f"SELECT b.* FROM ({spend_select(table, source, mapping)}) b "
            f"{without_overlaps('charge_period_start', precedence)} WHERE o.ol IS NULL "
            "AND b.charge_period_start >= CAST(? AS TIMESTAMPTZ)"
        )
    start = since or date(1970, 1, 1)
    if not parts:
        parts, params = ["SELECT * FROM (" + spend_select(*SPEND_SOURCES[0]) + ") WHERE FALSE"], []
    else:
        params = [start] * len(parts)
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _alloc_base AS
        SELECT row_key, CAST(charge_period_start AS DATE) AS day, connection_label,
            connection_kind, organization_id, workspace_id, api_key_id, user_id, user_email,
            service_account_id, product, model, service_tier, context_window, inference_geo,
            speed, cost_type, token_type,
            CAST(billed_cost * {NANO} AS BIGINT) AS billed_nc,
            CAST(list_cost * {NANO} AS BIGINT) AS list_nc, is_provisional
        FROM ({" UNION ALL ".join(parts)})""",
        params,
    )


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


def _decide(
    cur: Any, config: Config, names: _Names, fields: list[str], boundaries: list[date]
) -> pa.Table:
    """Resolve every distinct (profile, epoch) of the staged rows, for every dimension."""
    dims = config.dimensions
    epoch_start = [date(1970, 1, 1), *boundaries]
    day_configs: dict[int, DayConfig] = {}
    known = identities(config.mappings)
    columns: dict[str, list[Any]] = {f.name: [] for f in _DECISION_SCHEMA}
    cache: dict[tuple[Profile, int], list[tuple[str, list[Part]]]] = {}
    rows = cur.execute(
        f"SELECT pkey, epoch, {', '.join(fields)} FROM _alloc_in GROUP BY ALL"
    ).fetchall()
    for pkey, epoch, *values in rows:
        row = dict(zip(fields, values, strict=True))
        day = epoch_start[epoch]
        if epoch not in day_configs:
            version = config.version_on(day)
            day_configs[epoch] = DayConfig(
                version.rules if version else None,
                version.version if version else None,
                index_mappings(config.mappings, day),
                known,
            )
        dc = day_configs[epoch]
        profile = _profile(row, names, day)
        decided = cache.get((profile, epoch))
        if decided is None:
            decided = [(d, resolve(profile, dimension_rules(dc.rules, d), dc)) for d in dims]
            cache[(profile, epoch)] = decided
        for dim, parts in decided:
            for part in parts:
                columns["pkey"].append(pkey)
                columns["epoch"].append(epoch)
                columns["dimension"].append(dim)
                columns["value"].append(part.value)
                columns["weight"].append(part.weight)
                columns["method"].append(part.method)
                columns["split_method"].append(part.split_method)
                columns["rule_id"].append(part.rule_id)
                columns["rule_version"].append(part.rule_version)
                columns["mapping_key"].append(part.mapping_key)
                columns["reason"].append(part.reason)
    return pa.Table.from_pydict(columns, schema=_DECISION_SCHEMA)


_OUT_COLUMNS = """connection_label, connection_kind, day, dimension, value, method, split_method,
    rule_id, rule_version, mapping_key, reason, organization_id, workspace_id, api_key_id,
    COALESCE(user_email, user_id) AS user_key, product, model, service_tier, context_window,
    inference_geo, speed, cost_type, token_type,
    CASE connection_kind WHEN 'console' THEN 'Anthropic (Console)'
        ELSE 'Anthropic (Enterprise)' END AS provider,
    CASE connection_kind WHEN 'console' THEN workspace_id ELSE user_email END AS project,
    COALESCE(product, cost_type) || ' / ' || COALESCE(model, cost_type) AS sku, is_provisional"""


def _write(cur: Any, since: date | None) -> int:
    """Join the decisions to the rows, split exactly, and replace the days from `since`."""
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _alloc_parts AS
        SELECT i.*, d.dimension, d.value, d.weight, d.method, d.split_method, d.rule_id,
            d.rule_version, d.mapping_key, d.reason
        FROM _alloc_in i JOIN _alloc_dec d ON d.pkey = i.pkey AND d.epoch = i.epoch"""
    )
    if since is None:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows")
    else:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows WHERE day >= ?", [since])
    key = "md5(row_key || '|' || dimension || '|' || value)"
    single = cur.execute(
        f"""INSERT INTO {DATASET}.allocation_rows BY NAME
        SELECT {key} AS row_key, row_key AS spend_row_key, {_OUT_COLUMNS},
            billed_nc, list_nc, CAST(1 AS DECIMAL(38, 18)) AS ratio
        FROM _alloc_parts WHERE split_method IS NULL"""
    ).fetchone()
    split = cur.execute(
        f"""INSERT INTO {DATASET}.allocation_rows BY NAME
        WITH own AS (
            SELECT connection_label AS oc, day AS od, dimension AS odim, value AS ov,
                greatest(sum(billed_nc), 0) AS own
            FROM _alloc_parts WHERE split_method IS NULL AND method <> 'default'
            GROUP BY ALL
        ), weighted AS (
            SELECT p.*, COALESCE(p.weight, own.own, 0) AS w0
            FROM _alloc_parts p LEFT JOIN own
                ON p.weight IS NULL AND own.oc = p.connection_label AND own.od = p.day
                AND own.odim = p.dimension AND own.ov = p.value
            WHERE p.split_method IS NOT NULL
        ), even AS (
            SELECT *, CASE WHEN sum(w0) OVER g = 0 THEN 1 ELSE w0 END AS w
            FROM weighted WINDOW g AS (PARTITION BY row_key, dimension)
        ), shared AS (
            SELECT *, sum(w) OVER g AS wt,
                CAST(CAST(billed_nc AS HUGEINT) * w // sum(w) OVER g AS BIGINT) AS b0,
                CAST(CAST(list_nc AS HUGEINT) * w // sum(w) OVER g AS BIGINT) AS l0,
                row_number() OVER (PARTITION BY row_key, dimension ORDER BY w DESC, value) AS rk
            FROM even WINDOW g AS (PARTITION BY row_key, dimension)
        )
        SELECT {key} AS row_key, row_key AS spend_row_key, {_OUT_COLUMNS},
            b0 + CASE WHEN rk = 1 THEN billed_nc - sum(b0) OVER g ELSE 0 END AS billed_nc,
            l0 + CASE WHEN rk = 1 THEN list_nc - sum(l0) OVER g ELSE 0 END AS list_nc,
            CAST(CAST(w AS DOUBLE) / CAST(wt AS DOUBLE) AS DECIMAL(38, 18)) AS ratio
        FROM shared WINDOW g AS (PARTITION BY row_key, dimension)"""
    ).fetchone()
    return int(single[0] if single else 0) + int(split[0] if split else 0)


def allocate_in(
    cur: Any, config: Config, existing: set[str], precedence: str, since: date | None
) -> int:
    """Recompute `allocation_rows` for the days from `since` (None: all), in the caller's
    transaction. Returns the number of rows written."""
    if not config.dimensions:
        cur.execute(f"DELETE FROM {DATASET}.allocation_rows")
        return 0
    rbac = _uses_rbac(config)
    names = _Names(cur, existing, rbac)
    boundaries = _epochs(config, rbac, names.memberships)
    _stage_rows(cur, existing, precedence, since)
    fields = [
        *_BASE,
        *(f for f in _OPTIONAL if f in _rule_fields(v.rules for v in config.versions)),
    ]
    concat = ", ".join(f"COALESCE(CAST({f} AS VARCHAR), chr(0))" for f in fields)
    days = [r[0] for r in cur.execute("SELECT DISTINCT day FROM _alloc_base").fetchall()]
    epochs = pa.table(
        {
            "day": pa.array(days, pa.date32()),
            "epoch": pa.array([bisect.bisect_right(boundaries, d) for d in days], pa.int32()),
        }
    )
    cur.register("_alloc_days_arrow", epochs)
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _alloc_in AS
        SELECT i.*, md5(concat_ws(chr(31), {concat})) AS pkey, d.epoch
        FROM _alloc_base i JOIN _alloc_days_arrow d ON d.day = i.day"""
    )
    cur.unregister("_alloc_days_arrow")
    decisions = _decide(cur, config, names, fields, boundaries)
    cur.register("_alloc_dec_arrow", decisions)
    cur.execute("CREATE OR REPLACE TEMP TABLE _alloc_dec AS SELECT * FROM _alloc_dec_arrow")
    cur.unregister("_alloc_dec_arrow")
    written = _write(cur, since)
    for table in ("_alloc_base", "_alloc_in", "_alloc_dec", "_alloc_parts"):
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    faults.step("allocation")
    return written
