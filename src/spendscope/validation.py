"""Checks for values users type: dates, limits and base URLs, shared by the CLI and the API.

Each check returns the cleaned value or raises `InvalidInput` with one line saying what is
accepted; the CLI prints it and exits non-zero, the API answers 400 with it.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from .errors import InvalidInput

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 1, 1)
MAX_LIMIT = 10_000


def check_date(value: date, name: str = "date") -> date:
    """A date inside the range spendscope reads and writes (2000-01-01 .. 2100-01-01)."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InvalidInput(
            f"{name} {value.isoformat()} is out of range: use a date from "
            f"{EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}."
        )
    return value


def parse_date(text: str, name: str = "date") -> date:
    """A YYYY-MM-DD date inside the accepted range."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{name} {text!r} is not a date: use YYYY-MM-DD.") from None
    return check_date(value, name)


def check_range(since: date | None, until: date | None) -> None:
    """`since` must come before `until` (until is exclusive)."""
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            f"since {since.isoformat()} is not before until {until.isoformat()}: "
            "until is exclusive, so it must be at least one day later."
        )


def check_limit(value: int, name: str = "limit", maximum: int = MAX_LIMIT) -> int:
    """A row limit from 1 to `maximum`."""
    if not 1 <= value <= maximum:
        raise InvalidInput(f"{name} must be between 1 and {maximum}, not {value}.")
    return value


def check_base_url(value: str, name: str = "base URL") -> str:
    """An http:// or https:// URL with a host, without its trailing slash."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in text)
        or parts.query
        or parts.fragment
    ):
        raise InvalidInput(
            f"{name} {value!r} is not usable: give an http:// or https:// URL with a host, "
            "such as https://api.anthropic.com."
        )
    del port
    return text.rstrip("/")
