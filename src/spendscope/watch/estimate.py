"""An estimate of spend that is not billed (yet): what the `billed_estimated` basis adds.

Two kinds of usage have no cost in the warehouse:

- **unbilled usage**: a connection's usage of a day on which that connection has no cost at all
  (its cost report is behind its usage report, or that day's cost is not loaded yet);
- **Priority Tier usage** (`service_tier` `priority` or `priority_on_demand`) on days whose cost
  comes from the legacy Console cost report, which leaves that tier out.

**Prices come from the organization's own history**, as effective unit prices: billed cost over
units (tokens of a token type, or web searches), both summed over a combination's
`PRICE_DAYS` most recent days with both, among the days read (the caller's range). Only
complete history counts: days no later than the connection's cost feed is complete through,
and cost not provisional; on legacy Console days, the usage of the tiers that report leaves out
is not set against its cost. Each price is kept as the two integer sums (cost in 1e-11 USD,
units), so it is exact; an estimated amount is rounded once, to 1e-11 USD, per day and
combination. A usage row is priced by the first of:

1. its **combination**: connection, unit, product, model, service tier, context window,
   inference geo and speed, as the canonical grain carries them (the analytics API's canonical
   grain has no geo or speed; the legacy reports have both, and no product);
2. the same without geo and speed, or else its connection, unit, model, tier and context window
   alone (product, geo and speed pooled) — how Priority Tier usage on legacy days is priced,
   from days the analytics API reported its cost;
3. the **published price** (`PUBLISHED_PRICES`, see below).

A price from 2 pools geo and speed, whose prices differ (fast mode costs several times the
standard speed): it is scaled by the **mix factor** of the row's geo and speed — the price of the
connection's model at that geo and speed over its price at every geo and speed, both from the
alternate grain of the analytics API (which has geo and speed but no tier). A row without geo or
speed (unbilled usage of an analytics day) is scaled by its day's mix instead: the day's
alternate-grain usage of the connection and model priced at each geo and speed, over the same
usage at the pooled price. No alternate-grain history: no scaling. Web searches have one price
per connection.

`PUBLISHED_PRICES` is a per-model table of US dollars per million tokens by token type, holding
only what the reference the product is built on states. That reference states no price and no
Priority Tier multiplier, so the table is empty: usage with no price in the history is left out
of the estimate and counted (`unpriced_tokens`, `unpriced_web_searches`, with its models), never
guessed. Code execution and managed-agent session time have no usage to price; a day with any
cost of its connection is taken as billed.

Usage is read from `mart_usage` at the canonical grain, with the scope's filters. An allocation
dimension (team, cost centre, …) divides billed cost, not usage, so its scopes have no estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..money import UNITS_PER_DOLLAR, dollars, usd
from ..reporting.catalog import TOKEN_COLUMNS, Scope, metric
from ..reporting.sql import (
    allocation_dimensions,
    dimensions_needed,
    privacy,
    reveal_filters,
    where_clause,
)
from ..warehouse.connection import Warehouse
from ..warehouse.legacy_split import UNBILLED_TIERS
from ..warehouse.marts import MART_SPEND, MART_USAGE
from ..warehouse.schema import DATASET

# A price is taken over a combination's most recent days with both cost and usage, this many.
PRICE_DAYS = 28
WEB_SEARCH = "web_search"
# The unit each usage column is priced in: the cost report's token type, or web searches.
UNITS = {**TOKEN_COLUMNS, "web_search_requests": WEB_SEARCH}
# A combination, besides its connection and unit.
KEY = ("product", "model", "service_tier", "context_window", "inference_geo", "speed")
# What the estimate is of.
UNBILLED = "unbilled"
PRIORITY = "priority"

# Published prices: US dollars per million tokens, by model and token type (the cost report's
# `token_type` values), at the standard tier, the base context window (0-200k), the global (or
# no) geo and standard speed. Only prices the reference (the project's docs/anthropic-api.md)
# states belong here; it states none.
PUBLISHED_PRICES: Mapping[str, Mapping[str, Decimal]] = {}
# Priority Tier's multiplier on a published price (None: the reference states none).
PRIORITY_MULTIPLIER: Decimal | None = None
_MILLION = Decimal(1_000_000)

# -- what an estimate holds ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayEstimate:
    """An estimate (US dollars, to 1e-11) and what it left out, of one day or several."""

    unbilled: Decimal = Decimal(0)
    priority: Decimal = Decimal(0)
    unpriced_tokens: int = 0
    unpriced_web_searches: int = 0
    # Connections with usage and no cost on the day(s).
    unbilled_connections: frozenset[str] = frozenset()
    # Models of the usage left out for want of a price.
    unpriced_models: frozenset[str] = frozenset()

    @property
    def amount(self) -> Decimal:
        return self.unbilled + self.priority

    def __add__(self, other: DayEstimate) -> DayEstimate:
        return DayEstimate(
            self.unbilled + other.unbilled,
            self.priority + other.priority,
            self.unpriced_tokens + other.unpriced_tokens,
            self.unpriced_web_searches + other.unpriced_web_searches,
            self.unbilled_connections | other.unbilled_connections,
            self.unpriced_models | other.unpriced_models,
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """The estimate of each day of a range that has one; `unavailable` says why a scope has
    none at all."""

    days: Mapping[date, DayEstimate] = field(default_factory=dict)
    unavailable: str | None = None

    def between(self, first: date, last: date) -> DayEstimate:
        """The days from `first` through `last`, summed."""
        total = DayEstimate()
        for d, e in self.days.items():
            if first <= d <= last:
                total += e
        return total


# -- SQL ----------------------------------------------------------------------------------------

_TIERS = ", ".join(f"'{t}'" for t in UNBILLED_TIERS)
_KEYS = ", ".join(KEY)
MIX_KEY = ("product", "model", "inference_geo", "speed")
# The product of a mix factor of any product.
ANY = "*"
_BROAD = "model, service_tier, context_window"
_MIX = "model, inference_geo, speed"


def _text(column: str) -> str:
    """A key column as text: '' for none (an unset geo, `not_available`, counts as none)."""
    value = f"CAST({column} AS VARCHAR)"
    if column.endswith("inference_geo"):
        value = f"NULLIF({value}, 'not_available')"
    return f"COALESCE({value}, '')"


def _keys(prefix: str, columns: tuple[str, ...] = KEY) -> str:
    """Key columns as text; web searches are kept by their connection alone."""
    return ", ".join(
        f"CASE WHEN unit = '{WEB_SEARCH}' THEN '' ELSE {_text(prefix + c)} END AS {c}"
        for c in columns
    )


def _unpivot(prefix: str) -> str:
    """A usage row as one row per unit (`unit`, `n`)."""
    units = ", ".join(f"'{u}'" for u in UNITS.values())
    counts = ", ".join(f"{prefix}{c}" for c in UNITS)
    return f"unnest([{units}]) AS unit, unnest([{counts}]) AS n"


def _cost_unit(prefix: str) -> str:
    return (
        f"CASE WHEN CAST({prefix}cost_type AS VARCHAR) = 'tokens' "
        f"THEN CAST({prefix}token_type AS VARCHAR) ELSE '{WEB_SEARCH}' END"
    )


def _billed(first: date, last: date) -> str:
    """Each connection-day with cost, and whether the legacy Console cost report gave it."""
    return f"""billed AS (
    SELECT CAST(connection_label AS VARCHAR) AS conn, day,
        bool_or(canon AND alt AND CAST(connection_kind AS VARCHAR) = 'console') AS legacy
    FROM {DATASET}.{MART_SPEND}
    WHERE canon AND day >= DATE '{first}' AND day <= DATE '{last}' GROUP BY ALL
)"""


def _history(grain: str, first: date, last: date) -> str:
    """Billed cost (`nc`) and billed units (`n`) per connection, day, unit and key, on complete
    days with both: `canon` at the canonical grain (and legacy days), by `KEY`; `alt` at the
    analytics API's alternate grain, tokens only, by model, geo and speed."""
    rows = "{t}.canon" if grain == "canon" else "{t}.alt AND NOT {t}.canon"
    cols = KEY if grain == "canon" else MIX_KEY
    names = ", ".join(cols)
    return f"""{grain}_cost AS (
    SELECT conn, day, unit, {_keys("", cols)}, sum(nc) AS nc FROM (
        SELECT CAST(s.connection_label AS VARCHAR) AS conn, s.day, {_cost_unit("s.")} AS unit,
            {", ".join(f"s.{c}" for c in cols)}, s.billed_nc AS nc
        FROM {DATASET}.{MART_SPEND} s JOIN cost_through t
            ON t.conn = CAST(s.connection_label AS VARCHAR) AND s.day <= t.complete_through
        WHERE {rows.format(t="s")} AND NOT s.is_provisional
            AND s.day >= DATE '{first}' AND s.day <= DATE '{last}'
            AND CAST(s.cost_type AS VARCHAR) IN ('tokens', '{WEB_SEARCH}')
    ) GROUP BY ALL
), {grain}_usage AS (
    SELECT conn, day, unit, {_keys("", cols)}, sum(n) AS n FROM (
        SELECT b.conn, u.day, {", ".join(f"u.{c}" for c in cols)}, {_unpivot("u.")}
        FROM {DATASET}.{MART_USAGE} u
        JOIN billed b ON b.conn = CAST(u.connection_label AS VARCHAR) AND b.day = u.day
        WHERE {rows.format(t="u")} AND u.day >= DATE '{first}' AND u.day <= DATE '{last}'
            AND NOT (b.legacy AND COALESCE(CAST(u.service_tier AS VARCHAR), '') IN ({_TIERS}))
    ) GROUP BY ALL
), {grain} AS (
    SELECT * FROM {grain}_cost JOIN {grain}_usage USING (conn, day, unit, {names})
    WHERE nc > 0 AND n > 0{"" if grain == "canon" else f" AND unit <> '{WEB_SEARCH}'"}
)"""


