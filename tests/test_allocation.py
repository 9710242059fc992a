"""Allocation on a real backfill of both connection kinds: every dollar in exactly one value per
dimension (to the 1e-11 USD unit, against `spend` and the simulator's truth), splits that add up
exactly, history that does not move, imports that are all or nothing, and the same figures
through `report`, `coverage` and `explain`."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import NOW, Api, copy_home
from spendscope.allocation.model import parse_mappings_csv
from spendscope.allocation.store import import_mappings, install_rules, load_config
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.errors import InvalidInput
from spendscope.refresh import initialize, refresh_allocation
from spendscope.warehouse.connection import Warehouse

TODAY = NOW.date()
START = date(2026, 10, 1)
NANO = 10**11
RULES = """
[dimensions.team]
rbac = "split"

[[dimensions.team.rules]]
id = "key-name"
when = { api_key_name = { regex = "^team-([a-z]+)-" } }
value = "{1}"

[[dimensions.team.rules]]
id = "haiku-shared"
when = { model = { prefix = "claude-haiku" }, workspace_name = { equals = "Default" } }
split = { method = "fixed", percentages = { payments = 33.3, search = 66.7 } }

[[dimensions.team.rules]]
id = "default-workspace"
when = { workspace_name = { equals = "Default" } }
split = { method = "proportional", values = ["payments", "search", "growth"] }

[[dimensions.team.rules]]
id = "groups"
inherit = "rbac_group_name"

[dimensions.cost_center]
default = "CC-000"

