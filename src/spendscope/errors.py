"""The exception tree shared by every part of spendscope.

Every error carries a `message` (what went wrong) and an optional `hint` (what to do about it);
the CLI prints `error: <message>` and the hint, then exits non-zero. Messages and hints are passed
through `redact()`, so a key can never appear in them, in `str()` or in `repr()`. `Secret` holds
a key so that its holder's `repr` shows only `mask_key(key)`.

    SpendscopeError
    ├── ConfigError              bad settings or arguments
    │   └── InvalidInput         a value given on the command line or to the API is out of bounds
    ├── NotFoundLocally          a connection (or other named thing) that does not exist here
    ├── KeyCheckFailed           a key tested at connect time is not usable (`.reason`)
    └── UpstreamError            the Anthropic API answered with an error, or could not be reached
        ├── InvalidRequest       400 (and other unlisted 4xx)
        ├── AuthenticationFailed 401
        ├── PermissionDenied     403 (`.needed_scopes`)
        ├── NotFound             404
        ├── RateLimited          429, retries exhausted (`.retry_after`)
        ├── ServerError          5xx / 529 / 408 / 409, retries exhausted
        ├── MalformedResponse    200 whose body is not JSON, or not the expected shape
        └── TransportFailure     connection errors / timeouts, retries exhausted
"""

from __future__ import annotations

import re

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "InvalidInput",
    "InvalidRequest",
    "KeyCheckFailed",
    "MalformedResponse",
    "NotFound",
    "NotFoundLocally",
    "PermissionDenied",
    "RateLimited",
    "Secret",
    "ServerError",
    "SpendscopeError",
    "TransportFailure",
    "UpstreamError",
    "WarehouseError",
    "mask_key",
    "parse_needed_scopes",
    "redact",
]

# Anthropic secrets: sk-ant-<kind><2 digits>-<secret>. Anything of that shape is masked.
_KEY_RE = re.compile(r"sk-ant-[a-z]+\d*-[A-Za-z0-9_\-]+")
_NEEDED_RE = re.compile(r"Needed one of:\s*\[([^\]]*)\]")


def mask_key(key: str) -> str:
    """A hint that identifies a key without revealing it: `sk-ant-admin01-…x9AA`."""
    key = key.strip()
    m = re.match(r"(sk-ant-[a-z]+\d*-)", key)
    prefix = m.group(1) if m else ""
    tail = key[-4:] if len(key) - len(prefix) >= 12 else ""
    return f"{prefix}…{tail}"


def redact(text: str) -> str:
    """`text` with every Anthropic key replaced by its masked hint."""
    return _KEY_RE.sub(lambda m: mask_key(m.group(0)), text)


class Secret:
    """A key held so that printing, logging or inspecting its holder never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({mask_key(self._value)!r})"

    __str__ = __repr__


class SpendscopeError(Exception):
    """Base of every error spendscope raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(SpendscopeError):
    """Invalid configuration or arguments."""


class InvalidInput(ConfigError):
    """A value given on the command line or to the API is malformed or out of bounds (HTTP 400)."""


class NotFoundLocally(SpendscopeError):
    """Something named by the user (a connection label, ...) does not exist here (HTTP 404)."""


class WarehouseError(SpendscopeError):
    """The warehouse could not be written or read (disk full, file locked, ...)."""


