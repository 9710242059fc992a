"""Per-day synthetic engagement data of Claude Enterprise organizations (Family D).

For every (organization, UTC day) a `DayData` holds one `UserDay` per member active that day --
exactly the members that have usage facts (`facts.active_users`) -- with the additive counters of
the `/analytics/users` activity blocks, the named entities each member used (so distinct counts
can be recounted exactly over any window or group), and the per-entity usage records behind
`/skills`, `/connectors`, `/plugins`, `/artifacts` and `/apps/chat/projects`. A member's blocks
follow that day's facts: claude.ai chat activity only with `chat` facts, Claude Code metrics only
with `claude_code` facts, and so on.

Counters live in a flat dict keyed `<block>.<field>`; blocks are `chat`, `ccu_chat` and
`ccu_sessions` (Chat and Cowork unified), `cc` (Claude Code), `cowork`, `design`, `excel`,
`outlook`, `powerpoint`, `word`, `science` and `tag`. Generated lazily and cached per simulator.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from .facts import Fact, active_users, slack_user_id
from .state import Simulator
from .world import Organization, User, _rng, tagged_id

OFFICE_APPS = ("excel", "outlook", "powerpoint", "word")
OFFICE_WEIGHTS = (40, 15, 20, 25)
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
SESSION_ARTIFACTS_START = date(2026, 8, 17)  # Claude Code / Cowork artifacts counted from here
OFFICE_SPEND_START = date(2026, 6, 18)  # Office Agent spend attribution data-start
MANAGED_AUTH_START = date(2026, 7, 1)
SPLIT_START = date(2026, 5, 29)  # first day of the read/write call classification
CLASSIFICATION_START = {
    "chat": date(2026, 6, 1),
    "ccu_chat": date(2026, 6, 1),
    "claude_code": date(2026, 5, 30),
    **dict.fromkeys(OFFICE_APPS, date(2026, 5, 29)),
    "cowork": date(2026, 6, 2),
    "ccu_sessions": date(2026, 6, 2),
}
ARTIFACT_TYPES = (
    "application/vnd.ant.code",
    "application/vnd.ant.mermaid",
    "application/vnd.ant.react",
    "image/svg+xml",
    "other",
    "text/html",
    "text/markdown",
    "text/plain",
)
ARTIFACT_WEIGHTS = (15, 5, 20, 8, 4, 12, 30, 6)
OVERAGE_PERCENT = 35  # share of post-discount spend that is metered overage (seat-based plan)
PROJECT_NAMES = (
    "Q4 Launch Plan",
    "Customer Interviews",
    "Pricing Review",
    "Hiring Loop",
    "Board Deck",
    "Incident Reviews",
    "API Migration",
    "Brand Refresh",
    "Security Audit",
    "Sales Playbook",
    "Onboarding Guide",
    "Data Catalog",
    "Vendor Contracts",
    "Roadmap 2027",
    "Support Macros",
    "Research Notes",
    "Budget Model",
    "Release Notes",
)


@dataclass(frozen=True)
class Skill:
    name: str
    display: str | None
    share: str | None  # claude.ai share status; None for Claude Code / Office-only skills
    surfaces: frozenset[str]  # "chat", "claude_code", "cowork", "office"


@dataclass(frozen=True)
class Connector:
    name: str
    display: str | None


@dataclass(frozen=True)
class Plugin:
    name: str
    plugin_id: str | None


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    created_day: date
    created_at: datetime
    creator: User
    attributed: bool  # False: deleted before attribution was recorded (created_at/by null)


class SkillUse(NamedTuple):
    skill: Skill
    surface: str
    invocations: int
    units: int  # conversations (chat surfaces) or sessions that used the skill
    spend: int | None  # estimated overage, micro-cents; None before the Office data-start
    list_price: int | None  # None where there is no request-level attribution (chat)


class ConnectorUse(NamedTuple):
    connector: Connector
    surface: str
    calls: int
    units: int
    auth: str  # "managed" | "individual" | "none"
    read: int
    write: int
    unclassified: int


class PluginUse(NamedTuple):
    plugin: Plugin
    surface: str
    invocations: int
    sessions: int
    installed: bool


class ArtifactUse(NamedTuple):
    artifact_type: str
    shared: bool
    surface: str
    created: int
    published: int


class ProjectUse(NamedTuple):
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


@dataclass
class DayData:
    day: date
    users: list[UserDay]
    # Bit masks over `org.users` positions: "active" and one per product/surface family.
    masks: dict[str, int]
    tag_measured: bool
    tag_slack_users: frozenset[str]  # Claude Tag actives, linked and unlinked Slack users
    skill_enables: dict[str, int]  # org-wide enable count of each claude.ai skill


@dataclass
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
        """Members of the organization on a day (same rule as `facts.active_users`)."""
        return [
            u
            for u in org.users
            if u.added_at.date() <= day and not (u.deleted and day > self.midpoint)
        ]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def build_catalog(seed: int, org: Organization) -> Catalog:
    rng = _rng(seed, org.id, "engagement-catalog")
    claude_ai = frozenset({"chat", "cowork", "office"})
    skills = [
        Skill(n, None, "public", claude_ai | {"claude_code"})
        for n in ("docx", "pdf", "pptx", "xlsx", "skill-creator", "canvas-design")
    ]
    skills += [
        Skill(tagged_id(rng, "skill_01"), d, "organization", claude_ai)
        for d in (
            "Quarterly report formatter",
            "Brand voice",
            "Contract review checklist",
            "Incident postmortem",
        )
    ]
    skills += [
        Skill(tagged_id(rng, "skill_01"), None, "private", frozenset({"chat", "cowork"}))
        for _ in range(3)
    ]
    skills += [
        Skill(n, None, None, frozenset({"claude_code"})) for n in ("code-review", "test-writer")
    ]
    skills.append(Skill("unknown", "Unknown skill", None, frozenset({"claude_code", "office"})))
    connectors = [
        Connector(n, None)
        for n in (
            "asana",
            "atlassian",
            "github",
            "google_drive",
            "linear",
            "notion",
            "salesforce",
            "slack",
        )
    ]
    connectors += [
        Connector(tagged_id(rng, "mcpsrv_01"), d) for d in ("Acme Wiki", "Data Warehouse", None)
    ]
    plugins = [
        Plugin(n, f"{n}@claude-plugins-official")
        for n in ("commit-commands", "frontend-design", "pr-review-toolkit", "serena")
    ]
    plugins += [Plugin("acme-deploy", "acme-deploy@acme-marketplace"), Plugin("third-party", None)]
    projects = []
    for i in range(36):
        cday = org.history_start + timedelta(days=5 + rng.randrange(415))
        present = active_users(seed, org, cday) or org.users
        creator = present[rng.randrange(len(present))]
        at = datetime(cday.year, cday.month, cday.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86400), microseconds=rng.randrange(10**6)
        )
        projects.append(
            Project(
                tagged_id(rng, "claude_proj_01"),
                f"{PROJECT_NAMES[i % len(PROJECT_NAMES)]}"
                + (f" {i // len(PROJECT_NAMES) + 1}" if i >= 18 else ""),
                cday,
                at,
                creator,
                attributed=rng.random() > 0.08,
            )
        )
    projects.sort(key=lambda p: (p.created_day, p.id))
    urng = _rng(seed, org.id, "unlinked-slack")
    return Catalog(
        skills=skills,
        connectors=connectors,
        plugins=plugins,
        projects=projects,
        project_days=[p.created_day for p in projects],
        unlinked_slack=["U0" + tagged_id(urng, "", 9).upper() for _ in range(15)],
        science_entitled=frozenset(
            u.id for u in org.users if _rng(seed, org.id, "science", u.id).random() < 0.2
        ),
        unified_users=frozenset(
            u.id for u in org.users if _rng(seed, org.id, "unified", u.id).random() < 0.4
        ),
        midpoint=org.history_start + timedelta(days=200),
    )


class _UserGen:
    """Generates one member's day from their facts."""

    def __init__(
        self,
        seed: int,
        org: Organization,
        cat: Catalog,
        day: date,
        u: User,
        facts: list[Fact],
        unified: bool,
    ) -> None:
        self.rng = _rng(seed, org.id, "engagement", day.isoformat(), u.id)
        self.cat, self.day, self.u = cat, day, u
        self.ud = UserDay(u, unified)
        self.by_product: dict[str | None, list[Fact]] = {}
        for f in facts:
            self.by_product.setdefault(f.product, []).append(f)

    def req(self, product: str) -> int:
        return sum(f.requests for f in self.by_product.get(product, ()))

    def money(self, product: str) -> tuple[int, int]:
        fs = self.by_product.get(product, ())
        return sum(sum(f.cost) for f in fs), sum(sum(f.list_cost) for f in fs)

    def skills(self, surface: str, kind: str, units: int, product: str) -> int:
        """Skill uses on a surface; returns the invocation total."""
        rng, ud, total = self.rng, self.ud, 0
        pool = self.cat.skill_pools[kind]
        cost, lst = self.money(product)
        for s in rng.sample(pool, min(len(pool), _poisson(rng, 0.9))):
            inv = 1 + _poisson(rng, 1.5)
            share = (inv, 2 * (inv + 4))
            spend = (
                None
                if kind == "office" and self.day < OFFICE_SPEND_START
                else cost * share[0] * OVERAGE_PERCENT // (share[1] * 100)
            )
            listed = (
                None
                if surface in ("chat", "ccu_chat") or spend is None
                else lst * share[0] // share[1]
            )
            ud.skills.append(
                SkillUse(s, surface, inv, min(units, 1 + _poisson(rng, 0.4)), spend, listed)
            )
            ud.used(f"{surface}.skills", s.name)
            total += inv
        return total

    def connectors(self, surface: str, units: int) -> int:
        rng, ud, total = self.rng, self.ud, 0
        start = CLASSIFICATION_START[surface]
        for c in rng.sample(self.cat.connectors, min(3, _poisson(rng, 0.8))):
            calls = 1 + _poisson(rng, 4)
            read = write = uncl = 0
            if self.day >= start:
                read = round(calls * rng.uniform(0.4, 0.8))
                write = round((calls - read) * rng.uniform(0.2, 0.6))
                uncl = calls - read - write
            auth = rng.choices(("managed", "individual", "none"), (5, 3, 2))[0]
            ud.connectors.append(
                ConnectorUse(
                    c, surface, calls, min(units, 1 + _poisson(rng, 0.5)), auth, read, write, uncl
                )
            )
            ud.used(f"{surface}.connectors", c.name)
            total += calls
        return total

    def plugins(self, surface: str, sessions: int) -> int:
        rng, ud, total = self.rng, self.ud, 0
        for p in rng.sample(self.cat.plugins, min(2, _poisson(rng, 0.6))):
            inv = 1 + _poisson(rng, 5)
            ud.plugins.append(
                PluginUse(
                    p,
                    surface,
                    inv,
                    min(sessions, 1 + _poisson(rng, 0.5)),
                    p.plugin_id is not None and rng.random() < 0.08,
                )
            )
            ud.used(f"{surface}.plugins", p.name)
            total += inv
        return total

    def artifacts(self, surface: str, lam: float, typed: bool) -> int:
        rng, total = self.rng, 0
        for _ in range(_poisson(rng, lam)):
            kind = rng.choices(ARTIFACT_TYPES, ARTIFACT_WEIGHTS)[0] if typed else "text/html"
            shared = rng.random() < 0.2
            published = 1 if shared and rng.random() < 0.3 else 0
            self.ud.artifacts.append(ArtifactUse(kind, shared, surface, 1, published))
            total += 1
        return total

    def chat(self) -> None:
        rng, ud = self.rng, self.ud
        b = "ccu_chat" if ud.unified else "chat"
        msgs = max(1, self.req("chat"))
        conv = max(1, min(msgs, round(msgs / rng.uniform(3, 9))))
        ud.add(f"{b}.message_count", msgs)
        ud.add(f"{b}.thinking_message_count", int(msgs * rng.uniform(0.05, 0.35)))
        ud.add(f"{b}.shared_conversations_viewed_count", _poisson(rng, 0.4))
        ud.add(f"{b}.distinct_conversation_count", conv)
        ud.add(f"{b}.distinct_files_uploaded_count", _poisson(rng, conv * 0.4))
        ud.add(f"{b}.distinct_shared_artifacts_viewed_count", _poisson(rng, 0.3))
        ud.add(f"{b}.connectors_used_count", self.connectors(b, conv))
        self.skills(b, "chat", conv, "chat")
        ud.add(f"{b}.distinct_artifacts_created_count", self.artifacts(b, conv * 0.3, True))
        cat, left = self.cat, msgs
        lo = bisect.bisect_left(cat.project_days, self.day)
        hi = bisect.bisect_right(cat.project_days, self.day)
        created = [p for p in cat.projects[lo:hi] if p.creator.id == self.u.id]
        ud.add(f"{b}.distinct_projects_created_count", len(created))
        known = cat.projects[:hi][-20:]
        picks = list(created)
        if known and rng.random() < 0.55:
            picks += [
                p
                for p in rng.sample(known, min(len(known), 1 + _poisson(rng, 0.4)))
                if p not in picks
            ]
        for p in picks:
            if left <= 0:
                break
            m = max(1, min(left, int(msgs * rng.uniform(0.1, 0.6))))
            left -= m
            ud.projects.append(ProjectUse(p, m, max(1, min(conv, 1 + _poisson(rng, m / 8)))))
            ud.used(f"{b}.projects", p.id)

    def claude_code(self) -> None:
        rng, ud = self.rng, self.ud
        n = len(self.by_product["claude_code"])
        sessions = n + _poisson(rng, 1)
        commits = _poisson(rng, sessions * 0.9)
        ud.add("cc.distinct_session_count", sessions)
        ud.add("cc.commit_count", commits)
        ud.add("cc.pull_request_count", _poisson(rng, commits * 0.3))
        ud.add("cc.lines_added", _poisson(rng, self.req("claude_code") * 6.0))
        ud.add("cc.lines_removed", _poisson(rng, self.req("claude_code") * 2.0))
        for tool, lam in (
            ("edit", 8.0),
            ("multi_edit", 0.3),
            ("notebook_edit", 0.2),
            ("write", 1.5),
        ):
            ud.add(f"cc.{tool}.accepted", _poisson(rng, sessions * lam))
            ud.add(f"cc.{tool}.rejected", _poisson(rng, sessions * lam * 0.1))
        if self.day >= SESSION_ARTIFACTS_START:
            ud.add("cc.artifacts_created_count", self.artifacts("claude_code", 0.25, False))
        self.skills("claude_code", "claude_code", sessions, "claude_code")
        self.connectors("claude_code", sessions)
        self.plugins("claude_code", sessions)

    def cowork(self) -> None:
        rng, ud = self.rng, self.ud
        b = "ccu_sessions" if ud.unified else "cowork"
        msgs = max(1, self.req("cowork"))
        sessions = len(self.by_product["cowork"]) + _poisson(rng, 0.5)
        ud.add(f"{b}.message_count", msgs)
        ud.add(f"{b}.action_count", _poisson(rng, msgs * 1.5))
        ud.add(f"{b}.dispatch_turn_count", _poisson(rng, msgs * 0.2))
        ud.add(f"{b}.distinct_session_count", sessions)
        ud.add(f"{b}.skills_used_count", self.skills(b, "cowork", sessions, "cowork"))
        ud.add(f"{b}.connectors_used_count", self.connectors(b, sessions))
        ud.add(f"{b}.plugins_used_count", self.plugins(b, sessions))
        if self.day >= SESSION_ARTIFACTS_START:
            ud.add(f"{b}.artifacts_created_count", self.artifacts(b, 0.4, False))
        edits = {
            t: _poisson(rng, sessions * lam)
            for t, lam in (
                ("edit_tool_count", 3.0),
                ("notebook_edit_tool_count", 0.1),
                ("write_tool_count", 1.0),
            )
        }
        for t, v in edits.items():
            ud.add(f"{b}.{t}", v)
        total = sum(edits.values())
        ud.add(f"{b}.file_edit_count", total)
        ud.add(f"{b}.sessions_with_file_edits_count", min(sessions, total))

    def office(self) -> None:
        rng, ud = self.rng, self.ud
        per_app: dict[str, list[Fact]] = {}
        for f in self.by_product["office_agent"]:
            per_app.setdefault(rng.choices(OFFICE_APPS, OFFICE_WEIGHTS)[0], []).append(f)
        for app, fs in sorted(per_app.items()):
            sessions = len(fs)
            ud.add(f"{app}.message_count", max(1, sum(f.requests for f in fs)))
            ud.add(f"{app}.distinct_session_count", sessions)
            ud.add(f"{app}.skills_used_count", self.skills(app, "office", sessions, "office_agent"))
            ud.add(f"{app}.connectors_used_count", self.connectors(app, sessions))

    def design(self) -> None:
        rng, ud = self.rng, self.ud
        ud.add("design.message_count", max(1, self.req("claude_design")))
        ud.add("design.distinct_session_count", len(self.by_product["claude_design"]))
        ud.add("design.distinct_projects_created_count", _poisson(rng, 0.15))
        for k in rng.sample(range(4), 1 + _poisson(rng, 0.3) % 4):
            ud.used("design.projects", f"{self.u.id}:{k}")

    def science(self) -> None:
        rng, ud = self.rng, self.ud
        sessions = 1 + _poisson(rng, 0.6)
        ud.add("science.message_count", sessions * (2 + _poisson(rng, 6)))
        ud.add("science.delegation_count", _poisson(rng, sessions * 1.2))
        ud.add("science.remote_compute_job_count", _poisson(rng, sessions * 0.5))
        ud.add("science.skills_used_count", _poisson(rng, sessions * 0.7))
        ud.add("science.distinct_session_count", sessions)

    def run(self, tag_messages: int) -> UserDay:
        ud, bp = self.ud, self.by_product
        for product, gen in (
            ("chat", self.chat),
            ("claude_code", self.claude_code),
            ("cowork", self.cowork),
            ("office_agent", self.office),
            ("claude_design", self.design),
        ):
            if product in bp:
                gen()
        if self.u.id in self.cat.science_entitled and self.rng.random() < 0.45:
            self.science()
        ud.add("web_search_count", sum(f.web_search for fs in bp.values() for f in fs))
        if tag_messages:
            ud.add("tag.active_day_count", 1)
            ud.add("tag.active_message_count", tag_messages)
        return ud


