"""Building the synthetic `World` deterministically from a seed: the default organizations,
their people, workspaces, API keys, service accounts, groups, invites and credentials.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from .seeded import seeded_rng, tagged_id
from .world import (
    CONSOLE,
    CONSOLE_ROLES,
    ENTERPRISE,
    ENTERPRISE_ROLES,
    WORKSPACE_ROLES,
    ApiKey,
    Credential,
    Invite,
    Organization,
    RbacGroup,
    ServiceAccount,
    User,
    Workspace,
    World,
)
from .world_memberships import build_memberships

URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Nikhil",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
    "Amir",
    "Bea",
    "Carlos",
    "Dana",
    "Emil",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Marco",
    "Nora",
)
LAST_NAMES = (
    "Alvarez",
    "Brooks",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Singh",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
)
TEAM_NAMES = (
    "Platform Eng",
    "Data Science",
    "Support",
    "Sales",
    "Marketing",
    "Finance",
    "Legal",
    "Research",
    "Security",
    "Design",
)
WORKSPACE_NAMES = (
    "Production",
    "Data Science",
    "Support Bots",
    "Research",
    "Internal Tools",
    "Sandbox",
)
KEY_PURPOSES = (
    "prod-backend",
    "prod-worker",
    "staging",
    "ci-bot",
    "batch-etl",
    "search-svc",
    "chat-widget",
    "summarizer",
    "eval-harness",
    "notebook",
    "agent-runner",
    "doc-indexer",
)
# Console keys named after the team that owns them (by key index); the other keys are named
# "<purpose>-<workspace>-<index>". Three of them are in the default workspace.
TEAM_KEYS = {
    1: "team-payments-prod",
    15: "team-search-ci",
    21: "team-payments-dev",
    22: "team-growth-agents",
    28: "team-growth-batch",
    35: "team-search-prod",
}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _secret(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(URLSAFE) for _ in range(93)) + "AA"


def _people(
    rng: random.Random, n: int, domain: str, roles: tuple[str, ...], start: datetime
) -> list[tuple[str, str, str, str, datetime, float]]:
    out = []
    seen: set[str] = set()
    for i in range(n):
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i * 7 + rng.randrange(len(LAST_NAMES))) % len(LAST_NAMES)]
        email = f"{first}.{last}".lower() + f"@{domain}"
        while email in seen:
            email = email.replace("@", f"{rng.randrange(10)}@")
        seen.add(email)
        role = roles[0] if i else roles[-1]
        if i and rng.random() < 0.3:
            role = rng.choice(roles[:-1] if len(roles) > 1 else roles)
        added = start + timedelta(days=rng.randrange(0, 420), seconds=rng.randrange(86400))
        out.append(
            (
                tagged_id(rng, "user_01"),
                email,
                f"{first} {last}",
                role,
                added,
                round(rng.uniform(0.15, 1.0), 3),
            )
        )
    return out


def build_console_org(seed: int, history_start: date) -> Organization:
    rng = seeded_rng(seed, "console")
    start = datetime.combine(history_start, datetime.min.time(), UTC) - timedelta(days=30)
    org = Organization(
        id=_uuid(rng),
        tagged_id=tagged_id(rng, "org_01"),
        name="Acme Platform",
        kind=CONSOLE,
        discount_rate="0.95",
        history_start=history_start,
    )
    people = _people(
        rng,
        24,
        "acme.example",
        ("developer", "user", "billing", "claude_code_user", "admin"),
        start,
    )
    org.users = [
        User(id=p[0], email=p[1], name=p[2], role=p[3], added_at=p[4], intensity=p[5])
        for p in people
    ]
    colors = ("#6C5BB9", "#D97757", "#3B82F6", "#10B981", "#F59E0B", "#EF4444")
    workspaces = [
        Workspace(id=tagged_id(rng, "wrkspc_01"), name="Default", created_at=start, is_default=True)
    ]
    for i, name in enumerate(WORKSPACE_NAMES):
        members = tuple(
            (u.id, rng.choice(WORKSPACE_ROLES)) for u in org.users if rng.random() < 0.4
        )
        workspaces.append(
            Workspace(
                id=tagged_id(rng, "wrkspc_01"),
                name=name,
                created_at=start + timedelta(days=3 * i, hours=i),
                display_color=colors[i % len(colors)],
                default_inference_geo="us" if name == "Research" else "global",
                archived_at=(start + timedelta(days=200)) if name == "Sandbox" else None,
                members=members,
            )
        )
    org.workspaces = workspaces
    keys = []
    for i in range(36):
        ws = workspaces[i % len(workspaces)]
        if ws.archived_at is not None and i > 30:
            ws = workspaces[0]
        purpose = KEY_PURPOSES[i % len(KEY_PURPOSES)]
        status = "active"
        if i in (7, 19):
            status = "inactive"
        elif i == 29:
            status = "archived"
        hint_rng = seeded_rng(seed, "hint", i)
        hint = (
            "sk-ant-api03-"
            + "".join(hint_rng.choice(URLSAFE) for _ in range(3))
            + "..."
            + "".join(hint_rng.choice(URLSAFE) for _ in range(2))
            + "AA"
        )
        keys.append(
            ApiKey(
                id=tagged_id(rng, "apikey_01"),
                name=TEAM_KEYS.get(i) or f"{purpose}-{ws.name.lower().replace(' ', '-')}-{i:02d}",
                workspace_id=ws.id,
                workspace_is_default=ws.is_default,
                created_at=ws.created_at + timedelta(days=i, hours=3),
                created_by_user_id=org.users[i % len(org.users)].id,
                status=status,
                partial_key_hint=hint,
                weight=round(rng.paretovariate(1.3), 3),
                purpose=purpose,
            )
        )
    org.api_keys = keys
    org.service_accounts = [
        ServiceAccount(
            id=tagged_id(rng, "svac_01"),
            name=name,
            description=desc,
            organization_role=role,
            created_at=start + timedelta(days=10 + j * 20),
            created_by_actor_id=org.users[0].id,
        )
        for j, (name, desc, role) in enumerate(
            [
                ("billing-etl", "Nightly cost export", "developer"),
                ("deploy-bot", "Deploys from CI", "developer"),
                ("security-scan", None, "admin"),
            ]
        )
    ]
    org.invites = [
        Invite(
            id=tagged_id(rng, "invite_01"),
            email=f"new.hire{j}@acme.example",
            role=rng.choice(CONSOLE_ROLES),
            status=("pending", "accepted", "expired")[j % 3],
            invited_at=start + timedelta(days=300 + j * 9),
        )
        for j in range(7)
    ]
    krng = seeded_rng(seed, "console-keys")
    org.credentials = [
        Credential(_secret(krng, "sk-ant-admin01-"), "admin", org.id, label="admin"),
        Credential(
            _secret(krng, "sk-ant-admin01-"), "admin", org.id, revoked=True, label="admin-revoked"
        ),
        Credential(
            _secret(krng, "sk-ant-oat01-"),
            "oauth",
            org.id,
            scopes=("org:admin",),
            label="oauth-org-admin",
        ),
        Credential(_secret(krng, "sk-ant-api03-"), "standard", org.id, label="standard"),
    ]
    return org


def build_enterprise_org(
    seed: int,
    history_start: date,
    name: str,
    salt: str,
    n_users: int,
    analytics_enabled: bool,
    anchor: datetime,
) -> Organization:
    """An Enterprise organization; its RBAC memberships change around `anchor` (the instant the
    world is built, see `world_memberships`)."""
    rng = seeded_rng(seed, salt)
    start = datetime.combine(history_start, datetime.min.time(), UTC) - timedelta(days=20)
    domain = name.split(maxsplit=1)[0].lower() + ".example"
    org = Organization(
        id=_uuid(rng),
        tagged_id=tagged_id(rng, "org_01"),
        name=name,
        kind=ENTERPRISE,
        analytics_enabled=analytics_enabled,
        discount_rate="0.85",
        history_start=history_start,
        features={
            "chat_cowork_unified": False,
            "claude_tag": True,
            "last_activity_date": True,
            "per_product_summaries": True,
            "invocation_reporting": True,
            "spend_reporting": True,
        },
    )
    group_ids = [tagged_id(rng, "rbac_group_01") for _ in TEAM_NAMES]
    people = _people(rng, n_users, domain, (*ENTERPRISE_ROLES[:-1], "primary_owner"), start)
    users = []
    initial: dict[str, tuple[str, ...]] = {}
    for i, p in enumerate(people):
        primary = group_ids[i % len(group_ids)]
        groups = [primary]
        if rng.random() < 0.2:
            extra = rng.choice(group_ids)
            if extra != primary:
                groups.append(extra)
        if i % 17 == 16:
            groups = []  # in no group
        initial[p[0]] = tuple(groups)
        users.append(
            User(
                id=p[0],
                email=p[1],
                name=p[2],
                role=p[3],
                added_at=p[4],
                intensity=p[5],
                deleted=(i % 23 == 22),
            )
        )
    org.users = users
    org.rbac_groups = [
        RbacGroup(
            id=gid,
            name=TEAM_NAMES[j],
            source_type="scim" if j % 3 else "direct",
            created_at=start + timedelta(days=j),
        )
        for j, gid in enumerate(group_ids)
    ]
    org.memberships = build_memberships(
        seeded_rng(seed, salt, "memberships"), users, org.rbac_groups, initial, anchor
    )
    org.invites = [
        Invite(
            id=tagged_id(rng, "invite_01"),
            email=f"invitee{j}@{domain}",
            role=rng.choice(ENTERPRISE_ROLES[:1] + ENTERPRISE_ROLES[-1:]),
            status=("pending", "accepted", "expired")[j % 3],
            invited_at=start + timedelta(days=320 + j * 5),
        )
        for j in range(9)
    ]
    krng = seeded_rng(seed, salt, "keys")
    org.credentials = [
        Credential(
            _secret(krng, "sk-ant-api01-"),
            "analytics",
            org.id,
            scopes=(
                "read:analytics",
                "read:users",
                "read:invites",
                "read:groups",
                "read:spend_limits",
            ),
            label="analytics",
            parent_level=True,
        ),
        Credential(
            _secret(krng, "sk-ant-api01-"),
            "analytics",
            org.id,
            scopes=("read:spend_limits",),
            label="no-analytics-scope",
        ),
        Credential(
            _secret(krng, "sk-ant-api01-"),
            "analytics",
            org.id,
            scopes=("read:analytics",),
            label="analytics-only",
        ),
        Credential(
            _secret(krng, "sk-ant-api01-"),
            "analytics",
            org.id,
            scopes=("read:analytics",),
            revoked=True,
            label="analytics-revoked",
        ),
        Credential(
            _secret(krng, "sk-ant-api01-"),
            "analytics",
            org.id,
            scopes=("read:spend_limits", "write:spend_limits"),
            label="spend-limits-admin",
        ),
    ]
    return org


def apply_renames(orgs: Iterable[Organization], renames: Iterable[str]) -> None:
    """Rename entities: each item is "OLD=NEW", OLD an id, a name or (users) an e-mail."""
    for item in renames:
        old, sep, new = item.partition("=")
        if not sep or not old:
            raise ValueError(f"renames: '{item}' is not OLD=NEW")
        found = False
        for org in orgs:
            for attr in ("workspaces", "api_keys", "service_accounts"):
                items = getattr(org, attr)
                for i, e in enumerate(items):
                    if old in (e.id, e.name):
                        items[i] = replace(e, name=new)
                        found = True
            for i, u in enumerate(org.users):
                if old in (u.id, u.email, u.name):
                    org.users[i] = replace(u, email=new) if old != u.name else replace(u, name=new)
                    found = True
        if not found:
            raise ValueError(f"renames: nothing is called '{old}'")


def build_world(
    seed: int, now: datetime, history_days: int = 400, renames: Iterable[str] = ()
) -> World:
    """The default synthetic world: a Console organization that is the child of an Enterprise
    organization (the double-booking case), and a second Enterprise organization whose analytics
    API is not enabled. `renames` ("OLD=NEW") renames workspaces, keys, service accounts and
    users (see `apply_renames`)."""
    history_start = (now - timedelta(days=history_days)).date()
    console = build_console_org(seed, history_start)
    enterprise = build_enterprise_org(
        seed, history_start, "Acme Enterprise", "enterprise", 64, analytics_enabled=True, anchor=now
    )
    dark = build_enterprise_org(
        seed, history_start, "Globex Corp", "globex", 12, analytics_enabled=False, anchor=now
    )
    console.parent_id = enterprise.id
    enterprise.child_ids.append(console.id)
    apply_renames([console, enterprise, dark], renames)
    return World(seed=seed, orgs=[console, enterprise, dark], history_start=history_start)
