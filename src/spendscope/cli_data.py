"""CLI commands over connections and the warehouse: connect, connections, sync, status, report.

Each command parses, calls one library function, and renders. Data goes to stdout, progress and
logs to stderr; errors are one line on stderr (`error: …`, then what to do) and a non-zero exit.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click

from .cli import _parse_now, main

F = TypeVar("F", bound=Callable[..., Any])


def home_option(fn: F) -> F:
    return click.option(
        "--home",
        type=click.Path(file_okay=False),
        default=None,
        envvar="SPENDSCOPE_HOME",
        help="Where spendscope keeps its warehouse, keys and settings "
        "(default: $SPENDSCOPE_HOME, else the user data directory).",
    )(fn)


def format_options(fn: F) -> F:
    fn = click.option("--csv", "fmt", flag_value="csv", help="Output CSV.")(fn)
    fn = click.option("--json", "fmt", flag_value="json", help="Output JSON.")(fn)
    return click.option(
        "--table",
        "fmt",
        flag_value="table",
        default=True,
        help="Output an aligned table (default).",
    )(fn)


def friendly(fn: F) -> F:
    """Turn spendscope's errors into one clear line and exit 1 (no stack trace)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .errors import SpendscopeError

        try:
            return fn(*args, **kwargs)
        except SpendscopeError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  {exc.hint}", err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(
                f"error: {exc.strerror or exc}"
                + (f": {exc.filename}" if getattr(exc, "filename", None) else ""),
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _settings(home: str | None) -> Any:
    from .config import load_settings

    return load_settings(home=home)


def _now() -> datetime:
    """The clock; SPENDSCOPE_NOW pins it (to sync against a simulator with a frozen clock)."""
    return _parse_now(os.environ.get("SPENDSCOPE_NOW")) or datetime.now(UTC)


def _read_key(key: str | None) -> str:
    from .errors import ConfigError

    if key == "-":
        key = sys.stdin.readline().strip()
    elif key is None:
        key = os.environ.get("SPENDSCOPE_KEY")
        if not key and sys.stdin.isatty():
            key = click.prompt("API key", hide_input=True)
    if not key:
        raise ConfigError(
            "No key given.", "Pass --key - and the key on stdin, or set SPENDSCOPE_KEY."
        )
    return key.strip()


# -- connect ----------------------------------------------------------------------------------


@main.group()
def connect() -> None:
    """Connect an Anthropic organization (the key is tested before it is saved)."""


def _connect(
    kind: str, label: str, key: str | None, base_url: str | None, home: str | None, api: str | None
) -> None:
    from .connections import ConnectionStore
    from .operations import connect as do_connect

    settings = _settings(home)
    store = ConnectionStore(settings)
    store.ensure_label_free(label)  # before asking for the key
    secret = _read_key(key)
    done = do_connect(settings, store, kind, label, secret, base_url=base_url, api=api, now=_now())
    conn, org = done.connection, done.organization
    click.echo(
        f"connected {conn.label}: {kind} organization {org.name} ({org.id}), key {conn.key_hint}",
        err=True,
    )
    click.echo("next: spendscope sync", err=True)


_API_CHOICE = click.Choice(["auto", "analytics", "legacy"])


def _connect_options(key_help: str) -> Callable[[F], F]:
    """The options both `connect` commands take."""

    def deco(fn: F) -> F:
        fn = friendly(fn)
        fn = home_option(fn)
        fn = click.option(
            "--api",
            type=_API_CHOICE,
            default=None,
            help="Which cost/usage endpoints to use (default: the api_mode setting).",
        )(fn)
        fn = click.option(
            "--base-url", default=None, help="API base URL (default https://api.anthropic.com)."
        )(fn)
        fn = click.option("--key", default=None, help=key_help)(fn)
        return click.option(
            "--label", required=True, help="A stable slug naming this organization."
        )(fn)

    return deco


@connect.command("console")
@_connect_options(
    "Admin API key (sk-ant-admin01-…); '-' reads it from stdin; default: $SPENDSCOPE_KEY."
)
def connect_console(
    label: str, key: str | None, base_url: str | None, api: str | None, home: str | None
) -> None:
    """Connect a Claude Console organization with an Admin API key."""
    _connect("console", label, key, base_url, home, api)


