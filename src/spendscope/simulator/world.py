"""The synthetic organizations the simulator serves: the records a `World` is made of.

A `World` holds every organization with its people, workspaces, keys and credentials. It never
changes after construction (the clock and the data generated from it live elsewhere), so it can be
shared by all request threads without locks. `world_generation.py` builds it from a seed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

CONSOLE = "console"
ENTERPRISE = "enterprise"

# Dimension vocabularies (anthropic-api.md §3.1, §4.1, §4.3).
SERVICE_TIERS = ("standard", "batch", "priority", "priority_on_demand", "flex", "flex_discount")
CONTEXT_WINDOWS = ("0-200k", "200k-1M")
INFERENCE_GEOS = ("global", "us", "not_available")
SPEEDS = ("standard", "fast")
CONSOLE_PRODUCTS = (
    "messages_api",
    "message_batches_api",
    "claude_code",
    "claude_console",
    "managed_agents_api",
)
ENTERPRISE_PRODUCTS = (
    "chat",
    "claude_code",
    "cowork",
    "office_agent",
    "claude_in_chrome",
    "claude_design",
    "claude_tag",
)
CLAUDE_TAG_CATEGORIES = ("dm", "engaged", "monitoring", "proactive", "scheduled")
CONSOLE_ROLES = ("user", "developer", "billing", "admin", "claude_code_user")
ENTERPRISE_ROLES = ("user", "owner", "primary_owner", "membership_admin", "managed")
WORKSPACE_ROLES = (
    "workspace_user",
    "workspace_developer",
    "workspace_restricted_developer",
    "workspace_admin",
    "workspace_billing",
)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    role: str
    added_at: datetime
    deleted: bool = False  # removed from the organization; still attributed in reports
    # Relative activity level (0..1): how often and how much this user works with Claude.
    intensity: float = 0.5

    def to_json(self) -> dict[str, object]:
        return {
            "added_at": _iso(self.added_at),
            "email": self.email,
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "type": "user",
        }


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    created_at: datetime
    is_default: bool = False
    archived_at: datetime | None = None
    display_color: str = "#6C5BB9"
    default_inference_geo: str = "global"
    members: tuple[tuple[str, str], ...] = ()  # (user_id, workspace_role)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "workspace",
            "created_at": _iso(self.created_at),
            "archived_at": _iso(self.archived_at) if self.archived_at else None,
            "display_color": self.display_color,
            "data_residency": {
                "allowed_inference_geos": "unrestricted",
                "default_inference_geo": self.default_inference_geo,
                "workspace_geo": "us",
            },
            "compartment_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.id)),
            "external_key_id": None,
            "tags": {},
            "user_profile_id": None,
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    workspace_id: str  # real id, also for the default workspace
    workspace_is_default: bool
    created_at: datetime
    created_by_user_id: str | None
    status: str
    partial_key_hint: str
    # Relative traffic weight of this key.
    weight: float = 1.0
    # What the key is used for ("batch-etl", "ci-bot", ...): shapes its traffic whatever its
    # name (not served).
    purpose: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": "api_key",
            "name": self.name,
            "created_at": _iso(self.created_at),
            "created_by": (
                {"id": self.created_by_user_id, "type": "user"} if self.created_by_user_id else None
            ),
            "expires_at": None,
            "partial_key_hint": self.partial_key_hint,
            "status": self.status,
            # Docs-era field (null for the default workspace) and SDK-era scope, both emitted.
            "workspace_id": None if self.workspace_is_default else self.workspace_id,
            "scope": {"type": "workspace", "workspace_id": self.workspace_id},
            "principal": None,
        }


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    id: str
    name: str
    description: str | None
    organization_role: str
    created_at: datetime
    created_by_actor_id: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": "service_account",
            "name": self.name,
            "description": self.description,
            "organization_role": self.organization_role,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
            "created_by_actor_id": self.created_by_actor_id,
            "updated_by_actor_id": None,
            "archived_at": None,
            "archived_by_actor_id": None,
        }


@dataclass(frozen=True, slots=True)
class RbacGroup:
    id: str
    name: str
    source_type: str
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": "rbac_group",
            "name": self.name,
            "source_type": self.source_type,
            "role_ids": ["rbac_role_" + self.id.removeprefix("rbac_group_")],
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class RbacMembership:
    """One user's membership of one RBAC group, from `start` until `end` (exclusive; None while
    it lasts). A user who leaves and later rejoins has two memberships."""

    group_id: str
    user_id: str
    start: datetime
    end: datetime | None = None

    def active_at(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)

    def on_day(self, day: date) -> bool:
        """Held at any time during this UTC day."""
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return self.start < day_start + timedelta(days=1) and (
            self.end is None or self.end > day_start
        )

    def to_json(self) -> dict[str, object]:
        return {
            "rbac_group_id": self.group_id,
            "user_id": self.user_id,
            "start": _iso(self.start),
            "end": _iso(self.end) if self.end else None,
        }


@dataclass(frozen=True, slots=True)
class Invite:
    id: str
    email: str
    role: str
    status: str
    invited_at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": "invite",
            "email": self.email,
            "role": self.role,
            "status": self.status,
            "invited_at": _iso(self.invited_at),
            "expires_at": _iso(self.invited_at + timedelta(days=21)),
            "accepted_at": (
                _iso(self.invited_at + timedelta(days=1)) if self.status == "accepted" else None
            ),
            "rbac_group_ids": [],
        }


@dataclass(frozen=True, slots=True)
class Credential:
    """A key or token the simulator recognises."""

    secret: str
    kind: str  # "admin" | "analytics" | "standard" | "oauth"
    org_id: str
    scopes: tuple[str, ...] = ()
    revoked: bool = False
    label: str = ""
    # True when the key was created at the parent organization level (organization_ids[] filter).
    parent_level: bool = False


@dataclass(slots=True)
class Organization:
    id: str  # UUID, as /v1/organizations/me returns it
    tagged_id: str  # org_..., as analytics envelopes show it
    name: str
    kind: str  # CONSOLE | ENTERPRISE
    analytics_enabled: bool = True
    parent_id: str | None = None
    child_ids: list[str] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)
    service_accounts: list[ServiceAccount] = field(default_factory=list)
    rbac_groups: list[RbacGroup] = field(default_factory=list)
    # Every RBAC group membership over time, past and scheduled (see `groups_of`).
    memberships: list[RbacMembership] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)
    # Scale of the traffic (1.0 = the default synthetic organization).
    scale: float = 1.0
    # Post-discount price as a fraction of list price (amount = list_amount * rate).
    discount_rate: str = "1"
    # Engagement feature flags (Family D).
    features: dict[str, bool] = field(default_factory=dict)
    # First day with any data.
    history_start: date = date(2025, 1, 1)
    # (user id, day) -> groups held that day; filled on demand by `groups_of`.
    _day_groups: dict[tuple[str, date], tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def user(self, user_id: str) -> User | None:
        for u in self.users:
            if u.id == user_id:
                return u
        return None

    def groups_of(self, user_id: str, day: date) -> tuple[str, ...]:
        """The RBAC groups a user belongs to at any time during a UTC day, in the order of
        `rbac_groups`. Usage of that day counts fully in each of them."""
        key = (user_id, day)
        found = self._day_groups.get(key)
        if found is None:
            held = {m.group_id for m in self.memberships if m.user_id == user_id and m.on_day(day)}
            found = tuple(g.id for g in self.rbac_groups if g.id in held)
            self._day_groups[key] = found
        return found

    def members_at(self, group_id: str, when: datetime) -> list[RbacMembership]:
        """The memberships of a group in force at an instant."""
        return [m for m in self.memberships if m.group_id == group_id and m.active_at(when)]

    def info(self) -> dict[str, object]:
        return {
            "id": self.id,
            "tagged_id": self.tagged_id,
            "name": self.name,
            "kind": self.kind,
            "analytics_enabled": self.analytics_enabled,
            "parent_id": self.parent_id,
            "child_ids": list(self.child_ids),
            "history_start": self.history_start.isoformat(),
            "counts": {
                "users": len(self.users),
                "workspaces": len(self.workspaces),
                "api_keys": len(self.api_keys),
                "service_accounts": len(self.service_accounts),
                "rbac_groups": len(self.rbac_groups),
                "rbac_memberships": len(self.memberships),
                "invites": len(self.invites),
            },
            # The whole timeline, scheduled changes included (`GET .../members` shows the
            # memberships in force at the clock).
            "rbac_memberships": [m.to_json() for m in self.memberships],
            "keys": [
                {
                    "label": c.label,
                    "kind": c.kind,
                    "key": c.secret,
                    "scopes": list(c.scopes),
                    "revoked": c.revoked,
                }
                for c in self.credentials
            ],
        }


@dataclass(frozen=True, slots=True)
class World:
    seed: int
    orgs: list[Organization]
    history_start: date
    _by_id: dict[str, Organization] = field(init=False, repr=False, compare=False)
    _by_secret: dict[str, Credential] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {o.id: o for o in self.orgs})
        secrets = {c.secret: c for o in self.orgs for c in o.credentials}
        object.__setattr__(self, "_by_secret", secrets)

    def org(self, org_id: str) -> Organization:
        return self._by_id[org_id]

    def org_by_ref(self, ref: str) -> Organization | None:
        """Find an organization by UUID, tagged id, or (case-insensitive) name or kind alias."""
        for o in self.orgs:
            if ref in (o.id, o.tagged_id) or ref.lower() == o.name.lower():
                return o
        return None

    def credential(self, secret: str) -> Credential | None:
        return self._by_secret.get(secret)

    @property
    def console(self) -> Organization:
        return next(o for o in self.orgs if o.kind == CONSOLE)

    @property
    def enterprise(self) -> Organization:
        return next(o for o in self.orgs if o.kind == ENTERPRISE and o.analytics_enabled)
