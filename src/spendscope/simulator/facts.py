"""Deterministic synthetic usage facts, their prices, and their revisions.

A *fact* is the finest grain the simulator knows: the usage of one combination of dimensions
during one UTC minute. Every endpoint (Console reports, analytics API, legacy Enterprise reports,
`/_simulator/truth`) aggregates the same facts, which is what keeps them consistent.

Money is held as integers in micro-cents (1e-6 of a US cent), so sums are exact; the API's
decimal strings in cents are rendered from them with `cents()`.

Facts are generated lazily per (organization, day) from the seed. Revisions: each past day gets
a fixed schedule of revision instants inside the 30-day window; the facts served at clock time T
are the base facts with every revision whose instant is <= T applied.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .world import (
    CONSOLE,
    Organization,
    User,
    World,
    _rng,
    tagged_id,
)

MICRO = 1_000_000  # micro-cents per cent

TOKEN_TYPES = (
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)
COST_TYPES = ("tokens", "web_search", "code_execution", "session_usage")
# Index of each cost component in Fact.list_cost / Fact.cost.
WEB_SEARCH, CODE_EXECUTION, SESSION_USAGE = 5, 6, 7
COMPONENTS: tuple[tuple[str, str | None], ...] = (
    *(("tokens", t) for t in TOKEN_TYPES),
    ("web_search", None),
    ("code_execution", None),
    ("session_usage", None),
)


@dataclass(frozen=True)
class ModelPrice:
    name: str
    display: str
    input: int  # micro-cents per uncached input token (= US$ per MTok x 100)
    output: int
    supports_geo: bool = True
    supports_long_context: bool = False
    supports_fast: bool = False


PRICE_BOOK: dict[str, ModelPrice] = {
    m.name: m
    for m in (
        ModelPrice("claude-opus-5", "Claude Opus 5", 500, 2500, True, True, True),
        ModelPrice("claude-sonnet-5", "Claude Sonnet 5", 300, 1500, True, True, False),
        ModelPrice("claude-haiku-4-5", "Claude Haiku 4.5", 100, 500, False, False, False),
        ModelPrice("claude-opus-4-6", "Claude Opus 4.6", 500, 2500, True, True, True),
        ModelPrice("claude-sonnet-4-20250514", "Claude Sonnet 4", 300, 1500, False, True, False),
    )
}
# Token-type multipliers on the input price (output has its own price), as (num, den).
CACHE_READ = (1, 10)
CACHE_5M = (5, 4)
CACHE_1H = (2, 1)
TIER_MULT = {
    "standard": (1, 1),
    "batch": (1, 2),
    "priority": (5, 4),
    "priority_on_demand": (3, 2),
    "flex": (1, 2),
    "flex_discount": (2, 5),
    None: (1, 1),
}
LONG_CONTEXT_INPUT = (2, 1)
LONG_CONTEXT_OUTPUT = (3, 2)
GEO_US = (11, 10)
FAST = (6, 1)
WEB_SEARCH_MICRO = 1 * MICRO  # US$10 per 1,000 searches = 1 cent each
CODE_EXEC_MICRO_PER_SECOND = 5 * MICRO // 3600  # US$0.05 per container-hour, per second
SESSION_MICRO_PER_SECOND = 8 * MICRO // 3600  # US$0.08 per session-hour

REVISION_OFFSETS = (
    timedelta(hours=8),
    timedelta(days=2, hours=4),
    timedelta(days=9),
    timedelta(days=23),
)
REVISION_WINDOW = timedelta(days=30)


def cents(micro: int) -> str:
    """Render micro-cents as the API's decimal string in cents, e.g. 123456789 -> '123.456789'."""
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    return f"{sign}{micro // MICRO}.{micro % MICRO:06d}"


def _mul(value: int, *fractions: tuple[int, int]) -> int:
    """value x product(fractions), rounded half to even, in integers."""
    num, den = value, 1
    for n, d in fractions:
        num *= n
        den *= d
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2 == 1):
        q += 1
    return q


