"""Reading the API's values, and the checked conversion of rows to Arrow.

The API sends numbers in more than one form, and now and then a value nothing can store. The
rules, applied by every feed (docs/sync.md, "Values and quarantine"):

- **Counters** (int64 columns): JSON integers, JSON floats with an integral value (`12.0`) and
  decimal strings of an integer (`"12"`), read exactly, never through float. A missing or null
  counter is 0; a nullable one (`requests`) stays null. A counter outside int64 (beyond 2^63),
  a fraction (`12.5`), a boolean or text is unrepresentable.
- **Money** (`*_cents`, DECIMAL(38, 9) cents): decimal strings of any length read exactly;
  JSON integers exactly; JSON floats (the API's estimates, e.g. Claude Code's
  `estimated_cost.amount`) through their shortest text form, `Decimal(repr(x))`, so `123.71`
  stays `123.71` and `27.123499999999996` stays what was sent. Every amount is then rounded
  once, to the column's scale (9 decimals of a cent) with ROUND_HALF_EVEN. An amount beyond
  ±(2^63 - 1) × 10^-9 cents (about 92 million dollars: the most one row holds, as the marts
  add money up in 64-bit integers of 10^-9 cent), not finite, or not a number is
  unrepresentable.
- **Text** columns take strings as they come (empty, long, any Unicode, control characters);
  anything else (a number where a name is expected) is unrepresentable, as is a string that is
  not valid Unicode (a lone surrogate).
- **Key enums**: the columns that decide a row's identity (the analytics actor's type, the
  Claude Code actor's type) take only the documented values; other dimensions (product, model,
  service tier, cost type...) are open vocabularies stored as sent.

A value that breaks a rule raises `Unrepresentable`; the feed quarantines the row (the
`rejected_rows` table) and loads the rest. `checked_arrow` is the last guard before loading:
it converts rows to an Arrow table of their table's schema and sets aside any row that still
cannot be represented instead of failing the window.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..warehouse.tables import Column, Table
from .base import parse_ts

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MONEY_MAX_CENTS",
    "MONEY_ROUNDING",
    "MONEY_SCALE",
    "Unrepresentable",
    "boolean",
    "bucket_bound",
    "checked_arrow",
    "choice",
    "count",
    "integer",
    "money",
    "raw_json",
    "text",
    "timestamp",
    "to_column",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MONEY_SCALE = 9  # decimals of a cent kept by the MONEY columns
MONEY_PRECISION = 38
MONEY_ROUNDING = ROUND_HALF_EVEN
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
# The largest amount one row holds: the marts add money up exactly as 64-bit integers of
# 1e-9 cent, so 2^63 - 1 of those (about 92 million dollars).
MONEY_MAX_CENTS = Decimal(2**63 - 1).scaleb(-MONEY_SCALE)
# A decimal number as text: sign, digits, an optional fraction and exponent (no spaces, no
# underscores, no `NaN` or `Infinity`, which `Decimal()` alone would take).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Enough digits for any DECIMAL(38, 9) value (the default context keeps only 28).
_CONTEXT = Context(prec=MONEY_PRECISION + 2)


class Unrepresentable(ValueError):
    """A value (and so its row) that no column can hold; `reason` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(name: str, value: Any, why: str) -> Unrepresentable:
    return Unrepresentable(f"{name} = {_show(value)} {why}")


