"""CLI tables are written for people, as the dashboard writes them: money as "$1,234.57",
counts as "12,345", a missing value as "—". `--json` and `--csv` keep every digit. And the demo
(`spendscope.demo.run_demo`, then `spendscope demo`) prints its summary the same way, then what it
watches: the forecast with its band, a budget past its 80 % threshold, the anomalies with their
drivers, and the alerts its receiver on loopback got."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
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
from spendscope.demo_watch import (
    BUDGET,
    CHANNEL,
    RECEIVER_LOG,
    DemoWatch,
    Receiver,
    arrivals,
    budget_amount,
    watch_demo,
)
from spendscope.money import MISSING, count, dollars
from spendscope.notify.channels import ChannelStore
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
    injected: str | None
    watch: DemoWatch


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
            urls = [result.simulator.url, result.watch.receiver_url.removesuffix("/alerts")]
        yield Demo(home, result.summary, result.injected, result.watch)
    # Closing the result stopped the simulator and the alert receiver.
    for url in urls:
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


def budget_docs(docs: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    """The budget notifications a receiver got: status, cycle, subject, title."""
    return [
        (d["status"], d["cycle"], d["subject"], d["title"]) for d in docs if d["kind"] == "budget"
    ]


def test_run_demo_sets_a_budget_past_80_percent_and_its_alert_reaches_the_receiver(
    demo: Demo,
) -> None:
    w = demo.watch
    b = w.budget
    assert b is not None
    assert (b["name"], b["scope"], b["month"]) == (BUDGET, "organization", "2026-11")
    used = Decimal(b["used_percent"])
    assert Decimal(80) <= used < Decimal(100)
    assert Decimal(b["month_to_date"]) / Decimal(b["amount"]) * 100 >= 80
    states = [(s["threshold"], s["state"]) for s in b["states"]]
    assert states == [("50", "firing"), ("80", "firing"), ("100", "ok")]
    # One notification, named after the most severe threshold crossed, delivered over HTTP to
    # the receiver, which logged it in the home; the evaluation says it was sent.
    title = f"Budget {BUDGET}: 80 % of {dollars(b['amount'])} reached (2026-11)"
    assert budget_docs(w.received) == [("firing", 1, f"{BUDGET}@80%", title)]
    assert w.log == demo.home / RECEIVER_LOG
    assert [json.loads(line) for line in w.log.read_text().splitlines()] == w.received
    sent = [r for r in w.evaluation.results if r.alert.kind == "budget"]
    assert [(d.channel, d.state, d.sent_now) for r in sent for d in r.deliveries] == [
        (CHANNEL, "sent", True)
    ]
    # Two days of history: no forecast number, and nothing injected or scored as an anomaly.
    assert (w.forecast["state"], w.forecast["p50"]) == ("insufficient_history", None)
    assert demo.injected is None
    assert w.anomalies == []


def test_the_demo_run_again_fires_its_budget_anew_to_its_new_receiver(
    demo: Demo, tmp_path: Path
) -> None:
    home = tmp_path / "again"
    shutil.copytree(demo.home, home)
    settings = load_settings(home=home, env={"SPENDSCOPE_SECRET_KEY": MASTER})
    wh = Warehouse(settings)
    try:
        with Receiver(home / RECEIVER_LOG) as receiver:
            again = watch_demo(settings, wh, receiver, NOW, lambda _line: None)
    finally:
        wh.close()
    # Same month to date, same amount: without the reset its thresholds would still fire and
    # send nothing. Deleted and set again, it fires anew (a new cycle) to the new receiver, and
    # the resolved message of the first run goes nowhere (its channel was removed first).
    assert again.budget is not None
    assert demo.watch.budget is not None
    assert again.budget["amount"] == demo.watch.budget["amount"]
    [(status, cycle, subject, _)] = budget_docs(again.received)
    assert (status, cycle, subject) == ("firing", 2, f"{BUDGET}@80%")
    port = again.receiver_url.removeprefix("http://").split("/")[0]
    channels = ChannelStore(settings).all()
    assert [(c.name, c.kind, c.target()) for c in channels] == [
        (CHANNEL, "webhook", f"http://{port}/…")
    ]


@pytest.mark.parametrize(
    "month_to_date", ["1", "33.33", "417.2318", "5569.59", "99999.99", "1234567.891"]
)
def test_the_budget_amount_puts_the_month_to_date_just_past_80_percent(
    month_to_date: str,
) -> None:
    mtd = Decimal(month_to_date)
    amount = budget_amount(mtd)
    assert amount == amount.quantize(Decimal("0.01"))
    assert Decimal(80) <= mtd / amount * 100 < Decimal(85)


def test_the_receiver_logs_each_post_on_a_line_until_closed(tmp_path: Path) -> None:
    import httpx

    log = tmp_path / "receiver.log"
    log.write_text("left from an earlier run\n")
    with Receiver(log) as receiver, httpx.Client() as http:
        group = {"type": "group", "notifications": [{"kind": "anomaly", "status": "firing"}]}
        for body in (json.dumps({"kind": "budget", "title": "a\nb"}), json.dumps(group), "x"):
            assert http.post(receiver.url, content=body).status_code == 200
        got = receiver.received()
    assert got == [{"kind": "budget", "title": "a\nb"}, group, {"body": "x"}]
    assert len(log.read_text().splitlines()) == 3
    assert [(a["kind"], a["status"]) for a in arrivals(got)] == [
        ("budget", None),
        ("anomaly", "firing"),
        (None, None),
    ]
    with pytest.raises(httpx.ConnectError):
        httpx.post(receiver.url, content="late")


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


# A weekday: the days after the injected shift are weekdays too, so with under 28 days of
# history the anomaly's episode still runs on the newest complete day (it is active and alerts).
WEEKDAY_NOW = "2026-11-20T12:00:00+00:00"
MONEY = r"\$[\d,]+\.\d\d"


def amount(text: str) -> Decimal:
    return Decimal(text.removeprefix("$").replace(",", ""))


def test_demo_command_prints_the_summary_and_what_it_watches(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "demo"
    r = CliRunner().invoke(
        main,
        ["demo", "--home", str(home), "--port", str(port), "--days", "20", "--no-serve"],
        env={**ENV, "SPENDSCOPE_NOW": WEEKDAY_NOW},
    )
    assert r.exit_code == 0, r.output
    assert f"simulator on http://127.0.0.1:{port}" in r.stderr
    assert "anomaly injected: shift:workspace=Production:day=2026-11-17:x=6" in r.stderr
    assert "Month to date (November 2026, double-booked spend counted once)" in r.stdout
    assert not UNROUNDED.search(r.stdout)
    by_connection = r.stdout.split("By connection\n", 1)[1].split("\n\n", 1)[0]
    cells = table_rows(by_connection)
    assert {c[0] for c in cells} == {CONSOLE_LABEL, ENTERPRISE_LABEL}
    assert all(re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d", c[1]) for c in cells)
    assert f"{MISSING}  " in r.stdout.split("Top API keys", 1)[1]
    watched = r.stdout.split("Month-end forecast, organization", 1)[1]
    # The forecast: its P50 inside its P10-P90 band.
    band = re.search(rf"\n  P50 ({MONEY}), P10–P90 ({MONEY})–({MONEY}) \((\w+), (\w+)\)\n", watched)
    assert band, watched
    p50, p10, p90 = (amount(band[i]) for i in (1, 2, 3))
    assert p10 <= p50 <= p90
    assert p10 < p90
    # The budget: past 80 %, its thresholds' states.
    line = re.search(
        rf"\n  month to date ({MONEY}) of ({MONEY}) = ([\d.]+) % \(billed\)\n", watched
    )
    assert line, watched
    assert Decimal(80) <= Decimal(line[3]) < Decimal(100)
    assert amount(line[1]) / amount(line[2]) * 100 >= 80
    assert "\n  thresholds: 50 % firing, 80 % firing, 100 % ok\n" in watched
    # The anomaly injected, with its drivers.
    anomalies = watched.split("Anomalies of the last 7 days", 1)[1].split("\n\n", 1)[0]
    shift = re.search(
        r"^  2026-11-17 workspace Production: .* active\n    drivers: (.+)$", anomalies, re.M
    )
    assert shift, anomalies
    assert re.match(rf"(api_key|model) \S+ \+{MONEY}", shift[1])
    # The alerts, as the receiver logged them: the budget's, and the anomaly's.
    log = home / RECEIVER_LOG
    received = watched.split("\nAlerts received by http://127.0.0.1:", 1)[1]
    assert received.split("\n", 1)[0].endswith(f"/alerts (log: {log})")
    docs = [json.loads(line) for line in log.read_text().splitlines()]
    shown = [f"  {d['status']} {d['kind']} {d['severity']}: {d['title']}" for d in docs]
    assert received.split("\n", 1)[1].splitlines() == shown
    assert f"  firing budget warning: Budget {BUDGET}: 80 % of {line[2]} reached (2026-11)" in shown
    assert any(
        d["kind"] == "anomaly" and d["status"] == "firing" and d["scope"].startswith("workspace:")
        for d in docs
    )


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
