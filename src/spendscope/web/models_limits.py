"""The REST API's spend-limit answer, as pydantic models: each member's Anthropic spend cap
(Claude Enterprise) from the latest daily snapshot, and each connection's snapshot status.

Fields come in the order `spendscope.watch.limit_alerts.spend_limits_answer` gives them, so
`spendscope limits --json` prints the same thing whether it reads the warehouse or a running
server. Amounts are exact decimal text in units of the member's currency.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from .models import Out

Amount = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+\.[0-9]{2,}$",
        description="Exact decimal text in units of `currency` (at least two decimals).",
        examples=["500.00"],
    ),
]


class LimitConnectionOut(Out):
    connection: str = Field(description="The connection's label.")
    status: Literal["ok", "missing_scope", "not_enterprise", "never"] = Field(
        description="Its latest daily snapshot: `ok`; `missing_scope` (the key lacks "
        "`read:spend_limits`); `not_enterprise` (a Console organization has no spend limits); "
        "`never` (no snapshot yet)."
    )
    message: str | None = Field(description="What to tell people about it (null when `ok`).")


class MemberLimitOut(Out):
    connection: str = Field(description="The connection the member belongs to.")
    user_id: str = Field(description="The member: user_…")
    name: str | None = Field(description="Their name (null with `pseudonymize_emails` on).")
    email: str | None = Field(description="Their e-mail address, or its pseudonym.")
    amount: Amount | None = Field(
        description="Their cap; null: unlimited. `0.00`: nothing beyond what the plan includes."
    )
    currency: str | None = Field(description="ISO 4217 currency of the amounts (USD).")
    period: str | None = Field(description="The cap's period: `monthly`.")
    spend: Amount | None = Field(
        description="Their spend this period; null: unknown (Anthropic reads 0 while the "
        "figure is unavailable)."
    )
    percent: str | None = Field(
        pattern=r"^[0-9]+\.[0-9]$",
        description="Spend as a percent of the cap, one decimal (e.g. `82.6`); null when the "
        "spend is unknown or the cap is unlimited or zero.",
    )
    source: str | None = Field(
        description="Where the cap comes from: `user`, `seat_tier`, `rbac_group`, "
        "`organization`, or a type Anthropic added since (as sent)."
    )
    source_detail: str | None = Field(
        description="The seat tier; the RBAC group's name (its id when the groups list was "
        "not read); another source's identifier; null for `user` and `organization`."
    )


class SpendLimitsOut(Out):
    snapshot_date: date | None = Field(
        description="The UTC day of the latest snapshot the members come from; null: none."
    )
    connections: list[LimitConnectionOut] = Field(description="Every active connection.")
    members: list[MemberLimitOut] = Field(
        description="The members of each connection whose latest snapshot is `ok`, as of that "
        "snapshot: by connection, the highest percent first (unknown last)."
    )
