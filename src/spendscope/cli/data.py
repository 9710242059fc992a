"""CLI commands over connections and the warehouse: connect, connections, sync, status, report.

Each command parses, calls one library function, and renders. Data goes to stdout, progress and
logs to stderr; errors are one line on stderr (`error: …`, then what to do) and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click

from .main import _parse_now, handle_error, main, remember_home

F = TypeVar("F", bound=Callable[..., Any])


def home_option(fn: F) -> F:
    return click.option(
        "--home",
        type=click.Path(file_okay=False),
        default=None,
        envvar="SPENDSCOPE_HOME",
        callback=remember_home,
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
    """Turn any error into one clear line (and its hint) and a non-zero exit, never a stack
    trace: the trace goes to the log (see `cli.handle_error`), or to stderr with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            handle_error(exc)

    return wrapper  # type: ignore[return-value]


def checked_options(fn: F) -> F:
    """Checks of options shared by commands, before any work: `--since` before `--until`,
    every `--connection` label known (a deleted connection counts: its history is kept)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..validation import check_range

        check_range(kwargs.get("since"), kwargs.get("until"))
        labels = list(kwargs.get("labels") or ())
        if kwargs.get("connection"):
            labels.append(kwargs["connection"])
        if labels:
            from ..connections import ConnectionStore

            store = ConnectionStore(_settings(kwargs.get("home")))
            for label in labels:
                store.get(label)  # NotFoundLocally, naming the known labels
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _limit(ctx: Any, param: Any, value: int | None) -> int | None:
    from ..validation import check_limit

    return None if value is None else check_limit(value, f"--{param.name}")


def _settings(home: str | None) -> Any:
    from ..config import load_settings

    return load_settings(home=home)


def _now() -> datetime:
    """The clock; SPENDSCOPE_NOW pins it (to sync against a simulator with a frozen clock)."""
    return _parse_now(os.environ.get("SPENDSCOPE_NOW")) or datetime.now(UTC)


def _read_key(key: str | None) -> str:
    from ..errors import ConfigError

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
    from ..connections import ConnectionStore
    from ..operations import connect as do_connect
    from ..validation import check_base_url

    settings = _settings(home)
    store = ConnectionStore(settings)
    store.ensure_label_free(label)  # before asking for the key
    if base_url is not None:
        check_base_url(base_url, "--base-url")
    store.check_master_key()
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


@contextlib.contextmanager
def _serving(settings: Any) -> Iterator[Any]:
    """The running `spendscope serve` of this home (`remote.RunningServer`), or None.

    While `serve` runs it holds the warehouse (DuckDB admits one process), so reads and deletes
    go through its API; a stale `serve.json` is removed and the command works locally."""
    from .remote import find_server

    server = find_server(settings)
    try:
        yield server
    finally:
        if server is not None:
            server.close()


def _health(settings: Any, server: Any = None) -> dict[str, dict[str, Any]]:
    """Per connection: last successful sync, data complete through, state of the last run."""
    if server is not None:
        from .remote import decode_health

        return decode_health(server.get("/api/v1/health")["connections"])
    if not settings.warehouse_path.exists():
        from ..connections import ConnectionStore
        from ..reporting.health import key_health

        return key_health(ConnectionStore(settings))  # keys that can't be decrypted
    from ..reporting.health import connection_health
    from ..warehouse.connection import Warehouse

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
    from ..connections import ConnectionStore
    from ..output import render

    settings = _settings(home)
    with _serving(settings) as server:
        health = _health(settings, server)
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
    from ..connections import ConnectionStore
    from ..operations import check_connection

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
    """Delete a connection: its stored key, and with --purge its record and rows. All of it or
    nothing: the warehouse changes first, the key store last; a busy warehouse stops it before
    anything changes. While `spendscope serve` runs, it goes through the server."""
    from ..connections import ConnectionStore
    from ..operations import delete_connection

    settings = _settings(home)
    with _serving(settings) as server:
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
        + (f", {removed:,} rows purged" if purge else ", history kept"),
        err=True,
    )


# -- sync ---------------------------------------------------------------------------------------


def _date(ctx: Any, param: Any, value: str | None) -> date | None:
    """A YYYY-MM-DD option from 2000-01-01 to 2100-01-01 (one line and exit 2 otherwise)."""
    from ..validation import parse_date

    return None if value is None else parse_date(value, f"--{param.name}")


@main.command()
@click.option("--connection", "labels", multiple=True, help="Only this connection (repeatable).")
@click.option("--since", callback=_date, help="First day to fetch (YYYY-MM-DD).")
@click.option("--until", callback=_date, help="Day to stop before (YYYY-MM-DD, exclusive).")
@click.option("--full", is_flag=True, help="Re-fetch the whole backfill period.")
@format_options
@home_option
@friendly
@checked_options
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
    from ..connections import ConnectionStore
    from ..errors import ConfigError
    from ..output import render
    from ..sync.engine import SyncRequest
    from ..sync.run import run_sync
    from ..warehouse.connection import Warehouse
    from .progress import ProgressBars

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
    except KeyboardInterrupt:
        # Connections may still be writing: leave the warehouse open, as a killed process
        # would (it is safe at any instant); the process exits at once, and `status` then
        # shows the sync as interrupted.
        bars.close()
        raise
    except BaseException:
        bars.close()
        wh.close()
        raise
    bars.close()
    wh.close()
    rows = [
        {
            "connection": r.label,
            "status": "failed" if r.error else "ok",
            "rows": r.rows,
            "corrections": r.corrections,
            "rejected": r.rejected,
            "requests": r.requests,
            "retries": r.retries,
            "seconds": round(r.seconds, 1),
            "failed_feeds": ", ".join(f.feed for f in r.failed_feeds) or None,
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
                "rejected",
                "requests",
                "retries",
                "seconds",
                "failed_feeds",
                "error",
            ],
            fmt,
        )
    )
    if any(r.error for r in reports):
        for r in reports:
            if r.error and r.failed_feeds:
                feeds = r.failed_feeds
                click.echo(
                    f"error: {r.label}: {len(feeds)} feed(s) failed "
                    f"({', '.join(f.feed for f in feeds)}); the other feeds synced",
                    err=True,
                )
                for f in feeds:
                    click.echo(f"  {f.feed}: {f.error}", err=True)
                if r.error not in {f.error for f in feeds}:
                    click.echo(f"  {r.error}", err=True)
            elif r.error:
                click.echo(f"error: {r.label}: {r.error}", err=True)
            if r.error and r.error_hint:
                click.echo(f"  {r.error_hint}", err=True)
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
    settings = _settings(home)
    with _serving(settings) as server:
        _status(settings, server, n_events, fmt)


def _status(settings: Any, server: Any, n_events: int, fmt: str) -> None:
    from ..connections import ConnectionStore
    from ..output import render
    from ..reporting.health import recent_events

    health = _health(settings, server)
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
                "rejected": h.get("rejected", 0),
                "last_error": h.get("last_error"),
            }
        )
    cols = ["connection", "kind", "state", "last_sync", "complete_through", "rows", "rejected"]
    click.echo(render(rows, [*cols, "last_error"], fmt))
    if fmt != "table" or not n_events:
        return
    if server is not None:
        from .remote import decode_events, path_of

        for c in conns:
            answer = server.get(
                f"/api/v1/connections/{path_of(c.label)}/events", {"limit": min(n_events, 500)}
            )
            _show_events(c.label, decode_events(answer["events"]))
    elif settings.warehouse_path.exists():
        from ..warehouse.connection import Warehouse

        wh = Warehouse(settings)
        try:
            for c in conns:
                _show_events(c.label, recent_events(wh, c.label, n_events))
        finally:
            wh.close()


def _show_events(label: str, events: list[dict[str, Any]]) -> None:
    from ..output import render

    if events:
        click.echo(f"\n{label} — recent events")
        click.echo(render(events, ["occurred_at", "level", "category", "message"]))


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
@click.option(
    "--limit", type=int, default=None, callback=_limit, help="At most this many rows (1-10000)."
)
@format_options
@home_option
@friendly
@checked_options
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
    from ..errors import ConfigError
    from ..output import render
    from ..reporting.queries import GRANULARITIES, Scope, parse_filters, totals
    from ..warehouse.connection import Warehouse

    settings = _settings(home)
    if not settings.warehouse_path.exists():
        raise ConfigError("The warehouse is empty.", "Run: spendscope sync")
    dims = [d.strip() for d in by.split(",") if d.strip()]
    wanted = [*filters, *([f"connection:{connection}"] if connection else [])]
    with _serving(settings) as server:
        if server is not None:
            from .remote import decode_rows

            params: list[tuple[str, Any]] = [("metric", metric), ("by", ",".join(dims))]
            params += [("since", since.isoformat())] if since else []
            params += [("until", until.isoformat())] if until else []
            params += [("filter", f) for f in wanted]
            params += [("limit", limit)] if limit is not None else []
            answer = server.get("/api/v1/report", params)
            cols = list(answer["columns"])
            rows = decode_rows(answer["rows"], [d for d in dims if d in GRANULARITIES])
            click.echo(render(rows, cols, fmt))
            return
    scope = Scope(since or date(2000, 1, 1), until or date(2100, 1, 1), parse_filters(wanted))
    wh = Warehouse(settings)
    try:
        from ..warehouse.refresh import initialize

        initialize(wh)
        cols, rows = totals(wh, metric, scope, dims, limit)
    finally:
        wh.close()
    click.echo(render(rows, cols, fmt))
