"""Revisions of past days and the store that serves facts as revised at a clock instant.

Facts are generated lazily per (organization, day) from the seed. Revisions: each past day gets
a fixed schedule of revision instants inside the 30-day window; the facts served at clock time T
are the base facts with every revision whose instant is <= T applied.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from .facts import Fact
from .facts_generation import console_day, enterprise_day
from .facts_pricing import discount_of, price_fact
from .seeded import seeded_rng
from .world import CONSOLE, Organization, World

REVISION_OFFSETS = (
    timedelta(hours=8),
    timedelta(days=2, hours=4),
    timedelta(days=9),
    timedelta(days=23),
)
REVISION_WINDOW = timedelta(days=30)


def revision_instants(day: date) -> list[datetime]:
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return [end + off for off in REVISION_OFFSETS]


def _apply_revision(
    seed: int, org: Organization, day: date, k: int, facts: list[Fact], discount: tuple[int, int]
) -> None:
    rng = seeded_rng(seed, org.id, "revision", day.isoformat(), k)
    token_facts = [i for i, f in enumerate(facts) if f.kind == "tokens"]
    if not token_facts:
        return
    chosen = rng.sample(token_facts, max(1, len(token_facts) // 15))
    for i in chosen:
        f = facts[i].copy()
        factor = rng.uniform(0.92, 1.08)
        f.uncached = int(f.uncached * factor)
        f.output = int(f.output * factor)
        f.cache_read = int(f.cache_read * factor)
        f.requests = max(1, int(f.requests * factor))
        price_fact(f, discount)
        facts[i] = f


class FactStore:
    """Lazily generated, cached facts per (organization, day, revision level)."""

    def __init__(self, world: World, lag: timedelta = timedelta(minutes=5)) -> None:
        self.world = world
        self.lag = lag
        self._base: dict[tuple[str, date], list[Fact]] = {}
        self._revised: dict[tuple[str, date, int], list[Fact]] = {}
        self._lock = threading.Lock()

    def _base_facts(self, org: Organization, day: date) -> list[Fact]:
        key = (org.id, day)
        facts = self._base.get(key)
        if facts is None:
            if day < org.history_start:
                facts = []
            elif org.kind == CONSOLE:
                facts = console_day(self.world.seed, org, day)
            else:
                facts = enterprise_day(self.world.seed, org, day)
            disc = discount_of(org)
            for f in facts:
                price_fact(f, disc)
            with self._lock:
                self._base[key] = facts
        return facts

    def revision_level(self, day: date, now: datetime) -> int:
        return sum(1 for t in revision_instants(day) if t <= now)

    def day_facts(self, org: Organization, day: date, now: datetime) -> list[Fact]:
        """All facts of a day as revised at `now` (ignoring the visibility horizon)."""
        level = self.revision_level(day, now)
        if level == 0:
            return self._base_facts(org, day)
        key = (org.id, day, level)
        facts = self._revised.get(key)
        if facts is None:
            facts = list(self._base_facts(org, day))
            disc = discount_of(org)
            for k in range(level):
                _apply_revision(self.world.seed, org, day, k, facts, disc)
            with self._lock:
                self._revised[key] = facts
        return facts

    def horizon(self, now: datetime) -> datetime:
        """Usage that happened before this instant is visible (data appears ~5 minutes late)."""
        return now - self.lag

    def facts(
        self,
        org: Organization,
        start: datetime,
        end: datetime,
        now: datetime,
        include_children: bool = False,
    ) -> Iterator[Fact]:
        """Visible facts of `org` whose minute lies in [start, end)."""
        end = min(end, self.horizon(now))
        if end <= start:
            return
        orgs = [org]
        if include_children:
            orgs += [self.world.org(c) for c in org.child_ids]
        day = start.date()
        while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            lo = max(0, math.ceil((start - day_start).total_seconds() / 60))
            hi_td = (end - day_start).total_seconds()
            hi = min(1440, math.ceil(hi_td / 60))
            whole = lo == 0 and hi == 1440
            for o in orgs:
                for f in self.day_facts(o, day, now):
                    if whole or lo <= f.minute < hi:
                        yield f
            day += timedelta(days=1)
