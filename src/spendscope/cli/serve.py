"""`spendscope serve`: the web dashboard and REST API, with the scheduled refresh."""

from __future__ import annotations

import socket

import click

from .dashboard import run_dashboard
from .options import friendly, home_option, load_settings


@click.command()
@click.option("--host", default=None, help="Address to bind (default: serve_host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: serve_port, 8000).")
@click.option("--no-sync", is_flag=True, help="Do not sync every refresh_hours (6) while serving.")
@home_option
@friendly
def serve(host: str | None, port: int | None, no_sync: bool, home: str | None) -> None:
    """The web dashboard and REST API (/api/v1, docs at /api/docs). Binds to 127.0.0.1; any
    other address needs SPENDSCOPE_SERVE_TOKEN. Syncs every connection every refresh_hours.
    While it runs, `status`, `report`, `forecast`, `connections list`, `connections delete`,
    and the `allocation` and `budgets` commands go through it."""
    from ..warehouse.connection import Warehouse
    from ..web.app import serve_token

    settings = load_settings(home)
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
    from ..refresh import initialize

    initialize(wh)  # fails here, clearly, if another process holds the warehouse
    try:
        run_dashboard(settings, host, port, scheduled_sync=not no_sync, warehouse=wh)
    finally:
        wh.close()
