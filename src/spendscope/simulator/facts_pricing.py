"""The price book and the pricing of facts (list price, then the organization's discount)."""

from __future__ import annotations

from dataclasses import dataclass

from .facts import CODE_EXECUTION, COMPONENTS, MICRO, SESSION_USAGE, WEB_SEARCH, Fact
from .world import Organization


@dataclass(frozen=True, slots=True)
class ModelPrice:
    name: str
    display: str
    input: int  # micro-cents per uncached input token (= US$ per MTok x 100)
    output: int
    supports_geo: bool = True
    supports_long_context: bool = False
    supports_fast: bool = False


PRICE_BOOK: dict[str, ModelPrice] = {
    m.name: m
    for m in (
        ModelPrice("claude-opus-5", "Claude Opus 5", 500, 2500, True, True, True),
        ModelPrice("claude-sonnet-5", "Claude Sonnet 5", 300, 1500, True, True, False),
        ModelPrice("claude-haiku-4-5", "Claude Haiku 4.5", 100, 500, False, False, False),
        ModelPrice("claude-opus-4-6", "Claude Opus 4.6", 500, 2500, True, True, True),
        ModelPrice("claude-sonnet-4-20250514", "Claude Sonnet 4", 300, 1500, False, True, False),
    )
}
# Token-type multipliers on the input price (output has its own price), as (num, den).
CACHE_READ = (1, 10)
CACHE_5M = (5, 4)
CACHE_1H = (2, 1)
TIER_MULT = {
    "standard": (1, 1),
    "batch": (1, 2),
    "priority": (5, 4),
    "priority_on_demand": (3, 2),
    "flex": (1, 2),
    "flex_discount": (2, 5),
    None: (1, 1),
}
LONG_CONTEXT_INPUT = (2, 1)
LONG_CONTEXT_OUTPUT = (3, 2)
GEO_US = (11, 10)
FAST = (6, 1)
WEB_SEARCH_MICRO = 1 * MICRO  # US$10 per 1,000 searches = 1 cent each
CODE_EXEC_MICRO_PER_SECOND = 5 * MICRO // 3600  # US$0.05 per container-hour, per second
SESSION_MICRO_PER_SECOND = 8 * MICRO // 3600  # US$0.08 per session-hour


def _mul(value: int, *fractions: tuple[int, int]) -> int:
    """value x product(fractions), rounded half to even, in integers."""
    num, den = value, 1
    for n, d in fractions:
        num *= n
        den *= d
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2 == 1):
        q += 1
    return q


def price_fact(f: Fact, discount: tuple[int, int]) -> None:
    """Fill f.list_cost and f.cost (micro-cents per component, see COMPONENTS)."""
    lst = [0] * len(COMPONENTS)
    if f.kind == "tokens" and f.model is not None:
        p = PRICE_BOOK[f.model]
        tier = TIER_MULT[f.service_tier]
        extra: list[tuple[int, int]] = [tier]
        if f.inference_geo == "us":
            extra.append(GEO_US)
        if f.speed == "fast":
            extra.append(FAST)
        long_ctx = f.context_window == "200k-1M"
        inp = [*extra, LONG_CONTEXT_INPUT] if long_ctx else extra
        out = [*extra, LONG_CONTEXT_OUTPUT] if long_ctx else extra
        lst[0] = _mul(f.uncached * p.input, *inp)
        lst[1] = _mul(f.output * p.output, *out)
        lst[2] = _mul(f.cache_read * p.input, CACHE_READ, *inp)
        lst[3] = _mul(f.cache_5m * p.input, CACHE_5M, *inp)
        lst[4] = _mul(f.cache_1h * p.input, CACHE_1H, *inp)
        lst[WEB_SEARCH] = f.web_search * WEB_SEARCH_MICRO
    elif f.kind == "code_execution":
        lst[CODE_EXECUTION] = f.seconds * CODE_EXEC_MICRO_PER_SECOND
    elif f.kind == "session":
        lst[SESSION_USAGE] = f.seconds * SESSION_MICRO_PER_SECOND
    f.list_cost = tuple(lst)
    # Web search is never discounted; everything else gets the organization's rate.
    f.cost = tuple(v if i == WEB_SEARCH else _mul(v, discount) for i, v in enumerate(lst))


def discount_of(org: Organization) -> tuple[int, int]:
    """The organization's discount rate as a fraction (num, den), e.g. "0.95" -> (95, 100)."""
    num, _, frac = org.discount_rate.partition(".")
    den = 10 ** len(frac)
    return int(num) * den + int(frac or 0), den
