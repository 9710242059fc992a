"""The legacy reports behind the cost and usage feeds, flattened into their own tables.

- Console (family A, anthropic-api.md §3.1–§3.2): `/usage_report/messages` grouped by all nine
  dimensions (`speed` needs the fast-mode beta) → `console_usage_report`; `/cost_report`
  grouped by workspace and description → `console_cost_report`. Daily buckets, 31 per page.
- Enterprise (family C, §5): the bucketed `/analytics/usage_report` and `/analytics/cost_report`
  → `enterprise_usage_report` / `enterprise_cost_report`; the per-user reports
  `/analytics/user_usage_report` and `/analytics/user_cost_report` (daily buckets, 1,000 rows
  per page) → `enterprise_user_usage_report` / `enterprise_user_cost_report`.

The bucketed Enterprise reports keep only the top 100 groups of each bucket, with no remainder
row. A bucket that comes back with 100 groups may be truncated, so it is fetched again split by
product (one `products[]` value per request), a product still at the cap by model, and so on
down the dimensions; the part no filter can select (e.g. usage with no product) is recovered as
the bucket's exact total (an ungrouped query, never capped) minus the split rows. Every split is
reported in the result's notices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..errors import InvalidRequest
from ..upstream.client import QueryParams
from ..upstream.pagination import console_report_pages
from ..warehouse.tables import (
    CONSOLE_COST,
    CONSOLE_USAGE,
    ENTERPRISE_COST,
    ENTERPRISE_USAGE,
    ENTERPRISE_USER_COST,
    ENTERPRISE_USER_USAGE,
    USAGE_METRIC_NAMES,
)
from .analytics_feeds import (
    COST_FANOUT,
    bucket_of,
    finish_row,
    merge_rows,
    note_watermark,
    obj,
    optional_int,
    pages,
    usage_metrics,
)
from .base import FeedResult, FetchContext, Window
from .values import Unrepresentable, boolean, bucket_bound, money, text

FAST_MODE_BETA = "fast-mode-2026-02-01"
CONSOLE_LIMIT = 31  # daily buckets per page: the maximum of both Console reports
BUCKET_LIMIT = 31  # daily buckets per page: the maximum of the bucketed Enterprise reports
USER_LIMIT = 1000  # rows per page: the maximum of the per-user Enterprise reports
LEGACY_GROUP_CAP = 100  # groups the bucketed Enterprise reports keep per bucket

CONSOLE_USAGE_GROUPS = (
    "api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo",
    "account_id", "service_account_id", "speed",
)  # fmt: skip
CONSOLE_COST_FIELDS = (
    "workspace_id", "description", "cost_type", "model", "token_type", "service_tier",
    "context_window", "inference_geo", "speed",
)  # fmt: skip
# Nullable dimensions of every family C row (all keys present, null unless grouped).
LEGACY_DIM_FIELDS = (
    "claude_tag_category", "claude_tag_user_id", "context_window", "inference_geo", "model",
    "product", "rbac_group_id", "slack_channel_id", "speed",
)  # fmt: skip
BUCKETED_GROUPS = ("product", "model", "context_window", "inference_geo", "speed")
USER_GROUPS = ("product", "model")
# `products[]` values of family C (§5.1). `chat_cowork_unified` is refused (400) by an
# organization without that feature, so it is only asked for when it was seen.
LEGACY_PRODUCTS = (
    "chat", "claude-tag", "claude_code", "claude_design", "claude_in_chrome", "cowork",
    "office_agent",
)  # fmt: skip
OPTIONAL_PRODUCTS = ("chat_cowork_unified",)


def legacy_product(value: Any) -> Any:
    """Family C spells Claude Tag `claude-tag`; stored in the family B vocabulary."""
    return "claude_tag" if value == "claude-tag" else value


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _range(window: Window) -> list[tuple[str, str]]:
    return [("starting_at", _iso(window.start_at)), ("ending_at", _iso(window.end_at))]


# -- Console (family A) -----------------------------------------------------------------------


def _console_pages(ctx: FetchContext, path: str, params: QueryParams) -> Iterator[dict[str, Any]]:
    for page in console_report_pages(
        ctx.client, path, params, CONSOLE_LIMIT, betas=(FAST_MODE_BETA,)
    ):
        ctx.on_page(path)
        yield page


def _bounds(bucket: Any) -> tuple[datetime, datetime]:
    """A bucket's (start, end); unrepresentable when either is missing or unreadable."""
    bucket = obj(bucket, "the bucket")
    return (
        bucket_bound(bucket.get("starting_at"), "starting_at"),
        bucket_bound(bucket.get("ending_at"), "ending_at"),
    )


