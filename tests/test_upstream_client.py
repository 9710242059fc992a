"""The upstream client against the simulator over real HTTP: retries through every fault kind,
no retries on client errors, retry-after, the shared rate limiter, malformed bodies, the four
pagination styles, and keys never leaking into errors, reprs or logs."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from conftest import BETA, Api
from spendscope.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportFailure,
    UpstreamError,
    mask_key,
)
from spendscope.simulator.server import RunningSimulator
from spendscope.upstream import (
    AnthropicClient,
    RateLimiter,
    console_report_pages,
    encode_params,
    id_pages,
    limiter_for,
    report_pages,
    reset_limiters,
    token_pages,
)
from spendscope.upstream.client import QueryParams

ME = "/v1/organizations/me"
USERS = "/v1/organizations/users"
LEGACY_USAGE = "/v1/organizations/analytics/usage_report"
USAGE_B = "/v1/organizations/analytics/usage"
MESSAGES = "/v1/organizations/usage_report/messages"
CLAUDE_CODE = "/v1/organizations/usage_report/claude_code"
ENGAGEMENT_USERS = "/v1/organizations/analytics/users"


class Key(str):
    """A key whose repr is masked, so a failing test's traceback cannot print it."""

    def __repr__(self) -> str:
        return repr(mask_key(self))


