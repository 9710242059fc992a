"""Anomalies over a real warehouse: the session's synced backfill after Anthropic revised two days
of one API key up by $400 (injected into a private simulator, then synced as corrections). The
spike is found in every scope it touches, with the key as its biggest driver; the earlier one
is past, the newest active; evaluating again changes nothing; feedback resolves and mutes; a
revision back down re-scores the day and resolves it; alerts fire once and resolve once. Then
the same through the CLI (table and --json), the API and a running `serve`; and the lifecycle
rules on their own."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from conftest import NOW, copy_home, make_settings, point_at, sync
from receivers import Receiver
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.notify.channels import ChannelStore, check_options
from spendscope.refresh import initialize
from spendscope.simulator.server import RunningSimulator
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.limit_tables import SPEND_LIMIT_SNAPSHOTS
from spendscope.watch.anomalies import anomaly_id, evaluate_anomalies, merge
from spendscope.watch.anomaly_store import (
    ACTIVE,
    BACK_TO_NORMAL,
    MARKED_EXPECTED,
    MUTED,
    PAST,
    RESOLVED,
    REVISED,
    Anomaly,
    with_states,
)
from spikes import EARLY, KEY, LATE, SPIKES, spiked_home

ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
TOUCHED = {"organization", "connection", "workspace", "api_key", "model"}


def cli(home: Path, *args: str, **env: str) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env={**ENV, **env})


def ok(r: Result) -> Result:
    assert r.exit_code == 0, r.output
    return r


def listed(home: Path, *args: str, **env: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(cli(home, "anomalies", *args, "--json", **env)).stdout)
    return found


def on(found: dict[str, Any], day: date) -> dict[str, dict[str, Any]]:
    """The anomalies of `day`, by scope."""
    return {a["scope"]: a for a in found["anomalies"] if a["day"] == day.isoformat()}


def report_total(home: Path, day: date, by: str | None = None, value: str | None = None) -> Decimal:
    """The day's cost in `report` (of the value `value` of the dimension `by`), to the cent."""
    args = ["report", "--since", day.isoformat(), "--until", str(day + timedelta(days=1))]
    if by is not None:
        args += ["--by", by]
    rows = json.loads(ok(cli(home, *args, "--json")).stdout)
    chosen = [r for r in rows if by is None or r[by] == value]
    return sum((Decimal(r["cost"]) for r in chosen), Decimal(0)).quantize(Decimal("0.01"))


