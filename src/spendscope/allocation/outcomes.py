"""Profiles and outcomes: each distinct spend profile and epoch the engine reads, resolved once
per dimension into a numbered outcome (its parts: a value, a weight, what decided it).

A *profile* is what the rules can see of a spend row: its subjects (connection, organization,
workspace, API key, user, service account), their names and the user's RBAC groups on the day,
and the attributes the rules test (`OPTIONAL_FIELDS`: read only when a rule tests them, since
each one multiplies the distinct profiles). An *epoch* is a run of days between two
configuration boundaries (`epoch_boundaries`: a mapping's or a membership's start or end, a rules
version's start), over which nothing in force changes, so a profile is resolved once an epoch,
not once a day.

`decide` resolves each (profile, epoch) with `resolve.py`, once per dimension. Outcomes repeat
across profiles, so each is numbered once (`Outcomes`), and a *decision* names the outcome of a
profile key, epoch and dimension. A profile already decided in an earlier epoch, under the same
rules version and with the same answers to the mapping lookups that decision made, keeps its
outcome without resolving again: most epochs change the mappings of a few subjects only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import pyarrow as pa

from ..warehouse.schema import DATASET
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

# Profile attributes read from the rows (always), and those read only when a rule tests them
# (each one multiplies the distinct profiles to resolve).
BASE_FIELDS = (
    "connection_label",
    "organization_id",
    "workspace_id",
    "api_key_id",
    "user_id",
    "user_email",
    "service_account_id",
)
OPTIONAL_FIELDS = (
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


def _rule_fields(rulesets: Iterable[RuleSet]) -> set[str]:
    fields: set[str] = set()
    for rs in rulesets:
        for dim in rs.dimensions.values():
            for rule in dim.rules:
                fields.update(c.field for c in rule.conditions)
                if rule.inherit in ("product", "model"):
                    fields.add(rule.inherit)
    return fields


def profile_fields(config: Config) -> list[str]:
    """The row columns a profile is made of: `BASE_FIELDS`, then the optional ones some rules
    version tests."""
    tested = _rule_fields(v.rules for v in config.versions)
    return [*BASE_FIELDS, *(f for f in OPTIONAL_FIELDS if f in tested)]


def uses_rbac(config: Config) -> bool:
    """Whether a mapping or a rule reads RBAC groups (else memberships are not read)."""
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


def epoch_boundaries(config: Config, rbac: bool, memberships: list[tuple[Any, ...]]) -> list[date]:
    """Every day on which something in force can change, sorted: epoch n (n = 0, 1, …) runs
    from boundary n - 1 (the first from any day) to boundary n."""
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


class Names:
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


def _profile(row: dict[str, Any], names: Names, day: date) -> Profile:
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
        **{f: row.get(f) for f in OPTIONAL_FIELDS},
    )


class Outcomes:
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


def decide(
    profiles: list[tuple[Any, ...]],
    config: Config,
    names: Names,
    fields: list[str],
    boundaries: list[date],
) -> tuple[Outcomes, pa.Table, list[set[int]]]:
    """Resolve every distinct (profile key, epoch, *fields) of the rows, for every dimension:
    the outcomes, the decisions naming them (a table of pkey, epoch, dim, oid), and each
    dimension's outcomes. A profile decided in another epoch with the same rules version and
    the same answers to its mapping lookups keeps that outcome (most epochs change the mappings
    of a few subjects only)."""
    dims = config.dimensions
    epoch_start = [date(1970, 1, 1), *boundaries]
    day_configs: dict[int, tuple[DayConfig, _Noted, list[Any]]] = {}
    known = identities(config.mappings)
    outcomes = Outcomes()
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
