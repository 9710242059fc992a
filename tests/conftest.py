"""Shared fixtures: a real simulator on loopback with a frozen clock, and an HTTP helper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BETA = "analytics-usage-cost-2026-08-24"


class Api:
    """Thin client for tests: GET with a key, query params as a list of pairs or a dict."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def get(
        self,
        path: str,
        key: str | None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        beta: bool = True,
    ) -> httpx.Response:
        h = {"anthropic-version": "2023-06-01"}
        if beta:
            h["anthropic-beta"] = BETA
        if key is not None:
            h["x-api-key"] = key
        h.update(headers or {})
        return self.http.get(path, params=params, headers=h)

    def info(self) -> dict[str, Any]:
        return self.http.get("/_simulator/info").json()

    def truth(self, **params: Any) -> dict[str, Any]:
        r = self.http.get("/_simulator/truth", params=params)
        r.raise_for_status()
        return r.json()

    def key(self, kind: str, label: str) -> str:
        """The secret of the credential labelled `label` of the first org of `kind`
        ("console" or "enterprise"; "globex" for the org without analytics)."""
        for org in self.info()["organizations"]:
            match = org["kind"] == kind or (kind == "globex" and org["name"] == "Globex Corp")
            if kind == "enterprise" and not org["analytics_enabled"]:
                match = False
            if match:
                for k in org["keys"]:
                    if k["label"] == label:
                        return str(k["key"])
        raise KeyError((kind, label))


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """One shared simulator, frozen at NOW, no rate limit, no faults. Tests must not change its
    config or clock; use `fresh_simulator` for that."""
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        yield running


@pytest.fixture(scope="session")
def api(simulator: RunningSimulator) -> Api:
    return Api(simulator.url)


@pytest.fixture
def fresh_simulator() -> Iterator[RunningSimulator]:
    """A private simulator whose clock and config a test may change."""
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        yield running


@pytest.fixture(scope="session")
def console_key(api: Api) -> str:
    return api.key("console", "admin")


@pytest.fixture(scope="session")
def oauth_key(api: Api) -> str:
    return api.key("console", "oauth-org-admin")


@pytest.fixture(scope="session")
def enterprise_key(api: Api) -> str:
    return api.key("enterprise", "analytics")
