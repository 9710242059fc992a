"""`/v1/organizations/analytics/users` rows: per-member (or per-rbac-group) activity blocks
aggregated from the per-day data of `engagement_data`.
"""

from __future__ import annotations

from typing import Any

from .engagement_data import engagement_store
from .engagement_model import OFFICE_APPS
from .engagement_query import (
    Acc,
    Key,
    Query,
    Row,
    groups_of,
    key_fields,
    ordered,
    user_days,
)
from .world import User

CHAT_COUNTS = (
    "message_count",
    "thinking_message_count",
    "shared_conversations_viewed_count",
    "connectors_used_count",
    "distinct_artifacts_created_count",
    "distinct_projects_created_count",
    "distinct_conversation_count",
    "distinct_files_uploaded_count",
)
CHAT_SETS = (
    ("distinct_projects_used_count", "projects"),
    ("distinct_skills_used_count", "skills"),
    ("distinct_connectors_used_count", "connectors"),
)
COWORK_COUNTS = (
    "message_count",
    "action_count",
    "dispatch_turn_count",
    "connectors_used_count",
    "skills_used_count",
    "artifacts_created_count",
    "distinct_session_count",
)
COWORK_EDITS = (
    "file_edit_count",
    "edit_tool_count",
    "multi_edit_tool_count",
    "notebook_edit_tool_count",
    "write_tool_count",
    "sessions_with_file_edits_count",
)
OFFICE_COUNTS = (
    "message_count",
    "connectors_used_count",
    "skills_used_count",
    "distinct_session_count",
)
SCIENCE_COUNTS = (
    "message_count",
    "delegation_count",
    "remote_compute_job_count",
    "skills_used_count",
    "distinct_session_count",
)


def _chat_block(acc: Acc, b: str) -> Row:
    row: Row = {f: acc.v(f"{b}.{f}") for f in CHAT_COUNTS}
    row.update({f: acc.c(f"{b}.{s}") for f, s in CHAT_SETS})
    row["distinct_shared_artifacts_viewed_count"] = (
        None if b == "ccu_chat" else acc.v(f"{b}.distinct_shared_artifacts_viewed_count")
    )
    return row


def _cowork_block(q: Query, acc: Acc, b: str) -> Row:
    row: Row = {f: acc.v(f"{b}.{f}") for f in COWORK_COUNTS}
    row["distinct_connectors_used_count"] = acc.c(f"{b}.connectors")
    row["distinct_skills_used_count"] = acc.c(f"{b}.skills")
    plugins = q.feature("cowork_plugin_metrics")
    row["distinct_plugins_used_count"] = acc.c(f"{b}.plugins") if plugins else None
    row["plugins_used_count"] = acc.v(f"{b}.plugins_used_count") if plugins else None
    edits = q.feature("cowork_file_edit_metrics")
    row.update({f: acc.v(f"{b}.{f}") if edits else None for f in COWORK_EDITS})
    return row


