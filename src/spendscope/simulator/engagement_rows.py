"""Rows of the engagement entity listings (Family D): `/skills`, `/connectors`, `/plugins`,
`/artifacts` and `/apps/chat/projects`, aggregated per entity from the per-day usage records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from .engagement_data import engagement_store
from .engagement_model import (
    MANAGED_AUTH_START,
    OFFICE_APPS,
    SPLIT_START,
    SURFACE_PRODUCT,
    UserDay,
)
from .engagement_query import Acc, Query, Row, collect, key_fields, norm, ordered
from .facts import cents


def _units(acc: Acc, field: str, surfaces: tuple[str, ...]) -> Row:
    return {s: {field: acc.v(f"u:{s}")} for s in surfaces}


def _per_surface(q: Query, acc: Acc, chat_field: str | None, field: str) -> Row:
    """chat/claude_code/cowork/office metric blocks (and unified when available)."""
    row: Row = {}
    if chat_field:
        row["chat_metrics"] = {chat_field: acc.v("u:chat")}
    row["claude_code_metrics"] = {field: acc.v("u:claude_code")}
    row["cowork_metrics"] = {field: acc.v("u:cowork")}
    if chat_field:
        row["office_metrics"] = _units(acc, field, OFFICE_APPS)
    if q.feature("chat_cowork_unified", False):
        row["chat_cowork_unified_metrics"] = (
            {
                "chat": {chat_field: acc.v("u:ccu_chat")},
                "sessions": {field: acc.v("u:ccu_sessions")},
            }
            if chat_field
            else {field: acc.v("u:ccu_sessions")}
        )
    return row


def skill_rows(q: Query) -> list[Row]:
    cat = engagement_store(q.sim).catalog(q.org)
    names, shares = q.filters.get("skill_name"), q.filters.get("share_status")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.skills:
            if (names is None or r.skill.name.lower() in names) and (
                shares is None or r.skill.share in shares
            ):
                yield r.skill.name, SURFACE_PRODUCT[r.surface], r

    def add(acc: Acc, r: Any, uid: str) -> None:
        acc.add("inv", r.invocations)
        acc.add(f"u:{r.surface}", r.units)
        acc.add("claude_ai", r.surface not in ("claude_code", *OFFICE_APPS))
        acc.add("spend", r.spend or 0)
        acc.add("spend_na", r.spend is None)
        if r.list_price is not None:
            acc.add("list", r.list_price)
            acc.add("attrib", 1)

    accs = collect(q, visit, add)
    skills = {s.name: s for s in cat.skills}
    spend_on = q.feature("spend_reporting", False)
    office_cut = "office_agent" in q.filters.get("product", ())
    enables = engagement_store(q.sim).day(q.org, q.days[0]).skill_enables if q.single else {}
    items = []
    for key, acc in accs.items():
        s = skills[key[0]]
        office = key[1] == "office_agent" or office_cut
        spend = cents(acc.v("spend")) if spend_on and not (office and acc.v("spend_na")) else None
        listed = cents(acc.v("list")) if spend_on and acc.v("attrib") else None
        row: Row = {
            "skill_name": s.name,
            "skill_display_name": s.display,
            **key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            "invocation_count": acc.v("inv") if q.feature("invocation_reporting", False) else None,
            "enable_count": None
            if q.cut or not q.single or not q.feature("enable_reporting")
            else enables.get(s.name),
            "share_status": s.share if acc.v("claude_ai") else None,
            "estimated_overage_spend": spend,
            "attributed_list_price": listed,
            "currency": "USD" if spend is not None or listed is not None else None,
            **_per_surface(
                q,
                acc,
                "distinct_conversation_skill_used_count",
                "distinct_session_skill_used_count",
            ),
        }
        items.append((key, row))
    return ordered(q, items)


def connector_rows(q: Query) -> list[Row]:
    names = q.filters.get("connector_name")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.connectors:
            c = r.connector
            if names is None or norm(c.name) in names or (c.display and norm(c.display) in names):
                yield c.name, SURFACE_PRODUCT[r.surface], r

    displays: dict[str, str | None] = {}

    def add(acc: Acc, r: Any, uid: str) -> None:
        displays[r.connector.name] = r.connector.display
        acc.add(f"u:{r.surface}", r.units)
        for f in ("read", "write", "unclassified"):
            acc.add(f, getattr(r, f))
        if r.auth != "none":
            acc.add("cred", 1)
            acc.put(r.auth, uid)

    accs = collect(q, visit, add)
    auth_on = q.feature("managed_auth_reporting") and q.days[0] >= MANAGED_AUTH_START
    split_on = q.feature("call_classification") and q.days[0] >= SPLIT_START
    items = []
    for key, acc in accs.items():
        cred = auth_on and acc.v("cred") > 0
        row: Row = {
            "connector_name": key[0],
            "connector_display_name": displays.get(key[0]),
            **key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            **_per_surface(
                q,
                acc,
                "distinct_conversation_connector_used_count",
                "distinct_session_connector_used_count",
            ),
            "managed_auth_distinct_user_count": acc.c("managed") if cred else None,
            "individual_auth_distinct_user_count": acc.c("individual") if cred else None,
            "read_call_count": acc.v("read") if split_on else None,
            "write_call_count": acc.v("write") if split_on else None,
            "unclassified_call_count": acc.v("unclassified") if split_on else None,
        }
        items.append((key, row))
    return ordered(q, items)


def plugin_rows(q: Query) -> list[Row]:
    names = q.filters.get("plugin_name")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.plugins:
            if names is None or r.plugin.name.lower() in names:
                yield r.plugin.name, SURFACE_PRODUCT[r.surface], r

    ids: dict[str, str | None] = {}

    def add(acc: Acc, r: Any, uid: str) -> None:
        ids[r.plugin.name] = r.plugin.plugin_id
        acc.add("inv", r.invocations)
        acc.add(f"u:{r.surface}", r.sessions)
        if r.installed:
            acc.put("installed", uid)

    items = []
    for key, acc in collect(q, visit, add).items():
        pid = ids.get(key[0])
        row: Row = {
            "plugin_name": key[0],
            "plugin_id": pid,
            **key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            "install_count": acc.c("installed") if pid is not None else None,
            "invocation_count": acc.v("inv"),
            **_per_surface(q, acc, None, "distinct_session_plugin_used_count"),
        }
        items.append((key, row))
    return ordered(q, items)


def artifact_rows(q: Query) -> list[Row]:
    types, shared = q.filters.get("artifact_type"), q.filters.get("is_shared")

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.artifacts:
            if (types is None or r.artifact_type in types) and (
                shared is None or ("true" if r.shared else "false") in shared
            ):
                yield f"{r.artifact_type}\t{int(r.shared)}", SURFACE_PRODUCT[r.surface], r

    def add(acc: Acc, r: Any, uid: str) -> None:
        acc.add("created", r.created)
        acc.add("published", r.published)

    items = []
    for key, acc in collect(q, visit, add).items():
        kind, flag = key[0].split("\t")
        row: Row = {
            "artifact_type": kind,
            "is_shared": flag == "1",
            **key_fields(q, key[1:]),
            "artifacts_created_count": acc.v("created"),
            "published_artifacts_created_count": acc.v("published"),
            "distinct_user_count": len(acc.users),
        }
        items.append((key, row))
    return ordered(q, items)


def project_rows(q: Query) -> list[Row]:
    wanted = q.filters.get("project_id")
    meta: dict[str, Any] = {}

    def visit(d: date, ud: UserDay) -> Iterator[tuple[str, str, Any]]:
        for r in ud.projects:
            if wanted is None or r.project.id in wanted:
                yield r.project.id, "chat", r

    def add(acc: Acc, r: Any, uid: str) -> None:
        meta[r.project.id] = r.project
        acc.add("messages", r.messages)
        acc.add("conversations", r.conversations)

    items = []
    for key, acc in collect(q, visit, add).items():
        p = meta[key[0]]
        creator = p.creator if p.attributed and not p.creator.deleted else None
        row: Row = {
            "project_id": p.id,
            "project_name": p.name,
            "created_at": p.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if p.attributed else None,
            "created_by": {"id": creator.id, "email_address": creator.email, "type": "user"}
            if creator
            else None,
            **key_fields(q, key[1:]),
            "distinct_user_count": len(acc.users),
            "distinct_conversation_count": acc.v("conversations"),
            "message_count": acc.v("messages"),
        }
        items.append((key, row))
    return ordered(q, items)
