"""The allocation endpoints over a warehouse synced from the simulator and served by uvicorn:
the same figures as `spendscope.allocation.readers`, bad input refused whole (a 400 naming the
line, nothing applied), closed months changed only with `backfill_from`, changes refused from
another site and while a sync runs, the allocation dimensions in /meta and in the Explorer's
questions, and `spendscope allocation …` through a running `serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import NOW, copy_home
from serving import Serve
from spendscope.allocation import readers
from spendscope.allocation.model import parse_mappings_csv
from spendscope.allocation.store import import_mappings, install_rules
from spendscope.config import Settings
from spendscope.refresh import initialize, refresh_allocation
from spendscope.warehouse.connection import Warehouse
from test_serve_reads import run

TODAY = NOW.date()  # 2026-11-22: October is a closed month
START = date(2026, 10, 1)
RULES = """
[dimensions.team]

[[dimensions.team.rules]]
id = "key-name"
when = { api_key_name = { regex = "^team-([a-z]+)-" } }
value = "{1}"

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
connection,acme-enterprise,cost_center,CC-200,2026-10-01,
"""
BAD_CSV = """subject_type,subject,dimension,value,valid_from,valid_to
workspace,Research,team,research,2026-11-20,
api_key,team-search-ci,team,search,2026-11-31,
"""


def configure(settings: Settings) -> None:
    """Rules and mappings from October on, through the library, the allocation refreshed."""
    wh = Warehouse(settings)
    try:
        initialize(wh)
        install_rules(
            wh, RULES, source="rules.toml", effective=START, today=TODAY, backfill_from=START
        )
        mappings = parse_mappings_csv(MAPPINGS, "teams.csv")
        import_mappings(wh, mappings, source="teams.csv", today=TODAY, backfill_from=START)
        refresh_allocation(wh)
    finally:
        wh.close()


class Board:
    """The served app, a client, and the warehouse the app holds (read directly)."""

    def __init__(self, url: str, warehouse: Warehouse, state: Any) -> None:
        self.url = url
        self.wh = warehouse
        self.state = state
        self.http = httpx.Client(base_url=url, timeout=60)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params or None)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def board(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    from benchmarks.background import BackgroundServer

    from spendscope.web.app import create_app

    settings = copy_home(synced, tmp_path_factory.mktemp("web-allocation"))
    configure(settings)
    app = create_app(settings, now=lambda: NOW)
    with BackgroundServer(app) as url:
        state = app.state.spendscope
        b = Board(url, state.warehouse, state)
        try:
            yield b
        finally:
            b.http.close()


def snapshot(wh: Warehouse) -> tuple[Any, ...]:
    """Everything an allocation change could touch: configuration, log and allocated rows."""
    return (
        readers.mappings_in_force(wh),
        readers.versions(wh),
        wh.read("SELECT count(*), max(change_id) FROM spendscope.allocation_log"),
        wh.read(
            "SELECT dimension, value, count(*), sum(billed_nc) FROM spendscope.allocation_rows "
            "GROUP BY ALL ORDER BY ALL"
        ),
    )


# -- reads ----------------------------------------------------------------------------------------


def test_meta_lists_the_allocation_dimensions_after_the_built_in_ones(board: Board) -> None:
    dims = board.get("/api/v1/meta")["dimensions"]
    allocated = [d for d in dims if d["allocation"]]
    assert allocated == [
        {"name": "cost_center", "label": "Cost center", "allocation": True},
        {"name": "team", "label": "Team", "allocation": True},
    ]
    assert dims[-2:] == allocated
    assert {"workspace", "api_key", "model"} <= {d["name"] for d in dims if not d["allocation"]}


def test_coverage_equals_the_library(board: Board) -> None:
    everything = board.get("/api/v1/allocation/coverage")
    assert everything["months"] == readers.coverage(board.wh, date(2000, 1, 1), date(2100, 1, 1))
    assert {m["dimension"] for m in everything["months"]} == {"team", "cost_center"}
    for m in everything["months"]:
        assert Decimal(m["allocated"]) + Decimal(m["unallocated"]) == Decimal(m["total"])
    team = board.get(
        "/api/v1/allocation/coverage", since="2026-10-24", until="2026-11-23", dimension="team"
    )
    assert team["months"] == readers.coverage(
        board.wh, date(2026, 10, 24), date(2026, 11, 23), "team"
    )
    assert [m["month"] for m in team["months"]] == ["2026-10", "2026-11"]
    # some spend matches nothing, and says why
    reasons = [r for m in team["months"] for r in m["unallocated_by_reason"]]
    assert reasons
    assert all(r["label"] and Decimal(r["cost"]) > 0 for r in reasons)
    # the month totals are the bill of those days
    explored = board.get(
        "/api/v1/explore", metric="cost", since="2026-10-24", until="2026-11-23", group_by=""
    )
    assert sum(Decimal(m["total"]) for m in team["months"]) == Decimal(explored["total"])


def test_explain_mappings_and_rules_equal_the_library(board: Board) -> None:
    day = date(2026, 11, 20)
    explained = board.get(
        "/api/v1/allocation/explain",
        subject_type="workspace",
        subject="Research",
        date="2026-11-20",
    )
    assert explained["rows"] == readers.explain(board.wh, "workspace", "Research", day)
    assert any(r["method"] == "mapping" and r["value"] == "research" for r in explained["rows"])
    in_force = board.get("/api/v1/allocation/mappings", as_of="2026-11-20", dimension="team")
    assert in_force["mappings"] == readers.mappings_in_force(board.wh, day, "team")
    assert [m["subject"] for m in in_force["mappings"]] == ["Research"]
    every = board.get("/api/v1/allocation/mappings")["mappings"]
    assert every == readers.mappings_in_force(board.wh)

    rules = board.get("/api/v1/allocation/rules", as_of="2026-11-20")
    library = readers.rules_in_force(board.wh, day)
    assert library is not None
    current = rules["in_force"]
    # times are written the API's way (UTC as Z); the same instant
    assert datetime.fromisoformat(current.pop("installed_at")) == datetime.fromisoformat(
        library.pop("installed_at")
    )
    assert current == library
    assert [v["version"] for v in rules["versions"]] == [
        v["version"] for v in readers.versions(board.wh)
    ]
    assert board.get("/api/v1/allocation/rules", as_of="2026-09-30")["in_force"] is None


def test_the_explorer_questions_take_an_allocation_dimension(board: Board) -> None:
    span = {"metric": "cost", "since": "2026-11-01", "until": "2026-11-23"}
    by_team = board.get("/api/v1/explore", group_by="team", limit=100, **span)
    total = board.get("/api/v1/explore", group_by="", **span)
    assert by_team["total"] == total["total"]  # every dollar lands once
    labels = {g["label"] for g in by_team["groups"]}
    assert {"research", "payments", "search", "growth"} <= labels
    values = board.get("/api/v1/dimensions/team/values", **span)["values"]
    assert {v["key"] for v in values} == {g["key"] for g in by_team["groups"]}
    filtered = board.get("/api/v1/explore", group_by="model", filter="team:research", **span)
    research = next(g for g in by_team["groups"] if g["key"] == "research")
    assert filtered["total"] == research["total"]


BAD_QUESTIONS = [
    ("coverage", {"since": "2026-02-30"}, "since '2026-02-30' is not a date"),
    ("explain", {"subject_type": "user", "subject": "x", "date": "1999-12-31"}, "2000-01-01 to"),
    ("explain", {"subject_type": "team", "subject": "x"}, "subject type 'team' is not one of"),
    ("mappings", {"as_of": "tomorrow"}, "as_of 'tomorrow' is not a date"),
    ("rules", {"as_of": "2100-01-02"}, "out of range"),
    ("coverage", {"since": "2026-11-02", "until": "2026-11-01"}, "is not before until"),
]


@pytest.mark.parametrize(("path", "params", "message"), BAD_QUESTIONS)
def test_a_bad_question_is_a_400_saying_what_is_wrong(
    board: Board, path: str, params: dict[str, str], message: str
) -> None:
    r = board.http.get(f"/api/v1/allocation/{path}", params=params)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


# -- changes ----------------------------------------------------------------------------------


def post(board: Board, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return board.http.post(path, json=body, headers=headers)


def test_a_bad_csv_is_a_400_naming_the_line_and_changes_nothing(board: Board) -> None:
    before = snapshot(board.wh)
    r = post(board, "/api/v1/allocation/mappings", {"name": "teams.csv", "text": BAD_CSV})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith("teams.csv line 3: valid_from '2026-11-31' is not a date"), (
        error["message"]
    )
    assert "Nothing of teams.csv was imported" in error["message"]
    # a header that is not the mappings header, SCIM without a dimension, a bad backfill day
    for body, said in [
        ({"name": "x.csv", "text": "a,b\n1,2\n"}, "x.csv line 1: the header must be"),
        (
            {"format": "scim", "name": "g.json", "text": "[]", "dimension": " "},
            "A SCIM import needs a dimension (e.g. --dimension team).",
        ),
        (
            {"name": "t.csv", "text": MAPPINGS, "backfill_from": "2026-10-32"},
            "backfill_from '2026-10-32' is not a date",
        ),
    ]:
        r = post(board, "/api/v1/allocation/mappings", body)
        assert r.status_code == 400, r.text
        assert said in r.json()["error"]["message"]
    assert snapshot(board.wh) == before


def test_rules_in_a_closed_month_need_backfill_from(board: Board) -> None:
    before = snapshot(board.wh)
    body = {"name": "rules.toml", "toml": RULES, "effective": "2026-10-15"}
    r = post(board, "/api/v1/allocation/rules", body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert "closed month" in error["message"]
    assert "2026-10-15" in error["message"]
    assert "--backfill-from 2026-10-15" in error["hint"]
    # a mapping in October is refused the same way; broken TOML names the problem
    october = MAPPINGS.replace("2026-10-01", "2026-10-02")
    r = post(board, "/api/v1/allocation/mappings", {"name": "october.csv", "text": october})
    assert r.status_code == 400
    assert "closed month" in r.json()["error"]["message"]
    r = post(board, "/api/v1/allocation/rules", {"name": "bad.toml", "toml": "[dimensions.team"})
    assert r.status_code == 400
    assert "bad.toml" in r.json()["error"]["message"]
    assert snapshot(board.wh) == before


def test_changes_are_refused_from_another_site_and_while_a_sync_runs(board: Board) -> None:
    before = snapshot(board.wh)
    fine = {"name": "more.csv", "text": MAPPINGS.replace("2026-10-01", "2026-11-21")}
    r = post(board, "/api/v1/allocation/mappings", fine, origin="http://evil.example")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    r = post(board, "/api/v1/allocation/reallocate", {"backfill_from": "2026-11-01"}, host="evil")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "host_not_allowed"
    with board.state.sync.exclusive():  # as a running sync holds it
        for path, body in [
            ("/api/v1/allocation/mappings", fine),
            ("/api/v1/allocation/rules", {"name": "r.toml", "toml": RULES}),
            ("/api/v1/allocation/reallocate", {"backfill_from": "2026-11-01"}),
        ]:
            r = post(board, path, body)
            assert r.status_code == 409, (path, r.text)
            assert r.json()["error"]["code"] == "conflict"
    assert snapshot(board.wh) == before


def test_an_import_a_rules_version_and_a_reallocation_apply_and_refresh(board: Board) -> None:
    """Last in the file: it changes the configuration (the other tests compare live figures)."""
    csv = "subject_type,subject,dimension,value,valid_from,valid_to\n"
    csv += "api_key,team-search-ci,team,platform,2026-11-10,\n"
    r = post(board, "/api/v1/allocation/mappings", {"name": "moves.csv", "text": csv})
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["message"] == f"imported 1 mappings from moves.csv (change {done['change_id']})"
    assert done["rows"] == 1
    span = {"metric": "cost", "group_by": "team", "since": "2026-11-10", "until": "2026-11-23"}
    groups = {g["key"]: g for g in board.get("/api/v1/explore", **span, limit=100)["groups"]}
    assert Decimal(groups["platform"]["total"]) > 0  # allocated before the answer came
    explained = board.get(
        "/api/v1/allocation/explain", subject_type="api_key", subject="team-search-ci"
    )
    team = [row for row in explained["rows"] if row["dimension"] == "team"]
    assert [(row["value"], row["method"]) for row in team] == [("platform", "mapping")]

    r = post(board, "/api/v1/allocation/rules", {"name": "next.toml", "toml": RULES})
    assert r.status_code == 201, r.text
    installed = r.json()
    assert installed == {
        "message": f"installed rules version 2 (cost_center, team), effective {TODAY}",
        "version": 2,
        "effective_from": TODAY.isoformat(),
        "dimensions": ["cost_center", "team"],
    }
    assert board.get("/api/v1/allocation/rules")["in_force"]["version"] == 2

    r = post(board, "/api/v1/allocation/reallocate", {"backfill_from": "2026-10-05"})
    assert r.status_code == 200, r.text
    change = r.json()["change_id"]
    assert r.json()["message"] == f"re-allocated every day from 2026-10-05 (change {change})"
    logged = board.wh.read(
        "SELECT action, backfill_from FROM spendscope.allocation_log WHERE change_id = ?", change
    )
    assert logged == [("reallocate", date(2026, 10, 5))]


# -- the CLI while `serve` runs -----------------------------------------------------------------

READS = [
    ("allocation", "coverage"),
    ("allocation", "coverage", "--json"),
    ("allocation", "coverage", "--dimension", "team", "--since", "2026-11-01", "--csv"),
    ("allocation", "mappings"),
    ("allocation", "mappings", "--as-of", "2026-11-20", "--dimension", "team", "--json"),
    ("allocation", "explain", "api_key", "team-payments-prod", "--date", "2026-11-20"),
    ("allocation", "rules", "show"),
    ("allocation", "rules", "show", "--json"),
]
SCIM_WITHOUT_DIMENSION = "error: A SCIM import needs a dimension (e.g. --dimension team).\n"


def reads(home: Path) -> dict[tuple[str, ...], str]:
    out = {}
    for args in READS:
        code, stdout, stderr = run(home, *args)
        assert code == 0, (args, stderr)
        out[args] = stdout
    return out


@pytest.mark.slow
def test_allocation_commands_go_through_a_running_serve(synced: Settings, tmp_path: Path) -> None:
    """Changes and reads through `serve` (its local token, through the same security layer as
    the browser), and the reads print what they print without it."""
    home = copy_home(synced, tmp_path / "home").home
    (tmp_path / "rules.toml").write_text(RULES)
    (tmp_path / "teams.csv").write_text(MAPPINGS)
    (tmp_path / "bad.csv").write_text(BAD_CSV)
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps([{"displayName": "Search", "members": [{"display": "a@x.io"}]}]))
    scim = ("allocation", "import", "--format", "scim", str(groups))
    with Serve(home):
        rules = str(tmp_path / "rules.toml")
        backfill = ("--backfill-from", "2026-10-01")
        code, out, err = run(home, "allocation", "rules", "set", rules, "--effective", "2026-10-01")
        assert code == 2  # October is closed (a refused input: exit 2, as without serve)
        assert "closed month" in err
        closed_during = (code, out, err)
        code, out, err = run(
            home, "allocation", "rules", "set", rules, "--effective", "2026-10-01", *backfill
        )
        assert code == 0, err
        assert out == "installed rules version 1 (cost_center, team), effective 2026-10-01\n"
        bad_during = run(home, "allocation", "import", str(tmp_path / "bad.csv"))
        assert bad_during[0] == 2
        assert "bad.csv line 3" in bad_during[2]
        code, out, err = run(home, "allocation", "import", str(tmp_path / "teams.csv"))
        assert code == 2  # October is closed
        assert "closed month" in err
        code, out, err = run(home, "allocation", "import", str(tmp_path / "teams.csv"), *backfill)
        assert (code, out) == (0, "imported 2 mappings from teams.csv (change 2)\n"), err
        during = reads(home)
        refused_during = run(home, *scim)
        months = json.loads(during[("allocation", "coverage", "--json")])
        assert {m["dimension"] for m in months} == {"team", "cost_center"}
        assert "research" in during[("allocation", "mappings")]
        assert "# version 1, effective 2026-10-01" in during[("allocation", "rules", "show")]
    after = reads(home)  # the warehouse read directly once `serve` has stopped
    for args, text in during.items():
        assert after[args] == text, args
    # times in JSON as the rest of the CLI writes them, whichever way they were read
    installed = json.loads(after[("allocation", "rules", "show", "--json")])["installed_at"]
    assert installed.endswith("+00:00"), installed
    assert datetime.fromisoformat(installed).tzinfo is not None
    # a SCIM import without --dimension: the same one line (and exit code) either way
    assert refused_during == run(home, *scim) == (2, "", SCIM_WITHOUT_DIMENSION)
    # refused inputs: the same line and exit code with and without serve
    assert run(home, "allocation", "import", str(tmp_path / "bad.csv")) == bad_during
    again = run(home, "allocation", "rules", "set", rules, "--effective", "2026-09-01")
    assert again[0] == closed_during[0] == 2
    assert "closed month" in again[2]
