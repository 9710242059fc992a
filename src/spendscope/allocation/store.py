"""The allocation configuration in the warehouse: imports of mappings, rule versions, and the
log of every change.

History never moves silently. A change takes effect from its own date (a mapping's
`valid_from`, a version's effective day); a date in a *closed month* (before the first day of
the current UTC month) is refused unless the change says `backfill_from` on or before it — an
explicit re-allocation, recorded in `allocation_log` with the first day it re-allocates.

An import is applied whole or not at all (one transaction): for each subject and dimension the
new row owns its interval; an earlier row of the same subject is trimmed (or split) around it,
so days outside the new interval keep their value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ..errors import InvalidInput
from ..warehouse.allocation_tables import (
    ALLOCATION_LOG,
    ALLOCATION_MAPPINGS,
    ALLOCATION_RULE_VERSIONS,
)
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET, row_key
from .model import Mapping
from .rules import RuleSet, parse_rules


@dataclass(frozen=True, slots=True)
class RuleVersion:
    version: int
    effective_from: date
    rules: RuleSet
    text: str
    source: str
    installed_at: datetime


@dataclass(frozen=True, slots=True)
class Config:
    """Everything allocation is configured with."""

    mappings: list[tuple[Mapping, str]]  # (mapping, its row_key)
    versions: list[RuleVersion]  # by effective day

    @property
    def dimensions(self) -> list[str]:
        names = {m.dimension for m, _ in self.mappings}
        for v in self.versions:
            names.update(v.rules.dimensions)
        return sorted(names)

    def version_on(self, day: date) -> RuleVersion | None:
        current = None
        for v in self.versions:
            if v.effective_from <= day:
                current = v
        return current


def month_start(day: date) -> date:
    return day.replace(day=1)


def check_open(first_day: date, today: date, backfill_from: date | None, what: str) -> None:
    """Refuse a change to a closed month unless `backfill_from` covers it."""
    opened = month_start(today)
    if first_day >= opened:
        return
    if backfill_from is None:
        raise InvalidInput(
            f"{what} starts on {first_day}, in a closed month (before {opened}): past months "
            "change only through an explicit re-allocation.",
            f"Add --backfill-from {first_day} to re-allocate from that day (it is logged).",
        )
    if backfill_from > first_day:
        raise InvalidInput(
            f"{what} starts on {first_day}, before --backfill-from {backfill_from}.",
            f"Use --backfill-from {first_day} or earlier, or move the start.",
        )


def load_config(warehouse: Warehouse) -> Config:
    rows = warehouse.read(
        f"SELECT subject_type, subject, dimension, value, valid_from, valid_to, source, row_key "
        f"FROM {DATASET}.{ALLOCATION_MAPPINGS.name} ORDER BY dimension, subject_type, "
        "subject_key, valid_from"
    )
    mappings = [(Mapping(*r[:7]), r[7]) for r in rows]
    versions = []
    for version, eff, text, source, at in warehouse.read(
        f"SELECT version, effective_from, rules_toml, source, installed_at "
        f"FROM {DATASET}.{ALLOCATION_RULE_VERSIONS.name} ORDER BY effective_from, version"
    ):
        versions.append(RuleVersion(version, eff, parse_rules(text, source), text, source, at))
    return Config(mappings, versions)


def _next_change(cur: Any) -> int:
    row = cur.execute(f"SELECT max(change_id) FROM {DATASET}.{ALLOCATION_LOG.name}").fetchone()
    return int(row[0] or 0) + 1


def _log(
    cur: Any,
    change_id: int,
    action: str,
    detail: str,
    affects_from: date | None,
    backfill_from: date | None,
    now: datetime,
) -> None:
    backfill = backfill_from if affects_from and backfill_from else None
    cur.execute(
        f"INSERT INTO {DATASET}.{ALLOCATION_LOG.name} (row_key, change_id, occurred_at, action, "
        "detail, affects_from, backfill_from) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [row_key("log", change_id), change_id, now, action, detail, affects_from, backfill],
    )


def _trim(existing: Mapping, new: Mapping) -> list[Mapping]:
    """What is left of `existing` outside `new`'s interval (zero, one or two pieces)."""
    pieces = []
    if existing.valid_from < new.valid_from:
        end = existing.valid_to
        pieces.append(_with(existing, existing.valid_from, min(end or date.max, new.valid_from)))
    if new.valid_to is not None and (existing.valid_to is None or existing.valid_to > new.valid_to):
        pieces.append(_with(existing, max(existing.valid_from, new.valid_to), existing.valid_to))
    return pieces


def _covers(existing: Mapping, new: Mapping) -> bool:
    """`existing` already gives `new`'s value on every day of `new`'s interval."""
    return (
        existing.value == new.value
        and existing.valid_from <= new.valid_from
        and (
            existing.valid_to is None
            or (new.valid_to is not None and new.valid_to <= existing.valid_to)
        )
    )


def _with(m: Mapping, start: date, end: date | None) -> Mapping:
    return Mapping(m.subject_type, m.subject, m.dimension, m.value, start, end, m.source)


def _insert(cur: Any, m: Mapping, import_id: int, now: datetime) -> None:
    cur.execute(
        f"INSERT INTO {DATASET}.{ALLOCATION_MAPPINGS.name} (row_key, subject_type, subject, "
        "subject_key, dimension, value, valid_from, valid_to, import_id, source, imported_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row_key(m.subject_type, m.key, m.dimension, m.valid_from),
            m.subject_type,
            m.subject,
            m.key,
            m.dimension,
            m.value,
            m.valid_from,
            m.valid_to,
            import_id,
            m.source,
            now,
        ],
    )


