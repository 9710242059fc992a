"""Exports cannot attack their reader: upstream names that are spreadsheet formulas come out of
every CSV path neutralised, terminal escapes never reach a CLI table, JSON escapes them.

The names travel the real way: the simulator serves workspaces and API keys renamed to hostile
strings, spendscope syncs them into a warehouse, and the outputs are read back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hostile_world import (
    FORMULAS,
    TERMINAL,
    WORKSPACES,
    hostile_simulator,
    local_client,
    synced_home,
)
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.output import FORMULA_STARTS, clean, csv_cell, csv_text, render

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
SINCE, UNTIL = "2026-11-10", "2026-11-23"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with hostile_simulator() as running:
        yield synced_home(tmp_path_factory.mktemp("hostile"), running)


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_neutral(rows: list[list[str]]) -> None:
    """Every row whole (a CR or LF in a name never splits it), and no cell a spreadsheet would
    run: each starts harmlessly or is a plain number."""
    for row in rows:
        assert len(row) == len(rows[0]), row
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or NUMBER.fullmatch(cell), (cell, row)


def expected_shown(name: str) -> str:
    return "'" + name


# -- the rule itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '=HYPERLINK("http://evil.example","click")',
            '\'=HYPERLINK("http://evil.example","click")',
        ),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\nx", "'\nx"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("-1e-5", "-1e-5"),
        ("-", "'-"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (-12, -12),
    ],
)
def test_csv_cell_prefixes_formulas_but_not_numbers(value: Any, expected: Any) -> None:
    assert csv_cell(value) == expected


def test_csv_text_round_trips_through_a_csv_reader() -> None:
    text = csv_text(["name", "cost"], [['=1+1,"x"', "-3.50"], ["\r\nline", 4]])
    assert cells(text) == [["name", "cost"], ['\'=1+1,"x"', "-3.50"], ["'\r\nline", "4"]]


def test_clean_strips_terminal_controls() -> None:
    assert clean("\x1b]0;pwned\x07title") == "title"
    assert clean("\x1b[31mred\x1b[0m \x9b2Jx \x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\") == (
        "red x link"
    )
    assert clean("a\x00b\x7fc\x85d\u202ee\tf\ng") == "abcde f g"
    assert clean("naïve — ok") == "naïve — ok"


# -- every CSV path -----------------------------------------------------------------------------


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_explore_csv_neutralises_hostile_names(hostile: Settings) -> None:
    with local_client(hostile) as client:
        seen: set[str] = set()
        for dim in ("workspace", "api_key", "project"):
            r = client.get(
                "/api/v1/explore.csv",
                params={"group_by": dim, "since": SINCE, "until": UNTIL, "limit": 100},
            )
            assert r.status_code == 200, r.text
            rows = cells(r.text)
            assert rows[0] == ["period", "key", "label", "cost"]
            assert_neutral(rows)
            seen |= {row[2] for row in rows[1:]}
    workspaces = {FORMULAS[w] for w in WORKSPACES}
    keys = {v for k, v in FORMULAS.items() if k not in WORKSPACES}
    assert {expected_shown(n) for n in workspaces | keys} <= seen
    assert not ({*workspaces, *keys} & seen)


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_report_csv_neutralises_hostile_names(hostile: Settings) -> None:
    out = CliRunner().invoke(
        main,
        ["report", "--by", "workspace,api_key", "--csv", "--home", str(hostile.home)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    rows = cells(out.stdout)
    assert rows[0] == ["workspace", "api_key", "cost"]
    assert_neutral(rows)
    shown = {c for row in rows[1:] for c in row[:2]}
    assert {expected_shown(n) for n in FORMULAS.values()} <= shown


def test_render_csv_keeps_numbers_and_neutralises_text() -> None:
    text = render([{"name": "@x", "n": -5, "cost": "-12.50"}], ["name", "n", "cost"], "csv")
    assert cells(text) == [["name", "n", "cost"], ["'@x", "-5", "-12.50"]]


# -- tables and JSON ----------------------------------------------------------------------------


def _report(home: Path, fmt: str) -> str:
    out = CliRunner().invoke(
        main,
        ["report", "--by", "api_key", f"--{fmt}", "--home", str(home)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    return out.stdout


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_report_table_strips_terminal_escapes(hostile: Settings) -> None:
    table = _report(hostile.home, "table")
    assert "title red" in table  # the name, without its escape sequences
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", table)
    # the hostile tab / CR names show as one line each, their control characters gone
    assert "leading tab=1+1" in table
    assert "leading cr=1+1" in table


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_report_json_escapes_control_characters(hostile: Settings) -> None:
    text = _report(hostile.home, "json")
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\u001b]0;pwned\\u0007" in text
    names = {r["api_key"] for r in json.loads(text)}
    assert set(TERMINAL.values()) <= names  # exact value, escaped only in transit


def test_render_table_strips_controls_in_every_column() -> None:
    text = render([{"a": "\x1b[2Jx", "b\x1b": 1}], ["a", "b\x1b"])
    assert "\x1b" not in text
    assert text.splitlines()[0].split() == ["a", "b"]


def test_simulator_renames_are_checked_and_fixed_at_start() -> None:
    from conftest import NOW
    from spendscope.simulator.state import SimConfig
    from spendscope.simulator.world_generation import build_world

    world = build_world(42, NOW, renames=["Research=@x", "ana.tanaka@acme.example=a@b.example"])
    assert "@x" in {w.name for w in world.console.workspaces}
    assert "a@b.example" in {u.email for u in world.enterprise.users}
    with pytest.raises(ValueError, match="nothing is called 'no such thing'"):
        build_world(42, NOW, renames=["no such thing=x"])
    with pytest.raises(ValueError, match="renames cannot change while running"):
        SimConfig().update({"renames": ["Research=x"]})
