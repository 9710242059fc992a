"""Errors reach users as one line and a non-zero exit, never as a Python traceback: bad input,
unknown connections, a held or damaged warehouse, an unreachable API, a damaged connection store,
and bugs (an "internal error" line naming the log). The trace goes to the log, or to stderr with
`--debug`. Every case runs the real `spendscope` in a child process of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import forked
from spendscope.config import load_settings
from spendscope.connections import ConnectionStore
from spendscope.errorlog import LOG_MAX_BYTES, LOG_NAME

MASTER = "cli-errors-master-key"
KEY = "sk-ant-admin01-" + "Kp3" * 30 + "w9AA"


def run(home: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """`spendscope <args>` in a child process (forked ready-imported, see `forked.py`), or
    `python -c <code>`."""
    env = {"SPENDSCOPE_HOME": str(home), "SPENDSCOPE_SECRET_KEY": MASTER}
    drop = ("SPENDSCOPE_KEY", "SPENDSCOPE_DEBUG")
    if code is None:
        return forked.cli(args, env, drop=drop, timeout=120)
    env = {**{k: v for k, v in os.environ.items() if k not in drop}, **env}
    cmd = [sys.executable, "-c", code]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_one_line(r: subprocess.CompletedProcess[str], *expected: str) -> None:
    """A non-zero exit, no traceback, one `error: …` line then at most an indented hint (log
    lines such as retries may come before it)."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    errors = [n for n, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    assert all(line.startswith("  ") for line in lines[errors[0] + 1 :]), r.stderr
    for text in expected:
        assert text.lower() in r.stderr.lower(), r.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with one connection, `acme`, whose API answers nothing (a closed port)."""
    settings = load_settings(home=tmp_path / "home", env={"SPENDSCOPE_SECRET_KEY": MASTER})
    ConnectionStore(settings).add(
        "acme",
        "console",
        KEY,
        base_url=f"http://127.0.0.1:{closed_port()}",
        organization_id="org-1",
        organization_name="Acme",
    )
    return settings.home


BAD_INPUT = [
    (
        ("connect", "console", "--label", "new", "--key", KEY, "--base-url", "not a url"),
        2,
        "--base-url 'not a url' is not usable",
    ),
    (("connect", "console", "--label", "new", "--key", KEY, "--base-url", "ftp://x"), 2, "http"),
    (("report", "--limit", "-1"), 2, "--limit must be between 1 and"),
    (("report", "--limit", "0"), 2, "--limit must be between 1 and"),
    (("report", "--until", "0001-01-05"), 2, "from 2000-01-01 to 2100-01-01"),
    (("sync", "--since", "9999-12-31"), 2, "out of range"),
    (("sync", "--since", "2026-02-30"), 2, "is not a date: use YYYY-MM-DD"),
    (("report", "--since", "2026-03-01", "--until", "2026-03-01"), 2, "is not before until"),
    (("sync", "--connection", "nope"), 1, "unknown connection 'nope'; known labels: acme"),
    (("connections", "test", "nope"), 1, "unknown connection 'nope'"),
    (("connections", "delete", "nope"), 1, "unknown connection 'nope'"),
    (("report", "--connection", "nope"), 1, "unknown connection 'nope'"),
]


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    BAD_INPUT,
    ids=[" ".join(a for a in case[0] if a != KEY) for case in BAD_INPUT],
)
def test_bad_input_is_one_line(
    home: Path, args: tuple[str, ...], status: int, expected: str
) -> None:
    r = run(home, *args)
    assert_one_line(r, expected)
    assert r.returncode == status
    assert KEY not in r.stdout + r.stderr


def test_unreachable_api_is_one_line(home: Path) -> None:
    r = run(home, "connections", "test", "acme")
    assert_one_line(r, "could not get an answer", "Check the network connection")
    assert KEY not in r.stderr


def test_damaged_connection_store_is_one_line(home: Path) -> None:
    (home / "connections.json").write_text('{"version": 1, "connections": [{"label": 3}]}')
    for args in (("connections", "list"), ("status",), ("sync",)):
        assert_one_line(run(home, *args), "connections.json is damaged")


def test_damaged_warehouse_is_one_line(home: Path) -> None:
    (home / "warehouse.duckdb").write_bytes(b"this is not a DuckDB file\n" * 100)
    for args in (("status",), ("report",)):
        r = run(home, *args)
        assert "Traceback" not in r.stderr, r.stderr
        if r.returncode:  # refused with one line (or recovered: then no error at all)
            assert_one_line(r)


def test_held_warehouse_is_one_line(home: Path) -> None:
    held = duckdb.connect(str(home / "warehouse.duckdb"))  # this process holds the file
    try:
        held.execute("CREATE TABLE t (x INTEGER)")
        r = run(home, "report")
    finally:
        held.close()
    assert_one_line(r, "in use by another")


def test_home_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    r = run(tmp_path / "file" / "home", "sync")
    assert_one_line(r)


def test_handled_errors_keep_their_trace_in_the_log(home: Path) -> None:
    r = run(home, "report", "--limit", "0")
    assert_one_line(r)
    log = (home / LOG_NAME).read_text()
    assert "report --limit 0" in log
    assert "Traceback" in log
    assert "InvalidInput" in log
    assert (home / LOG_NAME).stat().st_mode & 0o077 == 0


def test_debug_shows_the_trace_on_stderr(home: Path) -> None:
    r = run(home, "--debug", "report", "--limit", "0")
    assert r.returncode == 2
    assert "Traceback" in r.stderr
    assert "InvalidInput" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("error: --limit")


BUGGY = f"""
import sys
from spendscope.cli import main

@main.command()
def boom() -> None:
    raise RuntimeError("a bug near {KEY}")

sys.argv = ["spendscope", *sys.argv[1:]]
main(sys.argv[1:] or ["boom"])
"""


def test_a_bug_is_an_internal_error_line_naming_the_log(home: Path) -> None:
    r = run(home, code=BUGGY)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    log = home / LOG_NAME
    assert r.stderr.strip().splitlines() == [
        f"internal error: RuntimeError: a bug near sk-ant-admin01-…w9AA; the trace is in {log}; "
        "run with --debug to see it"
    ]
    text = log.read_text()
    assert "Traceback" in text
    assert "RuntimeError" in text
    assert KEY not in text
    assert KEY not in r.stderr
    debug = run(home, code=BUGGY.replace('or ["boom"]', 'or ["--debug", "boom"]'))
    assert "Traceback" in debug.stderr
    assert KEY not in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("internal error: RuntimeError")


def test_the_log_is_bounded(home: Path) -> None:
    log = home / LOG_NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("x" * (LOG_MAX_BYTES - 10))
    assert_one_line(run(home, "report", "--limit", "0"))
    rotated = log.with_name(log.name + ".1")
    assert rotated.read_text() == "x" * (LOG_MAX_BYTES - 10)
    assert "InvalidInput" in log.read_text()
    assert log.stat().st_size < LOG_MAX_BYTES
