"""What keeps the dashboard safe to leave running: the Host allowlist and the security headers.

Both are plain ASGI middleware, so they run before any handler, on every response, whatever
produced it (pages, API, static files, errors, redirects, 404s).

**Host allowlist.** A page on another site can point its own host name at 127.0.0.1 (DNS
rebinding) and then read the dashboard as if it were its own origin; the browser still sends
that foreign name in `Host`. So a request is served only when its `Host` names this dashboard:

- a loopback name (`127.0.0.1`, `localhost`, `[::1]`), with any port: only this machine reaches
  the dashboard by those names, and no other site can make a browser send them;
- the address `serve` was bound to, when it is one address (not `0.0.0.0` / `::`);
- the names listed in the `allowed_hosts` setting (`SPENDSCOPE_ALLOWED_HOSTS`), for a dashboard
  reached by a DNS name or behind a reverse proxy.

Anything else (a missing, repeated or malformed `Host` too) gets 400 with the error envelope,
before authentication and before any data is read.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import host_name

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::")

# Scripts, styles, images and fetches come from the dashboard itself. plotly.js sets style
# attributes and adds <style> rules as it draws, hence 'unsafe-inline' for styles (never for
# scripts); images may be data: URIs (icons, chart downloads).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


def allowed_host_names(bind_host: str, configured: Iterable[str] = ()) -> frozenset[str]:
    """The host names the dashboard answers to when bound to `bind_host` (see the module)."""
    names = set(LOOPBACK_NAMES) | {h for h in (host_name(c) for c in configured) if h}
    bound = host_name(bind_host)
    if bound and bound not in WILDCARD_BINDS:  # one address, not "every address"
        names.add(bound)
    return frozenset(names)


def host_of(header: str) -> str | None:
    """The host name of a `Host` header (`name`, `name:port`, `[v6]`, `[v6]:port`), or None if
    the header is malformed."""
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return None
        name, rest = header[: end + 1], header[end + 1 :]
    else:
        name, colon, port = header.partition(":")
        rest = colon + port
    if rest and not (rest[0] == ":" and rest[1:].isdigit() and len(rest) <= 6):
        return None
    return host_name(name) if name else None


def _shown(value: str) -> str:
    """A header value safe to quote back: printable ASCII, at most 80 characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in value)
    return text if len(text) <= 80 else text[:77] + "..."


class HostGuard:
    """Refuses (400, error envelope) every request whose `Host` is not an allowed name."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
        if len(given) == 1 and host_of(given[0]) in self.allowed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if not given:
            message = "The request has no Host header."
        elif len(given) > 1:
            message = "The request has more than one Host header."
        else:
            message = f"This dashboard does not answer to the host name '{_shown(given[0])}'."
        body = orjson.dumps(
            {
                "error": {
                    "code": "host_not_allowed",
                    "message": message,
                    "hint": "Open the dashboard by a loopback name (http://127.0.0.1:<port>/) or "
                    "by a name listed in the allowed_hosts setting (SPENDSCOPE_ALLOWED_HOSTS).",
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Adds the security headers to every response, and `Cache-Control: no-store` to every
    response but static files (which set their own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = add_security_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, with_headers)


def add_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the security headers set (replacing any earlier value) and a default
    `Cache-Control: no-store`."""
    names = {name for name, _ in SECURITY_HEADERS}
    out = [(k, v) for k, v in headers if k.lower() not in names]
    out.extend(SECURITY_HEADERS)
    if not any(k.lower() == b"cache-control" for k, _ in out):
        out.append((b"cache-control", b"no-store"))
    return out
