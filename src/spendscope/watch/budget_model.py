"""What a budget is, and the checks of what people type for one: on the command line, in the
API's body, or in a CSV file of budgets.

A budget has a **name** (letters, digits, `.`, `_`, `-`; up to 64), a **scope** (as for
forecasts: `organization` or `dimension:value`), a **monthly amount** in US dollars (cents at
most) and amounts of its own for some months (`YYYY-MM`), **thresholds** in percent of the
month's amount (default 50, 80, 100; up to 10), an optional **forecast threshold** (percent of
the amount the month-end P50 may reach), a **basis** (`billed` or `billed_estimated`) and an
optional **parent**: the budget it rolls up into. Calendar months are UTC.

Every check raises `InvalidInput` with one line; a CSV file is checked whole, each refusal
naming the file and the line (`budgets.csv line 4: …`), before anything is applied.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from ..errors import InvalidInput
from ..money import dollars
from .series import parse_scope

BILLED = "billed"
BILLED_ESTIMATED = "billed_estimated"
# Each basis and how it is written on budgets and alerts.
BASES = {BILLED: "billed", BILLED_ESTIMATED: "billed + estimated"}
DEFAULT_THRESHOLDS = (Decimal(50), Decimal(80), Decimal(100))
MAX_THRESHOLDS = 10
MAX_PERCENT = Decimal(1000)
MAX_AMOUNT = Decimal(10) ** 12
MAX_ROWS = 10_000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MONTH = re.compile(r"(\d{4})-(\d{2})")
# The columns of a CSV file of budgets, besides one per month (`YYYY-MM`).
COLUMNS = ("name", "scope", "monthly", "thresholds", "forecast_threshold", "basis", "parent")


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget. `months` holds the amounts of the months that have one of their own (keyed
    by the month's first day); `monthly` is every other month's (None: those months have no
    budget)."""

    name: str
    scope: str
    monthly: Decimal | None
    months: Mapping[date, Decimal] = field(default_factory=dict)
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    forecast_threshold: Decimal | None = None
    basis: str = BILLED
    parent: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def amount(self, month: date) -> Decimal | None:
        """The amount of the month whose first day is `month` (None: no budget that month)."""
        return self.months.get(month, self.monthly)

    @property
    def basis_label(self) -> str:
        return BASES[self.basis]


def percent_text(value: Decimal) -> str:
    """A percent as the shortest decimal text: 80, 87.5."""
    return format(value.normalize(), "f")


def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


# -- single values ------------------------------------------------------------------------------


def check_name(text: str, what: str = "budget name") -> str:
    name = (text or "").strip()
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} {text!r} is not usable: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def _decimal(text: str | Decimal, what: str) -> Decimal:
    if isinstance(text, Decimal):
        value = text
    else:
        raw = str(text).strip()
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not raw or not re.fullmatch(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)", raw):
            value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInput(f"{what} {str(text)!r} is not a number: write digits, e.g. 10000.50.")
    return value


def parse_amount(text: str | Decimal, what: str = "monthly amount") -> Decimal:
    """An amount in US dollars: more than 0, at most 10^12, cents at most."""
    value = _decimal(text, what)
    if value <= 0 or value > MAX_AMOUNT:
        raise InvalidInput(f"{what} {value} is out of range: give more than 0 and at most 10^12.")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput(f"{what} {value} has fractions of a cent: give at most two decimals.")
    return value


def parse_percent(text: str | Decimal, what: str = "threshold") -> Decimal:
    """A percent of the month's amount: more than 0, at most 1000, two decimals at most."""
    value = _decimal(text, what)
    if value <= 0 or value > MAX_PERCENT:
        raise InvalidInput(f"{what} {value} is out of range: give a percent above 0, up to 1000.")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput(f"{what} {value} has more than two decimals.")
    return value.normalize() + 0  # `+ 0` turns 1E+2 back into 100


