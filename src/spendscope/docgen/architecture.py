"""`docs/architecture.md`, generated from the import contracts in `pyproject.toml` and the
first line of each module's docstring: the map a newcomer reads first, which cannot drift from
the code because `lint-imports` checks the same contracts on every `make test`."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"

INTRO = """\
# Architecture

Generated from the import contracts in `pyproject.toml` and the modules' docstrings
(`python -m spendscope.docgen`); do not edit by hand.

spendscope is one Python package, `spendscope`, in layers. A module imports from the layers
below it, never from a layer above; siblings marked *independent* do not import each other.
`lint-imports` (run by `make lint` and so by `make test`) checks these contracts, and that no
import cycle exists between sibling modules anywhere in the package:
"""


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads(PYPROJECT.read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _summary(path: Path) -> str:
    """The first line of a module's (or a package's `__init__`) docstring."""
    source = path / "__init__.py" if path.is_dir() else path
    if not source.exists():
        return ""
    doc = ast.get_docstring(ast.parse(source.read_text()))
    if not doc:
        return ""
    first = doc.strip().split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines())


def _module_path(name: str) -> Path:
    package = PACKAGE / name
    return package if package.is_dir() else PACKAGE / f"{name}.py"


def _children(package: Path) -> list[Path]:
    if not package.is_dir():
        return []
    found = [
        p
        for p in sorted(package.iterdir())
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
        or (p.is_dir() and (p / "__init__.py").exists())
    ]
    return found


def architecture_markdown() -> str:
    contracts = _contracts()
    out = [INTRO]
    for contract in contracts:
        out.append(f"- **{contract['name']}** (`{contract['type']}`)")
    layers = next(c for c in contracts if c["type"] == "layers")
    declared: list[str] = list(layers["layers"])  # type: ignore[call-overload]
    ignored: list[str] = list(layers.get("exhaustive_ignores", []))  # type: ignore[call-overload]
    out += ["", "## The layers, top to bottom", ""]
    for number, layer in enumerate(declared, start=1):
        independent = "|" in layer
        names = [n.strip() for n in layer.replace("|", ":").split(":")]
        heading = f"### {number}. {', '.join(f'`{n}`' for n in names)}"
        if len(names) > 1:
            heading += " (independent)" if independent else " (may import each other)"
        out += [heading, ""]
        for name in names:
            path = _module_path(name)
            out.append(f"- `spendscope.{name}`: {_summary(path) or '—'}")
            for child in _children(path):
                out.append(f"  - `{child.stem}`: {_summary(child) or '—'}")
        out.append("")
    for name in ignored:
        path = _module_path(name)
        out += [
            f"## Outside the layers: `spendscope.{name}`",
            "",
            f"{_summary(path)} It imports nothing of the product, and only the CLI command "
            "that starts it, the demo, the tests and the benchmarks import it (both are "
            "contracts above).",
            "",
        ]
        for child in _children(path):
            out.append(f"- `{child.stem}`: {_summary(child) or '—'}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
