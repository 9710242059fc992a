"""RBAC group memberships over time, for an Enterprise organization, from the seed.

Every member starts in the groups `world_generation` gives them (one, sometimes two, a few
none), from the later of the group's creation and their joining the organization. Around the
instant the world is built (`anchor`: the simulator's starting clock) a schedule of changes
follows, so that reports grouped by `rbac_group_id` must use the membership of each day:

- in the 60 days before the anchor: `PAST` — members taking a second group, members in two
  groups leaving one, a member in no group joining one, and a move (a member leaves their only
  group, spends some days in none, then joins another);
- in the 30 days after it: `FUTURE` — a join, a removal and another move, which happen as the
  clock is advanced.

Each change picks a member not changed before (deleted members are never picked), at a seeded
day and second; the plan is fixed, so every seed gets the same number of each change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .world import RbacGroup, RbacMembership, User

# (kind, first day offset, last day offset) from the anchor's UTC day.
PAST = (
    ("join", -56, -4),
    ("join", -56, -4),
    ("join", -56, -4),
    ("remove", -56, -4),
    ("remove", -56, -4),
    ("join_from_none", -40, -8),
    ("move", -50, -30),
)
FUTURE = (
    ("join", 2, 26),
    ("remove", 2, 26),
    ("move", 2, 12),
)
# Days between leaving the old group and joining the new one, in a move.
MOVE_GAP = (6, 14)


@dataclass(slots=True)
class _Span:
    group_id: str
    user_id: str
    start: datetime
    end: datetime | None = None

    def held_at(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)


def build_memberships(
    rng: random.Random,
    users: list[User],
    groups: list[RbacGroup],
    initial: dict[str, tuple[str, ...]],
    anchor: datetime,
) -> list[RbacMembership]:
    """The memberships of `users` in `groups`: `initial` (user id -> group ids), then the
    scheduled changes around `anchor`. Ordered by start, group, user."""
    created = {g.id: g.created_at for g in groups}
    spans = [
        _Span(gid, u.id, max(created[gid], u.added_at))
        for u in users
        for gid in initial.get(u.id, ())
    ]
    day0 = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
    touched: set[str] = set()

    def when(first: int, last: int) -> datetime:
        return day0 + timedelta(days=rng.randint(first, last), seconds=rng.randrange(86400))

    def held(user_id: str, at: datetime) -> list[_Span]:
        return [s for s in spans if s.user_id == user_id and s.held_at(at)]

    def pick(at: datetime, counts: tuple[int, ...]) -> User | None:
        """A member present well before `at`, not changed yet, in `counts` groups at `at`."""
        fits = [
            u
            for u in users
            if not u.deleted
            and u.id not in touched
            and u.added_at < at - timedelta(days=7)
            and len(held(u.id, at)) in counts
        ]
        if not fits:
            return None
        chosen = rng.choice(fits)
        touched.add(chosen.id)
        return chosen

    def other_group(user_id: str, at: datetime, avoid: set[str]) -> str:
        mine = {s.group_id for s in held(user_id, at)} | avoid
        return rng.choice([g.id for g in groups if g.id not in mine])

    for kind, first, last in (*PAST, *FUTURE):
        at = when(first, last)
        if kind == "join":
            user = pick(at, (1,))
            if user is not None:
                spans.append(_Span(other_group(user.id, at, set()), user.id, at))
        elif kind == "join_from_none":
            user = pick(at, (0,))
            if user is not None:
                spans.append(_Span(other_group(user.id, at, set()), user.id, at))
        elif kind == "remove":
            user = pick(at, (2, 3))
            if user is not None:
                rng.choice(held(user.id, at)).end = at
        else:  # move
            user = pick(at, (1,))
            if user is not None:
                (old,) = held(user.id, at)
                old.end = at
                later = at + timedelta(days=rng.randint(*MOVE_GAP), seconds=rng.randrange(3600))
                spans.append(_Span(other_group(user.id, later, {old.group_id}), user.id, later))
    spans.sort(key=lambda s: (s.start, s.group_id, s.user_id))
    return [RbacMembership(s.group_id, s.user_id, s.start, s.end) for s in spans]
