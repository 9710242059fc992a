"""Generating the base usage facts of one (organization, day) deterministically from the seed."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .facts import Fact
from .facts_pricing import PRICE_BOOK
from .seeded import seeded_rng, tagged_id
from .world import Organization, User


def day_factor(seed: int, org: Organization, day: date) -> float:
    """Traffic level of a day: weekday/weekend rhythm, steady growth, occasional spikes."""
    weekday = 1.0 if day.weekday() < 5 else 0.3
    age = (day - org.history_start).days
    growth = 0.55 + 0.9 * max(age, 0) / 400
    r = seeded_rng(seed, org.id, "spike", day.isoformat())
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


def console_day(seed: int, org: Organization, day: date) -> list[Fact]:
    """A Console organization's facts of one day, unpriced: API keys, users, service accounts."""
    rng = seeded_rng(seed, org.id, "facts", day.isoformat())
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

    def add(**kw: Any) -> Fact:
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
        krng = seeded_rng(seed, org.id, "key-profile", key.id)
        primary = models[krng.randrange(len(models))]
        secondary = models[krng.randrange(len(models))]
        batch_key = key.purpose == "batch-etl"
        ci_key = key.purpose == "ci-bot"
        agent_key = key.purpose == "agent-runner"
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
                arng = seeded_rng(seed, org.id, "agent", key.id)
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


def enterprise_day(seed: int, org: Organization, day: date) -> list[Fact]:
    """An Enterprise organization's facts of one day, unpriced: members and Claude Tag."""
    rng = seeded_rng(seed, org.id, "facts", day.isoformat())
    level = day_factor(seed, org, day)
    facts: list[Fact] = []
    products = [p for p, _ in ENTERPRISE_PRODUCT_WEIGHTS]
    weights = [w for _, w in ENTERPRISE_PRODUCT_WEIGHTS]
    midpoint = org.history_start + timedelta(days=200)

    def add(**kw: Any) -> Fact:
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
    channels = [
        "C0" + tagged_id(seeded_rng(seed, org.id, "chan", i), "", 9).upper() for i in range(6)
    ]
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
    rng = seeded_rng(seed, org.id, "active", day.isoformat())
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