def _level(name: str, grain: str, by: str, any_product: bool = False) -> str:
    """One level of prices: the sums over each `by` combination's `PRICE_DAYS` most recent
    days, in the columns of the price query (`ANY` as the product of a level of any)."""
    cols = {c: (c if c in by.split(", ") else "''") for c in KEY}
    if any_product:
        cols["product"] = f"'{ANY}'"
    shown = ", ".join(f"{v} AS {c}" for c, v in cols.items())
    return f"""SELECT '{name}' AS level, conn, unit, {shown}, sum(nc) AS nc, sum(n) AS n FROM (
    SELECT *, dense_rank() OVER (PARTITION BY conn, unit, {by} ORDER BY day DESC) AS r
    FROM {grain}
) WHERE r <= {PRICE_DAYS} GROUP BY ALL"""


def _prices_sql(first: date, last: date) -> str:
    return f"""WITH {_billed(first, last)}, cost_through AS (
    SELECT connection_label AS conn, complete_through
    FROM {DATASET}.sync_state WHERE feed = 'cost' AND complete_through IS NOT NULL
), {_history("canon", first, last)}, {_history("alt", first, last)}
{_level("exact", "canon", _KEYS)}
UNION ALL {_level("broad", "canon", _BROAD)}
UNION ALL {_level("mix", "alt", f"product, {_MIX}")}
UNION ALL {_level("mix", "alt", _MIX, any_product=True)}
UNION ALL {_level("pooled", "alt", "product, model")}
UNION ALL {_level("pooled", "alt", "model", any_product=True)}"""


