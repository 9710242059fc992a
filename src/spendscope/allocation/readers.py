"""What the interfaces show of the allocation: coverage (allocated and unallocated cost per
month and dimension, with the reasons), `explain` for one subject, and the mappings and rules in
force on a day. The CLI, the REST API and the dashboard call these and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import InvalidInput
from ..money import exact_units
from ..warehouse.allocation_tables import MART_ALLOCATION
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET
from .model import SUBJECT_TYPES, normalize
from .resolve import (
    REASONS,
    DayConfig,
    Part,
    Profile,
    dimension_rules,
    identities,
    index_mappings,
    resolve,
)
from .store import Config, load_config


def _share(part: int, total: int) -> float:
    return round(part / total, 6) if total else 0.0


def coverage(
    warehouse: Warehouse, since: date, until: date, dimension: str | None = None
) -> list[dict[str, Any]]:
    """Per month and dimension: total, allocated and unallocated billed cost (exact decimal
    text, USD), the allocated share, and the unallocated cost by reason."""
    params: list[Any] = [since, until]
    where = "day >= ? AND day < ?"
    if dimension is not None:
        where += " AND dimension = ?"
        params.append(dimension)
    rows = warehouse.read(
        f"""SELECT strftime(day, '%Y-%m') AS month, dimension,
            CASE WHEN method = 'default' THEN reason END AS reason, sum(billed_nc)
        FROM {DATASET}.{MART_ALLOCATION} WHERE {where}
        GROUP BY ALL ORDER BY 1, 2, 3 NULLS FIRST""",
        *params,
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for month, dim, reason, raw in rows:
        entry = out.setdefault(
            (month, dim),
            {"month": month, "dimension": dim, "total": 0, "allocated": 0, "reasons": {}},
        )
        amount = int(raw or 0)
        entry["total"] += amount
        if reason is None:
            entry["allocated"] += amount
        else:
            entry["reasons"][reason] = entry["reasons"].get(reason, 0) + amount
    result = []
    for entry in out.values():
        total, allocated = entry["total"], entry["allocated"]
        result.append(
            {
                "month": entry["month"],
                "dimension": entry["dimension"],
                "total": exact_units(total),
                "allocated": exact_units(allocated),
                "unallocated": exact_units(total - allocated),
                "allocated_share": _share(allocated, total),
                "unallocated_by_reason": [
                    {
                        "reason": r,
                        "label": REASONS.get(r, r),
                        "cost": exact_units(v),
                        "share": _share(v, total),
                    }
                    for r, v in sorted(entry["reasons"].items(), key=lambda kv: -kv[1])
                ],
            }
        )
    return result


def coverage_rows(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Coverage flattened for a table or CSV: one row per month, dimension and reason."""
    out = []
    for e in result:
        base = {k: e[k] for k in ("month", "dimension", "total", "allocated", "unallocated")}
        base["allocated_share"] = e["allocated_share"]
        reasons = e["unallocated_by_reason"] or [{"reason": None, "cost": None}]
        for r in reasons:
            out.append({**base, "reason": r["reason"], "reason_cost": r["cost"]})
    return out


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject as the organization lists know it in one connection."""

    connection: str | None
    profile: Profile
    found: bool


def _day_config(config: Config, day: date) -> DayConfig:
    version = config.version_on(day)
    return DayConfig(
        version.rules if version else None,
        version.version if version else None,
        index_mappings(config.mappings, day),
        identities(config.mappings),
    )


def _groups(warehouse: Warehouse, conn: str, user: str, day: date) -> tuple[tuple[str, str], ...]:
    rows = warehouse.read(
        f"""SELECT m.rbac_group_id, COALESCE(any_value(g.name), m.rbac_group_id)
        FROM {DATASET}.rbac_membership m LEFT JOIN {DATASET}.rbac_groups g
            ON g.connection_label = m.connection_label AND g.id = m.rbac_group_id
        WHERE m.connection_label = ? AND m.user_id = ? AND m.valid_from <= ?
            AND (m.valid_to IS NULL OR m.valid_to > ?)
        GROUP BY m.rbac_group_id ORDER BY 1""",
        conn,
        user,
        day,
        day,
    )
    return tuple((r[0], r[1]) for r in rows)


def _names(warehouse: Warehouse, table: str, conn: str, ident: str | None) -> str | None:
    if ident is None:
        return None
    rows = warehouse.read(
        f"SELECT any_value(name) FROM {DATASET}.{table} WHERE connection_label = ? AND id = ?",
        conn,
        ident,
    )
    return rows[0][0] if rows else None


def _key_profile(warehouse: Warehouse, day: date, row: tuple[Any, ...]) -> Profile:
    conn, kid, name, ws = row
    workspace_name = _names(warehouse, "workspaces", conn, ws)
    return Profile(
        conn, api_key=kid, api_key_name=name, workspace=ws, workspace_name=workspace_name
    )


def _user_profile(warehouse: Warehouse, day: date, row: tuple[Any, ...]) -> Profile:
    conn, uid, email = row
    return Profile(conn, user=uid, user_email=email, rbac_groups=_groups(warehouse, conn, uid, day))


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Where a subject type is listed, and the profile of a subject found there or not."""

    table: str
    columns: tuple[str, ...]  # after connection_label: the id, the name, what `profile` reads
    profile: Callable[[Warehouse, date, tuple[Any, ...]], Profile]  # (connection, columns…)
    bare: Callable[[str], Profile]  # a subject no connection lists

    def sql(self) -> str:
        """The rows whose id or name is the (normalized) subject."""
        ident, name = self.columns[:2]
        return (
            f"SELECT connection_label, {', '.join(self.columns)} FROM {DATASET}.{self.table} "
            f"WHERE lower({ident}) = ? OR lower({name}) = ?"
        )


