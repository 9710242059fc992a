"""The alerts a sync raises, through the channels (real receivers on loopback) like any other:
`data_ready` after a connection's first backfill (and the bare `notify_webhook` notice, still
sent), and `sync_failing` once a connection's syncs have failed for longer than
`sync_failing_hours`, resolved by its next successful sync. The clock is injected: failures are
dated in the event log, never waited for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW, Api, connect, make_settings, sync
from receivers import Receiver, receiving
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.notify.channels import ChannelStore, check_options
from spendscope.simulator.server import RunningSimulator
from spendscope.sync.notices import failing_since, sync_alerts
from spendscope.sync.reports import ConnectionReport, event_row
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import to_arrow
from spendscope.warehouse.tables import EVENTS

REFUSED_KEY = "sk-ant-admin01-" + "x" * 40


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving()


def add_channel(settings: Settings, receiver: Receiver) -> None:
    options, plaintext = check_options("webhook", url=receiver.url("/hook"))
    ChannelStore(settings).add("hook", "webhook", options, plaintext, now=NOW)


def hooked(receiver: Receiver) -> list[Any]:
    return [p.json() for p in receiver.posts if p.path == "/hook"]


def failed_at(settings: Settings, label: str, *times: datetime) -> None:
    """`sync failed` events of `label` in the event log, at `times`."""
    wh = Warehouse(settings)
    try:
        rows = [event_row(label, "error", "sync", "sync failed: HTTP 401", at=t) for t in times]
        wh.load({EVENTS.name: to_arrow(EVENTS, rows)})
    finally:
        wh.close()


def add_refused(settings: Settings, api: Api, url: str, label: str = "broken") -> ConnectionStore:
    """A connection to Acme Platform whose key the API refuses (401)."""
    org = next(o for o in api.info()["organizations"] if o["name"] == "Acme Platform")
    store = ConnectionStore(settings)
    store.add(
        label,
        "console",
        REFUSED_KEY,
        base_url=url,
        organization_id=org["id"],
        organization_name=org["name"],
    )
    return store


def test_the_first_backfill_sends_data_ready_through_the_channels_and_the_webhook(
    simulator: RunningSimulator, api: Api, tmp_path: Path, receiver: Receiver
) -> None:
    settings = make_settings(
        tmp_path / "home", console_backfill_days=3, notify_webhook=receiver.url("/bare")
    )
    store = connect(settings, api, simulator.url, which="console")
    add_channel(settings, receiver)
    (report,) = sync(settings, store)
    assert report.error is None
    bare = [p.json() for p in receiver.posts if p.path == "/bare"]
    assert bare == [{"connection": "acme-console", "event": "data_ready", "rows": report.rows}]
    (ready,) = hooked(receiver)
    assert (ready["kind"], ready["status"], ready["severity"]) == ("data_ready", "firing", "info")
    assert (ready["scope"], ready["subject"], ready["period"]) == (
        "connection:acme-console",
        "acme-console",
        "2026-11-22",
    )
    assert ready["title"] == "Data is ready for connection acme-console"
    assert ready["details"] == {"connection": "acme-console", "rows": report.rows}
    assert report.rows > 0

    sync(settings, store)  # not a first backfill: nothing more
    assert len(receiver.posts) == 2


def test_a_sync_failing_too_long_alerts_and_its_recovery_resolves(
    simulator: RunningSimulator, api: Api, tmp_path: Path, receiver: Receiver
) -> None:
    settings = make_settings(tmp_path / "home", console_backfill_days=2, sync_failing_hours=1)
    store = add_refused(settings, api, simulator.url)
    add_channel(settings, receiver)
    since = NOW - timedelta(hours=2)
    failed_at(settings, "broken", since)  # failing for two hours already

    (report,) = sync(settings, store)
    assert report.error is not None
    (firing,) = hooked(receiver)
    assert (firing["kind"], firing["status"], firing["severity"]) == (
        "sync_failing",
        "firing",
        "warning",
    )
    assert firing["title"] == "Sync of connection broken is failing"
    assert firing["details"]["failing_since"] == since.isoformat()
    assert firing["details"]["threshold_hours"] == 1.0
    assert firing["details"]["last_error"] == report.error
    assert "since 2026-11-22 10:00 UTC has failed" in firing["text"]

    sync(settings, store)  # still failing: the same alert, not sent again
    assert len(hooked(receiver)) == 1

    # the key is replaced, the next sync succeeds: resolved, once
    store.remove("broken")
    connect_again = ConnectionStore(settings)
    org = next(o for o in api.info()["organizations"] if o["name"] == "Acme Platform")
    connect_again.add(
        "broken",
        "console",
        api.key("console", "admin"),
        base_url=simulator.url,
        organization_id=org["id"],
        organization_name=org["name"],
    )
    (fixed,) = sync(settings, connect_again)
    assert fixed.error is None
    sync(settings, connect_again)
    statuses = [(b["kind"], b["status"]) for b in hooked(receiver)]
    assert statuses == [
        ("sync_failing", "firing"),
        ("sync_failing", "resolved"),
        ("data_ready", "firing"),  # its first complete backfill
    ]


def test_sync_failing_waits_for_the_threshold_and_counts_from_the_first_failure(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = make_settings(tmp_path / "home", sync_failing_hours=6)
    add_channel(settings, receiver)
    start = NOW - timedelta(hours=8)
    wh = Warehouse(settings)
    try:
        ok = event_row("acme", "info", "sync", "sync finished", at=start - timedelta(hours=1))
        wh.load({EVENTS.name: to_arrow(EVENTS, [ok])})
    finally:
        wh.close()
    failed_at(settings, "acme", start, start + timedelta(hours=3))
    failing = [ConnectionReport("acme", error="HTTP 401")]
    wh = Warehouse(settings)
    try:
        assert failing_since(wh, "acme") == start
        early = sync_alerts(settings, wh, failing, start + timedelta(hours=5, minutes=59), {})
        assert early == {}
        assert receiver.posts == []
        due = sync_alerts(settings, wh, failing, start + timedelta(hours=6), {})
        assert [(d.channel, d.state) for d in due["acme"]] == [("hook", "sent")]
        # a success resolves it; another success has nothing left to clear
        cleared = sync_alerts(settings, wh, [ConnectionReport("acme")], NOW, {})
        assert [d.state for d in cleared["acme"]] == ["sent"]
        assert sync_alerts(settings, wh, [ConnectionReport("acme")], NOW, {}) == {}
    finally:
        wh.close()
    firing, resolved = hooked(receiver)
    assert (firing["status"], firing["details"]["failing_since"]) == ("firing", start.isoformat())
    assert (resolved["status"], resolved["details"]["recovered_at"]) == (
        "resolved",
        NOW.isoformat(),
    )
    assert resolved["text"] == "Connection acme synced successfully again at 2026-11-22 12:00 UTC."


def test_with_no_channel_a_sync_records_no_alert(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", sync_failing_hours=1)
    failed_at(settings, "acme", NOW - timedelta(days=1))
    wh = Warehouse(settings)
    try:
        failing = [ConnectionReport("acme", error="HTTP 401")]
        assert sync_alerts(settings, wh, failing, NOW, {"acme": True}) == {}
        assert wh.read("SELECT count(*) FROM spendscope.alert_instances") == [(0,)]
    finally:
        wh.close()
