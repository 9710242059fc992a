"""A large, realistic spendscope warehouse for performance benchmarks, built with DuckDB SQL.

`build(home, spend_rows=10_000_000)` creates a fresh warehouse at `home` whose `spend` view holds
exactly `spend_rows` rows, with proportionate data everywhere else:

- two connections: `bench-console` (Console organization A) and `bench-enterprise` (Enterprise
  organization B). The Enterprise analytics rows also carry organization A as a child
  `organization_id` for the last 60 days, so `overlaps` is filled and those rows (listed in
  `spend_overlaps` / `usage_overlaps`) are left out of `spend` / `usage`;
- spend about 60 % Console (`analytics_cost_key`: workspaces, API keys, 12 models, 2 service
  tiers, 2 context windows, every cost type / token type line) and 40 % Enterprise
  (`analytics_cost_user`: users with e-mails, products, models, context windows), over `days` days
  ending yesterday, with a weekday/weekend rhythm, growth and the odd spike;
- usage at both canonical grains (about half as many rows as cost), the alternate grains
  (`analytics_*_actor`, `analytics_*_detail`, at most about a million rows each) whose daily
  totals equal the canonical grain's to the last 1e-9 cent / token, admin lists (workspaces,
  API keys, users, organizations), `sync_state`, `events`, Claude Code usage and the Enterprise
  engagement tables.

Rows are not loaded through the sync: `initialize(Warehouse)` creates the empty tables, then
`INSERT ... SELECT` over `range()` fills them with hash-based, deterministic pseudo-random values;
`overlaps`, the views and (when `spendscope.warehouse.marts` exists) the marts are rebuilt last.
Each day's rows are distinct combinations of the grain's dimensions (an invertible stride through
the combination space), so natural keys and `row_key`s are unique. Rows are written in day order,
as a sync that loads window after window leaves them.

Run `python -m benchmarks.bigwarehouse --home /tmp/bigwh --rows 10000000 [--queries]`; it prints
the figures (rows per table, seconds, file size) and, with `--queries`, the timings of a few
dashboard-like queries against the `spend` view and a table materialized from it.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from spendscope.config import load_settings
from spendscope.simulator.engagement_data import PROJECT_NAMES
from spendscope.simulator.world_generation import (
    FIRST_NAMES,
    KEY_PURPOSES,
    LAST_NAMES,
    WORKSPACE_NAMES,
)
from spendscope.sync.engine import event_row
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.refresh import initialize
from spendscope.warehouse.schema import ALL_TABLES, DATASET, row_key, to_arrow
from spendscope.warehouse.tables import USAGE_METRIC_NAMES
from spendscope.warehouse.views import create_views, refresh_overlaps

S = DATASET
CONSOLE = "bench-console"
ENTERPRISE = "bench-enterprise"
ORG_A = "5a1c0f3e-7d2b-4c89-9e61-0b3f4a5d6c7e"  # the Console organization (child of B)
ORG_B = "9d8e7f6a-1b2c-4d3e-8f9a-0b1c2d3e4f5a"  # the Enterprise organization
OVERLAP_DAYS = 60
PROVISIONAL_DAYS = 3
CONSOLE_SHARE = 0.6
DISCOUNT = {CONSOLE: 0.85, ENTERPRISE: 0.8}
BUILD_CONFIG = {"memory_limit": "4GB", "threads": 2}
QUERY_CONFIG = {"memory_limit": "256MB", "threads": 2}

# name, input US$/MTok, output US$/MTok, long context, inference geo, fast mode, popularity
MODELS: tuple[tuple[str, float, float, bool, bool, bool, float], ...] = (
    ("claude-opus-5", 5, 25, True, True, True, 30),
    ("claude-sonnet-5", 3, 15, True, True, False, 40),
    ("claude-haiku-4-5", 1, 5, False, False, False, 18),
    ("claude-opus-4-6", 5, 25, True, True, True, 12),
    ("claude-sonnet-4-6", 3, 15, True, True, False, 10),
    ("claude-opus-4-5", 5, 25, False, True, False, 5),
    ("claude-sonnet-4-5", 3, 15, True, True, False, 6),
    ("claude-sonnet-4-20250514", 3, 15, True, False, False, 3),
    ("claude-opus-4-1", 15, 75, False, False, False, 1.5),
    ("claude-opus-4-20250514", 15, 75, False, False, False, 0.5),
    ("claude-3-7-sonnet-20250219", 3, 15, False, False, False, 1),
    ("claude-3-5-haiku-20241022", 0.8, 4, False, False, False, 2),
)
MEAN_POP = sum(m[6] for m in MODELS) / len(MODELS)
CODE_MODELS = ("claude-opus-5", "claude-sonnet-5", "claude-opus-4-6", "claude-sonnet-4-6")
# token_type, priced as input or output, cents per US$/MTok of price (a typical row's size)
TOKEN_LINES = (
    ("uncached_input_tokens", "in", 8.0),
    ("output_tokens", "out", 4.0),
    ("cache_read_input_tokens", "in", 3.0),
    ("cache_creation.ephemeral_5m_input_tokens", "in", 2.0),
    ("cache_creation.ephemeral_1h_input_tokens", "in", 0.8),
)
TIERS = (("standard", 1.0), ("batch", 0.5))
ENTERPRISE_PRODUCTS = (
    ("chat", 1.0),
    ("claude_code", 1.6),
    ("cowork", 1.2),
    ("office_agent", 0.7),
    ("claude_in_chrome", 0.6),
    ("claude_design", 0.8),
)
USAGE_COLUMNS = (*USAGE_METRIC_NAMES, "requests")
TEAMS = (
    *WORKSPACE_NAMES,
    "Search",
    "Billing",
    "Growth",
    "Platform",
)
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


# -- small helpers ----------------------------------------------------------------------------


def _rng(*parts: object) -> random.Random:
    return random.Random(":".join(["bigwarehouse", *map(str, parts)]))


def _tagged(rng: random.Random, prefix: str, length: int = 22) -> str:
    return prefix + "".join(BASE58[int(rng.random() * 58)] for _ in range(length))


def _lognormal(rng: random.Random, sigma: float) -> float:
    return math.exp(rng.gauss(0.0, sigma))


def _ts(d: date, hours: float = 0.0) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=hours)


def _lit(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    return f"DATE '{value.isoformat()}'"


def _stride(m: int) -> int:
    """A multiplier invertible modulo m: j -> (a*j + b) % m is a permutation of range(m)."""
    a = max(1, int(m * 0.6180339887)) | 1
    while math.gcd(a, m) != 1:
        a += 2
    return a % m if m > 1 else 1


def _allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """`total` split over `weights` in integers (largest remainder), each at least `minimum`."""
    n = len(weights)
    if total < minimum * n:
        raise ValueError(f"{total} rows cannot give {n} days {minimum} rows each")
    rest = total - minimum * n
    s = sum(weights)
    raw = [rest * w / s for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(n), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: rest - sum(counts)]:
        counts[i] += 1
    return [c + minimum for c in counts]


@dataclass(frozen=True)
class Temp:
    """A small lookup table registered in DuckDB (entities with `e_` columns, lines `l_`)."""

    name: str
    prefix: str
    columns: tuple[str, ...]
    size: int


class Select(NamedTuple):
    sql: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Part:
    """Rows of one table drawn from entities x lines, `counts[d]` distinct combinations a day."""

    salt: str
    ents: Temp
    lines: Temp
    counts: tuple[int, ...]

    @property
    def space(self) -> int:
        return self.ents.size * self.lines.size


class Builder:
    """Holds the DuckDB connection and the calendar while the tables are filled."""

    def __init__(self, con: Any, days: int, today: date) -> None:
        self.con = con
        self.days = days
        self.today = today
        self.first = today - timedelta(days=days)
        self.yesterday = today - timedelta(days=1)
        self.watermark = _ts(today - timedelta(days=PROVISIONAL_DAYS), 6)
        self.fetched = _ts(today, 8)
        self.calendar = [self.first + timedelta(days=d) for d in range(days)]
        self.weights = [self._weight(d, day) for d, day in enumerate(self.calendar)]
        self._n = 0

    def _weight(self, d: int, day: date) -> float:
        r = _rng("day", day.isoformat())
        weekday = 1.0 if day.weekday() < 5 else 0.3
        growth = 0.55 + 0.9 * d / max(self.days - 1, 1)
        wobble = 0.85 + 0.3 * r.random()
        spike = 1.4 + 0.5 * r.random() if r.random() < 0.02 else 1.0
        return weekday * growth * wobble * spike

    # -- registration ---------------------------------------------------------------------
    def temp(self, name: str, prefix: str, rows: list[dict[str, Any]]) -> Temp:
        data = [{f"{prefix}{k}": v for k, v in {"idx": i, **r}.items()} for i, r in enumerate(rows)]
        arrow = pa.Table.from_pylist(data)
        self.con.register(f"{name}_arrow", arrow)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        self.con.unregister(f"{name}_arrow")
        return Temp(name, prefix, tuple(rows[0]), len(rows))

    def counts_table(self, counts: Sequence[int]) -> str:
        self._n += 1
        name = f"bench_counts_{self._n}"
        arrow = pa.table(
            {
                "d": list(range(self.days)),
                "day": self.calendar,
                "n": [int(c) for c in counts],
            }
        )
        self.con.register(f"{name}_arrow", arrow)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow WHERE n > 0"
        )
        self.con.unregister(f"{name}_arrow")
        return name

    def capped(self, counts: Sequence[int], space: int, fill: float = 0.85) -> tuple[int, ...]:
        cap = max(1, int(space * fill))
        return tuple(min(int(c), cap) for c in counts)

    def last_days(self, counts: Sequence[int], n: int) -> tuple[int, ...]:
        return tuple(c if d >= self.days - n else 0 for d, c in enumerate(counts))

    # -- row SQL --------------------------------------------------------------------------
    def part_sql(
        self,
        part: Part,
        table: str,
        label: str,
        metrics: Callable[[Callable[[str], str]], dict[str, str]],
        org: str,
        provisional_days: int = PROVISIONAL_DAYS,
        refreshed: bool = True,
    ) -> Select:
        """SELECT of a part's rows: the table's columns plus `_day`, `_org`, `_c` and `_d`."""
        columns = ALL_TABLES[table].column_names
        m, nl = part.space, part.lines.size
        a = _stride(m)
        cnt = self.counts_table(part.counts)

        def u(tag: str) -> str:
            return f"bu(r._c, r._d, '{part.salt}:{tag}')"

        exprs: dict[str, str] = {
            "row_key": f"md5('{label}|{table}|{part.salt}|' || CAST(r._day AS VARCHAR) || '|' "
            "|| CAST(r._c AS VARCHAR))",
            "connection_label": f"'{label}'",
            "bucket_start": "CAST(r._day AS TIMESTAMPTZ)",
            "bucket_end": "CAST(r._day AS TIMESTAMPTZ) + INTERVAL 1 DAY",
        }
        for temp, alias in ((part.ents, "e"), (part.lines, "l")):
            for col in temp.columns:
                if col in columns:
                    exprs[col] = f"{alias}.{temp.prefix}{col}"
        exprs.update(metrics(u))
        exprs["fetched_at"] = (
            f"least(CAST(r._day AS TIMESTAMPTZ) + INTERVAL 32 HOUR, {_lit(self.fetched)})"
        )
        exprs["is_provisional"] = f"r._d >= {self.days - provisional_days}"
        exprs["data_refreshed_at"] = _lit(self.watermark) if refreshed else "NULL"
        chosen = [c for c in columns if c in exprs]
        select = ",\n    ".join(f"{exprs[c]} AS {c}" for c in chosen)
        growth = f"0.8 + 0.4 * d / {max(self.days - 1, 1)}"
        sql = f"""SELECT {select},
    r._day AS _day, {org} AS _org, r._c AS _c, r._d AS _d
