"""Budgets as `spendscope budgets list` prints them and `GET /api/v1/budgets` answers them.

`budgets_answer` gives JSON-ready values, the same whether the CLI reads the warehouse or asks
a running server: each budget (parents before the budgets that roll up into them) with its
month's amount, month to date (exact decimal text) and, on the `billed_estimated` basis, the
estimate within it (`estimate`), share used, forecast P50 and band (to the cent), the state of
each threshold as the last evaluation left it, its provisional days, and for a parent the
roll-up of its children. `table_rows` flattens an answer for a table or CSV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ..errors import NotFoundLocally
from ..money import dollars, exact
from ..warehouse.connection import Warehouse
from .budget_model import Budget, month_text, percent_text
from .budget_states import HUNDRED, ThresholdState, plan, wanted
from .budget_store import evaluated_at, load_budgets, read_states, tree
from .budgets import BudgetFigures, read_figures
from .estimate import DayEstimate
from .forecast import CENT


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(v: Decimal | None) -> str | None:
    return None if v is None else exact(v)


def _cents(v: Decimal | None) -> str | None:
    return None if v is None else exact(v.quantize(CENT, ROUND_HALF_EVEN))


def _state_row(s: ThresholdState, amount: Decimal | None, pending: str | None) -> dict[str, Any]:
    limit = None if amount is None else amount * s.threshold / HUNDRED
    return {
        "kind": s.kind,
        "threshold": percent_text(s.threshold),
        "state": s.state,
        "pending": pending if pending != s.state else None,
        "severity": s.severity,
        "limit": _money(limit),
        "value": _money(s.value),
        "reason": s.reason,
        "changed_at": _iso(s.changed_at),
        "fingerprint": s.fingerprint,
    }


def _estimate(e: DayEstimate | None) -> dict[str, Any] | None:
    """The estimate within the month to date: all of it, its two parts, and what it left
    out for want of a price."""
    if e is None:
        return None
    return {
        "amount": exact(e.amount),
        "unbilled_usage": exact(e.unbilled),
        "priority_tier": exact(e.priority),
        "unbilled_connections": sorted(e.unbilled_connections),
        "unpriced_tokens": e.unpriced_tokens,
        "unpriced_web_searches": e.unpriced_web_searches,
        "unpriced_models": sorted(e.unpriced_models),
    }


def _rollup(
    b: Budget, bf: BudgetFigures, children: Sequence[BudgetFigures], month: date
) -> dict[str, Any] | None:
    """The children's sums against the parent's month: amounts, month to date, P50s."""
    if not children:
        return None
    amounts = [c.budget.amount(month) for c in children]
    amount = sum((a for a in amounts if a is not None), Decimal(0))
    actuals = [c.figures.actual for c in children if c.figures is not None]
    actual = sum(actuals, Decimal(0))
    p50s = [c.figures.p50 if c.figures else None for c in children]
    p50 = None if any(p is None for p in p50s) else sum((p for p in p50s if p), Decimal(0))
    own = b.amount(month)
    mine = bf.figures.actual if bf.figures else None
    return {
        "children": [c.budget.name for c in children],
        "amount": _money(amount),
        "month_to_date": _money(actual),
        "p50": _cents(p50),
        "amount_left": _money(None if own is None else own - amount),
        "month_to_date_left": _money(None if mine is None else mine - actual),
    }


def _row(
    b: Budget,
    depth: int,
    bf: BudgetFigures,
    states: Mapping[tuple[str, Decimal], ThresholdState],
    planned: Mapping[tuple[str, Decimal], ThresholdState],
    children: Sequence[BudgetFigures],
    month: date,
    evaluated: datetime | None,
) -> dict[str, Any]:
    amount = b.amount(month)
    f, sf = bf.figures, bf.scope
    forecast = sf.forecast if sf else None
    used = None
    if f is not None and amount:
        used = format((f.actual / amount * HUNDRED).quantize(CENT, ROUND_HALF_EVEN), "f")
    thresholds = []
    for kind, t in wanted(b, month):
        s = states.get((kind, t)) or ThresholdState(b.name, month, kind, t)
        after = planned.get((kind, t))
        thresholds.append(_state_row(s, amount, after.state if after else None))
    rollup = _rollup(b, bf, children, month)
    notes = list(bf.notes)
    if rollup and amount is not None and Decimal(rollup["amount"]) > amount:
        notes.append(
            f"the budgets that roll up into it add up to {dollars(rollup['amount'])}, more "
            f"than its {dollars(amount)}"
        )
    return {
        "name": b.name,
        "scope": b.scope,
        "scope_label": sf.label if sf else None,
        "parent": b.parent,
        "depth": depth,
        "basis": b.basis,
        "basis_label": b.basis_label,
        "month": month_text(month),
        "amount": _money(amount),
        "monthly": _money(b.monthly),
        "months": {month_text(m): exact(a) for m, a in sorted(b.months.items())},
        "thresholds": [percent_text(t) for t in b.thresholds],
        "forecast_threshold": (
            None if b.forecast_threshold is None else percent_text(b.forecast_threshold)
        ),
        "month_to_date": _money(f.actual if f else None),
        "estimate": _estimate(sf.estimate if sf else None),
        "used_percent": used,
        "complete_through": sf.complete_through.isoformat() if sf else None,
        "complete_days": sf.complete_days if sf else 0,
        "provisional_from": (
            sf.provisional_from.isoformat() if sf and sf.provisional_from else None
        ),
        "provisional_cost": _money(sf.provisional_cost if sf else None),
        "forecast_state": forecast.state if forecast else None,
        "p10": _cents(forecast.p10 if forecast else None),
        "p50": _cents(forecast.p50 if forecast else None),
        "p90": _cents(forecast.p90 if forecast else None),
        "states": thresholds,
        "evaluated_at": _iso(evaluated),
        "rollup": rollup,
        "notes": notes,
        "created_at": _iso(b.created_at),
        "updated_at": _iso(b.updated_at),
    }


def budgets_answer(warehouse: Warehouse, now: datetime, name: str | None = None) -> dict[str, Any]:
    """Every budget (or the one named) as of `now`, parents before their children."""
    now = now.astimezone(UTC)
    month = now.date().replace(day=1)
    budgets = load_budgets(warehouse)
    if name is not None and name not in budgets:
        raise NotFoundLocally(
            f"No budget is named {name!r}.", f"Known budgets: {', '.join(budgets) or 'none yet'}."
        )
    shown = [(b, d) for b, d in tree(budgets) if name is None or b.name == name]
    needed = {b.name for b, _ in shown}
    needed |= {b.name for b in budgets.values() if b.parent in needed}
    figures = read_figures(warehouse, [budgets[n] for n in sorted(needed)], now)
    with warehouse.cursor() as cur:
        stored = read_states(cur, month)
    by_budget: dict[str, dict[tuple[str, Decimal], ThresholdState]] = {}
    for s in stored:
        by_budget.setdefault(s.budget, {})[(s.kind, s.threshold)] = s
    # What the next evaluation would make of them (nothing is written here).
    ready = {n: bf.figures for n, bf in figures.items() if bf.figures is not None}
    planned: dict[str, dict[tuple[str, Decimal], ThresholdState]] = {}
    for s in plan(budgets, ready, stored, month, now).states:
        planned.setdefault(s.budget, {})[(s.kind, s.threshold)] = s
    evaluated = evaluated_at(warehouse)
    rows = []
    for b, depth in shown:
        kids = [figures[c] for c in sorted(budgets) if budgets[c].parent == b.name]
        rows.append(
            _row(
                b,
                depth,
                figures[b.name],
                by_budget.get(b.name, {}),
                planned.get(b.name, {}),
                kids,
                month,
                evaluated.get(b.name),
            )
        )
    return {"as_of": _iso(now), "month": month_text(month), "budgets": rows}


# -- a table or CSV -----------------------------------------------------------------------------

TABLE_COLUMNS = [
    "budget",
    "scope",
    "basis",
    "amount",
    "month_to_date",
    "estimated",
    "used",
    "p50",
    "band",
    "thresholds",
    "provisional",
]
CSV_COLUMNS = [
    "name",
    "parent",
    "scope",
    "basis",
    "amount",
    "month_to_date",
    "estimated",
    "used_percent",
    "forecast_state",
    "p10",
    "p50",
    "p90",
    "thresholds",
    "complete_through",
    "provisional_from",
    "provisional_cost",
]
MONEY_COLUMNS = ("amount", "month_to_date", "estimated", "p10", "p50", "p90", "provisional_cost")


def _thresholds_text(states: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for s in states:
        label = f"{s['threshold']} %" if s["kind"] == "actual" else f"forecast {s['threshold']} %"
        pending = f"→{s['pending']}" if s["pending"] else ""
        parts.append(f"{label} {s['state']}{pending}")
    return ", ".join(parts)


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def table_rows(
    found: Mapping[str, Any], fmt: str = "table"
) -> tuple[list[dict[str, Any]], list[str]]:
    """The answer's budgets as rows and the columns to show: for a table, names indented under
    their parent, the band as text and a `Σ` row of each parent's children; for CSV, exact
    values. Money as Decimal. The `estimated` column (the estimate within the month to date)
    is there when a budget has one."""
    rows: list[dict[str, Any]] = []
    for b in found["budgets"]:
        row = {k: _dec(b[k]) if k in MONEY_COLUMNS else b[k] for k in b}
        row["estimated"] = _dec(b["estimate"]["amount"]) if b["estimate"] else None
        row["thresholds"] = _thresholds_text(b["states"])
        if fmt != "table":
            rows.append(row)
            continue
        indent = "  " * b["depth"]
        row["budget"] = indent + b["name"]
        row["basis"] = b["basis_label"]
        row["used"] = f"{b['used_percent']} %" if b["used_percent"] is not None else None
        if b["p10"] is not None and b["p90"] is not None:
            row["band"] = f"{dollars(b['p10'])}–{dollars(b['p90'])}"
        if b["provisional_from"]:
            loaded = Decimal(b["provisional_cost"] or 0)
            extra = f" (+{dollars(loaded)})" if loaded else ""
            row["provisional"] = f"from {b['provisional_from']}{extra}"
        rows.append(row)
        up = b["rollup"]
        if up:
            rows.append(
                {
                    "budget": f"{indent}  Σ {len(up['children'])} within",
                    "amount": _dec(up["amount"]),
                    "month_to_date": _dec(up["month_to_date"]),
                    "p50": _dec(up["p50"]),
                }
            )
    columns = TABLE_COLUMNS if fmt == "table" else CSV_COLUMNS
    if not any(b["estimate"] for b in found["budgets"]):
        columns = [c for c in columns if c != "estimated"]
    return rows, columns


def notes_lines(found: Mapping[str, Any]) -> list[str]:
    """Each budget's notes, one per line."""
    return [f"note: {b['name']}: {n}" for b in found["budgets"] for n in b["notes"]]