@connect.command("enterprise")
@_connect_options(
    "Analytics key (sk-ant-api01-…, scope read:analytics); '-' reads it from "
    "stdin; default: $SPENDSCOPE_KEY."
)
def connect_enterprise(
    label: str, key: str | None, base_url: str | None, api: str | None, home: str | None
) -> None:
    """Connect a Claude Enterprise organization with an analytics key."""
    _connect("enterprise", label, key, base_url, home, api)


# -- connections ------------------------------------------------------------------------------


@main.group()
def connections() -> None:
    """List, test and delete connections."""


def _health(settings: Any) -> dict[str, dict[str, Any]]:
    """Per connection: last successful sync, data complete through, state of the last run."""
    if not settings.warehouse_path.exists():
        return {}
    from .analytics.health import connection_health
    from .warehouse.store import Warehouse

    wh = Warehouse(settings)
    try:
        return connection_health(wh)
    finally:
        wh.close()


@connections.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted connections.")
@format_options
@home_option
@friendly
def connections_list(include_deleted: bool, fmt: str, home: str | None) -> None:
    """The connections: label, kind, organization, key hint, state, last sync."""
    from .connections import ConnectionStore
    from .output import render

    settings = _settings(home)
    health = _health(settings)
    rows = []
    for c in ConnectionStore(settings).list(include_deleted=include_deleted):
        h = health.get(c.label, {})
        rows.append(
            {
                "label": c.label,
                "kind": c.kind,
                "organization": c.organization_name,
                "organization_id": c.organization_id,
                "key": c.key_hint,
                "state": h.get("state", c.state),
                "last_sync": h.get("last_success"),
                "complete_through": h.get("complete_through"),
            }
        )
    cols = [
        "label",
        "kind",
        "organization",
        "organization_id",
        "key",
        "state",
        "last_sync",
        "complete_through",
    ]
    click.echo(render(rows, cols, fmt))


@connections.command("test")
@click.argument("label")
@home_option
@friendly
def connections_test(label: str, home: str | None) -> None:
    """Test a connection's key against the API, with the connect-time diagnosis."""
    from .connections import ConnectionStore
    from .operations import check_connection

    settings = _settings(home)
    done = check_connection(settings, ConnectionStore(settings), label, now=_now())
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
    """Delete a connection: its stored key goes at once; its history stays unless --purge."""
    from .connections import ConnectionStore
    from .operations import delete_connection

    settings = _settings(home)
    removed = delete_connection(settings, ConnectionStore(settings), label, purge=purge)
    click.echo(
        f"deleted {label}: key removed"
        + (f", {removed:,} rows purged" if purge else ", history kept"),
        err=True,
    )


# -- sync ---------------------------------------------------------------------------------------


