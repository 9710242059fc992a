"""`spendscope <args>` in a real child process, without paying Python's start-up each time.

A fork server (multiprocessing's `forkserver`) imports the product once; each run forks a fresh
child from it, so the child is a separate process exactly like `python -m spendscope` — its own
environment, its own DuckDB, killed for real by `os._exit` — minus the ~1 s of imports. The
fork server itself is a clean single-threaded process, so forking it is safe (forking the test
process, with its simulator and server threads, would not be).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# What every CLI run needs, imported once by the fork server.
PRELOAD = [
    "spendscope.cli",
    "spendscope.sync.run",
    "spendscope.refresh",
    "spendscope.reporting.health",
    "duckdb",
    "pyarrow",
    "httpx",
]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr, interleaved as written


def _child(args: Sequence[str], env: Mapping[str, str], drop: Sequence[str], log: str) -> None:
    for name in drop:
        os.environ.pop(name, None)
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from spendscope.cli import main

    main(list(args), prog_name="spendscope")  # exits (SystemExit) with the command's code


def run(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    drop: Sequence[str] = (),
    timeout: float = 300,
) -> Result:
    """Run `spendscope <args>` in a forked child with `env` added (and `drop` removed); returns
    its exit code and output. The output goes through a file in the system's temporary
    directory, never beside the home (which may be on a full disk)."""
    with tempfile.TemporaryDirectory(prefix="spendscope-forked-") as tmp:
        log = Path(tmp) / "output"
        child = _CONTEXT.Process(target=_child, args=(list(args), dict(env), list(drop), str(log)))
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise TimeoutError(f"spendscope {' '.join(args)} did not finish in {timeout} s")
        output = log.read_text(errors="replace") if log.exists() else ""
    return Result(child.exitcode, output)
