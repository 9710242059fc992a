"""Errors as users see them: one line on stderr (what went wrong, what to do), the full trace in
`$SPENDSCOPE_HOME/logs/spendscope.log`, or on stderr too with `spendscope --debug`.

`describe()` turns any exception into that line, its hint and an exit code; `write()` appends a
trace to the log, which is bounded (LOG_MAX_BYTES per file, LOG_BACKUPS older files kept);
`install()` routes the `spendscope` loggers the same way: warnings and errors as one line on
stderr, with their traces in the log. Every text is passed through `redact()` first, so no key
reaches the terminal or the log.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path

from .errors import InvalidInput, SpendscopeError, redact

LOG_NAME = "logs/spendscope.log"  # under the home directory
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3
EXIT_INTERRUPTED = 130


class _State:
    """This process's choices: the home whose log receives traces, and --debug."""

    home: Path | None = None
    debug = False


def set_home(home: Path | None) -> None:
    """The home whose log receives traces (None: $SPENDSCOPE_HOME or the default home)."""
    _State.home = home.absolute() if home is not None else None


def set_debug(on: bool) -> None:
    _State.debug = on


def debug_enabled() -> bool:
    env = os.environ.get("SPENDSCOPE_DEBUG", "").strip().lower()
    return _State.debug or env in ("1", "true", "yes", "on")


def log_path() -> Path | None:
    """Where traces go, or None when no home can be worked out (a bad SPENDSCOPE_HOME)."""
    if _State.home is not None:
        return _State.home / LOG_NAME
    from .config import default_home

    try:
        return default_home() / LOG_NAME
    except SpendscopeError:
        return None


def describe(exc: BaseException) -> tuple[str, str | None, int, bool]:
    """`(line, hint, exit code, internal)` for an exception that reached the top of a command;
    `internal` means it is not a condition spendscope knows (a bug): the line says so."""
    if isinstance(exc, KeyboardInterrupt):
        return (
            "interrupted (Ctrl-C)",
            "Run the command again; an interrupted sync resumes where it stopped.",
            EXIT_INTERRUPTED,
            False,
        )
    if isinstance(exc, SpendscopeError):
        return exc.message, exc.hint, 2 if isinstance(exc, InvalidInput) else 1, False
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        text = redact(f"{exc.strerror or exc}{where}")
        if exc.errno == errno.ENOSPC:
            return text, "Free some disk space there, then run the command again.", 1, False
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return text, "Check the permissions of that path, or choose another --home.", 1, False
        return text, None, 1, False
    first = redact((str(exc).strip().splitlines() or [type(exc).__name__])[0][:300])
    module = type(exc).__module__ or ""
    if module.startswith("duckdb"):
        return (
            f"the warehouse could not be read or written: {first}",
            "Check free disk space and that no other spendscope process holds the warehouse.",
            1,
            False,
        )
    if module.startswith(("httpx", "httpcore")):
        return (
            f"network error: {first}",
            "Check the network connection, proxy settings and the base URL; then retry.",
            1,
            False,
        )
    return f"{type(exc).__name__}: {first}", None, 1, True


def append(text: str) -> Path | None:
    """Append `text` (keys masked) to the log, rotating it past LOG_MAX_BYTES. Returns the log's
    path, or None when it can't be written (a full disk, a read-only home)."""
    path = log_path()
    if path is None:
        return None
    data = redact(text).encode("utf-8", "replace")[-LOG_MAX_BYTES:]
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size + len(data) > LOG_MAX_BYTES:
            for n in range(LOG_BACKUPS - 1, 0, -1):
                older = path.with_name(f"{path.name}.{n}")
                if older.exists():
                    os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
            os.replace(path, path.with_name(f"{path.name}.1"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError:
        return None
    return path


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write(exc: BaseException, summary: str) -> Path | None:
    """Log `exc`'s full trace under the command line that raised it."""
    command = " ".join(sys.argv[1:])
    trace = "".join(traceback.format_exception(exc))
    return append(f"{_stamp()} ERROR spendscope {command}: {summary}\n{trace}\n")


def format_trace(exc: BaseException) -> str:
    return redact("".join(traceback.format_exception(exc)))


class _OneLine(logging.Formatter):
    """A record's message alone, first line only; its trace only with --debug."""

    def format(self, record: logging.LogRecord) -> str:
        lines = redact(record.getMessage()).splitlines() or [""]
        text = lines[0]
        if debug_enabled() and record.exc_info and record.exc_info[1] is not None:
            text += "\n" + format_trace(record.exc_info[1]).rstrip()
        return text


class _Stderr(logging.Handler):
    """Writes to whatever `sys.stderr` is when the record comes (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed or broken stderr: nothing more can be said
            return


class _LogFile(logging.Handler):
    """Appends whole records, traces included, to the log; opened only when something is
    logged, so a command that logs nothing creates no file."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{_stamp()} {record.levelname} {record.name}: {record.getMessage()}\n"
            if record.exc_info and record.exc_info[1] is not None:
                text += format_trace(record.exc_info[1]) + "\n"
        except Exception:  # a record that can't be formatted is dropped, never raised
            return
        append(text)


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    """An exception that ends a thread: one line on stderr, the trace in the log."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc = args.exc_value
    logging.getLogger("spendscope").error(
        "internal error in thread %s: %s: %s",
        name,
        type(exc).__name__,
        exc,
        exc_info=(args.exc_type, exc, args.exc_traceback),
    )


def install() -> None:
    """Route the `spendscope` loggers: one line per warning or error on stderr, the whole
    record (trace included) in the log; threads that die of an exception are reported the
    same way. Installing twice changes nothing."""
    logger = logging.getLogger("spendscope")
    if any(isinstance(h, _Stderr | _LogFile) for h in logger.handlers):
        return
    threading.excepthook = _thread_failed
    stderr = _Stderr(logging.WARNING)
    stderr.setFormatter(_OneLine())
    logger.addHandler(stderr)
    logger.addHandler(_LogFile(logging.WARNING))
