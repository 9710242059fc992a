"""Connection health: state, last successful sync, data complete through, the event log."""

from __future__ import annotations

from typing import Any

from ..warehouse.store import DATASET, Warehouse

# Feeds whose completeness defines "data complete through" (the money).
CORE_FEEDS = ("cost", "usage")


def connection_health(warehouse: Warehouse, count_rows: bool = True) -> dict[str, dict[str, Any]]:
    with warehouse.cursor() as con:
        return _health(con, count_rows)


def _health(con: Any, count_rows: bool) -> dict[str, dict[str, Any]]:
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]
        ).fetchall()
    }
    if "events" not in tables:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for label, at in con.execute(
        f"SELECT connection_label, max(occurred_at) FROM {DATASET}.events "
        "WHERE category = 'sync' AND message = 'sync finished' GROUP BY 1"
    ).fetchall():
        out.setdefault(label, {})["last_success"] = at
    for label, level, message, at in con.execute(
        f"""SELECT connection_label, level, message, occurred_at FROM (
              SELECT *, row_number() OVER (
                  PARTITION BY connection_label ORDER BY occurred_at DESC) AS n
              FROM {DATASET}.events WHERE category = 'sync' AND message <> 'sync started')
            WHERE n = 1"""
    ).fetchall():
        h = out.setdefault(label, {})
        h["state"] = "failing" if level == "error" else "ok"
        if level == "error":
            h["last_error"] = message
            h["last_error_at"] = at
    marks = ", ".join("?" for _ in CORE_FEEDS)
    for label, through in con.execute(
        f"SELECT connection_label, min(complete_through) FROM {DATASET}.sync_state "
        f"WHERE feed IN ({marks}) GROUP BY 1",
        list(CORE_FEEDS),
    ).fetchall():
        out.setdefault(label, {})["complete_through"] = through
    if count_rows and {"mart_spend", "mart_usage"} <= tables:
        for label, n in con.execute(
            f"""SELECT connection_label, sum(n) FROM (
                  SELECT connection_label, count(*) AS n FROM {DATASET}.mart_spend
                  WHERE canon GROUP BY 1
                  UNION ALL
                  SELECT connection_label, count(*) FROM {DATASET}.mart_usage
                  WHERE canon GROUP BY 1)
                GROUP BY 1"""
        ).fetchall():
            out.setdefault(label, {})["rows"] = int(n)
    for label, state in con.execute(
        f"SELECT connection_label, state FROM {DATASET}.connections"
    ).fetchall():
        if state == "deleted":
            out.setdefault(label, {})["state"] = "deleted"
    for h in out.values():
        h.setdefault("state", "never synced")
    return out


def recent_events(warehouse: Warehouse, connection: str, n: int = 10) -> list[dict[str, Any]]:
    cols = ["occurred_at", "level", "category", "message", "detail"]
    rows = warehouse.read(
        f"SELECT {', '.join(cols)} FROM {DATASET}.events "
        "WHERE connection_label = ? ORDER BY occurred_at DESC LIMIT ?",
        connection,
        n,
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]
