"""The views' column docs (`VIEW_DOCS`, written by hand for docs/schema.md) name exactly the
views and the columns, in order and with their types, that a real warehouse has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_settings
from spendscope.docgen.schema import VIEW_DOCS
from spendscope.refresh import initialize
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import DATASET

# DuckDB's DESCRIBE spells TIMESTAMPTZ out; the docs use the short name.
SYNONYMS = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = Warehouse(make_settings(Path(tmp_path_factory.mktemp("views"))))
    initialize(wh)
    try:
        yield wh
    finally:
        wh.close()


def columns(wh: Warehouse, view: str) -> list[tuple[str, str]]:
    return [(r[0], SYNONYMS.get(r[1], r[1])) for r in wh.read(f"DESCRIBE {DATASET}.{view}")]


@pytest.mark.parametrize("view", sorted(VIEW_DOCS))
def test_documented_columns_are_the_real_ones(warehouse: Warehouse, view: str) -> None:
    documented = [(name, kind) for name, kind, _ in VIEW_DOCS[view]]
    assert documented == columns(warehouse, view)
    assert all(meaning.strip() for _, _, meaning in VIEW_DOCS[view])


def test_every_view_is_documented(warehouse: Warehouse) -> None:
    views = warehouse.read(
        "SELECT view_name FROM duckdb_views() WHERE schema_name = ? AND NOT internal", DATASET
    )
    assert {r[0] for r in views} == set(VIEW_DOCS)
