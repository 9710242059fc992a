"""CLI tables are written for people, as the dashboard writes them: money as "$1,234.57",
counts as "12,345", a missing value as "—". `--json` and `--csv` keep every digit. And the demo
(`spendscope.demo.run_demo`, then `spendscope demo`) prints its summary the same way."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import NOW
from spendscope.cli import main
from spendscope.config import load_settings
from spendscope.demo import CONSOLE_LABEL, ENTERPRISE_LABEL, SummaryTable, run_demo
from spendscope.money import MISSING, count, dollars
from spendscope.output import COUNT, MONEY, render
from spendscope.reporting.catalog import Scope
from spendscope.reporting.queries import totals
from spendscope.warehouse.connection import Warehouse

MASTER = "cli-output-master-key"
ENV = {"SPENDSCOPE_SECRET_KEY": MASTER, "SPENDSCOPE_NOW": NOW.isoformat()}
# More than two decimals: an amount that was not rounded for people.
UNROUNDED = re.compile(r"\d\.\d{3,}")


# -- the renderer -------------------------------------------------------------------------------

ROWS = [
    {"name": "big", "cost": "1234.5678", "tokens": 1234567, "note": None},
    {"name": "refund", "cost": "-3", "tokens": 0, "note": "=1+1"},
    {"name": "unknown", "cost": None, "tokens": None, "note": "x"},
]
COLUMNS = ["name", "cost", "tokens", "note"]
KINDS: dict[str, Any] = {"cost": MONEY, "tokens": COUNT}


def test_table_writes_money_and_counts_for_people() -> None:
    lines = render(ROWS, COLUMNS, kinds=KINDS).splitlines()
    assert lines[0].split() == COLUMNS
    assert lines[2].split() == ["big", "$1,234.57", "1,234,567", MISSING]
    assert lines[3].split() == ["refund", "-$3.00", "0", "=1+1"]
    assert lines[4].split() == ["unknown", MISSING, MISSING, "x"]
    # Money and counts align right, under the right end of their heading.
    for heading in ("cost", "tokens"):
        end = lines[0].index(heading) + len(heading)
        assert all(line[end - 1] != " " and line[end : end + 1] in ("", " ") for line in lines)


def test_json_and_csv_keep_exact_values() -> None:
    assert json.loads(render(ROWS, COLUMNS, "json", kinds=KINDS)) == ROWS
    text = render(ROWS, COLUMNS, "csv", kinds=KINDS)
    assert text.splitlines() == [
        "name,cost,tokens,note",
        "big,1234.5678,1234567,",
        "refund,-3,0,'=1+1",
        "unknown,,,x",
    ]


def test_without_kinds_integers_are_counts_and_text_stays_text() -> None:
    lines = render(ROWS, COLUMNS).splitlines()
    assert lines[2].split() == ["big", "1234.5678", "1,234,567", MISSING]


# -- the demo, as a library ----------------------------------------------------------------------


@dataclass
class Demo:
    home: Path
    summary: list[SummaryTable]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo home: the simulator's two organizations, two days backfilled at NOW."""
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDSCOPE_SECRET_KEY", MASTER)
        steps: list[str] = []
        with run_demo(home, port=0, days=2, now=NOW, on_step=steps.append) as result:
            assert result.connected == [
                (CONSOLE_LABEL, "Acme Platform"),
                (ENTERPRISE_LABEL, "Acme Enterprise"),
            ]
            assert [r.label for r in result.reports] == [CONSOLE_LABEL, ENTERPRISE_LABEL]
            assert not [r.error for r in result.reports if r.error]
            assert all(r.rows > 0 for r in result.reports)
            assert result.month == NOW.date().replace(day=1)
            assert steps[0].startswith(f"simulator on {result.simulator.url}")
            url = result.simulator.url
        yield Demo(home, result.summary)
    # Closing the result stopped the simulator.
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(2)
        with pytest.raises(ConnectionRefusedError):
            s.connect((host, int(port)))


def test_run_demo_summarizes_the_month_by_connection_model_and_more(demo: Demo) -> None:
    by = {t.columns[0]: t for t in demo.summary}
    assert list(by) == ["connection", "model", "workspace", "api_key", "user", "product", "team"]
    assert {r["connection"] for r in by["connection"].rows} == {CONSOLE_LABEL, ENTERPRISE_LABEL}
    for table in demo.summary:
        assert table.columns[-1] == table.metric == "cost"
        assert 0 < len(table.rows) <= 5
        costs = [Decimal(r["cost"]) for r in table.rows]
        assert costs == sorted(costs, reverse=True)
    # The tables read what the warehouse holds (and the result closed it: it opens again).
    wh = Warehouse(load_settings(home=demo.home, env={"SPENDSCOPE_SECRET_KEY": MASTER}))
    try:
        first = NOW.date().replace(day=1)
        month = Scope(first, NOW.date().replace(day=23))
        _, rows = totals(wh, "cost", month, ["connection"])
        _, teams = totals(wh, "cost", month, ["team"])
    finally:
        wh.close()
    assert rows == by["connection"].rows
    # The sample allocation is installed (files in the home) and adds up to the bill.
    assert (demo.home / "allocation" / "rules.toml").is_file()
    assert (demo.home / "allocation" / "teams.csv").is_file()
    assert sum(Decimal(r["cost"]) for r in teams) == sum(Decimal(r["cost"]) for r in rows)
    assert {"payments", "search", "Unallocated"} <= {r["team"] for r in teams}


