"""Hostile values from the API never abort a sync: a property-based test.

The simulator stays a real HTTP server; an httpx transport between it and the client decodes
each JSON body, applies the example's mutations (extra decimals, floats for decimal strings,
binary-float tails, huge and negative integers, nulls, unknown enum values and fields, empty and
very long strings, Unicode, control characters, lone surrogates, missing objects) and encodes it
again. Every example re-syncs the same three-day window of four feeds (analytics cost and usage,
Claude Code, the user list) into one warehouse, and checks that:

- the sync finishes with no feed in error;
- exactly the rows the documented rules cannot represent are in `rejected_rows` (a window
  fetched again replaces the previous example's), and the feed reports count them;
- every total equals the simulator's truth (checked on a clean sync first) with the quarantined
  rows taken out and the mutated values read by the documented rules.

The expectation is computed by a reader written here from the rules in docs/sync.md, applied to
every item the transport passed on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import NOW, Api, make_settings
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.refresh import initialize
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig
from spendscope.sources.admin import admin_feeds
from spendscope.sources.base import ConnectionInfo, Feed
from spendscope.sources.claude_code import ClaudeCodeFeed
from spendscope.sources.cost_usage import CostUsageFeed
from spendscope.sync.engine import ConnectionSync
from spendscope.sync.reports import ConnectionReport, SyncRequest
from spendscope.sync.run import make_client_factory, run_sync
from spendscope.upstream.ratelimit import reset_limiters
from spendscope.warehouse.connection import Warehouse

EXAMPLES = 12
START = date(2026, 11, 10)
END = START + timedelta(days=3)
LABEL = "acme-console"
PATHS = {
    "/v1/organizations/analytics/cost": "cost",
    "/v1/organizations/analytics/usage": "usage",
    "/v1/organizations/usage_report/claude_code": "claude_code",
    "/v1/organizations/users": "users",
}
TARGETS = tuple(PATHS.values())

# -- the reader: the documented rules, written independently of the code under test -----------


class Quarantined(Exception):
    pass


INT64 = (-(2**63), 2**63 - 1)
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
WIDE = Context(prec=60)
MISSING = object()


def _money(v: Any, required: bool) -> Decimal | None:
    if v is None or v is MISSING:
        if required:
            raise Quarantined
        return None
    if isinstance(v, bool):
        raise Quarantined
    if isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise Quarantined
        d = Decimal(repr(v))
    elif isinstance(v, str) and NUMBER.fullmatch(v):
        d = Decimal(v)
    else:
        raise Quarantined
    if d.adjusted() >= 29:
        raise Quarantined
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -9:
        d = d.quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN, context=WIDE)
    if abs(d) * 10**9 > 2**63 - 1:  # more than one row holds (about 92 million dollars)
        raise Quarantined
    return d


def _int(v: Any, nullable: bool = False) -> int | None:
    if v is None or v is MISSING:
        return None if nullable else 0
    if isinstance(v, bool):
        raise Quarantined
    if isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            raise Quarantined
        v = int(v)
    elif isinstance(v, str):
        if not NUMBER.fullmatch(v):
            raise Quarantined
        d = Decimal(v)
        if d != d.to_integral_value() or d.adjusted() > 20:
            raise Quarantined
        v = int(d)
    elif not isinstance(v, int):
        raise Quarantined
    if not INT64[0] <= v <= INT64[1]:
        raise Quarantined
    return v


def _text(v: Any) -> str | None:
    if v is None or v is MISSING:
        return None
    if not isinstance(v, str):
        raise Quarantined
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise Quarantined from None
    return v


def _enum(v: Any, allowed: set[str]) -> None:
    if _text(v) not in (None, *allowed):
        raise Quarantined


def _stamp(v: Any, required: bool) -> None:
    if v is None or v is MISSING or v == "":
        if required:
            raise Quarantined
        return
    if _text(v) is None:
        raise Quarantined
    text = v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        raise Quarantined from None


def _obj(v: Any) -> dict[str, Any]:
    if v is None or v is MISSING:
        return {}
    if not isinstance(v, dict):
        raise Quarantined
    return v


def get(item: Any, *path: str | int) -> Any:
    for p in path:
        if isinstance(p, int):
            if not isinstance(item, list) or len(item) <= p:
                return MISSING
            item = item[p]
        else:
            if not isinstance(item, dict) or p not in item:
                return MISSING
            item = item[p]
    return item


ACTORS = {"user_actor", "service_account_actor", "federated_actor", "api_actor"}


def read_cost(item: Any) -> dict[str, Any]:
    item = _obj(item)
    _stamp(get(item, "starting_at"), True)
    group = _obj(item.get("group"))
    for name in ("model", "workspace_id", "api_key_id", "cost_type", "token_type"):
        _text(group.get(name))
    _enum(group.get("actor_type"), ACTORS)
    cost = _obj(item.get("cost"))
    _money(get(cost, "list_amount"), False)
    _text(cost.get("currency"))
    _int(get(cost, "requests"), nullable=True)
    return {"amount": _money(get(cost, "amount"), True)}


USAGE_COUNTERS = {
    "uncached": ("uncached_input_tokens",),
    "cache_read": ("cache_read_input_tokens",),
    "output": ("output_tokens",),
    "cache_5m": ("cache_creation", "ephemeral_5m_input_tokens"),
    "cache_1h": ("cache_creation", "ephemeral_1h_input_tokens"),
    "web_search": ("server_tool_use", "web_search_requests"),
}


def read_usage(item: Any) -> dict[str, Any]:
    item = _obj(item)
    _stamp(get(item, "starting_at"), True)
    group = _obj(item.get("group"))
    for name in ("model", "workspace_id"):
        _text(group.get(name))
    usage = _obj(item.get("usage"))
    _obj(usage.get("cache_creation"))
    _obj(usage.get("server_tool_use"))
    _int(get(usage, "requests"), nullable=True)
    return {k: _int(get(usage, *path)) for k, path in USAGE_COUNTERS.items()}


def read_claude_code(item: Any) -> dict[str, Any]:
    item = _obj(item)
    actor = item.get("actor")
    if not isinstance(actor, dict):
        raise Quarantined
    _enum(actor.get("type"), {"user_actor", "api_actor"})
    _text(actor.get("email_address"))
    _text(actor.get("api_key_name"))
    _text(get(item, "terminal_type"))
    core = _obj(item.get("core_metrics"))
    _obj(core.get("lines_of_code"))
    _int(get(core, "lines_of_code", "added"))
    out = {"cost": Decimal(0), "input": 0, "output": 0, "sessions": _int(get(core, "num_sessions"))}
    breakdown = item.get("model_breakdown")
    if breakdown is None:
        breakdown = []
    if not isinstance(breakdown, list):
        raise Quarantined
    for raw in breakdown:
        entry = _obj(raw)
        _text(entry.get("model"))
        tokens = _obj(entry.get("tokens"))
        out["input"] += _int(get(tokens, "input"))
        out["output"] += _int(get(tokens, "output"))
        amount = _money(get(_obj(entry.get("estimated_cost")), "amount"), False)
        out["cost"] += amount or 0
    return out


def read_user(item: Any) -> dict[str, Any]:
    item = _obj(item)
    user_id = _text(get(item, "id"))
    if user_id is None:
        raise Quarantined
    for name in ("email", "name", "role"):
        _text(get(item, name))
    _stamp(get(item, "added_at"), False)
    return {"id": user_id}


READERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "cost": read_cost,
    "usage": read_usage,
    "claude_code": read_claude_code,
    "users": read_user,
}
# The leaves a mutation may hit, per target.
LEAVES: dict[str, tuple[tuple[str | int, ...], ...]] = {
    "cost": (
        ("cost", "amount"),
        ("cost", "amount"),
        ("cost", "list_amount"),
        ("cost", "requests"),
        ("cost",),
        ("group", "model"),
        ("group", "cost_type"),
        ("group", "actor_type"),
        ("group",),
        ("starting_at",),
    ),
    "usage": (
        ("usage", "uncached_input_tokens"),
        ("usage", "output_tokens"),
        ("usage", "cache_creation"),
        ("usage", "cache_creation", "ephemeral_1h_input_tokens"),
        ("usage", "server_tool_use"),
        ("usage", "requests"),
        ("group", "model"),
        ("starting_at",),
    ),
    "claude_code": (
        ("model_breakdown", 0, "estimated_cost", "amount"),
        ("model_breakdown", 0, "estimated_cost", "amount"),
        ("model_breakdown", 0, "tokens", "input"),
        ("model_breakdown", 0, "model"),
        ("model_breakdown",),
        ("core_metrics", "num_sessions"),
        ("core_metrics", "lines_of_code", "added"),
        ("actor", "type"),
        ("terminal_type",),
    ),
    "users": (("id",), ("name",), ("email",), ("role",), ("added_at",)),
}

# -- mutations --------------------------------------------------------------------------------

HUGE = (2**63, 2**64 + 7, -(2**63) - 1, 2**53 + 1, 10**30, 2**63 - 1, 123456789012345678901234)
KINDS = (
    "extra_decimals",
    "decimal_tie",
    "as_float",
    "float_tail",
    "huge",
    "negative",
    "null",
    "remove",
    "unknown_enum",
    "unknown_field",
    "empty",
    "long_text",
    "long_digits",
    "unicode",
    "control",
    "surrogate",
)


@dataclass(frozen=True)
class Mutation:
    target: str
    day: int  # which request of a per-day endpoint (Claude Code)
    item: int
    leaf: int
    kind: str
    param: int

    def new_value(self, v: Any) -> Any:
        # The parameter, spread (small values are drawn most often).
        k, p = self.kind, self.param * 7919 + self.item * 104729 + self.leaf * 31 + self.day
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        numeric_text = isinstance(v, str) and bool(NUMBER.fullmatch(v))
        if k in ("extra_decimals", "decimal_tie"):
            digits = str(10**12 + p * 7919)[-(1 + p % 25) :] + "5"
            base = repr(v) if numeric else v if isinstance(v, str) else "0"
            whole, _, fraction = base.partition(".")
            if k == "decimal_tie":  # a 5 at the 10th decimal: the rounding rule decides
                return f"{whole}.{(fraction + digits)[:9].ljust(9, '0')}5"
            return f"{whole}.{fraction}{digits}"
        if k == "as_float":
            return float(v) if numeric or numeric_text else v
        if k == "float_tail":
            return math.nextafter(float(v), math.inf) if numeric or numeric_text else v
        if k == "huge":
            return HUGE[p % len(HUGE)]
        if k == "negative":
            return -abs(v) - 1 if numeric else -1 - p
        if k == "null":
            return None
        if k == "unknown_enum":
            return "zz_unknown_value"
        if k == "empty":
            return ""
        if k == "long_text":
            return "ł" * (1000 + p % 5000)
        if k == "long_digits":
            return "1" + "0" * (20 + p % 20)
        if k == "unicode":
            return "模型-ü-🙂-\u202e-ǅ"
        if k == "control":
            return "a\x00b\x1b]0;title\x07\r\n\t\x7f\u0085c"
        if k == "surrogate":
            return "x\ud800y"
        raise AssertionError(k)

    def apply(self, items: list[Any]) -> int | None:
        """Mutate one item in place; returns its index (None if nothing was there)."""
        if not items:
            return None
        index = self.item % len(items)
        path = LEAVES[self.target][self.leaf % len(LEAVES[self.target])]
        parent: Any = items[index]
        for step in path[:-1]:
            parent = get(parent, step)
            if parent is MISSING or not isinstance(parent, dict | list):
                return None
        last = path[-1]
        if isinstance(parent, list):
            if not isinstance(last, int) or len(parent) <= last:
                return None
            parent[last] = self.new_value(parent[last])
            return index
        assert isinstance(last, str)
        if self.kind == "remove":
            parent.pop(last, None)
        elif self.kind == "unknown_field":
            parent["zz_new_field"] = {"nested": [1, "two", None, 2.5], "more": {}}
        elif last in parent:
            parent[last] = self.new_value(parent[last])
        else:
            return None
        return index


mutations = st.builds(
    Mutation,
    target=st.sampled_from(TARGETS),
    day=st.integers(0, 2),
    item=st.integers(0, 10**6),
    leaf=st.integers(0, 50),
    kind=st.sampled_from(KINDS),
    param=st.integers(0, 10**6),
)

# -- the transport ----------------------------------------------------------------------------


@dataclass
class Seen:
    """What the client was sent, per target: every item after mutation, and which were hit."""

    items: dict[str, list[Any]] = field(default_factory=lambda: {t: [] for t in TARGETS})
    mutated: dict[str, list[Any]] = field(default_factory=lambda: {t: [] for t in TARGETS})


class MutatingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.mutations: list[Mutation] = []
        self.seen = Seen()

    def reset(self, mutations: list[Mutation]) -> None:
        self.mutations = mutations
        self.seen = Seen()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        target = PATHS.get(request.url.path)
        if target is None or response.status_code != 200:
            return response
        try:
            body = json.loads(response.read())
        except ValueError:  # not JSON (a fault of the simulator's): passed on as it is
            return response
        items = body.get("data") or []
        first_page = "page" not in request.url.params and "after_id" not in request.url.params
        day = request.url.params.get("starting_at", "")[:10]
        hit: set[int] = set()
        for m in self.mutations:
            if m.target != target or not first_page:
                continue
            if target == "claude_code" and day != (START + timedelta(days=m.day)).isoformat():
                continue
            index = m.apply(items)
            if index is not None:
                hit.add(index)
        self.seen.items[target] += items
        self.seen.mutated[target] += [items[i] for i in sorted(hit)]
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        return httpx.Response(
            200, headers=headers, content=json.dumps(body).encode(), request=request
        )

    def close(self) -> None:  # shared by every client of the sync: closed by the test
        pass


# -- expectations and the warehouse's answers -------------------------------------------------


def expected(seen: Seen) -> tuple[dict[str, Any], int]:
    """(the totals the rules give for everything sent, the number of rows to quarantine)."""
    sums: dict[str, Any] = {}
    rejected = 0
    ids: set[str] = set()
    for target, items in seen.items.items():
        for item in items:
            try:
                got = READERS[target](item)
            except Quarantined:
                rejected += 1
                continue
            if target == "users":
                ids.add(got["id"])
                continue
            for k, v in got.items():
                sums[f"{target}.{k}"] = sums.get(f"{target}.{k}", 0) + (v or 0)
    sums["users.ids"] = ids
    return sums, rejected


def actual(wh: Warehouse) -> dict[str, Any]:
    """The same totals, read from the warehouse."""
    window = (LABEL, datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC))
    where = "WHERE connection_label = ? AND bucket_start >= ? AND bucket_start < ?"

    def one(sql: str, *params: Any) -> tuple[Any, ...]:
        rows = wh.read(sql, *(params or window))
        return tuple(0 if v is None else v for v in rows[0])

    (amount,) = one(f"SELECT sum(amount_cents) FROM spendscope.analytics_cost_key {where}")
    usage = one(
        "SELECT sum(uncached_input_tokens), sum(cache_read_input_tokens), sum(output_tokens),"
        " sum(cache_creation_5m_input_tokens), sum(cache_creation_1h_input_tokens),"
        f" sum(web_search_requests) FROM spendscope.analytics_usage_key {where}"
    )
    code = one(
        "SELECT sum(estimated_cost_cents), sum(input_tokens), sum(output_tokens) "
        f"FROM spendscope.claude_code_model_usage {where}"
    )
    (sessions,) = one(f"SELECT sum(num_sessions) FROM spendscope.claude_code_usage {where}")
    ids = {
        r[0]
        for r in wh.read("SELECT id FROM spendscope.org_users WHERE connection_label = ?", LABEL)
    }
    (rejected,) = one(
        "SELECT count(*) FROM spendscope.rejected_rows WHERE connection_label = ?", LABEL
    )
    names = ("uncached", "cache_read", "output", "cache_5m", "cache_1h", "web_search")
    out: dict[str, Any] = {"cost.amount": amount, "users.ids": ids, "rejected": rejected}
    out.update({f"usage.{n}": v for n, v in zip(names, usage, strict=True)})
    out.update(
        {
            "claude_code.cost": code[0],
            "claude_code.input": code[1],
            "claude_code.output": code[2],
            "claude_code.sessions": sessions,
        }
    )
    return out


def fuzz_feeds(kind: str) -> list[Feed]:
    users = next(f for f in admin_feeds(kind) if f.name == "users")
    return [
        CostUsageFeed(kind, "cost", False),
        CostUsageFeed(kind, "usage", False),
        ClaudeCodeFeed(),
        users,
    ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Settings, ConnectionStore, MutatingTransport, Api]]:
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        api = Api(running.url)
        settings = make_settings(tmp_path)
        store = ConnectionStore(settings)
        org = next(o for o in api.info()["organizations"] if o["name"] == "Acme Platform")
        store.add(
            LABEL,
            "console",
            api.key("console", "admin"),
            base_url=running.url,
            organization_id=org["id"],
            organization_name=org["name"],
        )
        transport = MutatingTransport()
        try:
            yield settings, store, transport, api
        finally:
            transport.inner.close()


CLIENT = {"backoff_base": 0.01, "max_attempts": 2}


def run(settings: Settings, store: ConnectionStore, transport: MutatingTransport) -> list[Any]:
    """`spendscope sync` of the window (views and marts refreshed)."""
    reset_limiters()
    wh = Warehouse(settings)
    try:
        return run_sync(
            settings,
            store,
            wh,
            request=SyncRequest(since=START, until=END),
            now=lambda: NOW,
            client_options={"transport": transport, **CLIENT},
            feeds=fuzz_feeds,
        )
    finally:
        wh.close()


def run_engine(
    settings: Settings, store: ConnectionStore, transport: MutatingTransport, wh: Warehouse
) -> ConnectionReport:
    """The connection's sync itself (the engine), without the refresh of views and marts that
    `run_sync` adds: the examples check the raw tables."""
    reset_limiters()
    conn = store.get(LABEL)
    info = ConnectionInfo(conn.label, conn.kind, conn.organization_id, "auto")
    factory = make_client_factory(settings, store, conn, transport=transport, **CLIENT)
    job = ConnectionSync(wh, settings, info, factory, fuzz_feeds(conn.kind), now=lambda: NOW)
    return job.run(SyncRequest(since=START, until=END))


@pytest.mark.slow
def test_hostile_values_are_quarantined_and_the_rest_is_exact(
    world: tuple[Settings, ConnectionStore, MutatingTransport, Api],
) -> None:
    from spendscope.reporting.health import connection_health

    settings, store, transport, api = world

    # A clean sync first: the sent items are the simulator's truth, and nothing is set aside.
    transport.reset([])
    reports = run(settings, store, transport)
    assert [f.error for r in reports for f in r.feeds if f.error] == []
    clean, none = expected(transport.seen)
    assert none == 0
    truth = api.truth(org="Acme Platform", start=START.isoformat(), end=END.isoformat())
    days = truth["organizations"][0]["days"]
    assert clean["cost.amount"] == sum(Decimal(d["cost_cents"]) for d in days)
    assert clean["usage.output"] == sum(d["output_tokens"] for d in days)
    wh = Warehouse(settings)
    assert {k: v for k, v in actual(wh).items() if k != "rejected"} == clean
    examples = []

    @settings_for_fuzz
    @given(st.lists(mutations, min_size=20, max_size=60))
    def check(batch: list[Mutation]) -> None:
        examples.append(batch)
        transport.reset(batch)
        report = run_engine(settings, store, transport, wh)
        errors = [f"{f.feed}: {f.error}" for f in report.feeds if f.error]
        assert errors == []
        assert report.error is None
        want, rejected = expected(transport.seen)
        got = actual(wh)
        assert got.pop("rejected") == rejected
        assert report.rejected == rejected
        assert got == want
        health = connection_health(wh, count_rows=False, store=store)
        assert health[LABEL].get("rejected", 0) == rejected  # what `status` shows

    try:
        check()
    finally:
        wh.close()
    # The last example's quarantine is in the event log too; a clean sync clears it.
    transport.reset([])
    reports = run(settings, store, transport)
    assert sum(r.rejected for r in reports) == 0
    wh = Warehouse(settings)
    try:
        assert wh.read("SELECT count(*) FROM spendscope.rejected_rows") == [(0,)]
        events = wh.read(
            "SELECT count(*) FROM spendscope.events WHERE level = 'warning' "
            "AND message LIKE '%set aside in rejected_rows%'"
        )
        assert events[0][0] > 0  # every window with rejections said so in the event log
    finally:
        wh.close()
    print(f"quarantine fuzz: {len(examples)} examples")
    assert len(examples) >= EXAMPLES


# Each example is a sync: shrinking a failure would take minutes, so a failure is reported as
# found (its mutations are printed in full).
settings_for_fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- one feed failing never stops the others --------------------------------------------------


class BrokenFeed(ClaudeCodeFeed):
    """A feed with a bug: its fetch raises what no feed should."""

    def fetch(self, ctx: Any, window: Any) -> Any:
        raise RuntimeError("a bug in a feed")


def test_a_failing_feed_never_stops_the_others(
    world: tuple[Settings, ConnectionStore, MutatingTransport, Api],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, store, transport, api = world
    api.http.post(
        "/_simulator/faults",
        json={"path": "/v1/organizations/analytics/cost", "kind": "malformed", "count": 50},
    ).raise_for_status()
    wh = Warehouse(settings)
    initialize(wh)
    try:
        reset_limiters()
        conn = store.get(LABEL)
        info = ConnectionInfo(conn.label, conn.kind, conn.organization_id, "auto")
        factory = make_client_factory(settings, store, conn, transport=transport, **CLIENT)
        feeds = [*fuzz_feeds(conn.kind), BrokenFeed(name="broken")]
        job = ConnectionSync(wh, settings, info, factory, feeds, now=lambda: NOW)
        report = job.run(SyncRequest(since=START, until=END))
        by_feed = {f.feed: f for f in report.feeds}
        assert {f.feed for f in report.failed_feeds} == {"cost", "broken"}
        assert "JSON" in (by_feed["cost"].error or "")
        assert by_feed["broken"].error == "internal error: RuntimeError: a bug in a feed"
        for name in ("usage", "claude_code", "users"):
            assert by_feed[name].error is None
            assert by_feed[name].skipped is None
            assert by_feed[name].rows > 0
        assert report.error is not None  # the run says it failed, and which feeds did
        events = dict(
            wh.read(
                "SELECT category, detail FROM spendscope.events WHERE level = 'error' "
                "AND message LIKE 'broken:%'"
            )
        )
        # The traceback is in the event log (and the debug log), never printed.
        assert "Traceback" in json.loads(events["internal"])["traceback"]
        assert not [r for r in caplog.records if r.levelname != "DEBUG" and r.exc_info]
    finally:
        wh.close()


def test_a_refused_key_stops_the_connection_early(
    world: tuple[Settings, ConnectionStore, MutatingTransport, Api],
) -> None:
    settings, store, transport, _ = world
    wh = Warehouse(settings)
    initialize(wh)
    try:
        reset_limiters()
        conn = store.get(LABEL)
        info = ConnectionInfo(conn.label, conn.kind, conn.organization_id, "auto")
        bad = "sk-ant-admin01-" + "x" * 93 + "AA"

        def factory(feed: Feed) -> Any:
            from spendscope.upstream.client import AnthropicClient

            return AnthropicClient(bad, base_url=conn.base_url, transport=transport, **CLIENT)

        feeds = fuzz_feeds(conn.kind) * 3  # more feeds than workers
        job = ConnectionSync(wh, settings, info, factory, feeds, max_workers=2, now=lambda: NOW)
        report = job.run(SyncRequest(since=START, until=END))
        assert report.failed_feeds
        assert all(f.error or f.skipped for f in report.feeds)
        assert [f for f in report.feeds if f.skipped]  # the rest never asked
        assert report.requests < len(feeds)
    finally:
        wh.close()


# -- the legacy reports set rows aside the same way -------------------------------------------


class EditingTransport(httpx.BaseTransport):
    """Passes every answer through `edit(path, body)`."""

    def __init__(self, edit: Callable[[str, dict[str, Any]], None]) -> None:
        self.inner = httpx.HTTPTransport()
        self.edit = edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if response.status_code != 200:
            return response
        body = json.loads(response.read())
        self.edit(request.url.path, body)
        return httpx.Response(200, content=json.dumps(body).encode(), request=request)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("kind", ["console", "enterprise"])
def test_legacy_reports_quarantine_single_rows(simulator: RunningSimulator, kind: str) -> None:
    from spendscope.sources.base import FetchContext, Window
    from spendscope.upstream.client import AnthropicClient

    api = Api(simulator.url)
    key = api.key(kind, "admin" if kind == "console" else "analytics")
    window = Window(START, END)
    sent: dict[str, Decimal] = {}

    def edit(path: str, body: dict[str, Any]) -> None:
        for bucket in body.get("data") or []:
            results = bucket.get("results") if "results" in bucket else [bucket]
            for r in results or []:
                if "amount" in r and "bad" not in sent:
                    sent["bad"] = Decimal(r["amount"])
                    r["amount"] = "12,50"  # not a number: the row is set aside
                elif "amount" in r and "tie" not in sent:
                    sent["tie"] = Decimal(r["amount"])
                    r["amount"] = f"{Decimal(r['amount']):.9f}5"  # a tie: rounded half-even
                elif "output_tokens" in r and "huge" not in sent:
                    sent["huge"] = Decimal(r["output_tokens"])
                    r["output_tokens"] = 2**64 + 1  # beyond int64: set aside

    for name in ("cost", "usage"):
        transport = EditingTransport(edit)
        feed = next(f for f in fuzz_feeds(kind) if f.name == name)
        with AnthropicClient(key, base_url=simulator.url, transport=transport) as client:
            ctx = FetchContext(client, ConnectionInfo("acme", kind, None, "legacy"), NOW, NOW)
            result = feed.fetch(ctx, window)
        assert [r.reason for r in result.rejected] == (
            ["amount = '12,50' is not a decimal number"]
            if name == "cost"
            else ["output_tokens = 18446744073709551617 is out of the int64 range"]
        )
        rows = [r for rows in result.rows.values() for r in rows]
        assert rows, "the rest of the window loads"
        if name == "cost":
            clean = _legacy_total(api, kind, "cost")
            tie = sent["tie"]
            rounded = Decimal(f"{tie:.9f}5").quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN)
            assert sum(r["amount_cents"] for r in rows) == clean - sent["bad"] - tie + rounded
        else:
            clean = _legacy_total(api, kind, "usage")
            assert sum(r["output_tokens"] for r in rows) == clean - sent["huge"]


def _legacy_total(api: Api, kind: str, what: str) -> Decimal:
    """The window's total from the simulator's truth: cents (the legacy Console cost report
    leaves out Priority Tier) or output tokens."""
    name = "Acme Platform" if kind == "console" else "Acme Enterprise"
    days = api.truth(org=name, start=START.isoformat(), end=END.isoformat())["organizations"][0]
    if what == "usage":
        return Decimal(sum(d["output_tokens"] for d in days["days"]))
    total = sum(Decimal(d["cost_cents"]) for d in days["days"])
    if kind == "console":
        total -= sum(Decimal(d["priority_cost_cents"]) for d in days["days"])
    return total
