"""Anomalies injected into the synthetic usage: spikes and level shifts of one scope.

An injection scales the usage facts of one API key, workspace, user or model:

- a *spike* changes one UTC day, by a factor (`x=6`) or by an added amount of billed cost in US
  dollars (`add=250`, turned into the factor that adds it to the scope's cost of that day);
- a *shift* multiplies every day from its day on (`x=1.8`, or `x=0.5` for a drop).

Tokens, web searches, requests and runtime are scaled and the facts priced again, so cost keeps
following usage. Injections act on a day's base facts, before revisions, in a fixed order (shifts,
then spikes by factor, then spikes by amount, each group by id), so every endpoint and
`/_simulator/truth` see one consistent change and the same injections always give the same data.

An injection is identified by its kind, scope and day (`Injection.id`): injecting the same id
again with the same magnitude changes nothing, with another magnitude replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from .facts import MICRO, Fact
from .facts_pricing import PRICE_BOOK, price_fact
from .world import Organization, World

KINDS = ("spike", "shift")
SCOPES = ("api_key", "workspace", "user", "model")
FIELDS = ("kind", *SCOPES, "org", "day", "x", "add")
FACT_FIELD = {
    "api_key": "api_key_id",
    "workspace": "workspace_id",
    "user": "user_id",
    "model": "model",
}
MAX_FACTOR = Decimal(1000)
EXAMPLE = "spike:workspace=NAME:day=-3:x=6"
_OFFSET = re.compile(r"^[+-]?\d+$")
# Usage fields scaled by an injection (requests separately: a fact with usage keeps >= 1).
_SCALED = ("uncached", "cache_read", "cache_5m", "cache_1h", "output", "web_search", "seconds")


class InjectionError(ValueError):
    """A bad injection spec; the message is one line saying what to fix."""


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Injection:
    kind: str  # "spike" | "shift"
    scope: str  # "api_key" | "workspace" | "user" | "model"
    entity: str  # the id of the key, workspace or user; the model's name
    label: str  # its name (a user's e-mail)
    org_id: str | None  # None: a model in every organization
    day: date
    x: Decimal | None = None
    add: Decimal | None = None  # US dollars of billed cost, spikes only

    @property
    def id(self) -> str:
        org = f":org={self.org_id}" if self.scope == "model" and self.org_id else ""
        return f"{self.kind}:{self.scope}={self.entity}{org}:day={self.day.isoformat()}"

    @property
    def spec(self) -> str:
        if self.x is not None:
            return f"{self.id}:x={_text(self.x)}"
        return f"{self.id}:add={_text(self.add or Decimal(0))}"

    def covers(self, org_id: str, day: date) -> bool:
        """Whether this injection changes (some of) this organization's day."""
        if self.org_id is not None and org_id != self.org_id:
            return False
        return day == self.day if self.kind == "spike" else day >= self.day

    def matches(self, f: Fact) -> bool:
        return bool(getattr(f, FACT_FIELD[self.scope]) == self.entity)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "spec": self.spec,
            "kind": self.kind,
            "scope": self.scope,
            "entity_id": self.entity,
            "entity_name": self.label,
            "organization_id": self.org_id,
            "day": self.day.isoformat(),
            "until": self.day.isoformat() if self.kind == "spike" else None,
            "x": _text(self.x) if self.x is not None else None,
            "add_usd": _text(self.add) if self.add is not None else None,
        }


def _order(inj: Injection) -> tuple[int, str]:
    return (0 if inj.kind == "shift" else 1 if inj.x is not None else 2), inj.id


def _scale(f: Fact, factor: Fraction, discount: tuple[int, int]) -> None:
    for name in _SCALED:
        setattr(f, name, round(getattr(f, name) * factor))
    if f.requests:
        f.requests = max(1, round(f.requests * factor))
    price_fact(f, discount)


def apply(
    injections: Iterable[Injection],
    org_id: str,
    day: date,
    facts: list[Fact],
    discount: tuple[int, int],
) -> None:
    """Scale (in place) the priced base facts of one organization's day."""
    for inj in sorted((i for i in injections if i.covers(org_id, day)), key=_order):
        hit = [f for f in facts if inj.matches(f)]
        if inj.x is not None:
            factor = Fraction(inj.x)
        else:
            base = sum(sum(f.cost) for f in hit)
            if base <= 0:
                continue
            factor = 1 + Fraction(add_micro(inj), base)
        for f in hit:
            _scale(f, factor, discount)


def add_micro(inj: Injection) -> int:
    """The added amount of a spike by amount, in micro-cents."""
    return int((Decimal(inj.add or 0) * 100 * MICRO).to_integral_value())


def has_cost(inj: Injection, facts: Iterable[Fact]) -> bool:
    return any(inj.matches(f) and sum(f.cost) > 0 for f in facts)


# -- specs ------------------------------------------------------------------------------------


