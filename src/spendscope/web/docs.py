"""/api/docs: Swagger UI over the API's own OpenAPI schema, every asset from the installed
`swagger-ui-bundle` package (no CDN: the docs work offline, and no third-party script runs on
the dashboard's origin). The page has no inline script: its initializer is a same-origin file,
so it runs under the dashboard's Content-Security-Policy unchanged.

The bundled Swagger UI (4.x) reads OpenAPI 3.0 only, and the API's schema is OpenAPI 3.1
(/api/v1/openapi.json, the one clients and the fuzz test use); the page reads the same schema
written as 3.0 (/api/docs/openapi.json): `anyOf [X, null]` becomes `X` + `nullable`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

PAGES = Path(__file__).parent / "pages"
ASSETS_ROUTE = "/static/vendor/swagger-ui"


def swagger_ui_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(swagger_ui_path)


def openapi_30(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (OpenAPI 3.1, as FastAPI writes it) as OpenAPI 3.0 for Swagger UI 4."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        node = {k: convert(v) for k, v in node.items()}
        options = node.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del node["anyOf"]
            node["nullable"] = True
            if len(rest) == 1 and "$ref" in rest[0]:
                node["allOf"] = rest
            elif len(rest) == 1:
                node = {**rest[0], **node}
            else:
                node["anyOf"] = rest
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if isinstance(node.get("examples"), list) and "type" in node:
            examples = node.pop("examples")
            if examples:
                node["example"] = examples[0]
        return node

    converted: dict[str, Any] = convert(copy.deepcopy(schema))
    converted["openapi"] = "3.0.3"
    return converted


def add_docs_routes(app: FastAPI, not_found: Callable[[], Response]) -> None:
    """GET /api/docs (the page), /api/docs/init.js (its initializer), /api/docs/openapi.json
    (the schema as OpenAPI 3.0) and the Swagger UI files under /static/vendor/swagger-ui/."""

    @app.get("/api/docs", include_in_schema=False)
    def docs_page() -> Response:
        return HTMLResponse((PAGES / "api_docs.html").read_text(encoding="utf-8"))

    @app.get("/api/docs/openapi.json", include_in_schema=False)
    def docs_schema() -> Response:
        return JSONResponse(openapi_30(app.openapi()))

    @app.get("/api/docs/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return FileResponse(PAGES / "api_docs.js", media_type="text/javascript")

    @app.get(ASSETS_ROUTE + "/{name}", include_in_schema=False)
    def swagger_asset(name: str) -> Response:
        base = swagger_ui_dir()
        target = base / name
        if "/" in name or name.startswith(".") or not target.is_file():
            return not_found()
        media = "text/javascript" if name.endswith(".js") else None
        return FileResponse(
            target, media_type=media, headers={"cache-control": "public, max-age=86400"}
        )