# -- the commands -------------------------------------------------------------------------------


def cli(home: Path, *args: str) -> str:
    r = CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)
    assert r.exit_code == 0, r.output
    return r.stdout


def table_rows(text: str) -> list[list[str]]:
    """The cells of a table's rows (after its header and rule), split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[2:]]


def test_report_table_shows_money_as_the_json_amount_in_dollars(demo: Demo) -> None:
    args = ("report", "--by", "api_key", "--connection", CONSOLE_LABEL)
    exact = json.loads(cli(demo.home, *args, "--json"))
    table = cli(demo.home, *args)
    assert not UNROUNDED.search(table)
    expected = [[r["api_key"] or MISSING, dollars(r["cost"])] for r in exact]
    assert table_rows(table) == expected
    assert any(r["api_key"] is None for r in exact)  # usage without a key shows as "—"
    assert any(UNROUNDED.search(r["cost"]) for r in exact)  # JSON keeps every digit


def test_report_json_and_csv_hold_the_warehouse_values_exactly(demo: Demo) -> None:
    args = ("report", "--by", "model", "--since", "2026-11-01", "--until", "2026-11-23")
    exact = json.loads(cli(demo.home, *args, "--json"))
    wh = Warehouse(load_settings(home=demo.home, env={"SPENDSCOPE_SECRET_KEY": MASTER}))
    try:
        first, end = NOW.date().replace(day=1), NOW.date().replace(day=23)
        _, rows = totals(wh, "cost", Scope(first, end), ["model"])
    finally:
        wh.close()
    assert exact == rows
    listed = list(csv.DictReader(io.StringIO(cli(demo.home, *args, "--csv"), newline="")))
    assert listed == [{"model": r["model"] or "", "cost": r["cost"]} for r in rows]


def test_report_table_shows_counts_with_thousands_separators(demo: Demo) -> None:
    args = ("report", "--metric", "tokens", "--by", "connection")
    exact = json.loads(cli(demo.home, *args, "--json"))
    assert all(isinstance(r["tokens"], int) for r in exact)
    assert any(r["tokens"] >= 1000 for r in exact)
    table = cli(demo.home, *args)
    assert table_rows(table) == [[r["connection"], count(r["tokens"])] for r in exact]
    assert "$" not in table


def test_status_and_sync_tables_use_counts_and_the_missing_mark(demo: Demo) -> None:
    exact = {r["connection"]: r for r in json.loads(cli(demo.home, "status", "--json"))}
    table = cli(demo.home, "status", "--events", "0")
    for cells in table_rows(table):
        row = exact[cells[0]]
        assert cells[5:] == [count(row["rows"]), count(row["rejected"]), MISSING]
        assert row["last_error"] is None


def test_demo_command_prints_the_summary_in_dollars(tmp_path: Path) -> None:
    port = free_port()
    r = CliRunner().invoke(
        main,
        [
            "demo",
            "--home",
            str(tmp_path / "demo"),
            "--port",
            str(port),
            "--days",
            "2",
            "--no-serve",
        ],
        env=ENV,
    )
    assert r.exit_code == 0, r.output
    assert f"simulator on http://127.0.0.1:{port}" in r.stderr
    assert "Month to date (November 2026, double-booked spend counted once)" in r.stdout
    assert not UNROUNDED.search(r.stdout)
    by_connection = r.stdout.split("By connection\n", 1)[1].split("\n\n", 1)[0]
    cells = table_rows(by_connection)
    assert {c[0] for c in cells} == {CONSOLE_LABEL, ENTERPRISE_LABEL}
    assert all(re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d", c[1]) for c in cells)
    assert f"{MISSING}  " in r.stdout.split("Top API keys", 1)[1]


def test_demo_command_says_which_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = CliRunner().invoke(
            main,
            ["demo", "--home", str(tmp_path / "demo"), "--port", str(port), "--no-serve"],
            env=ENV,
        )
    assert r.exit_code == 1
    assert f"cannot start the simulator on port {port}" in r.output
    assert "(try --port)" in r.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
