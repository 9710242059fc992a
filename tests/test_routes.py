"""Routes against real receivers on loopback (an HTTP server for webhook and Slack posts,
aiosmtpd for e-mail), with an injected clock: which channel gets which alert (kind, severity,
scope; first matching route per channel; a channel no route names gets everything), groups held
for their wait and sent as one message, repeats of a still-firing alert, quiet hours that hold
what is not critical, a daily digest, and once per channel and status through all of it — also
with evaluators and flushes running at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from receivers import MASTER, Receiver, add_mailbox, alert_settings, at_once, receiving, smtp_server
from spendscope.cli import main
from spendscope.notify import records
from spendscope.notify.alert import Alert
from spendscope.notify.channels import Channel, ChannelStore, check_options
from spendscope.notify.delivery import Delivery, Pacing, deliver, flush
from spendscope.notify.routes import make_route
from spendscope.warehouse.connection import Warehouse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ENV = {"SPENDSCOPE_SECRET_KEY": MASTER, "SPENDSCOPE_NOW": NOW.isoformat()}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving()


def hook(store: ChannelStore, name: str, receiver: Receiver, kind: str = "webhook") -> Channel:
    options, plaintext = check_options(kind, url=receiver.url(f"/{name}"))
    return store.add(name, kind, options, plaintext, now=NOW)


def route(store: ChannelStore, name: str, *channels: str, **options: Any) -> None:
    known = [c.name for c in store.all()]
    store.add_route(make_route(name, channels, known_channels=known, now=NOW, **options))


def alert(
    subject: str = "payments@80%",
    *,
    kind: str = "budget",
    severity: str = "warning",
    scope: str = "team:payments",
    status: str = "firing",
) -> Alert:
    return Alert(
        kind=kind,
        scope=scope,
        subject=subject,
        period="2026-11",
        severity=severity,
        title=f"{kind} {subject} on {scope}",
        text=f"{kind} {subject} is {severity}.",
        status=status,
    )


class Evaluator:
    """`deliver` and `flush` with every channel of the store, as an evaluation would."""

    def __init__(self, store: ChannelStore, warehouse: Warehouse) -> None:
        self.store = store
        self.warehouse = warehouse

    def __call__(self, found: Alert, at: datetime) -> dict[str, Delivery]:
        pacing = Pacing(clock=lambda: at)
        done = deliver(
            found, self.store.all(), at, warehouse=self.warehouse, store=self.store, pacing=pacing
        )
        return {d.channel: d for d in done}

    def flush(self, at: datetime) -> list[Any]:
        return flush(self.warehouse, self.store, at, pacing=Pacing(clock=lambda: at))


@pytest.fixture
def evaluate(tmp_path: Path) -> Iterator[Evaluator]:
    wh = Warehouse(alert_settings(tmp_path))
    yield Evaluator(ChannelStore(wh.settings), wh)
    wh.close()


@pytest.fixture
def store(evaluate: Evaluator) -> ChannelStore:
    return evaluate.store


@pytest.fixture
def warehouse(evaluate: Evaluator) -> Warehouse:
    return evaluate.warehouse


def paths(receiver: Receiver) -> list[str]:
    return [p.path for p in receiver.posts]


# -- matching ---------------------------------------------------------------------------------


def test_routes_choose_the_channels_by_kind_severity_and_scope(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator
) -> None:
    for name in ("pager", "finance", "ops", "everything"):
        hook(store, name, receiver)
    route(store, "critical", "pager", severities=["critical"])
    route(store, "team-budgets", "finance", kinds=["budget"], scopes=["team:*"])
    route(store, "anomalies", "ops", kinds=["anomaly"])

    sent = evaluate(alert(severity="critical"), NOW)
    assert {c: d.state for c, d in sent.items()} == {
        "pager": "sent",
        "finance": "sent",
        "everything": "sent",  # no route names it: it gets every alert
    }
    assert sorted(paths(receiver)) == ["/everything", "/finance", "/pager"]

    receiver.posts.clear()
    evaluate(alert("org@80%", scope="organization"), NOW)
    assert paths(receiver) == ["/everything"]  # not critical, not a team, not an anomaly

    receiver.posts.clear()
    evaluate(alert("2026-11-21", kind="anomaly", scope="organization"), NOW)
    assert sorted(paths(receiver)) == ["/everything", "/ops"]


def test_the_first_matching_route_of_a_channel_decides(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator
) -> None:
    hook(store, "ops", receiver)
    route(store, "urgent", "ops", severities=["critical"])
    route(store, "later", "ops", group_wait="10m")
    at_once = evaluate(alert("a", severity="critical"), NOW)["ops"]
    held = evaluate(alert("b"), NOW)["ops"]
    assert (at_once.state, at_once.sent_now) == ("sent", True)
    assert (held.state, held.due) == ("held", NOW + timedelta(minutes=10))
    assert len(receiver.posts) == 1


# -- grouping -----------------------------------------------------------------------------------


def test_a_group_wait_sends_the_alerts_of_a_group_as_one_message(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator, warehouse: Warehouse
) -> None:
    hook(store, "hook", receiver)
    route(store, "grouped", "hook", group_by=["kind"], group_wait="5m")
    first, second = alert("a"), alert("b")
    other = alert("2026-11-21", kind="anomaly")
    assert evaluate(first, NOW)["hook"].due == NOW + timedelta(minutes=5)
    # a later member joins the group already waiting: it is due with it
    assert evaluate(second, NOW + timedelta(minutes=1))["hook"].due == NOW + timedelta(minutes=5)
    assert evaluate(other, NOW + timedelta(minutes=2))["hook"].due == NOW + timedelta(minutes=7)
    assert evaluate.flush(NOW + timedelta(minutes=4)) == []
    assert receiver.posts == []

    (message,) = evaluate.flush(NOW + timedelta(minutes=5))
    assert (message.kind, message.label, message.delivery.state) == (
        "group",
        "route grouped: kind=budget",
        "sent",
    )
    (post,) = receiver.bodies()
    assert (post["type"], post["count"], post["firing"], post["resolved"]) == ("group", 2, 2, 0)
    assert [n["fingerprint"] for n in post["notifications"]] == [
        first.fingerprint,
        second.fingerprint,
    ]
    assert post["label"] == "route grouped: kind=budget"
    # evaluating them again, or flushing again, sends nothing more
    assert evaluate(first, NOW + timedelta(minutes=6))["hook"].state == "sent"
    assert evaluate.flush(NOW + timedelta(minutes=6)) == []

    # a group of one is sent as the alert itself
    (single,) = evaluate.flush(NOW + timedelta(minutes=7))
    assert receiver.bodies()[1]["type"] == "alert"
    assert receiver.bodies()[1]["fingerprint"] == other.fingerprint
    assert single.delivery.sent_now

    # its resolution is held for the group wait too, then sent once
    assert evaluate(first.resolved(), NOW + timedelta(minutes=10))["hook"].state == "held"
    evaluate.flush(NOW + timedelta(minutes=15))
    evaluate.flush(NOW + timedelta(minutes=16))
    assert [(b["type"], b["status"]) for b in receiver.bodies()[2:]] == [("alert", "resolved")]
    log = records.attempt_log(warehouse, 10)
    assert len(log) == 4  # one attempt row per notification: 2 in the group, 1, 1
    assert {r["outcome"] for r in log} == {"sent"}


@pytest.mark.parametrize(
    ("options", "due", "kind"),
    [
        ({"group_wait": "1m"}, timedelta(minutes=1), "group"),
        ({"digest": "12:30"}, timedelta(minutes=30), "digest"),
    ],
)
def test_evaluators_and_flushes_at_once_send_each_message_once(
    receiver: Receiver,
    store: ChannelStore,
    warehouse: Warehouse,
    options: dict[str, str],
    due: timedelta,
    kind: str,
) -> None:
    hook(store, "hook", receiver)
    route(store, "held", "hook", **options)

    def evaluate_then_flush(wh: Warehouse, barrier: threading.Barrier) -> None:
        for name in ("a", "b"):
            deliver(alert(name), store.all(), NOW, warehouse=wh, store=store)
        barrier.wait()
        flush(wh, store, NOW + due)

    at_once(warehouse, evaluate_then_flush)
    (post,) = receiver.bodies()
    assert (post["type"], post["count"]) == (kind, 2)
    assert warehouse.read("SELECT state, count(*) FROM spendscope.alert_deliveries GROUP BY 1") == [
        ("sent", 2)
    ]


def test_evaluators_at_once_send_a_repeat_once(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook(store, "hook", receiver)
    route(store, "again", "hook", repeat_interval="1h")
    deliver(
        alert(),
        store.all(),
        NOW,
        warehouse=warehouse,
        store=store,
        pacing=Pacing(clock=lambda: NOW),
    )

    def evaluate(wh: Warehouse, barrier: threading.Barrier) -> None:
        deliver(alert(), store.all(), NOW + timedelta(hours=1), warehouse=wh, store=store)

    at_once(warehouse, evaluate)
    assert [b["repeat"] for b in receiver.bodies()] == [0, 1]


# -- repeats ------------------------------------------------------------------------------------


def test_a_still_firing_alert_is_repeated_after_the_interval_and_resolved_once(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator
) -> None:
    controller, inbox, port = smtp_server()
    try:
        hook(store, "hook", receiver)
        add_mailbox(store, "mail", port, "ops@example.com")
        hook(store, "plain", receiver)  # no route names it: no repeats
        route(store, "again", "hook", "mail", repeat_interval="4h")
        found = alert()
        for hours in (0, 1, 4, 7, 8):
            evaluate(found, NOW + timedelta(hours=hours))
        evaluate(found.resolved(), NOW + timedelta(hours=9))
        evaluate(found.resolved(), NOW + timedelta(hours=10))
    finally:
        controller.stop()
    by_path: dict[str, list[Any]] = {}
    for p in receiver.posts:
        by_path.setdefault(p.path, []).append(p.json())
    assert [(b["status"], b["repeat"]) for b in by_path["/hook"]] == [
        ("firing", 0),
        ("firing", 1),
        ("firing", 2),
        ("resolved", 0),
    ]
    assert len({b["idempotency_key"] for b in by_path["/hook"]}) == 4
    assert [(b["status"], b["repeat"]) for b in by_path["/plain"]] == [
        ("firing", 0),
        ("resolved", 0),
    ]
    messages = [m for m, _, _ in inbox.messages]
    assert [m["X-Spendscope-Status"] for m in messages] == ["firing"] * 3 + ["resolved"]
    root = messages[0]["Message-ID"]
    assert len({m["Message-ID"] for m in messages}) == 4
    for later in messages[1:]:  # repeats and the resolution thread under the first message
        assert later["In-Reply-To"].strip() == root


# -- quiet hours ----------------------------------------------------------------------------------


def test_quiet_hours_hold_what_is_not_critical_until_they_end(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator
) -> None:
    hook(store, "slack", receiver, kind="slack")
    route(store, "night", "slack", quiet_hours="22:00-07:00", timezone="Europe/Paris")
    evening = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    morning = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 in Paris
    assert evaluate(alert("a"), evening)["slack"].due == morning
    assert evaluate(alert("b", severity="info"), evening + timedelta(hours=2))["slack"].due == (
        morning
    )
    urgent = evaluate(alert("c", severity="critical"), evening)["slack"]
    assert (urgent.state, urgent.sent_now) == ("sent", True)
    assert evaluate.flush(morning - timedelta(minutes=1)) == []
    assert len(receiver.posts) == 1

    (message,) = evaluate.flush(morning)
    assert message.delivery.sent_now
    woke = receiver.bodies()[1]
    assert woke["text"] == "2 alerts (2 firing): route night"
    header, first, second = woke["blocks"]
    assert header["text"]["text"] == "2 alerts (2 firing): route night"
    assert "FIRING: budget a on team:payments" in first["text"]["text"]
    assert "FIRING: budget b on team:payments" in second["text"]["text"]

    # outside the quiet hours, nothing waits
    day = evaluate(alert("d"), morning + timedelta(hours=2))["slack"]
    assert (day.state, day.sent_now) == ("sent", True)


# -- the daily digest -----------------------------------------------------------------------------


def test_a_daily_digest_gathers_the_day_into_one_email(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator
) -> None:
    controller, inbox, port = smtp_server()
    try:
        add_mailbox(store, "mail", port, "finance@example.com")
        hook(store, "hook", receiver)
        route(store, "urgent", "mail", severities=["critical"])
        route(store, "daily", "mail", digest="08:00", timezone="America/New_York")
        digest_time = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # 08:00 in New York
        a, b = alert("a"), alert("b", kind="anomaly", severity="info")
        assert evaluate(a, NOW)["mail"].due == digest_time
        assert evaluate(b, NOW + timedelta(minutes=30))["mail"].due == digest_time
        assert evaluate(alert("c", severity="critical"), NOW)["mail"].sent_now
        assert evaluate.flush(digest_time - timedelta(seconds=1)) == []
        assert len(inbox.messages) == 1  # the critical one, at once

        (digest,) = evaluate.flush(digest_time)
        assert (digest.kind, digest.label) == ("digest", "2026-11-22")
        evaluate(a.resolved(), digest_time + timedelta(hours=1))  # the next day's digest
        assert evaluate.flush(digest_time + timedelta(hours=2)) == []
        (next_day,) = evaluate.flush(digest_time + timedelta(days=1))
    finally:
        controller.stop()
    subjects = [m["Subject"] for m, _, _ in inbox.messages]
    assert subjects == [
        "[spendscope] FIRING: budget c on team:payments",
        "[spendscope] Daily digest 2026-11-22: 2 notifications (2 firing)",
        "[spendscope] Daily digest 2026-11-23: 1 notification (1 resolved)",
    ]
    body = inbox.messages[1][0].get_content()
    assert "FIRING: budget a on team:payments" in body
    assert "FIRING: anomaly b on team:payments" in body
    assert "RESOLVED: budget a on team:payments" in inbox.messages[2][0].get_content()
    assert next_day.delivery.sent_now
    # the webhook no route names had each notification at once
    assert [(b["type"], b["status"]) for b in receiver.bodies()] == [
        ("alert", "firing"),
        ("alert", "firing"),
        ("alert", "firing"),
        ("alert", "resolved"),
    ]


# -- previews and removed channels ----------------------------------------------------------------


def test_a_dry_run_says_what_a_route_would_hold_and_writes_nothing(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook(store, "hook", receiver)
    hook(store, "pager", receiver)
    route(store, "later", "hook", group_wait="15m")
    route(store, "critical", "pager", severities=["critical"])
    found = records.preview_notice(warehouse, alert(), store.all(), NOW)
    assert [(s.channel, s.state, s.due) for s in found] == [
        ("hook", "would_hold", NOW + timedelta(minutes=15))
    ]
    assert warehouse.read("SELECT count(*) FROM spendscope.alert_instances") == [(0,)]
    assert receiver.posts == []


def test_held_notifications_of_a_removed_channel_are_dead(
    receiver: Receiver, store: ChannelStore, evaluate: Evaluator, warehouse: Warehouse
) -> None:
    hook(store, "hook", receiver)
    route(store, "later", "hook", group_wait="15m")
    evaluate(alert(), NOW)
    store.remove_route("later")
    store.remove("hook")
    assert evaluate.flush(NOW + timedelta(minutes=15)) == []
    (dead,) = records.dead_deliveries(warehouse)
    assert dead["channel"] == "hook"
    assert dead["last_error"] == "the channel was removed before it was sent"
    assert receiver.posts == []


# -- the command line -------------------------------------------------------------------------


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def test_cli_routes_add_list_remove(tmp_path: Path, receiver: Receiver) -> None:
    home = tmp_path / "home"
    for name in ("ops", "mail"):
        r = cli(
            home, "alerts", "channels", "add", name, "--kind", "webhook", "--url", receiver.url()
        )
        assert r.exit_code == 0, r.output
    added = cli(
        home, "alerts", "routes", "add", "night", "--channel", "ops", "--severity", "warning",
        "--severity", "info", "--scope", "team:*", "--group-by", "kind", "--group-wait", "5m",
        "--repeat-interval", "4h", "--quiet-hours", "22:00-07:00", "--timezone", "Europe/Paris",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.stderr == (
        "added route night: severity=warning,info scope=team:* → ops (group by kind, wait 5m)\n"
    )
    digest = cli(home, "alerts", "routes", "add", "daily", "--channel", "mail", "--digest", "8:00")
    assert digest.exit_code == 0, digest.output
    listed = json.loads(cli(home, "alerts", "routes", "list", "--json").stdout)
    assert listed == [
        {
            "name": "night",
            "channels": "ops",
            "match": "severity=warning,info scope=team:*",
            "timing": "group by kind, wait 5m",
            "repeat": "4h",
            "quiet_hours": "22:00-07:00",
            "timezone": "Europe/Paris",
            "created_at": NOW.isoformat(),
        },
        {
            "name": "daily",
            "channels": "mail",
            "match": "everything",
            "timing": "daily digest at 08:00",
            "repeat": None,
            "quiet_hours": None,
            "timezone": "UTC",
            "created_at": NOW.isoformat(),
        },
    ]
    stored = json.loads((home / "channels.json").read_text())
    assert [r["name"] for r in stored["routes"]] == ["night", "daily"]

    refused = cli(home, "alerts", "channels", "remove", "ops")
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: channel 'ops' is named by route(s) night; remove them first (spendscope alerts "
        "routes remove NAME)\n"
    )
    removed = cli(home, "alerts", "routes", "remove", "night")
    assert (removed.exit_code, removed.stderr) == (0, "removed route night\n")
    assert cli(home, "alerts", "channels", "remove", "ops").exit_code == 0
    unknown = cli(home, "alerts", "routes", "remove", "night")
    assert unknown.exit_code == 1
    assert "unknown route 'night'; known routes: daily" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channel", "nope"], "error: unknown channel 'nope' (channels: ops)"),
        (["--channel", "ops", "--group-wait", "soon"],
         "error: --group-wait 'soon' is not a duration like 30s, 15m, 4h or 1d"),
        (["--channel", "ops", "--group-by", "kind"],
         "error: --group-by needs a --group-wait (how long to gather a group)"),
        (["--channel", "ops", "--severity", "urgent"],
         "error: --severity 'urgent' is not one of info, warning, critical"),
        (["--channel", "ops", "--quiet-hours", "22:00"],
         "error: --quiet-hours '22:00' is not a range like 22:00-07:00"),
        (["--channel", "ops", "--digest", "08:00", "--group-wait", "5m"],
         "error: --digest sends one message a day: it does not go with --group-wait or "
         "--quiet-hours"),
        (["--channel", "ops", "--digest", "08:00", "--timezone", "Mars/Olympus"],
         "error: unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Paris or UTC"),
        (["--channel", "ops", "--repeat-interval", "10s"],
         "error: --repeat-interval is at least 1m"),
    ],
)  # fmt: skip
def test_cli_refuses_a_bad_route_in_one_line(
    tmp_path: Path, receiver: Receiver, args: list[str], message: str
) -> None:
    home = tmp_path / "home"
    ok = cli(home, "alerts", "channels", "add", "ops", "--kind", "webhook", "--url", receiver.url())
    assert ok.exit_code == 0, ok.output
    r = cli(home, "alerts", "routes", "add", "r", *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [message]
    assert json.loads((home / "channels.json").read_text())["routes"] == []


def test_a_channel_has_one_digest_a_day(tmp_path: Path, receiver: Receiver) -> None:
    home = tmp_path / "home"
    cli(home, "alerts", "channels", "add", "ops", "--kind", "webhook", "--url", receiver.url())
    first = cli(home, "alerts", "routes", "add", "a", "--channel", "ops", "--digest", "08:00")
    assert first.exit_code == 0, first.output
    second = cli(home, "alerts", "routes", "add", "b", "--channel", "ops", "--digest", "18:00")
    assert second.exit_code == 2
    assert second.stderr == (
        "error: channel 'ops' already has its daily digest at 08:00 UTC (route 'a'); a channel "
        "has one digest a day\n"
    )
