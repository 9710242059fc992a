"""Family A Console reports: `/usage_report/messages` and `/cost_report` (anthropic-api.md §3.1,
§3.2).

Both answer dense, contiguous time buckets `{starting_at, ending_at, results[]}`, paged by
bucket count; `next_page` is `page_` + base64 of the next bucket's start, as in the docs'
examples. A query's buckets are aggregated once (cached per query and clock) and every page
is sliced from that result.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any, cast

from .aggregate import BUCKET_WIDTHS, bucket_start, group_facts
from .facts import COMPONENTS, Fact, cents
from .facts_pricing import PRICE_BOOK
from .params import Params, invalid, iso, parse_datetime
from .routing import BETA_FAST_MODE, Auth, Request, RouteTable
from .world import CONTEXT_WINDOWS, INFERENCE_GEOS, SERVICE_TIERS, SPEEDS, Organization

routes = RouteTable()
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"

# bucket width -> (default limit, max limit), counted in buckets (§3.1).
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
COST_LIMITS = (7, 31)

USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
    "speed",
)
# Filter parameter -> (fact attribute, allowed values; None = free strings). Note the singular
# `context_window[]` (§3.1).
USAGE_FILTERS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "api_key_ids": ("api_key_id", None),
    "workspace_ids": ("workspace_id", None),
    "models": ("model", None),
    "service_tiers": ("service_tier", SERVICE_TIERS),
    "context_window": ("context_window", CONTEXT_WINDOWS),
    "inference_geos": ("inference_geo", INFERENCE_GEOS),
    "speeds": ("speed", SPEEDS),
    "account_ids": ("account_id", None),
    "service_account_ids": ("service_account_id", None),
}
COST_GROUPS = ("workspace_id", "description")

TOKEN_LABELS = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Cache Read Input Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "5m Cache Write Input Tokens",
    "cache_creation.ephemeral_1h_input_tokens": "1h Cache Write Input Tokens",
}
OTHER_DESCRIPTIONS = {
    "web_search": "Web Search Usage",
    "code_execution": "Code Execution Usage",
    "session_usage": "Managed Agents Session Usage",
}
TIER_LABELS = {
    "batch": "Batch",
    "priority": "Priority",
    "priority_on_demand": "Priority On Demand",
    "flex": "Flex",
    "flex_discount": "Flex Discount",
}
GEO_LABELS = {
    "global": "Global Inference",
    "us": "US Inference",
    "not_available": "Inference Geo Not Available",
}

# Result rows of a query by bucket start, in minutes since the Unix epoch.
Rows = dict[int, list[dict[str, Any]]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = EPOCH.toordinal()


# --------------------------------------------------------------------------------------------
# Time windows and the bucket cursor


@dataclass(frozen=True, slots=True)
class Window:
    """The buckets of one query and of the page being served."""

    width: timedelta
    start: datetime  # first bucket of the query (`starting_at` snapped down)
    end: datetime  # end of the query's last bucket; no bucket starts at/after now
    data_end: datetime  # usage counted before this instant
    page: datetime  # first bucket of this page
    page_end: datetime  # end of this page's last bucket

    def buckets(self) -> range:
        """This page's bucket starts, in minutes since the Unix epoch."""
        step = int(self.width.total_seconds()) // 60
        return range(_minutes(self.page), _minutes(self.page_end), step)


def _minutes(ts: datetime) -> int:
    return int((ts - EPOCH).total_seconds()) // 60


def _ceil(ts: datetime, width: timedelta) -> datetime:
    floor = bucket_start(ts, width)
    return floor if floor == ts else floor + width


def encode_page(ts: datetime) -> str:
    return "page_" + base64.b64encode(iso(ts).encode()).decode()