def parse_thresholds(values: str | Sequence[str | Decimal] | None) -> tuple[Decimal, ...]:
    """Thresholds as text (`50,80,100`, commas or semicolons) or a list; None or empty: the
    default 50, 80, 100. Sorted, each once."""
    if values is None:
        return DEFAULT_THRESHOLDS
    items = re.split(r"[,;]", values) if isinstance(values, str) else list(values)
    items = [i for i in items if str(i).strip()]
    if not items:
        return DEFAULT_THRESHOLDS
    parsed = [parse_percent(i) for i in items]
    if len(set(parsed)) != len(parsed):
        raise InvalidInput("The thresholds repeat a value: give each percent once.")
    if len(parsed) > MAX_THRESHOLDS:
        raise InvalidInput(f"{len(parsed)} thresholds: give at most {MAX_THRESHOLDS}.")
    return tuple(sorted(parsed))


def parse_basis(text: str | None) -> str:
    basis = (text or BILLED).strip() or BILLED
    if basis not in BASES:
        raise InvalidInput(f"basis {text!r} is not one of: {', '.join(BASES)}.")
    return basis


def parse_month(text: str) -> date:
    """`YYYY-MM` as the month's first day (2000-01 … 2099-12)."""
    m = MONTH.fullmatch(text.strip())
    if m is None or not 2000 <= int(m.group(1)) <= 2099 or not 1 <= int(m.group(2)) <= 12:
        raise InvalidInput(f"month {text!r} is not a month from 2000-01 to 2099-12 (YYYY-MM).")
    return date(int(m.group(1)), int(m.group(2)), 1)


def make_budget(
    name: str,
    scope: str,
    monthly: str | Decimal | None,
    *,
    months: Mapping[date, Decimal] | None = None,
    thresholds: str | Sequence[str | Decimal] | None = None,
    forecast_threshold: str | Decimal | None = None,
    basis: str | None = None,
    parent: str | None = None,
) -> Budget:
    """A budget from what people typed, every value checked (the scope's syntax only: the
    warehouse checks its dimension when it is saved)."""
    clean = check_name(name)
    text = parse_scope(scope).text if str(scope or "").strip() else ""
    if not text:
        raise InvalidInput("A budget needs a scope: organization or dimension:value.")
    amount = None if monthly is None or str(monthly).strip() == "" else parse_amount(monthly)
    if amount is None and not months:
        raise InvalidInput(
            f"Budget {clean} has no amount: give a monthly amount or one for some months."
        )
    forecast = None
    if forecast_threshold is not None and str(forecast_threshold).strip():
        forecast = parse_percent(forecast_threshold, "forecast threshold")
    up = check_name(parent, "parent") if parent and parent.strip() else None
    if up == clean:
        raise InvalidInput(f"Budget {clean} cannot be its own parent.")
    return Budget(
        clean,
        text,
        amount,
        dict(months or {}),
        parse_thresholds(thresholds),
        forecast,
        parse_basis(basis),
        up,
    )


def check_parents(budgets: Mapping[str, Budget], where: Callable[[str], str]) -> None:
    """Every parent is a budget, and no budget is its own ancestor. `where(name)` says where a
    budget came from, to start a refusal with (e.g. `budgets.csv line 3: `)."""
    for name in sorted(budgets):
        b = budgets[name]
        if b.parent is None:
            continue
        if b.parent not in budgets:
            raise InvalidInput(
                f"{where(name)}parent {b.parent!r} of budget {name} is not a budget.",
                "Create the parent first, or list it in the same file.",
            )
        seen = {name}
        up: str | None = b.parent
        while up is not None:
            if up in seen:
                raise InvalidInput(f"{where(name)}budget {name} would be its own ancestor.")
            seen.add(up)
            up = budgets[up].parent if up in budgets else None


# -- CSV ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedBudgets:
    """The budgets of a CSV file, in file order, and the line each came from."""

    budgets: list[Budget]
    lines: dict[str, int]


