"""The organization lists (anthropic-api.md §3.4–§3.11) as snapshot feeds.

Each sync reads a whole list (`limit=1000`, the maximum: one page per list in practice) and the
engine replaces the connection's rows with it, deleting objects no longer listed. A snapshot
feed ignores the window.

Console: `organization`, `users`, `workspaces` (+ every workspace's members), `api_keys`,
`invites`, `service_accounts` (OAuth `org:admin` tokens only: optional, an Admin key's 403 is
logged and skipped). Enterprise: `organization`, then `users`, `invites` and `rbac_groups`
(+ every group's members), each optional since it needs a scope the key may lack
(`read:users`, `read:invites`, `read:groups`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from ..errors import MalformedResponse
from ..upstream.client import QueryParams
from ..upstream.pagination import id_pages, token_pages
from ..warehouse.admin_tables import (
    API_KEYS,
    INVITES,
    ORG_USERS,
    ORGANIZATIONS,
    RBAC_GROUP_MEMBERS,
    RBAC_GROUPS,
    SERVICE_ACCOUNTS,
    WORKSPACE_MEMBERS,
    WORKSPACES,
)
from ..warehouse.schema import row_key
from ..warehouse.tables import Table
from .base import ConnectionInfo, Feed, FeedResult, FetchContext, Window
from .values import Unrepresentable, raw_json, text, timestamp

__all__ = ["ORG", "SnapshotFeed", "admin_feeds"]

ORG = "/v1/organizations"
PAGE_LIMIT = 1000  # the lists' maximum
Rows = dict[str, list[dict[str, Any]]]
Item = dict[str, Any]


def _ts(value: Any, path: str, name: str = "a timestamp") -> datetime | None:
    """A timestamp of an object; unrepresentable (the object is set aside) when unreadable."""
    return timestamp(value, name)


def _json(value: Any) -> str | None:
    """Lists and maps as JSON text; a plain string (e.g. `unrestricted`) as is."""
    if value is None or isinstance(value, str):
        return value
    return raw_json(value)


def _sub(item: Item, name: str) -> Item:
    value = item.get(name)
    return value if isinstance(value, dict) else {}


def _items(
    ctx: FetchContext, path: str, params: QueryParams | None = None, cursor: str = "id"
) -> Iterator[Item]:
    """Every object of a list, page after page (ID or token cursor)."""
    pages = id_pages if cursor == "id" else token_pages
    for page in pages(ctx.client, path, params, limit=PAGE_LIMIT):
        ctx.on_page(path)
        for item in page["data"]:
            if not isinstance(item, dict):
                raise MalformedResponse(
                    f"Unexpected answer from GET {path}: an item is not an object",
                    status=200,
                    path=path,
                )
            yield item


# -- objects -> rows ---------------------------------------------------------------------------


def organization_row(item: Item) -> Item:
    return {"id": item.get("id"), "name": item.get("name"), "type": item.get("type")}


def user_row(item: Item, path: str) -> Item:
    return {
        "id": item.get("id"),
        "email": item.get("email"),
        "name": item.get("name"),
        "role": item.get("role"),
        "added_at": _ts(item.get("added_at"), path),
    }


def workspace_row(item: Item, path: str) -> Item:
    residency = _sub(item, "data_residency")
    return {
        "id": item.get("id"),
        "name": item.get("name"),
        "created_at": _ts(item.get("created_at"), path),
        "archived_at": _ts(item.get("archived_at"), path),
        "display_color": item.get("display_color"),
        "workspace_geo": residency.get("workspace_geo"),
        "default_inference_geo": residency.get("default_inference_geo"),
        "allowed_inference_geos": _json(residency.get("allowed_inference_geos")),
        "compartment_id": item.get("compartment_id"),
        "external_key_id": item.get("external_key_id"),
        "tags_json": _json(item.get("tags")),
        "user_profile_id": item.get("user_profile_id"),
    }


def member_row(item: Item, workspace_id: str) -> Item:
    return {
        "workspace_id": item.get("workspace_id") or workspace_id,
        "user_id": item.get("user_id"),
        "workspace_role": item.get("workspace_role"),
    }


def api_key_row(item: Item, path: str) -> Item:
    scope = _sub(item, "scope")
    creator = _sub(item, "created_by")
    principal = _sub(item, "principal")
    return {
        "id": item.get("id"),
        "name": item.get("name"),
        "workspace_id": scope.get("workspace_id") or item.get("workspace_id"),
        "scope_type": scope.get("type"),
        "status": item.get("status"),
        "created_at": _ts(item.get("created_at"), path),
        "created_by_id": creator.get("id"),
        "created_by_type": creator.get("type"),
        "expires_at": _ts(item.get("expires_at"), path),
        "partial_key_hint": item.get("partial_key_hint"),
        "principal_type": principal.get("type"),
        "principal_id": principal.get("user_id") or principal.get("service_account_id"),
    }


def invite_row(item: Item, path: str) -> Item:
    return {
        "id": item.get("id"),
        "email": item.get("email"),
        "role": item.get("role"),
        "status": item.get("status"),
        "invited_at": _ts(item.get("invited_at"), path),
        "expires_at": _ts(item.get("expires_at"), path),
        "accepted_at": _ts(item.get("accepted_at"), path),
        "rbac_group_ids": _json(item.get("rbac_group_ids")),
    }


def service_account_row(item: Item, path: str) -> Item:
    return {
        "id": item.get("id"),
        "name": item.get("name"),
        "description": item.get("description"),
        "organization_role": item.get("organization_role"),
        "created_at": _ts(item.get("created_at"), path),
        "updated_at": _ts(item.get("updated_at"), path),
        "archived_at": _ts(item.get("archived_at"), path),
        "created_by_actor_id": item.get("created_by_actor_id"),
        "updated_by_actor_id": item.get("updated_by_actor_id"),
        "archived_by_actor_id": item.get("archived_by_actor_id"),
    }


def rbac_group_row(item: Item, path: str) -> Item:
    return {
        "id": item.get("id"),
        "name": item.get("name"),
        "source_type": item.get("source_type"),
        "role_ids": _json(item.get("role_ids")),
        "created_at": _ts(item.get("created_at"), path),
        "updated_at": _ts(item.get("updated_at"), path),
    }


def rbac_member_row(item: Item, group_id: str, path: str) -> Item:
    return {
        "rbac_group_id": item.get("rbac_group_id") or group_id,
        "user_id": item.get("user_id"),
        "email": item.get("email"),
        "created_at": _ts(item.get("created_at"), path),
    }


# -- collectors: one per feed ------------------------------------------------------------------


def _member(item: Item, workspace_id: str) -> Item:
    return member_row(item, workspace_id)


def _rbac_member(item: Item, group_id: str, path: str) -> Item:
    return rbac_member_row(item, group_id, path)


def _built(
    result: FeedResult,
    table: Table,
    path: str,
    items: Iterable[Item],
    build: Callable[[Item], Item],
) -> list[Item]:
    """Rows of the objects that can be read; the others are set aside (`rejected_rows`)."""
    rows = []
    for item in items:
        try:
            row = build(item)
            missing = [c for c in table.key if row.get(c) is None]
            if missing:
                raise Unrepresentable(f"{', '.join(missing)} is missing")
            for c in table.key:
                text(row[c], c)  # a key that is not text, or not valid Unicode
        except Unrepresentable as exc:
            result.reject(table.name, path, item, exc.reason)
            continue
        rows.append(row)
    return rows


def _organization(ctx: FetchContext, result: FeedResult) -> Rows:
    path = f"{ORG}/me"
    item = ctx.client.get(path)
    ctx.on_page(path)
    return {ORGANIZATIONS.name: _built(result, ORGANIZATIONS, path, [item], organization_row)}


def _simple(
    table: Table,
    path: str,
    build: Callable[[Item, str], Item],
    params: QueryParams | None = None,
    cursor: str = "id",
) -> Callable[[FetchContext, FeedResult], Rows]:
    def collect(ctx: FetchContext, result: FeedResult) -> Rows:
        items = _items(ctx, path, params, cursor)
        return {table.name: _built(result, table, path, items, lambda i: build(i, path))}

    return collect


def _workspaces(ctx: FetchContext, result: FeedResult) -> Rows:
    path = f"{ORG}/workspaces"
    params = [("include_archived", True), ("include_default", True)]
    items = _items(ctx, path, params)
    spaces = _built(result, WORKSPACES, path, items, lambda i: workspace_row(i, path))
    members = []
    for space in spaces:
        ws = str(space["id"])
        sub = f"{ORG}/workspaces/{quote(ws, safe='')}/members"
        members += _built(
            result, WORKSPACE_MEMBERS, sub, _items(ctx, sub), partial(_member, workspace_id=ws)
        )
    return {WORKSPACES.name: spaces, WORKSPACE_MEMBERS.name: members}


def _rbac_groups(ctx: FetchContext, result: FeedResult) -> Rows:
    path = f"{ORG}/rbac_groups"
    items = _items(ctx, path, cursor="token")
    groups = _built(result, RBAC_GROUPS, path, items, lambda i: rbac_group_row(i, path))
    members = []
    for group in groups:
        gid = str(group["id"])
        sub = f"{ORG}/rbac_groups/{quote(gid, safe='')}/members"
        members += _built(
            result,
            RBAC_GROUP_MEMBERS,
            sub,
            _items(ctx, sub, cursor="token"),
            partial(_rbac_member, group_id=gid, path=sub),
        )
    for row in (*groups, *members):
        row["listed_at"] = ctx.now  # the sync's clock: the membership history dates by it
    return {RBAC_GROUPS.name: groups, RBAC_GROUP_MEMBERS.name: members}


@dataclass(slots=True)
class SnapshotFeed:
    """One organization list (or a list and its sub-lists): the whole of it at every sync."""

    name: str
    tables: tuple[Table, ...]
    collect: Callable[[FetchContext, FeedResult], Rows]
    optional: bool = False
    mode: str = "snapshot"
    window_days: int = 1
    reconciliation: str = "cost"

    def earliest(self, connection: ConnectionInfo, today: date) -> date | None:
        return None

    def latest(self, now: datetime) -> date:
        return now.date() + timedelta(days=1)

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        """Every row of the feed's tables (the window is ignored)."""
        result = FeedResult(source="admin")
        raw = self.collect(ctx, result)
        label = ctx.connection.label
        for table in self.tables:
            rows: dict[str, Item] = {}
            for item in raw.get(table.name, []):
                key = row_key(label, table.name, *(item[c] for c in table.key))
                rows[key] = {
                    **item,
                    "row_key": key,
                    "connection_label": label,
                    "fetched_at": ctx.fetched_at,
                }
            result.rows[table.name] = list(rows.values())
        return result


