"""The spend-limit tables: a daily snapshot of each member's Anthropic spend cap (Claude
Enterprise), and the outcome of each day's snapshot per connection.

Anthropic's Spend Limits API keeps no history, so these snapshots are it: the sync takes one per
connection and UTC day (`sources/spend_limits.py`); taking the day's snapshot again replaces that
day's rows. Amounts are in units of the row's currency, converted exactly from the API's minor
units; the strings as sent are kept beside them. See `docs/spend-limits.md`.
"""

from __future__ import annotations

import pyarrow as pa

from .tables import CONNECTION, FETCHED_AT, ROW_KEY, TS, Column, Table, _i, _s

# Units of the currency with up to 12 decimals: minor units with 9 decimals (the API's fractions
# of a cent), divided by 10^3 at most, stay exact.
AMOUNT = pa.decimal128(38, 12)
DAY_START = Column("bucket_start", TS, False, "Start (00:00 UTC) of the snapshot's day.")
SNAPSHOT_DATE = Column("snapshot_date", pa.date32(), False, "The snapshot's UTC day.")

SPEND_LIMIT_SNAPSHOTS = Table(
    name="spend_limit_snapshots",
    doc="`/v1/organizations/spend_limits/effective` (Claude Enterprise): each member's monthly "
    "spend cap, where it comes from and their spend this period, one snapshot per connection "
    "and UTC day. The API keeps no history: these rows are it.",
    kind="snapshot",
    columns=(
        ROW_KEY,
        CONNECTION,
        DAY_START,
        SNAPSHOT_DATE,
        _s(
            "user_id",
            "The member (scope.user_id, else actor.user_id: user_…), or the id of another kind "
            "of actor (a scoped API key's).",
        ),
        _s("period", "The cap's period: `monthly` (also `daily`, `weekly`; stored as sent)."),
        _s("actor_type", "actor.type: `user_actor` (or another actor type, as sent)."),
        _s("user_name", "actor.name."),
        _s("user_email", "actor.email_address."),
        Column("user_deleted", pa.bool_(), True, "actor.deleted."),
        _s("scope_type", "scope.type: `user`."),
        Column(
            "amount",
            AMOUNT,
            True,
            "The cap in units of `currency` (the API's minor units ÷ 10^digits of the "
            "currency, exact); null: unlimited. `0`: no usage beyond what the plan includes.",
        ),
        _s("amount_minor", "The cap as sent, in minor units (e.g. `50000`); null: unlimited."),
        _s("currency", "ISO 4217 currency of the amounts (USD)."),
        _s(
            "source_type",
            "Where the cap comes from: `user`, `seat_tier`, `rbac_group`, `organization`, or a "
            "type not documented yet (stored as sent).",
        ),
        _s(
            "source_detail",
            "The seat tier (`seat_tier`) or the RBAC group id (`rbac_group`); null otherwise.",
        ),
        _s("source_json", "The whole source object as JSON."),
        _s("spend_limit_id", "The spend limit in force (null when none is named)."),
        Column(
            "period_to_date_spend",
            AMOUNT,
            True,
            "The member's spend this period in units of `currency`, exact; null when unknown "
            "(the API reads `0` while it is unavailable).",
        ),
        _s("period_to_date_spend_minor", "The spend as sent, in minor units (e.g. `41280.125`)."),
        FETCHED_AT,
    ),
    key=("bucket_start", "user_id", "period"),
)
SPEND_LIMIT_STATUS = Table(
    name="spend_limit_status",
    doc="The outcome of each day's spend-limit snapshot of a connection: `ok`, `missing_scope` "
    "(the key lacks `read:spend_limits`) or `not_enterprise` (a Console organization has no "
    "spend limits), with the one-line message shown for it.",
    kind="snapshot",
    columns=(
        ROW_KEY,
        CONNECTION,
        DAY_START,
        SNAPSHOT_DATE,
        _s("status", "`ok`, `missing_scope` or `not_enterprise`."),
        _s("message", "What to tell people (null when `ok`)."),
        _i("members", "Members in the snapshot (0 unless `ok`)."),
        FETCHED_AT,
    ),
    key=("bucket_start",),
)

LIMIT_TABLES: tuple[Table, ...] = (SPEND_LIMIT_SNAPSHOTS, SPEND_LIMIT_STATUS)
