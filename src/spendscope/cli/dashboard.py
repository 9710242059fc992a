"""The web dashboard and REST API in the foreground, for `serve` and `demo`."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .options import pinned_now

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse


def run_dashboard(
    settings: Settings,
    host: str,
    port: int,
    *,
    scheduled_sync: bool,
    warehouse: Warehouse | None = None,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Build the app and serve it until interrupted (Ctrl-C).

    Once it listens, `serve.json` under the home tells other spendscope commands where it is
    and gives them a local token (see `remote`); the file goes when the server stops."""
    import uvicorn

    from ..web.app import create_app, serve_token
    from .remote import ServerInfo, local_url, new_token, remove_discovery, write_discovery

    token = serve_token(host)
    pinned = pinned_now()
    clock = (lambda: pinned) if pinned is not None else None
    app = create_app(
        settings,
        warehouse=warehouse,
        scheduled_sync=scheduled_sync,
        token=token,
        now=clock,
        client_options=client_options,
        host=host,
    )
    local = ServerInfo(local_url(host, port), os.getpid(), new_token())
    app.state.spendscope.local_token = local.token
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"dashboard: http://{shown}:{port}/", err=True)
    if token:
        click.echo("  sign in with the token in SPENDSCOPE_SERVE_TOKEN", err=True)
    click.echo(f"  API: http://{shown}:{port}/api/docs — stop with Ctrl-C", err=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)

    def ready() -> None:
        try:
            write_discovery(settings, local)
        except OSError as exc:  # the dashboard still works; other commands cannot find it
            click.echo(
                f"warning: could not write {settings.home}/serve.json ({exc.strerror or exc}): "
                "other spendscope commands cannot read the warehouse while this runs",
                err=True,
            )
            return
        click.echo(READY_LINE, err=True)

    server = _server(
        config, on_ready=ready, on_stop=lambda: remove_discovery(settings, local.token)
    )
    try:
        server.run()
    finally:
        remove_discovery(settings, local.token)


# Printed once the server listens and `serve.json` is written: from then on, other commands
# reach the warehouse through this server.
READY_LINE = "  ready: other spendscope commands on this home now go through this server"


def _server(config: Any, on_ready: Callable[[], None], on_stop: Callable[[], None]) -> Any:
    """A uvicorn server that calls `on_ready` once it listens and `on_stop` as it stops (also
    on SIGTERM, after which uvicorn re-raises the signal and no `finally` runs)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                on_ready()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            on_stop()  # first: no command picks a server that is going away
            await super().shutdown(sockets=sockets)

    return Server(config)
