"""A running `spendscope serve --no-sync` for tests that check commands going through it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from conftest import NOW, free_port
from spendscope.cli.dashboard import READY_LINE
from spendscope.cli.remote import SERVE_FILE

MASTER_KEY = "test-master-key"


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a command on `home`: this process's, without SPENDSCOPE_ settings,
    plus the test master key and the clock at NOW."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    env.update(
        SPENDSCOPE_HOME=str(home), SPENDSCOPE_SECRET_KEY=MASTER_KEY, SPENDSCOPE_NOW=NOW.isoformat()
    )
    return env


class Serve:
    """`python -m spendscope serve --no-sync` on a free port, ready once it prints its ready
    line (after it listens and has written `serve.json`)."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**cli_env(home), **(extra_env or {})}

    def __enter__(self) -> Serve:
        cmd = [sys.executable, "-m", "spendscope", "serve", "--home", str(self.home)]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port), "--no-sync"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        said = []
        for line in self.proc.stderr:  # blocks until serve prints; the test's timeout bounds it
            said.append(line)
            if line.rstrip("\n") == READY_LINE:
                break
        else:
            raise AssertionError(f"serve exited before it was ready: {''.join(said)}")
        info = self.discovery()
        assert info is not None, "serve said it was ready without serve.json"
        r = httpx.get(
            f"{info['url']}/api/v1/sync",
            headers={"authorization": f"Bearer {info['token']}"},
            timeout=5,
        )
        assert r.status_code == 200
        return self

    def discovery(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.home / SERVE_FILE).read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.proc.stderr:
            self.proc.stderr.close()
