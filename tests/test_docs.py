"""The generated reference docs are current (regenerate with `python -m spendscope.docgen`)."""

from __future__ import annotations

from pathlib import Path

from spendscope.docgen import cli_markdown, schema_markdown
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