def _results(bucket: dict[str, Any]) -> list[Any]:
    results = bucket.get("results")
    if results is None:
        return []
    if not isinstance(results, list):
        raise Unrepresentable("results is not a list")
    return results


def _console_buckets(
    ctx: FetchContext,
    path: str,
    window: Window,
    groups: Sequence[str],
    table: str,
    result: FeedResult,
) -> Iterator[tuple[datetime, datetime, Any]]:
    """(start, end, result row) of every bucket; a bucket that cannot be read is set aside
    whole (its rows cannot be dated)."""
    params = [*_range(window), ("bucket_width", "1d"), *(("group_by[]", g) for g in groups)]
    for page in _console_pages(ctx, path, params):
        for bucket in page["data"]:
            try:
                start, end = _bounds(bucket)
                rows = _results(bucket)
            except Unrepresentable as exc:
                result.reject(table, path, bucket, exc.reason, bucket_of(bucket))
                continue
            for row in rows:
                yield start, end, row


def _quarantined(
    result: FeedResult, table: str, path: str, start: datetime, end: datetime, raw: Any
) -> Callable[[Unrepresentable], None]:
    def reject(exc: Unrepresentable) -> None:
        item = {"starting_at": _iso(start), "ending_at": _iso(end), "result": raw}
        result.reject(table, path, item, exc.reason, start)

    return reject


def fetch_console_usage(
    ctx: FetchContext, window: Window, result: FeedResult
) -> list[dict[str, Any]]:
    """`/usage_report/messages` grouped by all nine dimensions → `console_usage_report`."""
    rows = []
    path = "/v1/organizations/usage_report/messages"
    for start, end, r in _console_buckets(
        ctx, path, window, CONSOLE_USAGE_GROUPS, CONSOLE_USAGE.name, result
    ):
        try:
            item = obj(r, "the result")
            row = {
                "bucket_start": start,
                "bucket_end": end,
                **{g: text(item.get(g), g) for g in CONSOLE_USAGE_GROUPS},
                **usage_metrics(item),
            }
        except Unrepresentable as exc:
            _quarantined(result, CONSOLE_USAGE.name, path, start, end, r)(exc)
            continue
        rows.append(finish_row(ctx, CONSOLE_USAGE, row, None))
    return merge_rows(CONSOLE_USAGE, rows)


def fetch_console_cost(
    ctx: FetchContext, window: Window, result: FeedResult
) -> list[dict[str, Any]]:
    """`/cost_report` grouped by workspace and description → `console_cost_report` (no list
    amount in this report; Priority Tier cost is not in it)."""
    rows = []
    path = "/v1/organizations/cost_report"
    for start, end, r in _console_buckets(
        ctx, path, window, ("workspace_id", "description"), CONSOLE_COST.name, result
    ):
        try:
            item = obj(r, "the result")
            row = {
                "bucket_start": start,
                "bucket_end": end,
                **{f: text(item.get(f), f) for f in CONSOLE_COST_FIELDS},
                "amount_cents": money(item.get("amount"), "amount", required=True),
                "list_amount_cents": None,
                "currency": text(item.get("currency"), "currency"),
            }
        except Unrepresentable as exc:
            _quarantined(result, CONSOLE_COST.name, path, start, end, r)(exc)
            continue
        rows.append(finish_row(ctx, CONSOLE_COST, row, None))
    return merge_rows(CONSOLE_COST, rows)


# -- Enterprise (family C) --------------------------------------------------------------------


def _legacy_row(r: Any, cost: bool) -> dict[str, Any]:
    """A family C result row's dimensions and metrics as table columns; raises
    `Unrepresentable` for a row no table can hold."""
    r = obj(r, "the result")
    row: dict[str, Any] = {f: text(r.get(f), f) for f in LEGACY_DIM_FIELDS}
    row["product"] = legacy_product(row["product"])
    if cost:
        row["cost_type"] = text(r.get("cost_type"), "cost_type")
        row["token_type"] = text(r.get("token_type"), "token_type")
        row["amount_cents"] = money(r.get("amount"), "amount", required=True)
        row["list_amount_cents"] = money(r.get("list_amount"), "list_amount")
        row["currency"] = text(r.get("currency"), "currency")
    else:
        row.update(usage_metrics(r))
    row["requests"] = optional_int(r.get("requests"))
    return row


