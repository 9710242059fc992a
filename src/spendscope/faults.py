"""A deterministic fault hook for crash tests: exit hard at the k-th occurrence of a step.

The write path calls `step(name)` at each point where a crash matters (see `STEPS`). With
`SPENDSCOPE_FAULT=<step>:<k>` in the environment, the k-th call of that step ends the process at
once with `os._exit(FAULT_EXIT_CODE)`: no `finally` blocks, no DuckDB shutdown, no flush — what a
kill or a power cut leaves behind. With `SPENDSCOPE_FAULT_TRACE=<file>`, every step is appended to
the file as a line (`<step>`), so a test can count the steps of a run before choosing where to
stop the next one.

Without those variables, `step()` costs a dictionary lookup.
"""

from __future__ import annotations

import os
import threading

FAULT_ENV = "SPENDSCOPE_FAULT"
TRACE_ENV = "SPENDSCOPE_FAULT_TRACE"
FAULT_EXIT_CODE = 86

# The steps of the write path, in the order a window meets them.
STEPS = (
    "schema",  # tables created or migrated (before the checkpoint that follows)
    "window_load",  # a window's transaction is open, nothing written yet
    "window_rows",  # a window's rows are inserted, the transaction is still open
    "delete",  # each table's deletions of a window, inside its transaction
    "cursor",  # a window's sync_state row is written, inside its transaction
    "commit",  # just before a window's COMMIT
    "overlaps",  # the double-booking table recomputed (before its COMMIT)
    "view",  # each view created (before the checkpoint that follows)
    "mart",  # the marts rebuilt (before their COMMIT)
    "allocation",  # allocation_rows recomputed (before their COMMIT)
    "checkpoint",  # just before each CHECKPOINT
)

_lock = threading.Lock()
_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(FAULT_ENV, "").strip()
    if not spec:
        return None
    name, _, count = spec.rpartition(":")
    if name not in STEPS or not count.isdigit() or int(count) < 1:
        raise ValueError(
            f"{FAULT_ENV}={spec!r}: expected <step>:<k> with a step among {', '.join(STEPS)}"
        )
    return name, int(count)


def step(name: str) -> None:
    """Mark one occurrence of a write-path step (and exit hard if it is the chosen one)."""
    target = _target()
    trace = os.environ.get(TRACE_ENV)
    if target is None and not trace:
        return
    with _lock:
        n = _counts[name] = _counts.get(name, 0) + 1
        if trace:
            with open(trace, "a", encoding="utf-8") as fh:
                fh.write(name + "\n")
    if target is not None and target == (name, n):
        os._exit(FAULT_EXIT_CODE)
