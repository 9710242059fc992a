"""A warehouse allocated by an earlier version is brought up to date when it is opened:
`mart_allocation` missing (or empty) beside `allocation_rows` is rebuilt from every day, and
marts rebuilt in full by an upgrade re-allocate every day, so team totals and coverage equal the
bill again."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import copy_home
from spendscope.config import Settings
from spendscope.refresh import initialize, refresh_allocation
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.marts import LAYOUT, refresh_marts
from test_allocation import cli, configure, per_day, spend_per_day


@pytest.fixture(scope="module")
def allocated(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = copy_home(synced, tmp_path_factory.mktemp("allocated"))
    wh = Warehouse(settings)
    try:
        initialize(wh)
        configure(wh)
    finally:
        wh.close()
    return settings


def mart_per_day(wh: Warehouse, dimension: str) -> dict[tuple[str, date], int]:
    rows = wh.read(
        "SELECT connection_label, day, sum(billed_nc) FROM spendscope.mart_allocation "
        "WHERE dimension = ? GROUP BY ALL",
        dimension,
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def assert_team_figures_equal_the_bill(wh: Warehouse, home: Path) -> None:
    """The mart, `report --by team` and `allocation coverage` all add up to `spend`."""
    spend = spend_per_day(wh)
    assert len(spend) > 60
    for dimension in ("team", "cost_center"):
        assert per_day(wh, dimension) == spend
        assert mart_per_day(wh, dimension) == spend
    since = "2026-11-01"
    bill = wh.read(
        "SELECT sum(billed_cost) FROM spendscope.spend WHERE charge_period_start >= "
        "TIMESTAMPTZ '2026-11-01 00:00:00+00'"
    )[0][0]
    by_team = cli(home, "report", "--by", "team", "--since", since, "--json")
    assert by_team.exit_code == 0, by_team.output
    rows = json.loads(by_team.output)
    assert {"Unallocated", "payments", "research"} <= {r["team"] for r in rows}
    assert sum(Decimal(r["cost"]) for r in rows) == bill
    coverage = cli(home, "allocation", "coverage", "--json", "--dimension", "team")
    assert coverage.exit_code == 0, coverage.output
    months = {m["month"]: m for m in json.loads(coverage.output)}
    assert set(months) == {"2026-10", "2026-11"}
    assert Decimal(months["2026-11"]["total"]) == bill


def test_a_mart_dropped_is_rebuilt_from_every_day_on_open(
    allocated: Settings, tmp_path: Path
) -> None:
    settings = copy_home(allocated, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        # As a version without the mart left the warehouse.
        wh.execute("DROP TABLE spendscope.mart_allocation")
    finally:
        wh.close()
    wh = Warehouse(settings)
    try:
        # Opening creates the mart, empty; the marts of `spend` need nothing.
        assert wh.read("SELECT count(*) FROM spendscope.mart_allocation") == [(0,)]
        initialize(wh)
        assert_team_figures_equal_the_bill(wh, settings.home)
        assert refresh_allocation(wh) == "unchanged"
    finally:
        wh.close()


def test_an_empty_mart_beside_allocated_rows_means_a_full_recompute(
    allocated: Settings, tmp_path: Path
) -> None:
    settings = copy_home(allocated, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        initialize(wh)
        assert refresh_allocation(wh) == "unchanged"
        wh.execute("DELETE FROM spendscope.mart_allocation")
        assert refresh_marts(wh) == "unchanged"  # nothing else asks for it
        assert refresh_allocation(wh) == "full"
        assert_team_figures_equal_the_bill(wh, settings.home)
        assert refresh_allocation(wh) == "unchanged"
    finally:
        wh.close()


def test_marts_rebuilt_by_an_upgrade_reallocate_every_day(
    allocated: Settings, tmp_path: Path
) -> None:
    """An upgrade that changes what `spend` holds on days no sync touched (here: an amount
    changed in place, as a new reading of the raw rows would) rebuilds the marts in full
    (their layout changed), and with them every day of the allocation."""
    settings = copy_home(allocated, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        # Rows of the first day (a day no sync touches again).
        candidates = wh.read(
            "SELECT source_table, row_key FROM spendscope.spend "
            "WHERE charge_period_start = (SELECT min(charge_period_start) FROM spendscope.spend) "
            "AND billed_cost > 0 ORDER BY row_key LIMIT 20"
        )
        changed = None
        for table, key in candidates:
            done = wh.execute(
                f"UPDATE spendscope.{table} SET amount_cents = amount_cents + 123 "
                "WHERE row_key = ? RETURNING row_key",
                key,
            )
            if done:
                changed = key
                break
        assert changed is not None
        wh.execute("UPDATE spendscope.mart_state SET layout = ?", LAYOUT - 1)
    finally:
        wh.close()
    wh = Warehouse(settings)
    try:
        initialize(wh)
        assert wh.read("SELECT layout FROM spendscope.mart_state") == [(LAYOUT,)]
        assert_team_figures_equal_the_bill(wh, settings.home)
    finally:
        wh.close()
