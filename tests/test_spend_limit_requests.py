"""Spend limit increase requests (Claude Enterprise): the simulator's endpoints over real HTTP and
through the official SDK's strict models — filters, pages bound to their filters, a live spend
summary on pending requests only, approving writes the member's limit, decisions are final."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from conftest import NOW, Api
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig

REQUESTS = "/v1/organizations/spend_limit_increase_requests"
EFFECTIVE = "/v1/organizations/spend_limits/effective"


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    """A simulator of this module's own, read-only: its spend-limit requests do not count
    against the session simulator's 60 a minute (which other modules' tests spend)."""
    with RunningSimulator(SimConfig(seed=42, rpm=0, spend_limits_rpm=0), now=NOW) as running:
        yield running


@pytest.fixture(scope="module")
def api(simulator: RunningSimulator) -> Api:
    return Api(simulator.url)


def error(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert (body["type"], body["error"]["type"]) == ("error", kind)
    err: dict[str, Any] = body["error"]
    return err


def post(url: str, key: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return httpx.post(url + path, json=body, headers=headers, timeout=10)


def listed(api: Api, key: str, params: list[tuple[str, Any]] | None = None) -> list[Any]:
    r = api.get(REQUESTS, key, [("limit", 100), *(params or [])])
    assert r.status_code == 200, r.text
    assert r.json()["next_page"] is None
    rows: list[Any] = r.json()["data"]
    return rows


def effective_row(api: Api, key: str, user_id: str) -> dict[str, Any]:
    rows = api.get(EFFECTIVE, key, [("user_ids[]", user_id)]).json()["data"]
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def test_seeded_requests_newest_first_and_their_filters(
    simulator: RunningSimulator, api: Api
) -> None:
    key = api.key("enterprise", "analytics")
    every = listed(api, key)
    statuses = [r["status"] for r in every]
    assert sorted(statuses) == ["approved"] * 3 + ["denied"] * 3 + ["pending"] * 4
    stamps = [r["created_at"] for r in every]
    assert stamps == sorted(stamps, reverse=True)
    assert len({r["id"] for r in every}) == 10
    members = {u.id for u in simulator.sim.world.enterprise.users if not u.deleted}
    assert {r["actor"]["user_id"] for r in every} <= members
    # Status filter: one or several values.
    for wanted in (["pending"], ["approved", "denied"]):
        got = listed(api, key, [("status[]", s) for s in wanted])
        assert got == [r for r in every if r["status"] in wanted]
    # Actor filter, alone and with a status.
    actor = every[-1]["actor"]["user_id"]
    mine = [r for r in every if r["actor"]["user_id"] == actor]
    assert listed(api, key, [("actor_ids[]", actor)]) == mine
    both = listed(api, key, [("actor_ids[]", actor), ("status[]", "pending")])
    assert both == [r for r in mine if r["status"] == "pending"]
    assert listed(api, key, [("actor_ids[]", "user_01nobody")]) == []
    error(api.get(REQUESTS, key, [("status[]", "cancelled")]), 400, "invalid_request_error")
    # The SDK's paginator and strict models read the same requests.
    client = anthropic.Anthropic(
        api_key=key, base_url=simulator.url, max_retries=0, _strict_response_validation=True
    )
    sdk = client.organization.spend_limits.increase_requests
    assert [r.id for r in sdk.list(limit=3)] == [r["id"] for r in every]
    one = sdk.retrieve(every[0]["id"])
    assert one.model_dump(mode="json")["id"] == every[0]["id"]


def test_pages_and_a_cursor_bound_to_its_filters(api: Api) -> None:
    key = api.key("enterprise", "analytics")
    every = listed(api, key)
    walked, cursor = [], None
    while True:
        query = [("limit", 3), *([("page", cursor)] if cursor else [])]
        body = api.get(REQUESTS, key, query).json()
        assert len(body["data"]) <= 3
        walked.append(body["data"])
        cursor = body["next_page"]
        if cursor is None:
            break
    assert len(walked) == 4
    assert [r for p in walked for r in p] == every
    query = [("limit", 1), ("status[]", "approved"), ("status[]", "denied")]
    first = api.get(REQUESTS, key, query).json()
    resolved = [r for r in every if r["status"] != "pending"]
    assert first["data"] == resolved[:1]
    # The page size is not part of what a cursor is bound to; the filters are.
    wider = api.get(REQUESTS, key, [("limit", 10), *query[1:], ("page", first["next_page"])])
    assert wider.json()["data"] == resolved[1:]
    for changed in (
        [("limit", 1), ("status[]", "approved")],
        [*query, ("actor_ids[]", every[0]["actor"]["user_id"])],
    ):
        err = error(
            api.get(REQUESTS, key, [*changed, ("page", first["next_page"])]),
            400,
            "invalid_request_error",
        )
        assert err["message"] == "cursor does not match current query parameters"


def test_a_spend_summary_on_pending_requests_only(api: Api) -> None:
    key = api.key("enterprise", "analytics")
    every = listed(api, key)
    for r in every:
        assert r["type"] == "spend_limit_increase_request"
        assert r["period"] == "monthly"
        assert api.get(f"{REQUESTS}/{r['id']}", key).json() == r
        if r["status"] == "pending":
            assert (r["resolved_at"], r["resolved_by"]) == (None, None)
            # Live: the requester's row of the effective list, as it reads now.
            assert r["spend_summary"] == effective_row(api, key, r["actor"]["user_id"])
        else:
            assert r["spend_summary"] is None
            assert r["created_at"] < r["resolved_at"]
            assert r["resolved_by"]["type"] == "user_actor"
    missing = api.get(f"{REQUESTS}/slir_01nope", key)
    error(missing, 404, "not_found_error")


def test_approving_sets_the_limit_and_decisions_are_final(
    fresh_simulator: RunningSimulator,
) -> None:
    url = fresh_simulator.url
    api = Api(url)
    reader, writer = api.key("enterprise", "analytics"), api.key("enterprise", "spend-limits-admin")
    pending = listed(api, reader, [("status[]", "pending")])
    first, second = pending[0], pending[1]
    user = first["actor"]["user_id"]
    before = effective_row(api, reader, user)
    assert before["amount"] != "123400"
    # A malformed amount changes nothing.
    approve = f"{REQUESTS}/{first['id']}/approve"
    for bad in ({}, {"amount": 5}, {"amount": "-1"}, {"amount": "1", "period": "yearly"}):
        error(post(url, writer, approve, bad), 400, "invalid_request_error")
    assert api.get(f"{REQUESTS}/{first['id']}", reader).json()["status"] == "pending"

    body = {"amount": "123400", "suppress_notification": True}
    approved = post(url, writer, approve, body).json()
    assert (approved["id"], approved["status"], approved["spend_summary"]) == (
        first["id"],
        "approved",
        None,
    )
    assert approved["resolved_by"]["type"] == "scoped_api_key_actor"
    limit = approved["spend_limit"]
    assert (limit["type"], limit["scope"], limit["amount"]) == (
        "spend_limit",
        {"type": "user", "user_id": user},
        "123400",
    )
    after = effective_row(api, reader, user)
    assert (after["source"], after["amount"], after["spend_limit_id"]) == (
        {"type": "user", "user_id": user},
        "123400",
        limit["id"],
    )
    stored = api.get(f"{REQUESTS}/{first['id']}", reader).json()
    assert stored == {k: v for k, v in approved.items() if k != "spend_limit"}
    assert first["id"] not in [r["id"] for r in listed(api, reader, [("status[]", "pending")])]

    other = second["actor"]["user_id"]
    untouched = effective_row(api, reader, other)
    denied = post(url, writer, f"{REQUESTS}/{second['id']}/deny", {}).json()
    assert (denied["status"], denied["spend_summary"]) == ("denied", None)
    assert effective_row(api, reader, other)["amount"] == untouched["amount"]

    # Approved and denied are final, seeded ones as well.
    seeded = listed(api, reader, [("status[]", "approved"), ("status[]", "denied")])
    for done in (first["id"], second["id"], seeded[-1]["id"]):
        for action, payload in (("approve", {"amount": "1"}), ("deny", None)):
            r = post(url, writer, f"{REQUESTS}/{done}/{action}", payload)
            assert "is already" in error(r, 400, "invalid_request_error")["message"]
    assert effective_row(api, reader, user)["amount"] == "123400"
    error(post(url, writer, f"{REQUESTS}/slir_01nope/deny"), 404, "not_found_error")

    # Through the SDK's strict models.
    client = anthropic.Anthropic(
        api_key=writer, base_url=url, max_retries=0, _strict_response_validation=True
    )
    sdk = client.organization.spend_limits.increase_requests
    made = sdk.approve(pending[2]["id"], amount="5000", suppress_notification=False)
    assert made.spend_limit is not None
    assert made.spend_limit.amount == "5000"
    assert sdk.deny(pending[3]["id"]).status == "denied"


def test_scopes_organizations_and_the_shared_rate_limit(
    api: Api, fresh_simulator: RunningSimulator
) -> None:
    reader = api.key("enterprise", "analytics")
    some = listed(api, reader, [("status[]", "pending")])[0]["id"]
    refused = post(api.base_url, reader, f"{REQUESTS}/{some}/approve", {"amount": "1"})
    err = error(refused, 403, "permission_error")
    assert err["message"].endswith("Needed one of: ['write:spend_limits']")
    assert err["details"] == {"error_code": "api_key_scope_missing"}
    assert api.get(f"{REQUESTS}/{some}", reader).json()["status"] == "pending"
    no_read = api.get(REQUESTS, api.key("enterprise", "analytics-only"))
    assert error(no_read, 403, "permission_error")["message"].endswith("['read:spend_limits']")
    console = error(api.get(REQUESTS, api.key("console", "admin")), 400, "invalid_request_error")
    assert console["details"] == {"error_code": "organization_type_not_supported"}
    # One bucket for every spend-limit endpoint.
    httpx.post(fresh_simulator.url + "/_simulator/config", json={"spend_limits_rpm": 2})
    fresh = Api(fresh_simulator.url)
    key = fresh.key("enterprise", "analytics")
    assert fresh.get(EFFECTIVE, key).status_code == 200
    assert fresh.get(REQUESTS, key).status_code == 200
    error(fresh.get(REQUESTS, key), 429, "rate_limit_error")
    assert fresh.get("/v1/organizations/me", key).status_code == 200