def _rows_sql(first: date, last: date, scope_where: str) -> str:
    """The usage to estimate — the scope's usage of connection-days without cost, and of the
    unbilled tiers on legacy Console days — and, for the connection-days without cost, their
    alternate-grain usage (the day's geo and speed mix; not filtered: that grain has no
    workspace or key)."""
    return f"""WITH {_billed(first, last)}
SELECT part, day, conn, unit, {_KEYS}, sum(n) AS n FROM (
    SELECT day, conn, unit, part, {_keys("")}, n FROM (
        SELECT u.day, CAST(u.connection_label AS VARCHAR) AS conn, {_unpivot("u.")},
            CASE WHEN b.day IS NULL THEN '{UNBILLED}' ELSE '{PRIORITY}' END AS part,
            {", ".join(f"u.{c}" for c in KEY)}
        FROM (SELECT * FROM {DATASET}.{MART_USAGE} WHERE {scope_where}) u
        LEFT JOIN billed b ON b.conn = CAST(u.connection_label AS VARCHAR) AND b.day = u.day
        WHERE b.day IS NULL
            OR (b.legacy AND COALESCE(CAST(u.service_tier AS VARCHAR), '') IN ({_TIERS}))
    )
    UNION ALL
    SELECT day, conn, unit, 'day_mix' AS part, {_keys("")}, n FROM (
        SELECT u.day, CAST(u.connection_label AS VARCHAR) AS conn, {_unpivot("u.")},
            u.product, u.model, NULL AS service_tier, NULL AS context_window,
            u.inference_geo, u.speed
        FROM {DATASET}.{MART_USAGE} u
        LEFT JOIN billed b ON b.conn = CAST(u.connection_label AS VARCHAR) AND b.day = u.day
        WHERE u.alt AND NOT u.canon AND b.day IS NULL
            AND u.day >= DATE '{first}' AND u.day <= DATE '{last}'
    ) WHERE unit <> '{WEB_SEARCH}'
) WHERE n > 0 GROUP BY ALL ORDER BY 1, 2"""


