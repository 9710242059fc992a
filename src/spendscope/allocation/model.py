"""Allocation mappings: effective-dated rows `subject_type, subject, dimension, value,
valid_from, valid_to` (days, UTC, half-open), from a CSV file or a SCIM 2.0 `Groups` export,
parsed and checked before anything is stored.

Every check raises `InvalidInput` naming the line (CSV) or the member (SCIM) and the reason;
nothing is applied from a file that has one bad entry.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import InvalidInput
from ..validation import parse_date

# Subject types a mapping can name, in the default order they are looked up (most specific
# first): the first type with a mapping for the row decides.
SUBJECT_TYPES = ("api_key", "service_account", "user", "rbac_group", "workspace", "connection")
DEFAULT_VALUE = "Unallocated"
MAPPING_COLUMNS = ("subject_type", "subject", "dimension", "value", "valid_from", "valid_to")
# Names an allocation dimension may not take: the built-in dimensions and the granularities.
RESERVED = frozenset(
    {
        "connection",
        "organization",
        "workspace",
        "api_key",
        "user",
        "product",
        "model",
        "service_tier",
        "context_window",
        "inference_geo",
        "speed",
        "token_type",
        "cost_type",
        "provider",
        "billing_account",
        "project",
        "service",
        "sku",
        "resource",
        "day",
        "week",
        "month",
    }
)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TEXT = 200
MAX_ERRORS_SHOWN = 5


def normalize(subject: str) -> str:
    """How subjects are compared: ids, names and e-mail addresses ignore case and edge spaces."""
    return subject.strip().casefold()


def check_dimension_name(name: str, where: str = "") -> str:
    prefix = f"{where}: " if where else ""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{prefix}dimension {name!r} is not a valid name: use lower-case letters, digits "
            "and _ (at most 40, starting with a letter), e.g. team or cost_center."
        )
    if name in RESERVED:
        raise InvalidInput(
            f"{prefix}dimension {name!r} is a built-in dimension; pick another name "
            "(e.g. team, cost_center, project_code)."
        )
    return name


def check_text(value: Any, what: str, where: str = "") -> str:
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{prefix}{what} is empty.")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{prefix}{what} is longer than {MAX_TEXT} characters.")
    if _CONTROL.search(text):
        raise InvalidInput(f"{prefix}{what} holds a control character.")
    return text


# -- mappings -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mapping:
    subject_type: str
    subject: str
    dimension: str
    value: str
    valid_from: date
    valid_to: date | None = None
    source: str = ""  # e.g. "teams.csv line 7" or "scim group Payments"

    @property
    def key(self) -> str:
        return normalize(self.subject)

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def overlaps(self, other: Mapping) -> bool:
        end = self.valid_to or date.max
        other_end = other.valid_to or date.max
        return self.valid_from < other_end and other.valid_from < end


def _fail(errors: list[str], what: str) -> None:
    if not errors:
        return
    shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
    more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
    raise InvalidInput(
        f"{shown}{more}. Nothing of {what} was imported.",
        "Fix the lines named and import the whole file again (see docs/allocation.md).",
    )


def mapping_from(fields: MappingType[str, Any], where: str, source: str) -> Mapping:
    """One mapping from its fields (CSV cells or API JSON), checked."""
    subject_type = str(fields.get("subject_type") or "").strip()
    if subject_type not in SUBJECT_TYPES:
        raise InvalidInput(
            f"{where}: subject_type {subject_type!r} is not one of {', '.join(SUBJECT_TYPES)}"
        )
    subject = check_text(fields.get("subject"), "subject", where)
    dimension = check_dimension_name(str(fields.get("dimension") or "").strip(), where)
    value = check_text(fields.get("value"), "value", where)
    raw_from = str(fields.get("valid_from") or "").strip()
    if not raw_from:
        raise InvalidInput(f"{where}: valid_from is empty (YYYY-MM-DD)")
    try:
        valid_from = parse_date(raw_from, "valid_from")
        raw_to = str(fields.get("valid_to") or "").strip()
        valid_to = parse_date(raw_to, "valid_to") if raw_to else None
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message.rstrip('.')}") from None
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidInput(
            f"{where}: valid_to {valid_to} is not after valid_from {valid_from} "
            "(valid_to is exclusive)"
        )
    return Mapping(subject_type, subject, dimension, value, valid_from, valid_to, source)


def check_no_overlaps(mappings: Sequence[Mapping], errors: list[str]) -> None:
    """Two mappings of one subject and dimension may not cover the same day."""
    seen: dict[tuple[str, str, str], list[Mapping]] = {}
    for m in mappings:
        group = seen.setdefault((m.subject_type, m.key, m.dimension), [])
        for other in group:
            if m.overlaps(other):
                errors.append(
                    f"{m.source}: {m.subject_type} {m.subject!r} already has a {m.dimension} "
                    f"for some of these days ({other.source})"
                )
                break
        group.append(m)


def parse_mappings_csv(text: str, name: str) -> list[Mapping]:
    """The rows of a mappings CSV (header `subject_type,subject,dimension,value,valid_from,
    valid_to`; `valid_to` may be empty), every row checked."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{name} is empty: the first line must be the header.") from None
    except csv.Error as exc:
        raise InvalidInput(f"{name} line 1: {exc}.") from None
    header = [h.strip() for h in header]
    if sorted(header) != sorted(MAPPING_COLUMNS):
        raise InvalidInput(
            f"{name} line 1: the header must be {','.join(MAPPING_COLUMNS)}, not "
            f"{','.join(header)[:200]}."
        )
    errors: list[str] = []
    out: list[Mapping] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            where = f"{name} line {line}"
            if len(row) != len(header):
                errors.append(f"{where}: {len(row)} cells, the header has {len(header)}")
                continue
            try:
                out.append(mapping_from(dict(zip(header, row, strict=True)), where, where))
            except InvalidInput as exc:
                errors.append(exc.message.rstrip("."))
    except csv.Error as exc:
        errors.append(f"{name} line {reader.line_num}: {exc}")
    check_no_overlaps(out, errors)
    _fail(errors, name)
    if not out:
        raise InvalidInput(f"{name} holds no mapping rows.")
    return out


