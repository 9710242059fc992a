"""A full disk: one line naming the directory and the space needed, a non-zero exit, a warehouse
that still opens, and an exact sync once there is room again.

SPENDSCOPE_HOME is a small tmpfs mounted by the test (skipped where mounting is not permitted),
filled with a file until only a little space is left; after the failed sync it is remounted
bigger and synced again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import forked
from conftest import Api, connect, make_settings
from spendscope.simulator.server import RunningSimulator
from test_crash import SETTINGS, _spendscope, assert_exact

pytestmark = pytest.mark.slow


@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(home)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        pytest.skip(f"cannot run mount: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def _fill(home: Path, leave: int) -> None:
    """Fill the file system until `leave` bytes are free."""
    free = shutil.disk_usage(home).free
    with open(home / "filler", "ab") as fh:
        fh.write(b"\0" * max(0, free - leave))


def _assert_one_disk_line(home: Path, result: forked.Result) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert re.search(
        rf"No space left on device in {re.escape(str(home))}: the warehouse needs about "
        r"[\d,]+ MB free there",
        errors[0],
    ), errors[0]


@pytest.mark.parametrize("when", ["first sync", "refresh"])
def test_a_full_disk_is_one_line_and_the_next_sync_is_exact(
    simulator: RunningSimulator, api: Api, small_home: Path, when: str
) -> None:
    home = small_home
    (home / "settings.toml").write_text(SETTINGS)
    connect(make_settings(home), api, simulator.url, which="console")
    if when == "refresh":
        subprocess.run(["mount", "-o", "remount,size=64m", str(home)], check=True)
        assert _spendscope(home, "sync").returncode == 0
        _fill(home, leave=64 * 1024)
    else:
        _fill(home, leave=1024 * 1024)

    failed = _spendscope(home, "sync")
    _assert_one_disk_line(home, failed)
    # The warehouse still opens (the disk still full).
    status = _spendscope(home, "status")
    assert status.returncode == 0, status.output
    assert "acme-console" in status.output

    subprocess.run(["mount", "-o", "remount,size=128m", str(home)], check=True)
    done = _spendscope(home, "sync")
    assert done.returncode == 0, done.output
    assert_exact(api, home)
