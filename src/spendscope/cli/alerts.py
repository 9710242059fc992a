"""`spendscope alerts channels add|list|remove`, `alerts routes add|list|remove`, `alerts
test-send`, `alerts evaluate` and `alerts log` (the last two through a running `serve`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from .options import fail, format_options, friendly, home_option, limit_option, load_settings, now
from .reads import serving

if TYPE_CHECKING:
    from ..config import Settings

CHANNEL_COLUMNS = ["name", "kind", "target", "secrets", "created_at"]
ROUTE_COLUMNS = [
    "name",
    "channels",
    "match",
    "timing",
    "repeat",
    "quiet_hours",
    "timezone",
    "created_at",
]
LOG_COLUMNS = [
    "attempted_at",
    "channel",
    "alert_kind",
    "title",
    "status",
    "attempt",
    "outcome",
    "reply",
    "error",
]
DEAD_COLUMNS = ["last_attempt_at", "channel", "alert_kind", "title", "status", "attempts", "error"]
# --json and --csv carry every column.
LOG_ALL = [
    "attempted_at",
    "channel",
    "channel_kind",
    "alert_kind",
    "title",
    "status",
    "cycle",
    "attempt",
    "outcome",
    "http_status",
    "smtp_reply",
    "error",
    "wait_seconds",
    "fingerprint",
]
DEAD_ALL = [
    "last_attempt_at",
    "channel",
    "channel_kind",
    "alert_kind",
    "scope",
    "title",
    "status",
    "cycle",
    "attempts",
    "last_outcome",
    "error",
    "fingerprint",
]


@click.group()
def alerts() -> None:
    """Alert delivery: channels (webhook, Slack, e-mail), routes, test sends, the delivery
    log."""


@alerts.group()
def channels() -> None:
    """Add, list and remove the channels alerts are delivered to."""


def _read_secrets(values: dict[str, str | None]) -> dict[str, str | None]:
    """Options given as '-' read from stdin, one line each, in the order of `values`."""
    from ..errors import InvalidInput

    out: dict[str, str | None] = dict(values)
    for name, value in values.items():
        if value == "-":
            out[name] = sys.stdin.readline().strip()
            if not out[name]:
                raise InvalidInput(f"--{name.replace('_', '-')} -: no line on stdin")
    return out


@channels.command("add")
@click.argument("name")
@click.option("--kind", required=True, help="webhook, slack or email.")
@click.option(
    "--url",
    default=None,
    help="webhook, slack: the URL to POST to (stored encrypted, shown as scheme and host); "
    "'-' reads it from stdin.",
)
@click.option(
    "--signing-secret",
    default=None,
    help="webhook: sign each body with HMAC-SHA256 under this secret (at least 16 "
    "characters), sent as X-Spendscope-Signature: sha256=<hex>; '-' reads it from stdin.",
)
@click.option("--smtp-host", default=None, help="email: the SMTP server.")
@click.option(
    "--smtp-port", type=int, default=None, help="email: its port (default 587, 465 or 25)."
)
@click.option(
    "--security",
    default=None,
    help="email: starttls (default), tls (implicit TLS) or none (a relay on loopback only).",
)
@click.option("--from", "sender", default=None, help="email: the sender address.")
@click.option(
    "--to", "recipients", multiple=True, help="email: a recipient (repeat, or separate by commas)."
)
@click.option("--user", default=None, help="email: the SMTP login, if the server needs one.")
@click.option(
    "--password", default=None, help="email: its password (stored encrypted); '-' reads stdin."
)
@click.option(
    "--ca-file",
    default=None,
    help="email: trust this CA bundle (PEM) for the server's certificate instead of the "
    "system's (a private relay).",
)
@home_option
@friendly
def channels_add(
    name: str,
    kind: str,
    url: str | None,
    signing_secret: str | None,
    smtp_host: str | None,
    smtp_port: int | None,
    security: str | None,
    sender: str | None,
    recipients: tuple[str, ...],
    user: str | None,
    password: str | None,
    ca_file: str | None,
    home: str | None,
) -> None:
    """Add a channel: a webhook, a Slack incoming webhook or an SMTP e-mail.

    Secrets (webhook and Slack URLs, the signing secret, the SMTP password) are encrypted like
    API keys and never printed; give them as '-' to read them from stdin (one line each, in the
    order --url, --signing-secret, --password)."""
    from ..notify.channels import ChannelStore, check_options, validate_name

    settings = load_settings(home)
    validate_name(name)
    given = _read_secrets({"url": url, "signing_secret": signing_secret, "password": password})
    options, plaintext = check_options(
        kind,
        url=given["url"],
        signing_secret=given["signing_secret"],
        host=smtp_host,
        port=smtp_port,
        security=security,
        sender=sender,
        recipients=recipients,
        user=user,
        password=given["password"],
        ca_file=ca_file,
    )
    channel = ChannelStore(settings).add(name, kind.strip().lower(), options, plaintext, now=now())
    click.echo(f"added channel {channel.name}: {channel.kind} {channel.target()}", err=True)
    click.echo(f"next: spendscope alerts test-send {channel.name}", err=True)


@channels.command("list")
@format_options
@home_option
@friendly
def channels_list(fmt: str, home: str | None) -> None:
    """The channels: name, kind, where they deliver, their secrets masked."""
    from ..notify.channels import ChannelStore
    from ..output import render

    rows = [c.public() for c in ChannelStore(load_settings(home)).all()]
    click.echo(render(rows, CHANNEL_COLUMNS, fmt))


@channels.command("remove")
@click.argument("name")
@home_option
@friendly
def channels_remove(name: str, home: str | None) -> None:
    """Remove a channel and its secrets (its delivery log is kept)."""
    from ..notify.channels import ChannelStore

    removed = ChannelStore(load_settings(home)).remove(name)
    click.echo(f"removed channel {removed.name} ({removed.kind})", err=True)


@alerts.group()
def routes() -> None:
    """Add, list and remove routes: which alerts go to which channel, and when."""


@routes.command("add")
@click.argument("name")
@click.option(
    "--channel", "channels", multiple=True, required=True, help="A channel (repeat for more)."
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only alerts of this kind: budget, anomaly, data_ready, sync_failing, … (repeat).",
)
@click.option(
    "--severity", "severities", multiple=True, help="Only this severity: info, warning, critical."
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Only alerts whose scope matches this pattern: organization, team:payments, team:*.",
)
@click.option(
    "--group-by",
    multiple=True,
    help="Group by these fields (kind, scope, severity, subject, period); needs --group-wait.",
)
@click.option(
    "--group-wait",
    default=None,
    help="Hold notifications this long (30s, 5m, 1h) and send each group's as one message.",
)
@click.option(
    "--repeat-interval",
    default=None,
    help="Notify a still-firing alert again after this long (e.g. 4h); off by default.",
)
@click.option(
    "--quiet-hours",
    default=None,
    help="Hold alerts that are not critical in this window (e.g. 22:00-07:00), then send them.",
)
@click.option(
    "--digest",
    default=None,
    help="Instead of sending, gather the alerts into one daily message at this time (08:00).",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="The time zone of --quiet-hours and --digest (e.g. Europe/Paris).",
)
@home_option
@friendly
def routes_add(
    name: str,
    channels: tuple[str, ...],
    kinds: tuple[str, ...],
    severities: tuple[str, ...],
    scopes: tuple[str, ...],
    group_by: tuple[str, ...],
    group_wait: str | None,
    repeat_interval: str | None,
    quiet_hours: str | None,
    digest: str | None,
    timezone: str,
    home: str | None,
) -> None:
    """Add a route. For each channel, its routes are tried in the order they were added and
    the first that matches an alert decides; a channel no route names gets every alert at
    once, a channel some route names gets only what its routes match."""
    from ..notify.channels import ChannelStore
    from ..notify.routes import make_route

    store = ChannelStore(load_settings(home))
    route = make_route(
        name,
        channels,
        known_channels=[c.name for c in store.all()],
        kinds=kinds,
        severities=severities,
        scopes=scopes,
        group_by=group_by,
        group_wait=group_wait,
        repeat_interval=repeat_interval,
        quiet_hours=quiet_hours,
        digest=digest,
        timezone=timezone,
        now=now(),
    )
    store.add_route(route)
    shown = route.public()
    click.echo(
        f"added route {route.name}: {shown['match']} → {shown['channels']} ({shown['timing']})",
        err=True,
    )


@routes.command("list")
@format_options
@home_option
@friendly
def routes_list(fmt: str, home: str | None) -> None:
    """The routes in the order they are tried: channels, what they match, when they send."""
    from ..notify.channels import ChannelStore
    from ..output import render

    rows = [r.public() for r in ChannelStore(load_settings(home)).routes()]
    click.echo(render(rows, ROUTE_COLUMNS, fmt))


@routes.command("remove")
@click.argument("name")
@home_option
@friendly
def routes_remove(name: str, home: str | None) -> None:
    """Remove a route (notifications it holds are still sent when due)."""
    from ..notify.channels import ChannelStore

    removed = ChannelStore(load_settings(home)).remove_route(name)
    click.echo(f"removed route {removed.name}", err=True)


@alerts.command("test-send")
@click.argument("channel")
@home_option
@friendly
def test_send(channel: str, home: str | None) -> None:
    """Send a test alert to a channel once and print the outcome; exits non-zero if it was
    not delivered. The attempt goes to the delivery log (unless `spendscope serve` holds the
    warehouse)."""
    from ..notify.channels import ChannelStore
    from ..notify.delivery import send_test

    settings = load_settings(home)
    store = ChannelStore(settings)
    found = store.get(channel)
    with serving(settings) as server:
        busy = server is not None
    if busy:
        outcome = send_test(found, store, now())
    else:
        from ..warehouse.connection import Warehouse

        wh = Warehouse(settings)
        try:
            outcome = send_test(found, store, now(), warehouse=wh)
        finally:
            wh.close()
    where = f"{found.name} ({found.kind} {found.target()})"
    if not outcome.ok:
        fail(f"test alert to {where} not delivered: {outcome.outcome}, {outcome.summary()}")
    click.echo(f"sent: test alert to {where}: {outcome.summary()}")
    if busy:
        click.echo("note: not logged: spendscope serve holds the warehouse", err=True)


@alerts.command("evaluate")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be sent, and to which channels; send nothing, change nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Every alert and delivery as JSON.")
@home_option
@friendly
def alerts_evaluate(dry_run: bool, as_json: bool, home: str | None) -> None:
    """Evaluate the budgets and deliver their alerts through the channels and routes (what
    `serve` does after each sync; for cron), then send the notifications routes held that have
    fallen due. One line per alert: status, severity, title, and per channel the outcome; one
    per message of held notifications. Exits non-zero if a notification could not be delivered
    (it is then dead: see `alerts log --dead`). While `serve` runs, it evaluates."""
    import json

    from ..web.api_alerts import evaluate_here, evaluation_failures, evaluation_lines

    settings = load_settings(home)
    found: dict[str, Any] | None = None
    with serving(settings) as server:
        if server is not None:
            found = server.post("/api/v1/alerts/evaluate", {"dry_run": dry_run})
    if found is None:
        found = evaluate_here(settings, now, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        lines, notes = evaluation_lines(found)
        for line in lines:
            click.echo(line)
        for note in notes:
            click.echo(note, err=True)
    failed = evaluation_failures(found)
    if failed:
        title, what = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        fail(f"alert {title!r} not delivered: {what}{more}; see spendscope alerts log --dead")


def _log_rows(settings: Settings, limit: int, dead: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] | None = None
    with serving(settings) as server:
        if server is not None:
            from .remote import as_datetime

            if dead:
                found = server.get("/api/v1/alerts/log/dead", {"limit": limit})["deliveries"]
                rows = [{**r, "last_attempt_at": as_datetime(r["last_attempt_at"])} for r in found]
            else:
                found = server.get("/api/v1/alerts/log", {"limit": limit})["attempts"]
                rows = [{**r, "attempted_at": as_datetime(r["attempted_at"])} for r in found]
    if rows is None:
        if not settings.warehouse_path.exists():
            return []
        rows = _local_log(settings, limit, dead)
    if dead:
        return [{**r, "error": r["last_error"]} for r in rows]
    for r in rows:
        r["reply"] = r["smtp_reply"] or (
            str(r["http_status"]) if r["http_status"] is not None else None
        )
    return rows


def _local_log(settings: Settings, limit: int, dead: bool) -> list[dict[str, Any]]:
    from ..notify.records import attempt_log, dead_deliveries
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        return dead_deliveries(wh, limit) if dead else attempt_log(wh, limit)
    finally:
        wh.close()


@alerts.command("log")
@click.option(
    "--limit",
    type=int,
    default=50,
    show_default=True,
    callback=limit_option,
    help="How many rows, newest first.",
)
@click.option(
    "--dead",
    is_flag=True,
    help="Only notifications that were never delivered (marked dead after their attempts).",
)
@format_options
@home_option
@friendly
def alerts_log(limit: int, dead: bool, fmt: str, home: str | None) -> None:
    """The delivery log: every attempt to send an alert (time, channel, alert, status,
    outcome, HTTP status or SMTP reply, error), newest first. While `serve` runs, read through
    it."""
    from ..output import render

    rows = _log_rows(load_settings(home), limit, dead)
    if fmt == "table":
        columns = DEAD_COLUMNS if dead else LOG_COLUMNS
    else:
        columns = DEAD_ALL if dead else LOG_ALL
    click.echo(render(rows, columns, fmt))
