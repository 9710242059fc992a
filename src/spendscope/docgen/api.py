"""`docs/api.md`, generated from the REST API's OpenAPI schema (the one /api/v1/openapi.json
serves): every endpoint with its parameters, body, answer fields (types and descriptions) and
error statuses, around the prose the schema cannot carry (access, conventions, errors)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2,}$"

INTRO = """\
`spendscope serve` answers under `/api/v1`, in JSON (one endpoint answers CSV). The OpenAPI
schema is at `/api/v1/openapi.json` and an interactive page at `/api/docs`. The dashboard's
pages use exactly these endpoints; the endpoints, the pages and `spendscope report` call the same
named queries.

Days are `YYYY-MM-DD` (UTC days); `until` is EXCLUSIVE everywhere. Times are ISO 8601 (RFC 3339),
in UTC, written with `Z`. Money is a decimal STRING in US dollars ("decimal text" below), exact,
with at least two decimals, e.g. `"1234.567891230"`; counts are JSON integers. A metric's value is
money text for a `usd` metric and an integer for a `count` metric. Errors: see [Errors](#errors),
always `{"error": {"code": "...", "message": "one line", "hint": "what to do"}}`. Every response
carries a `Server-Timing: app;dur=<ms>` header (time spent in the server).

Access: none needed when the dashboard is bound to loopback; otherwise send
`Authorization: Bearer <token>` (`SPENDSCOPE_SERVE_TOKEN`), or the cookie `spendscope_session`
that `POST /login` sets (an HMAC of the token, never the token itself; `POST /logout` clears it).
Pages redirect to `/login` when unauthenticated. While `serve` runs, CLI commands on the same
machine use the local token of `serve.json` (loopback only). Requests that change something
must come from the dashboard's own origin, and every request's `Host` must be one of the
dashboard's names (see [dashboard.md](dashboard.md#access)).
"""

DIMENSIONS = """\
| Name | What it is | Grain it reads |
|---|---|---|
| `connection` | The connection's label | any |
| `organization` | Organization id (a child's id on a parent Enterprise's rows) | any |
| `workspace` | Workspace id, labelled with its name (Console) | canonical |
| `api_key` | API key id, labelled with its name (Console) | canonical |
| `user` | User e-mail (Enterprise) | canonical |
| `product` | Product surface (Messages API, Claude Code, …) | alternate on Console |
| `model`, `token_type`, `cost_type` | As reported (`cost_type` for cost metrics only) | any |
| `service_tier`, `context_window` | As reported | canonical |
| `inference_geo`, `speed` | As reported | alternate |
| `provider` | "Anthropic (Console)" or "Anthropic (Enterprise)" | any |
| `billing_account` | The connection | any |
| `project` | Console: the workspace; Enterprise: the user | canonical |
| `service` | The product | alternate on Console |
| `sku` | product (or cost type) / model | canonical |
| `resource` | The model | any |

A question reads, for each connection kind, the grain holding every dimension it groups or
filters by; both grains carry the same money, so totals do not depend on the grouping. Values a
grain lacks come back as key `"__none__"`, label "(none)". With `pseudonymize_emails` on, user
e-mail addresses leave as stable pseudonyms, and a filter may name a pseudonym.
"""

ERRORS = """\
Every 4xx and 5xx answer has the same body, documented as `ErrorOut` in the OpenAPI schema:

```json
{"error": {"code": "invalid", "message": "until 0001-01-05 is out of range: use a date from \
2000-01-01 to 2100-01-01.", "hint": "See /api/docs for the values each parameter accepts."}}
```

`message` is one line saying what went wrong; `hint` says what to do, or is `null`; `code` is
stable for programs. The status depends on the kind of error (its exception class), never on its
wording:

{table}

So 422 means "the request does not match the OpenAPI schema" and 400 means "it matches, but
spendscope refuses the value" (or cannot read the body at all).
`POST /connections/{label}/test` answers 200 even when the key fails: `{"ok": false, "error":
{"code", "message", "hint"}}` (the same error object, not nested again).
"""

ERROR_STATUSES = [
    (
        "400",
        "A value spendscope refuses: a date that is not `YYYY-MM-DD` or lies outside 2000-01-01 "
        "… 2100-01-01, an empty or over-long range, an unknown metric or dimension, a malformed "
        "filter, a `base_url` that is not an `http(s)://` URL with a host, a bad label, a key "
        "that cannot be used (the connect-time diagnosis)",
        "`invalid`, or the key check's reason (`wrong_key_type`, `standard_key`, "
        "`key_rejected`, …)",
    ),
    (
        "400",
        "A body that is not JSON: the message names the parse error, e.g. `The request body is "
        "not valid JSON (Expecting value).`",
        "`invalid_json`",
    ),
    (
        "400",
        "A `Host` header that is not one of the dashboard's names (see "
        "[dashboard.md](dashboard.md#access)); nothing is read or changed",
        "`host_not_allowed`",
    ),
    (
        "401",
        "A token is needed (bound beyond loopback) and none, or a wrong or malformed one, was sent",
        "`unauthorized`",
    ),
    (
        "403",
        "A change (POST, DELETE) sent from another site's page (`Origin` check)",
        "`forbidden`",
    ),
    (
        "404",
        "An unknown connection label (`/connections/{label}/…`, `DELETE`, `POST /sync` with "
        "`connection`), or an unknown path",
        "`not_found`",
    ),
    (
        "409",
        "A sync is running (`POST /sync`, `DELETE`), or the label is taken (`POST /connections`)",
        "`conflict`",
    ),
    (
        "422",
        "A parameter or body field that does not fit the schema: a wrong type, a value outside "
        "an enumeration (`granularity=hour`), a bound (`limit=0`, `limit=101`), a missing field. "
        "The message names the field: `Invalid limit: Input should be greater than or equal to "
        "1.`",
        "`invalid`",
    ),
    ("502", "The Anthropic API could not be reached while connecting", "`upstream`"),
    ("503", "The warehouse or the master key cannot be used", "`warehouse`, `master_key`"),
    (
        "500",
        "An unexpected error: the trace goes to the server's log, never to the client",
        "`internal`",
    ),
]

TAIL = """\
## Interactive docs

`/api/docs` is Swagger UI, served from the installed `swagger-ui-bundle` package: it works
offline and loads nothing from another site. That Swagger UI (4.x) reads OpenAPI 3.0, so the page
reads `/api/docs/openapi.json`, the same schema written as 3.0; `/api/v1/openapi.json` is the
canonical OpenAPI 3.1 schema. A test fuzzes the API from that schema with schemathesis: no
endpoint answers 500, every answer matches its documented schema, and every error is the
envelope above.

## Pages (HTML; their data comes from the endpoints above)

/ (Overview), /explorer, /allocation, /connections, /claude-code, /engagement, /login,
/api/docs; `POST /logout` signs out. Static files: /static/app.js and its modules under
/static/js/, /static/app.css, /static/vendor/plotly.min.js (from the plotly Python package, no
CDN),
/static/vendor/swagger-ui/… (from swagger-ui-bundle).
"""


def openapi_schema() -> Schema:
    """The API's OpenAPI schema, from an app built over an empty home (nothing is opened)."""
    from ..config import load_settings
    from ..web.app import create_app

    with tempfile.TemporaryDirectory() as home:
        return create_app(load_settings(home=Path(home), env={})).openapi()


def api_markdown() -> str:
    from ..reporting import catalog

    spec = openapi_schema()
    out = [
        "# REST API",
        "",
        "Generated from the API's OpenAPI schema (`python -m spendscope.docgen`); do not edit by "
        "hand.",
        "",
        INTRO,
        "## Dimensions and metrics",
        "",
        "Dimensions: " + ", ".join(f"`{d}`" for d in catalog.DIMENSIONS) + ".",
        "",
        "Metrics: "
        + ", ".join(f"`{m.name}` ({m.unit})" for m in catalog.METRICS.values())
        + ". Granularities: "
        + ", ".join(f"`{g}`" for g in catalog.GRANULARITIES)
        + ".",
        "",
        DIMENSIONS,
    ]
    operations = list(_operations(spec))
    tags = list(dict.fromkeys(op["tags"][0] for _, _, op in operations))
    out += ["## Endpoints", ""]
    for tag in tags:
        out.append(
            f"- {tag}: " + ", ".join(_link(m, p) for m, p, op in operations if _tag(op) == tag)
        )
    out.append("")
    for tag in tags:
        out += [f"## {tag}", ""]
        for method, path, op in operations:
            if _tag(op) == tag:
                out += _operation(spec, method, path, op)
    table = ["| Status | When | `code` |", "|---|---|---|"]
    table += [_row(status, when, code) for status, when, code in ERROR_STATUSES]
    out += ["## Errors", "", ERRORS.replace("{table}", "\n".join(table)), TAIL]
    return "\n".join(out).rstrip() + "\n"


def _operations(spec: Schema) -> Any:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def _tag(op: Schema) -> str:
    return str(op["tags"][0])


def _heading(method: str, path: str) -> str:
    return f"{method} {path}"


def _anchor(method: str, path: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    text = _heading(method, path).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _link(method: str, path: str) -> str:
    return f"[`{_heading(method, path)}`](#{_anchor(method, path)})"


def _operation(spec: Schema, method: str, path: str, op: Schema) -> list[str]:
    out = [f"### {_heading(method, path)}", "", op.get("summary", "") + ".", ""]
    if op.get("description"):
        out += [op["description"], ""]
    params = op.get("parameters", [])
    if params:
        out += ["| Parameter | In | Type | Default | Description |", "|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            default = json.dumps(schema["default"]) if "default" in schema else ""
            required = " (required)" if p.get("required") else ""
            out.append(
                _row(
                    f"`{p['name']}`{required}",
                    p["in"],
                    _type(schema),
                    f"`{default}`" if default else "",
                    p.get("description", ""),
                )
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        for media, content in body["content"].items():
            schema = content["schema"]
            required = "required" if body.get("required") else "optional"
            out += [f"Body ({media}, {required}): {_type(schema)}.", ""]
            out += _fields(spec, schema, "(optional)")
    for status, answer in op["responses"].items():
        if not status.startswith("2"):
            continue
        for media, content in answer.get("content", {}).items():
            schema = content.get("schema", {})
            out += [f"Answer {status} ({media}): {_type(schema)}.", ""]
            out += _fields(spec, schema, "(absent when it does not apply)")
    errors = sorted(s for s in op["responses"] if not s.startswith("2"))
    out += [f"Errors: {', '.join(errors)} (see [Errors](#errors)).", ""]
    return out


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _resolve(spec: Schema, schema: Schema) -> tuple[str | None, Schema]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.rsplit("/", 1)[-1]
    return name, spec["components"]["schemas"][name]


def _type(schema: Schema) -> str:
    """A schema's type, for people: `date`, `decimal text`, `list of GroupOut`, ..."""
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return _one_of([f"`{json.dumps(v)}`" for v in schema["enum"]])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            shown = [_type(o) for o in schema[key] if o != {"type": "null"}]
            if len(shown) < len(schema[key]):
                shown.append("null")
            return _one_of(shown)
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            inner = _type(extra)
            return f"object of {f'({inner})' if ' or ' in inner else inner} by key"
        return "object"
    if kind == "string":
        if schema.get("pattern") == MONEY_PATTERN:
            return "decimal text"
        fmt = schema.get("format")
        return {"date": "date", "date-time": "date-time"}.get(fmt or "", "string")
    return str(kind) if kind else "any JSON"


def _one_of(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def _fields(spec: Schema, schema: Schema, optional: str) -> list[str]:
    """The fields of the model `schema` names (if any), nested ones with dotted paths; a field
    that may be left out is marked `optional`."""
    alternatives = [o for o in _unwrap(schema).get("anyOf", []) if "$ref" in o]
    if len(alternatives) > 1:  # one of several models: each one's fields
        out = []
        for alternative in alternatives:
            name, model = _resolve(spec, alternative)
            about = f": {model['description']}" if model.get("description") else ""
            out += [f"`{name}`{about}", "", *_fields(spec, alternative, optional)]
        return out
    rows = _field_rows(spec, schema, "", set(), optional)
    if not rows:
        return []
    return ["| Field | Type | Description |", "|---|---|---|", *rows, ""]


def _field_rows(
    spec: Schema, schema: Schema, prefix: str, seen: set[str], optional: str
) -> list[str]:
    name, model = _resolve(spec, _unwrap(schema))
    if name is None:
        return []
    if name in seen:
        return []
    properties: Schema = model.get("properties", {})
    required = set(model.get("required", []))
    rows = []
    for field, prop in properties.items():
        path = f"{prefix}{field}"
        inner_name, inner = _resolve(spec, _unwrap(prop))
        description = prop.get("description") or (inner.get("description") if inner_name else "")
        note = "" if field in required else f" {optional}"
        rows.append(_row(f"`{path}`", _type(prop), (description or "").strip() + note))
        nested = _nested(prop)
        if nested is not None:
            rows += _field_rows(spec, nested[1], f"{path}{nested[0]}.", seen | {name}, optional)
    return rows


def _unwrap(schema: Schema) -> Schema:
    """The schema without a `null` alternative."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1:
            return rest[0]  # type: ignore[no-any-return]
    return schema


def _nested(prop: Schema) -> tuple[str, Schema] | None:
    """(path suffix, schema) of the model a field holds: itself, in a list, or by name."""
    prop = _unwrap(prop)
    if "$ref" in prop:
        return "", prop
    if prop.get("type") == "array" and "$ref" in prop.get("items", {}):
        return "[]", prop["items"]
    extra = prop.get("additionalProperties")
    if isinstance(extra, dict) and "$ref" in extra:
        return ".<name>", extra
    return None
