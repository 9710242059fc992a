"""The dashboard's app factory: `create_app(settings)` builds the FastAPI app.

Nothing is created at import time: the warehouse, the connection store and the sync service
belong to the app built by the factory (one per `spendscope serve`, one per test).

Access: bound to loopback, the dashboard is open to the local user. Bound anywhere else it needs
a token (`SPENDSCOPE_SERVE_TOKEN`): API clients send `Authorization: Bearer <token>`, browsers
sign in once at /login and get an HttpOnly session cookie (an HMAC of the token, never the token
itself); POST /logout signs out. Requests that change something must come from the dashboard's
own origin. Every request first passes the Host allowlist, and every response carries the
security headers (see security.py).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import SpendscopeError
from ..refresh import initialize
from .state import SESSION_COOKIE, AppState, is_loopback

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
# route -> (page name: its file in pages/ and its nav entry, title)
PAGES = {
    "/": ("overview", "Overview"),
    "/explorer": ("explorer", "Explorer"),
    "/allocation": ("allocation", "Allocation"),
    "/budgets": ("budgets", "Budgets"),
    "/alerts": ("alerts", "Alerts"),
    "/connections": ("connections", "Connections"),
    "/claude-code": ("claude_code", "Claude Code"),
    "/engagement": ("engagement", "Engagement"),
}


SIGN_OUT = (
    '<form class="sign-out" method="post" action="/logout">'
    '<button type="submit" class="btn btn-small" id="sign-out">Sign out</button></form>'
)


def render_page(name: str, title: str, *, sign_out: bool = False) -> str:
    """A page: the shared layout (head, navigation, the sign-out control when a token is in
    use) around the page's own `<main>`."""
    pages = HERE / "pages"
    layout = (pages / "layout.html").read_text(encoding="utf-8")
    main = (pages / f"{name}.html").read_text(encoding="utf-8").rstrip("\n")
    current = f'data-nav="{name}"'
    return (
        layout.replace("{title}", title)
        .replace("{page}", name)
        .replace(current, f'{current} aria-current="page"')
        .replace("{sign_out}", SIGN_OUT if sign_out else "")
        .replace("{main}", main)
    )


TOKEN_ENV = "SPENDSCOPE_SERVE_TOKEN"


def plotly_js() -> Path:
    """plotly.js as shipped inside the plotly Python package (no CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


class ServerTiming:
    """Adds `Server-Timing: app;dur=<ms>` (time spent in the app) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, timed)


