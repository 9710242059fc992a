"""The allocation benchmark's core on a small generated warehouse: its configuration goes in
through the library and exercises every kind of decision; the full recompute and the step after
a sync allocate every day exactly (and the exactness query does notice a unit out of place); the
result does not depend on the profile key's hash; the dashboard calls it measures all answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from benchmarks import allocation as bench
from benchmarks.bigwarehouse import build
from benchmarks.web import TODAY

from spendscope.allocation import engine
from spendscope.config import load_settings
from spendscope.refresh import refresh_allocation
from spendscope.warehouse.connection import Warehouse

DAYS = 30
# Billed amounts (cents) on either side of $10,000, where the engine's conversion to integer
# units changes method, and far above it.
LARGE_CENTS = ("999999.999999999", "1000000.000000000", "250000000.123456789")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def phases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("allocation") / "home"
    build(home, spend_rows=20_000, days=DAYS, today=TODAY)
    wh = _open(home)
    try:
        keys = wh.read("SELECT row_key FROM spendscope.analytics_cost_key ORDER BY row_key LIMIT 3")
        for (key,), cents in zip(keys, LARGE_CENTS, strict=True):
            wh.execute(
                "UPDATE spendscope.analytics_cost_key SET amount_cents = CAST(? AS DECIMAL(38, 9)),"
                " list_amount_cents = CAST(? AS DECIMAL(38, 9)) WHERE row_key = ?",
                cents,
                str(Decimal(cents) * 2),
                key,
            )
    finally:
        wh.close()
    full = bench.full_phase(home, reuse=False)
    sync = bench.sync_phase(home)
    return {"home": home, "full": full, "sync": sync}


def _open(home: Path) -> Warehouse:
    return Warehouse(load_settings(home=home, env={}))


@pytest.fixture
def wh(phases: dict[str, Any]) -> Iterator[Warehouse]:
    warehouse = _open(phases["home"])
    try:
        yield warehouse
    finally:
        warehouse.close()


def test_every_day_is_allocated_exactly(phases: dict[str, Any]) -> None:
    full, sync = phases["full"], phases["sync"]
    cells = DAYS * 2 * 2  # days x connections x dimensions
    assert (full["mismatched"], full["cells"]) == (0, cells)
    assert (sync["mismatched"], sync["cells"]) == (0, cells)
    assert full["dimensions"] == ["cost_center", "team"]
    # One row per spend row and dimension, plus a row per extra part of a split row.
    assert full["spend_rows"] == 20_000
    assert full["rows"] > 2 * 20_000
    assert full["split_rows"] > 0
    assert 0 < full["mart_rows"] < full["rows"] / 10


def test_the_step_after_a_sync_recomputes_the_synced_days(
    phases: dict[str, Any], wh: Warehouse
) -> None:
    sync = phases["sync"]
    first = TODAY - timedelta(days=bench.SYNCED_DAYS)
    assert sync["done"] == f"from {first.isoformat()}"
    assert sync["source_rows"] > 0
    on_those_days = wh.read("SELECT count(*) FROM spendscope.allocation_rows WHERE day >= ?", first)
    assert sync["rows"] == on_those_days[0][0] > 0
    assert sync["unchanged"] == "unchanged"


def test_the_configuration_exercises_every_kind_of_decision(wh: Warehouse) -> None:
    decided = wh.read(
        "SELECT dimension, method, split_method, rule_id, list(DISTINCT rule_version) "
        "FROM spendscope.allocation_rows GROUP BY ALL"
    )
    rules = {(d, r) for d, m, _, r, _ in decided if m == "rule"}
    assert rules == {
        ("team", "ci-keys"),
        ("team", "default-haiku"),
        ("team", "default-shared"),
        ("team", "numbered-workspaces"),
        ("team", "workspace-name"),
        ("cost_center", "support"),
        ("cost_center", "enterprise-seats"),
        ("cost_center", "research-and-development"),
    }
    splits = {(r, s) for d, _, s, r, _ in decided if s}
    assert splits == {("default-haiku", "fixed"), ("default-shared", "proportional")}
    assert {v for *_, versions in decided for v in versions if v} == {1, 2}
    # Workspaces, API keys and users decided by mappings, some users moved mid-history.
    mapped = wh.read(
        "SELECT m.subject_type, count(DISTINCT m.row_key) FROM spendscope.allocation_rows a "
        "JOIN spendscope.allocation_mappings m ON m.row_key = a.mapping_key GROUP BY 1"
    )
    assert {t for t, _ in mapped} == {"workspace", "api_key", "user"}
    assert dict(mapped)["user"] > bench.MOVES
    defaults = wh.read(
        "SELECT DISTINCT reason FROM spendscope.allocation_rows "
        "WHERE dimension = 'team' AND method = 'default'"
    )
    assert ("email_not_in_identity_import",) in defaults


def test_the_exactness_query_sees_one_unit_out_of_place(
    phases: dict[str, Any], wh: Warehouse
) -> None:
    key = wh.read("SELECT min(row_key) FROM spendscope.allocation_rows")[0][0]
    move = "UPDATE spendscope.allocation_rows SET billed_nc = billed_nc + ? WHERE row_key = ?"
    wh.execute(move, 1, key)
    try:
        assert bench.exactness(wh) == (1, phases["full"]["cells"])
    finally:
        wh.execute(move, -1, key)
    assert bench.exactness(wh)[0] == 0


def test_a_profile_key_collision_changes_nothing(
    phases: dict[str, Any], wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = "SELECT * FROM spendscope.allocation_rows ORDER BY row_key"
    before = wh.read(everything)
    sql, seeds = engine._Rows.sql, []

    def colliding(rows: Any) -> str:
        # The first hash takes the connection only: every profile of a connection collides.
        seeds.append(rows.seed)
        text = str(sql(rows))
        if rows.seed == 0:
            key = "hash(" + ", ".join(f"b.{f}" for f in rows.fields) + ", 0)"
            assert key in text
            text = text.replace(key, "hash(b.connection_label)")
        return text

    monkeypatch.setattr(engine._Rows, "sql", colliding)
    assert refresh_allocation(wh, full=True) == "full"
    assert seeds[0] == 0
    assert 1 in seeds
    assert wh.read(everything) == before


def test_the_measured_calls_answer(phases: dict[str, Any]) -> None:
    results = bench.dashboard(phases["home"], runs=1)
    assert [r["what"] for r in results] == [c[0] for c in bench.calls(TODAY)]
    assert all(r["bytes"] > 0 for r in results)
