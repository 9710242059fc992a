"""Snapshot tables of the organization lists (users, workspaces, API keys, ...).

Each sync replaces a connection's rows with the current list: objects no longer listed are
deleted. Objects are flattened (`created_by.id` -> `created_by_id`); lists and maps are kept as
JSON text. The key is the object id (memberships: the pair of ids).
"""

from __future__ import annotations

from .tables import CONNECTION, FETCHED_AT, ROW_KEY, TS, Column, Table, _s


def _ts(name: str, doc: str = "") -> Column:
    return Column(name, TS, True, doc)


def _snapshot(name: str, doc: str, key: tuple[str, ...], *columns: Column) -> Table:
    return Table(
        name=name,
        doc=doc,
        kind="snapshot",
        columns=(ROW_KEY, CONNECTION, *columns, FETCHED_AT),
        key=key,
    )


ORGANIZATIONS = _snapshot(
    "organizations",
    "`/v1/organizations/me`: the connection's organization.",
    ("id",),
    _s("id", "Organization id (UUID)."),
    _s("name"),
    _s("type", "Always organization."),
)
ORG_USERS = _snapshot(
    "org_users",
    "`/v1/organizations/users`: the organization's members.",
    ("id",),
    _s("id", "user_…"),
    _s("email"),
    _s("name"),
    _s(
        "role",
        "Console: user, developer, billing, admin, claude_code_user; Enterprise: user, "
        "owner, primary_owner, membership_admin, managed.",
    ),
    _ts("added_at", "When the member joined."),
)
WORKSPACES = _snapshot(
    "workspaces",
    "`/v1/organizations/workspaces` (archived and default workspaces included).",
    ("id",),
    _s("id", "wrkspc_…"),
    _s("name"),
    _ts("created_at"),
    _ts("archived_at", "Null unless archived."),
    _s("display_color"),
    _s("workspace_geo", "data_residency.workspace_geo."),
    _s("default_inference_geo", "data_residency.default_inference_geo."),
    _s(
        "allowed_inference_geos",
        "data_residency.allowed_inference_geos: JSON list, or `unrestricted`.",
    ),
    _s("compartment_id"),
    _s("external_key_id"),
    _s("tags_json", "Tags as a JSON object."),
    _s("user_profile_id"),
)
WORKSPACE_MEMBERS = _snapshot(
    "workspace_members",
    "`/v1/organizations/workspaces/{id}/members` of every workspace.",
    ("workspace_id", "user_id"),
    _s("workspace_id"),
    _s("user_id"),
    _s(
        "workspace_role",
        "workspace_user, workspace_developer, workspace_restricted_developer, "
        "workspace_admin or workspace_billing.",
    ),
)
API_KEYS = _snapshot(
    "api_keys",
    "`/v1/organizations/api_keys`: every key, whatever its status.",
    ("id",),
    _s("id", "apikey_…"),
    _s("name"),
    _s(
        "workspace_id",
        "The key's workspace: scope.workspace_id (the real id, default workspace "
        "included) when sent, else workspace_id (null for the default).",
    ),
    _s("scope_type", "workspace or organization (null when the API sends no scope)."),
    _s("status", "active, inactive, archived or expired."),
    _ts("created_at"),
    _s("created_by_id"),
    _s("created_by_type", "user or service_account."),
    _ts("expires_at", "Null: never expires."),
    _s("partial_key_hint", "e.g. sk-ant-api03-R2D...igAA."),
    _s("principal_type", "user_actor or service_account_actor (null if none)."),
    _s("principal_id", "The user or service account the key acts as."),
)
INVITES = _snapshot(
    "invites",
    "`/v1/organizations/invites`: pending, accepted and expired invites.",
    ("id",),
    _s("id", "invite_…"),
    _s("email"),
    _s("role"),
    _s("status", "accepted, deleted, expired or pending."),
    _ts("invited_at"),
    _ts("expires_at"),
    _ts("accepted_at"),
    _s("rbac_group_ids", "JSON list of rbac group ids (Enterprise)."),
)
SERVICE_ACCOUNTS = _snapshot(
    "service_accounts",
    "`/v1/organizations/service_accounts` (archived included; needs an OAuth org:admin token).",
    ("id",),
    _s("id", "svac_…"),
    _s("name"),
    _s("description"),
    _s("organization_role", "admin or developer."),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("archived_at"),
    _s("created_by_actor_id"),
    _s("updated_by_actor_id"),
    _s("archived_by_actor_id"),
)
RBAC_GROUPS = _snapshot(
    "rbac_groups",
    "`/v1/organizations/rbac_groups` (Claude Enterprise).",
    ("id",),
    _s("id", "rbac_group_…"),
    _s("name"),
    _s("source_type", "direct or scim."),
    _s("role_ids", "JSON list of role ids; null: role data temporarily unavailable."),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("listed_at", "When the sync listed it (its clock): the day `rbac_membership` dates by."),
)
RBAC_GROUP_MEMBERS = _snapshot(
    "rbac_group_members",
    "`/v1/organizations/rbac_groups/{id}/members` of every group.",
    ("rbac_group_id", "user_id"),
    _s("rbac_group_id"),
    _s("user_id"),
    _s("email"),
    _ts("created_at", "When the membership started."),
    _ts("listed_at", "When the sync listed it (its clock): the day `rbac_membership` dates by."),
)

ADMIN_TABLES: tuple[Table, ...] = (
    ORGANIZATIONS,
    ORG_USERS,
    WORKSPACES,
    WORKSPACE_MEMBERS,
    API_KEYS,
    INVITES,
    SERVICE_ACCOUNTS,
    RBAC_GROUPS,
    RBAC_GROUP_MEMBERS,
)
