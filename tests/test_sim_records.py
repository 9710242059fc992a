"""The simulator's record types: slotted dataclasses, so a misspelt field fails loudly."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from datetime import UTC, date, datetime
from typing import Any

import pytest

import spendscope.simulator
from spendscope.simulator.engagement_model import Connector, ConnectorUse
from spendscope.simulator.facts import Fact
from spendscope.simulator.world import Credential, User

DAY = date(2026, 11, 2)


def _fact(**extra: Any) -> Fact:
    return Fact(kind="tokens", org_id="org", day=DAY, idx=0, minute=61, **extra)


def test_misspelt_fact_field_raises() -> None:
    with pytest.raises(TypeError, match="uncahced"):
        _fact(uncahced=5)
    with pytest.raises(TypeError):
        Fact("tokens", "org", DAY, 0, 61)  # type: ignore[misc]  # keywords only
    f = _fact(uncached=5)
    with pytest.raises(AttributeError):
        f.ouptut = 3  # type: ignore[attr-defined]


def test_fact_defaults_and_copy() -> None:
    f = _fact(model="claude-sonnet-5", output=7)
    assert (f.uncached, f.requests, f.user_id, f.cost) == (0, 0, None, ())
    assert f.start == datetime(2026, 11, 2, 1, 1, tzinfo=UTC)
    assert f.total_tokens == 7
    g = f.copy()
    g.output = 9
    assert (f.output, g.output, g.model, g.minute) == (7, 9, "claude-sonnet-5", 61)


@pytest.mark.parametrize(
    ("record", "fields"),
    [
        (
            User,
            {
                "id": "user_01",
                "email": "a@b.example",
                "name": "A",
                "role": "user",
                "added_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
        ),
        (Credential, {"secret": "sk", "kind": "admin", "org_id": "o"}),
        (
            ConnectorUse,
            {
                "connector": Connector("c", None),
                "surface": "chat",
                "calls": 1,
                "units": 1,
                "auth": "none",
                "read": 1,
                "write": 0,
                "unclassified": 0,
            },
        ),
    ],
)
def test_misspelt_field_of_other_records_raises(record: Any, fields: dict[str, Any]) -> None:
    record(**fields)
    with pytest.raises(TypeError):
        record(**fields, scoeps=("x",))
    first = next(iter(fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record(**fields), first, fields[first])


def _simulator_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(spendscope.simulator.__path__):
        module = importlib.import_module(f"spendscope.simulator.{info.name}")
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__
        ]
    return found


def test_every_simulator_dataclass_is_slotted() -> None:
    records = [cls for cls in _simulator_classes() if dataclasses.is_dataclass(cls)]
    assert Fact in records
    assert len(records) > 25
    assert [cls.__qualname__ for cls in records if "__slots__" not in vars(cls)] == []
    named_tuples = [cls for cls in _simulator_classes() if issubclass(cls, tuple)]
    assert named_tuples == []
