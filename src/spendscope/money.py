"""How amounts and counts are written out — the one place that formats them.

Two forms:

- **exact text** for JSON, CSV and the REST API (`exact`, `exact_units`): every digit the
  warehouse holds, at least two decimals, never through float ("12.5" → "12.50");
- **display text** for people — the CLI's tables (`dollars`, `count`, `MISSING`): "$1,159.18",
  "12,345", "—". The dashboard applies the same rules in its own formatter.

Amounts are parsed from the API in exactly one place too: `sources.values.money`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

# Marts keep money as integers of this many units per dollar (1e-11 USD).
UNITS_PER_DOLLAR = 10**11
# What a table shows for a value that is not there.
MISSING = "—"
_CENT = Decimal("0.01")


def usd(units: Any) -> Decimal:
    """A mart money sum (integer units of 1e-11 USD) in dollars, exactly."""
    return Decimal(int(units or 0)).scaleb(-11)


def exact_units(n: int) -> str:
    """Integer units of 1e-11 USD as exact dollar text (at least two decimals)."""
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), UNITS_PER_DOLLAR)
    digits = f"{frac:011d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"


def exact(v: Any) -> str:
    """A dollar amount (Decimal, int or decimal text) as exact text (at least two decimals)."""
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    text = format(d.normalize(), "f") if d else "0"
    if "." not in text:
        return text + ".00"
    whole, frac = text.split(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def dollars(v: Any) -> str:
    """A dollar amount for people: "$1,159.18", "-$3.00" (rounded half-even to the cent);
    `MISSING` for None or empty."""
    if v is None or v == "":
        return MISSING
    d = (v if isinstance(v, Decimal) else Decimal(str(v))).quantize(_CENT, ROUND_HALF_EVEN)
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f}"


def count(v: Any) -> str:
    """A count for people: "12,345"; `MISSING` for None or empty."""
    if v is None or v == "":
        return MISSING
    return f"{int(v):,}"
