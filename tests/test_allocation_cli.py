"""`spendscope allocation …` on its own (no `serve`): the mappings in force on a day, a SCIM
import whose `--priority` decides a member of two groups, the rules' `rbac_group` test deciding a
value from the day a user joins a group, and `explain` finding every subject type by id or
name."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import NOW, copy_home, make_settings
from spendscope.allocation import readers
from spendscope.allocation.model import parse_mappings_csv
from spendscope.allocation.store import import_mappings
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.refresh import initialize
from spendscope.warehouse.connection import Warehouse

ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
HEADER = "subject_type,subject,dimension,value,valid_from,valid_to\n"


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def ok(home: Path, *args: str) -> str:
    r = cli(home, *args)
    assert r.exit_code == 0, r.output
    return r.stdout


def read(home: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    wh = Warehouse(make_settings(home))
    try:
        initialize(wh)
        return wh.read(sql, *params)
    finally:
        wh.close()


# -- mappings --as-of -------------------------------------------------------------------------


def test_mappings_as_of_lists_those_in_force_that_day(tmp_path: Path) -> None:
    home = tmp_path / "home"
    csv = tmp_path / "teams.csv"
    csv.write_text(
        HEADER
        + "workspace,Ended,team,a,2026-11-01,2026-11-10\n"  # ends before the day
        + "workspace,EndsThatDay,team,b,2026-11-05,2026-11-15\n"  # valid_to is exclusive
        + "workspace,Open,team,c,2026-11-01,\n"
        + "workspace,StartsThatDay,team,d,2026-11-15,2026-11-20\n"
        + "workspace,Later,team,e,2026-11-16,\n"  # starts after the day
        + "workspace,Open,cost_center,CC-1,2026-11-01,\n"
    )
    assert (
        ok(home, "allocation", "import", str(csv))
        == "imported 6 mappings from teams.csv (change 1)\n"
    )

    def listed(*args: str) -> list[tuple[str, str, str]]:
        rows = json.loads(ok(home, "allocation", "mappings", "--json", *args))
        return [(m["subject"], m["dimension"], m["value"]) for m in rows]

    assert listed("--as-of", "2026-11-15") == [
        ("Open", "cost_center", "CC-1"),
        ("Open", "team", "c"),
        ("StartsThatDay", "team", "d"),
    ]
    assert listed("--as-of", "2026-11-15", "--dimension", "team") == [
        ("Open", "team", "c"),
        ("StartsThatDay", "team", "d"),
    ]
    assert listed("--as-of", "2026-11-14", "--dimension", "team") == [
        ("EndsThatDay", "team", "b"),
        ("Open", "team", "c"),
    ]
    assert len(listed()) == 6  # without --as-of: every mapping stored
    table = ok(home, "allocation", "mappings", "--as-of", "2026-11-15")
    assert "StartsThatDay" in table
    assert not {"Ended", "EndsThatDay", "Later"} & set(table.split())


# -- SCIM with --priority ---------------------------------------------------------------------


def _users_with_spend(home: Path, n: int) -> list[str]:
    """`n` enterprise users with spend on most days of November, by e-mail."""
    rows = read(
        home,
        "SELECT u.email FROM spendscope.org_users u JOIN spendscope.spend s "
        "ON s.connection_label = u.connection_label AND s.user_id = u.id "
        "WHERE s.charge_period_start >= TIMESTAMPTZ '2026-11-01 00:00:00+00' "
        "GROUP BY u.email HAVING count(DISTINCT CAST(s.charge_period_start AS DATE)) >= 10 "
        "ORDER BY u.email LIMIT ?",
        n,
    )
    assert len(rows) == n
    return [r[0] for r in rows]


def _values(home: Path, email: str, dimension: str) -> set[tuple[str, str]]:
    """(value, method) of a user's allocated spend from 2026-11-01."""
    rows = read(
        home,
        "SELECT DISTINCT a.value, a.method FROM spendscope.allocation a "
        "JOIN spendscope.spend s ON s.row_key = a.row_key "
        "WHERE lower(s.user_email) = lower(?) AND a.dimension = ? "
        "AND a.day >= DATE '2026-11-01'",
        email,
        dimension,
    )
    return {(r[0], r[1]) for r in rows}


