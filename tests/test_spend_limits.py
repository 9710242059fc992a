"""Anthropic spend limits (Claude Enterprise): the simulator's endpoints over real HTTP (and
through the official SDK's models), and the daily snapshot the sync takes of them — exact
amounts, a missing scope or a Console organization as a message, one snapshot per day."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from conftest import NOW, Api, make_settings
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.simulator.server import RunningSimulator
from spendscope.sources import spend_limits as feed
from spendscope.sources.base import ConnectionInfo
from spendscope.sources.spend_limits import member_row, spend_limit_feeds
from spendscope.sources.values import Unrepresentable
from spendscope.sync.engine import ConnectionSync
from spendscope.sync.reports import ConnectionReport, SyncRequest
from spendscope.sync.run import make_client_factory
from spendscope.upstream.ratelimit import reset_limiters
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.limit_tables import SPEND_LIMIT_SNAPSHOTS
from spendscope.warehouse.schema import day_start, row_key, to_arrow
from spendscope.watch.limit_alerts import spend_limits_answer

EFFECTIVE = "/v1/organizations/spend_limits/effective"
LIMITS = "/v1/organizations/spend_limits"
TODAY = NOW.date()
MILLI = Decimal("0.001")
BETA_READS = "spend-limit-reads-2026-09-26"


# -- helpers ------------------------------------------------------------------------------------


def pages(api: Api, key: str, params: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Every page of the effective list, following `next_page` with the same parameters."""
    out, cursor = [], None
    while True:
        r = api.get(EFFECTIVE, key, [*params, *([("page", cursor)] if cursor else [])])
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        out.append(body)
        cursor = body["next_page"]
        if cursor is None:
            return out


