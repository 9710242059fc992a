"""Family A Admin API lists (anthropic-api.md §3.4–§3.11).

The organization (`/me`), its members, workspaces and their members, API keys, invites, service
accounts and RBAC groups. Authentication and key-type errors are handled centrally by the server;
the handlers here only read the (immutable) world, filter, order and paginate.

Two pagination styles (§1.4):
- ID cursor (users, workspaces, workspace members, API keys, invites): `limit`, `after_id`,
  `before_id`; envelope `{data, has_more, first_id, last_id}`.
- Token cursor (service accounts, RBAC groups and their members): `limit`, `page`; envelope
  `{data, next_page}`, the token being bound to the query that produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .params import ApiError, Params, bound_cursor, invalid, read_bound_cursor
from .routing import Auth, Request, RouteTable
from .world import (
    CONSOLE_ROLES,
    ENTERPRISE,
    ENTERPRISE_ROLES,
    ApiKey,
    Invite,
    Organization,
    RbacGroup,
    ServiceAccount,
    User,
    Workspace,
)

routes = RouteTable()
JSON = dict[str, Any]

LIMIT_DEFAULT = 20
LIMIT_MIN = 1
LIMIT_MAX = 1000
MAX_IDS = 100
API_KEY_STATUSES = ("active", "inactive", "archived", "expired")
# Invite statuses a client may filter on; `deleted` invites are never listed.
INVITE_STATUSES = ("accepted", "expired", "pending")
_PREFIX = "/v1/organizations"


# -- helpers ----------------------------------------------------------------------------------


def _stamp(dt: datetime) -> str:
    """RFC 3339 UTC with microseconds, like the other Admin objects."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found_error", f"{what} not found: {ident}")


def id_page(params: Params, universe: Sequence[str], rows: Sequence[tuple[str, JSON]]) -> JSON:
    """One page of an ID-cursor list.

    `universe` is every id of the collection in list order (a cursor must be one of them, else
    400); `rows` the (id, object) pairs that pass the filters, in the same order. `after_id=X`
    gives the rows after X, `before_id=X` the `limit` rows closest before X (in list order).
    """
    limit = params.integer("limit", LIMIT_DEFAULT, LIMIT_MIN, LIMIT_MAX)
    after_id = params.one("after_id") or None
    before_id = params.one("before_id") or None
    if after_id is not None and before_id is not None:
        raise invalid("after_id and before_id are mutually exclusive: set at most one of them")
    position = {item_id: i for i, item_id in enumerate(universe)}

    def locate(name: str, cursor: str) -> int:
        found = position.get(cursor)
        if found is None:
            raise invalid(f"{name}: '{cursor}' does not identify an item of this list")
        return found

    if after_id is not None:
        start = locate("after_id", after_id)
        window = [r for r in rows if position[r[0]] > start]
        page = window[:limit]
    elif before_id is not None:
        end = locate("before_id", before_id)
        window = [r for r in rows if position[r[0]] < end]
        page = window[-limit:]
    else:
        window = list(rows)
        page = window[:limit]
    return {
        "data": [obj for _, obj in page],
        "has_more": len(window) > len(page),
        "first_id": page[0][0] if page else None,
        "last_id": page[-1][0] if page else None,
    }


def token_page(params: Params, rows: Sequence[JSON], default_limit: int = LIMIT_DEFAULT) -> JSON:
    """One page of a token-cursor list; `next_page` is null on the last page."""
    limit = params.integer("limit", default_limit, LIMIT_MIN, LIMIT_MAX)
    offset, _ = read_bound_cursor(params)
    page = list(rows[offset : offset + limit])
    end = offset + len(page)
    return {"data": page, "next_page": bound_cursor(params, end) if end < len(rows) else None}


def _email_filter(params: Params) -> str | None:
    """The `email` filter, normalized (trimmed, case-insensitive); empty means no filter."""
    raw = params.one("email")
    if raw is None or not raw.strip():
        return None
    return raw.strip().lower()


def _roles_filter(params: Params, org: Organization) -> set[str]:
    allowed = ENTERPRISE_ROLES if org.kind == ENTERPRISE else CONSOLE_ROLES
    return set(params.enums("roles", allowed))


# -- organization -----------------------------------------------------------------------------


@routes.get(f"{_PREFIX}/me", Auth.ORG_MEMBERS)
def get_me(req: Request) -> JSON:
    org = req.organization
    return {"id": org.id, "name": org.name, "type": "organization"}


# -- users ------------------------------------------------------------------------------------


def org_members(org: Organization) -> list[User]:
    """Current members in creation order; deleted users are no longer members."""
    return sorted((u for u in org.users if not u.deleted), key=lambda u: (u.added_at, u.id))


