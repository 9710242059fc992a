"""Legacy Console cost-report days, divided over the API keys by priced usage: each key's share
equals the simulator's truth for that key, the parts add up to each cost row to the 1e-9 cent,
the units rounding leaves go to the largest part, cost no usage explains keeps its own row, and
the keys' allocation reaches those days."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import NOW, Api, connect, make_settings, sync
from spendscope.allocation.store import install_rules
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.refresh import initialize, refresh
from spendscope.simulator.server import RunningSimulator
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.legacy_split import split_relation
from spendscope.warehouse.schema import DATASET

DAYS = 6
TOMORROW = NOW.date() + timedelta(days=1)
RULES = """
[dimensions.team]
[[dimensions.team.rules]]
id = "key-name"
when = { api_key_name = { regex = "^team-([a-z]+)-" } }
value = "{1}"
"""


@pytest.fixture(scope="module")
def legacy(
    simulator: RunningSimulator, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The Console connection synced from the legacy reports only."""
    home = tmp_path_factory.mktemp("legacy")
    settings = make_settings(home, api_mode="legacy", console_backfill_days=DAYS)
    store = connect(settings, api, simulator.url, which="console")
    assert not [r.error for r in sync(settings, store) if r.error]
    return settings


def _read(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    wh = Warehouse(settings)
    try:
        return wh.read(sql)
    finally:
        wh.close()


def _console_org(api: Api) -> str:
    return next(o["id"] for o in api.info()["organizations"] if o["name"] == "Acme Platform")


def test_each_keys_share_equals_its_truth(legacy: Settings, api: Api) -> None:
    rows = _read(
        legacy,
        f"""SELECT CAST(charge_period_start AS DATE), api_key_id, sum(billed_cost) * 100,
            bool_and(is_estimate), count(*)
        FROM {DATASET}.spend GROUP BY ALL""",
    )
    got = {(d.isoformat(), k): c for d, k, c, _, _ in rows}
    assert all(estimate for _, k, _, estimate, _ in rows if k is not None)
    days = sorted({d for d, _ in got})
    assert len(days) >= DAYS
    truth = api.truth(
        org=_console_org(api), start=days[0], end=TOMORROW.isoformat(), group_by="api_key_id"
    )
    want: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    per_day: dict[str, Decimal] = defaultdict(Decimal)
    for d in truth["organizations"][0]["days"]:
        cents = {k: Decimal(v) for k, v in d.items() if k.endswith("_cents")}
        # the legacy report carries no Priority Tier cost; code execution and managed-agent
        # sessions have no usage to divide them by: they stay on a row without a key
        unexplained = cents["code_execution_cost_cents"] + cents["session_usage_cost_cents"]
        key = d["group"]["api_key_id"]
        want[(d["date"], key)] += cents["cost_cents"] - cents["priority_cost_cents"] - unexplained
        want[(d["date"], None)] += unexplained
        per_day[d["date"]] += cents["cost_cents"] - cents["priority_cost_cents"]
    keys = {k for _, k in got if k}
    assert len(keys) > 10
    # the simulator's truth is rounded to 1e-6 cent; the shares are exact to 1e-9 cent
    tolerance = Decimal("0.00001")
    off = {
        k: (got.get(k, Decimal(0)), want.get(k, Decimal(0)))
        for k in set(got) | set(want)
        if abs(got.get(k, Decimal(0)) - want.get(k, Decimal(0))) > tolerance
    }
    assert off == {}
    # and every day's total is exact
    by_day: dict[str, Decimal] = defaultdict(Decimal)
    for (d, _), c in got.items():
        by_day[d] += c
    assert {d: c for d, c in by_day.items() if c} == {d: c for d, c in per_day.items() if c}


def test_parts_add_up_to_each_cost_row(legacy: Settings) -> None:
    split = f"""SELECT connection_label, bucket_start, workspace_id, description,
        sum(amount_cents) AS amount, count(*) AS parts, bool_or(is_estimate) AS divided
        FROM {split_relation()} s GROUP BY ALL"""
    rows = _read(
        legacy,
        f"""SELECT count(*), count(*) FILTER (WHERE s.amount = c.amount_cents),
            count(*) FILTER (WHERE s.divided), max(s.parts),
            count(*) FILTER (WHERE c.cost_type IN ('code_execution', 'session_usage')
                             AND (s.divided OR s.parts <> 1))
        FROM {DATASET}.console_cost_report c JOIN ({split}) s
            ON s.connection_label = c.connection_label AND s.bucket_start = c.bucket_start
            AND s.workspace_id IS NOT DISTINCT FROM c.workspace_id
            AND s.description = c.description""",
    )
    total, equal, divided, most, undivided_wrong = rows[0]
    raw = _read(legacy, f"SELECT count(*) FROM {DATASET}.console_cost_report")[0][0]
    assert total == raw > 100
    assert equal == total
    assert divided > total // 2
    assert most > 3
    assert undivided_wrong == 0
    keys = _read(legacy, f"SELECT count(*), count(DISTINCT row_key) FROM {DATASET}.spend")[0]
    assert keys[0] == keys[1]


def test_row_keys_are_stable_across_refreshes(legacy: Settings, tmp_path: Path) -> None:
    before = _read(legacy, f"SELECT row_key, billed_cost FROM {DATASET}.spend ORDER BY 1")
    wh = Warehouse(legacy)
    try:
        refresh(wh, full=True)
    finally:
        wh.close()
    assert _read(legacy, f"SELECT row_key, billed_cost FROM {DATASET}.spend ORDER BY 1") == before


def _cost(wh: Warehouse, key: str, workspace: str | None, token_type: str, cents: str) -> None:
    day = datetime(2025, 6, 1, tzinfo=UTC)
    with wh.transaction() as cur:
        cur.execute(
            f"""INSERT INTO {DATASET}.console_cost_report (row_key, connection_label,
                bucket_start, bucket_end, workspace_id, description, cost_type, model, token_type,
                service_tier, context_window, inference_geo, speed, amount_cents, currency,
                fetched_at, is_provisional)
            VALUES (?, 'c', ?, ?, ?, ?, 'tokens', 'm', ?, 'standard', '0-200k', 'global',
                'standard', ?, 'USD', ?, FALSE)""",
            [key, day, day.replace(day=2), workspace, key, token_type, Decimal(cents), day],
        )


def _usage(wh: Warehouse, key: str, workspace: str, api_key: str, output_tokens: int) -> None:
    day = datetime(2025, 6, 1, tzinfo=UTC)
    with wh.transaction() as cur:
        cur.execute(
            f"""INSERT INTO {DATASET}.console_usage_report (row_key, connection_label,
                bucket_start, bucket_end, api_key_id, workspace_id, model, service_tier,
                context_window, inference_geo, speed, uncached_input_tokens,
                cache_read_input_tokens, cache_creation_5m_input_tokens,
                cache_creation_1h_input_tokens, output_tokens, web_search_requests, fetched_at,
                is_provisional)
            VALUES (?, 'c', ?, ?, ?, ?, 'm', 'standard', '0-200k', 'global', 'standard',
                5, 0, 0, 0, ?, 0, ?, FALSE)""",
            [key, day, day.replace(day=2), api_key, workspace, output_tokens, day],
        )


def test_rounding_leftover_goes_to_the_largest_part(tmp_path: Path) -> None:
    wh = Warehouse(make_settings(tmp_path))
    try:
        wh.prepare()
        # 10 units of 1e-9 cent over three equal weights: 3 each, the leftover unit to the
        # lowest key id; over weights 1 and 2: 3 and 6, the leftover unit to the larger
        _cost(wh, "even", "w", "output_tokens", "0.000000010")
        _cost(wh, "uneven", "x", "output_tokens", "0.000000010")
        _cost(wh, "unexplained", "w", "cache_read_input_tokens", "1.5")  # no reads in usage
        for key, api_key, tokens in (("u1", "k-b", 7), ("u2", "k-a", 7), ("u3", "k-c", 7)):
            _usage(wh, key, "w", api_key, tokens)
        for key, api_key, tokens in (("v1", "k-a", 1), ("v2", "k-b", 2), ("v3", "k-d", 0)):
            _usage(wh, key, "x", api_key, tokens)  # (k-d weighs nothing: no part)
        rows = wh.read(
            f"""SELECT description, api_key_id, amount_cents, is_estimate
            FROM {split_relation()} s ORDER BY 1, 2"""
        )
    finally:
        wh.close()
    n = Decimal("0.000000001")
    assert rows[:3] == [
        ("even", "k-a", 4 * n, True),
        ("even", "k-b", 3 * n, True),
        ("even", "k-c", 3 * n, True),
    ]
    assert rows[3:5] == [("uneven", "k-a", 3 * n, True), ("uneven", "k-b", 7 * n, True)]
    assert rows[5:] == [("unexplained", None, Decimal("1.5"), False)]


def test_allocation_and_reports_reach_the_legacy_days(legacy: Settings, tmp_path: Path) -> None:
    wh = Warehouse(legacy)
    try:
        first = date(2026, 11, 1)
        install_rules(
            wh, RULES, source="rules.toml", effective=first, today=NOW.date(), backfill_from=first
        )
        initialize(wh)
        teams = wh.read(
            f"""SELECT value, sum(billed_cost) FROM {DATASET}.allocation
            WHERE dimension = 'team' GROUP BY ALL"""
        )
        bill = wh.read(f"SELECT sum(billed_cost) FROM {DATASET}.spend")[0][0]
    finally:
        wh.close()
    env = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
    report = CliRunner().invoke(
        main,
        [
            "report",
            "--by",
            "api_key",
            "--since",
            "2026-11-01",
            "--json",
            "--home",
            str(legacy.home),
        ],
        env=env,
    )
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    assert len([r for r in rows if r["api_key"]]) > 10
    assert sum(Decimal(r["cost"]) for r in rows) == bill
    values = dict(teams)
    assert sum(values.values()) == bill
    assert {"payments", "search"} <= set(values)
    assert values["Unallocated"] < bill