FROM (
    SELECT d AS _d, day AS _day, {growth} AS _g,
           (j * {a} + CAST(hash(d, '{part.salt}') % {m} AS BIGINT)) % {m} AS _c
    FROM (SELECT d, day, unnest(range(n)) AS j FROM {cnt})
) r
JOIN {part.ents.name} e ON e.{part.ents.prefix}idx = r._c // {nl}
JOIN {part.lines.name} l ON l.{part.lines.prefix}idx = r._c % {nl}"""
        return Select(sql, tuple(chosen))

    @staticmethod
    def _columns(table: str, selects: Sequence[Select]) -> list[str]:
        present = {c for s in selects for c in s.columns}
        return [c for c in ALL_TABLES[table].column_names if c in present]

    @staticmethod
    def _union(selects: Sequence[Select]) -> str:
        return "\nUNION ALL BY NAME\n".join(f"({s.sql})" for s in selects)

    def insert(self, table: str, selects: Sequence[Select]) -> None:
        cols = ", ".join(self._columns(table, selects))
        self.con.execute(
            f"INSERT INTO {S}.{table} ({cols}) SELECT {cols} FROM ({self._union(selects)}) "
            "ORDER BY _d"
        )

    def insert_reconciled(
        self,
        table: str,
        selects: Sequence[Select],
        target: str,
        metrics: Sequence[tuple[str, str]],
        final: dict[str, str] | None = None,
    ) -> None:
        """Insert rows scaled so that their sums per (`_day`, `_org`) equal the `target`
        query's `t_<metric>` columns exactly: each metric is scaled (integers rounded down),
        and the remainder goes to the group's largest row for that metric. Groups absent from
        `target` are dropped."""
        columns = self._columns(table, selects)
        final = final or {}
        aggs, scaled, fixed = [], [], []
        for m, kind in metrics:
            aggs.append(f"sum({m}) AS s_{m}, arg_max(row_key, {m}) AS top_{m}")
            ratio = f"coalesce(CAST(k.t_{m} AS DOUBLE) / nullif(CAST(k.s_{m} AS DOUBLE), 0), 0)"
            if kind == "money":
                scaled.append(f"CAST(raw.{m} * {ratio} AS DECIMAL(38, 9)) AS {m}")
                cast = "DECIMAL(38, 9)"
            else:
                scaled.append(f"CAST(floor(raw.{m} * {ratio}) AS BIGINT) AS {m}")
                cast = "BIGINT"
            fixed.append(
                f"{m} + CASE WHEN row_key = top_{m} THEN CAST(t_{m} - sum({m}) OVER "
                f"(PARTITION BY _day, _org) AS {cast}) ELSE 0 END AS {m}"
            )
        keep = ", ".join(f"k.t_{m}, k.top_{m}" for m, _ in metrics)
        out = ", ".join(f"{final[c]} AS {c}" if c in final else c for c in columns)
        self.con.execute(
            f"""INSERT INTO {S}.{table} ({", ".join(columns)})
