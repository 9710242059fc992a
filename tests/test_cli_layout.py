"""The command line's layout: `spendscope.cli` attaches the commands; a command module imports
only what commands share (never the package or another command), so there is no import cycle;
and `spendscope --help` loads no heavy dependency."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click

from spendscope.cli import main

CLI = Path(__file__).resolve().parents[1] / "src" / "spendscope" / "cli"
COMMANDS = {
    "alerts",
    "anomalies",
    "allocation",
    "budgets",
    "connect",
    "connections",
    "demo",
    "forecast",
    "limits",
    "report",
    "serve",
    "simulate",
    "status",
    "sync",
}
SHARED = {"options", "reads", "dashboard", "progress", "remote"}
HEAVY = ("duckdb", "pyarrow", "pydantic", "httpx", "uvicorn", "fastapi", "cryptography")


def cli_imports(path: Path) -> set[str]:
    """The `spendscope.cli` modules `path` imports (relative imports within the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_each_command_has_its_module_and_the_package_attaches_them() -> None:
    assert set(main.commands) == COMMANDS
    for name, command in main.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"spendscope.cli.{name}", name
    assert isinstance(main.commands["connect"], click.Group)
    connections = main.commands["connections"]
    assert isinstance(connections, click.Group)
    assert set(connections.commands) == {"list", "test", "delete"}


def test_command_modules_import_only_shared_modules() -> None:
    modules = {p.stem: cli_imports(p) for p in CLI.glob("*.py") if p.stem != "__init__"}
    assert COMMANDS | SHARED | {"root"} == set(modules)
    for name, imported in modules.items():
        assert imported <= SHARED - {name}, (name, imported)
    # What the commands share imports no command, and options nothing of the package.
    assert modules["options"] == set()
    assert modules["remote"] == set()


def test_help_loads_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "from spendscope.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Usage: " in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "[]"
