"""The Claude Code feed of Console connections (anthropic-api.md §3.3).

`GET /v1/organizations/usage_report/claude_code?starting_at=YYYY-MM-DD&limit=1000` answers one
UTC day, one record per actor (a user account by e-mail, or an API key by name). The feed asks
once per day of its window (more pages only past 1,000 actors) and writes:

- `claude_code_usage`: day × actor — core metrics, the four known tool actions (and the whole
  tool map as JSON), tokens and estimated cost summed over the record's model breakdown;
- `claude_code_model_usage`: day × actor × model — tokens and estimated cost.

The API serves only data older than one hour, so the last day it serves is the day of
`now - 1 h`; that day (and any day ending less than an hour ago) is provisional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from ..upstream.pagination import console_report_pages
from ..warehouse.schema import row_key
from ..warehouse.tables import CLAUDE_CODE, CLAUDE_CODE_MODELS, Table
from .base import ConnectionInfo, Feed, FeedResult, FetchContext, Window, parse_ts
from .values import Unrepresentable, choice, count, money, text

__all__ = ["PATH", "ClaudeCodeFeed", "claude_code_feeds"]

PATH = "/v1/organizations/usage_report/claude_code"
PAGE_LIMIT = 1000  # the endpoint's maximum
SERVED_AFTER = timedelta(hours=1)  # only data older than this is served
KNOWN_TOOLS = ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
# column -> field of model_breakdown[].tokens
TOKEN_FIELDS = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_tokens": "cache_read",
    "cache_creation_tokens": "cache_creation",
}
# Core metrics, summed when the API sends two records for the same day and actor.
CORE_COLUMNS = ("num_sessions", "lines_added", "lines_removed", "commits", "pull_requests")
# The actor types of the report: a key column (the actor is its e-mail or its key name by type).
ACTOR_TYPES = frozenset({"user_actor", "api_actor"})


def _cents(value: Any) -> Decimal | None:
    """`estimated_cost.amount`: a JSON number of cents, an estimate. Read through its shortest
    text form (so 123.71 stays 123.71) and rounded once to 9 decimals, ROUND_HALF_EVEN
    (`values.money`)."""
    return money(value, "model_breakdown[].estimated_cost.amount")


def _key_row(table: Table, label: str, row: dict[str, Any]) -> dict[str, Any]:
    parts = [v.isoformat() if isinstance(v, datetime) else v for v in (row[c] for c in table.key)]
    row["row_key"] = row_key(label, table.name, *parts)
    return row


ActorKey = tuple[str | None, str | None, str | None]


@dataclass(slots=True)
class _Actor:
    """What one (day, actor) accumulates from its record(s)."""

    row: dict[str, Any]
    tools: dict[str, dict[str, int]] = field(default_factory=dict)
    models: dict[str | None, dict[str, Any]] = field(default_factory=dict)


def _obj(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unrepresentable(f"{name} is not an object")
    return value


def _actor_key(record: dict[str, Any]) -> ActorKey:
    actor = record.get("actor")
    if not isinstance(actor, dict):
        raise Unrepresentable("actor is missing")
    return (
        choice(actor.get("type"), ACTOR_TYPES, "actor.type"),
        text(actor.get("email_address"), "actor.email_address"),
        text(actor.get("api_key_name"), "actor.api_key_name"),
    )


def _tools(tools: Any) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, raw in _obj(tools, "tool_actions").items():
        counts = _obj(raw, f"tool_actions.{name}")
        out[str(name)] = {
            what: count(counts.get(what), f"tool_actions.{name}.{what}")
            for what in ("accepted", "rejected")
        }
    return out


def _models(breakdown: Any) -> dict[str | None, dict[str, Any]]:
    out: dict[str | None, dict[str, Any]] = {}
    if breakdown is None:
        return out
    if not isinstance(breakdown, list):
        raise Unrepresentable("model_breakdown is not a list")
    for raw in breakdown:
        item = _obj(raw, "model_breakdown[]")
        model = text(item.get("model"), "model_breakdown[].model")
        tokens = _obj(item.get("tokens"), "model_breakdown[].tokens")
        slot = out.setdefault(
            model, {**dict.fromkeys(TOKEN_FIELDS, 0), "estimated_cost_cents": Decimal(0)}
        )
        for column, name in TOKEN_FIELDS.items():
            slot[column] += count(tokens.get(name), f"model_breakdown[].tokens.{name}")
        cost = _cents(_obj(item.get("estimated_cost"), "estimated_cost").get("amount"))
        if cost is not None:
            slot["estimated_cost_cents"] += cost
    return out


def _merge_tools(into: dict[str, dict[str, int]], tools: dict[str, dict[str, int]]) -> None:
    for name, counts in tools.items():
        slot = into.setdefault(name, {"accepted": 0, "rejected": 0})
        for what, n in counts.items():
            slot[what] += n


def _merge_models(
    into: dict[str | None, dict[str, Any]], models: dict[str | None, dict[str, Any]]
) -> None:
    for model, sums in models.items():
        slot = into.get(model)
        if slot is None:
            into[model] = dict(sums)
        else:
            for column, value in sums.items():
                slot[column] += value


def _base_row(record: dict[str, Any], key: ActorKey) -> dict[str, Any]:
    core = _obj(record.get("core_metrics"), "core_metrics")
    lines = _obj(core.get("lines_of_code"), "core_metrics.lines_of_code")
    return {
        "actor_type": key[0],
        "actor_email": key[1],
        "api_key_name": key[2],
        "organization_id": text(record.get("organization_id"), "organization_id"),
        "customer_type": text(record.get("customer_type"), "customer_type"),
        "subscription_type": text(record.get("subscription_type"), "subscription_type"),
        "terminal_type": text(record.get("terminal_type"), "terminal_type"),
        "num_sessions": count(core.get("num_sessions"), "core_metrics.num_sessions"),
        "lines_added": count(lines.get("added"), "core_metrics.lines_of_code.added"),
        "lines_removed": count(lines.get("removed"), "core_metrics.lines_of_code.removed"),
        "commits": count(core.get("commits_by_claude_code"), "core_metrics.commits_by_claude_code"),
        "pull_requests": count(
            core.get("pull_requests_by_claude_code"), "core_metrics.pull_requests_by_claude_code"
        ),
    }


def _parse(
    record: Any, day_start: datetime
) -> tuple[ActorKey, dict[str, Any], dict[str, dict[str, int]], dict[str | None, dict[str, Any]]]:
    """One record, read whole before anything is added up: (actor, row, tools, models)."""
    record = _obj(record, "the record")
    try:
        stamp = parse_ts(record.get("date"))
    except (TypeError, ValueError):
        stamp = None
    if stamp != day_start:
        raise Unrepresentable(f"date = {record.get('date')!r} is not the day asked for")
    key = _actor_key(record)
    return (
        key,
        _base_row(record, key),
        _tools(record.get("tool_actions")),
        _models(record.get("model_breakdown")),
    )


@dataclass(slots=True)
class ClaudeCodeFeed:
    """`claude_code`: the Claude Code report, day by day."""

    name: str = "claude_code"
    tables: tuple[Table, ...] = (CLAUDE_CODE, CLAUDE_CODE_MODELS)
    mode: str = "fact"
    window_days: int = 7
    reconciliation: str = "engagement"
    optional: bool = False

    def earliest(self, connection: ConnectionInfo, today: date) -> date | None:
        return None  # the report has no documented floor; the backfill setting bounds it

    def latest(self, now: datetime) -> date:
        """The day after the last day served (data older than one hour)."""
        return (now - SERVED_AFTER).date() + timedelta(days=1)

    def fetch(self, ctx: FetchContext, window: Window) -> FeedResult:
        result = FeedResult(source="claude_code")
        end = min(window.end, self.latest(ctx.now))  # later days are empty: don't ask
        day = window.start
        while day < end:
            self._day(ctx, day, result)
            day += timedelta(days=1)
        for name in (CLAUDE_CODE.name, CLAUDE_CODE_MODELS.name):
            result.rows.setdefault(name, [])
        return result

    def _day(self, ctx: FetchContext, day: date, result: FeedResult) -> None:
        bounds = Window(day, day + timedelta(days=1))
        actors: dict[ActorKey, _Actor] = {}
        params = [("starting_at", day.isoformat())]
        for page in console_report_pages(ctx.client, PATH, params, limit=PAGE_LIMIT):
            ctx.on_page(PATH)
            for record in page["data"]:
                try:
                    key, row, tools, models = _parse(record, bounds.start_at)
                except Unrepresentable as exc:
                    result.reject(CLAUDE_CODE.name, PATH, record, exc.reason, bounds.start_at)
                    continue
                known = actors.get(key)
                if known is None:
                    known = actors[key] = _Actor(row)
                else:  # a second record for the same actor: add it up
                    for column in CORE_COLUMNS:
                        known.row[column] += row[column]
                    result.notices.append(
                        f"Claude Code report of {day}: several records "
                        f"for actor {key[1] or key[2]}, summed"
                    )
                _merge_tools(known.tools, tools)
                _merge_models(known.models, models)
        provisional = bounds.end_at > ctx.now - SERVED_AFTER
        common = {
            "connection_label": ctx.connection.label,
            "bucket_start": bounds.start_at,
            "bucket_end": bounds.end_at,
            "fetched_at": ctx.fetched_at,
            "is_provisional": provisional,
            "data_refreshed_at": None,
        }
        for actor in actors.values():
            row = {**actor.row, **common}
            for tool in KNOWN_TOOLS:
                counts = actor.tools.get(tool, {})
                row[f"{tool}_accepted"] = counts.get("accepted", 0)
                row[f"{tool}_rejected"] = counts.get("rejected", 0)
            row["tool_actions_json"] = orjson.dumps(
                actor.tools, option=orjson.OPT_SORT_KEYS
            ).decode()
            for column in (*TOKEN_FIELDS, "estimated_cost_cents"):
                row[column] = sum(
                    (m[column] for m in actor.models.values()),
                    Decimal(0) if column == "estimated_cost_cents" else 0,
                )
            result.add(CLAUDE_CODE.name, _key_row(CLAUDE_CODE, ctx.connection.label, row))
            for model, sums in actor.models.items():
                model_row = {
                    "actor_type": row["actor_type"],
                    "actor_email": row["actor_email"],
                    "api_key_name": row["api_key_name"],
                    "model": model,
                    **sums,
                    **common,
                }
                result.add(
                    CLAUDE_CODE_MODELS.name,
                    _key_row(CLAUDE_CODE_MODELS, ctx.connection.label, model_row),
                )


def claude_code_feeds() -> list[Feed]:
    """The Claude Code feeds of a Console connection."""
    return [ClaudeCodeFeed()]
