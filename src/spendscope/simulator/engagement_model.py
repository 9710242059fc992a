"""The data model of the synthetic engagement data (Family D): catalog entities, per-member
usage records, a member's day (`UserDay`), an organization's day (`DayData`) and the product
constants the endpoints and the generator share.

Counters live in a flat dict keyed `<block>.<field>`; blocks are `chat`, `ccu_chat` and
`ccu_sessions` (Chat and Cowork unified), `cc` (Claude Code), `cowork`, `design`, `excel`,
`outlook`, `powerpoint`, `word`, `science` and `tag`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .world import Organization, User

OFFICE_APPS = ("excel", "outlook", "powerpoint", "word")
# Usage surface (counter block) -> the product name the endpoints report.
SURFACE_PRODUCT = {
    "chat": "chat",
    "claude_code": "claude_code",
    "cowork": "cowork",
    **dict.fromkeys(OFFICE_APPS, "office_agent"),
    "ccu_chat": "chat_cowork_unified",
    "ccu_sessions": "chat_cowork_unified",
}
# Product family (for active-user counts) -> counters that are non-zero for a member active in it.
FAMILY_MARKERS = {
    "chat": ("chat.message_count", "ccu_chat.message_count"),
    "claude_code": ("cc.distinct_session_count",),
    "cowork": ("cowork.message_count", "ccu_sessions.message_count"),
    "office_agent": tuple(f"{a}.message_count" for a in OFFICE_APPS),
    "claude_design": ("design.message_count",),
    "science": ("science.message_count",),
    "chat_cowork_unified": ("ccu_chat.message_count", "ccu_sessions.message_count"),
}
MANAGED_AUTH_START = date(2026, 7, 1)
SPLIT_START = date(2026, 5, 29)  # first day of the read/write call classification


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    display: str | None
    share: str | None  # claude.ai share status; None for Claude Code / Office-only skills
    surfaces: frozenset[str]  # "chat", "claude_code", "cowork", "office"


@dataclass(frozen=True, slots=True)
class Connector:
    name: str
    display: str | None


@dataclass(frozen=True, slots=True)
class Plugin:
    name: str
    plugin_id: str | None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    created_day: date
    created_at: datetime
    creator: User
    attributed: bool  # False: deleted before attribution was recorded (created_at/by null)


@dataclass(frozen=True, slots=True)
class SkillUse:
    skill: Skill
    surface: str
    invocations: int
    units: int  # conversations (chat surfaces) or sessions that used the skill
    spend: int | None  # estimated overage, micro-cents; None before the Office data-start
    list_price: int | None  # None where there is no request-level attribution (chat)


@dataclass(frozen=True, slots=True)
class ConnectorUse:
    connector: Connector
    surface: str
    calls: int
    units: int
    auth: str  # "managed" | "individual" | "none"
    read: int
    write: int
    unclassified: int


@dataclass(frozen=True, slots=True)
class PluginUse:
    plugin: Plugin
    surface: str
    invocations: int
    sessions: int
    installed: bool


@dataclass(frozen=True, slots=True)
class ArtifactUse:
    artifact_type: str
    shared: bool
    surface: str
    created: int
    published: int


@dataclass(frozen=True, slots=True)
class ProjectUse:
    project: Project
    messages: int
    conversations: int


@dataclass(slots=True)
class UserDay:
    user: User
    unified: bool
    counts: dict[str, int] = field(default_factory=dict)
    sets: dict[str, frozenset[str]] = field(default_factory=dict)
    skills: list[SkillUse] = field(default_factory=list)
    connectors: list[ConnectorUse] = field(default_factory=list)
    plugins: list[PluginUse] = field(default_factory=list)
    artifacts: list[ArtifactUse] = field(default_factory=list)
    projects: list[ProjectUse] = field(default_factory=list)

    def add(self, key: str, value: int) -> None:
        if value:
            self.counts[key] = self.counts.get(key, 0) + value

    def used(self, key: str, name: str) -> None:
        self.sets[key] = self.sets.get(key, frozenset()) | {name}


@dataclass(frozen=True, slots=True)
class DayData:
    day: date
    users: list[UserDay]
    # Bit masks over `org.users` positions: "active" and one per product/surface family.
    masks: dict[str, int]
    tag_measured: bool
    tag_slack_users: frozenset[str]  # Claude Tag actives, linked and unlinked Slack users
    skill_enables: dict[str, int]  # org-wide enable count of each claude.ai skill


@dataclass(frozen=True, slots=True)
class Catalog:
    skills: list[Skill]
    connectors: list[Connector]
    plugins: list[Plugin]
    projects: list[Project]  # sorted by creation day
    project_days: list[date]
    unlinked_slack: list[str]
    science_entitled: frozenset[str]
    unified_users: frozenset[str]
    midpoint: date  # Claude Tag reporting starts; deleted members leave the org after it
    skill_pools: dict[str, list[Skill]] = field(default_factory=dict)  # usable skills by surface

    def __post_init__(self) -> None:
        for kind in ("chat", "claude_code", "cowork", "office"):
            self.skill_pools[kind] = [s for s in self.skills if kind in s.surfaces]

    def members_on(self, org: Organization, day: date) -> list[User]:
        """Members of the organization on a day (same rule as `facts_generation.active_users`)."""
        return [
            u
            for u in org.users
            if u.added_at.date() <= day and not (u.deleted and day > self.midpoint)
        ]