def parse_budgets_csv(text: str, source: str) -> ParsedBudgets:
    """The budgets of a CSV file: a header of `name`, `scope` and any of `monthly`,
    `thresholds` (e.g. `50;80;100`), `forecast_threshold`, `basis`, `parent`, plus one column
    per month `YYYY-MM` (that month's amount; empty: the monthly amount). Refuses the first bad
    line, naming it; a file with nothing bad is returned whole."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))

    def bad(line: int, message: str, hint: str | None = None) -> InvalidInput:
        return InvalidInput(f"{source} line {line}: {message}", hint)

    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise bad(1, f"not CSV ({exc}).") from None
    if header is None or not any(h.strip() for h in header):
        raise bad(1, "no header: the first line names the columns (name,scope,monthly,…).")
    names = [h.strip().lower() for h in header]
    months: dict[int, date] = {}
    for i, h in enumerate(names):
        if MONTH.fullmatch(h):
            try:
                months[i] = parse_month(h)
            except InvalidInput as exc:
                raise bad(1, exc.message) from None
        elif h not in COLUMNS:
            raise bad(
                1,
                f"unknown column {header[i].strip()!r}.",
                f"Columns: {', '.join(COLUMNS)}, and one per month (YYYY-MM).",
            )
    repeated = sorted({h for h in names if names.count(h) > 1})
    if repeated:
        raise bad(1, f"column {repeated[0]!r} appears twice.")
    for needed in ("name", "scope"):
        if needed not in names:
            raise bad(1, f"no {needed!r} column.")
    budgets: list[Budget] = []
    lines: dict[str, int] = {}
    while True:
        line = reader.line_num + 1  # where the record starts (a quoted cell may span lines)
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise bad(line, f"not CSV ({exc}).") from None
        if row is None:
            break
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            raise bad(line, f"{len(row)} cells where the header has {len(names)}.")
        if len(budgets) >= MAX_ROWS:
            raise bad(line, f"more than {MAX_ROWS} budgets in one file.")
        cells = dict(zip(names, row, strict=True))
        try:
            amounts = {
                m: parse_amount(row[i], f"amount for {m:%Y-%m}")
                for i, m in months.items()
                if row[i].strip()
            }
            budget = make_budget(
                cells["name"],
                cells["scope"],
                cells.get("monthly"),
                months=amounts,
                thresholds=cells.get("thresholds"),
                forecast_threshold=cells.get("forecast_threshold"),
                basis=cells.get("basis"),
                parent=cells.get("parent"),
            )
        except InvalidInput as exc:
            raise bad(line, exc.message, exc.hint) from None
        if budget.name in lines:
            raise bad(line, f"budget {budget.name} is already on line {lines[budget.name]}.")
        budgets.append(budget)
        lines[budget.name] = line
    if not budgets:
        raise bad(reader.line_num or 1, "no budgets: the file has a header and nothing else.")
    return ParsedBudgets(budgets, lines)


# -- what a change says -------------------------------------------------------------------------


def saved_message(b: Budget, created: bool) -> str:
    """What `budgets set` says it did."""
    amount = f"{dollars(b.monthly)} a month" if b.monthly is not None else "no monthly amount"
    if b.months:
        amount += f" ({len(b.months)} month{'s' if len(b.months) != 1 else ''} of its own)"
    limits = ", ".join(f"{percent_text(t)} %" for t in b.thresholds)
    if b.forecast_threshold is not None:
        limits += f"; forecast {percent_text(b.forecast_threshold)} %"
    within = f", within {b.parent}" if b.parent else ""
    verb = "created" if created else "updated"
    return f"{verb} budget {b.name}: {b.scope}, {amount}, {b.basis_label}; {limits}{within}"


def imported_message(saved: Sequence[tuple[str, bool]], source: str) -> str:
    """What `budgets import` says it did."""
    created = sum(1 for _, c in saved if c)
    n = len(saved)
    return (
        f"imported {n} budget{'s' if n != 1 else ''} from {source} "
        f"({created} created, {n - created} updated)"
    )
