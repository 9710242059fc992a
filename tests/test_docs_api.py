"""docs/api.md is generated from the API's OpenAPI schema and current: every operation, each of
its parameters and every field of its answers is in it, with a description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spendscope.docgen import GENERATED
from spendscope.docgen.api import api_markdown, openapi_schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return openapi_schema()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items()]


def sections(text: str) -> dict[str, str]:
    """Each `### METHOD /path` heading's text."""
    out: dict[str, str] = {}
    for chunk in text.split("\n### ")[1:]:
        heading, _, body = chunk.partition("\n")
        out[heading] = body.split("\n## ")[0]
    return out


def test_the_committed_reference_is_current() -> None:
    assert GENERATED["api.md"] is api_markdown
    assert DOC.read_text() == api_markdown()


def test_every_api_route_is_in_the_schema_and_the_reference(spec: dict[str, Any]) -> None:
    import importlib
    import pkgutil

    from fastapi.routing import APIRoute

    import spendscope.web

    routers = [
        importlib.import_module(f"spendscope.web.{m.name}").router
        for m in pkgutil.iter_modules(spendscope.web.__path__)
        if m.name.startswith("api")
        and hasattr(importlib.import_module(f"spendscope.web.{m.name}"), "router")
    ]
    assert len(routers) >= 7
    routed = {
        (m, r.path)
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    }
    documented = {(m, p) for m, p, _ in operations(spec)}
    assert routed == documented
    assert len(documented) == 38
    text = sections(DOC.read_text())
    assert set(text) == {f"{m} {p}" for m, p in documented}
    for method, path, op in operations(spec):
        body = text[f"{method} {path}"]
        assert op["summary"] in body
        for p in op.get("parameters", []):
            assert f"| `{p['name']}`" in body, (path, p["name"])
        for status in op["responses"]:
            assert status in body, (path, status)


def fields(spec: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, property schema) of every field a response model holds, nested ones too."""
    components = spec["components"]["schemas"]
    options = [o for o in schema.get("anyOf", [schema]) if o != {"type": "null"}]
    out = []
    for option in options:
        if "$ref" not in option:
            continue
        model = components[option["$ref"].rsplit("/", 1)[-1]]
        for name, prop in model.get("properties", {}).items():
            out.append((f"{prefix}{name}", prop))
            inner = prop.get("anyOf", [prop])
            for o in inner:
                if "$ref" in o:
                    out += fields(spec, o, f"{prefix}{name}.")
                elif o.get("type") == "array" and "$ref" in o.get("items", {}):
                    out += fields(spec, o["items"], f"{prefix}{name}[].")
                elif isinstance(o.get("additionalProperties"), dict):
                    out += fields(spec, o["additionalProperties"], f"{prefix}{name}.<name>.")
    return out


def test_every_answer_field_is_described_and_in_the_reference(spec: dict[str, Any]) -> None:
    text = sections(DOC.read_text())
    components = spec["components"]["schemas"]
    seen = 0
    for method, path, op in operations(spec):
        body = text[f"{method} {path}"]
        for status, answer in op["responses"].items():
            if not status.startswith("2"):
                continue
            schema = answer["content"].get("application/json", {}).get("schema")
            if schema is None:
                continue
            for name, prop in fields(spec, schema):
                ref = prop.get("$ref", "").rsplit("/", 1)[-1]
                described = prop.get("description") or components.get(ref, {}).get("description")
                assert described, (path, name)
                assert f"| `{name}` |" in body, (path, name)
                seen += 1
    assert seen > 200
