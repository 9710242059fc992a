"""The generated reference docs are current (regenerate with `python -m spendscope.docgen`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spendscope.docgen import GENERATED, cli_markdown, schema_markdown
from spendscope.warehouse.schema import ALL_TABLES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_schema_reference_is_current() -> None:
    assert (DOCS / "schema.md").read_text() == schema_markdown()


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == cli_markdown()


def test_every_table_and_column_is_documented() -> None:
    text = (DOCS / "schema.md").read_text()
    for table in ALL_TABLES.values():
        assert f"`{table.name}`" in text
        assert table.doc
        for col in table.columns:
            assert f"`{col.name}`" in text


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_generated_doc_is_current(name: str) -> None:
    assert (DOCS / name).read_text() == GENERATED[name](), (
        f"run python -m spendscope.docgen ({name})"
    )


def test_the_architecture_lists_every_top_level_module() -> None:
    text = (DOCS / "architecture.md").read_text()
    package = Path(__file__).resolve().parents[1] / "src" / "spendscope"
    for path in package.iterdir():
        if path.name.startswith("_") or path.name == "py.typed":
            continue
        if path.suffix == ".py" or (path / "__init__.py").exists():
            assert f"`spendscope.{path.stem}`" in text, path.name
