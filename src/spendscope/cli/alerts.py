"""`spendscope alerts channels add|list|remove`, `alerts test-send`, `alerts evaluate` and
`alerts log`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from .options import fail, format_options, friendly, home_option, limit_option, load_settings, now
from .reads import serving

if TYPE_CHECKING:
    from ..config import Settings

CHANNEL_COLUMNS = ["name", "kind", "target", "secrets", "created_at"]
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
    """Alert delivery: channels (webhook, Slack, e-mail), test sends, the delivery log."""


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
    """Evaluate the budgets and deliver their alerts to every channel (what `serve` does after
    each sync; for cron). One line per alert: status, severity, title, and per channel the
    outcome. Exits non-zero if a notification could not be delivered (it is then dead: see
    `alerts log --dead`)."""
    import json

    from ..errors import WarehouseError
    from ..refresh import initialize
    from ..warehouse.connection import Warehouse
    from ..watch.alerting import describe, describe_delivery, evaluate_alerts

    settings = load_settings(home)
    with serving(settings) as server:
        if server is not None:
            raise WarehouseError(
                f"spendscope serve (process {server.info.pid}) holds the warehouse and "
                "evaluates the alerts after each sync.",
                "Stop it to evaluate from here.",
            )
    wh = Warehouse(settings)
    try:
        initialize(wh)
        found = evaluate_alerts(settings, wh, now(), dry_run=dry_run)
    finally:
        wh.close()
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2, ensure_ascii=False))
    else:
        for line in describe(found.results):
            click.echo(line)
        if not found.results:
            click.echo("nothing to send", err=True)
        if not found.channels:
            click.echo("note: no channel: spendscope alerts channels add …", err=True)
        if dry_run:
            click.echo("dry run: nothing was sent and no state changed", err=True)
    if found.failed:
        result, delivery = found.failed[0]
        more = f" (and {len(found.failed) - 1} more)" if len(found.failed) > 1 else ""
        fail(
            f"alert {result.alert.title!r} not delivered: {describe_delivery(delivery)}{more}; "
            "see spendscope alerts log --dead"
        )


def _log_rows(settings: Settings, limit: int, dead: bool) -> list[dict[str, Any]]:
    if not settings.warehouse_path.exists():
        return []
    with serving(settings) as server:
        if server is not None:
            from ..errors import WarehouseError

            raise WarehouseError(
                f"spendscope serve (process {server.info.pid}) holds the warehouse, so the "
                "delivery log can't be read from here.",
                "Stop it and run the command again.",
            )
    from ..notify.records import attempt_log, dead_deliveries
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        if dead:
            rows = dead_deliveries(wh, limit)
            return [{**r, "error": r["last_error"]} for r in rows]
        rows = attempt_log(wh, limit)
    finally:
        wh.close()
    for r in rows:
        r["reply"] = r["smtp_reply"] or (
            str(r["http_status"]) if r["http_status"] is not None else None
        )
    return rows


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
    outcome, HTTP status or SMTP reply, error), newest first."""
    from ..output import render

    rows = _log_rows(load_settings(home), limit, dead)
    if fmt == "table":
        columns = DEAD_COLUMNS if dead else LOG_COLUMNS
    else:
        columns = DEAD_ALL if dead else LOG_ALL
    click.echo(render(rows, columns, fmt))
