"""The alert record: what an evaluator (budgets, anomalies, sync health) hands to delivery.

An alert's identity is its **fingerprint**, a stable digest of its kind, scope, subject and
period: the same budget threshold in the same month always has the same fingerprint, whatever
the figures, so re-evaluating the same data (or a revised copy of it) names the same alert. Its
`status` is `firing` or `resolved`. One firing and, when it clears, one resolved notification
are sent per channel (and, when a route sets a repeat interval, a **repeat** of the firing one
each interval while it fires); an alert that fires again after resolving starts a new
**cycle**. Notices a route holds are sent together as one message, a `Bundle`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import InvalidInput

SCHEMA_VERSION = 1
STATUSES = ("firing", "resolved")
SEVERITIES = ("info", "warning", "critical")
FINGERPRINT_VERSION = "alert.v1"


class Link(NamedTuple):
    """A link shown with an alert (a dashboard page, a report)."""

    title: str
    url: str


def fingerprint(kind: str, scope: str, subject: str, period: str) -> str:
    """The stable identity of an alert: 32 hex digits of SHA-256 over its kind, scope, subject
    and period (never over figures, which revisions change)."""
    text = "\x1f".join((FINGERPRINT_VERSION, kind, scope, subject, period))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def idempotency_key(fingerprint: str, cycle: int, status: str, repeat: int = 0) -> str:
    """The key a receiver de-duplicates on: the same for every attempt (and every channel) of
    one notification, different for the next status, cycle or repeat."""
    parts = ["notice.v1", fingerprint, str(cycle), status] + ([str(repeat)] if repeat else [])
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def json_value(value: Any) -> Any:
    """`value` as JSON can carry it: decimals as exact text, dates and times in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} is not a JSON value")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as an evaluator sees it now. `fingerprint` is computed when left empty."""

    kind: str
    scope: str
    subject: str
    period: str
    severity: str
    title: str
    text: str
    status: str = "firing"
    links: tuple[Link, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    def __post_init__(self) -> None:
        for name in ("kind", "scope", "title"):
            if not str(getattr(self, name)).strip():
                raise InvalidInput(f"an alert needs a non-empty {name}")
        if self.status not in STATUSES:
            raise InvalidInput(f"alert status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.severity not in SEVERITIES:
            raise InvalidInput(
                f"alert severity {self.severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        links = tuple(Link(str(t), str(u)) for t, u in self.links)
        for link in links:
            if urlsplit(link.url).scheme not in ("http", "https"):
                raise InvalidInput(f"alert link {link.title!r} is not an http(s) URL")
        object.__setattr__(self, "links", links)
        object.__setattr__(self, "details", json_value(dict(self.details)))
        if not self.fingerprint:
            found = fingerprint(self.kind, self.scope, self.subject, self.period)
            object.__setattr__(self, "fingerprint", found)

    def resolved(self) -> Alert:
        """The same alert, cleared."""
        return replace(self, status="resolved")

    def details_json(self) -> str:
        return json.dumps(self.details, sort_keys=True, ensure_ascii=False)

    def links_json(self) -> str:
        return json.dumps([{"title": t, "url": u} for t, u in self.links], ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification of an alert: the alert in one status of one cycle, as persisted.

    `started_at` is when this cycle began firing; `resolved_at` when it cleared (resolved
    notices only)."""

    alert: Alert
    cycle: int
    started_at: datetime
    resolved_at: datetime | None = None
    repeat: int = 0

    @property
    def status(self) -> str:
        return self.alert.status

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.alert.fingerprint, self.cycle, self.alert.status, self.repeat)


@dataclass(frozen=True, slots=True)
class Bundle:
    """Notices sent as one message: a `group` (notices of one route group due together) or a
    channel's daily `digest`. `label` says which (the grouped values, or the digest's day)."""

    kind: str
    label: str
    notices: tuple[Notice, ...]

    @property
    def idempotency_key(self) -> str:
        """A digest of its notices' keys: the same for every attempt of this message."""
        keys = sorted(n.idempotency_key for n in self.notices)
        text = "\x1f".join(("bundle.v1", self.kind, *keys))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    @property
    def counts(self) -> dict[str, int]:
        """How many notices are firing and how many resolved."""
        out = {"firing": 0, "resolved": 0}
        for notice in self.notices:
            out[notice.status] += 1
        return out
