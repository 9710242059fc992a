"""Family A Claude Code Analytics: `GET /v1/organizations/usage_report/claude_code`
(anthropic-api.md §3.3).

One record per (UTC day, actor) from the Console organization's `claude_code` token facts that
happened more than an hour before now. Tokens and estimated cost come straight from the facts;
the productivity metrics (sessions, lines, commits, tool decisions) are drawn from a random
stream seeded by (seed, organization, day, actor) and scaled to the actor's tokens, so every
request for the same day answers the same records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .aggregate import Acc
from .facts import MICRO, Fact
from .params import bound_cursor, invalid, read_bound_cursor
from .routing import Auth, Request, RouteTable
from .seeded import seeded_rng
from .world import Organization

routes = RouteTable()
PATH = "/v1/organizations/usage_report/claude_code"
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000
FRESHNESS = timedelta(hours=1)  # only usage older than this is served
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

USER_TERMINALS = (
    "vscode",
    "iTerm.app",
    "tmux",
    "Apple_Terminal",
    "cursor",
    "ghostty",
    "WezTerm",
    "windows-terminal",
    "pycharm",
)
API_TERMINALS = ("tmux", "xterm-256color", "screen")
TOKEN_COMPONENTS = range(5)  # the five token types of facts.COMPONENTS


def _parse_day(raw: str) -> date:
    if not DAY_RE.match(raw.strip()):
        raise invalid(f"starting_at: '{raw}' is not a valid date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise invalid(f"starting_at: '{raw}' is not a valid date (YYYY-MM-DD)") from None


def _cents_number(micro: int) -> float:
    """Micro-cents as a JSON number of cents rounded to 2 decimals."""
    value = (Decimal(micro) / MICRO).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return float(value)


@dataclass(slots=True, eq=False)
class _ActorDay:
    """What one actor did on one day: per-model sums and the number of usage facts."""

    actor: dict[str, str]
    actor_id: str
    api: bool
    models: dict[str, Acc] = field(default_factory=dict)
    facts: int = 0

    def add(self, f: Fact) -> None:
        model = f.model or "unknown"
        acc = self.models.get(model)
        if acc is None:
            acc = self.models[model] = Acc()
        acc.add(f)
        self.facts += 1

    def sort_key(self) -> tuple[int, str]:
        label = self.actor.get("email_address") or self.actor.get("api_key_name") or ""
        return (1 if self.api else 0, label + "\x00" + self.actor_id)


def _actor_of(
    users: dict[str, str], keys: dict[str, str], services: dict[str, str], f: Fact
) -> tuple[str, dict[str, str], bool] | None:
    uid = f.user_id or f.account_id
    if uid and uid in users:
        return uid, {"type": "user_actor", "email_address": users[uid]}, False
    if f.api_key_id and f.api_key_id in keys:
        return f.api_key_id, {"type": "api_actor", "api_key_name": keys[f.api_key_id]}, True
    if f.service_account_id and f.service_account_id in services:
        name = services[f.service_account_id]
        return f.service_account_id, {"type": "api_actor", "api_key_name": name}, True
    return None


def _metrics(seed: int, org: Organization, day: date, a: _ActorDay) -> dict[str, Any]:
    rng = seeded_rng(seed, "claude-code", org.id, day.isoformat(), a.actor_id)
    output = sum(acc.output for acc in a.models.values())
    sessions = max(1, round(a.facts * rng.uniform(0.6, 1.4)))
    added = int(output / rng.uniform(25, 60))
    removed = int(added * rng.uniform(0.1, 0.55))
    commits = int(added / rng.uniform(120, 400))
    prs = int(commits / rng.uniform(2.5, 6)) if commits else 0
    edits = int(added / rng.uniform(12, 30))
    multi = int(edits * rng.uniform(0.05, 0.35))
    writes = int(sessions * rng.uniform(0.3, 2.0))
    notebook = rng.randrange(0, 4) if rng.random() < 0.1 else 0

    def decisions(accepted: int) -> dict[str, int]:
        return {"accepted": accepted, "rejected": int(accepted * rng.uniform(0.0, 0.18))}

    terminals = API_TERMINALS if a.api else USER_TERMINALS
    terminal = seeded_rng(seed, "terminal", org.id, a.actor_id).choice(terminals)
    return {
        "terminal_type": terminal,
        "core_metrics": {
            "num_sessions": sessions,
            "lines_of_code": {"added": added, "removed": removed},
            "commits_by_claude_code": commits,
            "pull_requests_by_claude_code": prs,
        },
        "tool_actions": {
            "edit_tool": decisions(edits),
            "multi_edit_tool": decisions(multi),
            "write_tool": decisions(writes),
            "notebook_edit_tool": decisions(notebook),
        },
    }


def build_records(req: Request, day: date) -> list[dict[str, Any]]:
    """Every record of one day for the caller's organization, in a stable order."""
    sim, org = req.sim, req.organization
    now = sim.now()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = min(start + timedelta(days=1), now - FRESHNESS)
    users = {u.id: u.email for u in org.users}
    keys = {k.id: k.name for k in org.api_keys}
    services = {s.id: s.name for s in org.service_accounts}
    actors: dict[str, _ActorDay] = {}
    for f in sim.store.facts(org, start, end, now):
        if f.kind != "tokens" or f.product != "claude_code":
            continue
        found = _actor_of(users, keys, services, f)
        if found is None:
            continue
        actor_id, actor, api = found
        a = actors.get(actor_id)
        if a is None:
            a = actors[actor_id] = _ActorDay(actor, actor_id, api)
        a.add(f)
    shown = (
        day.isoformat()
        if sim.config.claude_code_date_format == "date"
        else f"{day.isoformat()}T00:00:00Z"
    )
    records = []
    for a in sorted(actors.values(), key=_ActorDay.sort_key):
        record: dict[str, Any] = {
            "date": shown,
            "actor": a.actor,
            "organization_id": org.id,
            "customer_type": "api",
            "subscription_type": None,
        }
        record.update(_metrics(sim.config.seed, org, day, a))
        record["model_breakdown"] = [
            {
                "model": model,
                "tokens": {
                    "input": acc.uncached,
                    "output": acc.output,
                    "cache_read": acc.cache_read,
                    "cache_creation": acc.cache_5m + acc.cache_1h,
                },
                "estimated_cost": {
                    "amount": _cents_number(acc.list_amount(TOKEN_COMPONENTS)),
                    "currency": "USD",
                },
            }
            for model, acc in sorted(a.models.items())
        ]
        records.append(record)
    return records


@routes.get(PATH, Auth.CONSOLE_ADMIN)
def claude_code_report(req: Request) -> dict[str, Any]:
    p = req.params
    day = _parse_day(p.required("starting_at"))
    limit = p.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset, _ = read_bound_cursor(p)
    sim = req.sim
    key = (PATH, req.organization.id, day, sim.config.claude_code_date_format, sim.now())
    records: list[dict[str, Any]] = sim.cached(key, lambda: build_records(req, day))
    page = records[offset : offset + limit]
    more = offset + limit < len(records)
    return {
        "data": page,
        "has_more": more,
        "next_page": bound_cursor(p, offset + limit) if more else None,
    }
