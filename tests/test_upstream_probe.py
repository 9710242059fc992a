"""The connect-time key check against the simulator: good keys return the right organization,
each classic mistake gives its own actionable message, and no key ever leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import NOW, Api
from spendscope.errors import KeyCheckFailed, ServerError, mask_key
from spendscope.simulator.server import RunningSimulator
from spendscope.upstream import AnthropicClient, classify_key, probe_console, probe_enterprise
from spendscope.upstream.probe import ENTERPRISE_PROBE_PATH, ME_PATH


class Key(str):
    """A key whose repr is masked, so a failing test's traceback cannot print it."""

    def __repr__(self) -> str:
        return repr(mask_key(self))


def org_of(api: Api, kind: str) -> dict[str, Any]:
    for org in api.info()["organizations"]:
        if kind == "console" and org["kind"] == "console":
            return dict(org)
        if kind == "enterprise" and org["kind"] == "enterprise" and org["analytics_enabled"]:
            return dict(org)
        if kind == "globex" and org["name"] == "Globex Corp":
            return dict(org)
    raise KeyError(kind)


def all_keys(api: Api) -> list[Key]:
    return [Key(k["key"]) for org in api.info()["organizations"] for k in org["keys"]]


@pytest.fixture(autouse=True)
def _no_key_in_output(
    api: Api, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capsys.readouterr()
    text = caplog.text + out + err
    leaked = [mask_key(key) for key in all_keys(api) if key in text]
    assert leaked == []


def client_for(api: Api, kind: str, label: str, **kwargs: Any) -> tuple[AnthropicClient, Key]:
    key = Key(api.key(kind, label))
    return AnthropicClient(key, api.base_url, sleep=lambda s: None, **kwargs), key


def failure(probe: Any, client: AnthropicClient, key: str, **kwargs: Any) -> KeyCheckFailed:
    with client, pytest.raises(KeyCheckFailed) as info:
        probe(client, now=NOW, **kwargs)
    err = info.value
    for text in (str(err), repr(err), err.hint or "", repr(err.__cause__)):
        assert key not in text
    assert err.hint
    return err


def test_classify_key() -> None:
    assert classify_key("sk-ant-admin01-abc") == "admin"
    assert classify_key("  sk-ant-api01-abc\n") == "analytics"
    assert classify_key("sk-ant-api03-abc") == "standard"
    assert classify_key("sk-ant-oat01-abc") == "oauth"
    assert classify_key("sk-proj-abc") == "unknown"
    assert classify_key("") == "unknown"


# -- good keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["admin", "oauth-org-admin"])
def test_console_probe_returns_the_organization(api: Api, label: str) -> None:
    org = org_of(api, "console")
    client, _ = client_for(api, "console", label)
    with client:
        identity = probe_console(client, now=NOW)
        assert client.requests == 2
        assert set(client.by_endpoint) == {ME_PATH, "/v1/organizations/usage_report/messages"}
    assert identity.id == org["id"]
    assert identity.name == org["name"]


@pytest.mark.parametrize("label", ["analytics", "analytics-only"])
def test_enterprise_probe_returns_the_organization(api: Api, label: str) -> None:
    org = org_of(api, "enterprise")
    client, _ = client_for(api, "enterprise", label)
    with client:
        identity = probe_enterprise(client, now=NOW)
        assert client.requests == 2
        assert set(client.by_endpoint) == {ME_PATH, ENTERPRISE_PROBE_PATH}
    assert identity.id == org["id"]
    assert identity.name == org["name"]


def test_probe_rides_out_a_transient_failure(fresh_simulator: RunningSimulator) -> None:
    api = Api(fresh_simulator.url)
    api.http.post("/_simulator/faults", json={"path": ME_PATH, "kind": "529", "count": 2})
    client, _ = client_for(api, "console", "admin")
    with client:
        assert probe_console(client, now=NOW).id == org_of(api, "console")["id"]
        assert client.retries == 2


def test_persistent_server_failure_is_not_blamed_on_the_key(
    fresh_simulator: RunningSimulator,
) -> None:
    api = Api(fresh_simulator.url)
    api.http.post("/_simulator/faults", json={"path": ME_PATH, "kind": "500", "count": 5})
    client, _ = client_for(api, "console", "admin", max_attempts=3)
    with client, pytest.raises(ServerError):
        probe_console(client, now=NOW)


# -- mistakes recognised from the prefix, before any request ----------------------------------


def test_analytics_key_given_to_connect_console(api: Api) -> None:
    client, key = client_for(api, "enterprise", "analytics")
    err = failure(probe_console, client, key)
    assert client.requests == 0
    assert err.reason == "wrong_key_type"
    assert "Enterprise analytics key (sk-ant-api01-…)" in err.message
    assert "Admin API key (sk-ant-admin01-…)" in err.message
    assert err.hint
    assert "spendscope connect enterprise" in err.hint


@pytest.mark.parametrize("label", ["admin", "oauth-org-admin"])
def test_console_key_given_to_connect_enterprise(api: Api, label: str) -> None:
    client, key = client_for(api, "console", label)
    err = failure(probe_enterprise, client, key)
    assert client.requests == 0
    assert err.reason == "wrong_key_type"
    assert "read:analytics" in err.message
    assert err.hint
    assert "spendscope connect console" in err.hint


@pytest.mark.parametrize("probe", [probe_console, probe_enterprise])
def test_standard_key_is_refused_for_both_kinds(api: Api, probe: Any) -> None:
    client, key = client_for(api, "console", "standard")
    err = failure(probe, client, key)
    assert client.requests == 0
    assert err.reason == "standard_key"
    assert "standard API key (sk-ant-api03-…)" in err.message
    assert err.hint
    assert "sk-ant-admin01-" in err.hint
    assert "read:analytics" in err.hint


# -- mistakes the server reveals --------------------------------------------------------------


def test_console_org_on_enterprise_analytics_needs_an_enterprise_plan(api: Api) -> None:
    # A key whose prefix gives nothing away (strict_prefix=False stands for that) reaches the
    # analytics API of a Console organization: 400 "requires an enterprise plan".
    client, key = client_for(api, "console", "admin")
    err = failure(probe_enterprise, client, key, strict_prefix=False)
    assert err.reason == "not_enterprise"
    assert "not on a Claude Enterprise plan" in err.message
    assert "requires an enterprise plan" in err.message
    assert err.hint
    assert "spendscope connect console" in err.hint


@pytest.mark.parametrize("status", [404, 403])
def test_globex_analytics_not_enabled(fresh_simulator: RunningSimulator, status: int) -> None:
    api = Api(fresh_simulator.url)
    api.http.post("/_simulator/config", json={"analytics_disabled_status": status})
    client, key = client_for(api, "globex", "analytics")
    err = failure(probe_enterprise, client, key)
    assert err.reason == "analytics_not_enabled"
    assert "analytics API is not enabled" in err.message
    assert f"{status} " in err.message
    assert err.hint
    assert "Anthropic support" in err.hint


@pytest.mark.parametrize(
    ("probe", "kind", "label", "where"),
    [
        (probe_console, "console", "admin-revoked", "Claude Console"),
        (probe_enterprise, "enterprise", "analytics-revoked", "claude.ai"),
    ],
)
def test_revoked_key(api: Api, probe: Any, kind: str, label: str, where: str) -> None:
    client, key = client_for(api, kind, label)
    err = failure(probe, client, key)
    assert client.requests == 1  # a 401 is final
    assert err.reason == "key_rejected"
    assert "401" in err.message
    assert "revoked, expired or mistyped" in err.message
    assert err.hint
    assert "create a new" in err.hint
    assert where in err.hint


def test_unrecognised_key_is_tried_then_explained(api: Api) -> None:
    key = Key("not-a-key-at-all-0123456789")
    client = AnthropicClient(key, api.base_url)
    err = failure(probe_console, client, key)
    assert err.reason == "key_rejected"
    assert "does not look like an Anthropic key" in err.message


def test_missing_read_analytics_scope(api: Api) -> None:
    client, key = client_for(api, "enterprise", "no-analytics-scope")
    err = failure(probe_enterprise, client, key)
    assert err.reason == "missing_scope"
    assert "lacks the scope read:analytics" in err.message
    assert err.hint
    assert "read:analytics" in err.hint


def test_too_recent_probe_day_still_proves_the_key(fresh_simulator: RunningSimulator) -> None:
    # With a 6-day engagement lag, the probe's day (4 days back) is refused as "not yet
    # available" — which the API only says to a key that may read analytics.
    api = Api(fresh_simulator.url)
    api.http.post("/_simulator/config", json={"engagement_lag_days": 6})
    client, _ = client_for(api, "enterprise", "analytics")
    with client:
        assert probe_enterprise(client, now=NOW).id == org_of(api, "enterprise")["id"]
        assert client.by_status[400] == 1


def test_me_forbidden_falls_back_to_the_organization_header() -> None:
    org_id = "3fc15f27-0bab-43e6-91ea-9965d067806c"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == ME_PATH:
            return httpx.Response(
                403,
                json={
                    "type": "error",
                    "error": {
                        "type": "permission_error",
                        "message": "Missing required scopes. Got: ['read:analytics'] "
                        "Needed one of: ['read:organization']",
                    },
                },
            )
        return httpx.Response(200, json={"data": []}, headers={"anthropic-organization-id": org_id})

    key = Key("sk-ant-api01-" + "z" * 93 + "AA")
    with AnthropicClient(key, "https://api.test", transport=httpx.MockTransport(handler)) as c:
        identity = probe_enterprise(c, now=NOW)
    assert identity.id == org_id
    assert identity.name is None