[[dimensions.cost_center.rules]]
id = "production"
when = { workspace_name = { in = ["Production", "Support Bots"] } }
value = "CC-100"
"""
MAPPINGS = """subject_type,subject,dimension,value,valid_from,valid_to
workspace,Research,team,research,2026-10-01,
api_key,team-payments-prod,team,billing,2026-11-15,
connection,acme-enterprise,cost_center,CC-200,2026-10-01,
"""
ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}


def cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def configure(wh: Warehouse) -> None:
    install_rules(wh, RULES, source="rules.toml", effective=START, today=TODAY, backfill_from=START)
    import_mappings(
        wh,
        parse_mappings_csv(MAPPINGS, "teams.csv"),
        source="teams.csv",
        today=TODAY,
        backfill_from=START,
    )
    refresh_allocation(wh)


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


@pytest.fixture
def wh(allocated: Settings) -> Iterator[Warehouse]:
    w = Warehouse(allocated)
    try:
        yield w
    finally:
        w.close()


def per_day(wh: Warehouse, dimension: str) -> dict[tuple[str, date], int]:
    rows = wh.read(
        "SELECT connection_label, day, sum(billed_nc) FROM spendscope.allocation_rows "
        "WHERE dimension = ? GROUP BY ALL",
        dimension,
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def spend_per_day(wh: Warehouse) -> dict[tuple[str, date], int]:
    rows = wh.read(
        "SELECT connection_label, CAST(charge_period_start AS DATE), "
        "CAST(sum(billed_cost) * 100000000000 AS HUGEINT) FROM spendscope.spend GROUP BY ALL"
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


@pytest.mark.parametrize("dimension", ["team", "cost_center"])
def test_every_dollar_lands_once_per_dimension(wh: Warehouse, dimension: str) -> None:
    spend = spend_per_day(wh)
    assert len(spend) > 60  # two connections, 40 days
    assert per_day(wh, dimension) == spend
    # Every spend row has its parts, and each part goes to one value.
    missing = wh.read(
        "SELECT count(*) FROM spendscope.spend s WHERE NOT EXISTS (SELECT 1 FROM "
        "spendscope.allocation a WHERE a.row_key = s.row_key AND a.dimension = ?)",
        dimension,
    )
    assert missing == [(0,)]
    dupes = wh.read(
        "SELECT count(*) FROM (SELECT row_key, value FROM spendscope.allocation "
        "WHERE dimension = ? GROUP BY ALL HAVING count(*) > 1)",
        dimension,
    )
    assert dupes == [(0,)]


def test_totals_equal_the_simulator_truth(wh: Warehouse, api: Api) -> None:
    """Σ values (Unallocated included) per organization and day = the bill, to the cent."""
    orgs = {o["name"]: o["id"] for o in api.info()["organizations"]}
    truth = api.truth(org="Acme Platform", start="2026-11-01", end=TODAY.isoformat())[
        "organizations"
    ][0]["days"]
    got = dict(
        wh.read(
            "SELECT CAST(a.day AS VARCHAR), sum(a.billed_cost) FROM spendscope.allocation a "
            "JOIN spendscope.spend s ON s.row_key = a.row_key WHERE a.dimension = 'team' "
            "AND s.organization_id = ? AND a.day >= DATE '2026-11-01' GROUP BY 1",
            orgs["Acme Platform"],
        )
    )
    assert len(truth) == 21
    for t in truth:
        assert got[t["date"]] == Decimal(t["cost_cents"]) / 100, t["date"]


def test_splits_add_up_and_the_remainder_goes_to_the_largest_part(wh: Warehouse) -> None:
    rows = wh.read(
        "SELECT spend_row_key, value, billed_nc, split_method, rule_id "
        "FROM spendscope.allocation_rows WHERE dimension = 'team' AND split_method IS NOT NULL"
    )
    parts: dict[str, dict[str, int]] = defaultdict(dict)
    methods: dict[str, set[str]] = defaultdict(set)
    for key, value, amount, method, rule in rows:
        parts[key][value] = int(amount)
        methods[key].add(f"{method}/{rule}")
    source = dict(
        wh.read(
            "SELECT row_key, CAST(billed_cost * 100000000000 AS BIGINT) FROM spendscope.spend "
            "WHERE row_key IN (SELECT spend_row_key FROM spendscope.allocation_rows "
            "WHERE split_method IS NOT NULL)"
        )
    )
    kinds = set().union(*methods.values())
    assert {"fixed/haiku-shared", "proportional/default-workspace"} <= kinds, kinds
    assert any(k.startswith("even/") for k in kinds), kinds  # users in several groups
    for key, values in parts.items():
        assert sum(values.values()) == source[key], key
        if methods[key] == {"fixed/haiku-shared"}:
            total = source[key]
            payments = total * 333 // 1000  # rounded down; the remainder to the largest part
            assert values == {"payments": payments, "search": total - payments}


def test_a_key_that_moves_team_keeps_its_history(wh: Warehouse) -> None:
    rows = wh.read(
        "SELECT a.day >= DATE '2026-11-15', a.value, a.method, count(*) "
        "FROM spendscope.allocation_rows a JOIN spendscope.api_keys k "
        "ON k.connection_label = a.connection_label AND k.id = a.api_key_id "
        "WHERE k.name = 'team-payments-prod' AND a.dimension = 'team' GROUP BY ALL"
    )
    seen = {(after, value, method) for after, value, method, _ in rows}
    assert seen == {(False, "payments", "rule"), (True, "billing", "mapping")}


def test_a_new_rules_version_leaves_earlier_days_alone(allocated: Settings, tmp_path: Path) -> None:
    settings = copy_home(allocated, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        initialize(wh)
        query = (
            "SELECT spend_row_key, dimension, value, billed_nc, rule_version "
            "FROM spendscope.allocation_rows WHERE day {} DATE '2026-11-20' ORDER BY ALL"
        )
        before_old = wh.read(query.format("<"))
        changed = RULES.replace('value = "{1}"', 'value = "team-{1}"')
        install_rules(wh, changed, source="v2.toml", effective=date(2026, 11, 20), today=TODAY)
        assert refresh_allocation(wh) == "from 2026-11-20"
        assert wh.read(query.format("<")) == before_old
        after = wh.read(query.format(">="))
        assert {r[4] for r in after} == {2, None}  # None: decided by a mapping
        values = {r[2] for r in after if r[1] == "team"}
        assert "team-search" in values
        assert "search" in values
        assert not {"payments", "growth"} & {
            r[2]
            for r in wh.read(
                "SELECT a.spend_row_key, a.dimension, a.value FROM spendscope.allocation_rows a "
                "WHERE a.day >= DATE '2026-11-20' AND a.rule_id = 'key-name'"
            )
        }
        # A full recompute gives exactly what the incremental one wrote.
        incremental = wh.read(query.format(">="))
        refresh_allocation(wh, full=True)
        assert wh.read(query.format(">=")) == incremental
    finally:
        wh.close()


def test_closed_months_change_only_with_backfill_from(allocated: Settings, tmp_path: Path) -> None:
    home = copy_home(allocated, tmp_path / "home").home
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.replace("CC-100", "CC-101"))
    before = _allocation_rows(home)
    refused = cli(home, "allocation", "rules", "set", str(rules), "--effective", "2026-10-20")
    assert refused.exit_code != 0
    assert "closed month" in refused.output
    assert "--backfill-from 2026-10-20" in refused.output
    assert "Traceback" not in refused.output
    assert _allocation_rows(home) == before
    done = cli(
        home,
        "allocation",
        "rules",
        "set",
        str(rules),
        "--effective",
        "2026-10-20",
        "--backfill-from",
        "2026-10-20",
    )
    assert done.exit_code == 0, done.output
    after = _allocation_rows(home)
    assert [r for r in after if r[0] < date(2026, 10, 20)] == [
        r for r in before if r[0] < date(2026, 10, 20)
    ]
    assert any(r[2] == "CC-101" for r in after)
    wh = Warehouse(_settings(home))
    try:
        log = wh.read("SELECT action, backfill_from FROM spendscope.allocation_log ORDER BY 1")
    finally:
        wh.close()
    assert ("rules", date(2026, 10, 20)) in log


def _settings(home: Path) -> Settings:
    from conftest import make_settings

    return make_settings(home)


def _allocation_rows(home: Path) -> list[tuple[Any, ...]]:
    wh = Warehouse(_settings(home))
    try:
        return wh.read(
            "SELECT day, spend_row_key, value, billed_nc FROM spendscope.allocation_rows "
            "WHERE dimension = 'cost_center' ORDER BY ALL"
        )
    finally:
        wh.close()


def test_a_bad_import_says_where_and_applies_nothing(allocated: Settings, tmp_path: Path) -> None:
    home = copy_home(allocated, tmp_path / "home").home
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "subject_type,subject,dimension,value,valid_from,valid_to\n"
        "workspace,Sandbox,team,sandbox,2026-11-01,\n"
        "user,ana@acme.example,team,design,2026-11-05,2026-11-02\n"
    )
    before = _allocation_rows(home)
    r = cli(home, "allocation", "import", str(bad))
    assert r.exit_code != 0
    assert "bad.csv line 3" in r.output
    assert "valid_to 2026-11-02 is not after" in r.output
    assert "Nothing of bad.csv was imported" in r.output
    wh = Warehouse(_settings(home))
    try:
        assert wh.read(
            "SELECT count(*) FROM spendscope.allocation_mappings WHERE subject = 'Sandbox'"
        ) == [(0,)]
    finally:
        wh.close()
    assert _allocation_rows(home) == before


def test_report_by_team_adds_up_to_the_bill(allocated: Settings) -> None:
    home = allocated.home
    by_team = cli(home, "report", "--by", "team", "--since", "2026-11-01", "--json")
    assert by_team.exit_code == 0, by_team.output
    rows = json.loads(by_team.output)
    total = cli(home, "report", "--since", "2026-11-01", "--json")
    assert sum(Decimal(r["cost"]) for r in rows) == Decimal(json.loads(total.output)[0]["cost"])
    assert {"Unallocated", "payments", "billing", "research"} <= {r["team"] for r in rows}
    one = cli(home, "report", "--filter", "team:payments", "--since", "2026-11-01", "--json")
    payments = next(r for r in rows if r["team"] == "payments")
    assert json.loads(one.output)[0]["cost"] == payments["cost"]
    both = cli(home, "report", "--by", "team,cost_center", "--json")
    assert both.exit_code != 0
    assert "one allocation dimension at a time" in both.output


def test_coverage_and_explain(allocated: Settings, wh: Warehouse) -> None:
    home = allocated.home
    r = cli(home, "allocation", "coverage", "--json", "--dimension", "team")
    assert r.exit_code == 0, r.output
    months = json.loads(r.output)
    assert [m["month"] for m in months] == ["2026-10", "2026-11"]
    for m in months:
        assert Decimal(m["allocated"]) + Decimal(m["unallocated"]) == Decimal(m["total"])
        assert sum(Decimal(x["cost"]) for x in m["unallocated_by_reason"]) == Decimal(
            m["unallocated"]
        )
    spend = wh.read(
        "SELECT sum(billed_cost) FROM spendscope.spend WHERE charge_period_start >= "
        "TIMESTAMPTZ '2026-11-01 00:00:00+00'"
    )[0][0]
    assert Decimal(months[1]["total"]) == spend
    before = cli(
        home,
        "allocation",
        "explain",
        "api_key",
        "team-payments-prod",
        "--date",
        "2026-11-10",
        "--json",
    )
    after = cli(
        home,
        "allocation",
        "explain",
        "api_key",
        "team-payments-prod",
        "--date",
        "2026-11-16",
        "--json",
    )
    b = {x["dimension"]: x for x in json.loads(before.output)}
    a = {x["dimension"]: x for x in json.loads(after.output)}
    assert b["team"]["value"] == "payments"
    assert "rule 'key-name'" in b["team"]["decided_by"]
    assert a["team"]["value"] == "billing"
    assert "teams.csv line 3" in a["team"]["decided_by"]
    assert b["cost_center"]["method"] in ("rule", "default")


def test_without_configuration_nothing_is_allocated(synced: Settings, tmp_path: Path) -> None:
    wh = Warehouse(copy_home(synced, tmp_path / "home"))
    try:
        initialize(wh)
        assert refresh_allocation(wh) == "none configured"
        assert wh.read("SELECT count(*) FROM spendscope.allocation_rows") == [(0,)]
        assert load_config(wh).dimensions == []
    finally:
        wh.close()


def test_a_mapping_in_a_closed_month_needs_backfill(allocated: Settings, tmp_path: Path) -> None:
    wh = Warehouse(copy_home(allocated, tmp_path / "home"))
    try:
        initialize(wh)
        rows = parse_mappings_csv(
            "subject_type,subject,dimension,value,valid_from,valid_to\n"
            "workspace,Sandbox,team,sandbox,2026-10-05,\n",
            "late.csv",
        )
        with pytest.raises(InvalidInput, match="closed month"):
            import_mappings(wh, rows, source="late.csv", today=TODAY)
        assert wh.read(
            "SELECT count(*) FROM spendscope.allocation_mappings WHERE subject = 'Sandbox'"
        ) == [(0,)]
    finally:
        wh.close()


def test_reallocate_is_logged_and_versions_only_move_forward(
    allocated: Settings, tmp_path: Path
) -> None:
    home = copy_home(allocated, tmp_path / "home").home
    before = _allocation_rows(home)
    done = cli(home, "allocation", "reallocate", "--backfill-from", "2026-10-15")
    assert done.exit_code == 0, done.output
    assert "re-allocated every day from 2026-10-15" in done.output
    assert _allocation_rows(home) == before  # nothing in force changed: the same allocation
    wh = Warehouse(_settings(home))
    try:
        log = wh.read(
            "SELECT action, affects_from, backfill_from FROM spendscope.allocation_log "
            "WHERE action = 'reallocate'"
        )
        assert log == [("reallocate", date(2026, 10, 15), date(2026, 10, 15))]
        with pytest.raises(InvalidInput, match="cannot start earlier"):
            install_rules(
                wh,
                RULES,
                source="old.toml",
                effective=date(2026, 9, 1),
                today=TODAY,
                backfill_from=date(2026, 9, 1),
            )
    finally:
        wh.close()
    shown = cli(home, "allocation", "rules", "show", "--as-of", "2026-10-02")
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("# version 1, effective 2026-10-01")
    none = cli(home, "allocation", "rules", "show", "--as-of", "2026-09-30")
    assert none.exit_code != 0
    assert "No rules version is in force on 2026-09-30" in none.output
