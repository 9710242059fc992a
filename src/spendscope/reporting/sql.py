"""The SQL a question becomes, over the marts (`mart_spend`, `mart_usage`; see
`warehouse/marts.py`).

The marts hold the `spend` and `usage` views' rows — double-booked spend is already counted
once there — plus each connection kind's alternate grain. A question picks, per connection kind,
the grain that carries every dimension it groups or filters by (product, geo and speed on
Console; geo and speed on Enterprise come from the alternate grain), so totals never change with
the grouping. Every value from the outside is a bound parameter, never SQL text.

With `pseudonymize_emails` on, the e-mail addresses a dimension shows (`EMAIL_DIMENSIONS`) leave
as stable pseudonyms (`privacy.py`); a filter may name a pseudonym, which `reveal_filters` maps
back to its address, so every interface filters by what it shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..privacy import PATTERN as PSEUDONYM
from ..privacy import Pseudonymizer, pseudonymizer
from ..warehouse.allocation_tables import MART_ALLOCATION
from ..warehouse.connection import Warehouse
from ..warehouse.marts import MART_SPEND, MART_USAGE
from ..warehouse.schema import DATASET
from .catalog import (
    CONNECTION_KINDS,
    CONSOLE,
    DIMENSIONS,
    EMAIL_DIMENSIONS,
    ENTERPRISE,
    NONE_KEY,
    TOKEN_COLUMNS,
    Dimension,
    Metric,
    Scope,
    allocation_dimension,
    dimension,
    invalid_input,
)


def names_relation(d: Dimension | None) -> str:
    """A relation (id, name) giving a dimension's labels (empty when its keys are readable)."""
    if d is None or d.names is None:
        return "(SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS name WHERE FALSE)"
    return f"(SELECT id, any_value(name) AS name FROM {DATASET}.{d.names} GROUP BY id)"


def grain_condition(dims: Iterable[Dimension]) -> str:
    """Per connection kind, the grain that carries every dimension asked for: the boolean mart
    column that selects it."""
    dims = list(dims)
    grain = {}
    for kind in CONNECTION_KINDS:
        alternate = any(kind in d.alternate_for for d in dims) and not any(
            kind in d.canonical_for for d in dims
        )
        grain[kind] = "alt" if alternate else "canon"
    if grain[CONSOLE] == grain[ENTERPRISE]:
        return grain[CONSOLE]
    # The mixed choices are columns of their own in the marts (one boolean to test).
    return "alt_console" if grain[CONSOLE] == "alt" else "alt_enterprise"


def allocation_dimensions(warehouse: Warehouse) -> dict[str, Dimension]:
    """The warehouse's allocation dimensions (team, cost_center, …), as the last allocation
    refresh recorded them."""
    if "allocation_state" not in warehouse.existing_tables():
        return {}
    rows = warehouse.read(f"SELECT dimensions FROM {DATASET}.allocation_state")
    names = json.loads(rows[0][0]) if rows and rows[0][0] else []
    return {n: allocation_dimension(n) for n in names}


def dimensions_needed(
    scope: Scope, group_by: Sequence[str], m: Metric, extra: Mapping[str, Dimension] | None = None
) -> list[Dimension]:
    """The dimensions a question groups or filters by, checked to apply to its metric (at most
    one allocation dimension: each is allocated on its own)."""
    names = [*group_by, *scope.filters]
    dims = [dimension(n, m, extra) for n in dict.fromkeys(names)]
    allocated = [d.name for d in dims if d.allocation]
    if len(allocated) > 1:
        raise invalid_input(
            f"{' and '.join(allocated)} are both allocation dimensions.",
            "Group or filter by one allocation dimension at a time.",
        )
    return dims


# Dimensions `mart_allocation` carries beside the allocation dimension's value.
_BY_CONNECTION = frozenset({"connection", "billing_account", "provider"})
_PROVIDER = """CASE connection_kind WHEN 'console' THEN 'Anthropic (Console)'
    ELSE 'Anthropic (Enterprise)' END"""


def _by_token_type(m: Metric, dims: Iterable[Dimension]) -> bool:
    return m.mart == MART_USAGE and any(d.name == "token_type" for d in dims)