class Sleeps:
    """An injected `sleep` that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def all_keys(api: Api) -> list[Key]:
    return [Key(k["key"]) for org in api.info()["organizations"] for k in org["keys"]]


def key_of(api: Api, kind: str, label: str) -> Key:
    return Key(api.key(kind, label))


@pytest.fixture
def console_key(api: Api) -> Key:
    return key_of(api, "console", "admin")


@pytest.fixture
def enterprise_key(api: Api) -> Key:
    return key_of(api, "enterprise", "analytics")


@pytest.fixture(autouse=True)
def _no_key_in_output(
    api: Api, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """After every test: no key appears in any log record or captured output."""
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capsys.readouterr()
    text = caplog.text + out + err
    leaked = [mask_key(key) for key in all_keys(api) if key in text]
    assert leaked == []


@pytest.fixture
def fresh_api(fresh_simulator: RunningSimulator) -> Api:
    return Api(fresh_simulator.url)


def stats(api: Api, requests: int | None = None) -> dict[str, Any]:
    """The simulator's counters; with `requests`, once it has counted that many (a "slow"
    fault is counted when its late answer is written, after the client gave up on it)."""
    deadline = time.monotonic() + 5.0
    while True:
        current = dict(api.http.get("/_simulator/stats").json())
        if requests is None or current["requests"] >= requests or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def schedule(api: Api, path: str, kind: str, count: int) -> None:
    r = api.http.post("/_simulator/faults", json={"path": path, "kind": kind, "count": count})
    r.raise_for_status()


def configure(api: Api, **settings: Any) -> None:
    api.http.post("/_simulator/config", json=settings).raise_for_status()


def assert_secret_free(err: BaseException, key: str) -> None:
    texts = [str(err), repr(err)]
    if isinstance(err, UpstreamError):
        texts += [err.hint or "", err.upstream_message or ""]
    assert not any(key in text for text in texts)


# -- query encoding ---------------------------------------------------------------------------


def test_encode_params_brackets_booleans_and_times() -> None:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    assert encode_params([("group_by[]", "model"), ("group_by[]", "product"), ("x", True)]) == [
        ("group_by[]", "model"),
        ("group_by[]", "product"),
        ("x", "true"),
    ]
    assert encode_params({"group_by": ["a", "b"], "starting_at": when, "n": None}) == [
        ("group_by[]", "a"),
        ("group_by[]", "b"),
        ("starting_at", "2026-11-01T00:00:00Z"),
    ]


def test_bracket_arrays_reach_the_server(api: Api, enterprise_key: str) -> None:
    with AnthropicClient(enterprise_key, api.base_url) as client:
        page = client.get(
            LEGACY_USAGE,
            [
                ("starting_at", "2026-11-01T00:00:00Z"),
                ("ending_at", "2026-11-03T00:00:00Z"),
                ("group_by[]", "model"),
                ("group_by[]", "product"),
            ],
        )
    rows = [row for bucket in page["data"] for row in bucket["results"]]
    assert len({row["model"] for row in rows} - {None}) >= 2
    assert len({row["product"] for row in rows} - {None}) >= 2
    assert all(row["context_window"] is None for row in rows)


# -- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "529", "drop", "truncate", "slow", "malformed"])
def test_retries_through_each_fault_kind(fresh_api: Api, kind: str) -> None:
    key = key_of(fresh_api, "console", "admin")
    expected = fresh_api.get(ME, key).json()
    configure(fresh_api, slow_ms=800)
    http = fresh_api.http
    http.post("/_simulator/stats/reset").raise_for_status()
    schedule(fresh_api, ME, kind, 2)
    sleeps = Sleeps()
    with AnthropicClient(key, fresh_api.base_url, timeout=0.3, sleep=sleeps) as client:
        assert client.get(ME) == expected
        assert client.requests == 3
        assert client.retries == 2
        assert client.by_endpoint[ME] == 3
        assert len(sleeps.waits) == 2
        assert 0.25 <= sleeps.waits[0] <= 0.5 < sleeps.waits[1] <= 1.0  # exponential backoff
        if kind in ("drop", "truncate", "slow"):
            assert client.transport_errors == 2
        if kind == "malformed":
            assert client.malformed == 2
    server = stats(fresh_api, requests=3)
    assert server["requests"] == 3
    assert server["faults"] == {kind: 2}


def test_fault_rate_30_percent_every_call_ends_correct(fresh_api: Api) -> None:
    console = key_of(fresh_api, "console", "admin")
    enterprise = key_of(fresh_api, "enterprise", "analytics")
    calls: list[tuple[str, str, list[tuple[str, Any]]]] = []
    for i in range(20):
        day = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=i)
        calls.append((console, USERS, [("limit", 3 + i)]))
        calls.append((console, MESSAGES, [("starting_at", day), ("limit", 3)]))
        calls.append(
            (enterprise, LEGACY_USAGE, [("starting_at", day), ("ending_at", day + timedelta(3))])
        )
    clients = {
        k: AnthropicClient(k, fresh_api.base_url, timeout=0.3, sleep=Sleeps())
        for k in (console, enterprise)
    }
    expected = [clients[k].get(path, params) for k, path, params in calls]
    configure(
        fresh_api,
        fault_rate=0.3,
        slow_ms=600,
        fault_kinds=["500", "529", "slow", "drop", "truncate", "malformed"],
    )
    fresh_api.http.post("/_simulator/stats/reset").raise_for_status()
    before = {k: c.counters() for k, c in clients.items()}
    got = [clients[k].get(path, params) for k, path, params in calls]
    assert got == expected
    sent = sum(c.requests - before[k]["requests"] for k, c in clients.items())
    retries = sum(c.retries - before[k]["retries"] for k, c in clients.items())
    assert len(calls) == 60
    assert retries > 5  # faults really happened, and each was retried
    assert sent == 60 + retries
    server = stats(fresh_api, requests=sent)
    assert server["requests"] == sent
    assert sum(server["faults"].values()) == retries
    for c in clients.values():
        c.close()


@pytest.mark.parametrize(
    ("label", "path", "params", "error", "status"),
    [
        ("admin", USERS, [("limit", 5000)], InvalidRequest, 400),
        ("admin-revoked", ME, [], AuthenticationFailed, 401),
        ("no-analytics-scope", LEGACY_USAGE, [("starting_at", "2026-11-01T00:00:00Z")],
         PermissionDenied, 403),
        ("admin", f"{USERS}/user_01NoSuchUserAtAllXXXXXXX", [], NotFound, 404),
    ],
)  # fmt: skip
def test_client_errors_are_not_retried(
    fresh_api: Api,
    label: str,
    path: str,
    params: list[tuple[str, Any]],
    error: type[UpstreamError],
    status: int,
) -> None:
    kind = "enterprise" if label == "no-analytics-scope" else "console"
    key = key_of(fresh_api, kind, label)
    sleeps = Sleeps()
    with AnthropicClient(key, fresh_api.base_url, sleep=sleeps) as client:
        with pytest.raises(error) as info:
            client.get(path, params)
        assert client.requests == 1
        assert client.retries == 0
    assert sleeps.waits == []
    assert stats(fresh_api)["requests"] == 1
    err = info.value
    assert err.status == status
    assert err.path == path
    assert err.request_id
    assert err.request_id.startswith("req_")
    assert path in err.message
    assert str(status) in err.message
    assert err.hint
    assert_secret_free(err, key)
    if status == 403:
        assert isinstance(err, PermissionDenied)
        assert err.needed_scopes == ["read:analytics"]
        assert err.hint
        assert "read:analytics" in err.hint


def _mock(handler: Any, **kwargs: Any) -> AnthropicClient:
    return AnthropicClient(
        "sk-ant-admin01-" + "x" * 93 + "AA",
        "https://api.test",
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def test_x_should_retry_false_is_final_even_on_5xx() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            503,
            json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            headers={"x-should-retry": "false", "request-id": "req_1"},
        )

    sleeps = Sleeps()
    with _mock(handler, sleep=sleeps) as client, pytest.raises(ServerError) as info:
        client.get(ME)
    assert len(seen) == 1
    assert sleeps.waits == []
    assert info.value.request_id == "req_1"


def test_headers_sent(api: Api, console_key: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    with _mock(handler) as client:
        client.get(USAGE_B, [("group_by[]", "model")], betas=["b1", BETA])
        client.get(ME)
    first, second = seen
    assert first.headers["x-api-key"].startswith("sk-ant-admin01-")
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert first.headers["anthropic-beta"] == f"b1,{BETA}"
    assert first.headers["user-agent"].startswith("spendscope/")
    assert "authorization" not in first.headers
    assert "anthropic-beta" not in second.headers
    assert first.url.params.get_list("group_by[]") == ["model"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1250", "retry-after": "9"}, 1.25),
        ({"retry-after": "500"}, 120.0),  # capped by retry_after_max
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float) -> None:
    answers = deque([httpx.Response(429, headers=headers), httpx.Response(200, json={"a": 1})])
    sleeps = Sleeps()
    with _mock(lambda _r: answers.popleft(), sleep=sleeps) as client:
        assert client.get(ME) == {"a": 1}
        assert client.rate_limited == 1
    assert sleeps.waits == [expected]


def test_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    answers = deque(
        [httpx.Response(503, headers={"retry-after": when}), httpx.Response(200, json={})]
    )
    sleeps = Sleeps()
    with _mock(lambda _r: answers.popleft(), sleep=sleeps) as client:
        client.get(ME)
    assert len(sleeps.waits) == 1
    assert 27 <= sleeps.waits[0] <= 30


def test_429_retry_after_is_honoured_and_pauses_the_limiter(fresh_api: Api) -> None:
    key = key_of(fresh_api, "enterprise", "analytics")
    configure(fresh_api, rpm=2)
    params = [("starting_at", "2026-11-01T00:00:00Z")]
    t = FakeTime()
    limiter = RateLimiter(0, clock=t.clock, sleep=t.sleep)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # Instead of waiting out the server's minute, reset its rate-limit window.
        waits.append(seconds)
        t.now += seconds
        fresh_api.http.post("/_simulator/stats/reset").raise_for_status()

    with AnthropicClient(key, fresh_api.base_url, limiter=limiter, sleep=sleep) as client:
        client.get(LEGACY_USAGE, params)
        client.get(LEGACY_USAGE, params)
        assert waits == []
        assert client.get(LEGACY_USAGE, params)["data"]  # third in the minute: 429, then OK
        assert client.rate_limited == 1
        assert client.requests == 4
    assert len(waits) == 1
    assert 1 <= waits[0] <= 61
    assert waits[0] == int(waits[0])
    assert limiter.penalties == 1


def test_429_exhausted_raises_rate_limited(fresh_api: Api) -> None:
    key = key_of(fresh_api, "enterprise", "analytics")
    configure(fresh_api, rpm=1)
    params = [("starting_at", "2026-11-01T00:00:00Z")]
    sleeps = Sleeps()
    with AnthropicClient(key, fresh_api.base_url, max_attempts=3, sleep=sleeps) as client:
        client.get(LEGACY_USAGE, params)
        with pytest.raises(RateLimited) as info:
            client.get(LEGACY_USAGE, params)
        assert client.requests == 4
        assert client.rate_limited == 3
    assert info.value.retry_after is not None
    assert info.value.retry_after >= 1
    assert len(sleeps.waits) == 2
    assert all(w >= 1 for w in sleeps.waits)
    assert "after 3 attempts" in info.value.message
    assert info.value.hint
    assert "rate limit" in info.value.hint


def test_persistent_malformed_body_raises_after_three_attempts(fresh_api: Api) -> None:
    key = key_of(fresh_api, "console", "admin")
    schedule(fresh_api, ME, "malformed", 10)
    with AnthropicClient(key, fresh_api.base_url, sleep=Sleeps()) as client:
        with pytest.raises(MalformedResponse) as info:
            client.get(ME)
        assert client.requests == 3
    assert stats(fresh_api)["requests"] == 3
    assert "not a JSON object" in info.value.message
    assert_secret_free(info.value, key)


def test_transport_failure_after_attempts_exhausted() -> None:
    # Nothing listens on this port of loopback.
    key = Key("sk-ant-admin01-" + "y" * 93 + "AA")
    sleeps = Sleeps()
    with AnthropicClient(key, "http://127.0.0.1:9", max_attempts=3, sleep=sleeps) as client:
        with pytest.raises(TransportFailure) as info:
            client.get(ME)
        assert client.requests == 3
        assert client.transport_errors == 3
    assert len(sleeps.waits) == 2
    assert_secret_free(info.value, key)
    assert key not in repr(client)


# -- rate limiter -----------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_limiter_window_counts_from_the_answer() -> None:
    t = FakeTime()
    limiter = RateLimiter(3, window=10.0, clock=t.clock, sleep=t.sleep)
    tickets = [limiter.acquire() for _ in range(3)]
    assert t.now == 100.0
    t.now = 101.0
    for ticket in tickets:
        limiter.release(ticket)  # the answers arrive at 101
    limiter.acquire()
    assert t.now == 111.0  # not 110: a slot ages from its answer
    assert limiter.waits == 1


def test_limiter_penalize_pauses_everyone() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, clock=t.clock, sleep=t.sleep)
    limiter.penalize(5.0)
    limiter.penalize(2.0)  # a shorter pause does not cut the longer one
    with limiter.slot():
        pass
    assert t.now == 105.0


def test_limiter_registry_is_per_organization() -> None:
    reset_limiters()
    a = limiter_for("org-a", 60)
    assert limiter_for("org-a", 30) is a
    assert a.rpm == 30
    assert limiter_for("org-b", 60) is not a
    reset_limiters()


def _hammer(url: str, key: str, limiter: RateLimiter | None, max_attempts: int) -> list[Any]:
    """3 threads x 20 requests on two analytics endpoints of one organization."""
    results: list[Any] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with AnthropicClient(
            key, url, limiter=limiter, max_attempts=max_attempts, sleep=lambda s: None
        ) as client:
            for i in range(20):
                path = LEGACY_USAGE if (n + i) % 2 else "/v1/organizations/analytics/summaries"
                params: QueryParams = (
                    [("starting_at", "2026-11-01T00:00:00Z")]
                    if path == LEGACY_USAGE
                    else [("starting_date", "2026-11-01")]
                )
                try:
                    client.get(path, params)
                    outcome: Any = "ok"
                except RateLimited as exc:
                    outcome = exc
                with lock:
                    results.append(outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_shared_limiter_keeps_three_threads_under_the_limit(
    fresh_simulator: RunningSimulator, fresh_api: Api
) -> None:
    configure(fresh_api, rpm=30, rate_window_seconds=2.0)
    key = key_of(fresh_api, "enterprise", "analytics")
    limiter = RateLimiter(30, window=2.0)
    started = time.monotonic()
    results = _hammer(fresh_api.base_url, key, limiter, max_attempts=1)
    elapsed = time.monotonic() - started
    assert results == ["ok"] * 60
    server = stats(fresh_api)
    assert server["rate_limited"] == 0
    assert server["requests"] == 60
    assert elapsed >= 2.0  # requests 31-60 had to wait for the first window to pass
    assert limiter.waits > 0


def test_without_the_limiter_the_same_load_is_rate_limited(
    fresh_simulator: RunningSimulator, fresh_api: Api
) -> None:
    configure(fresh_api, rpm=30, rate_window_seconds=2.0)
    key = key_of(fresh_api, "enterprise", "analytics")
    results = _hammer(fresh_api.base_url, key, None, max_attempts=1)
    assert sum(isinstance(r, RateLimited) for r in results) >= 25
    assert stats(fresh_api)["rate_limited"] >= 25


# -- pagination -------------------------------------------------------------------------------


class Recorder:
    """A PageSource that records every query it forwards."""

    def __init__(self, client: AnthropicClient) -> None:
        self.client = client
        self.queries: list[list[tuple[str, str]]] = []

    def get(
        self, path: str, params: QueryParams | None = None, betas: Sequence[str] = ()
    ) -> dict[str, Any]:
        self.queries.append(encode_params(params))
        return self.client.get(path, params, betas)


def _rows(pages: list[dict[str, Any]]) -> list[Any]:
    return [row for page in pages for row in page["data"]]


def test_id_pages_walk_every_page(api: Api, console_key: str) -> None:
    with AnthropicClient(console_key, api.base_url) as client:
        rec = Recorder(client)
        pages = list(id_pages(rec, USERS, [("roles[]", "developer"), ("roles[]", "user")], 4))
        whole = client.get(USERS, [("roles[]", "developer"), ("roles[]", "user"), ("limit", 1000)])
    assert len(pages) >= 3
    assert _rows(pages) == whole["data"]
    assert [p["has_more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    for i, query in enumerate(rec.queries):
        assert query[:3] == [("roles[]", "developer"), ("roles[]", "user"), ("limit", "4")]
        if i:
            assert query[3:] == [("after_id", pages[i - 1]["last_id"])]


def test_token_pages_walk_every_page(api: Api, enterprise_key: str) -> None:
    params = [("date", "2026-11-15")]
    with AnthropicClient(enterprise_key, api.base_url) as client:
        rec = Recorder(client)
        pages = list(token_pages(rec, ENGAGEMENT_USERS, params, limit=7))
        whole = client.get(ENGAGEMENT_USERS, [*params, ("limit", 1000)])
    assert len(pages) >= 3
    assert _rows(pages) == whole["data"]
    assert pages[-1]["next_page"] is None
    for i, query in enumerate(rec.queries):
        assert query[:2] == [("date", "2026-11-15"), ("limit", "7")]
        assert query[2:] == ([("page", pages[i - 1]["next_page"])] if i else [])


@pytest.mark.parametrize("path", [LEGACY_USAGE, USAGE_B])
def test_report_pages_walk_every_page(api: Api, enterprise_key: str, path: str) -> None:
    params: list[tuple[str, Any]] = [
        ("starting_at", "2026-10-01T00:00:00Z"),
        ("ending_at", "2026-10-20T00:00:00Z"),
        ("group_by[]", "model"),
    ]
    betas = [BETA] if path == USAGE_B else []
    if path == USAGE_B:
        params.append(("time_bucket_width", "1d"))
    with AnthropicClient(enterprise_key, api.base_url) as client:
        pages = list(report_pages(client, path, params, limit=5, betas=betas))
        whole = client.get(path, [*params, ("limit", 1000 if path == USAGE_B else 31)], betas)
    assert len(pages) >= 3
    assert _rows(pages) == whole["data"]
    assert all(p["data_refreshed_at"] for p in pages)
    assert pages[-1]["has_more"] is False


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (MESSAGES, [("starting_at", "2026-10-01T00:00:00Z"), ("ending_at", "2026-10-25T00:00:00Z"),
                    ("group_by[]", "model"), ("bucket_width", "1d")]),
        (CLAUDE_CODE, [("starting_at", "2026-11-10")]),
    ],
)  # fmt: skip
def test_console_report_pages_walk_every_page(
    api: Api, console_key: str, path: str, params: list[tuple[str, Any]]
) -> None:
    with AnthropicClient(console_key, api.base_url) as client:
        pages = list(console_report_pages(client, path, params, limit=3))
        whole = client.get(path, [*params, ("limit", 31 if path == MESSAGES else 1000)])
        assert client.by_endpoint[path] == len(pages) + 1
    assert len(pages) >= 3
    assert _rows(pages) == whole["data"]
    assert pages[-1]["has_more"] is False


class Scripted:
    """A PageSource that answers scripted pages."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = deque(pages)
        self.calls = 0

    def get(
        self, path: str, params: QueryParams | None = None, betas: Sequence[str] = ()
    ) -> dict[str, Any]:
        self.calls += 1
        return self.pages.popleft()


