"""Allocation rules: one TOML document per version, a section per dimension.

A section gives the default value, the order in which subject types are looked up in the
mappings, how a user in several RBAC groups is resolved (`rbac`: split or priority), and an
ordered list of rules, first match wins. A rule tests fields of the row's subjects (`when`) and
either names a value (regex captures allowed: `{1}`, `{name}`), inherits one (`inherit`), or
splits the row (`split`: even, fixed percentages, proportional to each value's own spend).

The format, with examples, is in `docs/allocation.md`; every check names the rule and the reason.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InvalidInput
from .model import (
    DEFAULT_VALUE,
    SUBJECT_TYPES,
    Mapping,
    check_dimension_name,
    check_text,
    normalize,
)

# What a rule's condition can test: attributes of a spend row's subjects on its day.
FIELDS = (
    "connection",
    "organization",
    "workspace",
    "workspace_name",
    "api_key",
    "api_key_name",
    "user",
    "user_email",
    "service_account",
    "service_account_name",
    "rbac_group",
    "product",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "cost_type",
    "token_type",
)
OPERATORS = ("equals", "in", "prefix", "regex", "email_domain")
# Where `inherit` can take a value from.
INHERIT_SOURCES = (
    "workspace_name",
    "api_key_name",
    "service_account_name",
    "rbac_group_name",
    "user_email",
    "user_email_domain",
    "connection",
    "organization",
    "product",
    "model",
)
SPLIT_METHODS = ("even", "fixed", "proportional")
RBAC_MODES = ("split", "priority")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    values: tuple[str, ...]
    pattern: re.Pattern[str] | None = None

    def test(self, value: str | None) -> re.Match[str] | bool:
        """Whether `value` passes (a regex returns its match)."""
        if value is None:
            return False
        if self.op == "equals":
            return normalize(value) == normalize(self.values[0])
        if self.op == "in":
            return normalize(value) in {normalize(v) for v in self.values}
        if self.op == "prefix":
            return normalize(value).startswith(normalize(self.values[0]))
        if self.op == "email_domain":
            domain = value.rpartition("@")[2] if "@" in value else ""
            return normalize(domain) in {normalize(v).lstrip("@") for v in self.values}
        assert self.pattern is not None
        return self.pattern.search(value) or False


@dataclass(frozen=True, slots=True)
class Split:
    method: str  # even | fixed | proportional
    values: tuple[str, ...]
    weights: tuple[int, ...] = ()  # fixed: integer weights in the values' order


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    conditions: tuple[Condition, ...]
    value: str | None = None  # may hold {1} / {name}: the first regex condition's groups
    inherit: str | None = None
    split: Split | None = None


@dataclass(frozen=True, slots=True)
class DimensionRules:
    name: str
    default: str = DEFAULT_VALUE
    order: tuple[str, ...] = SUBJECT_TYPES
    rbac: str = "split"  # a user in several groups: split evenly, or the first by priority
    rbac_priority: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    dimensions: dict[str, DimensionRules] = field(default_factory=dict)


def _where(dim: str, index: int | None = None, rule_id: str | None = None) -> str:
    where = f"dimensions.{dim}"
    if index is not None:
        where += f".rules[{index}]"
        if rule_id:
            where += f" (id {rule_id!r})"
    return where


def _strings(value: Any, where: str, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise InvalidInput(f"{where}: {what} is an empty list")
    return tuple(check_text(v, what, where) for v in items)


def _condition(name: str, spec: Any, where: str) -> Condition:
    if name not in FIELDS:
        raise InvalidInput(
            f"{where}: unknown field {name!r} in when; use one of {', '.join(FIELDS)}"
        )
    if not isinstance(spec, dict) or len(spec) != 1:
        raise InvalidInput(
            f'{where}: when.{name} must be one test, e.g. {{ equals = "x" }} '
            f"({', '.join(OPERATORS)})"
        )
    ((op, raw),) = spec.items()
    if op not in OPERATORS:
        raise InvalidInput(
            f"{where}: unknown test {op!r} on {name}; use one of {', '.join(OPERATORS)}"
        )
    if op in ("equals", "prefix", "regex") and isinstance(raw, list):
        raise InvalidInput(f"{where}: {op} on {name} takes one string (use in for a list)")
    values = _strings(raw, f"{where} when.{name}", op)
    pattern = None
    if op == "regex":
        if len(values[0]) > 500:
            raise InvalidInput(f"{where}: the regex on {name} is longer than 500 characters")
        try:
            pattern = re.compile(values[0])
        except re.error as exc:
            raise InvalidInput(f"{where}: the regex on {name} does not compile: {exc}") from None
    return Condition(name, op, values, pattern)


def _fixed_weights(spec: Any, where: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if not isinstance(spec, dict) or not spec:
        raise InvalidInput(f"{where}: a fixed split needs percentages = {{ value = percent, … }}")
    values, shares = [], []
    for value, pct in spec.items():
        values.append(check_text(value, "split value", where))
        try:
            share = Decimal(str(pct))
        except InvalidOperation:
            raise InvalidInput(f"{where}: percentage {pct!r} for {value} is not a number") from None
        if not share.is_finite() or share <= 0:
            raise InvalidInput(f"{where}: percentage for {value} must be above 0")
        shares.append(share)
    if sum(shares) != 100:
        raise InvalidInput(f"{where}: the percentages add up to {sum(shares)}, not 100")
    scale = max(-int(s.as_tuple().exponent) for s in shares)
    scale = max(scale, 0)
    return tuple(values), tuple(int(s * 10**scale) for s in shares)


def _split(spec: Any, where: str) -> Split:
    if not isinstance(spec, dict):
        raise InvalidInput(
            f'{where}: split must be a table, e.g. {{ method = "even", values = [...] }}'
        )
    method = spec.get("method")
    if method not in SPLIT_METHODS:
        raise InvalidInput(
            f"{where}: split method {method!r} is not one of {', '.join(SPLIT_METHODS)}"
        )
    unknown = set(spec) - {"method", "values", "percentages"}
    if unknown:
        raise InvalidInput(f"{where}: unknown split key {sorted(unknown)[0]!r}")
    if method == "fixed":
        if "values" in spec:
            raise InvalidInput(f"{where}: a fixed split takes percentages, not values")
        values, weights = _fixed_weights(spec.get("percentages"), where)
        return Split(method, values, weights)
    if "percentages" in spec:
        raise InvalidInput(f"{where}: percentages are for a fixed split only")
    values = _strings(spec.get("values"), where, "split values")
    if len(set(values)) != len(values):
        raise InvalidInput(f"{where}: a split value is listed twice")
    if len(values) < 2:
        raise InvalidInput(f"{where}: a split needs at least two values")
    return Split(method, values)


def _check_template(value: str, conditions: Sequence[Condition], where: str) -> None:
    names = _PLACEHOLDER.findall(value)
    if not names:
        return
    regex = next((c.pattern for c in conditions if c.pattern is not None), None)
    if regex is None:
        raise InvalidInput(f"{where}: value {value!r} uses {{…}} but the rule has no regex")
    for n in names:
        ok = int(n) <= regex.groups if n.isdigit() else n in regex.groupindex
        if not ok:
            raise InvalidInput(f"{where}: value {value!r} names group {{{n}}} the regex lacks")


def _rule(spec: Any, dim: str, index: int) -> Rule:
    where = _where(dim, index)
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: a rule must be a table")
    rule_id = spec.get("id", f"{dim}-{index + 1}")
    rule_id = check_text(rule_id, "id", where)
    where = _where(dim, index, rule_id)
    unknown = set(spec) - {"id", "when", "value", "inherit", "split"}
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key {sorted(unknown)[0]!r} (id, when, value, inherit, split)"
        )
    when = spec.get("when", {})
    if not isinstance(when, dict):
        raise InvalidInput(f"{where}: when must be a table of tests")
    conditions = tuple(_condition(name, test, where) for name, test in when.items())
    actions = [k for k in ("value", "inherit", "split") if k in spec]
    if len(actions) != 1:
        raise InvalidInput(f"{where}: give exactly one of value, inherit or split")
    if "value" in spec:
        value = check_text(spec["value"], "value", where)
        _check_template(value, conditions, where)
        return Rule(rule_id, conditions, value=value)
    if "inherit" in spec:
        source = spec["inherit"]
        if source not in INHERIT_SOURCES:
            raise InvalidInput(
                f"{where}: inherit {source!r} is not one of {', '.join(INHERIT_SOURCES)}"
            )
        return Rule(rule_id, conditions, inherit=source)
    return Rule(rule_id, conditions, split=_split(spec["split"], where))


def _dimension(name: str, spec: Any) -> DimensionRules:
    check_dimension_name(name, "dimensions")
    where = _where(name)
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where} must be a table")
    unknown = set(spec) - {"default", "order", "rbac", "rbac_priority", "rules"}
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key {sorted(unknown)[0]!r} "
            "(default, order, rbac, rbac_priority, rules)"
        )
    default = check_text(spec.get("default", DEFAULT_VALUE), "default", where)
    order = _strings(spec.get("order", list(SUBJECT_TYPES)), where, "order")
    for t in order:
        if t not in SUBJECT_TYPES:
            raise InvalidInput(
                f"{where}: order names {t!r}, not a subject type ({', '.join(SUBJECT_TYPES)})"
            )
    if len(set(order)) != len(order):
        raise InvalidInput(f"{where}: order names a subject type twice")
    rbac = spec.get("rbac", "split")
    if rbac not in RBAC_MODES:
        raise InvalidInput(f"{where}: rbac {rbac!r} is not split or priority")
    priority = spec.get("rbac_priority", [])
    priority = _strings(priority, where, "rbac_priority") if priority else ()
    if rbac == "priority" and not priority:
        raise InvalidInput(f'{where}: rbac = "priority" needs rbac_priority = [group names]')
    rules_spec = spec.get("rules", [])
    if not isinstance(rules_spec, list):
        raise InvalidInput(
            f"{where}: rules must be an array of tables ([[dimensions.{name}.rules]])"
        )
    rules = tuple(_rule(r, name, i) for i, r in enumerate(rules_spec))
    ids = [r.id for r in rules]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise InvalidInput(f"{where}: rule id {dup!r} is used twice")
    return DimensionRules(name, default, order, rbac, priority, rules)


def parse_rules(text: str, name: str) -> RuleSet:
    """A rules document (TOML), every dimension and rule checked."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{name} is not valid TOML: {exc}.") from None
    unknown = set(data) - {"dimensions"}
    if unknown:
        raise InvalidInput(
            f"{name}: unknown top-level key {sorted(unknown)[0]!r} (only [dimensions.NAME])"
        )
    dims = data.get("dimensions", {})
    if not isinstance(dims, dict) or not dims:
        raise InvalidInput(f"{name} defines no dimension: add a [dimensions.team] section.")
    try:
        return RuleSet({n: _dimension(n, spec) for n, spec in dims.items()})
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc.message}", exc.hint) from None


def render_template(value: str, match: re.Match[str] | None) -> str:
    """A rule's value with `{1}` / `{name}` replaced by the regex match's groups."""
    if match is None:
        return value

    def group(m: re.Match[str]) -> str:
        key = m.group(1)
        got = match.group(int(key) if key.isdigit() else key)
        return got or ""

    return _PLACEHOLDER.sub(group, value)


def dimensions_of(mappings: Iterable[Mapping], rules: Iterable[RuleSet]) -> list[str]:
    """Every dimension named by a mapping or a rules version, sorted."""
    names = {m.dimension for m in mappings}
    for rs in rules:
        names.update(rs.dimensions)
    return sorted(names)