def test_a_scim_member_of_two_groups_takes_the_first_in_priority(
    synced: Settings, tmp_path: Path
) -> None:
    home = copy_home(synced, tmp_path / "home").home
    ana, bo, cy = _users_with_spend(home, 3)
    export = tmp_path / "groups.json"
    export.write_text(
        json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "Resources": [
                    {"displayName": "Payments", "members": [{"display": ana}, {"display": bo}]},
                    {"displayName": "Search", "members": [{"display": bo}, {"display": cy}]},
                ],
            }
        )
    )
    scim = ("allocation", "import", "--format", "scim", str(export), "--dimension", "team")
    start = ("--valid-from", "2026-11-01")

    refused = cli(home, *scim, *start)
    assert refused.exit_code != 0
    assert f"{bo} is in several groups (Payments, Search)" in refused.stderr
    assert "--priority" in refused.stderr
    assert read(home, "SELECT count(*) FROM spendscope.allocation_mappings") == [(0,)]

    said = ok(home, *scim, *start, "--priority", "Search,Payments")
    assert said == "imported 3 mappings from groups.json (change 1)\n"
    mappings = json.loads(ok(home, "allocation", "mappings", "--json", "--as-of", "2026-11-20"))
    assert sorted((m["subject"], m["value"], m["source"]) for m in mappings) == sorted(
        [
            (ana, "Payments", "scim groups.json group Payments"),
            (bo, "Search", "scim groups.json group Search"),
            (cy, "Search", "scim groups.json group Search"),
        ]
    )
    assert _values(home, bo, "team") == {("Search", "mapping")}
    assert _values(home, ana, "team") == {("Payments", "mapping")}

    # The same export with the other priority: the member of both moves, the others stay.
    said = ok(home, *scim, *start, "--priority", "payments")
    assert said.startswith("imported 3 mappings from groups.json (change 2)"), said
    assert _values(home, bo, "team") == {("Payments", "mapping")}
    assert _values(home, cy, "team") == {("Search", "mapping")}
    stored = read(
        home,
        "SELECT value, valid_from, valid_to FROM spendscope.allocation_mappings "
        "WHERE lower(subject) = lower(?)",
        bo,
    )
    assert stored == [("Payments", date(2026, 11, 1), None)]


# -- the rules' rbac_group test ---------------------------------------------------------------


def _joined_mid_window(home: Path) -> tuple[str, str, str, date]:
    """A user who joined one group (their only membership of it) on a day with spend before
    and after it: (e-mail, group id, group name, the day they joined)."""
    rows = read(
        home,
        """SELECT u.email, g.id, g.name, m.valid_from
        FROM spendscope.rbac_membership m
        JOIN spendscope.org_users u ON u.connection_label = m.connection_label AND u.id = m.user_id
        JOIN spendscope.rbac_groups g
            ON g.connection_label = m.connection_label AND g.id = m.rbac_group_id
        WHERE m.valid_to IS NULL AND m.valid_from > DATE '2026-10-05'
            AND m.valid_from < DATE '2026-11-15'
            AND (SELECT count(*) FROM spendscope.rbac_membership o
                 WHERE o.user_id = m.user_id AND o.rbac_group_id = m.rbac_group_id) = 1
            AND EXISTS (SELECT 1 FROM spendscope.spend s WHERE s.user_id = m.user_id
                AND CAST(s.charge_period_start AS DATE) < m.valid_from - 2)
            AND EXISTS (SELECT 1 FROM spendscope.spend s WHERE s.user_id = m.user_id
                AND CAST(s.charge_period_start AS DATE) > m.valid_from + 2)
        ORDER BY m.valid_from, u.email LIMIT 1""",
    )
    assert rows, "the simulator's memberships change over the backfill"
    email, gid, name, joined = rows[0]
    return email, gid, name, joined