@pytest.fixture(scope="module")
def spiked(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The synced home after Anthropic revised `EARLY` and `LATE` up by $400 of the key `KEY`."""
    return spiked_home(synced, tmp_path_factory.mktemp("spiked"))


@pytest.fixture
def home(spiked: Settings, tmp_path: Path) -> Path:
    """A private copy of the spiked home, for a test that changes it; without its members'
    Anthropic cap snapshots, whose `spend_limit` alerts would join the anomalies' (they are
    tested in test_spend_limits_watch.py)."""
    settings = copy_home(spiked, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        wh.execute(f"DELETE FROM spendscope.{SPEND_LIMIT_SNAPSHOTS.name}")
    finally:
        wh.close()
    return settings.home


# -- found, with drivers --------------------------------------------------------------------------


def test_a_spike_is_found_in_every_scope_it_touches_with_its_drivers(spiked: Settings) -> None:
    found = listed(spiked.home)
    assert found["as_of"] == "2026-11-22T12:00:00Z"
    late = on(found, LATE)
    assert set(late) == TOUCHED
    assert {a["state"] for a in late.values()} == {ACTIVE}  # the newest scored day
    org = late["organization"]
    assert (org["value"], org["method"], org["reason"], org["feedback"]) == (
        "",
        "seasonal",
        None,
        None,
    )
    assert org["id"] == anomaly_id("organization", LATE)
    actual, expected = Decimal(org["actual"]), Decimal(org["expected"])
    assert actual == report_total(spiked.home, LATE)
    assert Decimal(org["impact"]) == actual - expected >= 350
    assert Decimal(org["low"]) <= expected <= Decimal(org["high"]) < actual
    assert float(org["score"]) >= 3.5
    # The drivers: the key first, then its workspace and model; biggest impact first, each its
    # own actual less its own expected.
    drivers = org["drivers"]
    assert (drivers[0]["dimension"], drivers[0]["value"]) == ("api_key", KEY)
    assert Decimal(drivers[0]["impact"]) >= 350
    assert {"workspace", "model", "connection"} <= {d["dimension"] for d in drivers}
    impacts = [Decimal(d["impact"]) for d in drivers]
    assert impacts == sorted(impacts, reverse=True)
    for d in drivers:
        assert Decimal(d["impact"]) == Decimal(d["actual"]) - Decimal(d["expected"]) > 0
    key = late["api_key"]
    assert key["value"] == KEY
    assert Decimal(key["actual"]) == report_total(spiked.home, LATE, "api_key", KEY)
    assert {d["dimension"] for d in key["drivers"]} == {"model"}  # a key's children: models
    # The earlier spike: back to normal the next day, so past. Early in a noisy history
    # ($300 ± 25 % a weekday), $400 more is not enough for the organization: the key says it.
    early = on(found, EARLY)
    assert "api_key" in early
    assert {(a["state"], a["reason"]) for a in early.values()} == {(PAST, BACK_TO_NORMAL)}
    # Newest day first, biggest impact first within a day.
    keys = [(a["day"], Decimal(a["impact"])) for a in found["anomalies"]]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1]), reverse=True)
    # --since and --state choose.
    assert {a["day"] for a in listed(spiked.home, "--since", str(LATE))["anomalies"]} == {str(LATE)}
    assert {a["state"] for a in listed(spiked.home, "--state", "past")["anomalies"]} == {PAST}


def test_the_table_names_each_anomaly_and_its_drivers(spiked: Settings) -> None:
    out = ok(cli(spiked.home, "anomalies", "--since", str(LATE))).stdout
    lines = out.splitlines()
    assert lines[0] == "Anomalies in daily spend (as of 2026-11-22T12:00:00Z)"
    assert lines[1].split() == [
        "day",
        "scope",
        "actual",
        "expected",
        "impact",
        "score",
        "method",
        "state",
        "reason",
        "feedback",
        "top_driver",
        "id",
    ]
    assert f"api_key:{KEY}" in out
    assert "organization" in out
    assert out.count("drivers of ") == 5
    assert f"drivers of organization on {LATE}: api_key:{KEY} +" in out
    csv_out = ok(cli(spiked.home, "anomalies", "--since", str(LATE), "--csv")).stdout
    assert csv_out.splitlines()[0].startswith("day,scope,actual,expected,impact,score")
    assert len(csv_out.splitlines()) == 6
    nothing = ok(cli(spiked.home, "anomalies", "--since", "2026-11-22")).stdout
    assert nothing == "No anomaly (as of 2026-11-22T12:00:00Z).\n"
    bad = cli(spiked.home, "anomalies", "--since", "yesterday")
    assert bad.exit_code == 2
    assert "is not a date" in bad.stderr


def test_evaluating_the_same_data_changes_nothing(home: Path) -> None:
    settings = make_settings(home)
    wh = Warehouse(settings)
    try:
        initialize(wh)
        wh.execute("DELETE FROM spendscope.anomalies")  # what the other tests' listings kept
        first = evaluate_anomalies(wh, settings, NOW)
        assert {a.id for a in first.changed} == {a.id for a in first.rows}
        assert evaluate_anomalies(wh, settings, NOW).changed == []
        # Two evaluations at once: one after the other under the write lock, the same rows.
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: evaluate_anomalies(wh, settings, NOW), range(2)))
        assert [r.changed for r in runs] == [[], []]
        stored = wh.read("SELECT id, changed_at FROM spendscope.anomalies ORDER BY id")
        assert [r[0] for r in stored] == sorted(a.id for a in first.rows)
        assert {r[1].astimezone(UTC) for r in stored} == {NOW}
    finally:
        wh.close()


RULES = """
[dimensions.team]