WITH raw AS ({self._union(selects)}),
cur AS (SELECT _day, _org, {", ".join(aggs)} FROM raw GROUP BY _day, _org),
k AS (SELECT * FROM cur JOIN ({target}) t USING (_day, _org)),
sc AS (
    SELECT raw.* REPLACE ({", ".join(scaled)}), {keep}
    FROM raw JOIN k ON k._day = raw._day AND k._org = raw._org
),
fx AS (SELECT sc.* REPLACE ({", ".join(fixed)}) FROM sc)
SELECT {out} FROM fx ORDER BY _d"""
        )

    def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        spec = ALL_TABLES[table]
        arrow = to_arrow(spec, rows)
        self.con.register("bench_rows_arrow", arrow)
        cols = ", ".join(spec.column_names)
        self.con.execute(f"INSERT INTO {S}.{table} ({cols}) SELECT {cols} FROM bench_rows_arrow")
        self.con.unregister("bench_rows_arrow")


# -- metric expressions -----------------------------------------------------------------------


def _cost_metrics(discount: float, gap: bool = False) -> Callable[[Callable[[str], str]], dict]:
    """amount_cents and list_amount_cents (or the list - amount gap, for reconciled inserts)."""

    def build(u: Callable[[str], str]) -> dict[str, str]:
        noise = f"exp(1.1 * sqrt(-2 * ln({u('z1')})) * cos(2 * pi() * {u('z2')}))"
        x = f"(l.l_base * e.e_weight * r._g * {noise})"
        disc = f"CASE WHEN l.l_exempt THEN 1.0 ELSE {discount} END"
        amount = f"greatest(round({x} * {disc}, 6), 0.000001)"
        listed = f"greatest(round({x}, 6), {amount})"
        money = "DECIMAL(38, 9)"
        return {
            "amount_cents": f"CAST({amount} AS {money})",
            "list_amount_cents": (
                f"CAST({listed} AS {money}) - CAST({amount} AS {money})"
                if gap
                else f"CAST({listed} AS {money})"
            ),
            "currency": "'USD'",
            "requests": "CAST(NULL AS BIGINT)",
        }

    return build


def _usage_metrics(u: Callable[[str], str]) -> dict[str, str]:
    s = (
        f"(l.l_base * e.e_weight * r._g * "
        f"exp(1.0 * sqrt(-2 * ln({u('z1')})) * cos(2 * pi() * {u('z2')})))"
    )

    def tokens(scale: int, tag: str, share: float = 1.0) -> str:
        value = f"CAST({s} * {scale} * (0.3 + {u(tag)}) AS BIGINT)"
        if share >= 1.0:
            return value
        return f"CASE WHEN {u(tag + '?')} < {share} THEN {value} ELSE 0 END"

    return {
        "uncached_input_tokens": tokens(40_000, "in"),
        "cache_read_input_tokens": tokens(250_000, "cr", 0.6),
        "cache_creation_5m_input_tokens": tokens(15_000, "c5", 0.6),
        "cache_creation_1h_input_tokens": tokens(6_000, "c1", 0.25),
        "output_tokens": tokens(9_000, "out"),
        "web_search_requests": tokens(6, "ws", 0.25),
        "requests": f"greatest(1, CAST({s} * 30 * (0.3 + {u('rq')}) AS BIGINT))",
    }


# -- vocabularies -----------------------------------------------------------------------------


def _models(only: Sequence[str] | None = None) -> list[tuple[str, float, float, bool, bool, bool]]:
    return [
        (name, pin, pout, long_ctx, geo, fast)
        for name, pin, pout, long_ctx, geo, fast, _ in MODELS
        if only is None or name in only
    ]


def _pop(model: str) -> float:
    return next(m[6] for m in MODELS if m[0] == model) / MEAN_POP


def _variants(
    products: Sequence[tuple[str | None, float]],
    tiers: Sequence[tuple[str | None, float]] = ((None, 1.0),),
    context: bool = True,
    geo_speed: bool = False,
    only: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Valid (product, model, tier, context window[, geo, speed]) combinations."""
    out: list[dict[str, Any]] = []
    for product, pmul in products:
        models = _models(CODE_MODELS if product == "claude_code" else only)
        for name, pin, pout, long_ctx, geo, fast in models:
            for tier, tmul in tiers:
                ctxs = [("0-200k", 1.0)] + ([("200k-1M", 1.6)] if long_ctx else [])
                if not context:
                    ctxs = [(None, 1.0)]
                geos = [("global", 1.0), ("us", 1.1)] if geo else [("not_available", 1.0)]
                speeds = [("standard", 1.0)] + ([("fast", 6.0)] if fast else [])
                if not geo_speed:
                    geos, speeds = [(None, 1.0)], [(None, 1.0)]
                for ctx, cmul in ctxs:
                    for g, gmul in geos:
                        for sp, smul in speeds:
                            out.append(
                                {
                                    "product": product,
                                    "model": name,
                                    "service_tier": tier,
                                    "context_window": ctx,
                                    "inference_geo": g,
                                    "speed": sp,
                                    "mult": pmul * tmul * cmul * gmul * smul * _pop(name),
                                    "pin": pin,
                                    "pout": pout,
                                }
                            )
    return out