def create_app(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    scheduled_sync: bool = False,
    token: str | None = None,
    now: Callable[[], datetime] | None = None,
    client_options: dict[str, Any] | None = None,
    host: str | None = None,
) -> FastAPI:
    """The dashboard and its REST API over the warehouse of `settings`.

    `scheduled_sync` turns on the refresh every `settings.refresh_hours` (what `serve` does
    unless --no-sync); `token` is required from every client when given; `host` is the address
    the server is bound to (default `settings.serve_host`), which decides the host names the
    dashboard answers to, with `settings.allowed_hosts`."""
    from ..sync.service import SyncService
    from ..warehouse.connection import Warehouse
    from ..watch.alerting import after_sync
    from . import (
        api,
        api_alerts,
        api_allocation,
        api_anomalies,
        api_budgets,
        api_connections,
        api_limits,
        api_watch,
    )
    from .docs import add_docs_routes
    from .errors import envelope, error_body, status_for
    from .models import JSON
    from .security import HostGuard, SecurityHeaders, add_security_headers, allowed_host_names

    wh = warehouse or Warehouse(settings)
    clock = now or (lambda: datetime.now(UTC))
    sync = SyncService(
        settings,
        wh,
        scheduled=scheduled_sync,
        now=clock,
        client_options=client_options,
        after_sync=after_sync(settings, wh, clock),
    )
    state = AppState(settings, wh, sync, token or None, clock)
    bind = settings.serve_host if host is None else host

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        from ..reporting.health import connection_health

        initialize(wh)
        last = [h.get("last_success") for h in connection_health(wh, count_rows=False).values()]
        known = [t for t in last if t is not None]
        sync.start_schedule(min(known) if known and len(known) == len(last) else None)
        try:
            yield
        finally:
            sync.stop()
            if warehouse is None:
                wh.close()

    app = FastAPI(
        title="spendscope",
        version=__version__,
        description="Where the money goes: Anthropic usage, cost, Claude Code and engagement, "
        "from your own warehouse. Money is exact decimal text in US dollars; days are UTC; "
        "`until` is exclusive.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.spendscope = state

    @app.exception_handler(SpendscopeError)
    async def spendscope_error(request: Request, exc: SpendscopeError) -> Response:
        return JSON(error_body(exc), status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return validation_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = {404: "No such page or API path.", 405: "Method not allowed here."}.get(
            exc.status_code, str(exc.detail)
        )
        return JSON(
            envelope(codes.get(exc.status_code, "error"), message, "See /api/docs."),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        # Answered by Starlette's outermost layer, outside the middleware: add the headers here.
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        response = JSON(
            envelope("internal", "Internal error; the details are in the server's log.", None),
            status_code=500,
        )
        response.raw_headers[:] = add_security_headers(response.raw_headers)
        return response

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        open_path = path in ("/login", "/logout") or path.startswith("/static/")
        if not open_path and not signed_in(request):
            if path.startswith("/api/v1/"):
                return JSON(
                    {
                        "error": {
                            "code": "unauthorized",
                            "message": "This dashboard needs a token.",
                            "hint": "Send 'Authorization: Bearer <token>' or sign in at /login.",
                        }
                    },
                    status_code=401,
                )
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return JSON(
                    {
                        "error": {
                            "code": "forbidden",
                            "message": "Cross-site request refused.",
                            "hint": "Use the dashboard itself.",
                        }
                    },
                    status_code=403,
                )
        response: Response = await call_next(request)
        return response

    def signed_in(request: Request) -> bool:
        try:
            peer = request.client.host if request.client else None
            return state.authorized(dict(request.headers), request.cookies, peer)
        except (TypeError, ValueError, UnicodeError):  # a malformed header is no credential
            return False

    app.include_router(api.router)
    app.include_router(api_connections.router)
    app.include_router(api_allocation.router)
    app.include_router(api_watch.router)
    app.include_router(api_budgets.router)
    app.include_router(api_anomalies.router)
    app.include_router(api_alerts.router)
    app.include_router(api_limits.router)
    add_docs_routes(app, not_found)

    def page(html: str) -> Callable[[], Response]:
        def serve_page() -> Response:
            return HTMLResponse(html)

        return serve_page

    for route, (name, title) in PAGES.items():
        html = render_page(name, title, sign_out=bool(state.token))
        app.add_api_route(route, page(html), methods=["GET"], include_in_schema=False)

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        if not state.token:
            return RedirectResponse("/", status_code=303)
        return HTMLResponse((HERE / "pages" / "login.html").read_text(encoding="utf-8"))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        nxt = (form.get("next") or ["/"])[0]
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if not state.token:
            return RedirectResponse(nxt, status_code=303)
        if not hmac.compare_digest(given.encode(), state.token.encode()):
            return RedirectResponse(f"/login?error=1&next={quote(nxt)}", status_code=303)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            state.session_value(),
            httponly=True,
            samesite="strict",
            max_age=30 * 24 * 3600,
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login" if state.token else "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> Response:
        return FileResponse(
            plotly_js(),
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=86400"},
        )

    @app.get("/static/{name:path}", include_in_schema=False)
    def static(name: str) -> Response:
        base = (HERE / "static").resolve()
        target = (base / name).resolve()
        if base not in target.parents or not target.is_file():
            return not_found()
        # module scripts are refused unless served as JavaScript: never trust the OS's MIME table
        js = "text/javascript" if target.suffix == ".js" else None
        return FileResponse(target, media_type=js, headers={"cache-control": "no-cache"})

    app.add_middleware(HostGuard, allowed=allowed_host_names(bind, settings.allowed_hosts))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)
    return app


def not_found() -> Response:
    from .errors import envelope
    from .models import JSON

    return JSON(envelope("not_found", "No such file."), status_code=404)


def validation_error(exc: RequestValidationError) -> Response:
    """422 (or 400 for a body that is not JSON) with the envelope and a readable message."""
    from .errors import envelope
    from .models import JSON

    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        error = first.get("ctx", {}).get("error", "")
        detail = f" ({error})" if error else ""
        return JSON(
            envelope(
                "invalid_json",
                f"The request body is not valid JSON{detail}.",
                "Send a JSON object with Content-Type: application/json; see /api/docs.",
            ),
            status_code=400,
        )
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path", "header")]
    where = ".".join(loc)
    message = f"Invalid {where or 'request'}: {first.get('msg', 'bad value')}."
    return JSON(envelope("invalid", message, "See /api/docs."), status_code=422)


def serve_token(host: str) -> str | None:
    """The token `serve` requires: none on loopback, `SPENDSCOPE_SERVE_TOKEN` elsewhere."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if is_loopback(host):
        return token or None
    if len(token) < 16:
        from ..errors import ConfigError

        raise ConfigError(
            f"Binding to {host} exposes the dashboard beyond this machine, so it needs a token.",
            f"Set {TOKEN_ENV} to a secret of at least 16 characters (e.g. `openssl rand -hex 24`)"
            " and give it to the people who may use the dashboard.",
        )
    return token