[[dimensions.team.rules]]
id = "key-prefix"
when = { api_key_name = { regex = "^([a-z]+)-" } }
value = "{1}"
"""


def test_teams_are_scopes_and_drivers(spiked: Settings, tmp_path: Path) -> None:
    """With a `team` dimension (from the keys' names), the key's team has the anomaly too, and
    it is among the organization's drivers."""
    from spendscope.allocation.store import install_rules
    from spendscope.refresh import refresh_allocation

    settings = copy_home(spiked, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        initialize(wh)
        start = date(2026, 10, 1)
        install_rules(
            wh, RULES, source="rules.toml", effective=start, today=NOW.date(), backfill_from=start
        )
        refresh_allocation(wh)
    finally:
        wh.close()
    late = on(listed(settings.home), LATE)
    assert set(late) == TOUCHED | {"team"}
    team = late["team"]
    assert (team["value"], team["state"]) == ("staging", ACTIVE)
    assert (team["drivers"][0]["dimension"], team["drivers"][0]["value"]) in {
        ("workspace", "Default"),
        ("api_key", KEY),
    }
    org = {(d["dimension"], d["value"]) for d in late["organization"]["drivers"]}
    assert ("team", "staging") in org


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_resolves_and_mutes_the_same_scope_later(home: Path) -> None:
    found = listed(home)
    early_key = on(found, EARLY)["api_key"]
    late = on(found, LATE)
    r = ok(cli(home, "anomalies", "feedback", early_key["id"], "expected"))
    assert r.stdout == (
        f"anomaly {early_key['id']} of api_key {KEY} on {EARLY}: expected; now resolved "
        "(marked_expected)\n"
    )
    after = listed(home)
    assert on(after, EARLY)["api_key"]["state"] == RESOLVED
    # The key's spike 11 days later, with an impact like it: muted. Other scopes: untouched.
    muted = on(after, LATE)
    assert (muted["api_key"]["state"], muted["api_key"]["reason"]) == (RESOLVED, MUTED)
    assert muted["api_key"]["feedback"] is None
    assert {s: a["state"] for s, a in muted.items() if s != "api_key"} == dict.fromkeys(
        TOUCHED - {"api_key"}, ACTIVE
    )
    # Unexpected: confirmed, never muted; it is active again.
    r = ok(cli(home, "anomalies", "feedback", late["api_key"]["id"], "unexpected"))
    assert r.stdout.endswith(": unexpected; now active\n")
    assert on(listed(home), LATE)["api_key"]["state"] == ACTIVE
    # The same feedback twice changes nothing; an unknown id, a bad word: clear errors.
    ok(cli(home, "anomalies", "feedback", late["api_key"]["id"], "unexpected"))
    unknown = cli(home, "anomalies", "feedback", "0" * 32, "expected")
    assert unknown.exit_code != 0
    assert "No anomaly has the id" in unknown.stderr
    word = cli(home, "anomalies", "feedback", late["api_key"]["id"], "fine")
    assert word.exit_code == 2
    assert "Invalid value" in word.stderr


# -- revisions, the lifecycle and alerts -------------------------------------------------------


def add_hook(home: Path, receiver: Receiver) -> None:
    store = ChannelStore(make_settings(home))
    options, secrets = check_options("webhook", url=receiver.url())
    store.add("hook", "webhook", options, secrets)


def anomaly_posts(receiver: Receiver) -> list[Any]:
    """The anomaly notifications received (the next day's sync takes a new snapshot of the
    members' Anthropic caps, whose alerts are tested in test_spend_limits_watch.py)."""
    return [p for p in receiver.bodies() if p["kind"] == "anomaly"]


def test_back_to_normal_then_revised_away_alerts_once_each(
    home: Path, fresh_simulator: RunningSimulator
) -> None:
    receiver = Receiver()
    try:
        add_hook(home, receiver)
        first = json.loads(ok(cli(home, "alerts", "evaluate", "--json")).stdout)
        anomaly_alerts = [a for a in first["alerts"] if a["kind"] == "anomaly"]
        # Only the active anomalies fire (the past ones were never news).
        assert {a["details"]["dimension"] for a in anomaly_alerts} == TOUCHED
        assert {a["status"] for a in anomaly_alerts} == {"firing"}
        ids = {a["details"]["anomaly"] for a in anomaly_alerts}
        assert {a["fingerprint"] for a in anomaly_alerts} == ids
        org = next(a for a in anomaly_alerts if a["scope"] == "organization")
        assert org["period"] == str(LATE)
        assert org["severity"] == "warning"  # an impact from 3× the $50 floor
        assert org["title"].startswith("Spend anomaly: the organization spent $")
        assert f"api_key {KEY} +$" in org["text"]
        posts = anomaly_posts(receiver)
        assert sorted(p["fingerprint"] for p in posts) == sorted(ids)
        assert {p["status"] for p in posts} == {"firing"}
        # The same data again: nothing sent, nothing said.
        again = ok(cli(home, "alerts", "evaluate"))
        assert again.stdout == ""
        assert len(anomaly_posts(receiver)) == 5

        # A day later: 2026-11-22 is complete and back to normal, so the anomalies are past
        # and each alert resolves once.
        later = NOW + timedelta(days=1)
        fresh_simulator.sim.inject(SPIKES[1])
        fresh_simulator.sim.clock.set(later)
        point_at(home, fresh_simulator.url)
        settings = make_settings(home)
        reports = sync(settings, ConnectionStore(settings), now=later, since=LATE)
        assert [r.error for r in reports] == [None, None]
        at_later = {"SPENDSCOPE_NOW": later.isoformat()}
        second = json.loads(ok(cli(home, "alerts", "evaluate", "--json", **at_later)).stdout)
        cleared = [a for a in second["alerts"] if a["kind"] == "anomaly"]
        assert {a["fingerprint"] for a in cleared} == ids
        assert {a["status"] for a in cleared} == {"resolved"}
        assert all("spend back to normal after 2026-11-21" in a["title"] for a in cleared)
        assert len(anomaly_posts(receiver)) == 10
        found = on(listed(home, **at_later), LATE)
        assert {(a["state"], a["reason"]) for a in found.values()} == {(PAST, BACK_TO_NORMAL)}

        # Anthropic revises 2026-11-21 back down: re-scored, no longer an anomaly, resolved as
        # revised; its alert already resolved, nothing more is sent.
        fresh_simulator.sim.clear_injections()
        reports = sync(settings, ConnectionStore(settings), now=later, since=LATE)
        assert sum(r.corrections for r in reports) > 0
        ok(cli(home, "alerts", "evaluate", **at_later))
        assert len(anomaly_posts(receiver)) == 10
        revised = on(listed(home, **at_later), LATE)
        assert set(revised) == TOUCHED
        assert {(a["state"], a["reason"]) for a in revised.values()} == {(RESOLVED, REVISED)}
        # The earlier spike was not revised: still there, still past.
        assert on(listed(home, **at_later), EARLY)["api_key"]["state"] == PAST
    finally:
        receiver.close()


# -- the API and serve --------------------------------------------------------------------------


def test_the_api_answers_what_the_cli_prints(home: Path) -> None:
    from spendscope.config import load_settings
    from spendscope.web.app import create_app

    local = listed(home)
    settings = load_settings(home=home, env={"SPENDSCOPE_SECRET_KEY": "test-master-key"})
    with TestClient(create_app(settings, now=lambda: NOW), base_url="http://127.0.0.1") as c:
        assert c.get("/api/v1/anomalies").json() == local
        past = c.get("/api/v1/anomalies", params={"state": "past"}).json()["anomalies"]
        assert past
        assert {a["state"] for a in past} == {PAST}
        org = on(local, LATE)["organization"]
        detail = c.get(f"/api/v1/anomalies/{org['id']}").json()
        series = detail.pop("series")
        assert detail == org
        # The complete days up to the anomaly's: the whole 40-day history here (under 56), the
        # first 14 without a baseline.
        assert len(series) == 40
        assert series[-1] == {
            "day": str(LATE),
            "actual": org["actual"],
            "expected": org["expected"],
            "low": org["low"],
            "high": org["high"],
        }
        assert [p["expected"] is None for p in series] == [True] * 14 + [False] * 26
        assert all(
            Decimal(p["low"]) <= Decimal(p["expected"]) <= Decimal(p["high"]) for p in series[14:]
        )
        days = [date.fromisoformat(p["day"]) for p in series]
        assert days == [days[0] + timedelta(days=i) for i in range(40)]
        # Feedback: the anomaly back as it now stands; refused from another site.
        path = f"/api/v1/anomalies/{org['id']}/feedback"
        other = c.post(path, json={"feedback": "expected"}, headers={"origin": "https://x.example"})
        assert other.status_code == 403
        given = c.post(path, json={"feedback": "expected"}).json()
        assert (given["state"], given["reason"], given["feedback"]) == (
            RESOLVED,
            MARKED_EXPECTED,
            "expected",
        )
        assert c.post(path, json={"feedback": "maybe"}).status_code == 422
        assert c.get("/api/v1/anomalies/nope").status_code == 404
        assert c.get("/api/v1/anomalies", params={"state": "gone"}).status_code == 422
        bad = c.get("/api/v1/anomalies", params={"since": "2026-13-01"})
        assert bad.status_code == 400
        assert "is not a date" in bad.json()["error"]["message"]
    assert on(listed(home), LATE)["organization"]["feedback"] == "expected"


def test_api_reads_change_nothing_and_hide_addresses(spiked: Settings, tmp_path: Path) -> None:
    """The API's reads keep nothing (serve keeps anomalies with its evaluation after each sync);
    with pseudonyms on, no user address leaves."""
    from spendscope.web.app import create_app

    settings = copy_home(spiked, tmp_path / "home", pseudonymize_emails=True)
    wh = Warehouse(settings)
    try:
        wh.execute("DELETE FROM spendscope.anomalies")
    finally:
        wh.close()
    app = create_app(settings, now=lambda: NOW)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        found = c.get("/api/v1/anomalies", params={"since": "2026-10-01"}).json()
        org = on(found, LATE)["organization"]
        assert c.get(f"/api/v1/anomalies/{org['id']}").status_code == 200
        kept = app.state.spendscope.warehouse.read("SELECT count(*) FROM spendscope.anomalies")
        assert kept == [(0,)]
        text = json.dumps(found)
    users = [
        d["value"] for a in found["anomalies"] for d in a["drivers"] if d["dimension"] == "user"
    ]
    assert users  # the Enterprise connection's anomalies are driven by users
    assert all(u.startswith("user-") and u.endswith("@pseudonym") for u in users)
    assert "@acme.example" not in text


@pytest.fixture
def serving(home: Path) -> Iterator[Path]:
    """`spendscope serve --no-sync` over a copy of the spiked home (its clock at NOW)."""
    import subprocess
    import sys

    from conftest import free_port
    from spendscope.cli.dashboard import READY_LINE

    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    env.update(ENV, SPENDSCOPE_HOME=str(home))
    cmd = [sys.executable, "-m", "spendscope", "serve", "--home", str(home), "--no-sync"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(free_port())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until serve prints; the test's timeout bounds it
            if line.rstrip("\n") == READY_LINE:
                break
        else:
            raise AssertionError("serve exited before it was ready")
        yield home
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()


def test_through_a_running_serve(spiked: Settings, serving: Path) -> None:
    assert (serving / "serve.json").exists()
    local = listed(spiked.home)
    assert listed(serving) == local
    key = on(local, LATE)["api_key"]
    r = ok(cli(serving, "anomalies", "feedback", key["id"], "expected"))
    assert r.stdout.endswith(": expected; now resolved (marked_expected)\n")
    assert on(listed(serving), LATE)["api_key"]["feedback"] == "expected"
    unknown = cli(serving, "anomalies", "feedback", "f" * 32, "unexpected")
    assert unknown.exit_code != 0
    assert "No anomaly has the id" in unknown.stderr


# -- the lifecycle on its own ------------------------------------------------------------------


def row(day: date, impact: str = "100", scope: str = "api_key:k", **changes: Any) -> Anomaly:
    a = Anomaly(
        id=anomaly_id(scope, day),
        day=day,
        scope=scope,
        dimension=scope.partition(":")[0],
        value_key=scope.partition(":")[2],
        value_label="k",
        method="seasonal",
        history_days=40,
        actual=Decimal(impact) + 10,
        expected=Decimal(10),
        low=Decimal(5),
        high=Decimal(20),
        impact=Decimal(impact),
        score=9.0,
        drivers=(),
        last_day=day,
        ongoing=False,
    )
    return replace(a, **changes)


def states(rows: list[Anomaly]) -> list[tuple[str, str | None]]:
    return [(r.state, r.reason) for r in with_states(rows)]


def test_expected_mutes_the_same_scope_for_30_days_up_to_twice_its_impact() -> None:
    d = date(2026, 10, 1)
    marked = row(d, feedback="expected")
    assert (
        states(
            [
                marked,
                row(d + timedelta(days=30), "200"),  # the last day of the window, twice the impact
                row(d + timedelta(days=31)),  # after the window
                row(d + timedelta(days=5), "200.01"),  # more than twice
                row(d + timedelta(days=5), scope="api_key:other"),  # another value
                row(d - timedelta(days=1)),  # before it
                row(d + timedelta(days=2), feedback="unexpected"),  # confirmed
                row(d + timedelta(days=3), ongoing=True),
            ]
        )[1:]
        == [
            (RESOLVED, MUTED),
            (PAST, BACK_TO_NORMAL),
            (PAST, BACK_TO_NORMAL),
            (PAST, BACK_TO_NORMAL),
            (PAST, BACK_TO_NORMAL),
            (PAST, BACK_TO_NORMAL),
            (RESOLVED, MUTED),
        ]
    )
    assert states([marked])[0] == (RESOLVED, MARKED_EXPECTED)


def test_a_revised_day_is_resolved_whatever_its_feedback() -> None:
    d = date(2026, 10, 1)
    assert states([row(d, qualifies=False, feedback="unexpected", ongoing=True)]) == [
        (RESOLVED, REVISED)
    ]
    assert states([row(d, ongoing=True)]) == [(ACTIVE, None)]


def test_an_evaluation_revises_only_what_it_scored() -> None:
    """Not found again: revised when its scope and day were scored; left alone when its day is
    provisional again; no longer running when its scope was not scored; a found one keeps its
    feedback."""
    d = date(2026, 11, 10)
    window = {"api_key:k": (d - timedelta(days=44), d)}
    stored = {
        r.id: r
        for r in (
            row(d - timedelta(days=3), ongoing=True),
            row(d + timedelta(days=1), ongoing=True),
            row(d, scope="api_key:gone", ongoing=True),
            row(d - timedelta(days=1), feedback="unexpected"),
        )
    }
    found = [row(d - timedelta(days=1), "150", ongoing=True)]
    merged = {(r.scope, r.day): r for r in merge(stored, found, window)}
    revised = merged[("api_key:k", d - timedelta(days=3))]
    assert (revised.qualifies, revised.state, revised.reason) == (False, RESOLVED, REVISED)
    ahead = merged[("api_key:k", d + timedelta(days=1))]
    assert (ahead.qualifies, ahead.ongoing, ahead.state) == (True, True, ACTIVE)
    gone = merged[("api_key:gone", d)]
    assert (gone.qualifies, gone.state, gone.reason) == (True, PAST, BACK_TO_NORMAL)
    again = merged[("api_key:k", d - timedelta(days=1))]
    assert (again.impact, again.feedback, again.state) == (Decimal(150), "unexpected", ACTIVE)
