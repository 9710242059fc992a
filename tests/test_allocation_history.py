"""What allocation builds over time: RBAC membership history from successive snapshots (joins,
removals, moves), the overlapping any-membership view beside the exclusive allocation, SCIM
exports as snapshots, and a sync killed inside the allocation step."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import forked
from conftest import NOW, Api, copy_home, make_settings, sync
from spendscope.allocation.store import install_rules
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.faults import FAULT_ENV, FAULT_EXIT_CODE, TRACE_ENV
from spendscope.refresh import initialize, refresh_allocation
from spendscope.simulator.server import RunningSimulator
from spendscope.warehouse.connection import Warehouse

ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
GROUPS = """
[dimensions.team]
[[dimensions.team.rules]]
id = "groups"
inherit = "rbac_group_name"
"""


def read(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    wh = Warehouse(settings)
    try:
        return wh.read(sql, *params)
    finally:
        wh.close()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
def test_membership_history_follows_the_snapshots(
    synced: Settings, fresh_simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Synced at NOW, then 24 days later: joins open intervals from their start, a removal ends
    the day after the first snapshot without it, a move does both."""
    api = Api(fresh_simulator.url)
    settings = copy_home(synced, tmp_path / "home", base_url=fresh_simulator.url)
    later = NOW + timedelta(days=24)
    api.http.post("/_simulator/clock", json={"days": 24})
    reports = sync(settings, ConnectionStore(settings), now=later, labels=["acme-enterprise"])
    assert all(r.error is None for r in reports)
    org = next(o for o in api.info()["organizations"] if o["name"] == "Acme Enterprise")
    got = {
        (g, u, f): t
        for g, u, f, t in read(
            settings,
            "SELECT rbac_group_id, user_id, valid_from, valid_to FROM spendscope.rbac_membership "
            "WHERE connection_label = 'acme-enterprise'",
        )
    }
    listed = {r[0] for r in read(settings, "SELECT id FROM spendscope.org_users")}
    expected = {}
    for m in org["rbac_memberships"]:
        if m["user_id"] not in listed:
            continue  # a deleted user: the API lists none of their memberships
        start, end = _when(m["start"]), _when(m["end"])
        assert start is not None
        seen_first = start <= NOW and (end is None or end > NOW)
        seen_later = start <= later and (end is None or end > later)
        key = (m["rbac_group_id"], m["user_id"], start.date())
        if seen_later:
            expected[key] = None  # still listed: open
        elif seen_first:
            expected[key] = later.date() + timedelta(days=1)  # gone from the second snapshot
    assert got == expected
    ended = [k for k, v in expected.items() if v is not None]
    joined = [k for k in expected if k[2] > NOW.date()]
    assert ended
    assert joined


