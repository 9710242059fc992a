"""What decides one dimension's value for the subjects of a spend row on one day.

In order: the mappings (subject types in the dimension's `order`, the first type with a mapping
in force decides; RBAC groups resolved by priority or split), then the rules of the version in
force (first match wins), then the default value with the reason nothing matched. A decision is
one part (the whole row to one value) or several (a split): even and fixed splits carry their
weights; a proportional split's weights are each value's own spend that day, which only the
warehouse knows (`weight` None).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .model import Mapping, normalize
from .rules import Condition, DimensionRules, Rule, RuleSet, render_template

# Why a row is unallocated (the coverage report's reasons).
REASONS = {
    "no_rule_matched": "no mapping or rule matched",
    "no_subject_on_row": "no API key, user or workspace on the row (legacy report)",
    "key_deleted": "the API key is no longer listed (deleted)",
    "email_not_in_identity_import": "the user's e-mail is not in the identity import",
    "service_account": "spend by a service account, not mapped",
}


@dataclass(frozen=True, slots=True)
class Profile:
    """The subjects and attributes of spend rows, as rules and mappings see them."""

    connection: str
    organization: str | None = None
    workspace: str | None = None
    workspace_name: str | None = None
    api_key: str | None = None
    api_key_name: str | None = None
    api_key_listed: bool = True
    user: str | None = None
    user_email: str | None = None
    service_account: str | None = None
    service_account_name: str | None = None
    rbac_groups: tuple[tuple[str, str], ...] = ()  # (id, name) of the user's groups that day
    product: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    speed: str | None = None
    cost_type: str | None = None
    token_type: str | None = None


@dataclass(frozen=True, slots=True)
class Part:
    value: str
    weight: int | None  # None: proportional to the value's own spend that day
    method: str  # mapping | rule | default
    split_method: str | None = None  # even | fixed | proportional (several parts)
    rule_id: str | None = None
    rule_version: int | None = None
    mapping_key: str | None = None
    reason: str | None = None  # default parts: why nothing matched


@dataclass(slots=True)
class DayConfig:
    """Everything in force on the days of one epoch."""

    rules: RuleSet | None
    version: int | None
    # (dimension, subject_type, normalized subject) -> (mapping, its stored key)
    mappings: dict[tuple[str, str, str], tuple[Mapping, str]]
    # dimension -> normalized user subjects that have a mapping at any time
    identities: dict[str, frozenset[str]]


def _subjects(p: Profile, subject_type: str) -> list[str]:
    if subject_type == "api_key":
        return [s for s in (p.api_key, p.api_key_name) if s]
    if subject_type == "service_account":
        return [s for s in (p.service_account, p.service_account_name) if s]
    if subject_type == "user":
        return [s for s in (p.user, p.user_email) if s]
    if subject_type == "workspace":
        return [s for s in (p.workspace, p.workspace_name) if s]
    if subject_type == "connection":
        return [p.connection]
    return []


def _rbac_parts(
    p: Profile, dim: DimensionRules, found: Sequence[tuple[str, Mapping, str]]
) -> list[Part]:
    """Mappings of several groups of one user: the first by priority, or an even split."""
    values = sorted({m.value for _, m, _ in found})
    if len(values) == 1:
        _, m, key = found[0]
        return [Part(m.value, 1, "mapping", mapping_key=key)]
    if dim.rbac == "priority":
        order = {normalize(g): i for i, g in enumerate(dim.rbac_priority)}
        names = dict(p.rbac_groups)

        def rank(item: tuple[str, Mapping, str]) -> tuple[int, str]:
            gid = item[0]
            hits = [order[k] for k in (normalize(gid), normalize(names.get(gid, ""))) if k in order]
            return (min(hits) if hits else len(order), names.get(gid, gid))

        _, m, key = min(found, key=rank)
        return [Part(m.value, 1, "mapping", mapping_key=key)]
    keys = {m.value: key for _, m, key in sorted(found, key=lambda f: f[0])}
    return [Part(v, 1, "mapping", "even", mapping_key=keys[v]) for v in values]


def _from_mappings(p: Profile, dim: DimensionRules, config: DayConfig) -> list[Part] | None:
    for subject_type in dim.order:
        if subject_type == "rbac_group":
            found = []
            for gid, gname in p.rbac_groups:
                for s in (gid, gname):
                    hit = config.mappings.get((dim.name, "rbac_group", normalize(s)))
                    if hit is not None:
                        found.append((gid, hit[0], hit[1]))
                        break
            if found:
                return _rbac_parts(p, dim, found)
            continue
        for s in _subjects(p, subject_type):
            hit = config.mappings.get((dim.name, subject_type, normalize(s)))
            if hit is not None:
                return [Part(hit[0].value, 1, "mapping", mapping_key=hit[1])]
    return None


def _field(p: Profile, name: str) -> list[str | None]:
    """The values a condition on `name` tests (several for ids-or-names and groups)."""
    if name == "workspace":
        return [p.workspace]
    if name == "api_key":
        return [p.api_key]
    if name == "user":
        return [p.user, p.user_email]
    if name == "service_account":
        return [p.service_account]
    if name == "rbac_group":
        return [s for g in p.rbac_groups for s in g] or [None]
    value = getattr(p, name)
    return [value if value is None else str(value)]


def _matches(p: Profile, conditions: Sequence[Condition]) -> tuple[bool, re.Match[str] | None]:
    first_match: re.Match[str] | None = None
    for c in conditions:
        hit: re.Match[str] | bool = False
        for value in _field(p, c.field):
            hit = c.test(value)
            if hit:
                break
        if not hit:
            return False, None
        if isinstance(hit, re.Match) and first_match is None:
            first_match = hit
    return True, first_match


def _inherit(p: Profile, rule: Rule, dim: DimensionRules) -> list[str]:
    source = rule.inherit
    if source == "rbac_group_name":
        names = [name for _, name in p.rbac_groups if name]
        if len(names) > 1 and dim.rbac == "priority":
            order = {normalize(g): i for i, g in enumerate(dim.rbac_priority)}
            names = [min(names, key=lambda n: (order.get(normalize(n), len(order)), n))]
        return sorted(set(names))
    if source == "user_email_domain":
        email = p.user_email or ""
        return [email.rpartition("@")[2]] if "@" in email else []
    value = getattr(p, source or "")
    return [str(value)] if value else []


def _rule_part(
    rule: Rule, version: int | None, value: str, weight: int | None, split: str | None = None
) -> Part:
    return Part(value, weight, "rule", split, rule_id=rule.id, rule_version=version)


def _from_rules(p: Profile, dim: DimensionRules, version: int | None) -> list[Part] | None:
    for rule in dim.rules:
        ok, match = _matches(p, rule.conditions)
        if not ok:
            continue
        if rule.value is not None:
            value = render_template(rule.value, match).strip()
            if value:
                return [_rule_part(rule, version, value, 1)]
            continue
        if rule.inherit is not None:
            values = _inherit(p, rule, dim)
            if not values:
                continue
            if len(values) == 1:
                return [_rule_part(rule, version, values[0], 1)]
            return [_rule_part(rule, version, v, 1, "even") for v in values]
        split = rule.split
        assert split is not None
        if split.method == "fixed":
            return [
                _rule_part(rule, version, v, w, "fixed")
                for v, w in zip(split.values, split.weights, strict=True)
            ]
        weight = 1 if split.method == "even" else None
        return [_rule_part(rule, version, v, weight, split.method) for v in split.values]
    return None


def unallocated_reason(p: Profile, dim: DimensionRules, config: DayConfig) -> str:
    if not (p.api_key or p.user or p.user_email or p.service_account or p.workspace):
        return "no_subject_on_row"
    if p.api_key and not p.api_key_listed:
        return "key_deleted"
    if p.service_account and not (p.user or p.user_email or p.api_key):
        return "service_account"
    known = config.identities.get(dim.name)
    users = [normalize(s) for s in (p.user, p.user_email) if s]
    if known and users and not any(u in known for u in users):
        return "email_not_in_identity_import"
    return "no_rule_matched"


def resolve(p: Profile, dim: DimensionRules, config: DayConfig) -> list[Part]:
    """The parts of one dimension for a row with profile `p` on a day of `config`'s epoch."""
    parts = _from_mappings(p, dim, config)
    if parts is None:
        parts = _from_rules(p, dim, config.version)
    if parts is None:
        parts = [Part(dim.default, 1, "default", reason=unallocated_reason(p, dim, config))]
    return parts


def dimension_rules(rules: RuleSet | None, name: str) -> DimensionRules:
    """A dimension's rules in a version, or the defaults when the version does not name it."""
    if rules is not None and name in rules.dimensions:
        return rules.dimensions[name]
    return DimensionRules(name)


def index_mappings(
    mappings: Sequence[tuple[Mapping, str]], day: object
) -> dict[tuple[str, str, str], tuple[Mapping, str]]:
    """The mappings in force on `day`, by (dimension, subject type, normalized subject)."""
    out: dict[tuple[str, str, str], tuple[Mapping, str]] = {}
    for m, key in mappings:
        if m.covers(day):  # type: ignore[arg-type]
            out[(m.dimension, m.subject_type, m.key)] = (m, key)
    return out


def identities(mappings: Sequence[tuple[Mapping, str]]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for m, _ in mappings:
        if m.subject_type == "user":
            out.setdefault(m.dimension, set()).add(m.key)
    return {k: frozenset(v) for k, v in out.items()}