def test_a_rule_on_rbac_group_decides_from_the_day_the_user_joins(
    synced: Settings, tmp_path: Path
) -> None:
    home = copy_home(synced, tmp_path / "home").home
    email, gid, name, joined = _joined_mid_window(home)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        f"""
[dimensions.team]

[[dimensions.team.rules]]
id = "by-name"
when = {{ rbac_group = {{ equals = "{name.upper()}" }} }}
value = "joined"

[dimensions.cost_center]

[[dimensions.cost_center.rules]]
id = "by-id"
when = {{ rbac_group = {{ in = ["{gid}"] }} }}
value = "CC-{name}"
"""
    )
    ok(
        home,
        "allocation",
        "rules",
        "set",
        str(rules),
        "--effective",
        "2026-10-01",
        "--backfill-from",
        "2026-10-01",
    )
    rows = read(
        home,
        "SELECT a.dimension, a.day >= ?, a.value, a.rule_id "
        "FROM spendscope.allocation a JOIN spendscope.spend s ON s.row_key = a.row_key "
        "WHERE lower(s.user_email) = lower(?) AND a.day >= DATE '2026-10-01' GROUP BY ALL",
        joined,
        email,
    )
    seen = set(rows)
    # by name (case ignored) and by id: the value from the day the membership starts, and the
    # default before it
    assert seen == {
        ("team", False, "Unallocated", None),
        ("team", True, "joined", "by-name"),
        ("cost_center", False, "Unallocated", None),
        ("cost_center", True, f"CC-{name}", "by-id"),
    }
    explained = json.loads(
        ok(home, "allocation", "explain", "user", email, "--date", joined.isoformat(), "--json")
    )
    team = [r for r in explained if r["dimension"] == "team"]
    assert [(r["value"], r["method"]) for r in team] == [("joined", "rule")]
    assert "rule 'by-name' of rules version 1" in team[0]["decided_by"]


# -- explain finds every subject type ---------------------------------------------------------

SUBJECTS = {
    "api_key": "SELECT connection_label, id, name FROM spendscope.api_keys",
    "service_account": "SELECT connection_label, id, name FROM spendscope.service_accounts",
    "user": "SELECT connection_label, id, email FROM spendscope.org_users",
    "rbac_group": "SELECT connection_label, id, name FROM spendscope.rbac_groups",
    "workspace": "SELECT connection_label, id, name FROM spendscope.workspaces",
    "connection": "SELECT connection_label, connection_label, connection_label "
    "FROM spendscope.connections",
}


def _listed(home: Path) -> dict[str, tuple[str, str, str]]:
    """For each subject type, one subject the lists hold: (connection, id, name)."""
    out = {}
    for subject_type, sql in SUBJECTS.items():
        rows = [r for r in read(home, sql) if r[2]]
        out[subject_type] = min(rows, key=lambda r: (r[2], r[0]))
    return out


@pytest.fixture(scope="module")
def mapped(
    synced: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, dict[str, tuple[str, str, str]]]:
    """A copy of the synced home with one `team` mapping per subject type, by the subject's
    name, to the subject type as the value."""
    settings = copy_home(synced, tmp_path_factory.mktemp("mapped"))
    wh = Warehouse(settings)
    try:  # the simulator's organizations have no service account: one, as a sync stores it
        initialize(wh)
        with wh.transaction() as cur:
            cur.execute(
                "INSERT INTO spendscope.service_accounts (row_key, connection_label, id, name, "
                "fetched_at) VALUES ('svac-test', 'acme-console', 'svac_01Test', 'Nightly-Bot', ?)",
                [NOW],
            )
    finally:
        wh.close()
    listed = _listed(settings.home)
    csv = HEADER + "".join(
        f"{subject_type},{name},team,{subject_type},2026-11-01,\n"
        for subject_type, (_, _, name) in listed.items()
    )
    wh = Warehouse(settings)
    try:
        initialize(wh)
        mappings = parse_mappings_csv(csv, "subjects.csv")
        import_mappings(wh, mappings, source="subjects.csv", today=NOW.date())
    finally:
        wh.close()
    return settings, listed


@pytest.mark.parametrize("subject_type", list(SUBJECTS))
def test_explain_finds_each_subject_type_by_id_or_name(
    mapped: tuple[Settings, dict[str, tuple[str, str, str]]], subject_type: str
) -> None:
    settings, listed = mapped
    conn, ident, name = listed[subject_type]
    day = date(2026, 11, 20)
    wh = Warehouse(settings)
    try:
        for subject in (ident, name.upper(), f"  {name} "):
            rows = [
                r
                for r in readers.explain(wh, subject_type, subject, day)
                if r["dimension"] == "team"
            ]
            assert conn in {r["connection"] for r in rows}, subject
            assert {(r["found"], r["value"], r["method"]) for r in rows} == {
                (True, subject_type, "mapping")
            }, subject
        missing = readers.explain(wh, subject_type, "no-such-subject", day)
        assert {(r["connection"], r["found"], r["method"]) for r in missing} == {
            (None, False, "default")
        }
    finally:
        wh.close()
