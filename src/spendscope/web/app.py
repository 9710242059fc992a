"""The dashboard's app factory: `create_app(settings)` builds the FastAPI app.

Nothing is created at import time: the warehouse, the connection store and the sync service
belong to the app built by the factory (one per `spendscope serve`, one per test).

Access: bound to loopback, the dashboard is open to the local user. Bound anywhere else it needs
a token (`SPENDSCOPE_SERVE_TOKEN`): API clients send `Authorization: Bearer <token>`, browsers
sign in once at /login and get an HttpOnly session cookie (an HMAC of the token, never the token
itself). Requests that change something must come from the dashboard's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import SpendscopeError

if TYPE_CHECKING:
    from ..config import Settings
    from ..connections import ConnectionStore
    from ..warehouse.store import Warehouse
    from .sync_service import SyncService

HERE = Path(__file__).parent
# route -> (page name: its file in pages/ and its nav entry, title)
PAGES = {
    "/": ("overview", "Overview"),
    "/explorer": ("explorer", "Explorer"),
    "/connections": ("connections", "Connections"),
    "/claude-code": ("claude_code", "Claude Code"),
    "/engagement": ("engagement", "Engagement"),
}


def render_page(name: str, title: str) -> str:
    """A page: the shared layout (head, navigation) around the page's own `<main>`."""
    pages = HERE / "pages"
    layout = (pages / "layout.html").read_text(encoding="utf-8")
    main = (pages / f"{name}.html").read_text(encoding="utf-8").rstrip("\n")
    current = f'data-nav="{name}"'
    return (
        layout.replace("{title}", title)
        .replace("{page}", name)
        .replace(current, f'{current} aria-current="page"')
        .replace("{main}", main)
    )


SESSION_COOKIE = "spendscope_session"
TOKEN_ENV = "SPENDSCOPE_SERVE_TOKEN"


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plotly_js() -> Path:
    """plotly.js as shipped inside the plotly Python package (no CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@dataclass
class AppState:
    settings: Settings
    warehouse: Warehouse
    sync: SyncService
    token: str | None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.now().astimezone(UTC).date()

    def store(self) -> ConnectionStore:
        from ..connections import ConnectionStore

        return ConnectionStore(self.settings)

    def session_value(self) -> str:
        assert self.token
        return hmac.new(self.token.encode(), b"spendscope-session", hashlib.sha256).hexdigest()

    def authorized(self, headers: dict[str, str], cookies: dict[str, str]) -> bool:
        if not self.token:
            return True
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
            auth[7:].strip().encode(), self.token.encode()
        ):
            return True
        cookie = cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session_value())


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


def _status_for(exc: SpendscopeError) -> int:
    from ..connections import ConnectionStoreError
    from ..errors import ConfigError, KeyCheckFailed, UpstreamError, WarehouseError

    if isinstance(exc, ConnectionStoreError) and "unknown connection" in exc.message:
        return 404
    if isinstance(exc, ConnectionStoreError) and "already exists" in exc.message:
        return 409
    if isinstance(exc, ConfigError | KeyCheckFailed | ConnectionStoreError):
        return 400
    if isinstance(exc, UpstreamError):
        return 502
    if isinstance(exc, WarehouseError):
        return 503
    return 400


def create_app(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    scheduled_sync: bool = False,
    token: str | None = None,
    now: Callable[[], datetime] | None = None,
    client_options: dict[str, Any] | None = None,
) -> FastAPI:
    """The dashboard and its REST API over the warehouse of `settings`.

    `scheduled_sync` turns on the refresh every `settings.refresh_hours` (what `serve` does
    unless --no-sync); `token` is required from every client when given."""
    from ..warehouse.store import Warehouse
    from .api import JSON, error_body, router
    from .sync_service import SyncService

    wh = warehouse or Warehouse(settings)
    clock = now or (lambda: datetime.now(UTC))
    sync = SyncService(
        settings, wh, scheduled=scheduled_sync, now=clock, client_options=client_options
    )
    state = AppState(settings, wh, sync, token or None, clock)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        from ..analytics.health import connection_health

        wh.initialize()
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
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.spendscope = state

    @app.exception_handler(SpendscopeError)
    async def spendscope_error(request: Request, exc: SpendscopeError) -> Response:
        return JSON(error_body(exc), status_code=_status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        message = f"Invalid {where or 'request'}: {first.get('msg', 'bad value')}."
        return JSON(
            {"error": {"code": "invalid", "message": message, "hint": "See /api/docs."}},
            status_code=422,
        )

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        open_path = path == "/login" or path.startswith("/static/")
        if not open_path and not state.authorized(dict(request.headers), request.cookies):
            if path.startswith("/api/"):
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
        if not path.startswith("/static/"):
            response.headers.setdefault("cache-control", "no-store")
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "same-origin")
        return response

    app.include_router(router)

    def page(html: str) -> Callable[[], Response]:
        def serve_page() -> Response:
            return HTMLResponse(html)

        return serve_page

    for route, (name, title) in PAGES.items():
        app.add_api_route(
            route, page(render_page(name, title)), methods=["GET"], include_in_schema=False
        )

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
            return JSON(
                {"error": {"code": "not_found", "message": "No such file.", "hint": None}},
                status_code=404,
            )
        return FileResponse(target, headers={"cache-control": "no-cache"})

    app.add_middleware(ServerTiming)
    return app


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
