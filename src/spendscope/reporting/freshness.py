"""How complete the data is, per connection and overall, with a sentence for the pages' banner."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ..warehouse.connection import Warehouse
from ..warehouse.marts import MART_SPEND
from ..warehouse.schema import DATASET
from .health import connection_health

# How far back provisional (not yet final) days are looked for.
PROVISIONAL_LOOKBACK = timedelta(days=62)


def freshness(warehouse: Warehouse, today: date) -> dict[str, Any]:
    """Per active connection: its health, last success, the day its data is complete through
    and its first provisional day; overall: the earliest of each, and the banner's message."""
    health = connection_health(warehouse, count_rows=False)
    kinds = dict(
        warehouse.read(
            f"SELECT connection_label, connection_kind FROM {DATASET}.connections "
            "WHERE state = 'active'"
        )
    )
    prov = dict(
        warehouse.read(
            f"""SELECT connection_label, min(day) FROM {DATASET}.{MART_SPEND}
            WHERE is_provisional AND day >= ? GROUP BY 1""",
            today - PROVISIONAL_LOOKBACK,
        )
    )
    conns = []
    for label in sorted(kinds):
        h = health.get(label, {})
        conns.append(
            {
                "label": label,
                "kind": kinds[label],
                "health": h.get("state", "never synced"),
                "last_success": _timestamp(h.get("last_success")),
                "complete_through": _iso(_as_date(h.get("complete_through"))),
                "provisional_from": _iso(prov.get(label)),
            }
        )
    throughs = [c["complete_through"] for c in conns]
    complete = min(throughs) if throughs and all(throughs) else None
    provs = [c["provisional_from"] for c in conns if c["provisional_from"]]
    p_from = min(provs) if provs else None
    if not conns:
        message = "No connections yet: connect an organization to see its spend."
    elif complete is None:
        message = "Some connections have not finished their first sync; totals are partial."
    else:
        message = f"Data complete through {_human(complete)}"
        if p_from:
            message += f"; days from {_human(p_from)} are provisional and may still change."
        else:
            message += "."
    return {
        "complete_through": complete,
        "provisional_from": p_from,
        "message": message,
        "connections": conns,
    }


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _as_date(v: Any) -> date | None:
    if v is None:
        return None
    if hasattr(v, "date") and callable(v.date):
        return v.date()  # type: ignore[no-any-return]
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _timestamp(v: Any) -> str | None:
    return v.isoformat() if v is not None and hasattr(v, "isoformat") else None


def _human(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.day} {d:%b %Y}"
