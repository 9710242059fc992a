"""What a question may ask for: dimensions, metrics, granularities, filters and the scope.

Dimensions, metrics and granularities come from fixed tables; a name from the outside is looked
up here and never becomes SQL text. A bad name or range raises `invalid_input`'s error, which
every interface shows as a bad-input message with a hint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..errors import InvalidInput
from ..money import exact, exact_units
from ..warehouse.marts import MART_SPEND, MART_USAGE

# Keys (and labels) that are not values of a dimension.
NONE_KEY = "__none__"
NONE_LABEL = "(none)"
OTHER_KEY = "__other__"
TOTAL_KEY = "__total__"

# Connection kinds, as the marts' `connection_kind` column holds them.
CONSOLE = "console"
ENTERPRISE = "enterprise"
CONNECTION_KINDS = (CONSOLE, ENTERPRISE)
_BOTH_KINDS = frozenset(CONNECTION_KINDS)


def invalid_input(message: str, hint: str) -> InvalidInput:
    """The error for a question that cannot be asked (unknown name, empty range, …): the
    command's input is wrong (exit 2; HTTP 400)."""
    return InvalidInput(message, hint)


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    label: str
    key: str  # SQL over a mart row: the value filtered and grouped on
    names: str | None = None  # table (id, name) giving what a person reads, looked up by key
    spend_only: bool = False
    # Which connection kinds need their alternate grain to answer for this dimension.
    alternate_for: frozenset[str] = frozenset()
    # Which connection kinds' canonical grain is needed (the alternate one lacks it).
    canonical_for: frozenset[str] = frozenset()
    # An allocation dimension (team, cost_center, …): read from `allocation_rows`.
    allocation: bool = False


_CONSOLE_ONLY = frozenset({CONSOLE})
_ENTERPRISE_ONLY = frozenset({ENTERPRISE})

DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("connection", "Connection", "connection_label"),
        Dimension("organization", "Organization", "organization_id"),
        Dimension(
            "workspace", "Workspace", "workspace_id", "workspaces", canonical_for=_CONSOLE_ONLY
        ),
        Dimension("api_key", "API key", "api_key_id", "api_keys", canonical_for=_CONSOLE_ONLY),
        Dimension("user", "User", "user_key", canonical_for=_ENTERPRISE_ONLY),
        Dimension("product", "Product", "product", alternate_for=_CONSOLE_ONLY),
        Dimension("model", "Model", "model"),
        Dimension("service_tier", "Service tier", "service_tier", canonical_for=_BOTH_KINDS),
        Dimension("context_window", "Context window", "context_window", canonical_for=_BOTH_KINDS),
        Dimension("inference_geo", "Inference geo", "inference_geo", alternate_for=_BOTH_KINDS),
        Dimension("speed", "Speed", "speed", alternate_for=_BOTH_KINDS),
        Dimension("token_type", "Token type", "token_type"),
        Dimension("cost_type", "Cost type", "cost_type", spend_only=True),
        Dimension("provider", "Provider", "provider"),
        Dimension("billing_account", "Billing account", "connection_label"),
        Dimension(
            "project", "Project / account", "project", "workspaces", canonical_for=_BOTH_KINDS
        ),
        Dimension("service", "Service", "product", alternate_for=_CONSOLE_ONLY),
        Dimension("sku", "SKU", "sku", canonical_for=_BOTH_KINDS),
        Dimension("resource", "Resource", "model"),
    )
}


def allocation_dimension(name: str) -> Dimension:
    """A user-defined allocation dimension: billed cost only, at the canonical grain (where
    every spend row is allocated)."""
    return Dimension(
        name,
        name.replace("_", " ").capitalize(),
        "value",
        spend_only=True,
        canonical_for=_BOTH_KINDS,
        allocation=True,
    )


# Dimensions whose values can be user e-mail addresses (Enterprise's project is the user).
EMAIL_DIMENSIONS = frozenset({"user", "project"})


def dimension_key(value: Any) -> str:
    """A dimension value as a key for the outside (a missing value has a key of its own)."""
    return NONE_KEY if value is None else str(value)