def _user_row(q: Query, acc: Acc, user: User | None, cut: Key, project_cut: bool) -> Row:
    tools = ("edit", "multi_edit", "notebook_edit", "write")
    row: Row = {
        "user": {"id": user.id, "email_address": user.email, "type": "user"} if user else None,
        "distinct_user_count": None if user else len(acc.users),
        **key_fields(q, cut),
        "web_search_count": acc.v("web_search_count"),
        "chat_metrics": _chat_block(acc, "chat"),
        "claude_code_metrics": {
            "core_metrics": {
                "commit_count": acc.v("cc.commit_count"),
                "pull_request_count": acc.v("cc.pull_request_count"),
                "lines_of_code": {
                    "added_count": acc.v("cc.lines_added"),
                    "removed_count": acc.v("cc.lines_removed"),
                },
                "artifacts_created_count": acc.v("cc.artifacts_created_count"),
                "distinct_session_count": acc.v("cc.distinct_session_count"),
            },
            "tool_actions": {
                f"{t}_tool": {
                    "accepted_count": acc.v(f"cc.{t}.accepted"),
                    "rejected_count": acc.v(f"cc.{t}.rejected"),
                }
                for t in tools
            },
        },
        "cowork_metrics": _cowork_block(q, acc, "cowork"),
        "design_metrics": {
            "message_count": acc.v("design.message_count"),
            "distinct_projects_created_count": acc.v("design.distinct_projects_created_count"),
            "distinct_projects_used_count": acc.c("design.projects"),
            "distinct_session_count": acc.v("design.distinct_session_count"),
        },
        "office_metrics": {
            app: {
                **{f: acc.v(f"{app}.{f}") for f in OFFICE_COUNTS},
                "distinct_connectors_used_count": acc.c(f"{app}.connectors"),
                "distinct_skills_used_count": acc.c(f"{app}.skills"),
            }
            for app in OFFICE_APPS
        },
        "science_metrics": {f: acc.v(f"science.{f}") for f in SCIENCE_COUNTS},
    }
    if q.feature("chat_cowork_unified", False):
        sessions = _cowork_block(q, acc, "ccu_sessions")
        if project_cut:
            sessions = dict.fromkeys(sessions, 0)
        row["chat_cowork_unified_metrics"] = {
            "chat": _chat_block(acc, "ccu_chat"),
            "sessions": sessions,
        }
    if q.feature("claude_tag", False):
        midpoint = engagement_store(q.sim).catalog(q.org).midpoint
        measured = project_cut or any(d >= midpoint for d in q.days)
        row["claude_tag_metrics"] = {
            "active_day_count": acc.v("tag.active_day_count") if measured else None,
            "active_message_count": acc.v("tag.active_message_count") if measured else None,
        }
    if q.feature("last_activity_date", False):
        row["last_activity_date"] = acc.last.isoformat() if acc.last else None
    return row


def user_rows(q: Query) -> list[Row]:
    projects = q.filters.get("project_id")
    grouped = bool(q.group_by)
    accs: dict[str, Acc] = {}
    for d, ud in user_days(q):
        counts: dict[str, int] = ud.counts
        sets: dict[str, frozenset[str]] = ud.sets
        if projects is not None:
            uses = [p for p in ud.projects if p.project.id in projects]
            if not uses:
                continue
            b = "ccu_chat" if ud.unified else "chat"
            counts = {
                f"{b}.message_count": sum(p.messages for p in uses),
                f"{b}.distinct_conversation_count": sum(p.conversations for p in uses),
            }
            sets = {f"{b}.projects": frozenset(p.project.id for p in uses)}
        for key in groups_of(q, ud.user, d) if grouped else (ud.user.id,):
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = Acc()
            for k, v in counts.items():
                acc.add(k, v)
            for k, s in sets.items():
                acc.sets.setdefault(k, set()).update(s)
            acc.users.add(ud.user.id)
            acc.last = d
    by_id = {u.id: u for u in q.org.users}
    items: list[tuple[tuple[Any, ...], Row]] = []
    if grouped:
        for gid, acc in accs.items():
            items.append(((gid,), _user_row(q, acc, None, (None, gid, None), False)))
        return ordered(q, items)
    if q.sim.config.engagement_include_inactive:
        cat = engagement_store(q.sim).catalog(q.org)
        ids, groups = q.filters.get("user_id"), q.filters.get("rbac_group_id")
        for d in q.days:
            for u in cat.members_on(q.org, d):
                if (ids is None or u.id in ids) and (
                    groups is None or groups.intersection(q.org.groups_of(u.id, d))
                ):
                    accs.setdefault(u.id, Acc())
    for uid, acc in accs.items():
        user = by_id[uid]
        items.append(
            ((user.email,), _user_row(q, acc, user, (None, None, None), projects is not None))
        )
    return ordered(q, items)
