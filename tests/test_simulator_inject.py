"""Anomalies injected into the simulator: the truth and every served report change exactly where
injected and nowhere else, a synced warehouse still equals the truth, bad specs are one-line 400s,
and injecting is idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import Api, copy_home, sync
from spendscope.cli.simulate import simulate
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.simulator.engagement_data import engagement_store
from spendscope.simulator.facts_pricing import discount_of
from spendscope.simulator.inject import apply, parse_spec, resolve
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig
from spendscope.warehouse.connection import Warehouse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MESSAGES = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"
CLAUDE_CODE = "/v1/organizations/usage_report/claude_code"
ANALYTICS_USAGE = "/v1/organizations/analytics/usage"
ANALYTICS_COST = "/v1/organizations/analytics/cost"
LEGACY = "/v1/organizations/analytics"
# Injected at start (the others are posted at run time, see `injected`).
WS_SPIKE = "spike:workspace=Production:day=-3:x=6"  # 2026-11-19
KEY_ADD = "spike:api_key=team-payments-prod:day=2026-11-18:add=300"
MODEL_SHIFT = "shift:model=claude-haiku-4-5:day=0:x=5"  # today, every organization
CC_DAY, ENT_FROM = "2026-11-20", "2026-11-15"
# Scaled by every factor exactly; the revised ones (uncached, cache_read, output, requests) up to
# truncation in each revision of each fact, bounded by `SLACK` per request of the cell.
EXACT = ("cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens", "web_search_requests")
REVISED = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens", "requests")
SLACK = 5
DIMS = ["workspace_id", "api_key_id", "user_id", "model"]
Cells = dict[tuple[Any, ...], dict[str, Any]]


def cells(api: Api, org: str, start: str, end: str, dims: list[str] = DIMS) -> Cells:
    days = api.truth(org=org, start=start, end=end, group_by=dims)["organizations"][0]["days"]
    return {(d["date"], *(d["group"][k] for k in dims)): d for d in days}


def cents(t: dict[str, Any]) -> Decimal:
    return Decimal(t["cost_cents"])


@pytest.fixture(scope="module")
def injected(simulator: RunningSimulator) -> Iterator[tuple[RunningSimulator, Api, dict[str, Any]]]:
    """A private simulator of the same seed with five injections: three from its config, two
    posted at run time. Also returns who and what they hit."""
    world = simulator.sim.world
    console, ent = world.console, world.enterprise
    base = Api(simulator.url)
    # The Console user with the most Claude Code output on CC_DAY; the busiest member of the
    # Enterprise organization over the days around ENT_FROM.
    day_cells = cells(base, console.name, CC_DAY, "2026-11-21", ["product", "user_id"])
    cc_user = max(
        (c for k, c in day_cells.items() if k[1] == "claude_code" and k[2]),
        key=lambda c: c["output_tokens"],
    )["group"]["user_id"]
    ent_cells = cells(base, ent.name, ENT_FROM, "2026-11-17", ["user_id"])
    per_user: dict[str, Decimal] = {}
    for (_, uid), c in ent_cells.items():
        if uid and (ENT_FROM, uid) in ent_cells and ("2026-11-16", uid) in ent_cells:
            per_user[uid] = per_user.get(uid, Decimal(0)) + cents(c)
    ent_user = max(per_user, key=lambda u: per_user[u])
    key = next(k for k in console.api_keys if k.name == "team-payments-prod")
    production = next(w for w in console.workspaces if w.name == "Production")
    config = SimConfig(seed=42, rpm=0, injections=(WS_SPIKE, KEY_ADD, MODEL_SHIFT))
    with RunningSimulator(config, now=NOW) as running:
        api = Api(running.url)
        user = console.user(cc_user)
        member = ent.user(ent_user)
        assert user is not None
        assert member is not None
        for body in (
            {"spec": f"spike:user={user.email}:day={CC_DAY}:x=4"},
            {"kind": "shift", "user": member.email, "day": ENT_FROM, "x": 3},
        ):
            r = api.http.post("/_simulator/injections", json=body)
            assert r.status_code == 200, r.text
            assert r.json()["changed"] is True
        yield (
            running,
            api,
            {
                "console": console,
                "ent": ent,
                "cc_user": cc_user,
                "ent_user": ent_user,
                "key": key,
                "production": production,
            },
        )
        api.http.close()


def factor(org_id: str, cell: tuple[Any, ...], who: dict[str, Any]) -> int | None:
    """The product of the factors injected into a (day, workspace, key, user, model) cell; None
    for the spike by amount (whose factor follows from the day's cost)."""
    day, ws, key, user, model = cell
    x = 1
    if org_id == who["console"].id:
        if day == "2026-11-19" and ws == who["production"].id:
            x *= 6
        if day == "2026-11-18" and key == who["key"].id:
            return None
        if day == CC_DAY and user == who["cc_user"]:
            x *= 4
    if org_id == who["ent"].id and day >= ENT_FROM and user == who["ent_user"]:
        x *= 3
    if day >= NOW.date().isoformat() and model == "claude-haiku-4-5":
        x *= 5
    return x


def test_injections_are_listed_with_their_resolved_scope(
    injected: tuple[RunningSimulator, Api, dict[str, Any]],
) -> None:
    _, api, who = injected
    listed = api.http.get("/_simulator/injections").json()["injections"]
    by_scope = {(i["kind"], i["scope"]): i for i in listed}
    assert len(listed) == 5
    ws = by_scope[("spike", "workspace")]
    assert ws["entity_id"] == who["production"].id
    assert ws["entity_name"] == "Production"
    assert (ws["day"], ws["until"], ws["x"]) == ("2026-11-19", "2026-11-19", "6")
    assert ws["organization_id"] == who["console"].id
    key = by_scope[("spike", "api_key")]
    assert (key["entity_id"], key["add_usd"], key["x"]) == (who["key"].id, "300", None)
    model = by_scope[("shift", "model")]
    assert (model["organization_id"], model["day"], model["until"]) == (None, "2026-11-22", None)
    assert by_scope[("shift", "user")]["entity_id"] == who["ent_user"]
    assert api.info()["injections"] == listed
    # A listed spec injects the same injection again: nothing changes.
    again = api.http.post("/_simulator/injections", json={"spec": ws["spec"]}).json()
    assert again["changed"] is False
    assert len(again["injections"]) == 5


@pytest.mark.parametrize("org", ["Acme Platform", "Acme Enterprise", "Globex Corp"])
def test_truth_changes_exactly_where_injected(
    api: Api, injected: tuple[RunningSimulator, Api, dict[str, Any]], org: str
) -> None:
    running, inj_api, who = injected
    org_id = next(o.id for o in running.sim.world.orgs if o.name == org)
    base = cells(api, org, "2026-11-12", "2026-11-23")
    got = cells(inj_api, org, "2026-11-12", "2026-11-23")
    assert got.keys() == base.keys()  # facts are scaled, never added or removed
    changed = 0
    for cell, b in base.items():
        g, x = got[cell], factor(org_id, cell, who)
        if x == 1:
            assert g == b, cell
            continue
        changed += 1
        if x is None:  # the spike by amount: every figure grows
            assert all(g[f] >= b[f] for f in (*EXACT, *REVISED))
            assert cents(g) > cents(b)
            continue
        for f in EXACT:
            assert g[f] == x * b[f], (cell, f)
        for f in REVISED:
            assert abs(g[f] - x * b[f]) <= SLACK * x * b["requests"], (cell, f)
        assert abs(cents(g) - x * cents(b)) <= Decimal("0.01") * x * cents(b) + 1, cell
        if cell[0] == NOW.date().isoformat():  # not revised yet: every figure exact
            assert all(g[f] == x * b[f] for f in REVISED), cell
    assert changed > (0 if org == "Globex Corp" else 5)


def test_spike_by_amount_adds_it_to_the_days_cost(
    api: Api, injected: tuple[RunningSimulator, Api, dict[str, Any]]
) -> None:
    running, inj_api, who = injected
    day = ("2026-11-18", "2026-11-19")
    base = cells(api, "Acme Platform", *day, ["api_key_id"])
    got = cells(inj_api, "Acme Platform", *day, ["api_key_id"])
    key = ("2026-11-18", who["key"].id)
    added = (cents(got[key]) - cents(base[key])) / 100
    # The amount goes onto the day as first published; its revisions then move it a little.
    assert abs(added - 300) <= 6, added
    assert {k: v for k, v in got.items() if k != key} == {k: v for k, v in base.items() if k != key}
    # Unrevised, the amount is added to within a cent.
    org = running.sim.world.console
    raw = [f.copy() for f in running.sim.store.generate(org, date(2026, 11, 18))]
    spike = resolve(parse_spec(KEY_ADD), running.sim.world, NOW.date())
    before = sum(sum(f.cost) for f in raw if spike.matches(f))
    apply([spike], org.id, date(2026, 11, 18), raw, discount_of(org))
    after = sum(sum(f.cost) for f in raw if spike.matches(f))
    assert abs(after - before - 300 * 100 * 1_000_000) < 1_000_000


def _rows_by_day(body: list[dict[str, Any]], dim: str, value: Any) -> dict[tuple[str, Any], Any]:
    return {(b["starting_at"][:10], r[dim]): value(r) for b in body for r in b["results"]}


def _console_usage(api: Api, key: str, path: str, dim: str) -> dict[tuple[str, Any], Any]:
    params = {
        "starting_at": "2026-11-16T00:00:00Z",
        "ending_at": "2026-11-20T00:00:00Z",
        "group_by[]": dim,
        "limit": 31,
    }
    r = api.get(path, key, params)
    assert r.status_code == 200, r.text
    if path == COST:
        return _rows_by_day(r.json()["data"], dim, lambda row: Decimal(row["amount"]))
    return _rows_by_day(r.json()["data"], dim, lambda row: row["output_tokens"])


@pytest.mark.parametrize("path", [MESSAGES, COST])
def test_console_reports_change_on_the_injected_workspaces_days(
    api: Api,
    console_key: str,
    injected: tuple[RunningSimulator, Api, dict[str, Any]],
    path: str,
) -> None:
    _, inj_api, who = injected
    base = _console_usage(api, console_key, path, "workspace_id")
    got = _console_usage(inj_api, console_key, path, "workspace_id")
    default = who["console"].workspaces[0].id
    key_ws = None if who["key"].workspace_id == default else who["key"].workspace_id
    spiked = ("2026-11-19", who["production"].id)
    assert got.keys() == base.keys()
    assert {k for k in base if got[k] != base[k]} == {spiked, ("2026-11-18", key_ws)}
    truth = cells(inj_api, "Acme Platform", "2026-11-19", "2026-11-20", ["workspace_id"])
    t = truth[spiked]
    want = t["output_tokens"] if path == MESSAGES else cents(t) - Decimal(t["priority_cost_cents"])
    assert got[spiked] == want


def test_analytics_api_changes_on_the_injected_days(
    api: Api,
    console_key: str,
    enterprise_key: str,
    injected: tuple[RunningSimulator, Api, dict[str, Any]],
) -> None:
    """Family B: the Console organization's usage by workspace, and the Enterprise parent's
    cost by organization (its children included)."""
    _, inj_api, who = injected

    def rows(a: Api, key: str, path: str, dim: str, start: str, end: str) -> dict[Any, Any]:
        params = {
            "starting_at": start,
            "ending_at": end,
            "time_bucket_width": "1d",
            "group_by[]": dim,
            "limit": 1000,
        }
        r = a.get(path, key, params)
        assert r.status_code == 200, r.text
        assert not r.json()["has_more"]
        return {
            (x["starting_at"][:10], x["group"][dim]): x.get("usage") or x["cost"]
            for x in r.json()["data"]
        }

    window = ("2026-11-16T00:00:00Z", "2026-11-20T00:00:00Z")
    base = rows(api, console_key, ANALYTICS_USAGE, "workspace_id", *window)
    got = rows(inj_api, console_key, ANALYTICS_USAGE, "workspace_id", *window)
    spiked = ("2026-11-19", who["production"].id)
    assert {k for k in base if got[k] != base[k]} == {
        spiked,
        ("2026-11-18", who["key"].workspace_id),
    }
    t = cells(inj_api, "Acme Platform", "2026-11-19", "2026-11-20", ["workspace_id"])[spiked]
    assert got[spiked]["output_tokens"] == t["output_tokens"]
    window = ("2026-11-13T00:00:00Z", "2026-11-17T00:00:00Z")
    base = rows(api, enterprise_key, ANALYTICS_COST, "organization_id", *window)
    got = rows(inj_api, enterprise_key, ANALYTICS_COST, "organization_id", *window)
    ent = who["ent"].id
    assert {k for k in base if got[k] != base[k]} == {("2026-11-15", ent), ("2026-11-16", ent)}


def test_claude_code_report_changes_for_the_injected_user_only(
    api: Api, console_key: str, injected: tuple[RunningSimulator, Api, dict[str, Any]]
) -> None:
    _, inj_api, who = injected

    def records(a: Api) -> dict[tuple[Any, ...], dict[str, Any]]:
        r = a.get(CLAUDE_CODE, console_key, {"starting_at": CC_DAY, "limit": 1000})
        assert r.status_code == 200, r.text
        return {tuple(sorted(x["actor"].items())): x for x in r.json()["data"]}

    base, got = records(api), records(inj_api)
    assert got.keys() == base.keys()
    email = who["console"].user(who["cc_user"]).email
    changed = {k for k in base if got[k] != base[k]}
    assert changed == {k for k in base if dict(k).get("email_address") == email}
    (actor,) = changed
    for b, g in zip(base[actor]["model_breakdown"], got[actor]["model_breakdown"], strict=True):
        assert g["tokens"]["cache_creation"] == 4 * b["tokens"]["cache_creation"]
        assert abs(g["tokens"]["output"] - 4 * b["tokens"]["output"]) <= b["tokens"]["output"] / 25


def test_legacy_reports_change_for_the_injected_member_only(
    api: Api, enterprise_key: str, injected: tuple[RunningSimulator, Api, dict[str, Any]]
) -> None:
    """Family C: the per-user cost report and the organization's daily usage report."""
    _, inj_api, who = injected
    window = {
        "starting_at": "2026-11-13T00:00:00Z",
        "ending_at": "2026-11-17T00:00:00Z",
        "bucket_width": "1d",
    }

    def get(a: Api, path: str) -> list[dict[str, Any]]:
        params = {**window, "limit": 31 if path == "usage_report" else 1000}
        r = a.get(f"{LEGACY}/{path}", enterprise_key, params, beta=False)
        assert r.status_code == 200, r.text
        assert not r.json()["has_more"]
        data: list[dict[str, Any]] = r.json()["data"]
        return data

    def by_user(a: Api) -> dict[tuple[str, str], str]:
        rows = get(a, "user_cost_report")
        return {(r["starting_at"][:10], r["actor"]["user_id"]): r["amount"] for r in rows}

    base, got = by_user(api), by_user(inj_api)
    member = who["ent_user"]
    assert got.keys() == base.keys()
    assert {k for k in base if got[k] != base[k]} == {
        ("2026-11-15", member),
        ("2026-11-16", member),
    }
    truth = cells(inj_api, "Acme Enterprise", "2026-11-15", "2026-11-16", ["user_id"])
    assert Decimal(got[("2026-11-15", member)]) == cents(truth[("2026-11-15", member)])

    def daily(a: Api) -> dict[str, int]:
        return {
            b["starting_at"][:10]: sum(r["output_tokens"] for r in b["results"])
            for b in get(a, "usage_report")
        }

    base_days, got_days = daily(api), daily(inj_api)
    assert {d for d in base_days if got_days[d] != base_days[d]} == {"2026-11-15", "2026-11-16"}


def test_engagement_follows_the_injected_member(
    simulator: RunningSimulator, injected: tuple[RunningSimulator, Api, dict[str, Any]]
) -> None:
    """Family D is generated from the day's facts as first published: the member's chat
    messages (one per request) triple from the shift on, exactly."""
    running, _, who = injected
    member = who["ent_user"]

    def counts(sim: Any, day: date) -> dict[str, dict[str, int]]:
        data = engagement_store(sim).day(sim.world.enterprise, day)
        return {u.user.id: u.counts for u in data.users}

    before = counts(simulator.sim, date(2026, 11, 14))
    assert counts(running.sim, date(2026, 11, 14)) == before
    base, got = counts(simulator.sim, date(2026, 11, 16)), counts(running.sim, date(2026, 11, 16))
    assert {u: c for u, c in got.items() if u != member} == {
        u: c for u, c in base.items() if u != member
    }
    messages = [k for k in base[member] if k.endswith(".message_count")]
    assert messages
    for k in messages:
        assert got[member][k] == 3 * base[member][k], k


# -- the synced warehouse ---------------------------------------------------------------------


def test_a_sync_after_the_injections_equals_the_truth(
    synced: Settings, injected: tuple[RunningSimulator, Api, dict[str, Any]], tmp_path: Path
) -> None:
    """The session's backfill, copied and pointed at the injected simulator: a sync of the days
    from the first injected one picks the injections up as corrections, and every
    organization-day of the backfill equals the truth again."""
    running, api, who = injected
    settings = copy_home(synced, tmp_path / "home", base_url=running.url)
    reports = sync(settings, ConnectionStore(settings), since=date.fromisoformat(ENT_FROM))
    assert all(r.error is None for r in reports), [r.error for r in reports]
    assert sum(r.corrections for r in reports) > 0
    wh = Warehouse(settings)
    try:
        for org in (who["console"], who["ent"]):
            spend = dict(
                wh.read(
                    "SELECT CAST(charge_period_start AS DATE), sum(billed_cost) "
                    "FROM spendscope.spend WHERE organization_id = ? GROUP BY 1",
                    org.id,
                )
            )
            output = dict(
                wh.read(
                    "SELECT CAST(period_start AS DATE), sum(output_tokens) "
                    "FROM spendscope.usage WHERE organization_id = ? GROUP BY 1",
                    org.id,
                )
            )
            truth = api.truth(org=org.id, start="2026-10-13", end="2026-11-22")
            days = truth["organizations"][0]["days"]
            assert len(days) == 40
            for t in days:
                d = date.fromisoformat(t["date"])
                assert spend[d] == cents(t) / 100, (org.name, d)
                assert output[d] == t["output_tokens"], (org.name, d)
    finally:
        wh.close()


# -- the control endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"spec": "spike:workspace=Nowhere:day=-3:x=6"}, "no workspace 'Nowhere'"),
        ({"spec": "burst:workspace=Production:day=-3:x=6"}, "kind: expected spike or shift"),
        ({"spec": "spike:day=-3:x=6"}, "exactly one of api_key, workspace, user, model"),
        ({"spec": "spike:workspace=Production:model=claude-opus-5:day=-3:x=6"}, "exactly one"),
        ({"spec": "spike:workspace=Production:x=6"}, "day: field required"),
        ({"spec": "spike:workspace=Production:day=yesterday:x=6"}, "day: 'yesterday'"),
        ({"spec": "spike:workspace=Production:day=2020-01-01:x=6"}, "before the history"),
        ({"spec": "spike:workspace=Production:day=-3"}, "exactly one of x"),
        ({"spec": "spike:workspace=Production:day=-3:x=6:add=5"}, "exactly one of x"),
        ({"spec": "spike:workspace=Production:day=-3:x=0"}, "x: must be above 0"),
        ({"spec": "spike:workspace=Production:day=-3:x=lots"}, "x: 'lots' is not a number"),
        ({"spec": "spike:workspace=Production:day=-3:x=nan"}, "not a finite number"),
        ({"spec": "shift:workspace=Production:day=-3:add=5"}, "a shift takes x"),
        ({"spec": "spike:workspace=Production:day=-3:add=-5"}, "positive amount"),
        ({"spec": "spike:model=claude-9:day=-3:x=2"}, "no model 'claude-9'"),
        ({"spec": "spike:model=claude-opus-5:day=-3:add=5"}, "needs org=NAME"),
        ({"spec": "spike:workspace=Production:day=-3:x=2:colour=red"}, "unknown field 'colour'"),
        ({"spec": "spike:workspace=Production:oops:x=2"}, "'oops' is not NAME=VALUE"),
        ({"spec": ""}, "empty injection spec"),
        ({"kind": "spike", "workspace": "Production", "day": True, "x": 2}, "day: expected"),
        ({"spec": "spike:x=2", "kind": "spike"}, "either spec"),
        ({"kind": "spike", "user": "x@nowhere.example", "day": -1, "x": 2}, "no user"),
        (
            {"kind": "spike", "api_key": "team-payments-prod", "org": "Initech", "day": 0, "x": 2},
            "no organization 'Initech'",
        ),
        (
            {"kind": "spike", "workspace": "Sandbox", "day": "2026-11-01", "add": 10},
            "workspace 'Sandbox' has no cost on 2026-11-01",  # archived in April
        ),
    ],
)
def test_bad_specs_are_one_line_400s(
    fresh_simulator: RunningSimulator, body: dict[str, Any], says: str
) -> None:
    api = Api(fresh_simulator.url)
    r = api.http.post("/_simulator/injections", json=body)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert says in message
    assert "\n" not in message
    assert fresh_simulator.sim.store.injections() == []