def decode_page(token: str) -> datetime:
    body = token.removeprefix("page_")
    try:
        text = base64.b64decode(body + "=" * (-len(body) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("page: invalid cursor") from None
    return parse_datetime(text, "page")


def resolve_window(req: Request, width: timedelta, limit: int) -> Window:
    p, cfg = req.params, req.sim.config
    starting = parse_datetime(p.required("starting_at"), "starting_at")
    ending = p.datetime("ending_at")
    if ending is not None and ending <= starting:
        raise invalid("ending_at: must be after starting_at")
    start = bucket_start(starting, width)
    cap = _ceil(req.sim.now(), width)  # buckets start before now
    end = data_end = start
    if start < cap:
        if ending is not None:
            ending = min(ending, cap)
            if cfg.console_ending_partial_bucket:
                end, data_end = _ceil(ending, width), ending
            else:
                end = data_end = bucket_start(ending, width)
        elif cfg.console_default_ending == "now":
            end = data_end = cap
        else:  # "limit": `limit` buckets from the start
            end = data_end = min(cap, start + limit * width)
        end = max(end, start)
        data_end = max(min(data_end, end), start)
    page = start
    token = p.one("page")
    if token:
        page = decode_page(token)
        if bucket_start(page, width) != page or not start <= page <= end:
            raise invalid("page: cursor does not match current query parameters")
    page_end = min(end, page + limit * width) if page < end else end
    return Window(width, start, end, data_end, page, page_end)


class _Stamps:
    """RFC 3339 strings of bucket bounds given in epoch minutes (pages hold up to 1,440)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, minutes: int) -> str:
        day, minute = divmod(minutes, 1440)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = date.fromordinal(EPOCH_ORDINAL + day).isoformat()
        return f"{text}T{minute // 60:02d}:{minute % 60:02d}:00Z"


def envelope(window: Window, rows: Rows) -> dict[str, Any]:
    buckets = window.buckets()
    stamp = _Stamps()
    data = []
    end = stamp(buckets.start)
    for b in buckets:
        start, end = end, stamp(b + buckets.step)
        data.append({"starting_at": start, "ending_at": end, "results": rows.get(b, [])})
    more = window.page_end < window.end
    return {
        "data": data,
        "has_more": more,
        "next_page": encode_page(window.page_end) if more else None,
    }


def _facts_start(org: Organization, start: datetime) -> datetime:
    """No usage exists before the organization's history; skip the empty days."""
    first = datetime(
        org.history_start.year, org.history_start.month, org.history_start.day, tzinfo=UTC
    )
    return max(start, first)


def _bucket_of(width: timedelta) -> Callable[[Fact], tuple[date, int]]:
    minutes = int(width.total_seconds() // 60)
    return lambda f: (f.day, f.minute // minutes)


def _bucket_minutes(day: date, index: int, width: timedelta) -> int:
    """Start of the `index`-th bucket of a day, in minutes since the Unix epoch."""
    return (day.toordinal() - EPOCH_ORDINAL) * 1440 + index * int(width.total_seconds()) // 60


def _sort_key(values: Hashable) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in cast(tuple[Any, ...], values))


def _group_by(p: Params, allowed: tuple[str, ...]) -> list[str]:
    dims: list[str] = []
    for d in p.many("group_by"):
        if d not in allowed:
            raise invalid(f"group_by[]: '{d}' is not one of {', '.join(allowed)}")
        if d not in dims:
            dims.append(d)
    return dims


# --------------------------------------------------------------------------------------------
# GET /v1/organizations/usage_report/messages


def _usage_row(
    acc_values: tuple[int, int, int, int, int, int], dims: dict[str, Any], speed: bool
) -> dict[str, Any]:
    uncached, cache_read, c5m, c1h, output, web = acc_values
    row: dict[str, Any] = {
        "uncached_input_tokens": uncached,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_1h_input_tokens": c1h, "ephemeral_5m_input_tokens": c5m},
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": web},
    }
    for d in USAGE_GROUPS:
        if d != "speed" or speed:
            row[d] = dims.get(d)
    return row


def _usage_filter(p: Params, fast: bool) -> Callable[[Fact], bool]:
    active: list[tuple[Callable[[Fact], Any], frozenset[str]]] = []
    for name, (attr, allowed) in USAGE_FILTERS.items():
        values = p.many(name) if allowed is None else p.enums(name, allowed)
        if not values:
            continue
        if name == "speeds" and not fast:
            raise invalid(f"speeds[]: requires the beta header 'anthropic-beta: {BETA_FAST_MODE}'")
        active.append((attrgetter(attr), frozenset(values)))

    def keep(f: Fact) -> bool:
        if f.kind != "tokens":
            return False
        return all(get(f) in values for get, values in active)

    return keep


def _usage_rows(req: Request, window: Window, dims: list[str], fast: bool) -> Rows:
    org = req.organization
    p = req.params
    keep = _usage_filter(p, fast)
    default_ws = org.workspaces[0].id
    getters: list[Callable[[Fact], Any]] = []
    for d in dims:
        if d == "workspace_id":
            getters.append(lambda f: None if f.workspace_id == default_ws else f.workspace_id)
        else:
            getters.append(attrgetter(d))
    bucket = _bucket_of(window.width)

    def key(f: Fact) -> tuple[Hashable, ...]:
        return (*bucket(f), *(g(f) for g in getters))

    with_speed = req.sim.config.console_usage_speed_field != "beta" or fast
    facts = req.sim.store.facts(
        org, _facts_start(org, window.start), window.data_end, req.sim.now()
    )
    groups = group_facts(facts, key, keep)
    rows: Rows = {}
    for hk in sorted(groups, key=_sort_key):
        acc = groups[hk]
        k = cast(tuple[Any, ...], hk)
        when = _bucket_minutes(k[0], k[1], window.width)
        values = (
            acc.uncached,
            acc.cache_read,
            acc.cache_5m,
            acc.cache_1h,
            acc.output,
            acc.web_search,
        )
        rows.setdefault(when, []).append(
            _usage_row(values, dict(zip(dims, k[2:], strict=True)), with_speed)
        )
    return rows


@routes.get(USAGE_PATH, Auth.CONSOLE_ADMIN)
def usage_report_messages(req: Request) -> dict[str, Any]:
    p = req.params
    width_name = p.enum("bucket_width", tuple(USAGE_LIMITS), "1d") or "1d"
    default, top = USAGE_LIMITS[width_name]
    limit = p.integer("limit", default, 1, top)
    fast = BETA_FAST_MODE in req.betas
    dims = _group_by(p, USAGE_GROUPS)
    if "speed" in dims and not fast:
        raise invalid(
            f"group_by[]: 'speed' requires the beta header 'anthropic-beta: {BETA_FAST_MODE}'"
        )
    _usage_filter(p, fast)  # validate filters before any work
    window = resolve_window(req, BUCKET_WIDTHS[width_name], limit)
    cfg = req.sim.config
    cache_key = (
        USAGE_PATH,
        req.organization.id,
        p.signature(),
        fast,
        cfg.console_usage_speed_field,
        window.start,
        window.data_end,
        req.sim.now(),
    )
    rows: Rows = req.sim.cached(cache_key, lambda: _usage_rows(req, window, dims, fast))
    return envelope(window, rows)


# --------------------------------------------------------------------------------------------
# GET /v1/organizations/cost_report

# (cost_type, model, token_type, service_tier, context_window, inference_geo, speed)
LineItem = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]


def describe(item: LineItem) -> str:
    """The human label of a line item; distinct items always get distinct labels."""
    cost_type, model, token_type, tier, ctx, geo, speed = item
    if cost_type != "tokens" or model is None or token_type is None:
        return OTHER_DESCRIPTIONS.get(cost_type, cost_type.replace("_", " ").title() + " Usage")
    price = PRICE_BOOK.get(model)
    text = f"{price.display if price else model} Usage - {TOKEN_LABELS[token_type]}"
    suffixes: list[str] = []
    if tier not in (None, "standard"):
        suffixes.append(TIER_LABELS.get(tier, tier.replace("_", " ").title()))
    if ctx == "200k-1M":
        suffixes.append("Long Context (200k-1M)")
    default_geo = "global" if price is None or price.supports_geo else "not_available"
    if geo not in (None, default_geo):
        suffixes.append(GEO_LABELS.get(geo, f"Inference Geo {geo}"))
    if speed == "fast":
        suffixes.append("Fast Mode")
    return " - ".join([text, *suffixes])


GroupKey = tuple[str | None, str | None, str | None, str | None, str | None]
TotalKey = tuple[date, str | None, LineItem | None]


def _line_items(g: GroupKey, cost: list[int]) -> list[tuple[LineItem, int]]:
    """Split a group's cost components into line items (zero amounts left out)."""
    model, tier, ctx, geo, speed = g
    out: list[tuple[LineItem, int]] = []
    for i, (cost_type, token_type) in enumerate(COMPONENTS):
        amount = cost[i]
        if not amount:
            continue
        if cost_type == "tokens" and model is not None:
            out.append(((cost_type, model, token_type, tier, ctx, geo, speed), amount))
        else:
            out.append(((cost_type, None, None, None, None, None, None), amount))
    return out


def _total_order(k: TotalKey) -> tuple[Any, ...]:
    return (k[0], _sort_key((k[1],)), _sort_key(k[2] or ()))


def _cost_rows(req: Request, window: Window, dims: list[str], fast: bool) -> Rows:
    org = req.organization
    excluded = frozenset(req.sim.config.cost_report_excluded_tiers)
    default_ws = org.workspaces[0].id
    by_ws = "workspace_id" in dims
    by_desc = "description" in dims

    def key(f: Fact) -> tuple[Hashable, ...]:
        ws = (None if f.workspace_id == default_ws else f.workspace_id) if by_ws else None
        if by_desc:
            return (f.day, ws, f.model, f.service_tier, f.context_window, f.inference_geo, f.speed)
        return (f.day, ws)

    facts = req.sim.store.facts(
        org, _facts_start(org, window.start), window.data_end, req.sim.now()
    )
    groups = group_facts(facts, key, lambda f: f.service_tier not in excluded)
    totals: dict[TotalKey, int] = {}
    for k, acc in groups.items():
        gk = cast(tuple[Any, ...], k)
        if not by_desc:
            tk: TotalKey = (gk[0], gk[1], None)
            totals[tk] = totals.get(tk, 0) + acc.amount()
            continue
        for item, amount in _line_items(cast(GroupKey, gk[2:]), acc.cost):
            tk = (gk[0], gk[1], item)
            totals[tk] = totals.get(tk, 0) + amount
    rows: Rows = {}
    empty: LineItem = ("", None, None, None, None, None, None)
    for tk in sorted(totals, key=_total_order):
        day, ws, line = tk
        fields = line if line is not None else empty
        row: dict[str, Any] = {
            "amount": cents(totals[tk]),
            "currency": "USD",
            "cost_type": line[0] if line else None,
            "description": describe(line) if line else None,
            "model": fields[1],
            "token_type": fields[2],
            "service_tier": fields[3],
            "context_window": fields[4],
            "inference_geo": fields[5],
        }
        if fast:
            row["speed"] = fields[6]
        row["workspace_id"] = ws
        rows.setdefault(_bucket_minutes(day, 0, window.width), []).append(row)
    return rows


@routes.get(COST_PATH, Auth.CONSOLE_ADMIN)
def cost_report(req: Request) -> dict[str, Any]:
    p = req.params
    width_name = p.enum("bucket_width", ("1d",), "1d") or "1d"
    limit = p.integer("limit", COST_LIMITS[0], 1, COST_LIMITS[1])
    dims = _group_by(p, COST_GROUPS)
    fast = BETA_FAST_MODE in req.betas
    window = resolve_window(req, BUCKET_WIDTHS[width_name], limit)
    cfg = req.sim.config
    cache_key = (
        COST_PATH,
        req.organization.id,
        p.signature(),
        fast,
        tuple(cfg.cost_report_excluded_tiers),
        window.start,
        window.data_end,
        req.sim.now(),
    )
    rows: Rows = req.sim.cached(cache_key, lambda: _cost_rows(req, window, dims, fast))
    return envelope(window, rows)
