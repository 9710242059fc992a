"""The benchmark warehouse generator: exact spend row count, both connections, double-booking."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from benchmarks.bigwarehouse import CONSOLE, ENTERPRISE, build

S = "spendscope"


@pytest.mark.slow
def test_small_warehouse(tmp_path: Path) -> None:
    home = tmp_path / "bigwh"
    figures = build(home, spend_rows=20_000, days=30, today=date(2026, 11, 22))
    con = duckdb.connect(figures["warehouse"], read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")

        def one(sql: str) -> Any:
            row = con.execute(sql).fetchone()
            assert row is not None
            return row[0]

        # The requested count is what `spend` holds once double-booked rows are left out.
        assert one(f"SELECT count(*) FROM {S}.spend") == 20_000
        assert figures["views"]["spend"] == 20_000
        by_conn = dict(
            con.execute(f"SELECT connection_label, count(*) FROM {S}.spend GROUP BY 1").fetchall()
        )
        assert set(by_conn) == {CONSOLE, ENTERPRISE}
        assert by_conn[CONSOLE] == 12_000
        conns = {
            r[0] for r in con.execute(f"SELECT connection_label FROM {S}.connections").fetchall()
        }
        assert conns == {CONSOLE, ENTERPRISE}

        # Organization A's rows through the Enterprise connection are double-booked.
        assert one(f"SELECT count(*) FROM {S}.overlaps") > 0
        left_out = one(f"SELECT count(*) FROM {S}.spend_overlaps")
        assert left_out > 0
        assert (
            figures["rows"]["analytics_cost_key"] + figures["rows"]["analytics_cost_user"]
            == 20_000 + left_out
        )
        assert one(f"SELECT count(*) FROM {S}.usage_overlaps") > 0

        # Keys are unique, money is well-formed, the last 3 days are provisional.
        for table in ("analytics_cost_key", "analytics_cost_user", "analytics_cost_actor"):
            assert one(f"SELECT count(*) - count(DISTINCT row_key) FROM {S}.{table}") == 0
            assert (
                one(
                    f"SELECT count(*) FROM {S}.{table} "
                    "WHERE amount_cents <= 0 OR list_amount_cents < amount_cents"
                )
                == 0
            )
        assert (
            one(
                f"SELECT count(DISTINCT CAST(bucket_start AS DATE)) FROM {S}.analytics_cost_key "
                "WHERE is_provisional"
            )
            == 3
        )

        # The alternate grain carries the same money per day as the canonical one.
        mismatched = one(
            f"""SELECT count(*) FROM (
                SELECT CAST(bucket_start AS DATE) AS d, sum(amount_cents) AS s
                FROM {S}.analytics_cost_actor GROUP BY 1) a
            FULL JOIN (
                SELECT CAST(bucket_start AS DATE) AS d, sum(amount_cents) AS s
                FROM {S}.analytics_cost_key GROUP BY 1) c USING (d)
            WHERE a.s IS DISTINCT FROM c.s"""
        )
        assert mismatched == 0

        # The health page finds both connections complete through yesterday.
        through = con.execute(
            f"SELECT DISTINCT complete_through FROM {S}.sync_state WHERE feed IN ('cost', 'usage')"
        ).fetchall()
        assert through == [(date(2026, 11, 21),)]
        for table in ("claude_code_usage", "engagement_summaries", "workspaces", "api_keys"):
            assert figures["rows"][table] > 0
    finally:
        con.close()
