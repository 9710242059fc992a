"""`/v1/organizations/analytics/summaries` rows: daily, weekly and monthly active-user counts,
seats and adoption rates over the per-day activity masks of `engagement_data`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from .engagement_data import engagement_store
from .engagement_query import Query, Row
from .params import iso

FAMILIES = ("chat", "claude_code", "claude_design", "office_agent", "science")


def summary_rows(q: Query) -> list[Row]:
    store = engagement_store(q.sim)
    org, cat = q.org, store.catalog(q.org)
    first = max(q.days[0] - timedelta(days=29), org.history_start)
    span = [first + timedelta(days=i) for i in range((q.days[-1] - first).days + 1)]
    data = {d: store.day(org, d) for d in span}
    groups = q.filters.get("rbac_group_id")
    scoped = groups is not None
    scopes: dict[date, int] = {}

    def scope(d: date) -> int:
        """The members counted on day `d` (bit i: org.users[i]): all of them, or with an rbac
        filter those in a filtered group that day."""
        if groups is None:
            return -1
        found = scopes.get(d)
        if found is None:
            found = scopes[d] = sum(
                1 << i
                for i, u in enumerate(org.users)
                if groups.intersection(org.groups_of(u.id, d))
            )
        return found

    seats = sum(1 for u in org.users if not u.deleted and u.added_at <= q.sim.now())
    invites = sum(1 for i in org.invites if i.status == "pending")
    entitled = sum(1 for u in org.users if u.id in cat.science_entitled and not u.deleted)

    def count(d: date, fam: str, window: int) -> int:
        mask = 0
        for k in range(window):
            on = d - timedelta(days=k)
            day = data.get(on)
            if day is not None:
                mask |= day.masks[fam] & scope(on)
        return mask.bit_count()

    def tag(d: date, window: int) -> int | None:
        if scoped or not data[d].tag_measured:
            return None
        users: set[str] = set()
        for k in range(window):
            day = data.get(d - timedelta(days=k))
            if day is not None and day.tag_measured:
                users |= day.tag_slack_users
        return len(users)

    def rate(n: int) -> float | None:
        return None if scoped or not seats else round(n / seats * 100, 1)

    rows = []
    for d in q.days:
        dau, wau, mau = (count(d, "active", w) for w in (1, 7, 30))
        start = datetime(d.year, d.month, d.day, tzinfo=UTC)
        row: Row = {
            "starting_at": iso(start),
            "ending_at": iso(start + timedelta(days=1)),
            "daily_active_user_count": dau,
            "weekly_active_user_count": wau,
            "monthly_active_user_count": mau,
            **{
                f"cowork_{p}_active_user_count": count(d, "cowork", w)
                for p, w in (("daily", 1), ("weekly", 7), ("monthly", 30))
            },
            "assigned_seat_count": None if scoped else seats,
            "pending_invite_count": None if scoped else invites,
            "daily_adoption_rate": rate(dau),
            "weekly_adoption_rate": rate(wau),
            "monthly_adoption_rate": rate(mau),
        }
        if q.feature("per_product_summaries", False):
            for fam in FAMILIES:
                for p, w in (("daily", 1), ("weekly", 7), ("monthly", 30)):
                    row[f"{fam}_{p}_active_user_count"] = count(d, fam, w)
            row["science_entitled_user_count"] = None if scoped else entitled
        if q.feature("chat_cowork_unified", False):
            for p, w in (("daily", 1), ("weekly", 7), ("monthly", 30 if scoped else 28)):
                row[f"chat_cowork_unified_{p}_active_user_count"] = count(
                    d, "chat_cowork_unified", w
                )
        if q.feature("claude_tag", False):
            for p, w in (("daily", 1), ("weekly", 7), ("monthly", 28)):
                row[f"claude_tag_{p}_active_user_count"] = tag(d, w)
        rows.append(row)
    return rows