def _cost_lines(
    variants: list[dict[str, Any]], extras: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every cost_type / token_type line of each variant, then the model-less lines."""
    dims = ("product", "model", "service_tier", "context_window", "inference_geo", "speed")
    out = []
    for v in variants:
        for token_type, side, size in TOKEN_LINES:
            price = v["pin"] if side == "in" else v["pout"]
            out.append(
                {
                    **{k: v[k] for k in dims},
                    "cost_type": "tokens",
                    "token_type": token_type,
                    "base": price * size * v["mult"],
                    "exempt": False,
                }
            )
        out.append(
            {
                **{k: v[k] for k in dims},
                "cost_type": "web_search",
                "token_type": None,
                "base": 40.0 * _pop(v["model"]),
                "exempt": True,
            }
        )
    for extra in extras:
        out.append({**dict.fromkeys(dims), "token_type": None, "exempt": False, **extra})
    return out


def _usage_lines(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    dims = ("product", "model", "service_tier", "context_window", "inference_geo", "speed")
    return [{**{k: v[k] for k in dims}, "base": _pop(v["model"])} for v in variants]


# -- the build --------------------------------------------------------------------------------


def build(
    home: Path,
    spend_rows: int = 10_000_000,
    days: int = 400,
    today: date = date(2026, 11, 22),
) -> dict[str, Any]:
    """Build the warehouse at `home` (replacing it); returns figures about it."""
    overlap_days = min(OVERLAP_DAYS, max(1, days // 2))
    if spend_rows < 4 * days:
        raise ValueError(f"spend_rows must be at least 4 per day ({4 * days})")
    home = Path(home)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    settings = load_settings(home=home, env={})
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    wh = Warehouse(settings)
    initialize(wh)
    wh.close()
    seconds["initialize"] = time.perf_counter() - t0
    path = Path(settings.warehouse_path)

    t1 = time.perf_counter()
    con = duckdb.connect(str(path), config=BUILD_CONFIG)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE OR REPLACE TEMP MACRO bu(c, d, s) AS "
            "(CAST(hash(c, d, s) % 1000003 AS DOUBLE) + 0.5) / 1000003.0"
        )
        b = Builder(con, days, today)
        phases = _fill(b, spend_rows, overlap_days)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    seconds.update(phases)
    seconds["insert"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    wh = Warehouse(settings)
    try:
        refresh_overlaps(wh)
        create_views(wh)
        seconds["overlaps_and_views"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        marts = _refresh_marts(wh)
        seconds["marts"] = time.perf_counter() - t3
        seconds["total"] = time.perf_counter() - t0
    finally:
        wh.close()
    con = duckdb.connect(str(path), config=BUILD_CONFIG)
    try:
        figures = _figures(con, spend_rows, days, today)
    finally:
        con.close()
    figures["marts"] = marts
    figures["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    figures["file_bytes"] = path.stat().st_size
    figures["file_mb"] = round(path.stat().st_size / 2**20, 1)
    figures["warehouse"] = str(path)
    return figures


def _refresh_marts(wh: Warehouse) -> str:
    try:
        marts = importlib.import_module("spendscope.warehouse.marts")
    except ImportError:
        return "not available"
    refresh = getattr(marts, "refresh_marts", None)
    if refresh is None:
        return "not available"
    # The rows were written behind the sync's back (their fetched_at is older than the marts'
    # watermark): an incremental refresh would miss them, so rebuild in full where possible.
    full = "full" in inspect.signature(refresh).parameters
    try:
        done = refresh(wh, full=True) if full else refresh(wh)
    except Exception as exc:  # someone else's module, possibly mid-change: report, go on
        return f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return f"refreshed ({done})" if isinstance(done, str) else "refreshed"


def _figures(con: Any, spend_rows: int, days: int, today: date) -> dict[str, Any]:
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "AND table_type = 'BASE TABLE' ORDER BY 1",
            [S],
        ).fetchall()
    ]
    rows = {t: int(con.execute(f"SELECT count(*) FROM {S}.{t}").fetchone()[0]) for t in tables}
    views = {}
    for v in ("spend", "spend_overlaps", "usage", "usage_overlaps"):
        views[v] = int(con.execute(f"SELECT count(*) FROM {S}.{v}").fetchone()[0])
    per_conn = dict(
        con.execute(f"SELECT connection_label, count(*) FROM {S}.spend GROUP BY 1").fetchall()
    )
    total = con.execute(f"SELECT sum(billed_cost) FROM {S}.spend").fetchone()[0]
    return {
        "spend_rows_requested": spend_rows,
        "days": days,
        "today": today.isoformat(),
        "rows": {t: n for t, n in rows.items() if n},
        "views": views,
        "spend_rows_by_connection": {k: int(v) for k, v in per_conn.items()},
        "spend_total_usd": float(total or 0),
    }


def _fill(b: Builder, spend_rows: int, overlap_days: int) -> dict[str, float]:
    """Every table's rows; returns seconds per phase."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    console_rows = round(spend_rows * CONSOLE_SHARE)
    enterprise_rows = spend_rows - console_rows
    key_counts = _allocate(console_rows, b.weights, minimum=1)
    user_counts = _allocate(enterprise_rows, b.weights, minimum=1)

    # -- Console: workspaces, API keys, users -------------------------------------------
    key_variants = _variants([(None, 1.0)], tiers=TIERS)
    extras = [
        {"cost_type": "code_execution", "base": 25.0},
        {"cost_type": "session_usage", "base": 60.0, "product": None},
    ]
    key_lines = b.temp("bench_key_lines", "l_", _cost_lines(key_variants, extras))
    n_keys = max(400, math.ceil(max(key_counts) / (0.5 * key_lines.size)))
    n_ws = max(40, n_keys // 10)
    rng = _rng("console")
    workspaces = []
    for i in range(n_ws):
        name = TEAMS[i % len(TEAMS)] + ("" if i < len(TEAMS) else f" {i // len(TEAMS) + 1}")
        workspaces.append(
            {
                "id": _tagged(rng, "wrkspc_01"),
                "name": "Default" if i == 0 else name,
                "weight": _lognormal(rng, 0.8),
                "created_at": _ts(b.first - timedelta(days=30 + int(rng.random() * 300))),
            }
        )
    console_users = []
    for i in range(300):
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
        console_users.append(
            {
                "user_id": _tagged(rng, "user_01"),
                "email": f"{first.lower()}.{last.lower()}{i}@acme-console.example",
                "name": f"{first} {last}",
                "start": int(rng.random() * b.days * 0.7) if rng.random() < 0.4 else 0,
                "active": 0.35 + 0.6 * rng.random(),
                "weight": _lognormal(rng, 0.7),
                "terminal": ("vscode", "iTerm.app", "tmux", "cursor", "ghostty")[i % 5],
            }
        )
    keys = []
    for i in range(n_keys):
        ws = workspaces[min(n_ws - 1, int(rng.random() ** 1.6 * n_ws))]
        keys.append(
            {
                "api_key_id": _tagged(rng, "apikey_01"),
                "workspace_id": ws["id"],
                "name": f"{KEY_PURPOSES[i % len(KEY_PURPOSES)]}-{i // len(KEY_PURPOSES) + 1}",
                "weight": _lognormal(rng, 1.2) * ws["weight"],
                "status": "active" if rng.random() < 0.9 else "inactive",
                "created_at": ws["created_at"] + timedelta(days=int(rng.random() * 30)),
                "created_by": console_users[int(rng.random() * 60)]["user_id"],
            }
        )
    key_ents = b.temp(
        "bench_keys",
        "e_",
        [{k: r[k] for k in ("api_key_id", "workspace_id", "weight")} for r in keys],
    )
    lap("dimensions")

    # -- Console canonical: analytics_cost_key ------------------------------------------
    key_part = Part("key", key_ents, key_lines, tuple(key_counts))
    if max(key_counts) > key_part.space:
        raise ValueError("too many rows per day for the Console key grain")
    b.insert(
        "analytics_cost_key",
        [b.part_sql(key_part, "analytics_cost_key", CONSOLE, _cost_metrics(0.85), f"'{ORG_A}'")],
    )
    lap("analytics_cost_key")

    # -- Enterprise users and canonical analytics_cost_user -----------------------------
    rng = _rng("enterprise")
    user_variants = _variants(ENTERPRISE_PRODUCTS)
    user_lines = b.temp(
        "bench_user_lines",
        "l_",
        _cost_lines(user_variants, [{"cost_type": "code_execution", "base": 20.0}]),
    )
    n_users = max(2000, math.ceil(max(user_counts) / (0.5 * user_lines.size)))
    ent_users = []
    for i in range(n_users):
        first, last = (
            FIRST_NAMES[i % len(FIRST_NAMES)],
            LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)],
        )
        ent_users.append(
            {
                "actor_type": "user_actor",
                "actor_id": _tagged(rng, "user_01"),
                "actor_email": f"{first.lower()}.{last.lower()}{i}@globex-enterprise.example",
                "actor_name": f"{first} {last}",
                "actor_deleted": rng.random() < 0.03,
                "organization_id": ORG_B,
                "weight": _lognormal(rng, 1.0),
            }
        )
    user_ents = b.temp("bench_users", "e_", ent_users)
    user_part = Part("user", user_ents, user_lines, tuple(user_counts))
    own = b.part_sql(
        user_part, "analytics_cost_user", ENTERPRISE, _cost_metrics(0.8), "e.e_organization_id"
    )
    b.insert("analytics_cost_user", [own])
    lap("analytics_cost_user")

    # Organization A's spend again, through the parent Enterprise organization (double-booked).
    child_variants = _variants([("messages_api", 1.0), ("message_batches_api", 0.5)], context=True)
    child_lines = b.temp(
        "bench_child_lines",
        "l_",
        _cost_lines(
            child_variants,
            [
                {"cost_type": "code_execution", "base": 25.0},
                {"cost_type": "session_usage", "base": 60.0, "product": "managed_agents_api"},
            ],
        ),
    )
    child_ents = b.temp(
        "bench_child_keys",
        "e_",
        [
            {
                "actor_type": "api_actor",
                "actor_id": k["api_key_id"],
                "organization_id": ORG_A,
                "weight": k["weight"],
            }
            for k in keys
        ],
    )
    child_counts = b.last_days([c // 2 for c in key_counts], overlap_days)
    child_part = Part(
        "child",
        child_ents,
        child_lines,
        b.capped(child_counts, child_ents.size * child_lines.size),
    )
    key_target = f"""SELECT CAST(bucket_start AS DATE) AS _day, '{ORG_A}' AS _org,
        sum(amount_cents) AS t_amount_cents,
        sum(list_amount_cents - amount_cents) AS t_list_amount_cents
    FROM {S}.analytics_cost_key GROUP BY 1"""
    money = [("amount_cents", "money"), ("list_amount_cents", "money")]
    list_final = {"list_amount_cents": "amount_cents + list_amount_cents"}
    b.insert_reconciled(
        "analytics_cost_user",
        [
            b.part_sql(
                child_part,
                "analytics_cost_user",
                ENTERPRISE,
                _cost_metrics(0.85, gap=True),
                "e.e_organization_id",
            )
        ],
        key_target,
        money,
        list_final,
    )
    lap("analytics_cost_user_child")

    # -- alternate grains of cost -------------------------------------------------------
    actor_api_lines = b.temp(
        "bench_actor_api_lines",
        "l_",
        _cost_lines(
            _variants(
                [("messages_api", 1.0), ("message_batches_api", 0.5)], geo_speed=True, context=False
            ),
            [
                {"cost_type": "code_execution", "base": 25.0},
                {"cost_type": "session_usage", "base": 60.0, "product": "managed_agents_api"},
            ],
        ),
    )
    actor_user_lines = b.temp(
        "bench_actor_user_lines",
        "l_",
        _cost_lines(
            _variants(
                [("claude_code", 1.3), ("claude_console", 0.2)],
                geo_speed=True,
                context=False,
                only=("claude-opus-5", "claude-sonnet-5", "claude-haiku-4-5"),
            ),
            [],
        ),
    )
    api_actors = b.temp(
        "bench_api_actors",
        "e_",
        [
            {"actor_type": "api_actor", "actor_id": k["api_key_id"], "weight": k["weight"]}
            for k in keys
        ],
    )
    actor_users = b.temp(
        "bench_console_actors",
        "e_",
        [
            {
                "actor_type": "user_actor",
                "actor_id": u["user_id"],
                "actor_email": u["email"],
                "actor_name": u["name"],
                "actor_deleted": False,
                "weight": u["weight"],
            }
            for u in console_users[:60]
        ],
    )
    alt_total = min(1_000_000, console_rows // 5)
    alt_counts = _allocate(max(alt_total, b.days * 2), b.weights, minimum=1)
    api_counts = [math.ceil(c * 0.85) for c in alt_counts]
    usr_counts = [c - a for c, a in zip(alt_counts, api_counts, strict=True)]
    actor_parts = [
        Part("actor-api", api_actors, actor_api_lines, tuple(api_counts)),
        Part("actor-user", actor_users, actor_user_lines, tuple(usr_counts)),
    ]
    actor_parts = [Part(p.salt, p.ents, p.lines, b.capped(p.counts, p.space)) for p in actor_parts]
    b.insert_reconciled(
        "analytics_cost_actor",
        [
            b.part_sql(
                p, "analytics_cost_actor", CONSOLE, _cost_metrics(0.85, gap=True), f"'{ORG_A}'"
            )
            for p in actor_parts
        ],
        key_target,
        money,
        list_final,
    )
    lap("analytics_cost_actor")

    org_b = b.temp("bench_org_b", "e_", [{"organization_id": ORG_B, "weight": 1.0}])
    org_a = b.temp("bench_org_a", "e_", [{"organization_id": ORG_A, "weight": 1.0}])
    detail_lines = b.temp(
        "bench_detail_lines",
        "l_",
        _cost_lines(
            _variants(ENTERPRISE_PRODUCTS, geo_speed=True, context=False),
            [{"cost_type": "code_execution", "base": 20.0}],
        ),
    )
    detail_total = min(1_000_000, enterprise_rows // 5)
    detail_counts = _allocate(max(detail_total, b.days * 2), b.weights, minimum=1)
    detail_parts = [
        Part("detail", org_b, detail_lines, b.capped(detail_counts, detail_lines.size)),
        Part(
            "detail-child",
            org_a,
            actor_api_lines,
            b.capped(b.last_days(detail_counts, overlap_days), actor_api_lines.size, 0.5),
        ),
    ]
    user_target = f"""SELECT CAST(bucket_start AS DATE) AS _day, organization_id AS _org,
        sum(amount_cents) AS t_amount_cents,
        sum(list_amount_cents - amount_cents) AS t_list_amount_cents
    FROM {S}.analytics_cost_user GROUP BY 1, 2"""
    b.insert_reconciled(
        "analytics_cost_detail",
        [
            b.part_sql(
                p,
                "analytics_cost_detail",
                ENTERPRISE,
                _cost_metrics(0.8, gap=True),
                "e.e_organization_id",
            )
            for p in detail_parts
        ],
        user_target,
        money,
        list_final,
    )
    lap("analytics_cost_detail")

    # -- usage: canonical, child and alternate grains -----------------------------------
    usage = [(c, "int") for c in USAGE_COLUMNS]
    ukey_lines = b.temp("bench_ukey_lines", "l_", _usage_lines(key_variants))
    ukey_part = Part(
        "ukey",
        key_ents,
        ukey_lines,
        b.capped([max(1, c // 2) for c in key_counts], key_ents.size * ukey_lines.size),
    )
    b.insert(
        "analytics_usage_key",
        [b.part_sql(ukey_part, "analytics_usage_key", CONSOLE, _usage_metrics, f"'{ORG_A}'")],
    )
    uuser_lines = b.temp("bench_uuser_lines", "l_", _usage_lines(user_variants))
    uuser_part = Part(
        "uuser",
        user_ents,
        uuser_lines,
        b.capped([max(1, c // 2) for c in user_counts], user_ents.size * uuser_lines.size),
    )
    b.insert(
        "analytics_usage_user",
        [
            b.part_sql(
                uuser_part,
                "analytics_usage_user",
                ENTERPRISE,
                _usage_metrics,
                "e.e_organization_id",
            )
        ],
    )
    sums = ", ".join(f"sum({c}) AS t_{c}" for c in USAGE_COLUMNS)
    ukey_target = f"""SELECT CAST(bucket_start AS DATE) AS _day, '{ORG_A}' AS _org, {sums}
    FROM {S}.analytics_usage_key GROUP BY 1"""
    uchild_lines = b.temp("bench_uchild_lines", "l_", _usage_lines(child_variants))
    uchild_part = Part(
        "uchild",
        child_ents,
        uchild_lines,
        b.capped(
            b.last_days([c // 4 for c in key_counts], overlap_days),
            child_ents.size * uchild_lines.size,
        ),
    )
    b.insert_reconciled(
        "analytics_usage_user",
        [
            b.part_sql(
                uchild_part,
                "analytics_usage_user",
                ENTERPRISE,
                _usage_metrics,
                "e.e_organization_id",
            )
        ],
        ukey_target,
        usage,
    )
    lap("usage_canonical")

    uactor_api = b.temp(
        "bench_uactor_api_lines",
        "l_",
        _usage_lines(
            _variants(
                [("messages_api", 1.0), ("message_batches_api", 0.5)], geo_speed=True, context=False
            )
        ),
    )
    uactor_user = b.temp(
        "bench_uactor_user_lines",
        "l_",
        _usage_lines(
            _variants(
                [("claude_code", 1.3), ("claude_console", 0.2)],
                geo_speed=True,
                context=False,
                only=("claude-opus-5", "claude-sonnet-5", "claude-haiku-4-5"),
            )
        ),
    )
    ualt = _allocate(max(min(1_000_000, console_rows // 10), b.days * 2), b.weights, minimum=1)
    ualt_api = [math.ceil(c * 0.85) for c in ualt]
    uactor_parts = [
        Part(
            "uactor-api",
            api_actors,
            uactor_api,
            b.capped(ualt_api, api_actors.size * uactor_api.size),
        ),
        Part(
            "uactor-user",
            actor_users,
            uactor_user,
            b.capped(
                [c - a for c, a in zip(ualt, ualt_api, strict=True)],
                actor_users.size * uactor_user.size,
            ),
        ),
    ]
    b.insert_reconciled(
        "analytics_usage_actor",
        [
            b.part_sql(p, "analytics_usage_actor", CONSOLE, _usage_metrics, f"'{ORG_A}'")
            for p in uactor_parts
        ],
        ukey_target,
        usage,
    )
    udetail_lines = b.temp(
        "bench_udetail_lines",
        "l_",
        _usage_lines(_variants(ENTERPRISE_PRODUCTS, geo_speed=True, context=False)),
    )
    udet = _allocate(max(min(1_000_000, enterprise_rows // 10), b.days * 2), b.weights, minimum=1)
    udetail_parts = [
        Part("udetail", org_b, udetail_lines, b.capped(udet, udetail_lines.size)),
        Part(
            "udetail-child",
            org_a,
            uactor_api,
            b.capped(b.last_days(udet, overlap_days), uactor_api.size, 0.5),
        ),
    ]
    uuser_target = f"""SELECT CAST(bucket_start AS DATE) AS _day, organization_id AS _org, {sums}
    FROM {S}.analytics_usage_user GROUP BY 1, 2"""
    b.insert_reconciled(
        "analytics_usage_detail",
        [
            b.part_sql(
                p, "analytics_usage_detail", ENTERPRISE, _usage_metrics, "e.e_organization_id"
            )
            for p in udetail_parts
        ],
        uuser_target,
        usage,
    )
    lap("usage_alternate")

    _claude_code(b, console_users)
    lap("claude_code")
    _engagement(b, ent_users)
    lap("engagement")
    _admin(b, workspaces, keys, console_users, ent_users, overlap_days)
    lap("admin_and_bookkeeping")
    return seconds


# -- Claude Code --------------------------------------------------------------------------------


def _claude_code(b: Builder, users: list[dict[str, Any]]) -> None:
    devs = b.temp("bench_cc_devs", "e_", users)
    b.temp(
        "bench_cc_models",
        "m_",
        [
            {"model": "claude-opus-5", "p": 1.0, "pin": 5.0, "pout": 25.0},
            {"model": "claude-sonnet-5", "p": 0.55, "pin": 3.0, "pout": 15.0},
            {"model": "claude-haiku-4-5", "p": 0.25, "pin": 1.0, "pout": 5.0},
        ],
    )
    days = b.counts_table([1] * b.days)
    con = b.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE bench_cc AS
SELECT c.d, c.day, u.*, m.*,
       u.e_weight * exp(0.9 * sqrt(-2 * ln(bu(u.e_idx * 8 + m.m_idx, c.d, 'cc:z1')))
                        * cos(2 * pi() * bu(u.e_idx * 8 + m.m_idx, c.d, 'cc:z2'))) AS s
FROM {days} c
JOIN {devs.name} u ON c.d >= u.e_start
JOIN bench_cc_models m
  ON m.m_idx = 0 OR bu(u.e_idx * 8 + m.m_idx, c.d, 'cc:m') < m.m_p
WHERE bu(u.e_idx, c.d, 'cc:on')
      < CASE WHEN dayofweek(c.day) IN (0, 6) THEN 0.12 ELSE 0.8 END * u.e_active"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE bench_ccm AS
SELECT *,
       CAST(s * 60000 AS BIGINT) AS input_tokens,
       CAST(s * 14000 AS BIGINT) AS output_tokens,
       CAST(s * 1500000 AS BIGINT) AS cache_read_tokens,
       CAST(s * 90000 AS BIGINT) AS cache_creation_tokens
FROM bench_cc"""
    )
    tail = f"""least(CAST(day AS TIMESTAMPTZ) + INTERVAL 32 HOUR, {_lit(b.fetched)}) AS fetched_at,
       d >= {b.days - 1} AS is_provisional, CAST(NULL AS TIMESTAMPTZ) AS data_refreshed_at"""
    cost = (
        "CAST(round((input_tokens * m_pin + output_tokens * m_pout + cache_read_tokens * m_pin "
        "* 0.1 + cache_creation_tokens * m_pin * 1.25) / 10000.0, 2) AS DECIMAL(38, 9))"
    )
    con.execute(
        f"""INSERT INTO {S}.claude_code_model_usage (row_key, connection_label, bucket_start,
    bucket_end, actor_type, actor_email, api_key_name, model, input_tokens, output_tokens,
    cache_read_tokens, cache_creation_tokens, estimated_cost_cents, fetched_at, is_provisional,
    data_refreshed_at)
SELECT md5('{CONSOLE}|claude_code_model_usage|' || day || '|' || e_email || '|' || m_model),
       '{CONSOLE}', CAST(day AS TIMESTAMPTZ), CAST(day AS TIMESTAMPTZ) + INTERVAL 1 DAY,
       'user_actor', e_email, NULL, m_model, input_tokens, output_tokens, cache_read_tokens,
       cache_creation_tokens, {cost}, {tail}
FROM bench_ccm ORDER BY d"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE bench_cca AS
SELECT d, day, e_idx, e_email, e_terminal, count(*) AS n_models,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens,
       sum(cache_creation_tokens) AS cache_creation_tokens,
       sum({cost}) AS estimated_cost_cents
FROM bench_ccm GROUP BY ALL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE bench_ccx AS
SELECT *,
       greatest(1, CAST(round(n_models * 2 * (0.6 + 0.8 * bu(e_idx, d, 'cc:s'))) AS BIGINT))
           AS num_sessions,
       CAST(output_tokens / (25 + 35 * bu(e_idx, d, 'cc:la')) AS BIGINT) AS lines_added
FROM bench_cca"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE bench_ccy AS
SELECT *,
       CAST(lines_added * (0.1 + 0.45 * bu(e_idx, d, 'cc:lr')) AS BIGINT) AS lines_removed,
       CAST(lines_added / (120 + 280 * bu(e_idx, d, 'cc:co')) AS BIGINT) AS commits,
       CAST(lines_added / (12 + 18 * bu(e_idx, d, 'cc:ed')) AS BIGINT) AS edit_acc,
       CAST(num_sessions * (0.3 + 1.7 * bu(e_idx, d, 'cc:wr')) AS BIGINT) AS write_acc,
       CASE WHEN bu(e_idx, d, 'cc:nb') < 0.1 THEN 1 ELSE 0 END AS nb_acc
FROM bench_ccx"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE bench_ccz AS
SELECT *,
       CAST(commits / (2.5 + 3.5 * bu(e_idx, d, 'cc:pr')) AS BIGINT) AS pull_requests,
       CAST(edit_acc * (0.05 + 0.3 * bu(e_idx, d, 'cc:me')) AS BIGINT) AS multi_acc,
       CAST(edit_acc * 0.18 * bu(e_idx, d, 'cc:er') AS BIGINT) AS edit_rej,
       CAST(write_acc * 0.18 * bu(e_idx, d, 'cc:wj') AS BIGINT) AS write_rej
FROM bench_ccy"""
    )
    con.execute(
        f"""INSERT INTO {S}.claude_code_usage (row_key, connection_label, bucket_start, bucket_end,
    actor_type, actor_email, api_key_name, organization_id, customer_type, subscription_type,
    terminal_type, num_sessions, lines_added, lines_removed, commits, pull_requests,
    edit_tool_accepted, edit_tool_rejected, multi_edit_tool_accepted, multi_edit_tool_rejected,
    write_tool_accepted, write_tool_rejected, notebook_edit_tool_accepted,
    notebook_edit_tool_rejected, tool_actions_json, input_tokens, output_tokens,
    cache_read_tokens, cache_creation_tokens, estimated_cost_cents, fetched_at, is_provisional,
    data_refreshed_at)
SELECT md5('{CONSOLE}|claude_code_usage|' || day || '|' || e_email),
       '{CONSOLE}', CAST(day AS TIMESTAMPTZ), CAST(day AS TIMESTAMPTZ) + INTERVAL 1 DAY,
       'user_actor', e_email, NULL, '{ORG_A}', 'api', NULL, e_terminal,
       num_sessions, lines_added, lines_removed, commits, pull_requests,
       edit_acc, edit_rej, multi_acc, 0, write_acc, write_rej, nb_acc, 0,
       printf('{{"edit_tool":{{"accepted":%d,"rejected":%d}},'
              || '"multi_edit_tool":{{"accepted":%d,"rejected":0}},'
              || '"notebook_edit_tool":{{"accepted":%d,"rejected":0}},'
              || '"write_tool":{{"accepted":%d,"rejected":%d}}}}',
              edit_acc, edit_rej, multi_acc, nb_acc, write_acc, write_rej),
       input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
       estimated_cost_cents, {tail}
FROM bench_ccz ORDER BY d"""
    )


# -- engagement -------------------------------------------------------------------------------

SKILLS = (
    ("docx", None, "public", ("chat", "cowork", "office_agent", "claude_code")),
    ("pdf", None, "public", ("chat", "cowork", "office_agent", "claude_code")),
    ("pptx", None, "public", ("chat", "cowork", "office_agent")),
    ("xlsx", None, "public", ("chat", "cowork", "office_agent")),
    ("skill-creator", None, "public", ("chat", "claude_code")),
    ("canvas-design", None, "public", ("chat", "cowork")),
    ("skill_01Qf3xTbN8kLmP2vWcYd9Hr", "Quarterly report formatter", "organization", ("chat",)),
    ("skill_01Zp7Rk2MwXc4Vb9NtLq6Jh", "Brand voice", "organization", ("chat", "cowork")),
    ("skill_01Hs5Gd8FyTn3Ue6WbKp2Mx", "Contract review checklist", "organization", ("chat",)),
    ("skill_01Bv9Cx4ZaQw7Er2TyUi5Op", "Incident postmortem", "organization", ("chat", "cowork")),
    ("skill_01Lk8Jh3GfDs6Ap1QwEr4Ty", None, "private", ("chat", "cowork")),
    ("code-review", None, None, ("claude_code",)),
    ("test-writer", None, None, ("claude_code",)),
    ("unknown", "Unknown skill", None, ("claude_code", "office_agent")),
)
CONNECTORS = (
    ("asana", None),
    ("atlassian", None),
    ("github", None),
    ("google_drive", None),
    ("linear", None),
    ("notion", None),
    ("salesforce", None),
    ("slack", None),
    ("mcpsrv_01Xy7Wq3Er9Tz2Lk5Mn8Bv4", "Acme Wiki"),
    ("mcpsrv_01Pq4Rs7Tu1Vw3Xy6Za9Bc2", "Data Warehouse"),
)
_SURFACE = {
    "chat": "chat_conversation_count",
    "claude_code": "claude_code_session_count",
    "cowork": "cowork_session_count",
    "office_agent": "office_word_session_count",
}


def _surfaces(u: Callable[[str], str], exclude: Sequence[str] = ()) -> dict[str, str]:
    out = {}
    for product, col in _SURFACE.items():
        if col in exclude:
            continue
        out[col] = f"CASE WHEN l.l_product = '{product}' THEN 1 + CAST(4 * {u(col)} AS BIGINT) END"
    return out


def _engagement(b: Builder, users: list[dict[str, Any]]) -> None:
    ents = b.temp(
        "bench_eng_users",
        "e_",
        [
            {"user_id": u["actor_id"], "email": u["actor_email"], "weight": u["weight"]}
            for u in users
        ],
    )
    n = len(users)
    # organization-wide summaries: one row a day
    con = b.con
    days = b.counts_table([1] * b.days)
    g = f"(0.7 + 0.3 * c.d / {max(b.days - 1, 1)})"
    wk = "CASE WHEN dayofweek(c.day) IN (0, 6) THEN 0.25 ELSE 1.0 END"
    wob = "(0.9 + 0.2 * bu(c.d, 0, 'sum:w'))"

    def series(prefix: str, share: float) -> list[tuple[str, str]]:
        return [
            (
                f"{prefix}daily_active_user_count",
                f"CAST(round({n} * {share} * 0.55 * {g} * {wk} * {wob}) AS BIGINT)",
            ),
            (
                f"{prefix}weekly_active_user_count",
                f"CAST(round({n} * {share} * 0.72 * {g}) AS BIGINT)",
            ),
            (
                f"{prefix}monthly_active_user_count",
                f"CAST(round({n} * {share} * 0.85 * {g}) AS BIGINT)",
            ),
        ]

    cols = [
        *series("", 1.0),
        *series("cowork_", 0.18),
        ("assigned_seat_count", str(n)),
        ("pending_invite_count", "CAST(10 + 30 * bu(c.d, 0, 'sum:p') AS BIGINT)"),
        ("daily_adoption_rate", f"round(100.0 * 0.55 * {g} * {wk} * {wob}, 2)"),
        ("weekly_adoption_rate", f"round(100.0 * 0.72 * {g}, 2)"),
        ("monthly_adoption_rate", f"round(100.0 * 0.85 * {g}, 2)"),
        *series("chat_", 0.8),
        *series("claude_code_", 0.35),
        *series("claude_design_", 0.06),
        *series("office_agent_", 0.12),
        *series("claude_tag_", 0.05),
    ]
    names = ", ".join(c for c, _ in cols)
    exprs = ", ".join(e for _, e in cols)
    con.execute(
        f"""INSERT INTO {S}.engagement_summaries (row_key, connection_label, bucket_start,
    bucket_end, {names}, fetched_at, is_provisional, data_refreshed_at)
SELECT md5('{ENTERPRISE}|engagement_summaries|' || c.day), '{ENTERPRISE}',
       CAST(c.day AS TIMESTAMPTZ), CAST(c.day AS TIMESTAMPTZ) + INTERVAL 1 DAY, {exprs},
       least(CAST(c.day AS TIMESTAMPTZ) + INTERVAL 32 HOUR, {_lit(b.fetched)}), FALSE, NULL
FROM {days} c ORDER BY c.d"""
    )

    skill_lines = b.temp(
        "bench_skill_lines",
        "l_",
        [
            {
                "skill_name": name,
                "skill_display_name": display,
                "share_status": share,
                "product": product,
            }
            for name, display, share, products in SKILLS
            for product in products
        ],
    )
    per_day = max(20, n // 12)

    def skill_metrics(u: Callable[[str], str]) -> dict[str, str]:
        return {
            "distinct_user_count": "1",
            "invocation_count": f"1 + CAST(9 * {u('inv')} AS BIGINT)",
            "enable_count": "CAST(NULL AS BIGINT)",
            "estimated_overage_spend_cents": f"CAST(round(40 * {u('ov')}, 6) AS DECIMAL(38, 9))",
            "attributed_list_price_cents": f"CAST(round(90 * {u('lp')}, 6) AS DECIMAL(38, 9))",
            "currency": "'USD'",
            **_surfaces(u),
        }

    def connector_metrics(u: Callable[[str], str]) -> dict[str, str]:
        managed = f"CASE WHEN {u('m')} < 0.6 THEN 1 ELSE 0 END"
        return {
            "distinct_user_count": "1",
            **_surfaces(u),
            "managed_auth_distinct_user_count": managed,
            "individual_auth_distinct_user_count": f"1 - {managed}",
            "read_call_count": f"CAST(40 * {u('r')} AS BIGINT)",
            "write_call_count": f"CAST(8 * {u('w')} AS BIGINT)",
            "unclassified_call_count": f"CAST(3 * {u('x')} AS BIGINT)",
        }

    def project_metrics(u: Callable[[str], str]) -> dict[str, str]:
        return {
            "distinct_user_count": "1",
            "distinct_conversation_count": f"1 + CAST(3 * {u('c')} AS BIGINT)",
            "message_count": f"1 + CAST(30 * {u('m')} AS BIGINT)",
        }

    counts = _allocate(per_day * b.days, b.weights, minimum=1)
    skills = Part("skills", ents, skill_lines, b.capped(counts, ents.size * skill_lines.size))
    b.insert(
        "engagement_skills",
        [b.part_sql(skills, "engagement_skills", ENTERPRISE, skill_metrics, "''", 0, False)],
    )
    connector_lines = b.temp(
        "bench_connector_lines",
        "l_",
        [
            {"connector_name": name, "connector_display_name": display, "product": product}
            for name, display in CONNECTORS
            for product in ("chat", "claude_code", "cowork")
        ],
    )
    connectors = Part(
        "connectors", ents, connector_lines, b.capped(counts, ents.size * connector_lines.size)
    )
    b.insert(
        "engagement_connectors",
        [
            b.part_sql(
                connectors, "engagement_connectors", ENTERPRISE, connector_metrics, "''", 0, False
            )
        ],
    )
    rng = _rng("projects")
    projects = []
    for i in range(36):
        creator = users[int(rng.random() * n)]
        created = _ts(b.first - timedelta(days=1 + int(rng.random() * 90)), 24 * rng.random())
        projects.append(
            {
                "project_id": _tagged(rng, "claude_proj_01"),
                "project_name": PROJECT_NAMES[i % len(PROJECT_NAMES)]
                + ("" if i < len(PROJECT_NAMES) else f" {i // len(PROJECT_NAMES) + 1}"),
                "project_created_at": created,
                "created_by_id": creator["actor_id"],
                "created_by_email": creator["actor_email"],
            }
        )
    project_lines = b.temp("bench_project_lines", "l_", projects)
    pcounts = _allocate(max(b.days, per_day * b.days // 3), b.weights, minimum=1)
    proj = Part("projects", ents, project_lines, b.capped(pcounts, ents.size * project_lines.size))
    b.insert(
        "engagement_projects",
        [b.part_sql(proj, "engagement_projects", ENTERPRISE, project_metrics, "''", 0, False)],
    )


# -- admin lists and bookkeeping --------------------------------------------------------------


def _admin(
    b: Builder,
    workspaces: list[dict[str, Any]],
    keys: list[dict[str, Any]],
    console_users: list[dict[str, Any]],
    ent_users: list[dict[str, Any]],
    overlap_days: int,
) -> None:
    fetched = b.fetched
    b.insert_rows(
        "connections",
        [
            {
                "row_key": row_key(label),
                "connection_label": label,
                "connection_kind": kind,
                "organization_id": org,
                "organization_name": name,
                "state": "active",
                "updated_at": fetched,
            }
            for label, kind, org, name in (
                (CONSOLE, "console", ORG_A, "Acme Console"),
                (ENTERPRISE, "enterprise", ORG_B, "Globex Enterprise"),
            )
        ],
    )
    b.insert_rows(
        "organizations",
        [
            {
                "row_key": row_key(label, "organizations", org),
                "connection_label": label,
                "id": org,
                "name": name,
                "type": "organization",
                "fetched_at": fetched,
            }
            for label, org, name in (
                (CONSOLE, ORG_A, "Acme Console"),
                (ENTERPRISE, ORG_B, "Globex Enterprise"),
            )
        ],
    )
    b.insert_rows(
        "workspaces",
        [
            {
                "row_key": row_key(CONSOLE, "workspaces", w["id"]),
                "connection_label": CONSOLE,
                "id": w["id"],
                "name": w["name"],
                "created_at": w["created_at"],
                "display_color": "#6C5BB9",
                "workspace_geo": "us",
                "default_inference_geo": "global",
                "allowed_inference_geos": "unrestricted",
                "tags_json": "{}",
                "fetched_at": fetched,
            }
            for w in workspaces
        ],
    )
    b.insert_rows(
        "api_keys",
        [
            {
                "row_key": row_key(CONSOLE, "api_keys", k["api_key_id"]),
                "connection_label": CONSOLE,
                "id": k["api_key_id"],
                "name": k["name"],
                "workspace_id": k["workspace_id"],
                "scope_type": "workspace",
                "status": k["status"],
                "created_at": k["created_at"],
                "created_by_id": k["created_by"],
                "created_by_type": "user",
                "partial_key_hint": f"sk-ant-api03-{k['api_key_id'][9:12]}..."
                f"{k['api_key_id'][-4:]}",
                "fetched_at": fetched,
            }
            for k in keys
        ],
    )
    roles = ("developer", "developer", "claude_code_user", "user", "admin", "billing")
    users = [
        {
            "row_key": row_key(CONSOLE, "org_users", u["user_id"]),
            "connection_label": CONSOLE,
            "id": u["user_id"],
            "email": u["email"],
            "name": u["name"],
            "role": roles[i % len(roles)],
            "added_at": _ts(b.first + timedelta(days=u["start"])) - timedelta(days=1),
            "fetched_at": fetched,
        }
        for i, u in enumerate(console_users)
    ]
    users += [
        {
            "row_key": row_key(ENTERPRISE, "org_users", u["actor_id"]),
            "connection_label": ENTERPRISE,
            "id": u["actor_id"],
            "email": u["actor_email"],
            "name": u["actor_name"],
            "role": "primary_owner" if i == 0 else ("owner" if i < 5 else "user"),
            "added_at": _ts(b.first - timedelta(days=1 + i % 200)),
            "fetched_at": fetched,
        }
        for i, u in enumerate(ent_users)
        if not u["actor_deleted"]
    ]
    b.insert_rows("org_users", users)

    feeds = {
        CONSOLE: ["cost", "cost_detail", "usage", "usage_detail", "claude_code"],
        ENTERPRISE: [
            "cost",
            "cost_detail",
            "usage",
            "usage_detail",
            "engagement_users",
            "engagement_summaries",
            "engagement_skills",
            "engagement_connectors",
            "engagement_plugins",
            "engagement_artifacts",
            "engagement_projects",
        ],
    }
    b.insert_rows(
        "sync_state",
        [
            {
                "row_key": row_key(label, feed),
                "connection_label": label,
                "feed": feed,
                "source": "analytics",
                "covered_from": b.first,
                "complete_through": b.yesterday,
                "loaded_through": b.today,
                "data_refreshed_at": None
                if feed.startswith(("engagement", "claude"))
                else b.watermark,
                "updated_at": fetched,
            }
            for label, names in feeds.items()
            for feed in names
        ],
    )
    events = []
    for label in (CONSOLE, ENTERPRISE):
        for k in range(14, -1, -1):
            day = b.today - timedelta(days=k)
            start = _ts(day, 7.5 if label == CONSOLE else 7.75)
            events.append(event_row(label, "info", "sync", "sync started", {"full": False}, start))
            events.append(
                event_row(
                    label,
                    "info",
                    "sync",
                    "sync finished",
                    {"rows": 0, "corrections": 0, "seconds": 41.5},
                    start + timedelta(minutes=3),
                )
            )
    events.append(
        event_row(
            ENTERPRISE,
            "info",
            "notice",
            f"organization {ORG_A} is also connected as {CONSOLE}: {overlap_days} days of its "
            "spend are double-booked and counted once",
            {},
            _ts(b.today, 7.9),
        )
    )
    b.insert_rows("events", events)


# -- query timings ------------------------------------------------------------------------------


def spend_queries(today: date, table: str = f"{S}.spend", mart: bool = False) -> dict[str, str]:
    """The three dashboard-like queries: 30-day total, by model, by day and workspace (90 days).
    `mart`: the same questions of `mart_spend` (a `day` column, canonical and legacy rows; the
    workspace names joined, as the mart keeps only ids)."""
    if not mart:
        since30 = _lit(_ts(today - timedelta(days=30)))
        since90 = _lit(_ts(today - timedelta(days=90)))
        return {
            "a_sum_30d": f"SELECT sum(billed_cost) FROM {table} "
            f"WHERE charge_period_start >= {since30}",
            "b_by_model": f"SELECT model, sum(billed_cost) FROM {table} GROUP BY 1",
            "c_day_workspace_90d": (
                "SELECT CAST(charge_period_start AS DATE), COALESCE(workspace_name, workspace_id),"
                f" sum(billed_cost) FROM {table} WHERE charge_period_start >= {since90} "
                "GROUP BY 1, 2"
            ),
        }
    since30, since90 = _lit(today - timedelta(days=30)), _lit(today - timedelta(days=90))
    counted = "grain <> 'alternate'"
    return {
        "a_sum_30d": f"SELECT sum(billed_cost) FROM {table} WHERE day >= {since30} AND {counted}",
        "b_by_model": f"SELECT model, sum(billed_cost) FROM {table} WHERE {counted} GROUP BY 1",
        "c_day_workspace_90d": (
            f"SELECT m.day, COALESCE(w.name, m.workspace_id), sum(m.billed_cost) FROM {table} m "
            f"LEFT JOIN {S}.workspaces w ON w.connection_label = m.connection_label "
            f"AND w.id = m.workspace_id WHERE m.day >= {since90} AND m.{counted} GROUP BY 1, 2"
        ),
    }


def _timed(con: Any, sql: str, runs: int) -> dict[str, Any]:
    """Wall time and CPU time (all of DuckDB's threads: it runs in this process) per run."""
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "runs_ms": [round(x * 1000, 1) for x in times],
        "median_cpu_ms": round(statistics.median(cpu) * 1000, 1),
    }


def measure(
    path: Path, today: date = date(2026, 11, 22), runs: int = 3, memory_limit: str = "256MB"
) -> dict[str, Any]:
    """Time the spend queries on the view, then on a table materialized from it (dropped
    after), and on `mart_spend` when the warehouse has it.

    A fresh connection with the warehouse's own limits (256 MB, 2 threads); each query runs
    `runs` times, the median counts (the times are the client's, results are a few rows)."""
    out: dict[str, Any] = {"memory_limit": memory_limit, "load_before": os.getloadavg()}
    con = duckdb.connect(str(path), config={**QUERY_CONFIG, "memory_limit": memory_limit})
    try:
        con.execute("SET enable_progress_bar = false")
        for name, sql in spend_queries(today).items():
            out[f"view.{name}"] = _timed(con, sql, runs)
        t, c = time.perf_counter(), time.process_time()
        con.execute(
            f"CREATE TABLE {S}.tmp_spend AS SELECT * FROM {S}.spend ORDER BY charge_period_start"
        )
        out["create_tmp_spend_s"] = round(time.perf_counter() - t, 2)
        out["create_tmp_spend_cpu_s"] = round(time.process_time() - c, 2)
        for name, sql in spend_queries(today, f"{S}.tmp_spend").items():
            out[f"table.{name}"] = _timed(con, sql, runs)
        marts = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = 'mart_spend'",
            [S],
        ).fetchone()
        if marts and marts[0]:
            for name, sql in spend_queries(today, f"{S}.mart_spend", mart=True).items():
                out[f"mart_spend.{name}"] = _timed(con, sql, runs)
        out["load_after"] = os.getloadavg()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {S}.tmp_spend")
        con.execute("CHECKPOINT")
        con.close()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="where to build (replaced)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the spend view")
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 22))
    parser.add_argument("--queries", action="store_true", help="also time the spend queries")
    args = parser.parse_args(argv)
    figures = build(args.home, args.rows, args.days, args.today)
    print(json.dumps(figures, indent=2, default=str))
    if args.queries:
        print(json.dumps(measure(Path(figures["warehouse"]), args.today), indent=2))


if __name__ == "__main__":
    main()
