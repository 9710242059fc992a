"""The API's one error envelope, `{"error": {"code", "message", "hint"}}`, and the HTTP status of
each kind of error, chosen by its exception class.

    400  InvalidInput, ConfigError, KeyCheckFailed, ConnectionStoreError, a body that is not JSON
    401  no token, or a wrong one (see app.py)
    403  a change (POST, DELETE) sent from another site's page (see app.py)
    404  NotFoundLocally (an unknown connection, ...)
    409  Conflict (a sync is running, a label is taken)
    422  a parameter or body field that does not fit the OpenAPI schema
    502  UpstreamError (the Anthropic API refused or could not be reached)
    503  WarehouseError, SecretError (the warehouse or the master key is unusable)
    500  anything unexpected (the trace goes to the log, never to the client)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..errors import (
    ConfigError,
    KeyCheckFailed,
    NotFoundLocally,
    SpendscopeError,
    UpstreamError,
    WarehouseError,
    redact,
)


class Conflict(SpendscopeError):
    """The request clashes with the current state (a sync is running, a label is taken): 409."""


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable, machine-readable code (e.g. `invalid`, `not_found`).")
    message: str = Field(description="What went wrong, in one sentence.")
    hint: str | None = Field(description="What to do about it, when there is something to do.")


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer of the API has this shape."""

    error: ErrorDetail


def envelope(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint}}


def _code(exc: SpendscopeError) -> str:
    from ..connections import ConnectionStoreError
    from ..secrets import SecretError

    if isinstance(exc, KeyCheckFailed):
        return exc.reason
    for klass, code in (
        (NotFoundLocally, "not_found"),
        (Conflict, "conflict"),
        (ConfigError, "invalid"),
        (ConnectionStoreError, "invalid"),
        (UpstreamError, "upstream"),
        (WarehouseError, "warehouse"),
        (SecretError, "master_key"),
    ):
        if isinstance(exc, klass):
            return code
    return "error"


def error_body(exc: Exception, code: str | None = None) -> dict[str, Any]:
    """The envelope for `exc`; its message and hint never carry a key."""
    if isinstance(exc, SpendscopeError):
        hint = exc.hint
        if hint is None and isinstance(exc, ConfigError):
            hint = "See /api/docs for the values each parameter accepts."
        return envelope(code or _code(exc), exc.message, hint)
    return envelope(code or "error", redact(str(exc)))


def status_for(exc: SpendscopeError) -> int:
    """The HTTP status of a SpendscopeError, by its class (never by its message)."""
    from ..secrets import SecretError

    if isinstance(exc, NotFoundLocally):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, UpstreamError):
        return 502
    if isinstance(exc, WarehouseError | SecretError):
        return 503
    return 400


# The error answers every API operation documents in the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "A value was refused, or the body is not JSON."},
    401: {"model": ErrorOut, "description": "A token is needed (dashboards beyond loopback)."},
    404: {"model": ErrorOut, "description": "No such connection (or path)."},
    422: {"model": ErrorOut, "description": "A parameter does not fit the schema."},
    503: {"model": ErrorOut, "description": "The warehouse or the master key is unusable."},
}
# ... and those only some operations can give.
CROSS_SITE: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorOut, "description": "A change sent from another site's page (`Origin`)."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "A sync is running, or the label is taken."}
}
UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorOut, "description": "The Anthropic API could not be reached."}
}
