"""Reference docs generated from the code, so they cannot drift.

Each module of this package renders one file of `docs/`; `python -m spendscope.docgen` rewrites
them all, and a test fails when a committed copy is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .api import api_markdown
from .architecture import architecture_markdown
from .cli import cli_markdown
from .configuration import configuration_markdown
from .schema import schema_markdown

ROOT = Path(__file__).resolve().parents[3]

# The generated files of docs/ and what renders each.
GENERATED: dict[str, Callable[[], str]] = {
    "schema.md": schema_markdown,
    "cli.md": cli_markdown,
    "configuration.md": configuration_markdown,
    "api.md": api_markdown,
    "architecture.md": architecture_markdown,
}


def write(root: Path = ROOT) -> list[Path]:
    docs = root / "docs"
    docs.mkdir(exist_ok=True)
    written = []
    for name, render in GENERATED.items():
        path = docs / name
        path.write_text(render())
        written.append(path)
    return written