def test_the_overlapping_view_counts_users_in_each_group(synced: Settings, tmp_path: Path) -> None:
    settings = copy_home(synced, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        initialize(wh)
        overlapping = wh.read(
            "SELECT day, sum(billed_cost) FROM spendscope.rbac_group_spend_overlapping GROUP BY ALL"
        )
        bill = dict(
            wh.read(
                "SELECT CAST(charge_period_start AS DATE), sum(billed_cost) FROM spendscope.spend "
                "WHERE connection_kind = 'enterprise' GROUP BY ALL"
            )
        )
        assert overlapping
        assert all(total >= bill[day] for day, total in overlapping)
        assert any(total > bill[day] for day, total in overlapping)  # users in several groups
        install_rules(
            wh,
            GROUPS,
            source="g.toml",
            effective=date(2026, 10, 1),
            today=NOW.date(),
            backfill_from=date(2026, 10, 1),
        )
        refresh_allocation(wh)
        exclusive = dict(
            wh.read(
                "SELECT day, sum(billed_cost) FROM spendscope.allocation WHERE "
                "connection_kind = 'enterprise' AND dimension = 'team' GROUP BY ALL"
            )
        )
        assert exclusive == bill  # the allocation splits them instead: the bill, exactly
    finally:
        wh.close()


def cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def test_a_scim_export_is_a_snapshot(synced: Settings, tmp_path: Path) -> None:
    home = copy_home(synced, tmp_path / "home").home
    users = [
        r[0]
        for r in read(
            make_settings(home),
            "SELECT email FROM spendscope.org_users WHERE connection_label = 'acme-enterprise' "
            "ORDER BY email LIMIT 3",
        )
    ]
    export = tmp_path / "groups.json"

    def write(groups: dict[str, list[str]]) -> None:
        export.write_text(
            json.dumps(
                {
                    "Resources": [
                        {"displayName": name, "members": [{"display": e} for e in emails]}
                        for name, emails in groups.items()
                    ]
                }
            )
        )

    write({"Payments": users[:2], "Search": users[2:]})
    r = cli(
        home,
        "allocation",
        "import",
        "--format",
        "scim",
        str(export),
        "--dimension",
        "team",
        "--valid-from",
        "2026-11-01",
    )
    assert r.exit_code == 0, r.output
    write({"Payments": users[:1]})
    r = cli(
        home,
        "allocation",
        "import",
        "--format",
        "scim",
        str(export),
        "--dimension",
        "team",
        "--valid-from",
        "2026-11-10",
    )
    assert r.exit_code == 0, r.output
    assert "2 members no longer listed ended" in r.output
    rows = read(
        make_settings(home),
        "SELECT subject, value, valid_from, valid_to FROM spendscope.allocation_mappings "
        "ORDER BY subject",
    )
    assert rows == [
        (users[0], "Payments", date(2026, 11, 1), None),
        (users[1], "Payments", date(2026, 11, 1), date(2026, 11, 10)),
        (users[2], "Search", date(2026, 11, 1), date(2026, 11, 10)),
    ]
    spend = read(
        make_settings(home),
        "SELECT a.value, a.day >= DATE '2026-11-10', count(*) FROM spendscope.allocation a "
        "JOIN spendscope.spend s ON s.row_key = a.row_key WHERE lower(s.user_email) = ? "
        "AND a.day >= DATE '2026-11-01' GROUP BY ALL",
        users[1].lower(),
    )
    assert {(v, after) for v, after, _ in spend} <= {("Payments", False), ("Unallocated", True)}


@pytest.mark.slow
def test_a_sync_killed_while_allocating_recovers_exactly(
    synced: Settings, simulator: RunningSimulator, tmp_path: Path
) -> None:
    """A sync of the Console connection reloads its recent days, so it re-allocates them: the
    process is killed there, and the next sync leaves the allocation exact."""
    settings = copy_home(synced, tmp_path / "home", base_url=simulator.url)
    # The CLI reads its settings from the home: no rate limit, the test's backfill window.
    (settings.home / "settings.toml").write_text(
        "console_backfill_days = 40\nenterprise_backfill_days = 40\nanalytics_rpm = 0\n"
    )
    wh = Warehouse(settings)
    try:
        initialize(wh)
        install_rules(
            wh,
            GROUPS,
            source="g.toml",
            effective=date(2026, 10, 1),
            today=NOW.date(),
            backfill_from=date(2026, 10, 1),
        )
        refresh_allocation(wh)
    finally:
        wh.close()
    args = ["sync", "--connection", "acme-console", "--home", str(settings.home)]
    killed = forked.run(args, {**ENV, FAULT_ENV: "allocation:1"}, drop=(FAULT_ENV, TRACE_ENV))
    assert killed.returncode == FAULT_EXIT_CODE, killed.output
    done = forked.run(args, ENV, drop=(FAULT_ENV, TRACE_ENV))
    assert done.returncode == 0, done.output
    per_day = read(
        settings,
        "SELECT a.connection_label, a.day, sum(a.billed_cost) FROM spendscope.allocation a "
        "GROUP BY ALL ORDER BY ALL",
    )
    bill = read(
        settings,
        "SELECT connection_label, CAST(charge_period_start AS DATE), sum(billed_cost) "
        "FROM spendscope.spend GROUP BY ALL ORDER BY ALL",
    )
    assert per_day == bill
    assert max(r[1] for r in per_day) == NOW.date()