@dataclass(frozen=True, slots=True)
class ImportResult:
    change_id: int
    rows: int
    trimmed: int  # earlier rows cut short or split around the new ones
    closed: int  # rows of an earlier identity import ended (not in the new export)
    affects_from: date | None

    def message(self, name: str, skipped: int = 0) -> str:
        """What an import of file `name` says it did (`skipped`: nested-group members)."""
        text = f"imported {self.rows} mappings from {name} (change {self.change_id})"
        if self.trimmed:
            text += f"; {self.trimmed} earlier mappings trimmed where the new ones start"
        if self.closed:
            text += f"; {self.closed} members no longer listed ended"
        if skipped:
            text += f"; {skipped} nested-group members skipped"
        return text


def import_mappings(
    warehouse: Warehouse,
    mappings: Sequence[Mapping],
    *,
    source: str,
    today: date,
    backfill_from: date | None = None,
    replace_source: str | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Apply `mappings` in one transaction (all or nothing). With `replace_source` (an identity
    export), open mappings from an earlier import of that source whose subject the new export
    no longer lists are ended on the new rows' first day."""
    now = now or datetime.now(UTC)
    for m in mappings:
        check_open(m.valid_from, today, backfill_from, f"{m.source}: the mapping")
    first = min(m.valid_from for m in mappings)
    table = f"{DATASET}.{ALLOCATION_MAPPINGS.name}"
    with warehouse.transaction() as cur:
        change_id = _next_change(cur)
        trimmed = closed = 0
        if replace_source is not None:
            listed = {(m.subject_type, m.key, m.dimension) for m in mappings}
            for key, st, sk, dim, vf in cur.execute(
                f"SELECT row_key, subject_type, subject_key, dimension, valid_from FROM {table} "
                "WHERE valid_to IS NULL AND source LIKE ?",
                [replace_source + "%"],
            ).fetchall():
                if (st, sk, dim) in listed:
                    continue
                end = max(first, vf)
                if end == vf:
                    cur.execute(f"DELETE FROM {table} WHERE row_key = ?", [key])
                else:
                    cur.execute(f"UPDATE {table} SET valid_to = ? WHERE row_key = ?", [end, key])
                closed += 1
        unchanged = 0
        for m in mappings:
            rows = cur.execute(
                f"SELECT subject_type, subject, dimension, value, valid_from, valid_to, source, "
                f"row_key FROM {table} WHERE subject_type = ? AND subject_key = ? "
                "AND dimension = ?",
                [m.subject_type, m.key, m.dimension],
            ).fetchall()
            if any(_covers(Mapping(*r[:7]), m) for r in rows):
                unchanged += 1  # already mapped so: nothing to change
                continue
            for r in rows:
                old = Mapping(*r[:7])
                if not old.overlaps(m):
                    continue
                cur.execute(f"DELETE FROM {table} WHERE row_key = ?", [r[7]])
                for piece in _trim(old, m):
                    _insert(cur, piece, change_id, now)
                trimmed += 1
            _insert(cur, m, change_id, now)
        detail = f"{len(mappings)} mapping rows from {source}"
        if unchanged:
            detail += f" ({unchanged} already in force)"
        if trimmed:
            detail += f"; {trimmed} earlier rows trimmed"
        if closed:
            detail += f"; {closed} rows of the previous export ended"
        _log(cur, change_id, "import", detail, first, backfill_from, now)
    return ImportResult(change_id, len(mappings), trimmed, closed, first)


def install_rules(
    warehouse: Warehouse,
    text: str,
    *,
    source: str,
    effective: date,
    today: date,
    backfill_from: date | None = None,
    now: datetime | None = None,
) -> RuleVersion:
    """Install a new rules version effective from `effective`: checked, then stored with the
    next version number. A version may not start before the newest one already installed."""
    now = now or datetime.now(UTC)
    rules = parse_rules(text, source)
    check_open(effective, today, backfill_from, f"The rules version effective {effective}")
    with warehouse.transaction() as cur:
        latest = cur.execute(
            f"SELECT max(version), max(effective_from) FROM {DATASET}."
            f"{ALLOCATION_RULE_VERSIONS.name}"
        ).fetchone()
        version = int(latest[0] or 0) + 1
        if latest[1] is not None and effective < latest[1]:
            raise InvalidInput(
                f"A version effective {latest[1]} is installed; a new one cannot start earlier "
                f"({effective}).",
                f"Use --effective {latest[1]} or later.",
            )
        cur.execute(
            f"INSERT INTO {DATASET}.{ALLOCATION_RULE_VERSIONS.name} (row_key, version, "
            "effective_from, rules_toml, source, installed_at) VALUES (?, ?, ?, ?, ?, ?)",
            [row_key("rules", version), version, effective, text, source, now],
        )
        change_id = _next_change(cur)
        dims = ", ".join(sorted(rules.dimensions))
        _log(
            cur,
            change_id,
            "rules",
            f"rules version {version} ({dims}) from {source}, effective {effective}",
            effective,
            backfill_from,
            now,
        )
    return RuleVersion(version, effective, rules, text, source, now)


def reallocate(
    warehouse: Warehouse, backfill_from: date, today: date, now: datetime | None = None
) -> int:
    """Log an explicit re-allocation from `backfill_from`: the next refresh recomputes every
    day from it with the configuration as it stands. Returns the change id."""
    now = now or datetime.now(UTC)
    if backfill_from > today:
        raise InvalidInput(f"--backfill-from {backfill_from} is in the future.")
    with warehouse.transaction() as cur:
        change_id = _next_change(cur)
        _log(
            cur,
            change_id,
            "reallocate",
            f"re-allocation of every day from {backfill_from}",
            backfill_from,
            backfill_from,
            now,
        )
    return change_id
