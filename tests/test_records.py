"""Every record type of the product is a slotted dataclass: a misspelt field is an error, never a
silently ignored keyword or a new attribute."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from datetime import date

import pytest

import spendscope
from spendscope.sources.base import Window
from spendscope.sync.reports import SyncRequest

SKIP = ("spendscope.simulator", "spendscope.__main__")


def product_dataclasses() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(spendscope.__path__, "spendscope."):
        if info.name.startswith(SKIP) or info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == info.name
            ):
                found.append(value)
    return found


def test_every_record_type_has_slots() -> None:
    records = product_dataclasses()
    assert len(records) > 25
    assert [r.__qualname__ for r in records if "__slots__" not in vars(r)] == []


def test_a_misspelt_field_is_an_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        SyncRequest(fulll=True)  # type: ignore[call-arg]
    request = SyncRequest()
    with pytest.raises(AttributeError):
        request.fulll = True  # type: ignore[attr-defined]
    window = Window(date(2026, 11, 1), date(2026, 11, 2))
    with pytest.raises((AttributeError, TypeError)):
        window.stat = date(2026, 11, 3)  # type: ignore[misc, attr-defined]
