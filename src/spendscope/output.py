"""Rendering rows for the CLI: an aligned table (default), `--json` or `--csv`, on stdout.

Values from upstream (workspace, key and user names, error texts) are untrusted, so each format
makes them harmless for its reader:

- **CSV** (`csv_cell`, `csv_text`; every CSV spendscope writes goes through them): a text cell
  that starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed is prefixed with
  `'`, so a spreadsheet shows it as text instead of running it as a formula. Genuine numbers
  (`-12.50`, `+3`, `1e-5`) are left alone.
- **Tables** (`clean`): control characters are removed — C0 (tabs and line breaks become a
  space), DEL, C1, whole ESC/CSI/OSC sequences (colours, cursor moves, terminal titles) and the
  bidirectional overrides that can make text display in another order than it reads.
- **JSON**: `json.dumps` escapes every control character (`\\u001b`), and non-ASCII text too.

JSON and CSV carry exact values (money as exact decimal text). Tables are for people: each
command says which columns hold money and which hold counts (`kinds`), and those cells are
written by `money` ("$1,234.57", "12,345"); a missing value shows as `money.MISSING`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from .money import MISSING, count, dollars

# What a table column holds, when its cells are formatted for people (tables only).
Kind = Literal["money", "count"]
MONEY: Kind = "money"
COUNT: Kind = "count"

# What a spreadsheet may read as the start of a formula (OWASP's list, plus a line feed).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# ESC sequences: CSI (ESC [ … final byte), OSC/DCS/SOS/PM/APC strings (ESC ] … BEL or ESC \),
# and two-character escapes; the same with 8-bit C1 introducers (0x9B CSI, 0x9D OSC, …).
_CONTROL_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
_SPACES = re.compile(r"[\t\n\r\v\f]")
# Remaining C0, DEL, C1, and the bidirectional embedding/override/isolate characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` safe to print on a terminal: no escape sequences or control characters."""
    text = _CONTROL_SEQUENCE.sub("", text)
    return _CONTROL.sub("", _SPACES.sub(" ", text))


def csv_cell(value: Any) -> Any:
    """One CSV cell, neutralised: text a spreadsheet could run as a formula gets a leading `'`.

    Numbers (int, float, Decimal) and text that is a genuine number pass unchanged; dates and
    decimals become their ISO / exact text; None becomes an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return str(value) if isinstance(value, Decimal) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A row of cells through `csv_cell`."""
    return [csv_cell(v) for v in values]


class _Lines:
    """A file for `csv.writer` that ends rows with `\\n`: the writer is given `\\r\\n`, so it
    quotes every cell holding a CR or LF (with `\\n` alone it leaves a bare CR unquoted, which
    splits the row in many readers), and each row's `\\r\\n` is turned into `\\n` here."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, row: str) -> int:
        self.parts.append(row[:-2] + "\n" if row.endswith("\r\n") else row)
        return len(row)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV document (header and rows, `\\n` line ends), every cell neutralised."""
    out = _Lines()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_row(columns))
    for r in rows:
        writer.writerow(csv_row(r))
    return "".join(out.parts)


def _text(value: Any, kind: Kind | None = None) -> str:
    if kind == MONEY:
        return dollars(value)
    if kind == COUNT:
        return count(value)
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return count(value)
    return clean(str(value))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str = "table",
    kinds: Mapping[str, Kind] | None = None,
) -> str:
    """`rows` as JSON, CSV (exact values) or an aligned table. In a table, the columns named in
    `kinds` are written as money ("$1,234.57") or counts ("12,345"), and right-aligned; other
    integers are counts too; a missing value is `MISSING`."""
    if fmt == "json":
        # ensure_ascii (the default) escapes every control character and all non-ASCII text.
        return json.dumps(
            [{c: r.get(c) for c in columns} for r in rows],
            default=_json_default,
            indent=2,
            ensure_ascii=True,
        )
    if fmt == "csv":
        return csv_text(columns, ([r.get(c) for c in columns] for r in rows)).rstrip("\n")
    kind_of = [(kinds or {}).get(c) for c in columns]
    cells = [[_text(r.get(c), kind_of[i]) for i, c in enumerate(columns)] for r in rows]
    heads = [clean(c) for c in columns]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    # Money, counts and other numbers align right; a column with no value at all does not.
    numeric = [
        kind_of[i] is not None
        or (any(r.get(c) is not None for r in rows) and all(_is_num(r.get(c)) for r in rows))
        for i, c in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(heads), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _is_num(v: Any) -> bool:
    return v is None or (isinstance(v, int | float | Decimal) and not isinstance(v, bool))