@routes.get(f"{_PREFIX}/users", Auth.ORG_MEMBERS, scope="read:users")
def list_users(req: Request) -> JSON:
    org, params = req.organization, req.params
    email = _email_filter(params)
    roles = _roles_filter(params, org)
    members = org_members(org)
    rows = [
        (u.id, u.to_json())
        for u in members
        if (email is None or u.email.lower() == email) and (not roles or u.role in roles)
    ]
    return id_page(params, [u.id for u in members], rows)


@routes.get(f"{_PREFIX}/users/{{user_id}}", Auth.ORG_MEMBERS, scope="read:users")
def get_user(req: Request) -> JSON:
    user_id = req.match["user_id"]
    for user in org_members(req.organization):
        if user.id == user_id:
            return user.to_json()
    raise _not_found("User", user_id)


# -- workspaces -------------------------------------------------------------------------------


def org_workspaces(org: Organization) -> list[Workspace]:
    """Every workspace: the default one first, then the others in creation order."""
    return sorted(org.workspaces, key=lambda w: (not w.is_default, w.created_at, w.id))


def _workspace(org: Organization, workspace_id: str) -> Workspace:
    for ws in org.workspaces:
        if ws.id == workspace_id:
            return ws
    raise _not_found("Workspace", workspace_id)


@routes.get(f"{_PREFIX}/workspaces", Auth.CONSOLE_ADMIN)
def list_workspaces(req: Request) -> JSON:
    org, params = req.organization, req.params
    include_archived = params.boolean("include_archived", False)
    include_default = params.boolean("include_default", False)
    wanted = set(params.many("ids", MAX_IDS))
    workspaces = org_workspaces(org)
    rows = [
        (w.id, w.to_json())
        for w in workspaces
        if (include_archived or w.archived_at is None)
        and (include_default or not w.is_default)
        and (not wanted or w.id in wanted)
    ]
    return id_page(params, [w.id for w in workspaces], rows)


@routes.get(f"{_PREFIX}/workspaces/{{workspace_id}}", Auth.CONSOLE_ADMIN)
def get_workspace(req: Request) -> JSON:
    return _workspace(req.organization, req.match["workspace_id"]).to_json()


def workspace_members(org: Organization, ws: Workspace) -> list[tuple[User, str]]:
    """(user, workspace_role) of the workspace's current members, in the users list order."""
    roles = dict(ws.members)
    return [(u, roles[u.id]) for u in org_members(org) if u.id in roles]


def _member_json(ws: Workspace, user: User, role: str) -> JSON:
    return {
        "type": "workspace_member",
        "user_id": user.id,
        "workspace_id": ws.id,
        "workspace_role": role,
    }


@routes.get(f"{_PREFIX}/workspaces/{{workspace_id}}/members", Auth.CONSOLE_ADMIN)
def list_workspace_members(req: Request) -> JSON:
    org = req.organization
    ws = _workspace(org, req.match["workspace_id"])
    members = workspace_members(org, ws)
    rows = [(u.id, _member_json(ws, u, role)) for u, role in members]
    return id_page(req.params, [u.id for u, _ in members], rows)


@routes.get(f"{_PREFIX}/workspaces/{{workspace_id}}/members/{{user_id}}", Auth.CONSOLE_ADMIN)
def get_workspace_member(req: Request) -> JSON:
    org = req.organization
    ws = _workspace(org, req.match["workspace_id"])
    user_id = req.match["user_id"]
    for user, role in workspace_members(org, ws):
        if user.id == user_id:
            return _member_json(ws, user, role)
    raise _not_found("Workspace member", user_id)


# -- API keys ---------------------------------------------------------------------------------


def org_api_keys(org: Organization) -> list[ApiKey]:
    return sorted(org.api_keys, key=lambda k: (k.created_at, k.id))


@routes.get(f"{_PREFIX}/api_keys", Auth.CONSOLE_ADMIN)
def list_api_keys(req: Request) -> JSON:
    org, params = req.organization, req.params
    status = params.enum("status", API_KEY_STATUSES)
    workspace_id = params.one("workspace_id") or None
    created_by = params.one("created_by_user_id") or None
    keys = org_api_keys(org)
    rows = [
        (k.id, k.to_json())
        for k in keys
        if (status is None or k.status == status)
        and (workspace_id is None or k.workspace_id == workspace_id)
        and (created_by is None or k.created_by_user_id == created_by)
    ]
    return id_page(params, [k.id for k in keys], rows)


