"""Anthropic spend limits as spendscope shows and watches them: `spendscope limits` and
`GET /api/v1/spend-limits` (the same answer, locally and through `serve`), pseudonyms, and the
`spend_limit` alert — a member at N % of their cap, each threshold firing once a month and
resolving when the cap is raised or the month ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from conftest import NOW, Api, copy_home, make_settings
from receivers import Receiver, receiving
from serving import Serve
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.notify.alert import Alert
from spendscope.notify.channels import ChannelStore, check_options
from spendscope.notify.delivery import deliver
from spendscope.privacy import PATTERN
from spendscope.refresh import initialize
from spendscope.sources.spend_limits import CONSOLE_MESSAGE
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.limit_tables import SPEND_LIMIT_SNAPSHOTS
from spendscope.warehouse.schema import day_start, row_key, to_arrow
from spendscope.watch.alerting import evaluate_alerts
from spendscope.watch.limit_alerts import limit_alerts, spend_limits_answer

ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
MEMBER_KEYS = [
    "connection",
    "user_id",
    "name",
    "email",
    "amount",
    "currency",
    "period",
    "spend",
    "percent",
    "source",
    "source_detail",
]


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def limits_json(home: Path) -> dict[str, Any]:
    r = cli(home, "limits", "--json")
    assert r.exit_code == 0, r.output
    found: dict[str, Any] = json.loads(r.stdout)
    return found


# -- what the CLI and the API show ----------------------------------------------------------------


def test_the_cli_and_the_api_answer_the_contract(synced: Settings, api: Api) -> None:
    from spendscope.web.app import create_app

    local = limits_json(synced.home)
    with TestClient(create_app(synced, now=lambda: NOW), base_url="http://127.0.0.1") as c:
        r = c.get("/api/v1/spend-limits")
    assert r.status_code == 200
    assert r.json() == local
    assert list(local) == ["snapshot_date", "connections", "members"]
    assert local["snapshot_date"] == "2026-11-22"
    assert local["connections"] == [
        {"connection": "acme-console", "status": "not_enterprise", "message": CONSOLE_MESSAGE},
        {"connection": "acme-enterprise", "status": "ok", "message": None},
    ]
    shown = local["members"]
    assert len(shown) == 62
    upstream = {
        r["scope"]["user_id"]: r
        for r in api.get(
            "/v1/organizations/spend_limits/effective",
            api.key("enterprise", "analytics"),
            {"limit": 100},
        ).json()["data"]
    }
    for m in shown:
        assert list(m) == MEMBER_KEYS
        u = upstream[m["user_id"]]
        assert (m["connection"], m["email"], m["name"]) == (
            "acme-enterprise",
            u["actor"]["email_address"],
            u["actor"]["name"],
        )
        amount = None if u["amount"] is None else Decimal(u["amount"]) / 100
        spend = None if u["period_to_date_spend"] == "0" else Decimal(u["period_to_date_spend"])
        spend = None if spend is None else spend / 100
        assert (m["amount"] is None) == (amount is None)
        assert amount is None or Decimal(m["amount"]) == amount
        assert amount is None or len(m["amount"].split(".")[1]) >= 2
        assert (m["spend"] is None) == (spend is None)
        assert spend is None or Decimal(m["spend"]) == spend
        expected = None
        if amount and spend is not None:
            expected = str((spend / amount * 100).quantize(Decimal("0.1"), ROUND_HALF_UP))
        assert m["percent"] == expected
        assert m["source"] == u["source"]["type"]
    percents = [Decimal(m["percent"]) for m in shown if m["percent"] is not None]
    assert percents == sorted(percents, reverse=True)
    assert percents[0] >= 100  # someone is past their cap in this world
    assert all(m["percent"] is None for m in shown[len(percents) :])
    assert {m["source_detail"] for m in shown if m["source"] == "seat_tier"} == {
        "enterprise_standard"
    }
    # An RBAC group by its name (the groups list is synced too).
    assert {m["source_detail"] for m in shown if m["source"] == "rbac_group"} == {
        "Research",
        "Support",
    }
    table = cli(synced.home, "limits")
    assert table.exit_code == 0
    assert "Anthropic spend limits, snapshot of 2026-11-22" in table.stdout
    assert f"acme-console: {CONSOLE_MESSAGE}" in table.stdout
    assert "unlimited" in table.stdout
    assert "$" in table.stdout
    csv_out = cli(synced.home, "limits", "--csv")
    lines = csv_out.stdout.splitlines()
    assert lines[0] == "connection,member,cap,spend,percent,source"
    assert len(lines) == 63


def test_through_a_running_serve(synced: Settings, tmp_path: Path) -> None:
    local = limits_json(synced.home)
    home = copy_home(synced, tmp_path / "home").home
    with Serve(home):
        assert (home / "serve.json").exists()
        assert limits_json(home) == local


def test_pseudonyms_hide_addresses_and_names(synced: Settings, tmp_path: Path) -> None:
    settings = copy_home(synced, tmp_path / "home", pseudonymize_emails=True)
    wh = Warehouse(settings)
    try:
        found = spend_limits_answer(wh)
    finally:
        wh.close()
    assert len(found["members"]) == 62
    assert all(PATTERN.fullmatch(m["email"]) for m in found["members"])
    assert all(m["name"] is None for m in found["members"])


def test_a_connection_never_snapshot_says_so(tmp_path: Path) -> None:
    from spendscope.connections import ConnectionStore

    settings = make_settings(tmp_path / "home")
    ConnectionStore(settings).add(
        "new",
        "enterprise",
        "sk-ant-api01-x",
        base_url="http://127.0.0.1:9",
        organization_id="o",
        organization_name="O",
    )
    wh = Warehouse(settings)
    try:
        found = spend_limits_answer(wh)
    finally:
        wh.close()
    assert found["snapshot_date"] is None
    assert [(c["connection"], c["status"]) for c in found["connections"]] == [("new", "never")]


# -- the alert -------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving()


def member(
    day: date, user: str, amount: str | None, spend: str | None, label: str = "ent"
) -> dict[str, Any]:
    """A row of a daily snapshot: amounts in dollars, None for unlimited / unknown."""
    return {
        "row_key": row_key(label, SPEND_LIMIT_SNAPSHOTS.name, day_start(day), user, "monthly"),
        "connection_label": label,
        "bucket_start": day_start(day),
        "snapshot_date": day,
        "user_id": user,
        "period": "monthly",
        "actor_type": "user_actor",
        "user_name": f"Member {user[-1].upper()}",
        "user_email": f"{user}@example.com",
        "user_deleted": False,
        "scope_type": "user",
        "amount": None if amount is None else Decimal(amount),
        "amount_minor": None if amount is None else str(int(Decimal(amount) * 100)),
        "currency": "USD",
        "source_type": "seat_tier",
        "source_detail": "enterprise_standard",
        "spend_limit_id": "spl_01x",
        "period_to_date_spend": None if spend is None else Decimal(spend),
        "period_to_date_spend_minor": "0" if spend is None else str(Decimal(spend) * 100),
        "fetched_at": day_start(day),
    }


def at(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def test_each_threshold_fires_once_a_month(tmp_path: Path, receiver: Receiver) -> None:
    settings = make_settings(tmp_path / "home")
    store = ChannelStore(settings)
    store.add("hook", "webhook", *check_options("webhook", url=receiver.url()))
    wh = Warehouse(settings)

    def load(day: date, *rows: tuple[str, str | None, str | None]) -> None:
        snap = [member(day, u, a, s) for u, a, s in rows]
        wh.load({SPEND_LIMIT_SNAPSHOTS.name: to_arrow(SPEND_LIMIT_SNAPSHOTS, snap)})

    def evaluate(now: datetime) -> list[Alert]:
        found = limit_alerts(wh, settings, now)
        for alert in found:
            deliver(alert, store.all(), now, warehouse=wh, store=store)
        return found

    def brief(alerts: list[Alert]) -> set[tuple[str, str, str]]:
        return {(a.details["user_id"], a.details["threshold_percent"], a.status) for a in alerts}

    try:
        day = date(2026, 11, 20)
        load(
            day,
            ("user_a", "100", "85"),  # 85 %: the 80 % alert
            ("user_b", "50", "60"),  # 120 %: 80 and 100 crossed at once, one alert (100)
            ("user_c", "100", None),  # spend unknown
            ("user_d", None, "500"),  # unlimited
            ("user_e", "0", "10"),  # a cap of nothing beyond the plan: no percent
        )
        first = evaluate(at(20))
        assert brief(first) == {("user_a", "80", "firing"), ("user_b", "100", "firing")}
        by_user = {a.details["user_id"]: a for a in first}
        assert by_user["user_a"].severity == "warning"
        assert by_user["user_b"].severity == "critical"
        assert by_user["user_a"].kind == "spend_limit"
        assert by_user["user_a"].title == "Member A at 85.0% of their Anthropic spend cap (2026-11)"
        assert "$85.00 of a $100.00 monthly cap" in by_user["user_a"].text
        assert len(receiver.posts) == 2
        again = evaluate(at(20) + timedelta(hours=3))  # the same data: the same alerts, no post
        assert [a.fingerprint for a in again] == [a.fingerprint for a in first]
        assert len(receiver.posts) == 2
        # The next day: A's spend is unavailable (still firing); B's cap was raised to $200.
        day = date(2026, 11, 21)
        load(day, ("user_a", "100", None), ("user_b", "200", "121"))
        second = evaluate(at(21))
        assert brief(second) == {
            ("user_a", "80", "firing"),
            ("user_b", "80", "resolved"),
            ("user_b", "100", "resolved"),
        }
        assert {a.details["reason"] for a in second if a.status == "resolved"} == {"cap_raised"}
        assert len(receiver.posts) == 3  # B's 100 % cleared; its 80 % was never announced
        assert receiver.bodies()[-1]["status"] == "resolved"
        # B climbs to 85 % of the new cap: 80 % fires, once.
        load(date(2026, 11, 22), ("user_a", "100", "90"), ("user_b", "200", "170"))
        third = evaluate(at(22))
        assert brief(third) == {
            ("user_a", "80", "firing"),
            ("user_b", "80", "firing"),
            ("user_b", "100", "resolved"),  # offered again: cleared already, nothing sent
        }
        assert len(receiver.posts) == 4
        evaluate(at(22) + timedelta(hours=1))
        assert len(receiver.posts) == 4
        # A new month: everything of November resolves (each announced one, once).
        december = evaluate(at(1, 12))
        assert {a.status for a in december} == {"resolved"}
        assert {a.details["reason"] for a in december} == {"month_ended"}
        a80 = next(a for a in december if a.details["user_id"] == "user_a")
        assert a80.fingerprint == by_user["user_a"].fingerprint
        assert len(receiver.posts) == 6  # A's 80 % and B's (second) 80 %
        evaluate(at(2, 12))
        assert len(receiver.posts) == 6
        # Thresholds are a setting.
        lower = limit_alerts(wh, settings.with_changes(spend_limit_thresholds="50"), at(22))
        assert brief(lower) == {("user_a", "50", "firing"), ("user_b", "50", "firing")}
    finally:
        wh.close()


def test_evaluate_alerts_delivers_the_cap_alerts_once(tmp_path: Path, receiver: Receiver) -> None:
    """`alerts evaluate` (and serve after each sync) offers the cap alerts beside the budgets':
    reported when sent, not again when nothing changed."""
    settings = make_settings(tmp_path / "home")
    ChannelStore(settings).add("hook", "webhook", *check_options("webhook", url=receiver.url()))
    wh = Warehouse(settings)
    try:
        initialize(wh)  # an empty warehouse as a first sync leaves it: no spend, no budgets
        snap = [member(date(2026, 11, 20), "user_a", "100", "92")]
        wh.load({SPEND_LIMIT_SNAPSHOTS.name: to_arrow(SPEND_LIMIT_SNAPSHOTS, snap)})
        first = evaluate_alerts(settings, wh, at(20))
        kinds = [(r.alert.kind, r.alert.status) for r in first.results]
        assert kinds == [("spend_limit", "firing")]
        assert [b["kind"] for b in receiver.bodies()] == ["spend_limit"]
        again = evaluate_alerts(settings, wh, at(20) + timedelta(hours=1))
        assert again.results == []
        assert len(receiver.posts) == 1
    finally:
        wh.close()