def parse_spec(text: str) -> dict[str, str]:
    """`spike:workspace=NAME:day=-3:x=6` -> its fields (the first part may be the bare kind)."""
    parts = [p.strip() for p in text.strip().split(":")]
    if not parts[0]:
        raise InjectionError(f"empty injection spec; expected e.g. {EXAMPLE}")
    out: dict[str, str] = {}
    for i, part in enumerate(parts):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            if i == 0:
                out["kind"] = name
                continue
            raise InjectionError(f"'{part}' is not NAME=VALUE (spec '{text}')")
        if name in out:
            raise InjectionError(f"'{name}' is given twice (spec '{text}')")
        out[name] = value.strip()
    return out


def _field(fields: Mapping[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InjectionError(f"{name}: expected a string or a number, got {value!r}")
    text = str(value).strip()
    if not text:
        raise InjectionError(f"{name}: empty value")
    return text


def _number(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InjectionError(f"{name}: '{text}' is not a number") from None
    if not value.is_finite():
        raise InjectionError(f"{name}: '{text}' is not a finite number")
    return value


def _day(text: str, world: World, today: date) -> date:
    if _OFFSET.match(text):
        day = today + timedelta(days=int(text))
    else:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InjectionError(
                f"day: '{text}' is neither a date (YYYY-MM-DD) nor a day offset such as -3"
            ) from None
    if day < world.history_start:
        raise InjectionError(
            f"day: {day.isoformat()} is before the history (from {world.history_start.isoformat()})"
        )
    return day


def _one(scope: str, ref: str, found: list[tuple[Organization, str, str]]) -> tuple[str, str, str]:
    """(org id, entity id, label) of the single match of `ref`."""
    unique = {(o.id, entity): (o.id, entity, label) for o, entity, label in found}
    if not unique:
        how = {"user": "its id, e-mail or name"}.get(scope, "its id or name")
        raise InjectionError(f"{scope}: no {scope} '{ref}' (give {how})")
    if len(unique) > 1:
        raise InjectionError(
            f"{scope}: '{ref}' matches {len(unique)} entities; give its id, or org=NAME"
        )
    return next(iter(unique.values()))


def _entity(scope: str, ref: str, orgs: list[Organization]) -> tuple[str, str, str]:
    found: list[tuple[Organization, str, str]] = []
    folded = ref.casefold()
    for o in orgs:
        if scope == "workspace":
            found += [(o, w.id, w.name) for w in o.workspaces if ref in (w.id, w.name)]
        elif scope == "api_key":
            found += [(o, k.id, k.name) for k in o.api_keys if ref in (k.id, k.name)]
        else:
            found += [
                (o, u.id, u.email)
                for u in o.users
                if ref in (u.id, u.name) or u.email.casefold() == folded
            ]
    return _one(scope, ref, found)


def resolve(fields: Mapping[str, object], world: World, today: date) -> Injection:
    """Validate a spec's fields against the organizations; relative days count from `today`."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InjectionError(f"unknown field '{unknown[0]}' (expected {', '.join(FIELDS)})")
    kind = _field(fields, "kind")
    if kind not in KINDS:
        raise InjectionError(f"kind: expected spike or shift, got {kind!r} (e.g. {EXAMPLE})")
    scopes = [s for s in SCOPES if _field(fields, s) is not None]
    if len(scopes) != 1:
        raise InjectionError(
            f"give exactly one of {', '.join(SCOPES)} (got {', '.join(scopes) or 'none'})"
        )
    scope = scopes[0]
    ref = _field(fields, scope) or ""
    org_ref = _field(fields, "org")
    orgs = world.orgs
    if org_ref is not None:
        org = world.org_by_ref(org_ref)
        if org is None:
            raise InjectionError(f"org: no organization '{org_ref}'")
        orgs = [org]
    day_text = _field(fields, "day")
    if day_text is None:
        raise InjectionError("day: field required (a date, or an offset from today such as -3)")
    day = _day(day_text, world, today)
    x_text, add_text = _field(fields, "x"), _field(fields, "add")
    if (x_text is None) == (add_text is None):
        raise InjectionError(
            "give exactly one of x (a factor) or add (US dollars, spikes only)"
            if kind == "spike"
            else "a shift takes x (a factor)"
        )
    x: Decimal | None = None
    add: Decimal | None = None
    if x_text is not None:
        x = _number("x", x_text)
        if not 0 < x <= MAX_FACTOR:
            raise InjectionError(f"x: must be above 0 and at most {MAX_FACTOR}, got {x_text}")
    else:
        if kind == "shift":
            raise InjectionError("add: a shift takes x (a factor); add is for spikes only")
        add = _number("add", add_text or "")
        if add <= 0:
            raise InjectionError(f"add: must be a positive amount of US dollars, got {add_text}")
    if scope == "model":
        if ref not in PRICE_BOOK:
            raise InjectionError(f"model: no model '{ref}' (one of {', '.join(PRICE_BOOK)})")
        if add is not None and org_ref is None:
            raise InjectionError("add on a model needs org=NAME (the organization it goes to)")
        org_id, entity, label = (orgs[0].id if org_ref else None), ref, ref
    else:
        org_id, entity, label = _entity(scope, ref, orgs)
    return Injection(kind, scope, entity, label, org_id, day, x, add)