@dataclass(frozen=True, slots=True)
class ParsedImport:
    """The mappings of one file to import, checked."""

    mappings: list[Mapping]
    skipped: int  # SCIM: nested-group members skipped
    replace_source: str | None  # SCIM: the source prefix of the earlier export this one replaces


def scim_dimension(dimension: str | None) -> str:
    """The dimension a SCIM import's group names go to: required, and a valid name."""
    name = (dimension or "").strip()
    if not name:
        raise InvalidInput("A SCIM import needs a dimension (e.g. --dimension team).")
    return check_dimension_name(name)


def parse_import(
    kind: str,
    text: str,
    name: str,
    *,
    dimension: str | None = None,
    valid_from: date,
    priority: Sequence[str] = (),
) -> ParsedImport:
    """A file to import, checked in full: `csv` (mapping rows) or `scim` (a Groups export whose
    group names go to `dimension` from `valid_from`, a member of several groups taking the
    first of `priority`). Nothing is stored."""
    if kind == "scim":
        groups = [g.strip() for g in priority if g.strip()]
        mappings, skipped = parse_scim_groups(
            text, name, scim_dimension(dimension), valid_from, groups
        )
        return ParsedImport(mappings, skipped, f"scim {name}")
    return ParsedImport(parse_mappings_csv(text, name), 0, None)


def parse_scim_groups(
    text: str, name: str, dimension: str, valid_from: date, priority: Sequence[str] = ()
) -> tuple[list[Mapping], int]:
    """User mappings from a SCIM 2.0 Groups export (a ListResponse or a list of Group
    resources): each member, matched by e-mail, gets the group's displayName. A member of
    several groups takes the first of `priority` (group names) that holds them; without one
    that is an error. Returns the mappings and the number of nested-group members skipped."""
    check_dimension_name(dimension)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not JSON: {exc}.") from None
    groups = data.get("Resources") if isinstance(data, dict) else data
    if not isinstance(groups, list):
        raise InvalidInput(
            f"{name} is not a SCIM Groups export: expected a ListResponse with Resources, or a "
            "list of groups."
        )
    errors: list[str] = []
    members: dict[str, list[tuple[str, str]]] = {}  # email key -> [(group, where)]
    skipped = 0
    for i, group in enumerate(groups):
        where = f"{name} Resources[{i}]"
        if not isinstance(group, dict):
            errors.append(f"{where}: not an object")
            continue
        try:
            group_name = check_text(group.get("displayName"), "displayName", where)
        except InvalidInput as exc:
            errors.append(exc.message.rstrip("."))
            continue
        listed = group.get("members") or []
        if not isinstance(listed, list):
            errors.append(f"{where} ({group_name}): members is not a list")
            continue
        for j, member in enumerate(listed):
            at = f"{where}.members[{j}] ({group_name})"
            if not isinstance(member, dict):
                errors.append(f"{at}: not an object")
                continue
            if str(member.get("type") or "").casefold() == "group":
                skipped += 1
                continue
            email = _member_email(member)
            if email is None:
                errors.append(f"{at}: no e-mail address (display or emails)")
                continue
            members.setdefault(normalize(email), []).append((group_name, email))
    order = {normalize(g): i for i, g in enumerate(priority)}
    out: list[Mapping] = []
    for _, entries in sorted(members.items()):
        names = sorted({g for g, _ in entries})
        chosen = names[0]
        if len(names) > 1:
            ranked = [g for g in names if normalize(g) in order]
            if not ranked:
                errors.append(
                    f"{entries[0][1]} is in several groups ({', '.join(names)}): give "
                    "--priority with the group names in the order that wins"
                )
                continue
            chosen = min(ranked, key=lambda g: order[normalize(g)])
        out.append(
            Mapping(
                "user",
                entries[0][1],
                dimension,
                chosen,
                valid_from,
                None,
                f"scim {name} group {chosen}",
            )
        )
    _fail(errors, name)
    if not out:
        raise InvalidInput(f"{name} lists no group member with an e-mail address.")
    return out, skipped


def _member_email(member: MappingType[str, Any]) -> str | None:
    for candidate in (member.get("email"), member.get("display"), member.get("value")):
        if isinstance(candidate, str) and "@" in candidate and not _CONTROL.search(candidate):
            return candidate.strip()
    emails = member.get("emails")
    if isinstance(emails, list):
        for e in emails:
            value = e.get("value") if isinstance(e, dict) else None
            if isinstance(value, str) and "@" in value:
                return value.strip()
    return None
