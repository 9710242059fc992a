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
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ..errors import MalformedResponse
from ..upstream.pagination import console_report_pages
from ..warehouse.store import row_key
from ..warehouse.tables import CLAUDE_CODE, CLAUDE_CODE_MODELS, Table
from .base import ConnectionInfo, Feed, FeedResult, FetchContext, Window, as_int, parse_ts

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


def _malformed(why: str) -> MalformedResponse:
    return MalformedResponse(
        f"Unexpected Claude Code report from GET {PATH}: {why}", status=200, path=PATH
    )


def _cents(value: Any) -> Decimal | None:
    """`estimated_cost.amount`: a JSON number of cents (read through its shortest text form,
    so 123.71 stays 123.71)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _malformed(f"estimated cost {value!r} is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise _malformed(f"estimated cost {value!r} is not a number") from exc


def _key_row(table: Table, label: str, row: dict[str, Any]) -> dict[str, Any]:
    parts = [v.isoformat() if isinstance(v, datetime) else v for v in (row[c] for c in table.key)]
    row["row_key"] = row_key(label, table.name, *parts)
    return row


@dataclass
class _Actor:
    """What one (day, actor) accumulates from its record(s)."""

    row: dict[str, Any]
    tools: dict[str, dict[str, int]] = field(default_factory=dict)
    models: dict[str | None, dict[str, Any]] = field(default_factory=dict)


def _actor_key(record: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    actor = record.get("actor")
    if not isinstance(actor, dict):
        raise _malformed("a record has no actor")
    return actor.get("type"), actor.get("email_address"), actor.get("api_key_name")


def _add_tools(into: dict[str, dict[str, int]], tools: Any) -> None:
    if not isinstance(tools, dict):
        return
    for name, raw in tools.items():
        counts = raw if isinstance(raw, dict) else {}
        slot = into.setdefault(str(name), {"accepted": 0, "rejected": 0})
        for what in ("accepted", "rejected"):
            slot[what] += as_int(counts.get(what))


def _add_models(into: dict[str | None, dict[str, Any]], breakdown: Any) -> None:
    if breakdown is None:
        return
    if not isinstance(breakdown, list):
        raise _malformed("model_breakdown is not a list")
    for item in breakdown:
        if not isinstance(item, dict):
            raise _malformed("a model_breakdown item is not an object")
        model: str | None = item.get("model")
        tokens = item.get("tokens") or {}
        slot = into.setdefault(
            model, {**dict.fromkeys(TOKEN_FIELDS, 0), "estimated_cost_cents": Decimal(0)}
        )
        for column, name in TOKEN_FIELDS.items():
            slot[column] += as_int(tokens.get(name))
        cost = _cents((item.get("estimated_cost") or {}).get("amount"))
        if cost is not None:
            slot["estimated_cost_cents"] += cost


def _base_row(record: dict[str, Any]) -> dict[str, Any]:
    actor_type, email, key_name = _actor_key(record)
    core = record.get("core_metrics") or {}
    lines = core.get("lines_of_code") or {}
    return {
        "actor_type": actor_type,
        "actor_email": email,
        "api_key_name": key_name,
        "organization_id": record.get("organization_id"),
        "customer_type": record.get("customer_type"),
        "subscription_type": record.get("subscription_type"),
        "terminal_type": record.get("terminal_type"),
        "num_sessions": as_int(core.get("num_sessions")),
        "lines_added": as_int(lines.get("added")),
        "lines_removed": as_int(lines.get("removed")),
        "commits": as_int(core.get("commits_by_claude_code")),
        "pull_requests": as_int(core.get("pull_requests_by_claude_code")),
    }


@dataclass
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
        actors: dict[tuple[str | None, str | None, str | None], _Actor] = {}
        params = [("starting_at", day.isoformat())]
        for page in console_report_pages(ctx.client, PATH, params, limit=PAGE_LIMIT):
            ctx.on_page(PATH)
            for record in page["data"]:
                if not isinstance(record, dict):
                    raise _malformed("a record is not an object")
                try:
                    stamp = parse_ts(record.get("date"))
                except (TypeError, ValueError):
                    stamp = None
                if stamp != bounds.start_at:
                    raise _malformed(f"a record of {record.get('date')!r} in the report of {day}")
                key = _actor_key(record)
                row = _base_row(record)
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
                _add_tools(known.tools, record.get("tool_actions"))
                _add_models(known.models, record.get("model_breakdown"))
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