def members(api: Api, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pages(api, key, [("limit", 1000)])[0]["data"]
    return rows


def error(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert (body["type"], body["error"]["type"]) == ("error", kind)
    assert body["request_id"] == r.headers["request-id"]
    err: dict[str, Any] = body["error"]
    return err


def write(
    url: str, key: str, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return httpx.request(method, url + path, json=body, headers=headers, timeout=10)


def configure(running: RunningSimulator, **changes: Any) -> None:
    httpx.post(running.url + "/_simulator/config", json=changes).raise_for_status()


def home_with(
    tmp_path: Path, api: Api, url: str, *conns: tuple[str, str, str, str]
) -> tuple[Settings, ConnectionStore]:
    """A home with connections (label, kind, key owner kind, key label) to the simulator."""
    settings = make_settings(tmp_path / "home")
    store = ConnectionStore(settings)
    orgs = {o["kind"]: o for o in api.info()["organizations"] if o["analytics_enabled"]}
    for label, kind, owner, key_label in conns:
        org = orgs[owner]
        store.add(
            label,
            kind,
            api.key(owner, key_label),
            base_url=url,
            organization_id=org["id"],
            organization_name=org["name"],
        )
    return settings, store


def snapshot(
    wh: Warehouse, store: ConnectionStore, now: Any = NOW, full: bool = False
) -> list[ConnectionReport]:
    """The sync engine run over the spend-limit feed alone, for every connection (without the
    refresh of views and marts a whole sync ends with: nothing here reads them)."""
    reset_limiters()
    settings = wh.settings
    reports = []
    for conn in store.all():
        factory = make_client_factory(settings, store, conn, backoff_base=0.01)
        info = ConnectionInfo(conn.label, conn.kind, conn.organization_id, "auto")
        job = ConnectionSync(wh, settings, info, factory, spend_limit_feeds(), now=lambda: now)
        reports.append(job.run(SyncRequest(full=full)))
    return reports


def stored(wh: Warehouse, label: str, day: date = TODAY) -> dict[str, dict[str, Any]]:
    cols = [c.name for c in SPEND_LIMIT_SNAPSHOTS.columns]
    rows = wh.read(
        f"SELECT {', '.join(cols)} FROM spendscope.spend_limit_snapshots "
        "WHERE connection_label = ? AND snapshot_date = ?",
        label,
        day,
    )
    return {r[cols.index("user_id")]: dict(zip(cols, r, strict=True)) for r in rows}


def statuses(wh: Warehouse) -> dict[tuple[str, date], tuple[str, str | None, int]]:
    rows = wh.read(
        "SELECT connection_label, snapshot_date, status, message, members "
        "FROM spendscope.spend_limit_status"
    )
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


@pytest.fixture
def opened() -> Iterator[Callable[[Settings], Warehouse]]:
    """Opens a home's warehouse for the test (once: opening costs), closed after it."""
    held: list[Warehouse] = []

    def open_(settings: Settings) -> Warehouse:
        held.append(Warehouse(settings))
        return held[-1]

    yield open_
    for wh in held:
        wh.close()


def effective_requests(running: RunningSimulator) -> int:
    return running.sim.stats.by_path.get(EFFECTIVE, 0)


# -- the simulator ------------------------------------------------------------------------------


def test_pages_cover_every_member_once(simulator: RunningSimulator, api: Api) -> None:
    key = api.key("enterprise", "analytics")
    whole = members(api, key)
    current = [u for u in simulator.sim.world.enterprise.users if not u.deleted]
    assert len(whole) == len(current) == 62
    walked = pages(api, key, [("limit", 7)])
    assert len(walked) == 9
    assert all(len(p["data"]) <= 7 for p in walked)
    assert [r for p in walked for r in p["data"]] == whole
    # The official SDK's paginator and strict models read the same rows.
    client = anthropic.Anthropic(
        api_key=key, base_url=simulator.url, max_retries=0, _strict_response_validation=True
    )
    listed = list(client.organization.spend_limits.effective.list(limit=20))
    assert [r.model_dump(mode="json", exclude_none=True) for r in listed] == [
        {k: v for k, v in r.items() if v is not None} for r in whole
    ]


def test_a_cursor_is_bound_to_its_filters(api: Api) -> None:
    key = api.key("enterprise", "analytics")
    ids = [r["scope"]["user_id"] for r in members(api, key)[:3]]
    query = [("limit", 1), *(("user_ids[]", u) for u in ids)]
    first = api.get(EFFECTIVE, key, query).json()
    assert [r["scope"]["user_id"] for r in first["data"]] == ids[:1]
    cursor = first["next_page"]
    assert cursor
    same = api.get(EFFECTIVE, key, [*query, ("page", cursor)])
    assert same.status_code == 200
    assert [r["scope"]["user_id"] for r in same.json()["data"]] == ids[1:2]
    # The page size is not part of the query a cursor is bound to; the filters are.
    wider = api.get(EFFECTIVE, key, [("limit", 5), *query[1:], ("page", cursor)])
    assert [r["scope"]["user_id"] for r in wider.json()["data"]] == ids[1:]
    for changed in (
        [("limit", 1), *(("user_ids[]", u) for u in ids[:2])],
        [*query, ("period[]", "monthly")],
    ):
        err = error(
            api.get(EFFECTIVE, key, [*changed, ("page", cursor)]), 400, "invalid_request_error"
        )
        assert err["message"] == "cursor does not match current query parameters"
    bad = api.get(EFFECTIVE, key, [("period[]", "yearly")])
    error(bad, 400, "invalid_request_error")


def test_rows_agree_with_the_truth_of_the_month(api: Api) -> None:
    key = api.key("enterprise", "analytics")
    rows = members(api, key)
    truth = api.truth(
        org="Acme Enterprise", start="2026-11-01", end="2026-11-23", group_by="user_id"
    )
    spent: dict[str, Decimal] = {}
    for day in truth["organizations"][0]["days"]:
        user = day["group"]["user_id"]
        if user:
            spent[user] = spent.get(user, Decimal(0)) + Decimal(day["cost_cents"])
    unavailable = known = fractional = 0
    for r in rows:
        user = r["scope"]["user_id"]
        assert r["actor"] == {**r["actor"], "type": "user_actor", "user_id": user}
        assert (r["currency"], r["period"]) == ("USD", "monthly")
        ptd = r["period_to_date_spend"]
        if ptd == "0":
            unavailable += 1
            continue
        known += 1
        fractional += "." in ptd
        assert Decimal(ptd) == spent[user].quantize(MILLI, ROUND_HALF_EVEN), user
        assert len(ptd.partition(".")[2]) <= 3
    assert (unavailable >= 1, known >= 40, fractional >= 30) == (True, True, True)
    # Caps: where each comes from, and the limit object it names.
    sources = {r["source"]["type"] for r in rows}
    assert sources == {"user", "seat_tier", "rbac_group", "organization"}
    amounts = [r["amount"] for r in rows]
    assert {None, "0"} <= set(amounts)
    assert all(a is None or a.isdigit() for a in amounts)
    for r in rows[:12]:
        limit = api.get(f"{LIMITS}/{r['spend_limit_id']}", key).json()
        assert limit["type"] == "spend_limit"
        assert (limit["scope"], limit["amount"]) == (r["source"], r["amount"])
    listed = api.get(LIMITS, key, headers={"anthropic-beta": BETA_READS}).json()["data"]
    kinds = [x["scope"]["type"] for x in listed]
    assert kinds == sorted(kinds, key=["organization", "seat_tier", "rbac_group", "user"].index)
    assert {r["spend_limit_id"] for r in rows} <= {x["id"] for x in listed}


def test_a_key_without_the_scope_and_a_console_organization_are_refused(api: Api) -> None:
    err = error(
        api.get(EFFECTIVE, api.key("enterprise", "analytics-only")), 403, "permission_error"
    )
    assert err["message"].endswith("Needed one of: ['read:spend_limits']")
    assert err["details"] == {"error_code": "api_key_scope_missing"}
    err = error(api.get(EFFECTIVE, api.key("console", "admin")), 400, "invalid_request_error")
    assert err["details"] == {"error_code": "organization_type_not_supported"}
    missing = api.get(f"{LIMITS}/spl_01nope", api.key("enterprise", "analytics"))
    error(missing, 404, "not_found_error")


def test_the_console_answer_is_a_setting(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    for status, kind in ((404, "not_found_error"), (403, "permission_error")):
        configure(fresh_simulator, spend_limits_console_status=status)
        error(api.get(EFFECTIVE, key), status, kind)


def test_sixty_requests_a_minute_shared_by_the_endpoints(
    fresh_simulator: RunningSimulator,
) -> None:
    configure(fresh_simulator, spend_limits_rpm=3)
    api = Api(fresh_simulator.url)
    key = api.key("enterprise", "analytics")
    assert api.get(EFFECTIVE, key).status_code == 200
    one = api.get(EFFECTIVE, key).json()["data"][0]
    assert api.get(f"{LIMITS}/{one['spend_limit_id']}", key).status_code == 200
    limited = api.get(EFFECTIVE, key, [("limit", 1)])
    error(limited, 429, "rate_limit_error")
    assert float(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-should-retry"] == "true"
    # Its own bucket: the organization's other endpoints still answer.
    assert api.get("/v1/organizations/me", key).status_code == 200


def test_overrides_written_through_the_api(fresh_simulator: RunningSimulator) -> None:
    url = fresh_simulator.url
    api = Api(url)
    reader, writer = api.key("enterprise", "analytics"), api.key("enterprise", "spend-limits-admin")
    before = next(r for r in members(api, reader) if r["source"]["type"] == "seat_tier")
    user = before["scope"]["user_id"]
    scope = {"type": "user", "user_id": user}

    def row() -> dict[str, Any]:
        return next(r for r in members(api, reader) if r["scope"]["user_id"] == user)

    made = write(url, writer, "POST", LIMITS, {"scope": scope, "amount": "12345"}).json()
    assert (made["type"], made["scope"], made["amount"]) == ("spend_limit", scope, "12345")
    assert (row()["source"], row()["amount"], row()["spend_limit_id"]) == (
        scope,
        "12345",
        made["id"],
    )
    again = write(url, writer, "POST", LIMITS, {"scope": scope, "amount": None}).json()
    assert again["id"] == made["id"]  # an upsert: the same limit, now unlimited
    assert row()["amount"] is None
    gone = write(url, writer, "DELETE", f"{LIMITS}/{made['id']}")
    assert gone.json() == {"id": made["id"], "type": "spend_limit_deleted"}
    assert row() == before  # back to the inherited cap
    error(write(url, writer, "DELETE", f"{LIMITS}/{made['id']}"), 404, "not_found_error")
    tier = write(url, writer, "DELETE", f"{LIMITS}/{before['spend_limit_id']}")
    error(tier, 400, "invalid_request_error")  # seat-tier limits are set in claude.ai
    org_scope = write(
        url, writer, "POST", LIMITS, {"scope": {"type": "organization"}, "amount": "1"}
    )
    error(org_scope, 400, "invalid_request_error")
    denied = write(url, reader, "POST", LIMITS, {"scope": scope, "amount": "1"})
    assert error(denied, 403, "permission_error")["message"].endswith("['write:spend_limits']")
    configure(fresh_simulator, spend_limits_writes_enabled=False)
    off = write(url, writer, "POST", LIMITS, {"scope": scope, "amount": "1"})
    code = error(off, 403, "permission_error")["details"]["error_code"]
    assert code == "spend_limits_admin_api_writes_not_enabled"


# -- reading the API's values -------------------------------------------------------------------


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scope": {"type": "user", "user_id": "user_01A"},
        "actor": {
            "type": "user_actor",
            "user_id": "user_01A",
            "name": "Ana",
            "email_address": "ana@example.com",
            "deleted": False,
        },
        "amount": "50000",
        "currency": "USD",
        "period": "monthly",
        "source": {"type": "seat_tier", "seat_tier": "enterprise_standard"},
        "spend_limit_id": "spl_01A",
        "period_to_date_spend": "41280.125",
    }
    return {**base, **changes}


def test_minor_units_become_exact_amounts() -> None:
    row = member_row(item(), TODAY)
    assert (row["amount"], row["amount_minor"]) == (Decimal("500.00"), "50000")
    assert row["period_to_date_spend"] == Decimal("412.80125")
    assert row["period_to_date_spend_minor"] == "41280.125"
    assert (row["source_type"], row["source_detail"]) == ("seat_tier", "enterprise_standard")
    assert (row["user_id"], row["user_email"], row["bucket_start"]) == (
        "user_01A",
        "ana@example.com",
        day_start(TODAY),
    )
    # "0" spend: unknown, the string kept; a null amount: unlimited; "0" amount: a cap of 0.
    zero = member_row(item(period_to_date_spend="0", amount=None), TODAY)
    assert (zero["period_to_date_spend"], zero["period_to_date_spend_minor"]) == (None, "0")
    assert (zero["amount"], zero["amount_minor"]) == (None, None)
    assert member_row(item(amount="0"), TODAY)["amount"] == Decimal(0)
    # The currency's minor unit; a JSON integer read as its digits.
    assert member_row(item(currency="JPY", amount="5000"), TODAY)["amount"] == Decimal(5000)
    kwd = member_row(item(currency="KWD", amount="1234", period_to_date_spend="0.5"), TODAY)
    assert (kwd["amount"], kwd["period_to_date_spend"]) == (Decimal("1.234"), Decimal("0.0005"))
    assert member_row(item(amount=50000), TODAY)["amount_minor"] == "50000"
    huge = member_row(item(period_to_date_spend="1234567890.123"), TODAY)
    assert str(huge["period_to_date_spend"]) == "12345678.90123"
    # Open vocabularies: the source's identifier whatever its type.
    group = member_row(
        item(source={"type": "rbac_group", "rbac_group_id": "rbac_group_01X"}), TODAY
    )
    assert group["source_detail"] == "rbac_group_01X"
    other = member_row(item(source={"type": "custom_policy", "policy_id": "p_1"}), TODAY)
    assert (other["source_type"], other["source_detail"]) == ("custom_policy", "p_1")
    assert (
        member_row(item(source={"type": "user", "user_id": "user_01A"}), TODAY)["source_detail"]
        is None
    )
    for bad in (
        {"amount": "-5"},
        {"amount": "12abc"},
        {"period_to_date_spend": 1.5},
        {"period_to_date_spend": "123456789012.123"},  # beyond what one row holds
    ):
        with pytest.raises(Unrepresentable):
            member_row(item(**bad), TODAY)


# -- the daily snapshot -------------------------------------------------------------------------


def test_the_synced_snapshot_holds_the_api_exactly(
    synced: Settings, api: Api, opened: Callable[[Settings], Warehouse]
) -> None:
    wh = opened(synced)
    rows = {r["scope"]["user_id"]: r for r in members(api, api.key("enterprise", "analytics"))}
    held = stored(wh, "acme-enterprise")
    assert set(held) == set(rows)
    for user, r in rows.items():
        h = held[user]
        minor = r["amount"]
        assert h["amount"] == (None if minor is None else Decimal(minor) / 100)
        assert h["amount_minor"] == minor
        spend = r["period_to_date_spend"]
        assert h["period_to_date_spend"] == (None if spend == "0" else Decimal(spend) / 100)
        assert h["period_to_date_spend_minor"] == spend
        assert (h["source_type"], h["spend_limit_id"], h["user_email"]) == (
            r["source"]["type"],
            r["spend_limit_id"],
            r["actor"]["email_address"],
        )
    found = statuses(wh)
    assert found[("acme-enterprise", TODAY)] == ("ok", None, 62)
    assert found[("acme-console", TODAY)] == ("not_enterprise", feed.CONSOLE_MESSAGE, 0)
    assert stored(wh, "acme-console") == {}
    events = wh.read(
        "SELECT level, category FROM spendscope.events WHERE connection_label = 'acme-console' "
        "AND message = ?",
        feed.CONSOLE_MESSAGE,
    )
    assert events == [("info", "notice")]


def test_a_missing_scope_is_a_message_not_a_failure(
    simulator: RunningSimulator, api: Api, tmp_path: Path, opened: Callable[[Settings], Warehouse]
) -> None:
    settings, store = home_with(
        tmp_path, api, simulator.url, ("ent", "enterprise", "enterprise", "analytics-only")
    )
    wh = opened(settings)
    (report,) = snapshot(wh, store)
    assert (report.error, report.failed_feeds) == (None, [])
    assert statuses(wh) == {("ent", TODAY): ("missing_scope", feed.SCOPE_MESSAGE, 0)}
    assert "read:spend_limits" in feed.SCOPE_MESSAGE
    events = wh.read(
        "SELECT level, category, message FROM spendscope.events WHERE message LIKE 'Spend%'"
    )
    assert events == [("warning", "scope", feed.SCOPE_MESSAGE)]
    assert spend_limits_answer(wh) == {
        "snapshot_date": None,
        "connections": [
            {"connection": "ent", "status": "missing_scope", "message": feed.SCOPE_MESSAGE}
        ],
        "members": [],
    }


def test_a_console_organization_is_a_message_too(
    simulator: RunningSimulator, api: Api, tmp_path: Path, opened: Callable[[Settings], Warehouse]
) -> None:
    settings, store = home_with(
        tmp_path,
        api,
        simulator.url,
        ("console", "console", "console", "admin"),
        # An Enterprise connection that holds a Console organization's key: the API says why.
        ("odd", "enterprise", "console", "admin"),
    )
    wh = opened(settings)
    asked = effective_requests(simulator)
    reports = snapshot(wh, store)
    assert [r.error for r in reports] == [None, None]
    assert effective_requests(simulator) == asked + 1  # the Console connection asks nothing
    found = statuses(wh)
    assert found[("console", TODAY)] == ("not_enterprise", feed.CONSOLE_MESSAGE, 0)
    status, message, n = found[("odd", TODAY)]
    assert (status, n) == ("not_enterprise", 0)
    assert "Claude Enterprise organizations only" in str(message)


def test_one_snapshot_a_day_and_the_same_day_again_replaces_it(
    fresh_simulator: RunningSimulator, tmp_path: Path, opened: Callable[[Settings], Warehouse]
) -> None:
    api = Api(fresh_simulator.url)
    settings, store = home_with(
        tmp_path, api, fresh_simulator.url, ("ent", "enterprise", "enterprise", "analytics")
    )
    wh = opened(settings)
    (report,) = snapshot(wh, store)
    assert report.error is None
    first = stored(wh, "ent")
    assert len(first) == 62
    assert effective_requests(fresh_simulator) == 1
    snapshot(wh, store)  # later the same day: nothing asked, nothing changed
    assert effective_requests(fresh_simulator) == 1
    assert stored(wh, "ent") == first
    # Upstream changes: an override for a member; a row of a member no longer listed.
    user = next(u for u, r in first.items() if r["source_type"] == "organization")
    writer = api.key("enterprise", "spend-limits-admin")
    body = {"scope": {"type": "user", "user_id": user}, "amount": "777"}
    assert write(fresh_simulator.url, writer, "POST", LIMITS, body).status_code == 200
    stale = {**first[user], "user_id": "user_01gone"}
    stale["row_key"] = row_key("ent", SPEND_LIMIT_SNAPSHOTS.name, day_start(TODAY), "user_01gone")
    wh.load({SPEND_LIMIT_SNAPSHOTS.name: to_arrow(SPEND_LIMIT_SNAPSHOTS, [stale])})
    assert len(stored(wh, "ent")) == 63
    snapshot(wh, store, full=True)  # taken again the same day: it replaces the first
    again = stored(wh, "ent")
    assert set(again) == set(first)
    assert (again[user]["amount"], again[user]["source_type"]) == (Decimal("7.77"), "user")
    assert {u: r["amount"] for u, r in again.items() if u != user} == {
        u: r["amount"] for u, r in first.items() if u != user
    }
    assert list(statuses(wh)) == [("ent", TODAY)]
    # The next day: a snapshot of its own, the first kept.
    httpx.post(fresh_simulator.url + "/_simulator/clock", json={"days": 1}).raise_for_status()
    snapshot(wh, store, now=NOW + timedelta(days=1))
    assert len(stored(wh, "ent", TODAY + timedelta(days=1))) == 62
    assert stored(wh, "ent") == again
    assert sorted(statuses(wh)) == [("ent", TODAY), ("ent", TODAY + timedelta(days=1))]


def test_pages_and_429s_through_the_client(
    fresh_simulator: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    opened: Callable[[Settings], Warehouse],
) -> None:
    monkeypatch.setattr(feed, "PAGE_LIMIT", 10)
    configure(fresh_simulator, spend_limits_rpm=5, rate_window_seconds=1)
    api = Api(fresh_simulator.url)
    settings, store = home_with(
        tmp_path, api, fresh_simulator.url, ("ent", "enterprise", "enterprise", "analytics")
    )
    wh = opened(settings.with_changes(spend_limits_rpm=0))  # only the server paces
    (report,) = snapshot(wh, store)
    assert report.error is None
    assert report.rate_limited >= 1
    assert fresh_simulator.sim.stats.rate_limited == report.rate_limited
    assert effective_requests(fresh_simulator) == 7 + report.rate_limited
    assert len(stored(wh, "ent")) == 62
