"""Anthropic spend limits as spendscope watches them: each member's cap and spend from the
latest daily snapshot (what `spendscope limits` and `GET /api/v1/spend-limits` answer), and the
`spend_limit` alert — a member at N % of their Anthropic cap (at 100 % Anthropic blocks them).

**The answer.** Per active connection, the status of its latest snapshot (`ok`,
`missing_scope`, `not_enterprise`; `never` without one) and its message; the members of each
connection whose latest snapshot is `ok`, as of that snapshot: the cap in dollars (null:
unlimited), the spend this period (null: unknown, the API read "0"), the percent of the cap
spent, and where the cap comes from (an RBAC group by its name where the groups list was read).

**The alerts** (`limit_alerts`), evaluated over the snapshots of the current and the previous
UTC month, for each threshold of `spend_limit_thresholds` (default 80 and 100):
- a member *crossed* a threshold in a month when a snapshot of that month shows a known spend at
  or above that share of a cap above zero;
- it fires — fingerprint over (connection, member, month, threshold), so once per month — while
  the connection's latest snapshot of the month still shows the member with a cap no higher than
  the one crossed (a spend unknown for a day changes nothing); of the thresholds firing for a
  member, only the highest is offered (one notification names the most severe);
- it resolves when the month is over (`month_ended`), when the cap was raised above the spend's
  share (`cap_raised`; unlimited counts as raised), or when the member is no longer listed
  (`not_listed`). Delivery sends a resolved message only for what was notified firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ..connections import ConnectionStore
from ..money import dollars, exact
from ..notify.alert import Alert, fingerprint
from ..privacy import Pseudonymizer, pseudonymizer
from ..warehouse.admin_tables import RBAC_GROUPS
from ..warehouse.connection import Warehouse
from ..warehouse.limit_tables import SPEND_LIMIT_SNAPSHOTS, SPEND_LIMIT_STATUS
from ..warehouse.schema import DATASET
from .budget_model import month_text, percent_text

if TYPE_CHECKING:
    from ..config import Settings

KIND = "spend_limit"
NEVER = "never"
NEVER_MESSAGE = "No spend-limit snapshot yet: the next sync takes one."
TENTH = Decimal("0.1")
HUNDRED = Decimal(100)
TABLE_COLUMNS = ["connection", "member", "cap", "spend", "percent", "source"]
_SNAPSHOTS = f"{DATASET}.{SPEND_LIMIT_SNAPSHOTS.name}"
_STATUS = f"{DATASET}.{SPEND_LIMIT_STATUS.name}"
_GROUPS = f"{DATASET}.{RBAC_GROUPS.name}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One member's row of one daily snapshot."""

    connection: str
    day: date
    user_id: str
    name: str | None
    email: str | None
    amount: Decimal | None
    currency: str | None
    period: str | None
    spend: Decimal | None
    source: str | None
    source_detail: str | None

    def percent(self) -> Decimal | None:
        """Spend as a percent of the cap; None when either is unknown, or the cap is 0."""
        if self.spend is None or self.amount is None or self.amount <= 0:
            return None
        return self.spend / self.amount * HUNDRED


def _month(day: date) -> date:
    return day.replace(day=1)


def _snapshots(warehouse: Warehouse, since: date, until: date) -> list[Snapshot]:
    """Every member row of the snapshots of days in [since, until), oldest first."""
    rows = warehouse.read(
        "SELECT connection_label, snapshot_date, user_id, user_name, user_email, amount, "
        f"currency, period, period_to_date_spend, source_type, source_detail FROM {_SNAPSHOTS} "
        "WHERE snapshot_date >= ? AND snapshot_date < ? "
        "ORDER BY snapshot_date, connection_label, user_id",
        since,
        until,
    )
    return [Snapshot(*r) for r in rows]


