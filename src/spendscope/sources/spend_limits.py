"""Anthropic spend limits (Claude Enterprise) as a daily snapshot feed.

`GET /v1/organizations/spend_limits/effective` lists each current member's monthly cap, where it
comes from and their spend this period; the API keeps no history. The feed's mode is `daily`:
the sync engine takes its snapshot at most once per connection and UTC day (again with a full
sync), and that day's rows replace whatever an earlier snapshot of the same day left.

- **Amounts.** `amount` and `period_to_date_spend` are decimal strings in minor units of
  `currency` (`"50000"` = 500.00 USD, `"41280.125"` = 412.80125 USD). They are read exactly
  (`values.money`, never through float) and divided by 10^digits of the currency (ISO 4217:
  2 for USD, 0 for JPY, 3 for KWD, ...; 2 for a currency not listed). A null amount is no cap
  (unlimited); `"0"` is a cap of nothing beyond the plan. A spend of zero means unavailable:
  it is stored as unknown (null), the string as sent kept beside it.
- **Sources** (`user`, `seat_tier`, `rbac_group`, `organization`, and in SDK 2.10.0 also
  `organization_service`, `workspace`, `usage_tier`) are an open set: a type is stored as sent,
  with its identifier (`source_detail`: the seat tier, the group id, ...) and the whole object
  as JSON. So is the actor: a `user_actor` (or another actor type) keyed by its id.
- **Outcome.** Each day's snapshot records a status for the connection
  (`spend_limit_status`): `ok`; `missing_scope` when the key lacks `read:spend_limits` (403);
  `not_enterprise` for a Console connection (no request is made: spend limits exist on Claude
  Enterprise only) or when the API says the organization's type has none. Neither is an error:
  the message is logged as an event and shown by `spendscope limits` and the API, and the sync
  goes on. Other failures (429 after every retry, 5xx) fail this feed like any other.

Requests go through the upstream client: its retries, `retry-after`, and a rate limiter of its
own (`spend_limits_rpm`: the endpoints share 60 requests per minute per organization).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..errors import InvalidRequest, MalformedResponse, NotFound, PermissionDenied
from ..upstream.pagination import token_pages
from ..warehouse.limit_tables import SPEND_LIMIT_SNAPSHOTS, SPEND_LIMIT_STATUS
from ..warehouse.schema import day_start, row_key
from ..warehouse.tables import Table
from .base import ConnectionInfo, Feed, FeedResult, FetchContext, Window
from .values import Unrepresentable, boolean, money, raw_json, text

__all__ = [
    "EFFECTIVE",
    "FEED",
    "MISSING_SCOPE",
    "NOT_ENTERPRISE",
    "OK",
    "SpendLimitsFeed",
    "currency_digits",
    "major_units",
    "member_row",
    "spend_limit_feeds",
]

FEED = "spend_limits"
EFFECTIVE = "/v1/organizations/spend_limits/effective"
SCOPE = "read:spend_limits"
PAGE_LIMIT = 100
OK, MISSING_SCOPE, NOT_ENTERPRISE = "ok", "missing_scope", "not_enterprise"
CONSOLE_MESSAGE = (
    "Spend limits not read: they are a Claude Enterprise feature, and this is a Claude Console "
    "organization."
)
SCOPE_MESSAGE = (
    f"Spend limits not read: the key lacks the {SCOPE} scope (a key's scopes are fixed when it "
    f"is created: connect with a key that has {SCOPE})."
)
NOT_ENTERPRISE_MESSAGE = (
    "Spend limits not read: the API says this organization has none ({why}); they are a Claude "
    "Enterprise feature."
)

# ISO 4217 currencies whose minor unit is not a hundredth.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_DIGITS = {
    **dict.fromkeys(_ZERO.split(" "), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
Item = dict[str, Any]


def currency_digits(currency: str | None) -> int:
    """Digits of the currency's minor unit (2 when the currency is not known)."""
    return _DIGITS.get((currency or "").upper(), 2)


def major_units(minor: Any, currency: str | None, name: str) -> Decimal | None:
    """A minor-unit amount as sent (decimal text) in units of the currency, exactly; None
    stays None. Unreadable: `Unrepresentable`."""
    if minor is None:
        return None
    if not isinstance(minor, str | int) or isinstance(minor, bool):
        raise Unrepresentable(f"{name} = {minor!r} is not a decimal string of minor units")
    amount = money(minor, name)
    assert amount is not None
    if amount < 0:
        raise Unrepresentable(f"{name} = {minor!r} is negative")
    return amount.scaleb(-currency_digits(currency))


