"""Query-string parsing, validation errors and opaque cursors, shared by every endpoint family."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import orjson


class ApiError(Exception):
    """An error the simulator answers with the Anthropic error envelope (anthropic-api.md §1.5)."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


def invalid(message: str, error_code: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request_error", message, error_code)


def parse_datetime(value: str, name: str) -> datetime:
    """RFC 3339 with `Z` or an offset, fractional seconds tolerated; returns aware UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"{name}: '{value}' is not a valid RFC 3339 datetime") from None
    if dt.tzinfo is None:
        raise invalid(f"{name}: '{value}' must include a timezone offset") from None
    return dt.astimezone(UTC)


def parse_date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise invalid(f"{name}: '{value}' is not a valid date (YYYY-MM-DD)") from None


class Params:
    """Query parameters; arrays accepted as `name[]=a&name[]=b` or bare `name=a&name=b`."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in pairs:
            name = key[:-2] if key.endswith("[]") else key
            self._values.setdefault(name, []).append(value)

    def has(self, name: str) -> bool:
        return name in self._values

    def names(self) -> set[str]:
        return set(self._values)

    def one(self, name: str) -> str | None:
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise invalid(f"{name}: expected a single value, got {len(values)}")
        return values[0]

    def many(self, name: str, max_items: int = 100) -> list[str]:
        values = self._values.get(name, [])
        if len(values) > max_items:
            raise invalid(f"{name}: at most {max_items} values are allowed, got {len(values)}")
        return values

    def required(self, name: str) -> str:
        value = self.one(name)
        if value is None or value == "":
            raise invalid(f"{name}: field required")
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.one(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(f"{name}: '{raw}' is not an integer") from None
        if not lo <= value <= hi:
            raise invalid(f"{name}: must be between {lo} and {hi}, got {value}")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.one(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise invalid(f"{name}: '{raw}' is not a boolean (true or false)")

    def enum(self, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
        raw = self.one(name)
        if raw is None:
            return default
        allowed = tuple(allowed)
        if raw not in allowed:
            raise invalid(f"{name}: '{raw}' is not one of {', '.join(allowed)}")
        return raw

    def enums(self, name: str, allowed: Iterable[str], max_items: int = 100) -> list[str]:
        values = self.many(name, max_items)
        allowed = tuple(allowed)
        for v in values:
            if v not in allowed:
                raise invalid(f"{name}[]: '{v}' is not one of {', '.join(allowed)}")
        return values

    def datetime(self, name: str) -> datetime | None:
        raw = self.one(name)
        return None if raw is None or raw == "" else parse_datetime(raw, name)

    def date(self, name: str) -> date | None:
        raw = self.one(name)
        return None if raw is None or raw == "" else parse_date(raw, name)

    def signature(self, exclude: Iterable[str] = ("page", "limit")) -> str:
        """A digest of the query without the cursor, to bind cursors to the query."""
        skip = set(exclude)
        items = sorted((k, tuple(v)) for k, v in self._values.items() if k not in skip)
        return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def encode_cursor(payload: dict[str, Any], prefix: str = "page_") -> str:
    raw = base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")
    return prefix + raw


def decode_cursor(token: str, prefix: str = "page_") -> dict[str, Any]:
    body = token.removeprefix(prefix)
    try:
        data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise invalid("page: invalid cursor") from None
    if not isinstance(data, dict):
        raise invalid("page: invalid cursor")
    return data


def bound_cursor(params: Params, offset: int, **extra: Any) -> str:
    """A cursor for the row at `offset` of this exact query."""
    return encode_cursor({"o": offset, "q": params.signature(), **extra})


def read_bound_cursor(params: Params) -> tuple[int, dict[str, Any]]:
    """(offset, payload) of the `page` parameter; 400 if it belongs to another query."""
    token = params.one("page")
    if not token:
        return 0, {}
    data = decode_cursor(token)
    if data.get("q") != params.signature():
        raise invalid("cursor does not match current query parameters")
    offset = data.get("o")
    if not isinstance(offset, int) or offset < 0:
        raise invalid("page: invalid cursor")
    return offset, data


def iso(dt: datetime) -> str:
    """RFC 3339 UTC with a Z suffix and no fractional seconds (as report buckets show)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
