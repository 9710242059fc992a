"""docs/configuration.md is generated from the settings' declarations and current; every setting
is in it, and each one, set to its documented example, really takes effect through the
environment and through settings.toml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spendscope.config import Settings, default_home, env_name, load_settings
from spendscope.docgen import GENERATED
from spendscope.docgen.configuration import (
    TOML_EXAMPLE,
    SettingDoc,
    configuration_markdown,
    env_text,
    setting_docs,
)
from spendscope.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
DOCS = setting_docs()


def toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string


def test_the_committed_reference_is_current() -> None:
    assert GENERATED["configuration.md"] is configuration_markdown
    assert DOC.read_text() == configuration_markdown()


def test_every_setting_is_documented() -> None:
    assert [d.name for d in DOCS] == list(Settings.model_fields)
    rows = {line.split(" | ")[0]: line for line in DOC.read_text().splitlines()}
    for doc in DOCS:
        assert doc.description, doc.name
        key = f"| `{doc.name}`" + ("" if doc.in_file else " (environment only)")
        assert key in rows, doc.name
        assert f"`{env_name(doc.name)}`" in rows[key]
        assert doc.description in rows[key]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_each_documented_example_takes_effect(tmp_path: Path, doc: SettingDoc) -> None:
    default = getattr(load_settings(home=tmp_path, env={}), doc.name)
    expected = getattr(Settings(**{"home": tmp_path, doc.name: doc.example}), doc.name)
    assert expected != default, "the example must differ from the default to prove anything"
    variable = {env_name(doc.name): env_text(doc.example)}
    if doc.name == "home":
        assert default_home(variable) == expected
    else:
        assert getattr(load_settings(home=tmp_path, env=variable), doc.name) == expected
    (tmp_path / "settings.toml").write_text(f"{doc.name} = {toml_literal(doc.example)}\n")
    if doc.in_file:
        assert getattr(load_settings(home=tmp_path, env={}), doc.name) == expected
    else:
        with pytest.raises(ConfigError, match=f"can't be set in .*; use {env_name(doc.name)}"):
            load_settings(home=tmp_path, env={})


def test_the_documented_settings_file_loads(tmp_path: Path) -> None:
    assert TOML_EXAMPLE in DOC.read_text().replace("\n   ", "\n")
    (tmp_path / "settings.toml").write_text(TOML_EXAMPLE)
    s = load_settings(home=tmp_path, env={})
    assert (s.refresh_hours, s.api_mode, s.overlap_precedence) == (3.0, "analytics", "enterprise")
    assert s.notify_webhook == "https://hooks.example.com/spendscope"
