"""The simulator's HTTP server: routing, authentication, errors, rate limits and faults.

A real HTTP/1.1 server on loopback (standard library `ThreadingHTTPServer`), so the client is
exercised exactly as against api.anthropic.com: headers, status codes, dropped connections and
truncated bodies included. Each endpoint family declares its routes in its own table (see
`routing.py`); `ROUTES` is all of them, in a fixed order.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from . import (
    admin,
    analytics,
    claude_code,
    console_reports,
    engagement,
    legacy,
    spend_limit_requests,
    spend_limits,
)
from .params import ApiError, Params, parse_datetime
from .routing import BETA_ANALYTICS, Auth, Request, Route
from .state import SimConfig, Simulator
from .truth import truth
from .world import ENTERPRISE, Credential

ROUTES: tuple[Route, ...] = tuple(
    r
    for family in (
        admin,
        analytics,
        claude_code,
        console_reports,
        engagement,
        legacy,
        spend_limits,
        spend_limit_requests,
    )
    for r in family.routes.routes
)


def _missing_scope(cred: Credential, needed: str) -> ApiError:
    return ApiError(
        403,
        "permission_error",
        f"Missing required scopes. Got: {list(cred.scopes)} Needed one of: ['{needed}']",
        "api_key_scope_missing",
    )


def authenticate(req: Request, rt: Route) -> None:
    """Resolve the credential and organization, or raise the documented error."""
    cfg = req.sim.config
    key = req.headers.get("x-api-key")
    if not key:
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    if not key:
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    cred = req.sim.world.credential(key)
    if cred is None:
        raise ApiError(401, "authentication_error", "invalid x-api-key")
    if cred.revoked:
        raise ApiError(401, "authentication_error", "This API key has been revoked or disabled.")
    if cred.kind == "standard":
        if cfg.standard_key_status == 403:
            raise ApiError(
                403,
                "permission_error",
                "Standard API keys cannot access the Admin API; use an Admin API key.",
            )
        raise ApiError(
            401,
            "authentication_error",
            "invalid x-api-key: standard API keys are not accepted by this endpoint",
        )
    org = req.sim.world.org(cred.org_id)
    req.credential, req.org = cred, org
    admin = cred.kind in ("admin", "oauth")
    analytics_path = rt.auth in (Auth.ANALYTICS_B, Auth.ANALYTICS_ENTERPRISE)

    if rt.auth is Auth.CONSOLE_ADMIN:
        if not admin:
            if cfg.enterprise_key_on_admin_status == 400:
                raise ApiError(
                    400,
                    "invalid_request_error",
                    "This endpoint does not support the organization's type.",
                    "organization_type_not_supported",
                )
            raise ApiError(
                403,
                "permission_error",
                "An Analytics API key cannot call the Admin API; use an Admin API key "
                "of a Claude Console organization.",
            )
    elif rt.auth is Auth.ORG_MEMBERS:
        if not admin and rt.scope and rt.scope not in cred.scopes:
            raise _missing_scope(cred, rt.scope)
    elif rt.auth is Auth.OAUTH_ONLY:
        if cred.kind != "oauth":
            raise ApiError(
                403,
                "permission_error",
                "Admin API keys are not accepted by this endpoint; use an OAuth access "
                "token with the org:admin scope.",
            )
    elif rt.auth is Auth.ENTERPRISE_GROUPS:
        if org.kind != ENTERPRISE:
            raise ApiError(
                400,
                "invalid_request_error",
                "RBAC groups are available to Claude Enterprise organizations only.",
                "organization_type_not_supported",
            )
        if rt.scope and rt.scope not in cred.scopes:
            raise _missing_scope(cred, rt.scope)
    elif rt.auth is Auth.SPEND_LIMITS:
        spend_limits.authorize(req, rt)
    elif rt.auth is Auth.ANALYTICS_ENTERPRISE and (org.kind != ENTERPRISE or admin):
        raise ApiError(
            400,
            "invalid_request_error",
            "The analytics API requires an enterprise plan",
            "organization_type_not_supported",
        )
    if analytics_path:
        if org.kind == ENTERPRISE and not org.analytics_enabled:
            status = cfg.analytics_disabled_status
            raise ApiError(
                status,
                "not_found_error" if status == 404 else "permission_error",
                "Not found"
                if status == 404
                else "Analytics API access is not enabled for this organization.",
            )
        if not admin and "read:analytics" not in cred.scopes:
            raise _missing_scope(cred, "read:analytics")


def _error_body(err: ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": err.type, "message": err.message}
    if err.error_code:
        body["details"] = {"error_code": err.error_code}
    return {"type": "error", "error": body, "request_id": request_id}


def _request_id() -> str:
    return "req_011C" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")[:20]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every small response on loopback.
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing -----------------------------------------------------------------------------
    def _send(
        self, status: int, body: Any, headers: dict[str, str] | None = None, truncate: bool = False
    ) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if truncate:
            self.wfile.write(payload[: max(1, len(payload) // 2)])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)

    def do_GET(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def do_DELETE(self) -> None:
        self._guarded("DELETE")

    def _guarded(self, method: str) -> None:
        # A client that gave up (timeout) closes its end: nothing to answer, nothing to log.
        try:
            self._dispatch(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        if path.startswith("/_simulator"):
            self._control(
                method, path, Params(parse_qsl(url.query, keep_blank_values=True)), raw_body
            )
            return
        request_id = _request_id()
        base_headers = {"request-id": request_id}
        if sim.config.latency_ms:
            time.sleep(sim.config.latency_ms / 1000)
        fault = sim.pick_fault(path)
        if fault == "drop":
            sim.count(path, 0, fault)
            self._drop()
            return
        if fault == "slow":
            time.sleep(sim.config.slow_ms / 1000)
        if fault in ("500", "529"):
            err = (
                ApiError(500, "api_error", "Internal server error")
                if fault == "500"
                else ApiError(529, "overloaded_error", "Overloaded")
            )
            sim.count(path, err.status, fault)
            self._send(
                err.status, _error_body(err, request_id), {**base_headers, "x-should-retry": "true"}
            )
            return
        status, body, extra = self._api(method, path, url.query, headers, request_id, raw_body)
        if fault == "malformed" and status == 200:
            payload = b'{"data": [{"starting_at": "2026-'
            sim.count(path, status, fault)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", request_id)
            self.end_headers()
            self.wfile.write(payload)
            return
        sim.count(path, status, fault if fault in ("slow", "truncate") else None)
        self._send(status, body, {**base_headers, **extra}, truncate=(fault == "truncate"))

    def _api(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        request_id: str,
        raw_body: bytes = b"",
    ) -> tuple[int, Any, dict[str, str]]:
        sim = self.server.sim
        req = Request(sim, method, path, Params(parse_qsl(query, keep_blank_values=True)), headers)
        req.body = raw_body
        try:
            rt = None
            known = False  # the path exists for another method
            for candidate in ROUTES:
                m = candidate.pattern.match(path)
                if m and candidate.method != method:
                    known = True
                elif m:
                    rt = candidate
                    req.match = m.groupdict()
                    break
            if rt is None and known:
                raise ApiError(405, "invalid_request_error", f"Method {method} not allowed")
            if rt is None:
                raise ApiError(404, "not_found_error", f"Not found: {path}")
            if sim.config.require_version_header and "anthropic-version" not in headers:
                raise ApiError(
                    400, "invalid_request_error", "anthropic-version: header is required"
                )
            authenticate(req, rt)
            org = req.organization
            analytics = rt.auth in (Auth.ANALYTICS_B, Auth.ANALYTICS_ENTERPRISE)
            rpm = sim.config.rpm if analytics else sim.config.admin_rpm
            bucket = "analytics:" if analytics else "admin:"
            if rt.auth is Auth.SPEND_LIMITS:  # its own 60 per minute per organization
                rpm, bucket = sim.config.spend_limits_rpm, "spend_limits:"
            wait = sim.limiter.check(bucket + org.id, rpm, sim.config.rate_window_seconds)
            if wait is not None:
                raise ApiError(
                    429,
                    "rate_limit_error",
                    f"Number of requests has exceeded your rate limit ({rpm} per "
                    f"{sim.config.rate_window_seconds:g} seconds). "
                    "Please try again later.",
                    headers={
                        "retry-after": str(max(1, round(wait + 0.5))),
                        "x-should-retry": "true",
                    },
                )
            if (
                rt.auth is Auth.ANALYTICS_B
                and sim.config.require_beta_header
                and BETA_ANALYTICS not in req.betas
            ):
                raise ApiError(
                    400,
                    "invalid_request_error",
                    f"This endpoint requires the beta header 'anthropic-beta: {BETA_ANALYTICS}'",
                )
            body = rt.handler(req)
            return 200, body, {"anthropic-organization-id": org.id}
        except ApiError as err:
            extra = dict(err.headers)
            if err.status == 400:
                extra.setdefault("x-should-retry", "false")
            return err.status, _error_body(err, request_id), extra
        except Exception:  # a bug in a handler must still answer, as the real API would
            self.server.log_exception(path)
            internal = ApiError(500, "api_error", "Internal server error")
            return 500, _error_body(internal, request_id), {"x-should-retry": "true"}

    # -- control plane ------------------------------------------------------------------------
    def _control(self, method: str, path: str, params: Params, raw: bytes) -> None:
        sim = self.server.sim
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            self._send(400, {"error": "body must be JSON"})
            return
        try:
            if path == "/_simulator/info" and method == "GET":
                self._send(200, sim.info())
            elif path == "/_simulator/truth" and method == "GET":
                self._send(200, truth(sim, params))
            elif path == "/_simulator/stats" and method == "GET":
                self._send(200, sim.stats.to_json())
            elif path == "/_simulator/stats/reset" and method == "POST":
                sim.reset_stats()
                sim.limiter.reset()
                self._send(200, {"ok": True})
            elif path == "/_simulator/clock" and method == "POST":
                if "now" in data:
                    sim.clock.set(parse_datetime(str(data["now"]), "now"))
                else:
                    delta = timedelta(
                        days=float(data.get("days", 0)),
                        hours=float(data.get("hours", 0)),
                        minutes=float(data.get("minutes", 0)),
                        seconds=float(data.get("seconds", 0)),
                    )
                    if delta < timedelta(0):
                        raise ValueError("the clock only moves forward")
                    sim.clock.advance(delta)
                self._send(200, {"now": sim.now().isoformat().replace("+00:00", "Z")})
            elif path == "/_simulator/config" and method == "POST":
                sim.config.update(data)
                self._send(200, sim.config.to_json())
            elif path == "/_simulator/config" and method == "GET":
                self._send(200, sim.config.to_json())
            elif path == "/_simulator/faults" and method == "POST":
                kind = str(data.get("kind", "500"))
                if kind not in ("500", "529", "slow", "drop", "truncate", "malformed"):
                    raise ValueError(f"unknown fault kind: {kind}")
                for _ in range(int(data.get("count", 1))):
                    sim.scheduled_faults.append((str(data.get("path", "/")), kind))
                self._send(200, {"scheduled": len(sim.scheduled_faults)})
            elif path.startswith("/_simulator/injections"):
                self._send(*sim.injections_control(method, path, data))
            else:
                self._send(404, {"error": f"no control endpoint {method} {path}"})
        except (ValueError, TypeError, KeyError) as exc:
            self._send(400, {"error": str(exc)})
        except ApiError as exc:
            self._send(400, {"error": exc.message})


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator, verbose: bool = False) -> None:
        super().__init__(address, _Handler)
        self.sim = sim
        self.verbose = verbose

    def log_exception(self, path: str) -> None:
        logging.getLogger("spendscope.simulator").exception("handler failed on %s", path)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def make_server(
    config: SimConfig,
    host: str = "127.0.0.1",
    port: int = 8765,
    now: Any = None,
    verbose: bool = False,
    history_days: int = 400,
    warm: bool = False,
) -> SimulatorHTTPServer:
    """Build (not start) a simulator server. `warm` pre-generates the history in a background
    thread so the first queries don't pay for it; start-up itself stays instant."""
    sim = Simulator(config, now=now, history_days=history_days)
    server = SimulatorHTTPServer((host, port), sim, verbose=verbose)
    if warm:
        threading.Thread(target=sim.warm, daemon=True, name="simulator-warm").start()
    return server


SHUTDOWN_POLL_SECONDS = 0.02


class RunningSimulator:
    """A simulator serving on a background thread (for tests, the demo and benchmarks)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        now: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        warm: bool = False,
    ) -> None:
        self.server = make_server(config or SimConfig(), host, port, now, warm=warm)
        # Polled often so that leaving the `with` block returns at once (the default half
        # second is paid by every test that starts a simulator of its own).
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            daemon=True,
            name="spendscope-simulator",
        )

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def sim(self) -> Simulator:
        return self.server.sim

    def __enter__(self) -> RunningSimulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
