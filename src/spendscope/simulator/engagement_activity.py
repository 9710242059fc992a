"""One member's synthetic engagement day (Family D), generated from that day's usage facts.

A member's blocks follow the facts: claude.ai chat activity only with `chat` facts, Claude Code
metrics only with `claude_code` facts, and so on; the named entities used and the per-entity usage
records are drawn from the organization's `Catalog`.
"""

from __future__ import annotations

import bisect
from datetime import date

from .engagement_model import (
    OFFICE_APPS,
    ArtifactUse,
    Catalog,
    ConnectorUse,
    PluginUse,
    ProjectUse,
    SkillUse,
    UserDay,
)
from .facts import Fact
from .facts_generation import poisson
from .seeded import seeded_rng
from .world import Organization, User

OFFICE_WEIGHTS = (40, 15, 20, 25)
SESSION_ARTIFACTS_START = date(2026, 8, 17)  # Claude Code / Cowork artifacts counted from here
OFFICE_SPEND_START = date(2026, 6, 18)  # Office Agent spend attribution data-start
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


class UserGen:
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
        self.rng = seeded_rng(seed, org.id, "engagement", day.isoformat(), u.id)
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
        for s in rng.sample(pool, min(len(pool), poisson(rng, 0.9))):
            inv = 1 + poisson(rng, 1.5)
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
                SkillUse(s, surface, inv, min(units, 1 + poisson(rng, 0.4)), spend, listed)
            )
            ud.used(f"{surface}.skills", s.name)
            total += inv
        return total

    def connectors(self, surface: str, units: int) -> int:
        rng, ud, total = self.rng, self.ud, 0
        start = CLASSIFICATION_START[surface]
        for c in rng.sample(self.cat.connectors, min(3, poisson(rng, 0.8))):
            calls = 1 + poisson(rng, 4)
            read = write = uncl = 0
            if self.day >= start:
                read = round(calls * rng.uniform(0.4, 0.8))
                write = round((calls - read) * rng.uniform(0.2, 0.6))
                uncl = calls - read - write
            auth = rng.choices(("managed", "individual", "none"), (5, 3, 2))[0]
            ud.connectors.append(
                ConnectorUse(
                    c, surface, calls, min(units, 1 + poisson(rng, 0.5)), auth, read, write, uncl
                )
            )
            ud.used(f"{surface}.connectors", c.name)
            total += calls
        return total

    def plugins(self, surface: str, sessions: int) -> int:
        rng, ud, total = self.rng, self.ud, 0
        for p in rng.sample(self.cat.plugins, min(2, poisson(rng, 0.6))):
            inv = 1 + poisson(rng, 5)
            ud.plugins.append(
                PluginUse(
                    p,
                    surface,
                    inv,
                    min(sessions, 1 + poisson(rng, 0.5)),
                    p.plugin_id is not None and rng.random() < 0.08,
                )
            )
            ud.used(f"{surface}.plugins", p.name)
            total += inv
        return total

    def artifacts(self, surface: str, lam: float, typed: bool) -> int:
        rng, total = self.rng, 0
        for _ in range(poisson(rng, lam)):
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
        ud.add(f"{b}.shared_conversations_viewed_count", poisson(rng, 0.4))
        ud.add(f"{b}.distinct_conversation_count", conv)
        ud.add(f"{b}.distinct_files_uploaded_count", poisson(rng, conv * 0.4))
        ud.add(f"{b}.distinct_shared_artifacts_viewed_count", poisson(rng, 0.3))
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
                for p in rng.sample(known, min(len(known), 1 + poisson(rng, 0.4)))
                if p not in picks
            ]
        for p in picks:
            if left <= 0:
                break
            m = max(1, min(left, int(msgs * rng.uniform(0.1, 0.6))))
            left -= m
            ud.projects.append(ProjectUse(p, m, max(1, min(conv, 1 + poisson(rng, m / 8)))))
            ud.used(f"{b}.projects", p.id)

    def claude_code(self) -> None:
        rng, ud = self.rng, self.ud
        n = len(self.by_product["claude_code"])
        sessions = n + poisson(rng, 1)
        commits = poisson(rng, sessions * 0.9)
        ud.add("cc.distinct_session_count", sessions)
        ud.add("cc.commit_count", commits)
        ud.add("cc.pull_request_count", poisson(rng, commits * 0.3))
        ud.add("cc.lines_added", poisson(rng, self.req("claude_code") * 6.0))
        ud.add("cc.lines_removed", poisson(rng, self.req("claude_code") * 2.0))
        for tool, lam in (
            ("edit", 8.0),
            ("multi_edit", 0.3),
            ("notebook_edit", 0.2),
            ("write", 1.5),
        ):
            ud.add(f"cc.{tool}.accepted", poisson(rng, sessions * lam))
            ud.add(f"cc.{tool}.rejected", poisson(rng, sessions * lam * 0.1))
        if self.day >= SESSION_ARTIFACTS_START:
            ud.add("cc.artifacts_created_count", self.artifacts("claude_code", 0.25, False))
        self.skills("claude_code", "claude_code", sessions, "claude_code")
        self.connectors("claude_code", sessions)
        self.plugins("claude_code", sessions)

    def cowork(self) -> None:
        rng, ud = self.rng, self.ud
        b = "ccu_sessions" if ud.unified else "cowork"
        msgs = max(1, self.req("cowork"))
        sessions = len(self.by_product["cowork"]) + poisson(rng, 0.5)
        ud.add(f"{b}.message_count", msgs)
        ud.add(f"{b}.action_count", poisson(rng, msgs * 1.5))
        ud.add(f"{b}.dispatch_turn_count", poisson(rng, msgs * 0.2))
        ud.add(f"{b}.distinct_session_count", sessions)
        ud.add(f"{b}.skills_used_count", self.skills(b, "cowork", sessions, "cowork"))
        ud.add(f"{b}.connectors_used_count", self.connectors(b, sessions))
        ud.add(f"{b}.plugins_used_count", self.plugins(b, sessions))
        if self.day >= SESSION_ARTIFACTS_START:
            ud.add(f"{b}.artifacts_created_count", self.artifacts(b, 0.4, False))
        edits = {
            t: poisson(rng, sessions * lam)
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
        ud.add("design.distinct_projects_created_count", poisson(rng, 0.15))
        for k in rng.sample(range(4), 1 + poisson(rng, 0.3) % 4):
            ud.used("design.projects", f"{self.u.id}:{k}")

    def science(self) -> None:
        rng, ud = self.rng, self.ud
        sessions = 1 + poisson(rng, 0.6)
        ud.add("science.message_count", sessions * (2 + poisson(rng, 6)))
        ud.add("science.delegation_count", poisson(rng, sessions * 1.2))
        ud.add("science.remote_compute_job_count", poisson(rng, sessions * 0.5))
        ud.add("science.skills_used_count", poisson(rng, sessions * 0.7))
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