def test_inject_is_idempotent_replaces_and_clears(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    key = api.key("console", "admin")
    params = {"starting_at": "2026-11-19T00:00:00Z", "ending_at": "2026-11-20T00:00:00Z"}

    def amount() -> Decimal:
        (b,) = api.get(COST, key, params).json()["data"]
        return sum((Decimal(r["amount"]) for r in b["results"]), Decimal(0))

    def day_cost() -> Decimal:
        return cents(api.truth(org="Acme Platform", start="2026-11-19", end="2026-11-20")[
            "organizations"][0]["days"][0])  # fmt: skip

    plain, plain_truth = amount(), day_cost()  # the report is cached from here on
    post = api.http.post
    ws = fresh_simulator.sim.world.console.workspaces[1]
    first = post("/_simulator/injections", json={"spec": f"spike:workspace={ws.name}:day=-3:x=6"})
    assert first.json()["changed"] is True
    spiked, spiked_truth = amount(), day_cost()
    assert spiked > plain
    assert spiked_truth > plain_truth
    # The same spec again, by id instead of name, or as fields: nothing changes.
    for body in (
        {"spec": f"spike:workspace={ws.id}:day=2026-11-19:x=6.0"},
        {"kind": "spike", "workspace": ws.name, "day": -3, "x": 6},
    ):
        again = post("/_simulator/injections", json=body).json()
        assert again["changed"] is False
        assert again["injection"] == first.json()["injection"]
        assert len(again["injections"]) == 1
    assert (amount(), day_cost()) == (spiked, spiked_truth)
    # Another magnitude replaces it.
    bigger = post("/_simulator/injections", json={"spec": f"spike:workspace={ws.id}:day=-3:x=9"})
    assert bigger.json()["changed"] is True
    assert [i["x"] for i in bigger.json()["injections"]] == ["9"]
    assert day_cost() > spiked_truth
    ident = bigger.json()["injection"]["id"]
    cleared = post("/_simulator/injections/clear", json={"id": ident}).json()
    assert cleared == {"cleared": [ident], "injections": []}
    assert (amount(), day_cost()) == (plain, plain_truth)
    missing = post("/_simulator/injections/clear", json={"id": ident})
    assert missing.status_code == 400
    assert "no injection" in missing.json()["error"]
    post("/_simulator/injections", json={"spec": f"spike:workspace={ws.id}:day=-3:x=2"})
    post("/_simulator/injections", json={"spec": "shift:model=claude-opus-5:day=-5:x=2"})
    everything = post("/_simulator/injections/clear", json={}).json()
    assert len(everything["cleared"]) == 2
    assert api.http.get("/_simulator/injections").json() == {"injections": []}
    assert day_cost() == plain_truth
    assert api.http.post("/_simulator/config", json={"injections": []}).status_code == 400


def test_cli_rejects_a_bad_inject_with_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.txt"
    scenario.write_text(
        "# demo\nspike:workspace=Production:day=-3:x=6\nspike:user=nobody:day=-1:x=2\n"
    )
    result = CliRunner().invoke(
        simulate, ["--port", "0", "--now", "2026-11-22T12:00:00Z", "--inject", f"@{scenario}"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: --inject: user: no user 'nobody' (give its id, e-mail or name)"
    ]