class Fact:
    """Usage of one dimension combination in one UTC minute."""

    __slots__ = (
        "account_id",
        "actor_type",
        "agent_id",
        "api_key_id",
        "cache_1h",
        "cache_5m",
        "cache_read",
        "claude_tag_category",
        "claude_tag_user_id",
        "context_window",
        "cost",
        "day",
        "deployment_id",
        "environment_id",
        "idx",
        "inference_geo",
        "kind",
        "list_cost",
        "minute",
        "model",
        "org_id",
        "output",
        "product",
        "requests",
        "seconds",
        "service_account_id",
        "service_tier",
        "session_id",
        "slack_channel_id",
        "speed",
        "uncached",
        "user_id",
        "web_search",
        "workspace_id",
    )

    kind: str  # "tokens" | "code_execution" | "session"
    org_id: str
    day: date
    idx: int
    minute: int
    model: str | None
    context_window: str | None
    inference_geo: str | None  # "global" | "us" | "not_available" | None
    speed: str | None
    service_tier: str | None
    product: str | None
    workspace_id: str | None  # real id, default workspace included
    api_key_id: str | None
    account_id: str | None  # Console: user account (OAuth) that made the request
    service_account_id: str | None
    user_id: str | None  # the user the usage is attributed to (both kinds)
    actor_type: str | None
    agent_id: str | None
    deployment_id: str | None
    environment_id: str | None
    session_id: str | None
    claude_tag_category: str | None
    claude_tag_user_id: str | None
    slack_channel_id: str | None
    uncached: int
    cache_read: int
    cache_5m: int
    cache_1h: int
    output: int
    web_search: int
    requests: int
    seconds: int  # code execution / session runtime
    list_cost: tuple[int, ...]
    cost: tuple[int, ...]

    def __init__(self, **kw: object) -> None:
        for name in self.__slots__:
            setattr(self, name, kw.get(name))
        for name in (
            "uncached",
            "cache_read",
            "cache_5m",
            "cache_1h",
            "output",
            "web_search",
            "requests",
            "seconds",
        ):
            if getattr(self, name) is None:
                setattr(self, name, 0)

    def copy(self) -> Fact:
        f = Fact.__new__(Fact)
        for name in self.__slots__:
            setattr(f, name, getattr(self, name))
        return f

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC) + timedelta(
            minutes=self.minute
        )

    @property
    def total_tokens(self) -> int:
        return self.uncached + self.cache_read + self.cache_5m + self.cache_1h + self.output

    def tokens_of(self, token_type: str) -> int:
        return {
            "uncached_input_tokens": self.uncached,
            "output_tokens": self.output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation.ephemeral_5m_input_tokens": self.cache_5m,
            "cache_creation.ephemeral_1h_input_tokens": self.cache_1h,
        }[token_type]


def price_fact(f: Fact, discount: tuple[int, int]) -> None:
    """Fill f.list_cost and f.cost (micro-cents per component, see COMPONENTS)."""
    lst = [0] * len(COMPONENTS)
    if f.kind == "tokens" and f.model is not None:
        p = PRICE_BOOK[f.model]
        tier = TIER_MULT[f.service_tier]
        extra: list[tuple[int, int]] = [tier]
        if f.inference_geo == "us":
            extra.append(GEO_US)
        if f.speed == "fast":
            extra.append(FAST)
        long_ctx = f.context_window == "200k-1M"
        inp = [*extra, LONG_CONTEXT_INPUT] if long_ctx else extra
        out = [*extra, LONG_CONTEXT_OUTPUT] if long_ctx else extra
        lst[0] = _mul(f.uncached * p.input, *inp)
        lst[1] = _mul(f.output * p.output, *out)
        lst[2] = _mul(f.cache_read * p.input, CACHE_READ, *inp)
        lst[3] = _mul(f.cache_5m * p.input, CACHE_5M, *inp)
        lst[4] = _mul(f.cache_1h * p.input, CACHE_1H, *inp)
        lst[WEB_SEARCH] = f.web_search * WEB_SEARCH_MICRO
    elif f.kind == "code_execution":
        lst[CODE_EXECUTION] = f.seconds * CODE_EXEC_MICRO_PER_SECOND
    elif f.kind == "session":
        lst[SESSION_USAGE] = f.seconds * SESSION_MICRO_PER_SECOND
    f.list_cost = tuple(lst)
    # Web search is never discounted; everything else gets the organization's rate.
    f.cost = tuple(v if i == WEB_SEARCH else _mul(v, discount) for i, v in enumerate(lst))


