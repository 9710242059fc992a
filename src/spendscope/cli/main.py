"""The `spendscope` command line. Parses, calls one function, renders.

Heavy modules are imported inside the commands that need them, so `spendscope --help` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from .. import __version__


def _fail(message: str) -> None:
    """One clear line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


# -- errors: one line on stderr, the trace in the log (or on stderr with --debug) ------------------


def remember_home(ctx: click.Context, param: Any, value: str | None) -> str | None:
    """Callback of every `--home` option: traces go to this home's log."""
    from .. import errorlog

    errorlog.set_home(Path(value) if value else None)
    return value


def handle_error(exc: BaseException) -> NoReturn:
    """Print one line (and its hint) for `exc`, log its trace, and exit non-zero."""
    from .. import errorlog

    if isinstance(exc, BrokenPipeError):  # `spendscope report | head`: the reader left
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    message, hint, code, internal = errorlog.describe(exc)
    logged = errorlog.write(exc, message)
    debug = errorlog.debug_enabled()
    if debug:
        sys.stderr.write(errorlog.format_trace(exc))
    if internal:
        line = f"internal error: {message}"
        if logged is not None:
            line += f"; the trace is in {logged}"
        if not debug:
            line += "; run with --debug to see it"
        click.echo(line, err=True)
    else:
        click.echo(f"error: {message}", err=True)
        if hint:
            click.echo(f"  {hint}", err=True)
    if isinstance(exc, KeyboardInterrupt) and threading.active_count() > 1:
        # The worker threads of an interrupted sync would keep the process alive until they
        # finish; the warehouse is safe to stop at any instant, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


class _Main(click.Group):
    """The `spendscope` group: no error that escapes a command shows a Python traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            handle_error(exc)


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not an ISO-8601 date or datetime") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _parse_setting(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep:
        raise click.BadParameter(f"'{item}' is not NAME=VALUE")
    value: Any = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    elif "," in raw:
        value = [v for v in raw.split(",") if v]
    return name.strip(), value


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spendscope")
@click.option(
    "--debug",
    is_flag=True,
    help="On an error, print the full trace on stderr too (it always goes to "
    "$SPENDSCOPE_HOME/logs/spendscope.log).",
)
def main(debug: bool) -> None:
    """spendscope: where your organization's Claude money goes, exactly.

    Connect Anthropic Console (Admin API key) and Claude Enterprise (analytics key)
    organizations, sync their usage, cost, Claude Code and engagement data into a warehouse,
    and explore it from the CLI, a REST API or a web dashboard.
    """
    from .. import errorlog

    errorlog.set_debug(debug)
    errorlog.install()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 = any free).")
@click.option(
    "--seed",
    default=42,
    show_default=True,
    type=int,
    help="Seed of the synthetic organizations (same seed, same data).",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO-8601",
    help="Freeze the simulated clock at this instant (default: follow the real clock).",
)
@click.option(
    "--rpm",
    default=60,
    show_default=True,
    type=int,
    help="Analytics API requests per minute per organization (0 = unlimited).",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Fraction of requests that get an injected fault.",
)
@click.option(
    "--latency-ms", default=0, show_default=True, type=int, help="Latency added to every response."
)
@click.option(
    "--history-days",
    default=400,
    show_default=True,
    type=int,
    help="Days of synthetic history back from the clock.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any other simulator setting (see docs/simulator.md), repeatable.",
)
@click.option("--verbose", is_flag=True, help="Log every request on stderr.")
def simulate(
    host: str,
    port: int,
    seed: int,
    now_text: str | None,
    rpm: int,
    fault_rate: float,
    latency_ms: int,
    history_days: int,
    settings: tuple[str, ...],
    verbose: bool,
) -> None:
    """Serve a faithful local stand-in for the Anthropic usage, cost, admin and analytics APIs.

    Synthetic organizations, deterministic from --seed: a Console organization that is the
    child of an Enterprise organization, and an Enterprise organization whose analytics API is
    not enabled. Their keys and ids are at GET /_simulator/info; the true daily totals at
    GET /_simulator/truth.
    """
    from ..simulator.server import make_server
    from ..simulator.state import SimConfig

    if not 0.0 <= fault_rate <= 1.0:
        _fail("--fault-rate must be between 0 and 1")
    config = SimConfig(seed=seed, rpm=rpm, fault_rate=fault_rate, latency_ms=latency_ms)
    try:
        config.update(dict(_parse_setting(s) for s in settings))
    except (ValueError, TypeError) as exc:
        _fail(f"--set: {exc}")
    try:
        server = make_server(
            config,
            host,
            port,
            now=_parse_now(now_text),
            verbose=verbose,
            history_days=history_days,
            warm=True,
        )
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        return
    sim = server.sim
    click.echo(
        f"spendscope simulator on {server.url}  (clock {sim.now():%Y-%m-%d %H:%M}Z, "
        f"seed {seed}, {rpm or 'unlimited'} rpm)",
        err=True,
    )
    for org in sim.world.orgs:
        flags = "" if org.analytics_enabled else ", analytics not enabled"
        parent = ", child of " + sim.world.org(org.parent_id).name if org.parent_id else ""
        click.echo(f"  {org.kind:<10} {org.name}  {org.id}{parent}{flags}", err=True)
    click.echo(
        f"keys and ids: {server.url}/_simulator/info   truth: {server.url}/_simulator/truth",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# Commands over connections and the warehouse, and the demo, live in their own modules.
from . import data, demo, serve  # noqa: E402, F401
