"""What a setting's value may be: the parsers, and the annotated types the fields of `Settings`
(in `config`) are declared with.

Each type carries an `Accepts`: what it accepts, in the words of its error message and of the
generated reference. Values from the environment and the file may carry blanks around them:
each parser drops them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field


class Accepts(NamedTuple):
    """What a kind of setting accepts, in the words of its error message and of the reference."""

    text: str


class Refused(ValueError):
    """A value refused for a reason more precise than the setting's `Accepts` text."""


def parse_number(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would read true as 1
        raise ValueError("a boolean is not a number")
    return value.strip() if isinstance(value, str) else value


def parse_word(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def parse_text(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError("not a non-empty string")


def parse_url(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme in ("http", "https") and parts.netloc:
            return text.rstrip("/")
    raise ValueError("not an http(s) URL")


def parse_path(value: Any) -> Path:
    if isinstance(value, str | os.PathLike) and str(value).strip():
        return Path(str(value).strip()).expanduser()
    raise ValueError("not a path")


def parse_home(value: Any) -> Path:
    return parse_path(value).absolute()


def parse_iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError("not a date")


def or_none(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


_URL = Accepts("expected an http:// or https:// URL")
_TEXT = Accepts("expected a non-empty string")
_PATH = Accepts("expected a file system path")
_POSITIVE = Field(gt=0, allow_inf_nan=False)
Whole = Annotated[int, BeforeValidator(parse_number)]  # bounds: `ge` / `le` on the field
Number = Annotated[
    float, Accepts("expected a number > 0"), BeforeValidator(parse_number), _POSITIVE
]
Flag = Annotated[bool, Accepts("expected true or false"), BeforeValidator(parse_word)]
Url = Annotated[str, _URL, BeforeValidator(parse_url)]
OptionalUrl = Annotated[str | None, _URL, BeforeValidator(or_none(parse_url))]
Text = Annotated[str, _TEXT, BeforeValidator(parse_text)]
OptionalText = Annotated[str | None, _TEXT, BeforeValidator(or_none(parse_text))]
FilePath = Annotated[Path, _PATH, BeforeValidator(parse_path)]
HomePath = Annotated[Path, _PATH, BeforeValidator(parse_home)]
IsoDate = Annotated[
    date, Accepts("expected a date like 2026-01-01"), BeforeValidator(parse_iso_date)
]


def _percents(value: Any) -> tuple[Decimal, ...]:
    """Percents, comma-separated (or a list in settings.toml), each above 0 and at most 1000;
    sorted, each once."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("not a list of percents")
    found: set[Decimal] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float | Decimal):
            raise ValueError("not a percent")
        try:
            pct = Decimal(str(item).strip())
        except InvalidOperation:
            raise ValueError("not a percent") from None
        if not pct.is_finite() or not 0 < pct <= 1000:
            raise Refused("each percent must be above 0 and at most 1000")
        found.add(pct.quantize(Decimal(1)) if pct == pct.to_integral_value() else pct.normalize())
    return tuple(sorted(found))


_PERCENTS = Accepts("expected percents separated by commas, e.g. 80,100")
Percents = Annotated[tuple[Decimal, ...], _PERCENTS, BeforeValidator(_percents)]