def _date(ctx: Any, param: Any, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None


@main.command()
@click.option("--connection", "labels", multiple=True, help="Only this connection (repeatable).")
@click.option("--since", callback=_date, help="First day to fetch (YYYY-MM-DD).")
@click.option("--until", callback=_date, help="Day to stop before (YYYY-MM-DD, exclusive).")
@click.option("--full", is_flag=True, help="Re-fetch the whole backfill period.")
@format_options
@home_option
@friendly
def sync(
    labels: tuple[str, ...],
    since: date | None,
    until: date | None,
    full: bool,
    fmt: str,
    home: str | None,
) -> None:
    """One sync pass: backfill new connections, fetch new data, re-read the reconciliation
    window (for cron; `serve` does this every 6 hours)."""
    from .connections import ConnectionStore
    from .errors import ConfigError
    from .output import render
    from .progress import ProgressBars
    from .sources.engine import SyncRequest
    from .sync import run_sync
    from .warehouse.store import Warehouse

    if since and until and since >= until:
        raise ConfigError(f"--since {since} is not before --until {until}.")
    settings = _settings(home)
    store = ConnectionStore(settings)
    if not store.list():
        raise ConfigError(
            "No connections yet.",
            "Add one with: spendscope connect console|enterprise --label … --key -",
        )
    wh = Warehouse(settings)
    bars = ProgressBars(sys.stderr)
    try:
        reports = run_sync(
            settings,
            store,
            wh,
            list(labels) or None,
            SyncRequest(since=since, until=until, full=full),
            progress=bars.update,
            now=_now,
        )
    finally:
        bars.close()
        wh.close()
    rows = [
        {
            "connection": r.label,
            "status": "failed" if r.error else "ok",
            "rows": r.rows,
            "corrections": r.corrections,
            "requests": r.requests,
            "retries": r.retries,
            "seconds": round(r.seconds, 1),
            "error": r.error,
        }
        for r in reports
    ]
    click.echo(
        render(
            rows,
            [
                "connection",
                "status",
                "rows",
                "corrections",
                "requests",
                "retries",
                "seconds",
                "error",
            ],
            fmt,
        )
    )
    if any(r.error for r in reports):
        for r in reports:
            if r.error:
                click.echo(f"error: {r.label}: {r.error}", err=True)
        sys.exit(1)


# -- status -------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--events",
    "n_events",
    default=10,
    show_default=True,
    help="How many recent events to show per connection.",
)
@format_options
@home_option
@friendly
def status(n_events: int, fmt: str, home: str | None) -> None:
    """Each connection's health: state, last sync, complete through, rows, recent events."""
    from .analytics.health import recent_events
    from .connections import ConnectionStore
    from .output import render

    settings = _settings(home)
    health = _health(settings)
    conns = ConnectionStore(settings).list(include_deleted=True)
    rows = []
    for c in conns:
        h = health.get(c.label, {})
        rows.append(
            {
                "connection": c.label,
                "kind": c.kind,
                "state": h.get("state", c.state),
                "last_sync": h.get("last_success"),
                "complete_through": h.get("complete_through"),
                "rows": h.get("rows", 0),
                "last_error": h.get("last_error"),
            }
        )
    click.echo(
        render(
            rows,
            ["connection", "kind", "state", "last_sync", "complete_through", "rows", "last_error"],
            fmt,
        )
    )
    if fmt == "table" and settings.warehouse_path.exists() and n_events:
        from .warehouse.store import Warehouse

        wh = Warehouse(settings)
        try:
            for c in conns:
                events = recent_events(wh, c.label, n_events)
                if events:
                    click.echo(f"\n{c.label} — recent events")
                    click.echo(render(events, ["occurred_at", "level", "category", "message"]))
        finally:
            wh.close()


# -- report -------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--by",
    default="",
    help="Dimensions to group by, comma-separated "
    "(e.g. workspace,model; day, week or month for time).",
)
@click.option(
    "--metric",
    default="cost",
    show_default=True,
    help="cost, list_cost, tokens, uncached_input_tokens, cache_read_input_tokens, "
    "cache_creation_5m_input_tokens, cache_creation_1h_input_tokens, "
    "output_tokens, web_search_requests or requests.",
)
@click.option("--since", callback=_date, help="First day (YYYY-MM-DD).")
@click.option("--until", callback=_date, help="Day to stop before (YYYY-MM-DD, exclusive).")
@click.option("--connection", default=None, help="Only this connection.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help="dimension:value (repeatable; values of one dimension are ORed, dimensions ANDed).",
)
@click.option("--limit", type=int, default=None, help="At most this many rows.")
@format_options
@home_option
@friendly
def report(
    by: str,
    metric: str,
    since: date | None,
    until: date | None,
    connection: str | None,
    filters: tuple[str, ...],
    limit: int | None,
    fmt: str,
    home: str | None,
) -> None:
    """Totals from the warehouse, grouped by any dimensions (double-booked spend counted once):
    the same queries as the dashboard and the REST API."""
    from .analytics.queries import Scope, parse_filters, totals
    from .errors import ConfigError
    from .output import render
    from .warehouse.store import Warehouse

    settings = _settings(home)
    if not settings.warehouse_path.exists():
        raise ConfigError("The warehouse is empty.", "Run: spendscope sync")
    dims = [d.strip() for d in by.split(",") if d.strip()]
    chosen = parse_filters([*filters, *([f"connection:{connection}"] if connection else [])])
    scope = Scope(since or date(2000, 1, 1), until or date(2100, 1, 1), chosen)
    wh = Warehouse(settings)
    try:
        wh.initialize()
        cols, rows = totals(wh, metric, scope, dims, limit)
    finally:
        wh.close()
    click.echo(render(rows, cols, fmt))