@routes.get(f"{_PREFIX}/api_keys/{{api_key_id}}", Auth.CONSOLE_ADMIN)
def get_api_key(req: Request) -> JSON:
    key_id = req.match["api_key_id"]
    for key in req.organization.api_keys:
        if key.id == key_id:
            return key.to_json()
    raise _not_found("API key", key_id)


# -- invites ----------------------------------------------------------------------------------


def org_invites(org: Organization) -> list[Invite]:
    return sorted(org.invites, key=lambda i: (i.invited_at, i.id))


@routes.get(f"{_PREFIX}/invites", Auth.ORG_MEMBERS, scope="read:invites")
def list_invites(req: Request) -> JSON:
    org, params = req.organization, req.params
    email = _email_filter(params)
    roles = _roles_filter(params, org)
    statuses = set(params.enums("statuses", INVITE_STATUSES)) or set(INVITE_STATUSES)
    invites = org_invites(org)
    rows = [
        (i.id, i.to_json())
        for i in invites
        if i.status in statuses
        and (email is None or i.email.lower() == email)
        and (not roles or i.role in roles)
    ]
    return id_page(params, [i.id for i in invites], rows)


@routes.get(f"{_PREFIX}/invites/{{invite_id}}", Auth.ORG_MEMBERS, scope="read:invites")
def get_invite(req: Request) -> JSON:
    invite_id = req.match["invite_id"]
    for invite in req.organization.invites:
        if invite.id == invite_id:
            return invite.to_json()
    raise _not_found("Invite", invite_id)


# -- service accounts -------------------------------------------------------------------------


def org_service_accounts(org: Organization) -> list[ServiceAccount]:
    """Newest first, as the SDK documents."""
    return sorted(org.service_accounts, key=lambda s: (s.created_at, s.id), reverse=True)


@routes.get(f"{_PREFIX}/service_accounts", Auth.OAUTH_ONLY)
def list_service_accounts(req: Request) -> JSON:
    params = req.params
    include_archived = params.boolean("include_archived", False)
    rows = [sa.to_json() for sa in org_service_accounts(req.organization)]
    if not include_archived:
        rows = [r for r in rows if r["archived_at"] is None]
    return token_page(params, rows, req.sim.config.service_accounts_default_limit)


@routes.get(f"{_PREFIX}/service_accounts/{{service_account_id}}", Auth.OAUTH_ONLY)
def get_service_account(req: Request) -> JSON:
    sa_id = req.match["service_account_id"]
    for sa in req.organization.service_accounts:
        if sa.id == sa_id:
            return sa.to_json()
    raise _not_found("Service account", sa_id)


# -- RBAC groups (Claude Enterprise only; the server rejects other organizations) -------------


def org_rbac_groups(org: Organization) -> list[RbacGroup]:
    return sorted(org.rbac_groups, key=lambda g: (g.created_at, g.id))


def _rbac_group(org: Organization, group_id: str) -> RbacGroup:
    for group in org.rbac_groups:
        if group.id == group_id:
            return group
    raise _not_found("RBAC group", group_id)


def rbac_group_members(org: Organization, group: RbacGroup, now: datetime) -> list[JSON]:
    """The group's members at `now` (deleted users left out), in the order they joined it;
    `created_at` is the start of the membership. Past memberships are not listed."""
    users = {u.id: u for u in org.users if not u.deleted}
    rows: list[tuple[datetime, str, JSON]] = []
    for membership in org.members_at(group.id, now):
        user = users.get(membership.user_id)
        if user is None:
            continue
        rows.append(
            (
                membership.start,
                user.id,
                {
                    "type": "rbac_group_member",
                    "rbac_group_id": group.id,
                    "user_id": user.id,
                    "email": user.email,
                    "created_at": _stamp(membership.start),
                },
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


@routes.get(f"{_PREFIX}/rbac_groups", Auth.ENTERPRISE_GROUPS, scope="read:groups")
def list_rbac_groups(req: Request) -> JSON:
    rows = [g.to_json() for g in org_rbac_groups(req.organization)]
    return token_page(req.params, rows)


@routes.get(f"{_PREFIX}/rbac_groups/{{rbac_group_id}}", Auth.ENTERPRISE_GROUPS, scope="read:groups")
def get_rbac_group(req: Request) -> JSON:
    return _rbac_group(req.organization, req.match["rbac_group_id"]).to_json()


@routes.get(
    f"{_PREFIX}/rbac_groups/{{rbac_group_id}}/members", Auth.ENTERPRISE_GROUPS, scope="read:groups"
)
def list_rbac_group_members(req: Request) -> JSON:
    org = req.organization
    group = _rbac_group(org, req.match["rbac_group_id"])
    return token_page(req.params, rbac_group_members(org, group, req.sim.now()))