def admin_feeds(kind: str) -> list[Feed]:
    """The snapshot feeds of a connection kind ("console" or "enterprise")."""
    organization = SnapshotFeed("organization", (ORGANIZATIONS,), _organization)
    users = _simple(ORG_USERS, f"{ORG}/users", user_row)
    invites = _simple(INVITES, f"{ORG}/invites", invite_row)
    if kind == "console":
        return [
            organization,
            SnapshotFeed("users", (ORG_USERS,), users),
            SnapshotFeed("workspaces", (WORKSPACES, WORKSPACE_MEMBERS), _workspaces),
            SnapshotFeed(
                "api_keys", (API_KEYS,), _simple(API_KEYS, f"{ORG}/api_keys", api_key_row)
            ),
            SnapshotFeed("invites", (INVITES,), invites),
            SnapshotFeed(
                "service_accounts",
                (SERVICE_ACCOUNTS,),
                _simple(
                    SERVICE_ACCOUNTS,
                    f"{ORG}/service_accounts",
                    service_account_row,
                    [("include_archived", True)],
                    "token",
                ),
                optional=True,
            ),
        ]
    if kind == "enterprise":
        return [
            organization,
            SnapshotFeed("users", (ORG_USERS,), users, optional=True),
            SnapshotFeed("invites", (INVITES,), invites, optional=True),
            SnapshotFeed(
                "rbac_groups", (RBAC_GROUPS, RBAC_GROUP_MEMBERS), _rbac_groups, optional=True
            ),
        ]
    raise ValueError(f"unknown connection kind {kind!r} (console or enterprise)")
