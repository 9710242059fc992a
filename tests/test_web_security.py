"""The dashboard is safe to leave running: only its own host names are served (DNS rebinding is
refused, over plain HTTP and in Chromium told to resolve an attacker's name to 127.0.0.1), every
response carries the security headers, pages run no inline script, the API docs come from the
installed package, malformed credentials are a 401 (never a 500), and signing out works."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.background import BackgroundServer
from fastapi.testclient import TestClient

from conftest import CHROMIUM, CHROMIUM_ARGS, NOW, Api, connect, make_settings, sync
from spendscope.config import Settings
from spendscope.simulator.server import RunningSimulator
from spendscope.web.app import PAGES, create_app
from spendscope.web.docs import swagger_ui_dir
from spendscope.web.security import allowed_host_names, host_of

LOCAL = "http://127.0.0.1"
EVIL = "rebind.evil.example"
TOKEN = "security-test-token-0123456789"
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory, simulator: RunningSimulator, api: Api
) -> Settings:
    """A small warehouse of its own (one connection, three days): the rebinding tests try to
    purge it, so it must not be the shared one."""
    settings = make_settings(
        tmp_path_factory.mktemp("security"), console_backfill_days=3, enterprise_backfill_days=3
    )
    store = connect(settings, api, simulator.url, which="console")
    assert not [r.error for r in sync(settings, store) if r.error]
    return settings


@pytest.fixture(scope="module")
def served(home: Settings) -> Iterator[str]:
    with BackgroundServer(create_app(home, now=lambda: NOW, host="127.0.0.1")) as url:
        yield url


def rows_of(home: Settings, url: str) -> int:
    conns = httpx.get(f"{url}/api/v1/connections", timeout=10).json()["connections"]
    assert [c["label"] for c in conns] == ["acme-console"]
    return int(conns[0]["rows"])


def assert_security_headers(r: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, (r.request.url, name, r.headers.get(name))
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp, r.request.url
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


# -- the Host allowlist -------------------------------------------------------------------------


def test_allowed_names_follow_the_bind_address_and_the_setting() -> None:
    loopback = {"127.0.0.1", "localhost", "::1"}
    assert allowed_host_names("127.0.0.1") == loopback
    assert allowed_host_names("::1") == loopback
    assert allowed_host_names("0.0.0.0") == loopback  # a wildcard adds nothing implicitly
    assert allowed_host_names("::") == loopback
    assert allowed_host_names("192.168.1.5") == loopback | {"192.168.1.5"}
    assert allowed_host_names("0.0.0.0", ["Spend.Example.com"]) == loopback | {"spend.example.com"}
    assert host_of("127.0.0.1:8000") == "127.0.0.1"
    assert host_of("LOCALHOST") == "localhost"
    assert host_of("[::1]:8000") == "::1"
    assert host_of("rebind.evil.example:8000") == EVIL
    for bad in ("", ":8000", "[::1", "127.0.0.1:80:80", "127.0.0.1:x", "a b", "evil.example@x"):
        assert host_of(bad) is None, bad


def test_allowed_hosts_setting_is_checked(tmp_path: Path) -> None:
    from spendscope.config import load_settings
    from spendscope.errors import ConfigError

    env = {"SPENDSCOPE_ALLOWED_HOSTS": "spend.example.com, 10.0.0.7,[::1]"}
    s = load_settings(home=tmp_path, env=env)
    assert s.allowed_hosts == ("spend.example.com", "10.0.0.7", "::1")
    for bad in ("spend.example.com:8000", "*.example.com", "http://spend.example.com"):
        with pytest.raises(ConfigError, match="allowed_hosts"):
            load_settings(home=tmp_path, env={"SPENDSCOPE_ALLOWED_HOSTS": bad})


def test_a_rebound_host_reads_nothing_and_deletes_nothing(home: Settings, served: str) -> None:
    before = rows_of(home, served)
    assert before > 0
    foreign = {"host": f"{EVIL}:{served.rsplit(':', 1)[1]}"}
    for method, path in [
        ("GET", "/api/v1/connections"),
        ("GET", "/api/v1/explore"),
        ("GET", "/"),
        ("POST", "/api/v1/sync"),
        ("DELETE", "/api/v1/connections/acme-console?purge=true"),
    ]:
        r = httpx.request(method, served + path, headers=foreign, timeout=10)
        assert r.status_code == 400, (method, path, r.text)
        err = r.json()["error"]
        assert err["code"] == "host_not_allowed"
        assert EVIL in err["message"]
        assert "allowed_hosts" in err["hint"]
        assert "acme" not in r.text
        assert_security_headers(r)
    # nothing was deleted, and no sync started
    assert rows_of(home, served) == before
    assert httpx.get(f"{served}/api/v1/sync", timeout=10).json()["started_at"] is None
    # the loopback names, with or without a port, are served
    port = served.rsplit(":", 1)[1]
    for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        r = httpx.get(f"{served}/api/v1/meta", headers={"host": host}, timeout=10)
        assert r.status_code == 200, host


def test_a_request_without_a_host_is_refused(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/v1/connections HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"no Host header" in body
    assert b"acme" not in body


def test_configured_names_are_served_and_others_are_not(home: Settings) -> None:
    settings = home.with_changes(allowed_hosts=("spend.example.com",))
    app = create_app(settings, now=lambda: NOW, host="0.0.0.0")
    with TestClient(app, base_url="http://spend.example.com") as c:
        assert c.get("/api/v1/meta").status_code == 200
        assert c.get("/api/v1/meta", headers={"host": "localhost:8000"}).status_code == 200
        for host in ("other.example.com", "spend.example.com.evil.example", "10.1.2.3"):
            assert c.get("/api/v1/meta", headers={"host": host}).status_code == 400, host


# -- headers on every response ------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(home: Settings) -> None:
    app = create_app(home, now=lambda: NOW, token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url=LOCAL) as c:
        answers = [
            c.get("/", headers=auth),  # a page
            c.get("/login"),  # the sign-in page
            c.get("/api/v1/meta", headers=auth),  # the API
            c.get("/api/v1/openapi.json", headers=auth),
            c.get("/static/app.js"),  # static files
            c.get("/static/vendor/plotly.min.js"),
            c.get("/static/vendor/swagger-ui/swagger-ui-bundle.js"),
            c.get("/api/docs", headers=auth),  # the API docs
            c.get("/explorer", follow_redirects=False),  # a redirect (to sign in)
            c.get("/api/v1/meta"),  # 401
            c.get("/nope", headers=auth),  # 404s
            c.get("/api/v1/nope", headers=auth),
            c.get("/static/nope.js"),
            c.get("/api/v1/explore", params={"limit": 0}, headers=auth),  # 422
            c.get("/api/v1/overview", params={"as_of": "9999-12-31"}, headers=auth),  # 400
            c.post("/logout", follow_redirects=False),  # sign-out's redirect
            c.get("/", headers={"host": EVIL}),  # a refused host
        ]
        statuses = [r.status_code for r in answers]
        assert statuses == [200] * 8 + [303, 401, 404, 404, 404, 422, 400, 303, 400]
        for r in answers:
            assert_security_headers(r)
            if not r.request.url.path.startswith("/static/"):
                assert r.headers["cache-control"] == "no-store", r.request.url


def _pages(c: TestClient) -> dict[str, str]:
    paths = [*PAGES, "/login", "/api/docs"]
    return {p: c.get(p, headers={"authorization": f"Bearer {TOKEN}"}).text for p in paths}


def test_pages_have_no_inline_script_and_load_nothing_from_elsewhere(home: Settings) -> None:
    app = create_app(home, now=lambda: NOW, token=TOKEN)
    with TestClient(app, base_url=LOCAL) as c:
        pages = _pages(c)
        for path, html in pages.items():
            scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
            assert scripts, path
            for attrs, body in scripts:
                assert re.search(r'\bsrc="/', attrs), (path, attrs)
                assert not body.strip(), (path, body[:80])
            assert not re.search(r"\son[a-z]+\s*=", html, re.I), path  # no inline handlers
            assert "javascript:" not in html.lower(), path
            for url in re.findall(r'(?:src|href)="([^"]+)"', html):
                assert url.startswith(("/", "#", "data:")), (path, url)
        # the docs' assets are the installed package's files, byte for byte
        for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
            served = c.get(f"/static/vendor/swagger-ui/{name}").content
            assert served == (swagger_ui_dir() / name).read_bytes()
        assert c.get("/static/vendor/swagger-ui/..%2Fswagger-ui.css").status_code == 404
        init = c.get("/api/docs/init.js", headers={"authorization": f"Bearer {TOKEN}"})
        assert init.headers["content-type"].startswith("text/javascript")
        assert "/api/docs/openapi.json" in init.text
        assert "validatorUrl: null" in init.text


# -- credentials and signing out ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"cookie": "spendscope_session=été".encode()},
        {"cookie": b"spendscope_session=\xff\xfe\x00"},
        {"cookie": "spendscope_session=\u00a0; other=\u00e9".encode("latin-1")},
        {"cookie": 'spendscope_session="unterminated; ;;=='},
        {"authorization": "Bearer été".encode()},
        {"authorization": b"Bearer \xff"},
        {"authorization": "Bearer"},
        {"authorization": "Basic Zm9vOmJhcg=="},
    ],
)
def test_a_malformed_credential_is_401_never_500(home: Settings, headers: dict[str, Any]) -> None:
    app = create_app(home, now=lambda: NOW, token=TOKEN)
    with TestClient(app, base_url=LOCAL) as c:
        r = c.get("/api/v1/meta", headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
        page = c.get("/explorer", headers=headers, follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?next=")


def test_sign_out_clears_the_session(home: Settings) -> None:
    app = create_app(home, now=lambda: NOW, token=TOKEN)
    with TestClient(app, base_url=LOCAL) as c:
        signed = c.post(
            "/login",
            content=f"token={TOKEN}&next=/",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        assert c.get("/api/v1/meta").status_code == 200
        page = c.get("/").text
        assert 'action="/logout"' in page
        assert 'id="sign-out"' in page
        # another site cannot sign the user out
        assert c.post("/logout", headers={"origin": f"http://{EVIL}"}).status_code == 403
        assert c.get("/api/v1/meta").status_code == 200
        out = c.post("/logout", follow_redirects=False)
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
        cleared = out.headers["set-cookie"].lower()
        assert cleared.startswith('spendscope_session=""')
        assert "max-age=0" in cleared
        assert c.get("/api/v1/meta").status_code == 401
    # without a token there is nobody to sign out
    with TestClient(create_app(home, now=lambda: NOW), base_url=LOCAL) as c:
        assert "/logout" not in c.get("/").text


# -- the error envelope -------------------------------------------------------------------------


def test_bad_json_and_connection_tests_use_the_envelope(home: Settings, api: Api) -> None:
    from spendscope.connections import ConnectionStore

    app = create_app(home, now=lambda: NOW)
    with TestClient(app, base_url=LOCAL) as c:
        r = c.post(
            "/api/v1/connections",
            content=b'{"kind": "console", "label": ',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == "invalid_json"
        assert err["message"].startswith("The request body is not valid JSON")
        assert "18" not in err["message"]
        r = c.post(
            "/api/v1/connections",
            json={"kind": "console", "label": "bad-url", "key": "sk-x", "base_url": "not a url"},
        )
        assert r.status_code == 400
        assert "not a url" in r.json()["error"]["message"]
        r = c.post("/api/v1/connections", json={"kind": "console"})
        assert r.status_code == 422
        assert r.json()["error"]["message"].startswith("Invalid label")
        # a key that does not work: 200, ok false, and the error object itself (not nested)
        store = ConnectionStore(home)
        info = {o["name"]: o for o in api.info()["organizations"]}["Acme Platform"]
        store.add(
            "standard-key",
            "console",
            api.key("console", "standard"),
            base_url=api.base_url,
            organization_id=info["id"],
            organization_name=info["name"],
        )
        try:
            t = c.post("/api/v1/connections/standard-key/test")
            assert t.status_code == 200
            body = t.json()
            assert body["ok"] is False
            assert set(body["error"]) == {"code", "message", "hint"}
            assert body["error"]["message"]
            assert api.key("console", "standard") not in t.text
        finally:
            store.remove("standard-key")


# -- in a browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rebinding_browser(playwright_driver: Any) -> Iterator[Any]:
    """Chromium that resolves the attacker's name to 127.0.0.1, as DNS rebinding would."""
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"]
    b = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.mark.timeout(60)
