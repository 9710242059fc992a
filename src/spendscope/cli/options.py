"""What the commands share: the `--home` and format options, option checks, turning errors into
one line, settings loading and the clock.

Only click and the standard library are imported here; anything heavier is imported inside the
function that needs it, so `spendscope --help` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from ..config import Settings

F = TypeVar("F", bound=Callable[..., Any])


# -- errors: one line on stderr, the trace in the log (or on stderr with --debug) ------------------


def fail(message: str) -> NoReturn:
    """One clear line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


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
    if isinstance(exc, KeyboardInterrupt):
        # Worker threads (an interrupted sync's, or a pool's being joined at exit) would keep
        # the process alive until they finish; the warehouse is safe to stop at any instant,
        # so leave now, whatever threads remain.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def friendly(fn: F) -> F:
    """Turn any error into one clear line (and its hint) and a non-zero exit, never a stack
    trace: the trace goes to the log (see `handle_error`), or to stderr with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            handle_error(exc)

    return wrapper  # type: ignore[return-value]


# -- options ------------------------------------------------------------------------------------


def remember_home(ctx: click.Context, param: Any, value: str | None) -> str | None:
    """Callback of every `--home` option: traces go to this home's log."""
    from .. import errorlog

    errorlog.set_home(Path(value) if value else None)
    return value


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


def day_option(ctx: Any, param: Any, value: str | None) -> date | None:
    """Callback of a YYYY-MM-DD option from 2000-01-01 to 2100-01-01 (one line and exit 2
    otherwise)."""
    from ..validation import parse_date

    return None if value is None else parse_date(value, f"--{param.name}")


def limit_option(ctx: Any, param: Any, value: int | None) -> int | None:
    """Callback of a `--limit` option: a number of rows in bounds (exit 2 otherwise)."""
    from ..validation import check_limit

    return None if value is None else check_limit(value, f"--{param.name}")


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

            store = ConnectionStore(load_settings(kwargs.get("home")))
            for label in labels:
                store.get(label)  # NotFoundLocally, naming the known labels
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# -- settings and the clock ---------------------------------------------------------------------


def load_settings(home: str | None) -> Settings:
    """The settings of `home` (default: $SPENDSCOPE_HOME, else the user data directory)."""
    from ..config import load_settings as load

    return load(home=home)


def parse_now(value: str | None) -> datetime | None:
    """An ISO-8601 date or datetime (naive means UTC) as an aware UTC datetime."""
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


def pinned_now() -> datetime | None:
    """The instant SPENDSCOPE_NOW pins the clock at (to work against a simulator with a frozen
    clock), or None."""
    return parse_now(os.environ.get("SPENDSCOPE_NOW"))


def now() -> datetime:
    """The clock: SPENDSCOPE_NOW if set, else the real time."""
    return pinned_now() or datetime.now(UTC)