def _user_columns(actor: Any) -> dict[str, Any]:
    a = obj(actor, "actor")
    return {
        "user_id": text(a.get("user_id"), "actor.user_id"),
        "user_email": text(a.get("email_address", a.get("email")), "actor.email_address"),
        "user_name": text(a.get("name"), "actor.name"),
        "user_deleted": boolean(a.get("deleted"), "actor.deleted"),
    }


def fetch_enterprise_users(
    ctx: FetchContext, window: Window, cost: bool, result: FeedResult
) -> list[dict[str, Any]]:
    """`/analytics/user_{usage,cost}_report` by day, grouped by product and model (cost also
    by cost and token type) → `enterprise_user_{usage,cost}_report`."""
    table = ENTERPRISE_USER_COST if cost else ENTERPRISE_USER_USAGE
    path = f"/v1/organizations/analytics/user_{'cost' if cost else 'usage'}_report"
    groups = USER_GROUPS + (COST_FANOUT if cost else ())
    params = [*_range(window), ("bucket_width", "1d"), *(("group_by[]", g) for g in groups)]
    rows = []
    for page in pages(ctx, path, params, USER_LIMIT):
        mark = note_watermark(result, page)
        for r in page["data"]:
            try:
                start, end = _bounds(r)
                row = {
                    "bucket_start": start,
                    "bucket_end": end,
                    **_user_columns(r.get("actor")),
                    **_legacy_row(r, cost),
                }
            except Unrepresentable as exc:
                result.reject(table.name, path, r, exc.reason, bucket_of(r))
                continue
            rows.append(finish_row(ctx, table, row, mark))
    return merge_rows(table, rows)


Buckets = dict[datetime, list[dict[str, Any]]]  # bucket start -> flattened rows


@dataclass(frozen=True, slots=True)
class _Split:
    """One level of the top-N split: a filter and the values to filter by."""

    param: str
    column: str
    values: Callable[[Buckets], list[str]]


def _products(parent: Buckets) -> list[str]:
    seen = {r["product"] for rows in parent.values() for r in rows}
    return [*LEGACY_PRODUCTS, *(p for p in OPTIONAL_PRODUCTS if p in seen)]


def _models(parent: Buckets) -> list[str]:
    return sorted({r["model"] for rows in parent.values() for r in rows if r["model"]})


SPLITS = (
    _Split("products[]", "product", _products),
    _Split("models[]", "model", _models),
    _Split("context_windows[]", "context_window", lambda _: ["0-200k", "200k-1M"]),
    _Split("inference_geos[]", "inference_geo", lambda _: ["global", "us", "not_available"]),
    _Split("speeds[]", "speed", lambda _: ["fast", "standard"]),
)


