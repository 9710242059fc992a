"""Named queries over people's activity: Claude Code productivity and Enterprise engagement.

Shared by the REST API and the pages (like `queries.py`); every value is a bound parameter.
With `pseudonymize_emails` on, a user shown by e-mail is shown by its pseudonym (`privacy.py`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..money import exact
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET
from .catalog import Scope, granularity_sql
from .queries import periods
from .sql import privacy

TOOLS = ("edit", "multi_edit", "write", "notebook_edit")
_ACTOR = "COALESCE(actor_email, api_key_name)"
_ACTIVE = (
    "(num_sessions > 0 OR lines_added > 0 OR lines_removed > 0 OR commits > 0 OR pull_requests > 0)"
)
_COUNTS = ("sessions", "lines_added", "lines_removed", "commits", "pull_requests")
_SUMS = "sum(num_sessions), sum(lines_added), sum(lines_removed), sum(commits), sum(pull_requests)"
_ACCEPTED = " + ".join(f"{t}_tool_accepted" for t in TOOLS)
_REJECTED = " + ".join(f"{t}_tool_rejected" for t in TOOLS)


def _rate(accepted: Any, rejected: Any) -> float | None:
    a, r = int(accepted or 0), int(rejected or 0)
    return a / (a + r) if a + r else None


def _conn_filter(connection: str | None) -> tuple[str, list[Any]]:
    return ("AND connection_label = ?", [connection]) if connection else ("", [])


def claude_code(
    warehouse: Warehouse, scope: Scope, granularity: str = "day", connection: str | None = None
) -> dict[str, Any]:
    """Claude Code: active users, sessions, lines, commits, PRs, tool accept rates, cost — in
    total, over time and by user."""
    period_sql = granularity_sql(granularity)
    extra, extra_params = _conn_filter(connection)
    base = f"""(SELECT *, CAST(bucket_start AS DATE) AS day FROM {DATASET}.claude_code_usage
        WHERE bucket_start >= ? AND bucket_start < ? {extra})"""
    params: list[Any] = [scope.since, scope.until, *extra_params]
    tool_cols = ", ".join(f"sum({t}_tool_accepted), sum({t}_tool_rejected)" for t in TOOLS)
    row = warehouse.read(
        f"""SELECT count(DISTINCT {_ACTOR}) FILTER (WHERE {_ACTIVE}), {_SUMS},
            sum(estimated_cost_cents), {tool_cols}
        FROM {base}""",
        *params,
    )[0]
    active = int(row[0] or 0)
    cost = Decimal(row[6] or 0) / 100
    tools = []
    acc_all = rej_all = 0
    for i, t in enumerate(TOOLS):
        acc, rej = int(row[7 + 2 * i] or 0), int(row[8 + 2 * i] or 0)
        acc_all, rej_all = acc_all + acc, rej_all + rej
        tools.append({"tool": t, "accepted": acc, "rejected": rej, "accept_rate": _rate(acc, rej)})
    totals = {
        "active_users": active,
        **{k: int(v or 0) for k, v in zip(_COUNTS, row[1:6], strict=True)},
        "accept_rate": _rate(acc_all, rej_all),
        "cost": exact(cost),
        "cost_per_active_user": exact((cost / active).quantize(Decimal("0.01")))
        if active
        else None,
    }
    series_rows = warehouse.read(
        f"""SELECT {period_sql} AS period,
            count(DISTINCT {_ACTOR}) FILTER (WHERE {_ACTIVE}), {_SUMS}, sum(estimated_cost_cents)
        FROM {base} GROUP BY 1 ORDER BY 1""",
        *params,
    )
    by_period = {r[0]: r for r in series_rows}
    series = []
    for p in periods(scope.since, scope.until, granularity):
        r = by_period.get(p)
        series.append(
            {
                "period": p.isoformat(),
                "active_users": int(r[1] or 0) if r else 0,
                **{k: int(v or 0) for k, v in zip(_COUNTS, r[2:7] if r else [0] * 5, strict=True)},
                "cost": exact(Decimal(r[7] or 0) / 100) if r else "0.00",
            }
        )
    user_rows = warehouse.read(
        f"""SELECT {_ACTOR} AS who, any_value(actor_type),
            count(DISTINCT day) FILTER (WHERE {_ACTIVE}), {_SUMS},
            sum({_ACCEPTED}), sum({_REJECTED}), sum(estimated_cost_cents) AS cost
        FROM {base} GROUP BY 1 ORDER BY cost DESC NULLS LAST, 1 LIMIT 200""",
        *params,
    )
    hider = privacy(warehouse)
    users = [
        {
            "user": hider.hide(r[0]) if hider is not None else r[0],
            "actor_type": r[1],
            "active_days": int(r[2] or 0),
            **{k: int(v or 0) for k, v in zip(_COUNTS, r[3:8], strict=True)},
            "accept_rate": _rate(r[8], r[9]),
            "cost": exact(Decimal(r[10] or 0) / 100),
        }
        for r in user_rows
    ]
    return {
        "since": scope.since.isoformat(),
        "until": scope.until.isoformat(),
        "granularity": granularity,
        "totals": totals,
        "tools": tools,
        "series": series,
        "users": users,
    }


_SUMMARY = {
    "daily_active": "daily_active_user_count",
    "weekly_active": "weekly_active_user_count",
    "monthly_active": "monthly_active_user_count",
    "seats": "assigned_seat_count",
    "pending_invites": "pending_invite_count",
    "daily_adoption_rate": "daily_adoption_rate",
    "weekly_adoption_rate": "weekly_adoption_rate",
    "monthly_adoption_rate": "monthly_adoption_rate",
    "chat_daily_active": "chat_daily_active_user_count",
    "claude_code_daily_active": "claude_code_daily_active_user_count",
    "cowork_daily_active": "cowork_daily_active_user_count",
}
_LATEST = (
    "daily_active",
    "weekly_active",
    "monthly_active",
    "seats",
    "pending_invites",
    "daily_adoption_rate",
    "weekly_adoption_rate",
    "monthly_adoption_rate",
)
_USERS = (
    "CASE WHEN count(user_id) > 0 THEN count(DISTINCT user_id) ELSE max(distinct_user_count) END"
)


def engagement(warehouse: Warehouse, scope: Scope, connection: str | None = None) -> dict[str, Any]:
    """Enterprise engagement: active users and adoption over time; skills, connectors and
    projects in the range."""
    extra, extra_params = _conn_filter(connection)
    where = f"bucket_start >= ? AND bucket_start < ? {extra}"
    params: list[Any] = [scope.since, scope.until, *extra_params]
    cols = ", ".join(f"sum({c})" if "rate" not in c else f"avg({c})" for c in _SUMMARY.values())
    # Several Enterprise connections add up per day (rates are averaged).
    rows = warehouse.read(
        f"""SELECT CAST(bucket_start AS DATE) AS day, {cols} FROM {DATASET}.engagement_summaries
        WHERE {where} GROUP BY 1 ORDER BY 1""",
        *params,
    )
    span = {"since": scope.since.isoformat(), "until": scope.until.isoformat()}
    if not rows:
        return {
            **span,
            "available": False,
            "latest": None,
            "series": [],
            "skills": [],
            "connectors": [],
            "projects": [],
        }
    series = []
    for r in rows:
        item: dict[str, Any] = {"day": r[0].isoformat()}
        for name, v in zip(_SUMMARY, r[1:], strict=True):
            item[name] = None if v is None else (float(v) if "rate" in name else int(v))
        series.append(item)
    latest = {"day": series[-1]["day"], **{k: series[-1][k] for k in _LATEST}}
    skills = warehouse.read(
        f"""SELECT skill_name, any_value(COALESCE(skill_display_name, skill_name)),
            {_USERS} AS users, sum(invocation_count)
        FROM {DATASET}.engagement_skills WHERE {where}
        GROUP BY 1 ORDER BY users DESC, 1 LIMIT 50""",
        *params,
    )
    connectors = warehouse.read(
        f"""SELECT connector_name, any_value(COALESCE(connector_display_name, connector_name)),
            {_USERS} AS users,
            sum(COALESCE(read_call_count, 0) + COALESCE(write_call_count, 0)
                + COALESCE(unclassified_call_count, 0))
        FROM {DATASET}.engagement_connectors WHERE {where} GROUP BY 1
        ORDER BY users DESC, 1 LIMIT 50""",
        *params,
    )
    projects = warehouse.read(
        f"""SELECT project_id, any_value(project_name), {_USERS} AS users,
            sum(distinct_conversation_count)
        FROM {DATASET}.engagement_projects WHERE {where}
        GROUP BY 1 ORDER BY users DESC, 1 LIMIT 50""",
        *params,
    )
    return {
        **span,
        "available": True,
        "latest": latest,
        "series": series,
        "skills": [
            {"name": n, "label": lbl, "users": int(u or 0), "invocations": _int(i)}
            for n, lbl, u, i in skills
        ],
        "connectors": [
            {"name": n, "label": lbl, "users": int(u or 0), "calls": _int(c)}
            for n, lbl, u, c in connectors
        ],
        "projects": [
            {"id": p, "name": n, "users": int(u or 0), "conversations": _int(c)}
            for p, n, u, c in projects
        ],
    }


def _int(v: Any) -> int | None:
    return None if v is None else int(v)
