"""`spendscope <args>` in a real child process, without paying Python's start-up each time.

A fork server (multiprocessing's `forkserver`) imports the product once; each run forks a fresh
child from it, so the child is a separate process exactly like `python -m spendscope` — its own
environment, its own DuckDB, its own exit code, killed for real by `os._exit` — minus the second
or so of imports (and of compiling them, where no bytecode is cached). The fork server itself is
a clean single-threaded process, so forking it is safe (forking the test process, with its
simulator and server threads, would not be).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import spendscope

# The product's modules (all but the dashboard, the simulator and the doc generator, which no
# child run here needs), imported once by the fork server: the CLI's commands import most of
# them lazily, inside the command, and a child then finds them imported.
_SKIPPED = {"web", "simulator", "docgen"}


def _product_modules() -> list[str]:
    root = Path(spendscope.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in _SKIPPED or parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("spendscope", *parts)))
    return names


PRELOAD = [*_product_modules(), "duckdb", "pyarrow", "pyarrow.compute", "httpx", "httpcore"]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr, interleaved as written


def _child(
    args: Sequence[str],
    env: Mapping[str, str],
    drop: Sequence[str],
    out: str,
    err: str,
    stdin: str | None,
) -> None:
    for name in drop:
        os.environ.pop(name, None)
    os.environ.update(env)
    # One file for both (one offset: interleaved as written), or one each.
    outputs = [((1, 2), out)] if out == err else [((1,), out), ((2,), err)]
    for targets, path in outputs:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for target in targets:
            os.dup2(fd, target)
        os.close(fd)
    if stdin is not None:
        fd = os.open(stdin, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (the child's stdin)
    sys.argv = ["spendscope", *args]  # what the command line was (the error log records it)
    from spendscope.cli import main

    main(list(args), prog_name="spendscope")  # exits (SystemExit) with the command's code


def _start(
    args: Sequence[str],
    env: Mapping[str, str],
    drop: Sequence[str],
    files: tuple[Path, Path],
    stdin: str | None,
    timeout: float,
) -> int:
    tmp = files[0].parent
    fed = None
    if stdin is not None:
        fed = tmp / "stdin"
        fed.write_text(stdin)
    child = _CONTEXT.Process(
        target=_child,
        args=(list(args), dict(env), list(drop), str(files[0]), str(files[1]), fed and str(fed)),
    )
    child.start()
    child.join(timeout)
    if child.exitcode is None:
        child.kill()
        child.join()
        raise TimeoutError(f"spendscope {' '.join(args)} did not finish in {timeout} s")
    return child.exitcode


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


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
        code = _start(args, env, drop, (log, log), None, timeout)
        return Result(code, _read(log))


def cli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    drop: Sequence[str] = (),
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Like `run`, with stdout and stderr apart (what `subprocess.run(..., capture_output=True,
    text=True)` gives) and `stdin` fed to the command."""
    with tempfile.TemporaryDirectory(prefix="spendscope-forked-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        code = _start(args, env, drop, (out, err), stdin, timeout)
        return subprocess.CompletedProcess(["spendscope", *args], code, _read(out), _read(err))