@pytest.mark.parametrize(
    ("walker", "pages"),
    [
        (token_pages, [{"data": [1], "next_page": "a"}, {"data": [2], "next_page": "a"}]),
        (report_pages, [{"data": [1], "has_more": True, "next_page": "a"},
                        {"data": [2], "has_more": True, "next_page": "a"}]),
        (report_pages, [{"data": [1], "has_more": True, "next_page": None}]),
        (console_report_pages, [{"data": [1], "has_more": True, "next_page": ""}]),
        (id_pages, [{"data": [1], "has_more": True, "last_id": "u1"},
                    {"data": [2], "has_more": True, "last_id": "u1"}]),
        (id_pages, [{"data": [1], "has_more": True, "last_id": None}]),
        (token_pages, [{"next_page": None}]),
    ],
)  # fmt: skip
def test_inconsistent_cursors_raise_instead_of_looping(
    walker: Any, pages: list[dict[str, Any]]
) -> None:
    source = Scripted(pages)
    with pytest.raises(MalformedResponse, match="pagination"):
        list(walker(source, "/v1/x", [("a", "1")]))
    assert source.calls == len(pages)


def test_report_pages_stops_on_has_more_false_even_with_a_cursor() -> None:
    source = Scripted([{"data": [1], "has_more": False, "next_page": "zzz"}])
    assert len(list(report_pages(source, "/v1/x"))) == 1


# -- secrets ----------------------------------------------------------------------------------


def test_repr_and_counters_never_show_the_key(api: Api, console_key: str) -> None:
    with AnthropicClient(console_key, api.base_url) as client:
        client.get(ME)
        text = repr(client) + repr(client.counters()) + repr(vars(client))
    assert console_key not in text
    assert client.key_hint.startswith("sk-ant-admin01-…")
    assert len(client.key_hint) < 25


def test_https_clients_share_one_verifying_context_and_plain_http_loads_no_bundle() -> None:
    import ssl

    from spendscope.upstream.client import tls_context, verify_for

    contexts: list[ssl.SSLContext] = []
    threads = [
        threading.Thread(target=lambda: contexts.append(verify_for("https://api.example")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {id(c) for c in contexts} == {id(tls_context())}  # one context, shared
    assert tls_context().verify_mode == ssl.CERT_REQUIRED
    assert tls_context().check_hostname
    assert tls_context().cert_store_stats()["x509_ca"] > 0
    plain = verify_for("http://127.0.0.1:8080")
    assert plain is not tls_context()
    # never used for plain HTTP; should it be, it verifies and trusts no certificate
    assert plain.verify_mode == ssl.CERT_REQUIRED
    assert plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0