def integer(value: Any, name: str) -> int | None:
    """A counter as an exact int64 (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(name, value, "is a boolean, not a number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(name, value, "is not a finite number")
        if not value.is_integer():
            raise _bad(name, value, "is not a whole number")
        number = int(value)
    elif isinstance(value, Decimal | str):
        amount = _decimal(value, name)
        if amount != amount.to_integral_value():
            raise _bad(name, value, "is not a whole number")
        if amount.adjusted() > 20:
            raise _bad(name, value, "is out of the int64 range")
        number = int(amount)
    else:
        raise _bad(name, value, "is not a number")
    if not INT64_MIN <= number <= INT64_MAX:
        raise _bad(name, value, "is out of the int64 range")
    return number


def count(value: Any, name: str) -> int:
    """A counter the API may leave out: missing or null is 0."""
    return integer(value, name) or 0


def _decimal(value: Decimal | str, name: str) -> Decimal:
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise _bad(name, value, "is not a decimal number")
        try:
            value = Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
            raise _bad(name, value, "is not a decimal number") from exc
    if not value.is_finite():
        raise _bad(name, value, "is not a finite number")
    return value


def money(value: Any, name: str, *, required: bool = False) -> Decimal | None:
    """An amount of cents, rounded once to the MONEY scale (ROUND_HALF_EVEN). `required`: a
    missing (null or absent) amount is unrepresentable instead of null."""
    if value is None:
        if required:
            raise Unrepresentable(f"{name} is missing")
        return None
    if isinstance(value, bool):
        raise _bad(name, value, "is a boolean, not an amount")
    if isinstance(value, int):
        if abs(value) >= 10 ** (MONEY_PRECISION - MONEY_SCALE):
            raise _bad(name, value, "does not fit DECIMAL(38, 9)")
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(name, value, "is not a finite number")
        amount = Decimal(repr(value))
    elif isinstance(value, Decimal | str):
        amount = _decimal(value, name)
    else:
        raise _bad(name, value, "is not an amount")
    return _fit(amount, name, value)


def _fit(amount: Decimal, name: str, shown: Any) -> Decimal:
    """`amount` rounded to the MONEY scale; unrepresentable beyond what one row may hold."""
    if amount.adjusted() >= MONEY_PRECISION - MONEY_SCALE:
        raise _bad(name, shown, "does not fit DECIMAL(38, 9)")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MONEY_SCALE:
        amount = amount.quantize(_QUANTUM, rounding=MONEY_ROUNDING, context=_CONTEXT)
    if abs(amount) > MONEY_MAX_CENTS:
        raise _bad(name, shown, f"is beyond ±{MONEY_MAX_CENTS} cents, the most one row holds")
    return amount


def _valid_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(value: Any, name: str) -> str | None:
    """A string as sent (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(name, value, "is not text")
    if not _valid_text(value):
        raise _bad(name, value, "is not valid Unicode")
    return value


def boolean(value: Any, name: str) -> bool | None:
    """`true`/`false` (None stays None)."""
    if value is None or isinstance(value, bool):
        return value
    raise _bad(name, value, "is not a boolean")


def choice(value: Any, allowed: Iterable[str], name: str) -> str | None:
    """One of the documented values of a key column (None stays None)."""
    word = text(value, name)
    if word is not None and word not in allowed:
        raise _bad(name, value, f"is not one of {', '.join(sorted(allowed))}")
    return word


def timestamp(value: Any, name: str, *, required: bool = False) -> datetime | None:
    """RFC 3339 or YYYY-MM-DD as an aware UTC datetime."""
    if value is None or value == "":
        if required:
            raise Unrepresentable(f"{name} is missing")
        return None
    if not isinstance(value, str) or not _valid_text(value):
        raise _bad(name, value, "is not a timestamp")
    try:
        stamp = parse_ts(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _bad(name, value, "is not a timestamp") from exc
    if stamp is None:  # pragma: no cover - parse_ts returns None only for empty values
        raise Unrepresentable(f"{name} is missing")
    return stamp


def bucket_bound(value: Any, name: str) -> datetime:
    """A required timestamp (a bucket's start or end)."""
    stamp = timestamp(value, name, required=True)
    if stamp is None:  # pragma: no cover - `required` raises first
        raise Unrepresentable(f"{name} is missing")
    return stamp


def to_column(column: Column, value: Any, name: str | None = None) -> Any:
    """An API value as `column`'s type, by the rules above (lists and maps become JSON text
    in a text column)."""
    label = name or column.name
    kind = column.type
    if value is None:
        return None
    if pa.types.is_integer(kind):
        return integer(value, label)
    if pa.types.is_decimal(kind):
        return money(value, label)
    if pa.types.is_floating(kind):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise _bad(label, value, "is not a number")
        try:
            number = float(value)
        except (ValueError, OverflowError) as exc:
            raise _bad(label, value, "is not a number") from exc
        if not math.isfinite(number):
            raise _bad(label, value, "is not a finite number")
        return number
    if pa.types.is_boolean(kind):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(label, value, "is not a boolean")
    if pa.types.is_timestamp(kind):
        return timestamp(value, label)
    if pa.types.is_date(kind):
        stamp = timestamp(value, label)
        return None if stamp is None else stamp.date()
    if isinstance(value, dict | list):
        return raw_json(value)
    if isinstance(value, bool | int | float):
        raise _bad(label, value, "is not text")
    return text(value, label)


def raw_json(value: Any) -> str:
    """A value as compact JSON text (keys sorted), whatever it holds: what `rejected_rows`
    keeps of a row the API sent."""
    try:
        out = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
        )
        out.encode("utf-8")
    except (TypeError, ValueError):  # lone surrogates, keys of mixed types
        out = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
    return out


# -- the checked conversion -------------------------------------------------------------------


def _fast_check(column: Column) -> Callable[[Any], bool]:
    """A test that a value is already of the column's Arrow type and within its range."""
    kind = column.type
    if pa.types.is_integer(kind):
        return lambda v: type(v) is int and INT64_MIN <= v <= INT64_MAX
    if pa.types.is_decimal(kind):

        def fits(v: Any) -> bool:
            if type(v) is not Decimal or not v.is_finite():
                return False
            exponent = v.as_tuple().exponent
            return (
                isinstance(exponent, int) and exponent >= -MONEY_SCALE and abs(v) <= MONEY_MAX_CENTS
            )

        return fits
    if pa.types.is_string(kind):
        return lambda v: type(v) is str
    if pa.types.is_boolean(kind):
        return lambda v: type(v) is bool
    if pa.types.is_timestamp(kind):
        return lambda v: isinstance(v, datetime)
    if pa.types.is_date(kind):
        return lambda v: isinstance(v, date) and not isinstance(v, datetime)
    if pa.types.is_floating(kind):
        return lambda v: type(v) is float
    return lambda v: True


def _plain_types(column: Column) -> frozenset[type]:
    """Python types Arrow converts to the column's type without loss, or else refuses with an
    error (never silently: a float in an integer column would be truncated, so it is not
    here). A column holding only these needs no check value by value."""
    kind = column.type
    none = type(None)
    if pa.types.is_integer(kind):
        return frozenset({int, none})  # out of int64: Arrow raises
    if pa.types.is_decimal(kind):
        return frozenset({Decimal, none})  # too many decimals: Arrow raises; range: checked
    if pa.types.is_string(kind):
        return frozenset({str, none})  # a lone surrogate: Arrow raises
    if pa.types.is_boolean(kind):
        return frozenset({bool, none})
    if pa.types.is_timestamp(kind):
        return frozenset({datetime, none})
    if pa.types.is_date(kind):
        return frozenset({date, none})
    if pa.types.is_floating(kind):
        return frozenset({float, none})
    return frozenset()


def _normalize(column: Column, value: Any) -> Any:
    """A value that failed the fast check, fixed by the rules (money rounded, a whole float
    counter made int) or refused."""
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if isinstance(value, datetime | date):
            return value
        raise _bad(column.name, value, f"is not a {kind}")
    if pa.types.is_string(kind) and not isinstance(value, str):
        raise _bad(column.name, value, "is not text")
    return to_column(column, value)


def checked_arrow(
    table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[pa.Table, list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Rows as an Arrow table of `table`'s schema, without ever failing on a value:
    (the Arrow table, the rows it holds, the rows set aside with the reason)."""
    schema = table.arrow_schema()
    reasons: dict[int, str] = {}
    values: dict[str, list[Any]] = {}
    for column in table.columns:
        col = [r.get(column.name) for r in rows]
        if not set(map(type, col)) <= _plain_types(column):
            ok = _fast_check(column)
            for i, v in enumerate(col):
                if v is None or ok(v):
                    continue
                try:
                    col[i] = _normalize(column, v)
                except Unrepresentable as exc:
                    reasons.setdefault(i, exc.reason)
                else:
                    rows[i][column.name] = col[i]
        if not column.nullable and None in col:
            for i, v in enumerate(col):
                if v is None:
                    reasons.setdefault(i, f"{column.name} is missing")
        values[column.name] = col
    while True:
        keep = [i for i in range(len(rows)) if i not in reasons]
        arrays = []
        failed = False
        for column in table.columns:
            col = values[column.name]
            try:
                kept_values = col if len(keep) == len(col) else [col[i] for i in keep]
                array = pa.array(kept_values, type=column.type)
                if pa.types.is_decimal(column.type) and len(array):
                    biggest = pc.max(pc.abs(array)).as_py()
                    if biggest is not None and biggest > MONEY_MAX_CENTS:
                        raise ValueError(f"beyond ±{MONEY_MAX_CENTS} cents")
                arrays.append(array)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as error:
                # Rare: a value of a plain type Arrow refuses or the row limit exceeds. Apply
                # the rules value by value (money is rounded, what breaks a rule set aside);
                # if no value was at fault by the rules, ask Arrow about each one.
                before = len(reasons)
                fixed = False
                ok = _fast_check(column)
                for i in keep:
                    v = col[i]
                    if v is None or ok(v):
                        continue
                    try:
                        col[i] = rows[i][column.name] = _normalize(column, v)
                        fixed = True
                    except Unrepresentable as exc:
                        reasons.setdefault(i, exc.reason)
                if len(reasons) == before and not fixed:
                    for i in keep:
                        try:
                            pa.array([col[i]], type=column.type)
                        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                            reasons.setdefault(
                                i, f"{column.name} = {_show(col[i])} cannot be stored ({exc})"
                            )
                    if len(reasons) == before:  # no single value to blame: all set aside
                        for i in keep:
                            reasons.setdefault(i, f"{column.name} cannot be stored ({error})")
                failed = True
                break
        if not failed:
            break
    kept = [rows[i] for i in keep]
    rejected = [(rows[i], reasons[i]) for i in sorted(reasons)]
    return pa.Table.from_arrays(arrays, schema=schema), kept, rejected