class KeyCheckFailed(SpendscopeError):
    """A key tested before it is saved cannot be used for this kind of connection.

    `reason` is a stable code for programs (health log, web UI): `wrong_key_type`,
    `standard_key`, `not_enterprise`, `analytics_not_enabled`, `key_rejected`, `missing_scope`,
    `unexpected`.
    """

    def __init__(self, reason: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.reason = reason


class UpstreamError(SpendscopeError):
    """The Anthropic API answered with an error (or could not be reached)."""

    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        upstream_message: str | None = None,
        request_id: str | None = None,
        error_code: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.upstream_message = redact(upstream_message) if upstream_message else None
        self.request_id = request_id
        self.error_code = error_code
        self.path = path
        super().__init__(message, hint if hint is not None else self._hint())

    def _hint(self) -> str | None:
        return self.default_hint

    @staticmethod
    def from_response(
        status: int,
        *,
        error_type: str | None,
        upstream_message: str | None,
        request_id: str | None,
        error_code: str | None,
        path: str,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> UpstreamError:
        """The error for an HTTP error response, with a message naming the endpoint, the
        status, the API's own text and the request id."""
        detail = f"{status} {error_type}" if error_type else str(status)
        text = f"Anthropic API {detail} on GET {path}"
        if upstream_message:
            text += f": {upstream_message}"
        if attempts > 1:
            text += f" (after {attempts} attempts)"
        if request_id:
            text += f" [request {request_id}]"
        klass: type[UpstreamError]
        if status == 401:
            klass = AuthenticationFailed
        elif status == 403:
            klass = PermissionDenied
        elif status == 404:
            klass = NotFound
        elif status == 429:
            klass = RateLimited
        elif status >= 500 or status in (408, 409):
            klass = ServerError
        elif 400 <= status < 500:
            klass = InvalidRequest
        else:
            klass = UpstreamError
        err = klass(
            text,
            status=status,
            error_type=error_type,
            upstream_message=upstream_message,
            request_id=request_id,
            error_code=error_code,
            path=path,
        )
        if isinstance(err, RateLimited):
            err.retry_after = retry_after
        return err


class InvalidRequest(UpstreamError):
    """400: the API refused the parameters (range too long, date too recent, bad cursor...)."""

    default_hint = (
        "The request was refused as invalid; this is not transient. Check the date range and "
        "parameters, or report it if spendscope built the request."
    )


class AuthenticationFailed(UpstreamError):
    """401: the key is missing, mistyped, revoked or expired."""

    default_hint = (
        "The key was rejected: it may be revoked, expired or mistyped. Create a new key and "
        "update the connection."
    )


class PermissionDenied(UpstreamError):
    """403: the key is valid but lacks a permission or scope (`needed_scopes`, parsed from
    the API's `Needed one of: [...]`)."""

    @property
    def needed_scopes(self) -> list[str]:
        return parse_needed_scopes(self.upstream_message or "")

    @property
    def scope(self) -> str | None:
        """The (first) scope the API said is needed, if it said."""
        scopes = self.needed_scopes
        return scopes[0] if scopes else None

    def _hint(self) -> str | None:
        scopes = self.needed_scopes
        if scopes:
            return (
                f"The key lacks the scope {' or '.join(scopes)}. Scopes cannot be added to an "
                "existing key: create a new key with that scope."
            )
        return "The key lacks the permission for this endpoint."


class NotFound(UpstreamError):
    """404: unknown path or object, or (Enterprise) the analytics API is not enabled."""

    default_hint = (
        "The API reported the resource as not found. On the Claude Enterprise analytics API "
        "this usually means analytics API access is not enabled for the organization."
    )


class RateLimited(UpstreamError):
    """429 after every retry: the organization's rate limit stayed exhausted. `retry_after`
    is the server's last `retry-after`, in seconds, when it sent one."""

    retry_after: float | None = None
    default_hint = (
        "The organization's rate limit stayed exhausted. Run fewer syncs at once or lower "
        "the requests-per-minute setting of this connection."
    )


class ServerError(UpstreamError):
    """5xx / 529 (or 408 / 409) after every retry: Anthropic's side is failing or overloaded."""

    default_hint = "Anthropic's API is failing or overloaded; try again later."


class MalformedResponse(UpstreamError):
    """A 200 whose body is not JSON, or JSON not shaped as the endpoint documents."""

    default_hint = (
        "The API returned an unreadable or unexpected response; try again later. If it "
        "persists, report it with the request id."
    )


class TransportFailure(UpstreamError):
    """The API could not be reached or the connection failed, after every retry."""

    default_hint = "Check the network connection, proxy settings and the base URL; then retry."


def parse_needed_scopes(text: str) -> list[str]:
    """Scopes named in a 403 message such as
    `Missing required scopes. Got: [...] Needed one of: ['read:analytics']`."""
    m = _NEEDED_RE.search(text or "")
    if not m:
        return []
    items = (part.strip().strip("'\"").strip() for part in m.group(1).split(","))
    return [item for item in items if item]