def build_day(seed: int, org: Organization, cat: Catalog, day: date, facts: list[Fact]) -> DayData:
    unified_on = bool(org.features.get("chat_cowork_unified"))
    index = {u.id: i for i, u in enumerate(org.users)}
    per_user: dict[str, list[Fact]] = {}
    tag_by_slack: dict[str, int] = {}
    slack_users: set[str] = set()
    trng = _rng(seed, org.id, "tag-unlinked", day.isoformat())
    for f in facts:
        if f.product == "claude_tag":
            if f.claude_tag_user_id:
                slack_users.add(f.claude_tag_user_id)
                tag_by_slack[f.claude_tag_user_id] = tag_by_slack.get(f.claude_tag_user_id, 0) + 1
            else:
                slack_users.add(cat.unlinked_slack[trng.randrange(len(cat.unlinked_slack))])
        elif f.user_id is not None:
            per_user.setdefault(f.user_id, []).append(f)
    masks = dict.fromkeys(("active", *FAMILY_MARKERS), 0)
    users: list[UserDay] = []
    for u in active_users(seed, org, day):
        unified = unified_on and u.id in cat.unified_users
        ud = _UserGen(seed, org, cat, day, u, per_user.get(u.id, []), unified).run(
            tag_by_slack.get(slack_user_id(u.id), 0)
        )
        users.append(ud)
        bit = 1 << index[u.id]
        masks["active"] |= bit
        for fam, markers in FAMILY_MARKERS.items():
            if any(m in ud.counts for m in markers):
                masks[fam] |= bit
    erng = _rng(seed, org.id, "skill-enables", day.isoformat())
    enables = {s.name: _poisson(erng, 0.7) for s in cat.skills if s.share is not None}
    return DayData(day, users, masks, day >= cat.midpoint, frozenset(slack_users), enables)