def test_chromium_on_a_rebound_name_gets_the_refusal(
    rebinding_browser: Any, home: Settings, served: str
) -> None:
    before = rows_of(home, served)
    port = served.rsplit(":", 1)[1]
    context = rebinding_browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"http://{EVIL}:{port}/")
        assert response is not None
        assert response.status == 400
        assert "host_not_allowed" in page.content()
        assert page.locator("nav").count() == 0  # no dashboard was served
        # the attacker's page (same origin as the rebound name) tries to read and purge
        results = page.evaluate(
            """async () => {
                const read = await fetch('/api/v1/connections');
                const purge = await fetch('/api/v1/connections/acme-console?purge=true',
                                          {method: 'DELETE'});
                return [read.status, await read.text(), purge.status, await purge.text()];
            }"""
        )
        assert results[0] == 400
        assert results[2] == 400
        assert "acme" not in results[1] + results[3]
    finally:
        context.close()
    assert rows_of(home, served) == before


@pytest.mark.timeout(60)
def test_chromium_refuses_to_frame_the_dashboard(rebinding_browser: Any, served: str) -> None:
    context = rebinding_browser.new_context()
    try:
        page = context.new_page()
        with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
            page.set_content(f'<iframe id="f" src="{served}/connections"></iframe>')
        assert "'none'" in refused.value.text
        child = page.frames[1]
        child.wait_for_load_state()
        assert child.locator("[data-nav]").count() == 0  # nothing of the dashboard rendered
    finally:
        context.close()
