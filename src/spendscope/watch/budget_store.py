"""Budgets and their threshold states in the warehouse (`budgets`, `budget_amounts`,
`budget_states`).

Saving is all or nothing: `save_budgets` writes one budget (`budgets set`) or a whole file
(`budgets import`) in one transaction, after checking every scope against the warehouse and
every parent; a budget saved again is replaced whole (its amounts per month included) and keeps
its creation time. `delete_budget` refuses a budget that other budgets roll up into. The states
are read and written by `evaluate_budgets`, inside its own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..errors import InvalidInput, NotFoundLocally
from ..warehouse.connection import Warehouse
from ..warehouse.schema import DATASET, row_key
from ..warehouse.watch_tables import BUDGET_AMOUNTS, BUDGET_STATES, BUDGETS
from .budget_model import Budget, check_parents, month_text, percent_text
from .budget_states import ThresholdState
from .series import HISTORY_DAYS, parse_scope, resolve

T_BUDGETS = f"{DATASET}.{BUDGETS.name}"
T_AMOUNTS = f"{DATASET}.{BUDGET_AMOUNTS.name}"
T_STATES = f"{DATASET}.{BUDGET_STATES.name}"


def _utc(at: Any) -> datetime | None:
    if at is None:
        return None
    value: datetime = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v)).normalize() + 0


# -- budgets ------------------------------------------------------------------------------------


def read_budgets(cur: Any) -> dict[str, Budget]:
    """Every budget, by name (`cur`: a DuckDB cursor, in a transaction or not)."""
    months: dict[str, dict[date, Decimal]] = {}
    for name, month, amount in cur.execute(
        f"SELECT budget, month, amount_usd FROM {T_AMOUNTS} ORDER BY budget, month"
    ).fetchall():
        months.setdefault(name, {})[month] = Decimal(str(amount)).normalize() + 0
    out = {}
    for name, scope, monthly, thresholds, forecast, basis, parent, created, updated in cur.execute(
        f"SELECT name, scope, monthly_usd, thresholds, forecast_threshold, basis, parent, "
        f"created_at, updated_at FROM {T_BUDGETS} ORDER BY name"
    ).fetchall():
        out[name] = Budget(
            name,
            scope,
            _dec(monthly),
            months.get(name, {}),
            tuple(Decimal(t) for t in json.loads(thresholds)),
            None if forecast is None else Decimal(forecast),
            basis,
            parent,
            _utc(created),
            _utc(updated),
        )
    return out


def load_budgets(warehouse: Warehouse) -> dict[str, Budget]:
    with warehouse.cursor() as cur:
        return read_budgets(cur)


def check_scopes(
    warehouse: Warehouse, budgets: Sequence[Budget], now: datetime, where: Callable[[str], str]
) -> None:
    """Each budget's scope names a dimension the warehouse knows (and a connection it holds,
    a workspace or key name that is not ambiguous), as a forecast would read it."""
    today = now.astimezone(UTC).date()
    seen: set[str] = set()
    for b in budgets:
        if b.scope in seen:
            continue
        try:
            resolve(
                warehouse,
                parse_scope(b.scope),
                today - timedelta(days=HISTORY_DAYS),
                today + timedelta(days=1),
            )
        except InvalidInput as exc:
            raise InvalidInput(f"{where(b.name)}{exc.message}", exc.hint) from None
        seen.add(b.scope)


def _insert(cur: Any, b: Budget, created: datetime, now: datetime) -> None:
    cur.execute(
        f"INSERT INTO {T_BUDGETS} (row_key, name, scope, monthly_usd, thresholds, "
        "forecast_threshold, basis, parent, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row_key("budget", b.name),
            b.name,
            b.scope,
            b.monthly,
            json.dumps([percent_text(t) for t in b.thresholds]),
            None if b.forecast_threshold is None else percent_text(b.forecast_threshold),
            b.basis,
            b.parent,
            created,
            now,
        ],
    )
    for month, amount in sorted(b.months.items()):
        cur.execute(
            f"INSERT INTO {T_AMOUNTS} (row_key, budget, month, amount_usd) VALUES (?, ?, ?, ?)",
            [row_key("budget_amount", b.name, month), b.name, month, amount],
        )


def _remove(cur: Any, name: str) -> None:
    cur.execute(f"DELETE FROM {T_BUDGETS} WHERE name = ?", [name])
    cur.execute(f"DELETE FROM {T_AMOUNTS} WHERE budget = ?", [name])


def save_budgets(
    warehouse: Warehouse,
    budgets: Sequence[Budget],
    now: datetime,
    where: Callable[[str], str] = lambda name: "",
) -> list[tuple[str, bool]]:
    """Create or replace `budgets` in one transaction, after checking their scopes and the
    parents of every budget as they would then stand. Returns (name, created) for each."""
    now = now.astimezone(UTC)
    check_scopes(warehouse, budgets, now, where)
    out = []
    with warehouse.transaction() as cur:
        existing = read_budgets(cur)
        check_parents({**existing, **{b.name: b for b in budgets}}, where)
        for b in budgets:
            before = existing.get(b.name)
            _remove(cur, b.name)
            _insert(cur, b, before.created_at if before and before.created_at else now, now)
            out.append((b.name, before is None))
    return out


def delete_budget(warehouse: Warehouse, name: str) -> Budget:
    """Delete a budget (its states are resolved and dropped by the next evaluation). Refused
    when other budgets roll up into it."""
    with warehouse.transaction() as cur:
        existing = read_budgets(cur)
        if name not in existing:
            raise NotFoundLocally(
                f"No budget is named {name!r}.",
                f"Known budgets: {', '.join(existing) or 'none yet'}.",
            )
        children = sorted(b.name for b in existing.values() if b.parent == name)
        if children:
            raise InvalidInput(
                f"Budget {name} has budgets that roll up into it: {', '.join(children)}.",
                "Delete them, or save them with another --parent, first.",
            )
        _remove(cur, name)
    return existing[name]


def tree(budgets: Mapping[str, Budget]) -> Iterator[tuple[Budget, int]]:
    """The budgets as a tree, depth first: each parent before its children (by name), with its
    depth (0 for a top-level budget)."""
    children: dict[str | None, list[str]] = {}
    for b in budgets.values():
        parent = b.parent if b.parent in budgets else None
        children.setdefault(parent, []).append(b.name)

    def walk(parent: str | None, depth: int) -> Iterator[tuple[Budget, int]]:
        for name in sorted(children.get(parent, [])):
            yield budgets[name], depth
            yield from walk(name, depth + 1)

    yield from walk(None, 0)


# -- states -------------------------------------------------------------------------------------

_STATE_COLUMNS = (
    "budget, month, kind, threshold, state, scope, basis, amount_usd, value_usd, reason, "
    "fired_at, resolved_at, changed_at"
)


def read_states(cur: Any, month: date | None = None) -> list[ThresholdState]:
    """The stored states (of one month, or all)."""
    sql = f"SELECT {_STATE_COLUMNS} FROM {T_STATES}"
    params: list[Any] = []
    if month is not None:
        sql += " WHERE month = ?"
        params.append(month)
    return [
        ThresholdState(
            r[0],
            r[1],
            r[2],
            Decimal(r[3]),
            r[4],
            r[5] or "",
            r[6] or "billed",
            _dec(r[7]),
            _dec(r[8]),
            r[9],
            _utc(r[10]),
            _utc(r[11]),
            _utc(r[12]),
        )
        for r in cur.execute(sql + " ORDER BY budget, month, kind, threshold", params).fetchall()
    ]


def write_states(
    cur: Any, states: Sequence[ThresholdState], dropped: Sequence[ThresholdState], now: datetime
) -> None:
    """Replace the rows of `states` and delete those of `dropped`, in the caller's
    transaction; `now` is their evaluation time."""
    for s in [*states, *dropped]:
        cur.execute(f"DELETE FROM {T_STATES} WHERE row_key = ?", [_state_key(s)])
    for s in states:
        cur.execute(
            f"INSERT INTO {T_STATES} (row_key, {_STATE_COLUMNS}, evaluated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                _state_key(s),
                s.budget,
                s.month,
                s.kind,
                percent_text(s.threshold),
                s.state,
                s.scope,
                s.basis,
                s.amount,
                s.value,
                s.reason,
                s.fired_at,
                s.resolved_at,
                s.changed_at,
                now,
            ],
        )


def _state_key(s: ThresholdState) -> str:
    return row_key("budget_state", s.budget, month_text(s.month), s.kind, percent_text(s.threshold))


def evaluated_at(warehouse: Warehouse) -> dict[str, datetime]:
    """When each budget's states were last evaluated."""
    rows = warehouse.read(f"SELECT budget, max(evaluated_at) FROM {T_STATES} GROUP BY 1")
    return {name: at for name, at in ((n, _utc(a)) for n, a in rows) if at is not None}