def _statuses(warehouse: Warehouse) -> dict[str, tuple[date, str, str | None]]:
    """Each connection's latest snapshot outcome: (day, status, message)."""
    rows = warehouse.read(
        f"SELECT connection_label, snapshot_date, status, message FROM {_STATUS} "
        "QUALIFY row_number() OVER (PARTITION BY connection_label "
        "ORDER BY snapshot_date DESC) = 1"
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


# -- the answer ---------------------------------------------------------------------------------


def _percent(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(TENTH, ROUND_HALF_UP))


def _money(value: Decimal | None) -> str | None:
    return None if value is None else exact(value)


def _group_names(warehouse: Warehouse) -> dict[tuple[str, str], str]:
    """(connection, RBAC group id) -> the group's name, where the groups list was read."""
    rows = warehouse.read(f"SELECT connection_label, id, name FROM {_GROUPS} WHERE name <> ''")
    return {(r[0], r[1]): r[2] for r in rows}


def _member(
    s: Snapshot, p: Pseudonymizer | None, groups: dict[tuple[str, str], str]
) -> dict[str, Any]:
    detail = s.source_detail
    if s.source == "rbac_group" and detail:
        detail = groups.get((s.connection, detail), detail)
    return {
        "connection": s.connection,
        "user_id": s.user_id,
        "name": None if p is not None else s.name,
        "email": p.hide(s.email) if p is not None and s.email else s.email,
        "amount": _money(s.amount),
        "currency": s.currency,
        "period": s.period,
        "spend": _money(s.spend),
        "percent": _percent(s.percent()),
        "source": s.source,
        "source_detail": detail,
    }


def _order(m: dict[str, Any]) -> tuple[Any, ...]:
    pct = m["percent"]
    who = m["name"] or m["email"] or m["user_id"]
    return (m["connection"], pct is None, -Decimal(pct) if pct else 0, str(who).lower())


def spend_limits_answer(warehouse: Warehouse) -> dict[str, Any]:
    """Every active connection's snapshot status, and the members of its latest `ok` snapshot
    (see the module's doc): the shape of `GET /api/v1/spend-limits`."""
    labels = [c.label for c in ConnectionStore(warehouse.settings).all()]
    statuses = _statuses(warehouse)
    connections: list[dict[str, Any]] = []
    days: dict[str, date] = {}
    for label in labels:
        found = statuses.get(label)
        if found is None:
            connections.append({"connection": label, "status": NEVER, "message": NEVER_MESSAGE})
            continue
        day, status, message = found
        connections.append({"connection": label, "status": status, "message": message})
        if status == "ok":
            days[label] = day
    members: list[dict[str, Any]] = []
    p = pseudonymizer(warehouse.settings)
    groups = _group_names(warehouse)
    for label, day in days.items():
        rows = _snapshots(warehouse, day, day + timedelta(days=1))
        members += [_member(s, p, groups) for s in rows if s.connection == label]
    members.sort(key=_order)
    latest = max(days.values(), default=None)
    return {
        "snapshot_date": latest.isoformat() if latest else None,
        "connections": connections,
        "members": members,
    }


def _who(m: dict[str, Any]) -> str:
    return str(m["name"] or m["email"] or m["user_id"])


def table_rows(found: dict[str, Any], fmt: str = "table") -> list[dict[str, Any]]:
    """The members as the CLI shows them: amounts in dollars in a table, exact in CSV; an
    unlimited cap as `unlimited`."""

    def amount(value: str | None, none: str | None) -> str | None:
        if value is None:
            return none
        return dollars(Decimal(value)) if fmt == "table" else value

    out = []
    for m in found["members"]:
        detail = f" ({m['source_detail']})" if m["source_detail"] else ""
        pct = m["percent"]
        out.append(
            {
                "connection": m["connection"],
                "member": _who(m),
                "cap": amount(m["amount"], "unlimited"),
                "spend": amount(m["spend"], None),
                "percent": pct + "%" if fmt == "table" and pct is not None else pct,
                "source": f"{m['source'] or ''}{detail}",
            }
        )
    return out


def status_lines(found: dict[str, Any]) -> list[str]:
    """A line per connection whose snapshot is not `ok`."""
    return [
        f"{c['connection']}: {c['message']}" for c in found["connections"] if c["status"] != "ok"
    ]


# -- the alerts -----------------------------------------------------------------------------------


def _money_text(value: Decimal | None, currency: str | None) -> str:
    if value is None:
        return "unlimited"
    return dollars(value) if (currency or "USD") == "USD" else f"{exact(value)} {currency}"


def _crossed(s: Snapshot, threshold: Decimal) -> bool:
    pct = s.percent()
    return pct is not None and pct >= threshold


def _name(s: Snapshot, p: Pseudonymizer | None) -> str:
    if p is not None:
        return str(p.hide(s.email)) if s.email else s.user_id
    return s.name or s.email or s.user_id


def _alert(
    s: Snapshot,
    threshold: Decimal,
    month: date,
    status: str,
    reason: str,
    p: Pseudonymizer | None,
) -> Alert:
    who = _name(s, p)
    pct = percent_text(threshold)
    period = month_text(month)
    shown = _percent(s.percent())
    cap, spent = _money_text(s.amount, s.currency), _money_text(s.spend, s.currency)
    source = s.source + (f" {s.source_detail}" if s.source_detail else "") if s.source else "?"
    if status == "firing":
        title = f"{who} at {shown}% of their Anthropic spend cap ({period})"
        text = (
            f"{who} ({s.connection}) has spent {spent} of a {cap} monthly cap in {period}, "
            f"as of the {s.day} snapshot (the cap comes from: {source}). At 100% Anthropic "
            "stops their usage beyond the plan until the cap is raised or the month ends."
        )
    else:
        why = {
            "month_ended": "the month ended",
            "cap_raised": f"the cap was raised to {cap}",
            "not_listed": "the member is no longer listed",
        }[reason]
        title = f"{who}: {pct}% of their Anthropic spend cap cleared ({period})"
        text = f"{who} ({s.connection}) is no longer at {pct}% of their cap: {why}."
    scope_value = str(p.hide(s.email)) if p is not None and s.email else (s.email or s.user_id)
    return Alert(
        kind=KIND,
        scope=f"user:{scope_value}",
        subject=f"{s.connection}@{pct}%",
        period=period,
        severity="critical" if threshold >= HUNDRED else "warning",
        title=title,
        text=text,
        status=status,
        details={
            "connection": s.connection,
            "user_id": s.user_id,
            "email": scope_value if s.email else None,
            "month": period,
            "threshold_percent": pct,
            "percent": shown,
            "amount": s.amount,
            "spend": s.spend,
            "currency": s.currency,
            "source": s.source,
            "source_detail": s.source_detail,
            "snapshot_date": s.day,
            "reason": reason,
        },
        fingerprint=fingerprint(KIND, s.connection, f"{s.user_id}@{pct}", period),
    )


def _member_alerts(
    snaps: Sequence[Snapshot],
    latest: Snapshot | None,
    thresholds: Sequence[Decimal],
    month: date,
    current: bool,
    p: Pseudonymizer | None,
) -> list[Alert]:
    """One member's alerts for one month (their snapshots of it, oldest first; `latest`: their
    row in the connection's latest snapshot of the month, None when not listed)."""
    firing: list[Alert] = []
    resolved: list[Alert] = []
    for t in thresholds:
        crossings = [s for s in snaps if _crossed(s, t)]
        if not crossings:
            continue
        last = crossings[-1]
        if not current:
            resolved.append(_alert(last, t, month, "resolved", "month_ended", p))
        elif latest is None:
            resolved.append(_alert(last, t, month, "resolved", "not_listed", p))
        elif _crossed(latest, t):
            firing.append(_alert(latest, t, month, "firing", "crossed", p))
        elif latest.amount is None or (last.amount is not None and latest.amount > last.amount):
            resolved.append(_alert(latest, t, month, "resolved", "cap_raised", p))
        else:  # the same cap, the spend unknown today (or revised): still firing
            firing.append(_alert(last, t, month, "firing", "crossed", p))
    return firing[-1:] + resolved


def limit_alerts(warehouse: Warehouse, settings: Settings, now: datetime) -> list[Alert]:
    """The `spend_limit` alerts as of `now` (see the module's doc): firing ones to (keep)
    notifying, resolved ones to clear. Offering the same alerts again sends nothing new."""
    month = _month(now.date())
    previous = _month(month - timedelta(days=1))
    groups = _group_names(warehouse)
    snaps = [
        replace(s, source_detail=groups.get((s.connection, s.source_detail), s.source_detail))
        if s.source == "rbac_group" and s.source_detail
        else s
        for s in _snapshots(warehouse, previous, now.date() + timedelta(days=1))
    ]
    thresholds = sorted(settings.spend_limit_thresholds)
    p = pseudonymizer(settings)
    by_member: dict[tuple[str, str, date], list[Snapshot]] = {}
    latest_day: dict[str, date] = {}
    for s in snaps:
        if s.period not in (None, "monthly"):
            continue  # the alert is about monthly caps
        m = _month(s.day)
        by_member.setdefault((s.connection, s.user_id, m), []).append(s)
        if m == month:
            latest_day[s.connection] = max(s.day, latest_day.get(s.connection, s.day))
    out: list[Alert] = []
    for (label, _user, m), rows in sorted(by_member.items()):
        current = m == month
        last_row = rows[-1]
        latest = last_row if current and last_row.day == latest_day.get(label) else None
        out += _member_alerts(rows, latest, thresholds, m, current, p)
    return out