def dimension_label(key: Any, label: Any) -> str:
    """What a person reads for a dimension value: its looked-up name, else the value."""
    if key is None:
        return NONE_LABEL
    return str(label if label is not None else key)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    label: str
    unit: str  # usd or count
    mart: str
    expr: str  # SQL aggregate over mart rows

    def present(self, raw: Any) -> Any:
        """A value of this metric for the outside: exact decimal text for money (summed
        nano-cents in), an int for counts; nothing counts as zero."""
        if raw is None:
            return exact(0) if self.unit == "usd" else 0
        if self.unit == "usd":
            return exact_units(int(raw))
        return int(raw)


TOKEN_COLUMNS = {
    # usage column -> the token_type value the cost endpoint uses for it
    "uncached_input_tokens": "uncached_input_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation_5m_input_tokens": "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation_1h_input_tokens": "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens": "output_tokens",
}
_ALL_TOKENS = " + ".join(TOKEN_COLUMNS)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("cost", "Billed cost", "usd", MART_SPEND, "sum(billed_nc)"),
        Metric("list_cost", "List cost", "usd", MART_SPEND, "sum(list_nc)"),
        Metric("tokens", "Tokens (all types)", "count", MART_USAGE, f"sum({_ALL_TOKENS})"),
        Metric(
            "uncached_input_tokens",
            "Uncached input tokens",
            "count",
            MART_USAGE,
            "sum(uncached_input_tokens)",
        ),
        Metric(
            "cache_read_input_tokens",
            "Cache read tokens",
            "count",
            MART_USAGE,
            "sum(cache_read_input_tokens)",
        ),
        Metric(
            "cache_creation_5m_input_tokens",
            "Cache write tokens (5 min)",
            "count",
            MART_USAGE,
            "sum(cache_creation_5m_input_tokens)",
        ),
        Metric(
            "cache_creation_1h_input_tokens",
            "Cache write tokens (1 h)",
            "count",
            MART_USAGE,
            "sum(cache_creation_1h_input_tokens)",
        ),
        Metric("output_tokens", "Output tokens", "count", MART_USAGE, "sum(output_tokens)"),
        Metric(
            "web_search_requests",
            "Web searches",
            "count",
            MART_USAGE,
            "sum(web_search_requests)",
        ),
        Metric("requests", "Requests", "count", MART_USAGE, "sum(requests)"),
    )
}

# Granularity -> SQL giving a row's period start from its `day`.
GRANULARITIES = {
    "day": "day",
    "week": "CAST(date_trunc('week', day) AS DATE)",
    "month": "CAST(date_trunc('month', day) AS DATE)",
}


def metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise invalid_input(
            f"Unknown metric '{name}'.", f"Use one of: {', '.join(METRICS)}."
        ) from None


def dimension(
    name: str, m: Metric | None = None, extra: Mapping[str, Dimension] | None = None
) -> Dimension:
    """The dimension `name` (built in, or one of `extra`: the warehouse's allocation
    dimensions), checked to apply to metric `m` when one is given."""
    d = DIMENSIONS.get(name) or (extra or {}).get(name)
    if d is None:
        known = [*DIMENSIONS, *(extra or {})]
        raise invalid_input(f"Unknown dimension '{name}'.", f"Use one of: {', '.join(known)}.")
    if m is not None and d.spend_only and m.mart != MART_SPEND:
        raise invalid_input(
            f"'{name}' applies to cost metrics only, not to '{m.name}'.",
            "Pick cost or list_cost, or another dimension.",
        )
    return d


def granularity_sql(name: str) -> str:
    """The SQL giving a row's period start for the granularity `name`."""
    try:
        return GRANULARITIES[name]
    except KeyError:
        raise invalid_input(
            f"Unknown granularity '{name}'.", f"Use one of: {', '.join(GRANULARITIES)}."
        ) from None


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """`dimension:value` strings (the API's and CLI's filter syntax) into a mapping. Names are
    checked when the question is asked (allocation dimensions belong to the warehouse)."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise invalid_input(
                f"Filter '{item}' is not 'dimension:value'.", "Write it like model:claude-opus-4-5."
            )
        out.setdefault(name, []).append(value)
    return out


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows a question covers: days [since, until) and filters (dimension -> values)."""

    since: date
    until: date
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise invalid_input(
                f"The range {self.since} … {self.until} is empty.",
                "'until' is exclusive and must be after 'since'.",
            )