def _as_sent(value: Any, name: str) -> str | None:
    """A minor-unit amount as the API sent it (an integer as its digits)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value, name)


def _obj(item: Item, name: str) -> Item:
    value = item.get(name)
    return value if isinstance(value, dict) else {}


def _source(source: Item) -> tuple[str | None, str | None]:
    """(type, detail) of a source object: the detail is its identifier besides the type and a
    user id — the seat tier, the RBAC group id, the service, the workspace id, or the first
    text field of a type not documented yet."""
    kind = text(source.get("type"), "source.type")
    for name, value in source.items():
        if name not in ("type", "user_id") and isinstance(value, str):
            return kind, text(value, f"source.{name}")
    return kind, None


def member_row(item: Item, day: date) -> Item:
    """One effective spend limit as a row of `spend_limit_snapshots` (without bookkeeping)."""
    scope, actor, source = _obj(item, "scope"), _obj(item, "actor"), _obj(item, "source")
    user_id = scope.get("user_id") or actor.get("user_id") or actor.get("scoped_api_key_id")
    currency = text(item.get("currency"), "currency")
    spend_minor = item.get("period_to_date_spend")
    spend = major_units(spend_minor, currency, "period_to_date_spend")
    source_type, detail = _source(source)
    return {
        "bucket_start": day_start(day),
        "snapshot_date": day,
        "user_id": text(user_id, "user_id"),
        "period": text(item.get("period"), "period"),
        "actor_type": text(actor.get("type"), "actor.type"),
        "user_name": text(actor.get("name"), "actor.name"),
        "user_email": text(actor.get("email_address") or actor.get("email"), "actor.email"),
        "user_deleted": boolean(actor.get("deleted"), "actor.deleted"),
        "scope_type": text(scope.get("type"), "scope.type"),
        "amount": major_units(item.get("amount"), currency, "amount"),
        "amount_minor": _as_sent(item.get("amount"), "amount"),
        "currency": currency,
        "source_type": source_type,
        "source_detail": detail,
        "source_json": raw_json(source) if source else None,
        "spend_limit_id": text(item.get("spend_limit_id"), "spend_limit_id"),
        # "0" reads while the figure is unavailable: unknown, not zero.
        "period_to_date_spend": spend if spend else None,
        "period_to_date_spend_minor": _as_sent(spend_minor, "period_to_date_spend"),
    }


def _items(ctx: FetchContext) -> Iterator[Item]:
    for page in token_pages(ctx.client, EFFECTIVE, limit=PAGE_LIMIT):
        ctx.on_page(EFFECTIVE)
        for item in page["data"]:
            if not isinstance(item, dict):
                raise MalformedResponse(
                    f"Unexpected answer from GET {EFFECTIVE}: an item is not an object",
                    status=200,
                    path=EFFECTIVE,
                )
            yield item


@dataclass(slots=True)
class SpendLimitsFeed:
    """The day's snapshot of a connection's effective spend limits (see the module's doc)."""

    name: str = FEED
    tables: tuple[Table, ...] = (SPEND_LIMIT_SNAPSHOTS, SPEND_LIMIT_STATUS)
    mode: str = "daily"
    window_days: int = 1
    reconciliation: str = "cost"

    def earliest(self, connection: ConnectionInfo, today: date) -> date | None:
        return today

    def latest(self, now: datetime) -> date:
        return now.date() + timedelta(days=1)

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        """The snapshot of `window.start` (the sync's UTC day): members and the day's status."""
        day = window.start
        result = FeedResult(source=FEED)
        status, message, rows = OK, None, []
        if ctx.connection.kind != "enterprise":
            status, message = NOT_ENTERPRISE, CONSOLE_MESSAGE
            result.notice_level, result.notice_category = "info", "notice"
        else:
            try:
                rows = self._members(ctx, day, result)
            except PermissionDenied:
                status, message = MISSING_SCOPE, SCOPE_MESSAGE
                result.notice_category = "scope"
            except (InvalidRequest, NotFound) as exc:
                if isinstance(exc, InvalidRequest) and (
                    exc.error_code != "organization_type_not_supported"
                ):
                    raise  # a bad request of ours, not an answer about the organization
                why = exc.upstream_message or f"HTTP {exc.status}"
                status, message = NOT_ENTERPRISE, NOT_ENTERPRISE_MESSAGE.format(why=why)
                result.notice_level, result.notice_category = "info", "notice"
        if message:
            result.notices.append(message)
        label = ctx.connection.label
        result.rows[SPEND_LIMIT_SNAPSHOTS.name] = [
            self._keyed(label, SPEND_LIMIT_SNAPSHOTS, row, ctx) for row in rows
        ]
        head = {
            "bucket_start": day_start(day),
            "snapshot_date": day,
            "status": status,
            "message": message,
            "members": len(rows),
        }
        result.rows[SPEND_LIMIT_STATUS.name] = [self._keyed(label, SPEND_LIMIT_STATUS, head, ctx)]
        return result

    def _members(self, ctx: FetchContext, day: date, result: FeedResult) -> list[Item]:
        table = SPEND_LIMIT_SNAPSHOTS
        rows: dict[tuple[Any, ...], Item] = {}
        for item in _items(ctx):
            try:
                row = member_row(item, day)
                missing = [c for c in table.key if row.get(c) is None]
                if missing:
                    raise Unrepresentable(f"{', '.join(missing)} is missing")
            except Unrepresentable as exc:
                result.reject(table.name, EFFECTIVE, item, exc.reason, day_start(day))
                continue
            rows[tuple(row[c] for c in table.key)] = row
        return list(rows.values())

    @staticmethod
    def _keyed(label: str, table: Table, row: Item, ctx: FetchContext) -> Item:
        key = row_key(label, table.name, *(row[c] for c in table.key))
        return {**row, "row_key": key, "connection_label": label, "fetched_at": ctx.fetched_at}


def spend_limit_feeds() -> list[Feed]:
    """The spend-limit feed (every connection has one: a Console connection's snapshot records
    that it has no spend limits)."""
    return [SpendLimitsFeed()]