def _discount(org: Organization) -> tuple[int, int]:
    num, _, frac = org.discount_rate.partition(".")
    den = 10 ** len(frac)
    return int(num) * den + int(frac or 0), den


# --------------------------------------------------------------------------------------------
# Generation


def day_factor(seed: int, org: Organization, day: date) -> float:
    """Traffic level of a day: weekday/weekend rhythm, steady growth, occasional spikes."""
    weekday = 1.0 if day.weekday() < 5 else 0.3
    age = (day - org.history_start).days
    growth = 0.55 + 0.9 * max(age, 0) / 400
    r = _rng(seed, org.id, "spike", day.isoformat())
    spike = r.uniform(2.2, 3.5) if r.random() < 0.025 else 1.0
    wobble = r.uniform(0.85, 1.15)
    return weekday * growth * spike * wobble * org.scale


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (normal approximation above 30)."""
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


def _tokens(rng: random.Random, scale: float, f: Fact, cache_heavy: bool) -> None:
    base = rng.lognormvariate(0, 0.9) * scale
    f.uncached = int(base * rng.uniform(20_000, 120_000))
    f.output = int(base * rng.uniform(3_000, 25_000))
    if cache_heavy:
        f.cache_read = int(base * rng.uniform(50_000, 600_000))
        f.cache_5m = int(base * rng.uniform(2_000, 40_000))
        f.cache_1h = int(base * rng.uniform(0, 15_000)) if rng.random() < 0.4 else 0
    f.requests = max(1, int(base * rng.uniform(5, 60)))
    f.web_search = int(base * rng.uniform(0, 12)) if rng.random() < 0.25 else 0


def _geo(rng: random.Random, model: str, default: str) -> str:
    if not PRICE_BOOK[model].supports_geo:
        return "not_available"
    if rng.random() < 0.15:
        return "us" if default == "global" else "global"
    return default


def _console_day(seed: int, org: Organization, day: date) -> list[Fact]:
    rng = _rng(seed, org.id, "facts", day.isoformat())
    level = day_factor(seed, org, day)
    ws_by_id = {w.id: w for w in org.workspaces}
    models = list(PRICE_BOOK)
    facts: list[Fact] = []
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)

    def minute() -> int:
        # Office-hours-heavy distribution over the UTC day.
        if rng.random() < 0.7:
            return min(1439, max(0, int(rng.gauss(15 * 60, 200))))
        return rng.randrange(1440)

    def add(**kw: object) -> Fact:
        f = Fact(org_id=org.id, day=day, idx=len(facts), minute=minute(), **kw)
        facts.append(f)
        return f

    for k_i, key in enumerate(org.api_keys):
        ws = ws_by_id[key.workspace_id]
        created = key.created_at.date()
        if day < created or (key.status == "archived" and day > created + timedelta(days=90)):
            continue
        if ws.archived_at is not None and day_start >= ws.archived_at:
            continue
        krng = _rng(seed, org.id, "key-profile", key.id)
        primary = models[krng.randrange(len(models))]
        secondary = models[krng.randrange(len(models))]
        batch_key = "batch" in key.name
        ci_key = "ci-bot" in key.name
        agent_key = "agent-runner" in key.name
        weight = key.weight * (0.2 if key.status == "inactive" else 1.0)
        n = poisson(rng, 1.6 * weight * level)
        for _ in range(min(n, 40)):
            model = primary if rng.random() < 0.7 else secondary
            p = PRICE_BOOK[model]
            if batch_key:
                tier, product = "batch", "message_batches_api"
            else:
                tier = rng.choices(
                    ("standard", "priority", "priority_on_demand", "flex", "flex_discount"),
                    (80, 6, 3, 7, 4),
                )[0]
                product = (
                    "claude_code"
                    if ci_key
                    else ("managed_agents_api" if agent_key else "messages_api")
                )
            ctx = "200k-1M" if p.supports_long_context and rng.random() < 0.12 else "0-200k"
            speed = "fast" if p.supports_fast and rng.random() < 0.1 else "standard"
            f = add(
                kind="tokens",
                model=model,
                context_window=ctx,
                inference_geo=_geo(rng, model, ws.default_inference_geo),
                speed=speed,
                service_tier=tier,
                product=product,
                workspace_id=ws.id,
                api_key_id=key.id,
                actor_type="api_actor",
            )
            if agent_key:
                arng = _rng(seed, org.id, "agent", key.id)
                f.agent_id = tagged_id(arng, "agent_01")
                f.deployment_id = tagged_id(arng, "depl_01")
                f.environment_id = tagged_id(arng, "env_01")
                f.session_id = tagged_id(rng, "sesn_01")
            _tokens(rng, 1.0, f, cache_heavy=rng.random() < 0.6)
            if agent_key:
                add(
                    kind="session",
                    product="managed_agents_api",
                    workspace_id=ws.id,
                    api_key_id=key.id,
                    actor_type="api_actor",
                    agent_id=f.agent_id,
                    deployment_id=f.deployment_id,
                    environment_id=f.environment_id,
                    session_id=f.session_id,
                    seconds=rng.randrange(60, 3600),
                    requests=0,
                )
        if n and k_i % 5 == 0 and rng.random() < 0.5:
            add(
                kind="code_execution",
                workspace_id=ws.id,
                api_key_id=key.id,
                actor_type="api_actor",
                requests=rng.randrange(1, 30),
                seconds=rng.randrange(30, 5400),
            )

    # Claude Code and Workbench usage by user accounts (OAuth), and service accounts (OIDC).
    tools_ws = next((w for w in org.workspaces if w.name == "Internal Tools"), org.workspaces[0])
    for u in org.users:
        if u.role not in ("developer", "claude_code_user", "admin"):
            continue
        if u.added_at.date() > day or rng.random() > u.intensity * min(level, 1.5) * 0.8:
            continue
        for _ in range(1 + poisson(rng, 1.5 * u.intensity)):
            model = rng.choice(("claude-opus-5", "claude-sonnet-5", "claude-haiku-4-5"))
            p = PRICE_BOOK[model]
            f = add(
                kind="tokens",
                model=model,
                context_window="0-200k",
                inference_geo=_geo(rng, model, tools_ws.default_inference_geo),
                speed="fast" if p.supports_fast and rng.random() < 0.15 else "standard",
                service_tier="standard",
                product="claude_code",
                workspace_id=tools_ws.id,
                account_id=u.id,
                user_id=u.id,
                actor_type="user_actor",
            )
            _tokens(rng, 1.3, f, cache_heavy=True)
        if rng.random() < 0.15:
            f = add(
                kind="tokens",
                model="claude-sonnet-5",
                context_window="0-200k",
                inference_geo="global",
                speed="standard",
                service_tier="standard",
                product="claude_console",
                workspace_id=org.workspaces[0].id,
                account_id=u.id,
                user_id=u.id,
                actor_type="user_actor",
            )
            _tokens(rng, 0.2, f, cache_heavy=False)
    prod_ws = next((w for w in org.workspaces if w.name == "Production"), org.workspaces[0])
    for sa in org.service_accounts:
        if sa.created_at.date() > day:
            continue
        for _ in range(poisson(rng, 1.2 * level)):
            model = rng.choice(("claude-sonnet-5", "claude-haiku-4-5"))
            f = add(
                kind="tokens",
                model=model,
                context_window="0-200k",
                inference_geo=_geo(rng, model, prod_ws.default_inference_geo),
                speed="standard",
                service_tier="standard",
                product="messages_api",
                workspace_id=prod_ws.id,
                service_account_id=sa.id,
                actor_type="service_account_actor",
            )
            _tokens(rng, 0.8, f, cache_heavy=False)
    return facts


ENTERPRISE_PRODUCT_WEIGHTS = (
    ("chat", 40),
    ("claude_code", 25),
    ("cowork", 10),
    ("office_agent", 8),
    ("claude_in_chrome", 6),
    ("claude_design", 5),
)


def slack_user_id(user_id: str) -> str:
    return "U0" + "".join(c for c in user_id.upper() if c.isalnum())[-9:]


def _enterprise_day(seed: int, org: Organization, day: date) -> list[Fact]:
    rng = _rng(seed, org.id, "facts", day.isoformat())
    level = day_factor(seed, org, day)
    facts: list[Fact] = []
    products = [p for p, _ in ENTERPRISE_PRODUCT_WEIGHTS]
    weights = [w for _, w in ENTERPRISE_PRODUCT_WEIGHTS]
    midpoint = org.history_start + timedelta(days=200)

    def add(**kw: object) -> Fact:
        m = (
            min(1439, max(0, int(rng.gauss(14 * 60, 220))))
            if rng.random() < 0.75
            else rng.randrange(1440)
        )
        f = Fact(org_id=org.id, day=day, idx=len(facts), minute=m, **kw)
        facts.append(f)
        return f

    for u in active_users(seed, org, day):
        for _ in range(1 + poisson(rng, 2.0 * u.intensity)):
            product = rng.choices(products, weights)[0]
            if product == "claude_code":
                model = rng.choice(("claude-opus-5", "claude-sonnet-5", "claude-opus-4-6"))
            else:
                model = rng.choices(tuple(PRICE_BOOK), (25, 45, 20, 5, 5))[0]
            p = PRICE_BOOK[model]
            f = add(
                kind="tokens",
                model=model,
                context_window="200k-1M"
                if p.supports_long_context and rng.random() < 0.08
                else "0-200k",
                inference_geo=_geo(rng, model, "global"),
                speed="fast"
                if p.supports_fast and product == "claude_code" and rng.random() < 0.2
                else "standard",
                service_tier=None,
                product=product,
                user_id=u.id,
                actor_type="user_actor",
            )
            _tokens(
                rng,
                0.6 if product == "chat" else 1.1,
                f,
                cache_heavy=product in ("claude_code", "cowork"),
            )
        if rng.random() < 0.1:
            add(
                kind="code_execution",
                user_id=u.id,
                actor_type="user_actor",
                requests=rng.randrange(1, 12),
                seconds=rng.randrange(20, 1800),
            )
    # Claude Tag (Claude in Slack): channel traffic, partly tied to linked users.
    channels = ["C0" + tagged_id(_rng(seed, org.id, "chan", i), "", 9).upper() for i in range(6)]
    if day >= midpoint and org.features.get("claude_tag"):
        linked = [u for u in org.users if not u.deleted][:20]
        for _ in range(poisson(rng, 4 * level)):
            category = rng.choice(("dm", "engaged", "monitoring", "proactive", "scheduled"))
            tag_user: User | None = rng.choice(linked) if category in ("dm", "engaged") else None
            f = add(
                kind="tokens",
                model="claude-sonnet-5",
                context_window="0-200k",
                inference_geo="global",
                speed="standard",
                service_tier=None,
                product="claude_tag",
                user_id=tag_user.id if (tag_user and category == "dm") else None,
                actor_type="user_actor" if (tag_user and category == "dm") else None,
                claude_tag_category=category,
                claude_tag_user_id=slack_user_id(tag_user.id) if tag_user else None,
                slack_channel_id=None if category == "dm" else rng.choice(channels),
            )
            _tokens(rng, 0.3, f, cache_heavy=False)
    return facts


def active_users(seed: int, org: Organization, day: date) -> list[User]:
    """The members of an Enterprise organization active on a day (deterministic)."""
    rng = _rng(seed, org.id, "active", day.isoformat())
    level = min(day_factor(seed, org, day), 1.6)
    midpoint = org.history_start + timedelta(days=200)
    out = []
    for u in org.users:
        if u.added_at.date() > day or (u.deleted and day > midpoint):
            rng.random()
            continue
        if rng.random() < 0.25 + 0.55 * u.intensity * level:
            out.append(u)
    return out


# --------------------------------------------------------------------------------------------
# Revisions and the store


def revision_instants(day: date) -> list[datetime]:
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return [end + off for off in REVISION_OFFSETS]


def _apply_revision(
    seed: int, org: Organization, day: date, k: int, facts: list[Fact], discount: tuple[int, int]
) -> None:
    rng = _rng(seed, org.id, "revision", day.isoformat(), k)
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
                facts = _console_day(self.world.seed, org, day)
            else:
                facts = _enterprise_day(self.world.seed, org, day)
            disc = _discount(org)
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
            disc = _discount(org)
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