class BucketedReport:
    """One window of `/analytics/{usage,cost}_report` grouped by product, model, context
    window, inference geo and speed (cost also by cost and token type), with truncated
    buckets split until no bucket is at the cap."""

    def __init__(
        self,
        ctx: FetchContext,
        window: Window,
        cost: bool,
        result: FeedResult,
        group_cap: int = LEGACY_GROUP_CAP,
    ) -> None:
        self.ctx = ctx
        self.window = window
        self.cost = cost
        self.result = result
        self.cap = group_cap
        self.table = ENTERPRISE_COST if cost else ENTERPRISE_USAGE
        self.path = f"/v1/organizations/analytics/{'cost' if cost else 'usage'}_report"
        self.ends: dict[datetime, datetime] = {}
        self.marks: dict[datetime, datetime | None] = {}
        self.splits = 0

    def rows(self) -> list[dict[str, Any]]:
        buckets = self._resolve((), 0)
        if self.splits:
            self.result.notices.append(
                f"{self.path}: {self.splits} time bucket(s) in {self.window} reached the "
                f"top-{self.cap} group cap; re-fetched split by product (then model, ...) and "
                "completed from the exact bucket totals"
            )
        out = []
        for start, rows in buckets.items():
            for row in rows:
                row["bucket_start"], row["bucket_end"] = start, self.ends[start]
                out.append(finish_row(self.ctx, self.table, row, self.marks.get(start)))
        return merge_rows(self.table, out)

    def _fetch(self, filters: tuple[tuple[str, str], ...], groups: Sequence[str]) -> Buckets:
        params = [
            *_range(self.window),
            ("bucket_width", "1d"),
            *(("group_by[]", g) for g in groups),
            *filters,
        ]
        buckets: Buckets = {}
        for page in pages(self.ctx, self.path, params, BUCKET_LIMIT):
            mark = note_watermark(self.result, page)
            for bucket in page["data"]:
                try:
                    start, end = _bounds(bucket)
                    results = _results(bucket)
                except Unrepresentable as exc:
                    self.result.reject(
                        self.table.name, self.path, bucket, exc.reason, bucket_of(bucket)
                    )
                    continue
                self.ends[start] = end
                self.marks[start] = mark
                rows = []
                for r in results:
                    try:
                        rows.append(self._fixed(_legacy_row(r, self.cost), filters))
                    except Unrepresentable as exc:
                        _quarantined(self.result, self.table.name, self.path, start, end, r)(exc)
                buckets[start] = rows
        return buckets

    @staticmethod
    def _fixed(row: dict[str, Any], filters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        """Dimensions pinned by a filter keep the filter's value (as the response shows it)."""
        for param, value in filters:
            split = next(s for s in SPLITS if s.param == param)
            if split.column == "product":
                row["product"] = legacy_product(value)
            elif not (split.column == "inference_geo" and value == "not_available"):
                row[split.column] = value
        return row

    def _capped(self, rows: list[dict[str, Any]]) -> bool:
        groups = {tuple(r[g] for g in BUCKETED_GROUPS) for r in rows}
        return len(groups) >= self.cap

    def _resolve(self, filters: tuple[tuple[str, str], ...], level: int) -> Buckets:
        groups = BUCKETED_GROUPS + (COST_FANOUT if self.cost else ())
        buckets = self._fetch(filters, groups)
        capped = [s for s, rows in buckets.items() if self._capped(rows)]
        if not capped:
            return buckets
        if level >= len(SPLITS):  # every dimension pinned: one group per bucket at most
            return buckets
        if level == 0:
            self.splits = len(capped)
        split = SPLITS[level]
        children: list[Buckets] = []
        for value in split.values(buckets):
            try:
                children.append(self._resolve((*filters, (split.param, value)), level + 1))
            except InvalidRequest:
                if value not in OPTIONAL_PRODUCTS:
                    raise
        totals = self._fetch(filters, COST_FANOUT if self.cost else ())
        for start in capped:
            rows = [r for child in children for r in child.get(start, [])]
            rows += self._remainder(totals.get(start, []), rows, filters)
            buckets[start] = rows
        return buckets

    def _remainder(
        self,
        totals: list[dict[str, Any]],
        rows: list[dict[str, Any]],
        filters: tuple[tuple[str, str], ...],
    ) -> list[dict[str, Any]]:
        """What the bucket's exact totals hold beyond the split rows: usage no filter value
        selects (e.g. no product). One row per cost component, its split dimensions null."""
        metrics = (
            ("amount_cents", "list_amount_cents")
            if self.cost
            else (*USAGE_METRIC_NAMES, "requests")
        )
        component: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            (lambda r: (r["cost_type"], r["token_type"])) if self.cost else (lambda r: ())
        )
        left: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
        for sign, source in ((1, totals), (-1, rows)):
            for r in source:
                acc = left[component(r)]
                for m in metrics:
                    if r.get(m) is not None:
                        acc[m] = acc.get(m, 0) + sign * r[m]
                acc.setdefault("currency", r.get("currency"))
        out = []
        for comp, acc in left.items():
            if not any(acc.get(m) for m in metrics):
                continue
            row = self._fixed(dict.fromkeys(LEGACY_DIM_FIELDS), filters)
            row.update({m: acc.get(m) for m in metrics})
            if self.cost:
                row.update(
                    cost_type=comp[0], token_type=comp[1], currency=acc["currency"], requests=None
                )
                row["amount_cents"] = row["amount_cents"] or Decimal(0)
            else:
                row.update({m: int(row[m] or 0) for m in metrics})
            out.append(row)
        return out
