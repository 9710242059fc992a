"""Synthetic usage facts: the one record every endpoint aggregates.

A *fact* is the finest grain the simulator knows: the usage of one combination of dimensions
during one UTC minute. Every endpoint (Console reports, analytics API, legacy Enterprise reports,
`/_simulator/truth`) aggregates the same facts, which is what keeps them consistent.

Money is held as integers in micro-cents (1e-6 of a US cent), so sums are exact; the API's
decimal strings in cents are rendered from them with `cents()`. Prices are in
`facts_pricing.py`, generation in `facts_generation.py`, revisions and the cache in
`facts_store.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

MICRO = 1_000_000  # micro-cents per cent

TOKEN_TYPES = (
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)
COST_TYPES = ("tokens", "web_search", "code_execution", "session_usage")
# Index of each cost component in Fact.list_cost / Fact.cost.
WEB_SEARCH, CODE_EXECUTION, SESSION_USAGE = 5, 6, 7
COMPONENTS: tuple[tuple[str, str | None], ...] = (
    *(("tokens", t) for t in TOKEN_TYPES),
    ("web_search", None),
    ("code_execution", None),
    ("session_usage", None),
)


def cents(micro: int) -> str:
    """Render micro-cents as the API's decimal string in cents, e.g. 123456789 -> '123.456789'."""
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    return f"{sign}{micro // MICRO}.{micro % MICRO:06d}"


@dataclass(slots=True, kw_only=True, eq=False)
class Fact:
    """Usage of one dimension combination in one UTC minute."""

    kind: str  # "tokens" | "code_execution" | "session"
    org_id: str
    day: date
    idx: int
    minute: int
    model: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None  # "global" | "us" | "not_available" | None
    speed: str | None = None
    service_tier: str | None = None
    product: str | None = None
    workspace_id: str | None = None  # real id, default workspace included
    api_key_id: str | None = None
    account_id: str | None = None  # Console: user account (OAuth) that made the request
    service_account_id: str | None = None
    user_id: str | None = None  # the user the usage is attributed to (both kinds)
    actor_type: str | None = None
    agent_id: str | None = None
    deployment_id: str | None = None
    environment_id: str | None = None
    session_id: str | None = None
    claude_tag_category: str | None = None
    claude_tag_user_id: str | None = None
    slack_channel_id: str | None = None
    uncached: int = 0
    cache_read: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    output: int = 0
    web_search: int = 0
    requests: int = 0
    seconds: int = 0  # code execution / session runtime
    # Micro-cents per component (see COMPONENTS), filled by `facts_pricing.price_fact`.
    list_cost: tuple[int, ...] = ()
    cost: tuple[int, ...] = ()

    def copy(self) -> Fact:
        return replace(self)

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC) + timedelta(
            minutes=self.minute
        )

    @property
    def total_tokens(self) -> int:
        return self.uncached + self.cache_read + self.cache_5m + self.cache_1h + self.output

    def tokens_of(self, token_type: str) -> int:
        return {
            "uncached_input_tokens": self.uncached,
            "output_tokens": self.output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation.ephemeral_5m_input_tokens": self.cache_5m,
            "cache_creation.ephemeral_1h_input_tokens": self.cache_1h,
        }[token_type]
