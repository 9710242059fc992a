"""Budgets: each (budget, threshold, month) has its own state, so 80 % and 100 % both fire, once;
forecast thresholds with hysteresis and never before 3 complete days; a downward revision or a
raised budget resolves; thresholds crossed at once make one event naming the most severe;
amounts per month from a CSV file; parents and the sums of their children. Then the same
through the CLI, the API and a running `serve`, and an evaluation over a synced warehouse."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from conftest import NOW, copy_home
from serving import Serve
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.errors import InvalidInput
from spendscope.watch.budget_model import Budget, check_parents, make_budget, parse_budgets_csv
from spendscope.watch.budget_states import (
    ACTUAL,
    CRITICAL,
    FIRING,
    FORECAST,
    OK,
    RESOLVED,
    WARNING,
    BudgetEvent,
    Figures,
    ThresholdState,
    plan,
)

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)
ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}


def at(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def figures(
    actual: str,
    amount: str | None = "1000",
    p50: str | None = None,
    days: int = 10,
    month: date = NOV,
) -> Figures:
    return Figures(
        month,
        None if amount is None else Decimal(amount),
        Decimal(actual),
        days,
        date(month.year, month.month, days) if days else None,
        None if p50 is None else Decimal(p50) - 50,
        None if p50 is None else Decimal(p50),
        None if p50 is None else Decimal(p50) + 50,
    )


@dataclass
class Evaluator:
    """The states table in memory, evaluated with an injected clock as `evaluate_budgets`
    does: plan, then write what it says."""

    budgets: dict[str, Budget]
    rows: dict[tuple[str, date, str, Decimal], ThresholdState] = field(default_factory=dict)

    def run(self, when: datetime, **by_budget: Figures) -> list[BudgetEvent]:
        month = when.date().replace(day=1)
        p = plan(self.budgets, by_budget, list(self.rows.values()), month, when)
        for s in p.dropped:
            self.rows.pop(s.key, None)
        for s in p.states:
            self.rows[s.key] = s
        return p.events

    def state(self, name: str, kind: str, threshold: int, month: date = NOV) -> str:
        s = self.rows.get((name, month, kind, Decimal(threshold)))
        return s.state if s else OK


def one(events: Sequence[BudgetEvent]) -> BudgetEvent:
    assert len(events) == 1, events
    return events[0]


def covered(e: BudgetEvent) -> list[tuple[str, Decimal]]:
    return [(c.kind, c.threshold) for c in e.covers]


# -- the states ---------------------------------------------------------------------------------


def test_80_and_100_percent_both_fire_once_each() -> None:
    ev = Evaluator({"team": make_budget("team", "team:payments", "1000")})
    first = one(ev.run(at(10), team=figures("850")))
    assert (first.status, first.threshold, first.severity) == (FIRING, 80, WARNING)
    assert covered(first) == [(ACTUAL, 80), (ACTUAL, 50)]
    second = one(ev.run(at(12), team=figures("1000.00")))
    assert (second.status, second.threshold, second.severity) == (FIRING, 100, CRITICAL)
    assert covered(second) == [(ACTUAL, 100)]  # 80 % does not hide it, nor repeat
    assert first.fingerprint != second.fingerprint
    assert second.fingerprint_parts == ("budget", "team", "actual", "100", "2026-11")
    assert second.title == "Budget team: 100 % of $1,000.00 reached (2026-11)"
    # Still over the next days, and evaluated twice on the same data: nothing new.
    assert ev.run(at(13), team=figures("1100")) == []
    assert ev.run(at(13), team=figures("1100")) == []
    assert [ev.state("team", ACTUAL, t) for t in (50, 80, 100)] == [FIRING] * 3


def test_thresholds_crossed_at_once_make_one_event_naming_the_most_severe() -> None:
    b = make_budget("org", "organization", "1000", forecast_threshold="100")
    ev = Evaluator({"org": b})
    e = one(ev.run(at(10), org=figures("1200", p50="1500")))
    assert (e.status, e.kind, e.threshold, e.severity) == (FIRING, ACTUAL, 100, CRITICAL)
    assert covered(e) == [(ACTUAL, 100), (FORECAST, 100), (ACTUAL, 80), (ACTUAL, 50)]
    # A forecast of 100 % ranks above 80 % spent: both warnings, the higher percent first.
    assert "has reached 100 % of the $1,000.00 budget" in e.text
    assert "Also crossed: forecast 100 %, 80 %, 50 %." in e.text
    assert "$1,200.00" in e.text
    assert "billed" in e.text
    assert all(ev.state("org", k, 100) == FIRING for k in (ACTUAL, FORECAST))


def test_an_actual_threshold_fires_once_a_month_and_a_downward_revision_resolves() -> None:
    ev = Evaluator({"b": make_budget("b", "organization", "1000", thresholds="80")})
    assert one(ev.run(at(10), b=figures("820"))).status == FIRING
    resolved = one(ev.run(at(11), b=figures("790")))  # Anthropic revised a day down
    assert (resolved.status, resolved.reason, resolved.threshold) == (RESOLVED, "revised_down", 80)
    assert resolved.fingerprint == ev.rows[("b", NOV, ACTUAL, Decimal(80))].fingerprint
    assert "no longer fires" in resolved.text
    assert "revised down" in resolved.text
    # Back over the same amount: it already fired this month.
    assert ev.run(at(12), b=figures("900")) == []
    assert ev.state("b", ACTUAL, 80) == RESOLVED
    # A new month starts every threshold at ok: it may fire again.
    again = one(ev.run(at(2, 12), b=figures("850", days=1, month=DEC)))
    assert (again.status, again.month) == (FIRING, "2026-12")
    assert ev.state("b", ACTUAL, 80, DEC) == FIRING


def test_a_raised_budget_resolves_and_a_crossing_of_the_new_amount_fires() -> None:
    ev = Evaluator({"b": make_budget("b", "organization", "1000")})
    one(ev.run(at(10), b=figures("850")))
    ev.budgets["b"] = make_budget("b", "organization", "2000")
    e = one(ev.run(at(11), b=figures("1100", amount="2000")))
    assert (e.status, e.reason, e.threshold) == (RESOLVED, "budget_raised", 80)
    assert covered(e) == [(ACTUAL, 80)]  # 50 % of $2,000 is still crossed: it stays firing
    assert e.amount == 2000
    assert "the budget was raised" in e.text
    assert ev.state("b", ACTUAL, 50) == FIRING
    refired = one(ev.run(at(20), b=figures("1700", amount="2000")))
    assert (refired.status, refired.threshold, refired.amount) == (FIRING, 80, 2000)


def test_a_forecast_threshold_has_hysteresis() -> None:
    b = make_budget("b", "organization", "1000", thresholds="200", forecast_threshold="100")
    ev = Evaluator({"b": b})
    fired = one(ev.run(at(10), b=figures("400", p50="1010")))
    assert (fired.kind, fired.status, fired.value) == (FORECAST, FIRING, Decimal(1010))
    assert "P10–P90 $960.00–$1,060.00" in fired.text
    assert ev.run(at(11), b=figures("400", p50="990")) == []  # within the 5 % margin
    assert ev.run(at(12), b=figures("400", p50="1020")) == []  # still firing: nothing new
    dropped = one(ev.run(at(13), b=figures("400", p50="949.99")))
    assert (dropped.status, dropped.reason) == (RESOLVED, "forecast_dropped")
    assert ev.run(at(14), b=figures("400", p50="999.99")) == []  # below the limit
    assert one(ev.run(at(15), b=figures("400", p50="1000"))).status == FIRING  # risen again


def test_no_forecast_alert_before_three_complete_days() -> None:
    b = make_budget("b", "organization", "1000", thresholds="500", forecast_threshold="100")
    ev = Evaluator({"b": b})
    assert ev.run(at(3), b=figures("200", p50="3000", days=2)) == []
    assert ev.state("b", FORECAST, 100) == OK
    assert one(ev.run(at(4), b=figures("300", p50="3000", days=3))).kind == FORECAST


def test_a_raised_budget_resolves_a_forecast_threshold_without_the_margin() -> None:
    b = make_budget("b", "organization", "1000", thresholds="500", forecast_threshold="100")
    ev = Evaluator({"b": b})
    one(ev.run(at(10), b=figures("400", p50="1010")))
    ev.budgets["b"] = make_budget(
        "b", "organization", "1050", thresholds="500", forecast_threshold="100"
    )
    e = one(ev.run(at(11), b=figures("400", amount="1050", p50="1010")))
    assert (e.status, e.reason) == (RESOLVED, "budget_raised")


def test_the_month_end_a_deleted_budget_and_a_removed_threshold_resolve() -> None:
    ev = Evaluator(
        {
            "a": make_budget("a", "organization", "100", thresholds="50,80"),
            "b": make_budget("b", "organization", "100"),
        }
    )
    assert len(ev.run(at(30), a=figures("90", amount="100"), b=figures("90", amount="100"))) == 2
    # December: what fires in November resolves, one event per budget.
    ev.budgets["a"] = make_budget("a", "organization", "100", thresholds="80")
    del ev.budgets["b"]
    events = ev.run(at(1, 12), a=figures("0", amount="100", days=0, month=DEC))
    by = {(e.budget, e.month): e for e in events}
    assert by[("a", "2026-11")].reason == "month_ended"
    assert covered(by[("a", "2026-11")]) == [(ACTUAL, 80), (ACTUAL, 50)]
    assert by[("b", "2026-11")].reason == "budget_deleted"
    assert all(e.status == RESOLVED for e in events)
    assert len(events) == 2
    assert not any(k[0] == "b" for k in ev.rows)  # a deleted budget's states are dropped
    assert ev.state("a", ACTUAL, 80) == RESOLVED  # November's history is kept
    # A threshold removed while it fires resolves and is dropped.
    one(ev.run(at(10, 12), a=figures("85", amount="100", month=DEC)))
    ev.budgets["a"] = make_budget("a", "organization", "100", thresholds="90")
    e = one(ev.run(at(11, 12), a=figures("85", amount="100", month=DEC)))
    assert (e.reason, e.threshold) == ("threshold_removed", 80)
    assert ev.state("a", ACTUAL, 80, DEC) == OK  # gone from the table


def test_a_budget_that_could_not_be_read_keeps_its_states() -> None:
    ev = Evaluator({"a": make_budget("a", "organization", "100")})
    one(ev.run(at(10), a=figures("90", amount="100")))
    assert ev.run(at(11)) == []  # no figures (its scope failed): nothing resolves
    assert ev.state("a", ACTUAL, 80) == FIRING


# -- definitions and CSV ------------------------------------------------------------------------

CSV = """name,scope,monthly,thresholds,forecast_threshold,basis,parent,2026-11,2026-12
org,organization,10000,50;80;100,110,billed,,,12000.50
payments,team:payments,,"80,100",,billed_estimated,org,3000,3500
"""


def test_amounts_per_month_from_a_csv_file() -> None:
    parsed = parse_budgets_csv(CSV, "budgets.csv")
    org, payments = parsed.budgets
    assert parsed.lines == {"org": 2, "payments": 3}
    assert (org.amount(NOV), org.amount(DEC), org.amount(date(2027, 1, 1))) == (
        Decimal(10000),
        Decimal("12000.50"),
        Decimal(10000),
    )
    assert (payments.amount(NOV), payments.amount(DEC), payments.amount(date(2027, 1, 1))) == (
        Decimal(3000),
        Decimal(3500),
        None,
    )
    assert payments.thresholds == (80, 100)
    assert payments.basis == "billed_estimated"
    assert org.forecast_threshold == 110
    assert payments.parent == "org"
    # The same spend is 100 % of November's amount and 80 % of December's.
    ev = Evaluator({b.name: b for b in parsed.budgets})
    nov = one(ev.run(at(20), payments=figures("3200", amount=str(payments.amount(NOV)))))
    assert (nov.threshold, nov.amount) == (100, Decimal(3000))
    dec = figures("3200", amount=str(payments.amount(DEC)), days=4, month=DEC)
    closed, e = ev.run(at(5, 12), payments=dec)  # November closes; December fires
    assert (closed.month, closed.status, closed.reason) == ("2026-11", RESOLVED, "month_ended")
    assert (e.threshold, e.amount, e.month, e.status) == (80, Decimal(3500), "2026-12", FIRING)
    assert covered(e) == [(ACTUAL, 80)]
    # No amount for January: its thresholds are not evaluated.
    january = datetime(2027, 1, 20, tzinfo=UTC)
    jan = figures("9999", amount=None, month=date(2027, 1, 1))
    assert [x.status for x in ev.run(january, payments=jan)] == [RESOLVED]  # December closes
    assert not [k for k in ev.rows if k[1] == date(2027, 1, 1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,scope\n", "b.csv line 1: no budgets"),
        ("name,scope,cost\nx,organization,1\n", "b.csv line 1: unknown column 'cost'"),
        ("name,monthly\nx,1\n", "b.csv line 1: no 'scope' column"),
        ("name,scope,2026-13\nx,organization,1\n", "b.csv line 1: month '2026-13'"),
        ("name,scope,monthly\nx,organization,10\n\ny,organization,-5\n", "b.csv line 4: monthly"),
        ("name,scope,monthly\nx,organization\n", "b.csv line 2: 2 cells where the header has 3"),
        ("name,scope,monthly\nx,organization,1\nx,organization,2\n", "b.csv line 3: budget x is"),
        ("name,scope\nx,organization\n", "b.csv line 2: Budget x has no amount"),
        ("name,scope,monthly\nx y,organization,1\n", "b.csv line 2: budget name 'x y'"),
        ('name,scope,monthly\n"x\ny",organization,1\n', "b.csv line 2: budget name"),
        ('name,scope,monthly\nx,organization,1\n"y\n",organization,x\n', "b.csv line 3: monthly"),
        ("name,scope,monthly,thresholds\nx,organization,1,80;80\n", "b.csv line 2: The thr"),
        ("name,scope,monthly\nx,team,1\n", "b.csv line 2: Scope 'team' is not"),
        ("name,scope,monthly,basis\nx,organization,1,list\n", "b.csv line 2: basis 'list'"),
        ("name,scope,monthly\nx,organization,0.001\n", "b.csv line 2: monthly amount 0.001 has"),
    ],
)
def test_a_bad_csv_line_is_named(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_budgets_csv(text, "b.csv")
    assert raised.value.message.startswith(message), raised.value.message


def test_parents_must_exist_and_make_no_cycle() -> None:
    a = make_budget("a", "organization", "1", parent="b")
    b = make_budget("b", "organization", "1", parent="a")
    with pytest.raises(InvalidInput, match="would be its own ancestor"):
        check_parents({"a": a, "b": b}, lambda n: "")
    with pytest.raises(InvalidInput, match=r"^f line 9: parent 'b' of budget a is not a budget"):
        check_parents({"a": a}, lambda n: "f line 9: ")
    with pytest.raises(InvalidInput, match="its own parent"):
        make_budget("a", "organization", "1", parent="a")


# -- through the CLI, the API and serve ----------------------------------------------------------


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env={**ENV, **(env or {})})


def listed(home: Path) -> dict[str, Any]:
    r = cli(home, "budgets", "list", "--json")
    assert r.exit_code == 0, r.output
    found: dict[str, Any] = json.loads(r.output)
    return found


def forecast_of(home: Path, scope: str) -> dict[str, Any]:
    r = cli(home, "forecast", "--scope", scope, "--json")
    assert r.exit_code == 0, r.output
    found: dict[str, Any] = json.loads(r.output)["forecast"]
    return found


@pytest.fixture
def home(synced: Settings, tmp_path: Path) -> Path:
    return copy_home(synced, tmp_path / "home").home


def test_set_list_and_delete_with_exact_json(home: Path) -> None:
    org_args = ["--scope", "organization", "--monthly", "9000.10", "--forecast-threshold", "100"]
    r = cli(home, "budgets", "set", "org", *org_args)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("created budget org: organization, $9,000.10 a month, billed;")
    console_args = ["--scope", "connection:acme-console", "--monthly", "4000"]
    r = cli(
        home,
        "budgets",
        "set",
        "console",
        *console_args,
        "--thresholds",
        "80,100",
        "--parent",
        "org",
    )
    assert r.exit_code == 0, r.output
    found = listed(home)
    assert found["month"] == "2026-11"
    org, console = found["budgets"]
    forecast = forecast_of(home, "organization")
    assert org["month_to_date"] == forecast["month_to_date"]  # exact decimal text
    band = ("p10", "p50", "p90")
    assert [org[p] for p in band] == [forecast[p] for p in band]
    assert org["amount"] == "9000.10"
    assert org["thresholds"] == ["50", "80", "100"]
    used = Decimal(org["month_to_date"]) / Decimal("9000.10") * 100
    assert Decimal(org["used_percent"]) == used.quantize(Decimal("0.01"))
    assert (console["parent"], console["depth"], console["thresholds"]) == ("org", 1, ["80", "100"])
    assert org["rollup"]["children"] == ["console"]
    assert org["rollup"]["month_to_date"] == console["month_to_date"]
    assert [s["state"] for s in org["states"]] == [OK] * 4  # never evaluated
    assert org["evaluated_at"] is None
    assert org["complete_through"] == "2026-11-21"
    table = cli(home, "budgets", "list")
    assert table.exit_code == 0
    assert "$9,000.10" in table.output
    assert "  console" in table.output
    assert "Σ 1 within" in table.output
    csv_out = cli(home, "budgets", "list", "--csv")
    assert csv_out.output.splitlines()[0].startswith("name,parent,scope,basis,amount")
    assert f"org,,organization,billed,9000.10,{org['month_to_date']}," in csv_out.output
    refused = cli(home, "budgets", "delete", "org")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: Budget org has budgets that roll up into it")
    assert cli(home, "budgets", "delete", "console").output == "deleted budget console\n"
    assert [b["name"] for b in listed(home)["budgets"]] == ["org"]
    gone = cli(home, "budgets", "delete", "nope")
    assert gone.exit_code == 1
    assert gone.stderr.startswith("error: No budget is named 'nope'.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "organization", "--monthly", "1,000"], "monthly amount '1,000' is not"),
        (["--scope", "organization", "--monthly", "0"], "monthly amount 0 is out of range"),
        (["--scope", "team:payments", "--monthly", "1"], "A scope cannot be by 'team'"),
        (["--scope", "connection:nope", "--monthly", "1"], "No connection is labelled 'nope'"),
        (["--scope", "organization", "--monthly", "1", "--thresholds", "80,x"], "threshold 'x'"),
        (["--scope", "organization", "--monthly", "1", "--parent", "nope"], "parent 'nope'"),
        (["--scope", "organization", "--monthly", "1", "--basis", "list"], "Invalid value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home: Path, args: list[str], message: str) -> None:
    r = cli(home, "budgets", "set", "b", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output
    assert listed(home)["budgets"] == []


def test_import_applies_a_whole_file_or_nothing(home: Path, tmp_path: Path) -> None:
    good = tmp_path / "budgets.csv"
    good.write_text(CSV.replace("team:payments", "connection:acme-console"))
    r = cli(home, "budgets", "import", str(good))
    assert r.exit_code == 0, r.output
    assert r.output == "imported 2 budgets from budgets.csv (2 created, 0 updated)\n"
    found = listed(home)["budgets"]
    assert [(b["name"], b["amount"], b["months"]) for b in found] == [
        ("org", "10000.00", {"2026-12": "12000.50"}),
        ("payments", "3000.00", {"2026-11": "3000.00", "2026-12": "3500.00"}),
    ]
    assert found[1]["basis_label"] == "billed + estimated"
    assert any(n.startswith("nothing is estimated in the month to date") for n in found[1]["notes"])
    bad = tmp_path / "more.csv"
    bad.write_text(
        "name,scope,monthly,parent\nnew,organization,5,\norg,organization,7,\n"
        "third,model:claude-opus-4-5,9,ghost\n"
    )
    r = cli(home, "budgets", "import", str(bad))
    assert r.exit_code == 2
    assert r.stderr.startswith("error: more.csv line 4: parent 'ghost' of budget third is not")
    after = listed(home)["budgets"]
    assert [b["name"] for b in after] == ["org", "payments"]  # nothing of the file applied
    assert after[0]["amount"] == "10000.00"
    unknown = tmp_path / "scope.csv"
    unknown.write_text("name,scope,monthly\nok,organization,1\nx,workspace_id:1,1\n")
    r = cli(home, "budgets", "import", str(unknown))
    assert r.exit_code == 2
    assert r.stderr.startswith("error: scope.csv line 3: A scope cannot be by 'workspace_id'")


def test_the_api_answers_what_the_cli_prints(home: Path) -> None:
    from spendscope.config import load_settings
    from spendscope.web.app import create_app

    settings = load_settings(home=home, env={"SPENDSCOPE_SECRET_KEY": "test-master-key"})
    app = create_app(settings, now=lambda: NOW)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        body = {"name": "org", "scope": "organization", "monthly": "5000", "thresholds": [90]}
        saved = c.post("/api/v1/budgets", json=body)
        assert saved.status_code == 200, saved.text
        assert saved.json() == {
            "message": "created budget org: organization, $5,000.00 a month, billed; 90 %",
            "name": "org",
            "created": True,
        }
        bad = c.post("/api/v1/budgets", json={**body, "scope": "nope:x"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"].startswith("A scope cannot be by 'nope'")
        csv_body = "name,scope,monthly,parent\nkid,connection:acme-console,10,org\n"
        imported = c.post(
            "/api/v1/budgets/import",
            content=csv_body,
            headers={"content-type": "text/csv"},
            params={"name": "kids.csv"},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["created"] == ["kid"]
        refused = c.post(
            "/api/v1/budgets/import",
            content="name,scope,monthly\nx,organization,1\ny,organization,abc\n",
            headers={"content-type": "text/csv"},
            params={"name": "x.csv"},
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith("x.csv line 3: monthly amount")
        answered = c.get("/api/v1/budgets").json()
        one_budget = c.get("/api/v1/budgets/kid").json()
        assert one_budget["budget"] == answered["budgets"][1]
        assert c.get("/api/v1/budgets/nope").status_code == 404
        other_site = c.delete("/api/v1/budgets/kid", headers={"origin": "https://evil.example"})
        assert other_site.status_code == 403
        assert c.delete("/api/v1/budgets/kid").json()["message"] == "deleted budget kid"
        assert c.delete("/api/v1/budgets/kid").status_code == 404
        remaining = c.get("/api/v1/budgets").json()
    assert listed(home) == remaining  # the CLI prints what the API answers
    assert [b["name"] for b in remaining["budgets"]] == ["org"]


@pytest.fixture
def serving(home: Path) -> Iterator[Path]:
    """`spendscope serve --no-sync` over a copy of the synced home (its clock at NOW)."""
    with Serve(home):
        yield home


def test_through_a_running_serve(serving: Path, tmp_path: Path) -> None:
    assert (serving / "serve.json").exists()
    r = cli(serving, "budgets", "set", "org", "--scope", "organization", "--monthly", "7000")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("created budget org: organization, $7,000.00 a month")
    file = tmp_path / "b.csv"
    file.write_text("name,scope,monthly,parent\nc,connection:acme-console,10,org\n")
    r = cli(serving, "budgets", "import", str(file))
    assert r.output == "imported 1 budget from b.csv (1 created, 0 updated)\n", r.output
    file.write_text("name,scope,monthly\nd,nope:x,10\n")
    r = cli(serving, "budgets", "import", str(file))
    assert r.exit_code == 2
    assert r.stderr.startswith("error: b.csv line 2: A scope cannot be by")
    found = listed(serving)
    assert [b["name"] for b in found["budgets"]] == ["org", "c"]
    assert (
        found["budgets"][0]["month_to_date"]
        == forecast_of(serving, "organization")["month_to_date"]
    )
    r = cli(serving, "budgets", "delete", "org")
    assert r.exit_code == 2
    assert "roll up into it" in r.stderr
    assert cli(serving, "budgets", "delete", "c").output == "deleted budget c\n"


# -- an evaluation over a synced warehouse -------------------------------------------------------


def test_evaluation_over_a_synced_warehouse(home: Path) -> None:
    from spendscope.config import load_settings
    from spendscope.refresh import initialize
    from spendscope.warehouse.connection import Warehouse
    from spendscope.watch.budget_store import save_budgets
    from spendscope.watch.budget_view import budgets_answer
    from spendscope.watch.budgets import evaluate_budgets

    mtd = Decimal(forecast_of(home, "organization")["month_to_date"])
    settings = load_settings(home=home, env={"SPENDSCOPE_SECRET_KEY": "test-master-key"})
    wh = Warehouse(settings)
    try:
        initialize(wh)
        amount = (mtd / Decimal("1.02")).quantize(Decimal("0.01"))  # 102 % used
        save_budgets(
            wh,
            [
                make_budget("org", "organization", amount, forecast_threshold="100"),
                make_budget("console", "connection:acme-console", "100000", parent="org"),
                make_budget("ent", "connection:acme-enterprise", "100000", parent="org"),
            ],
            NOW,
        )
        # Two evaluations at once: one sees the other's states, so the event comes once.
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: evaluate_budgets(wh, NOW), range(2)))
        e = one([event for run in runs for event in run])
        assert (e.budget, e.status, e.threshold, e.kind) == ("org", FIRING, 100, ACTUAL)
        assert [c.threshold for c in e.covers] == [100, 100, 80, 50]
        assert e.value == mtd
        assert e.scope == "organization"
        assert e.basis == "billed"
        assert "Complete days through 2026-11-21" in e.text
        assert evaluate_budgets(wh, NOW) == []  # the same data: nothing new
        found = budgets_answer(wh, NOW)["budgets"]
        assert [s["state"] for s in found[0]["states"]] == [FIRING] * 4
        assert found[0]["evaluated_at"] == "2026-11-22T12:00:00Z"
        # The children partition the organization: their sums are its own.
        assert Decimal(found[0]["rollup"]["month_to_date"]) == mtd
        assert found[0]["rollup"]["month_to_date_left"] == "0.00"
        assert found[0]["rollup"]["amount_left"] == str(amount - 200000)
        # The last three days become provisional (Anthropic may still revise them): they
        # leave the month to date, are marked, and the 100 % threshold resolves.
        wh.execute(
            "UPDATE spendscope.mart_spend SET is_provisional = TRUE WHERE day >= ?",
            date(2026, 11, 19),
        )
        after = budgets_answer(wh, NOW)["budgets"][0]
        assert after["provisional_from"] == "2026-11-19"
        assert after["complete_through"] == "2026-11-18"
        assert Decimal(after["provisional_cost"]) > 0
        assert Decimal(after["month_to_date"]) + Decimal(after["provisional_cost"]) > mtd
        assert next(s["pending"] for s in after["states"] if s["threshold"] == "100") == RESOLVED
        resolved = one(evaluate_budgets(wh, NOW))
        assert (resolved.status, resolved.reason, resolved.threshold) == (
            RESOLVED,
            "revised_down",
            100,
        )
        # Raising the budget resolves the forecast threshold too, announced once.
        raised_org = make_budget("org", "organization", "1000000", forecast_threshold="100")
        save_budgets(wh, [raised_org], NOW)
        raised = evaluate_budgets(wh, NOW)
        assert [(x.status, x.reason) for x in raised] == [(RESOLVED, "budget_raised")]
        assert {c.kind for c in raised[0].covers} == {FORECAST, ACTUAL}
        assert evaluate_budgets(wh, NOW) == []
    finally:
        wh.close()