# -- prices -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Prices in 1e-11 USD per unit, exact, by level (see the module's docstring): `exact`
    by (connection, unit, product, model, tier, context window, geo, speed); `broad` by
    (connection, unit, model, tier, context window); `mix` by (connection, unit, product,
    model, geo, speed) and `pooled` by (connection, unit, product, model), both from the
    alternate grain, a product of `ANY` pooling the products."""

    exact: Mapping[tuple[str, ...], Fraction]
    broad: Mapping[tuple[str, ...], Fraction]
    mix: Mapping[tuple[str, ...], Fraction]
    pooled: Mapping[tuple[str, ...], Fraction]

    def factor(
        self, conn: str, unit: str, product: str, model: str, geo: str, speed: str
    ) -> Fraction | None:
        """The mix factor of a geo and speed: their price over the pooled one, for the product
        (of any product when it has none, or no history)."""
        for p in (product, ANY) if product else (ANY,):
            at = self.mix.get((conn, unit, p, model, geo, speed))
            pooled = self.pooled.get((conn, unit, p, model))
            if at is not None and pooled:
                return at / pooled
        return None


def read_prices(warehouse: Warehouse, first: date, last: date) -> PriceBook:
    """The price book from the days `first` through `last`."""
    levels: dict[str, dict[tuple[str, ...], Fraction]] = {
        "exact": {},
        "broad": {},
        "mix": {},
        "pooled": {},
    }
    for level, conn, unit, product, model, tier, context, geo, speed, nc, n in warehouse.read(
        _prices_sql(first, last)
    ):
        key = {
            "exact": (conn, unit, product, model, tier, context, geo, speed),
            "broad": (conn, unit, model, tier, context),
            "mix": (conn, unit, product, model, geo, speed),
            "pooled": (conn, unit, product, model),
        }[level]
        levels[level][key] = Fraction(int(nc), int(n))
    return PriceBook(levels["exact"], levels["broad"], levels["mix"], levels["pooled"])


def published_price(
    model: str,
    unit: str,
    tier: str,
    context: str,
    geo: str,
    speed: str,
    table: Mapping[str, Mapping[str, Decimal]],
    priority_multiplier: Decimal | None,
) -> Decimal | None:
    """US dollars per token from the published table, for the usage it covers: its price, times
    the Priority Tier multiplier for that tier when one is known; None for anything else (other
    tiers, the long context window, a geo or speed of its own, web searches)."""
    per_million = table.get(model, {}).get(unit)
    if per_million is None or context not in ("", "0-200k") or speed not in ("", "standard"):
        return None
    if geo not in ("", "global"):
        return None
    if tier in ("", "standard"):
        return per_million / _MILLION
    if tier in UNBILLED_TIERS and priority_multiplier is not None:
        return per_million * priority_multiplier / _MILLION
    return None


def _rounded(value: Fraction) -> int:
    """A fraction rounded half to even."""
    return round(value)


# -- the estimate -------------------------------------------------------------------------------


def estimate(
    warehouse: Warehouse,
    filters: Mapping[str, list[str]],
    first: date,
    last: date,
    *,
    published: Mapping[str, Mapping[str, Decimal]] = PUBLISHED_PRICES,
    priority_multiplier: Decimal | None = PRIORITY_MULTIPLIER,
) -> Estimate:
    """The estimate of each day from `first` through `last` for the scope `filters` (the
    explorer's filters: connection, workspace, api_key, user, model), priced from the same
    days' history (see the module's docstring)."""
    extra = allocation_dimensions(warehouse)
    for name in filters:
        if name in extra:
            return Estimate(
                unavailable=f"a {name} scope has no estimate: allocation divides billed cost, "
                "not usage, so only billed cost is counted"
            )
    if not {MART_SPEND, MART_USAGE, "sync_state"} <= warehouse.existing_tables():
        return Estimate()
    until = last + timedelta(days=1)
    scope = reveal_filters(warehouse, Scope(first, until, dict(filters)), privacy(warehouse))
    dims = dimensions_needed(scope, [], metric("tokens"), extra)
    where, params = where_clause(scope, dims)
    rows = warehouse.read(_rows_sql(first, last, where), *params)
    if not any(r[0] != "day_mix" for r in rows):
        return Estimate()
    book = read_prices(warehouse, first, last)
    mixes = _day_mixes(book, [r for r in rows if r[0] == "day_mix"])
    days: dict[date, DayEstimate] = {}
    for part, day, conn, unit, product, model, tier, context, geo, speed, n in rows:
        if part == "day_mix":
            continue
        price = _price(book, conn, unit, product, model, tier, context, geo, speed)
        if price is not None and not (geo or speed) and unit != WEB_SEARCH:
            mix = mixes.get((conn, day, unit, product, model)) if product else None
            price *= mix or mixes.get((conn, day, unit, ANY, model)) or 1
        units: int | None = None if price is None else _rounded(price * int(n))
        if units is None and unit != WEB_SEARCH:
            dollars_each = published_price(
                model, unit, tier, context, geo, speed, published, priority_multiplier
            )
            if dollars_each is not None:
                units = _rounded(Fraction(dollars_each) * UNITS_PER_DOLLAR * int(n))
        amount = usd(units or 0)
        left = int(n) if units is None else 0
        searches = unit == WEB_SEARCH
        add = DayEstimate(
            unbilled=amount if part == UNBILLED else Decimal(0),
            priority=amount if part == PRIORITY else Decimal(0),
            unpriced_tokens=0 if searches else left,
            unpriced_web_searches=left if searches else 0,
            unbilled_connections=frozenset({conn}) if part == UNBILLED else frozenset(),
            unpriced_models=frozenset({model or "(no model)"}) if left else frozenset(),
        )
        days[day] = days.get(day, DayEstimate()) + add
    return Estimate(days)


def _price(
    book: PriceBook,
    conn: str,
    unit: str,
    product: str,
    model: str,
    tier: str,
    context: str,
    geo: str,
    speed: str,
) -> Fraction | None:
    """A row's price from the history (1e-11 USD per unit), scaled by its geo and speed's mix
    factor when it is taken from a price that pools them; None when there is none."""
    if geo or speed:
        found = book.exact.get((conn, unit, product, model, tier, context, geo, speed))
        if found is not None:
            return found
    pooled = book.exact.get((conn, unit, product, model, tier, context, "", ""))
    if pooled is None:
        pooled = book.broad.get((conn, unit, model, tier, context))
    if pooled is None or not (geo or speed) or unit == WEB_SEARCH:
        return pooled
    return pooled * (book.factor(conn, unit, product, model, geo, speed) or 1)


def _day_mixes(book: PriceBook, rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], Fraction]:
    """Per (connection, day, unit, product, model) without cost — and per product `ANY` —
    its alternate-grain usage priced at each geo and speed, over the same usage at the pooled
    price."""
    at: dict[tuple[Any, ...], Fraction] = {}
    total: dict[tuple[Any, ...], int] = {}
    for _, day, conn, unit, product, model, _t, _c, geo, speed, n in rows:
        for p in (product, ANY) if product else (ANY,):
            pooled = book.pooled.get((conn, unit, p, model))
            if not pooled:
                continue
            key = (conn, day, unit, p, model)
            price = book.mix.get((conn, unit, p, model, geo, speed), pooled)
            at[key] = at.get(key, Fraction(0)) + price * int(n)
            total[key] = total.get(key, 0) + int(n)
    return {k: at[k] / (book.pooled[(k[0], k[2], k[3], k[4])] * total[k]) for k in at if total[k]}


# -- what people read ---------------------------------------------------------------------------


def describe(e: DayEstimate, kind: str = "month to date") -> list[str]:
    """Notes on an estimate: what it adds (or that there is nothing to add), and what it left
    out for want of a price."""
    notes = []
    left_out = e.unpriced_tokens or e.unpriced_web_searches
    if e.amount:
        parts = []
        if e.unbilled:
            at = " and ".join(sorted(e.unbilled_connections))
            parts.append(f"usage of days without cost at {at} ({dollars(e.unbilled)})")
        if e.priority:
            parts.append(
                "Priority Tier usage the legacy Console cost report leaves out "
                f"({dollars(e.priority)})"
            )
        notes.append(
            f"{dollars(e.amount)} of the {kind} is estimated: {' and '.join(parts)}, priced "
            "from the organization's billed history"
        )
    elif not left_out:
        notes.append(
            f"nothing is estimated in the {kind}: every day with usage has its cost, and no "
            "Priority Tier usage falls on a day of the legacy Console cost report"
        )
    if left_out:
        what = []
        if e.unpriced_tokens:
            what.append(f"{e.unpriced_tokens:,} tokens")
        if e.unpriced_web_searches:
            what.append(f"{e.unpriced_web_searches:,} web searches")
        notes.append(
            f"{' and '.join(what)} not billed yet have no price (no billed history, no "
            f"published price) and are left out of the estimate: "
            f"{', '.join(sorted(e.unpriced_models))}"
        )
    return notes