_LOOKUPS = {
    "api_key": _Lookup(
        "api_keys",
        ("id", "name", "workspace_id"),
        _key_profile,
        lambda s: Profile("", api_key=s, api_key_listed=False),
    ),
    "service_account": _Lookup(
        "service_accounts",
        ("id", "name"),
        lambda wh, day, r: Profile(r[0], service_account=r[1], service_account_name=r[2]),
        lambda s: Profile("", service_account=s),
    ),
    "user": _Lookup(
        "org_users",
        ("id", "email"),
        _user_profile,
        lambda s: Profile("", user_email=s) if "@" in s else Profile("", user=s),
    ),
    "rbac_group": _Lookup(
        "rbac_groups",
        ("id", "name"),
        lambda wh, day, r: Profile(r[0], rbac_groups=((r[1], r[2] or r[1]),)),
        lambda s: Profile("", rbac_groups=((s, s),)),
    ),
    "workspace": _Lookup(
        "workspaces",
        ("id", "name"),
        lambda wh, day, r: Profile(r[0], workspace=r[1], workspace_name=r[2]),
        lambda s: Profile("", workspace=s),
    ),
    "connection": _Lookup(
        "connections",
        ("connection_label", "connection_label"),
        lambda wh, day, r: Profile(r[0]),
        Profile,
    ),
}


def subjects(warehouse: Warehouse, subject_type: str, subject: str, day: date) -> list[Subject]:
    """Every connection's view of a subject (found in its lists), or a bare subject."""
    lookup = _LOOKUPS.get(subject_type)
    if lookup is None:
        raise InvalidInput(
            f"subject type {subject_type!r} is not one of {', '.join(SUBJECT_TYPES)}."
        )
    key = normalize(subject)
    out = [
        Subject(row[0], lookup.profile(warehouse, day, row), True)
        for row in warehouse.read(lookup.sql(), key, key)
    ]
    return out or [Subject(None, lookup.bare(subject), False)]


def _describe(part: Part, config: Config) -> str:
    if part.method == "mapping":
        m = next((m for m, k in config.mappings if k == part.mapping_key), None)
        if m is None:
            return "mapping"
        end = m.valid_to.isoformat() if m.valid_to else "open"
        return (
            f"mapping {m.subject_type} {m.subject!r} → {m.value} "
            f"[{m.valid_from.isoformat()} … {end}) from {m.source}"
        )
    if part.method == "rule":
        return f"rule {part.rule_id!r} of rules version {part.rule_version}"
    return f"default: {REASONS.get(part.reason or '', part.reason)}"


def explain(
    warehouse: Warehouse, subject_type: str, subject: str, day: date
) -> list[dict[str, Any]]:
    """For each connection that knows the subject and each dimension: the value on `day` and
    what decided it (the mapping, the rule and version, or the split)."""
    config = load_config(warehouse)
    dc = _day_config(config, day)
    out = []
    for s in subjects(warehouse, subject_type, subject, day):
        for dim in config.dimensions:
            parts = resolve(s.profile, dimension_rules(dc.rules, dim), dc)
            split = parts[0].split_method if len(parts) > 1 else None
            for part in parts:
                out.append(
                    {
                        "connection": s.connection,
                        "found": s.found,
                        "dimension": dim,
                        "value": part.value,
                        "method": part.method,
                        "split": split,
                        "weight": part.weight,
                        "rule_id": part.rule_id,
                        "rule_version": part.rule_version,
                        "mapping": part.mapping_key,
                        "decided_by": _describe(part, config),
                    }
                )
    return out


def mappings_in_force(
    warehouse: Warehouse, day: date | None = None, dimension: str | None = None
) -> list[dict[str, Any]]:
    """The stored mappings (those in force on `day` when given)."""
    config = load_config(warehouse)
    out = []
    for m, key in config.mappings:
        if day is not None and not m.covers(day):
            continue
        if dimension is not None and m.dimension != dimension:
            continue
        out.append(
            {
                "subject_type": m.subject_type,
                "subject": m.subject,
                "dimension": m.dimension,
                "value": m.value,
                "valid_from": m.valid_from.isoformat(),
                "valid_to": m.valid_to.isoformat() if m.valid_to else None,
                "source": m.source,
                "key": key,
            }
        )
    return out


def rules_in_force(warehouse: Warehouse, day: date) -> dict[str, Any] | None:
    """The rules version in force on `day` (None when none is installed for it)."""
    config = load_config(warehouse)
    v = config.version_on(day)
    if v is None:
        return None
    later = [x for x in config.versions if x.effective_from > v.effective_from]
    return {
        "version": v.version,
        "effective_from": v.effective_from.isoformat(),
        "effective_until": later[0].effective_from.isoformat() if later else None,
        "source": v.source,
        "installed_at": v.installed_at.isoformat(),
        "dimensions": sorted(v.rules.dimensions),
        "rules_toml": v.text,
    }


def versions(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Every rules version installed, by effective day."""
    return [
        {
            "version": v.version,
            "effective_from": v.effective_from.isoformat(),
            "source": v.source,
            "installed_at": v.installed_at.isoformat(),
            "dimensions": sorted(v.rules.dimensions),
        }
        for v in load_config(warehouse).versions
    ]
