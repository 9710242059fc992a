"""Revisions of past days and the store that serves facts as revised at a clock instant.

Facts are generated lazily per (organization, day) from the seed. Revisions: each past day gets
a fixed schedule of revision instants inside the 30-day window; the facts served at clock time T
are the base facts with every revision whose instant is <= T applied. Injected anomalies
(`inject.py`) act on the base facts, so revisions apply on top of them.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from .facts import Fact
from .facts_generation import console_day, enterprise_day
from .facts_pricing import discount_of, price_fact
from .inject import Injection, apply
from .seeded import seeded_rng
from .world import CONSOLE, Organization, World

REVISION_OFFSETS = (
    timedelta(hours=8),
    timedelta(days=2, hours=4),
    timedelta(days=9),
    timedelta(days=23),
)
REVISION_WINDOW = timedelta(days=30)

# A day's generated facts depend only on the seed, the organization as it stands and the day, so
# every simulator in one process shares them (a process that starts many simulators of one world
# generates each day once). Keyed on a digest of the organization's repr, which changes with any
# of its fields; the facts are shared read-only, and copied before anything changes them.
_GENERATED: OrderedDict[tuple[int, bytes, date], tuple[Fact, ...]] = OrderedDict()
_GENERATED_LOCK = threading.Lock()
_GENERATED_DAYS = 4096


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
    """Lazily generated, cached facts per (organization, day, revision level), with the injected
    anomalies applied. `generation` changes whenever the injections do, so caches built on these
    facts can key on it."""

    def __init__(self, world: World, lag: timedelta = timedelta(minutes=5)) -> None:
        self.world = world
        self.lag = lag
        self.generation = 0
        self._injections: dict[str, Injection] = {}
        self._base: dict[tuple[str, date], list[Fact]] = {}
        self._revised: dict[tuple[str, date, int], list[Fact]] = {}
        self._lock = threading.Lock()

    def generate(self, org: Organization, day: date) -> list[Fact]:
        """A day's base facts as generated and priced, without injections: shared with every
        store of the same world in this process, so not to be changed in place."""
        if day < org.history_start:
            return []
        key = (self.world.seed, hashlib.blake2b(repr(org).encode(), digest_size=16).digest(), day)
        with _GENERATED_LOCK:
            shared = _GENERATED.get(key)
            if shared is not None:
                _GENERATED.move_to_end(key)
                return list(shared)
        if org.kind == CONSOLE:
            facts = console_day(self.world.seed, org, day)
        else:
            facts = enterprise_day(self.world.seed, org, day)
        disc = discount_of(org)
        for f in facts:
            price_fact(f, disc)
        with _GENERATED_LOCK:
            _GENERATED[key] = tuple(facts)
            while len(_GENERATED) > _GENERATED_DAYS:
                _GENERATED.popitem(last=False)
        return facts

    def _base_facts(self, org: Organization, day: date) -> list[Fact]:
        key = (org.id, day)
        facts = self._base.get(key)
        if facts is None:
            with self._lock:
                generation, injections = self.generation, list(self._injections.values())
            facts = self.generate(org, day)
            if any(i.covers(org.id, day) for i in injections):
                facts = [f.copy() for f in facts]  # `apply` scales them in place
                apply(injections, org.id, day, facts, discount_of(org))
            with self._lock:
                if generation == self.generation:
                    self._base[key] = facts
        return facts

    # -- injections -----------------------------------------------------------------------------
    def injections(self) -> list[Injection]:
        with self._lock:
            return list(self._injections.values())

    def inject(self, inj: Injection) -> bool:
        """Add or replace an injection (same id); False when the very same one is there."""
        with self._lock:
            old = self._injections.get(inj.id)
            if old == inj:
                return False
            self._injections[inj.id] = inj
            self._invalidate([inj] if old is None else [inj, old])
        return True

    def remove(self, ident: str | None = None) -> list[Injection]:
        """Remove one injection by id, or all of them; returns those removed."""
        with self._lock:
            if ident is None:
                gone = list(self._injections.values())
                self._injections.clear()
            else:
                one = self._injections.pop(ident, None)
                gone = [] if one is None else [one]
            if gone:
                self._invalidate(gone)
        return gone

    def _invalidate(self, changed: list[Injection]) -> None:
        """Forget the cached days these injections cover (the caller holds the lock)."""
        self.generation += 1
        for key in [k for k in self._base if any(i.covers(*k) for i in changed)]:
            del self._base[key]
        for rkey in [k for k in self._revised if any(i.covers(*k[:2]) for i in changed)]:
            del self._revised[rkey]

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
            generation = self.generation
            facts = list(self._base_facts(org, day))
            disc = discount_of(org)
            for k in range(level):
                _apply_revision(self.world.seed, org, day, k, facts, disc)
            with self._lock:
                if generation == self.generation:
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
