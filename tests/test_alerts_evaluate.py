"""Budget alerts evaluated and delivered: `spendscope alerts evaluate` over a copy of the synced
warehouse, against a real HTTP receiver on loopback. The thresholds crossed at once send one
notification (the most severe), evaluating again sends nothing, a dry run sends and changes
nothing, a raised budget sends one `resolved`; a receiver that always fails leaves a dead
delivery that `status` shows; and the evaluation `serve` runs after each sync delivers too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import NOW, copy_home
from receivers import Receiver, receiving
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.limit_tables import SPEND_LIMIT_SNAPSHOTS

ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving()


# -- helpers ------------------------------------------------------------------------------------


def cli(home: Path, *args: str, stdin: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env={**ENV, **env}, input=stdin)


def ok(r: Result) -> Result:
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def settings(synced: Settings, tmp_path: Path) -> Settings:
    """A copy of the synced home with budget alerts only: its members' Anthropic cap snapshots
    (several are over their cap, each a `spend_limit` alert) are removed; those alerts are
    tested in test_spend_limits_watch.py."""
    home = copy_home(synced, tmp_path / "home")
    wh = Warehouse(home)
    try:
        wh.execute(f"DELETE FROM spendscope.{SPEND_LIMIT_SNAPSHOTS.name}")
    finally:
        wh.close()
    return home


def month_to_date(home: Path) -> Decimal:
    r = ok(cli(home, "forecast", "--scope", "organization", "--json"))
    return Decimal(json.loads(r.stdout)["forecast"]["month_to_date"])


def set_budget(home: Path, amount: Decimal) -> None:
    ok(cli(home, "budgets", "set", "org", "--scope", "organization", "--monthly", str(amount)))


def add_hook(home: Path, receiver: Receiver, name: str = "hook") -> None:
    args = ["alerts", "channels", "add", name, "--kind", "webhook", "--url", "-"]
    ok(cli(home, *args, stdin=f"{receiver.url()}\n"))


def evaluate(home: Path, *args: str, **env: str) -> Result:
    return cli(home, "alerts", "evaluate", *args, **env)


def states(home: Path) -> list[tuple[str, str]]:
    (org,) = json.loads(ok(cli(home, "budgets", "list", "--json")).stdout)["budgets"]
    return [(s["threshold"], s["state"]) for s in org["states"]]


def over_budget(settings: Settings, receiver: Receiver) -> Decimal:
    """A budget the month to date is 102 % of, and a webhook channel; the amount."""
    home = settings.home
    amount = (month_to_date(home) / Decimal("1.02")).quantize(Decimal("0.01"))
    set_budget(home, amount)
    add_hook(home, receiver)
    return amount


# -- tests --------------------------------------------------------------------------------------


def test_evaluate_sends_the_most_severe_once_and_resolved_once(
    settings: Settings, receiver: Receiver
) -> None:
    home = settings.home
    amount = over_budget(settings, receiver)

    # A dry run says what would be sent and to whom, sends nothing and changes nothing.
    dry = evaluate(home, "--dry-run")
    ok(dry)
    title = f"Budget org: 100 % of ${amount:,} reached (2026-11)"
    assert dry.stdout == f"firing critical: {title} → hook: would send\n"
    assert "dry run: nothing was sent and no state changed" in dry.stderr
    dry_json = json.loads(ok(evaluate(home, "--dry-run", "--json")).stdout)
    assert dry_json["dry_run"] is True
    assert [d["state"] for d in dry_json["alerts"][0]["deliveries"]] == ["would_send"]
    assert receiver.bodies() == []
    assert [s for _, s in states(home)] == ["ok", "ok", "ok"]

    # The real run: one notification for 50, 80 and 100 % crossed at once, the most severe.
    found = json.loads(ok(evaluate(home, "--json")).stdout)
    assert (found["dry_run"], found["events"], found["sent"], found["failed"]) == (
        False,
        1,
        1,
        0,
    )
    (alert,) = found["alerts"]
    assert (alert["status"], alert["severity"], alert["kind"], alert["title"]) == (
        "firing",
        "critical",
        "budget",
        title,
    )
    assert alert["subject"] == "org@100%"
    assert alert["details"]["threshold_percent"] == "100"
    assert alert["details"]["amount"] == str(amount)
    assert [c["threshold_percent"] for c in alert["details"]["covers"]] == ["100", "80", "50"]
    (delivery,) = alert["deliveries"]
    assert (delivery["channel"], delivery["state"], delivery["sent_now"]) == ("hook", "sent", True)
    (post,) = receiver.bodies()
    assert (post["status"], post["severity"], post["title"]) == ("firing", "critical", title)
    assert post["fingerprint"] == alert["fingerprint"]
    assert [s for _, s in states(home)] == ["firing", "firing", "firing"]

    # Evaluating the same data again sends nothing.
    again = ok(evaluate(home))
    assert again.stdout == ""
    assert "nothing to send" in again.stderr
    assert len(receiver.posts) == 1

    # Raising the budget resolves every threshold: one `resolved` for the alert that fired.
    set_budget(home, amount * 10)
    preview = ok(evaluate(home, "--dry-run"))
    assert preview.stdout == (
        "resolved critical: Budget org: 100 % cleared (2026-11) → hook: would send\n"
    )
    assert len(receiver.posts) == 1
    resolved = ok(evaluate(home))
    assert (
        resolved.stdout == "resolved critical: Budget org: 100 % cleared (2026-11) → hook: sent\n"
    )
    assert [(p["status"], p["fingerprint"]) for p in receiver.bodies()] == [
        ("firing", alert["fingerprint"]),
        ("resolved", alert["fingerprint"]),
    ]
    assert ok(evaluate(home)).stdout == ""
    assert len(receiver.posts) == 2


def test_a_dry_run_before_a_real_run_loses_nothing(settings: Settings, receiver: Receiver) -> None:
    home = settings.home
    over_budget(settings, receiver)
    for _ in range(2):
        ok(evaluate(home, "--dry-run"))
    assert receiver.bodies() == []
    ok(evaluate(home))
    assert [p["status"] for p in receiver.bodies()] == ["firing"]


def test_a_receiver_that_always_fails_leaves_a_dead_delivery_status_shows(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spendscope.notify import delivery

    home = settings.home
    over_budget(settings, receiver)
    receiver.status = 503
    healthy = json.loads(ok(cli(home, "status", "--json")).stdout)
    assert {r["dead_deliveries"]["count"] for r in healthy} == {0}

    waits: list[float] = []  # the backoff goes through the injected sleeper: nothing waits
    monkeypatch.setattr(delivery, "sleeper", waits.append)
    failed = evaluate(home, SPENDSCOPE_ALERT_ATTEMPTS="2", SPENDSCOPE_ALERT_BACKOFF_SECONDS="30")
    assert failed.exit_code == 1, (failed.stdout, failed.stderr)
    assert waits == [30.0]
    assert len(receiver.posts) == 2  # both attempts
    assert "hook: dead after 2 attempt(s) (HTTP 503" in failed.stdout
    assert "error: alert 'Budget org: 100 % of" in failed.stderr
    assert "see spendscope alerts log --dead" in failed.stderr

    # The dead delivery is not retried by the next evaluation, and `status` shows it.
    assert ok(evaluate(home)).stdout == ""
    assert len(receiver.posts) == 2
    table = ok(cli(home, "status", "--events", "0")).stdout
    assert "alerts: 1 notification(s) never delivered (dead); newest: 'Budget org: 100 %" in table
    assert "to channel hook" in table
    rows = json.loads(ok(cli(home, "status", "--json")).stdout)
    assert rows
    for row in rows:
        dead = row["dead_deliveries"]
        assert dead["count"] == 1
        assert dead["newest"]["channel"] == "hook"
        assert dead["newest"]["title"].startswith("Budget org: 100 % of $")
        assert dead["newest"]["status"] == "firing"
        assert "HTTP 503" in dead["newest"]["error"]


def test_serve_evaluates_after_a_sync(settings: Settings, receiver: Receiver) -> None:
    from spendscope.refresh import initialize
    from spendscope.sync.service import SyncService
    from spendscope.warehouse.connection import Warehouse
    from spendscope.watch.alerting import after_sync

    over_budget(settings, receiver)
    wh = Warehouse(settings)
    try:
        initialize(wh)
        service = SyncService(
            settings,
            wh,
            scheduled=False,
            now=lambda: NOW,
            after_sync=after_sync(settings, wh, lambda: NOW),
        )
        service.run_after_sync([])  # nothing synced: nothing evaluated
        assert receiver.bodies() == []
        service.run_after_sync(["acme-console"])
        assert [(p["status"], p["severity"]) for p in receiver.bodies()] == [("firing", "critical")]
        service.run_after_sync(["acme-console"])
        assert len(receiver.posts) == 1

        # A failing evaluation is written to the event log and never raised.
        def broken() -> list[str]:
            raise RuntimeError("boom")

        failing = SyncService(settings, wh, scheduled=False, now=lambda: NOW, after_sync=broken)
        failing.run_after_sync(["acme-console"])
        logged = wh.read(
            "SELECT level, category, message, detail FROM spendscope.events "
            "WHERE connection_label = 'acme-console' AND message LIKE 'alert evaluation%'"
        )
        assert [(r[0], r[1], r[2]) for r in logged] == [
            ("error", "notice", "alert evaluation after the sync failed")
        ]
        assert "boom" in json.loads(logged[0][3])["error"]
    finally:
        wh.close()


def test_a_route_holds_the_alert_and_a_later_evaluation_sends_it(
    settings: Settings, receiver: Receiver
) -> None:
    home = settings.home
    over_budget(settings, receiver)
    add_hook(home, receiver, "later")
    r = cli(home, "alerts", "routes", "add", "wait", "--channel", "later", "--group-wait", "10m")
    ok(r)
    title = json.loads(ok(evaluate(home, "--dry-run", "--json")).stdout)["alerts"][0]["title"]
    preview = ok(evaluate(home, "--dry-run"))
    assert preview.stdout == (
        f"firing critical: {title} → hook: would send; later: would hold until "
        "2026-11-22 12:10 UTC\n"
    )
    first = ok(evaluate(home))
    assert first.stdout == (
        f"firing critical: {title} → hook: sent; later: held until 2026-11-22 12:10 UTC\n"
    )
    assert "note: 1 notification(s) held for later (a group), due 2026-11-22 12:10 UTC" in (
        first.stderr
    )
    assert len(receiver.posts) == 1
    soon = NOW.replace(minute=9).isoformat()
    assert ok(evaluate(home, SPENDSCOPE_NOW=soon)).stdout == ""  # not due yet
    due = NOW.replace(minute=10).isoformat()
    sent = ok(evaluate(home, SPENDSCOPE_NOW=due))
    assert sent.stdout == "group route wait (1 notification) → later: sent\n"
    assert [(p.path, p.json()["title"]) for p in receiver.posts] == [
        ("/hooks/secret-token", title),
        ("/hooks/secret-token", title),
    ]
    assert ok(evaluate(home, SPENDSCOPE_NOW=due)).stdout == ""


@pytest.mark.slow
def test_log_and_evaluate_go_through_serve(settings: Settings, receiver: Receiver) -> None:
    from serving import Serve

    home = settings.home
    amount = over_budget(settings, receiver)
    title = f"Budget org: 100 % of ${amount:,} reached (2026-11)"
    with Serve(home):
        dry = ok(evaluate(home, "--dry-run"))
        assert dry.stdout == f"firing critical: {title} → hook: would send\n"
        assert receiver.posts == []
        found = json.loads(ok(evaluate(home, "--json")).stdout)
        assert (found["sent"], found["failed"], found["flushed"], found["held"]) == (1, 0, [], [])
        assert [d["state"] for d in found["alerts"][0]["deliveries"]] == ["sent"]
        assert [p["title"] for p in receiver.bodies()] == [title]
        again = ok(evaluate(home))
        assert (again.stdout, again.stderr) == ("", "nothing to send\n")
        served_log = json.loads(ok(cli(home, "alerts", "log", "--json")).stdout)
        served_table = ok(cli(home, "alerts", "log")).stdout
        served_dead = ok(cli(home, "alerts", "log", "--dead", "--json")).stdout
    assert [(r["channel"], r["outcome"], r["title"]) for r in served_log] == [
        ("hook", "sent", title)
    ]
    assert json.loads(served_dead) == []
    # the same as read from the warehouse once serve is gone
    assert json.loads(ok(cli(home, "alerts", "log", "--json")).stdout) == served_log
    assert ok(cli(home, "alerts", "log")).stdout == served_table
    assert len(receiver.posts) == 1
