"""`spendscope serve`: the web dashboard and REST API, with the scheduled refresh."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from .cli import _parse_now, main
from .cli_data import _settings, friendly, home_option

if TYPE_CHECKING:
    from .config import Settings
    from .warehouse.store import Warehouse


def run_dashboard(
    settings: Settings,
    host: str,
    port: int,
    *,
    scheduled_sync: bool,
    warehouse: Warehouse | None = None,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Build the app and serve it until interrupted (Ctrl-C)."""
    import uvicorn

    from .web.app import create_app, serve_token

    token = serve_token(host)
    pinned = _parse_now(os.environ.get("SPENDSCOPE_NOW"))
    clock = (lambda: pinned) if pinned is not None else None
    app = create_app(
        settings,
        warehouse=warehouse,
        scheduled_sync=scheduled_sync,
        token=token,
        now=clock,
        client_options=client_options,
    )
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"dashboard: http://{shown}:{port}/", err=True)
    if token:
        click.echo("  sign in with the token in SPENDSCOPE_SERVE_TOKEN", err=True)
    click.echo(f"  API: http://{shown}:{port}/api/docs — stop with Ctrl-C", err=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()


@main.command()
@click.option("--host", default=None, help="Address to bind (default: serve_host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: serve_port, 8000).")
@click.option("--no-sync", is_flag=True, help="Do not sync every refresh_hours (6) while serving.")
@home_option
@friendly
def serve(host: str | None, port: int | None, no_sync: bool, home: str | None) -> None:
    """The web dashboard and REST API (/api/v1, docs at /api/docs). Binds to 127.0.0.1; any
    other address needs SPENDSCOPE_SERVE_TOKEN. Syncs every connection every refresh_hours."""
    import socket

    from .warehouse.store import Warehouse
    from .web.app import serve_token

    settings = _settings(home)
    host = host or settings.serve_host
    port = settings.serve_port if port is None else port
    serve_token(host)  # refuse early when a token is needed and missing
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (try --port)"
            ) from None
    wh = Warehouse(settings)
    wh.initialize()  # fails here, clearly, if another process holds the warehouse
    try:
        run_dashboard(settings, host, port, scheduled_sync=not no_sync, warehouse=wh)
    finally:
        wh.close()
