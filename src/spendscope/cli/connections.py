"""`spendscope connections list|test|delete`."""

from __future__ import annotations

import click

from .options import format_options, friendly, home_option, load_settings, now
from .reads import health, serving


@click.group()
def connections() -> None:
    """List, test and delete connections."""


@connections.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted connections.")
@format_options
@home_option
@friendly
def connections_list(include_deleted: bool, fmt: str, home: str | None) -> None:
    """The connections: label, kind, organization, key hint, state, health, last success."""
    from ..connections import ConnectionStore
    from ..output import render
    from ..reporting.connections import connection_rows

    settings = load_settings(home)
    with serving(settings) as server:
        known = health(settings, server)
    listed = connection_rows(ConnectionStore(settings), known, include_deleted)
    rows = [{**r.model_dump(), "key_hint": r.key_hint} for r in listed]
    cols = [
        "label",
        "kind",
        "organization_name",
        "organization_id",
        "key_hint",
        "state",
        "health",
        "last_success",
        "complete_through",
    ]
    click.echo(render(rows, cols, fmt))


@connections.command("test")
@click.argument("label")
@home_option
@friendly
def connections_test(label: str, home: str | None) -> None:
    """Test a connection's key against the API, with the connect-time diagnosis."""
    from ..connections import ConnectionStore
    from ..operations import check_connection

    settings = load_settings(home)
    done = check_connection(settings, ConnectionStore(settings), label, now=now())
    conn, org = done.connection, done.organization
    click.echo(f"ok: {label} reaches {org.name} ({org.id}) with key {conn.key_hint}")


@connections.command("delete")
@click.argument("label")
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the connection's data from the "
    "warehouse (by default it is kept, marked as from a deleted connection).",
)
@home_option
@friendly
def connections_delete(label: str, purge: bool, home: str | None) -> None:
    """Delete a connection: its stored key, and with --purge its record and rows. All of it or
    nothing: the warehouse changes first, the key store last; a busy warehouse stops it before
    anything changes. While `spendscope serve` runs, it goes through the server."""
    from ..connections import ConnectionStore
    from ..money import count
    from ..operations import delete_connection

    settings = load_settings(home)
    with serving(settings) as server:
        if server is not None:
            from .remote import path_of

            done = server.delete(
                "/api/v1/connections/" + path_of(label), {"purge": "true" if purge else "false"}
            )
            removed = int(done["rows_removed"])
        else:
            removed = delete_connection(settings, ConnectionStore(settings), label, purge=purge)
    click.echo(
        f"deleted {label}: key removed"
        + (f", {count(removed)} rows purged" if purge else ", history kept"),
        err=True,
    )