class EngagementStore:
    """Per-simulator cache of catalogs and generated days."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._catalogs: dict[str, Catalog] = {}
        self._days: dict[tuple[str, date, bool], DayData] = {}
        self._lock = threading.Lock()

    def catalog(self, org: Organization) -> Catalog:
        cat = self._catalogs.get(org.id)
        if cat is None:
            cat = build_catalog(self.sim.world.seed, org)
            with self._lock:
                self._catalogs[org.id] = cat
        return cat

    def day(self, org: Organization, day: date) -> DayData:
        """A day's data, from the day's facts as first published (never revised, so paging and
        range totals stay stable while the clock moves)."""
        key = (org.id, day, bool(org.features.get("chat_cowork_unified")))
        data = self._days.get(key)
        if data is None:
            first = datetime(day.year, day.month, day.day, tzinfo=UTC)
            facts = self.sim.store.day_facts(org, day, first)
            data = build_day(self.sim.world.seed, org, self.catalog(org), day, facts)
            with self._lock:
                self._days[key] = data
        return data


_STORES: weakref.WeakKeyDictionary[Simulator, EngagementStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def engagement_store(sim: Simulator) -> EngagementStore:
    with _STORES_LOCK:
        store = _STORES.get(sim)
        if store is None:
            store = _STORES[sim] = EngagementStore(sim)
        return store