def source_relation(m: Metric, dims: Iterable[Dimension], scope: Scope | None = None) -> str:
    """The relation a metric is read from: the mart, or usage unpivoted by token type."""
    dims = list(dims)
    allocated = next((d for d in dims if d.allocation), None)
    if allocated is not None:
        # (the name is a checked identifier: [a-z][a-z0-9_]*)
        if all(d.allocation or d.name in _BY_CONNECTION for d in dims):
            # By the dimension (and the connection) alone: its daily sums, not millions of rows.
            return f"""(SELECT *, {_PROVIDER} AS provider, TRUE AS canon, TRUE AS alt,
                TRUE AS alt_console, TRUE AS alt_enterprise FROM {DATASET}.{MART_ALLOCATION}
                WHERE dimension = '{allocated.name}')"""
        return f"""(SELECT *, TRUE AS canon, TRUE AS alt, TRUE AS alt_console,
            TRUE AS alt_enterprise FROM {DATASET}.allocation_rows
            WHERE dimension = '{allocated.name}')"""
    if not _by_token_type(m, dims):
        return f"{DATASET}.{m.mart}"
    if m.name != "tokens" and m.name not in TOKEN_COLUMNS:
        raise invalid_input(
            f"'{m.name}' has no token type.", "Group tokens by token_type, or drop token_type."
        )
    columns = [m.name] if m.name in TOKEN_COLUMNS else list(TOKEN_COLUMNS)
    cases = " ".join(f"WHEN '{c}' THEN '{TOKEN_COLUMNS[c]}'" for c in columns)
    keep = ["day", "canon", "alt", "alt_console", "alt_enterprise", "connection_kind"] + [
        d.key for d in dims if d.name != "token_type"
    ]
    # Summed per day and the needed columns first: the UNPIVOT then turns a few
    # thousand rows, not millions, into five each.
    keys = list(dict.fromkeys(keep))
    cols = ", ".join([*keys, *(f"sum({c}) AS {c}" for c in columns)])
    # (dates, not text from outside: `Scope` holds `date` objects)
    days = f"WHERE day >= DATE '{scope.since}' AND day < DATE '{scope.until}'" if scope else ""
    return f"""(SELECT * EXCLUDE (token_column),
            CASE token_column {cases} END AS token_type
        FROM (UNPIVOT (SELECT {cols} FROM {DATASET}.{MART_USAGE} {days} GROUP BY ALL)
              ON {", ".join(columns)} INTO NAME token_column VALUE token_count))"""


def metric_sql(m: Metric, dims: Iterable[Dimension]) -> str:
    """The aggregate giving the metric over `source_relation`'s rows."""
    return "sum(token_count)" if _by_token_type(m, dims) else m.expr


def where_clause(scope: Scope, dims: list[Dimension]) -> tuple[str, list[Any]]:
    """The scope's days, filters and grain as a WHERE condition and its parameters."""
    where = ["day >= ?", "day < ?", grain_condition(dims)]
    params: list[Any] = [scope.since, scope.until]
    by_name = {d.name: d for d in dims}
    for name, values in scope.filters.items():
        d = by_name.get(name) or DIMENSIONS[name]
        clauses = []
        real = [v for v in values if v != NONE_KEY]
        if real:
            clauses.append(f"{d.key} IN ({', '.join('?' for _ in real)})")
            params.extend(real)
        if len(real) < len(values):
            clauses.append(f"{d.key} IS NULL")
        where.append("(" + " OR ".join(clauses) + ")")
    return " AND ".join(where), params


# -- privacy ------------------------------------------------------------------------------------


def privacy(warehouse: Warehouse) -> Pseudonymizer | None:
    """The pseudonymizer when the warehouse's settings ask for pseudonyms, else None."""
    return pseudonymizer(warehouse.settings)


def shown_value(p: Pseudonymizer | None, dim: str | None, value: Any) -> Any:
    """A dimension value as it may leave: an address of an e-mail dimension as its pseudonym."""
    return p.hide(value) if p is not None and dim in EMAIL_DIMENSIONS else value


def reveal_filters(warehouse: Warehouse, scope: Scope, p: Pseudonymizer | None) -> Scope:
    """The scope with pseudonyms in e-mail dimension filters mapped back to their addresses."""
    if p is None:
        return scope
    filters: dict[str, list[str]] = {}
    for name, values in scope.filters.items():
        if name in EMAIL_DIMENSIONS and any(PSEUDONYM.fullmatch(v) for v in values):
            col = DIMENSIONS[name].key
            addresses = " UNION ".join(
                f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {DATASET}.{mart} "
                f"WHERE CAST({col} AS VARCHAR) LIKE '%@%'"
                for mart in (MART_SPEND, MART_USAGE)
            )
            filters[name] = p.reveal(values, [r[0] for r in warehouse.read(addresses)])
        else:
            filters[name] = list(values)
    return replace(scope, filters=filters)
