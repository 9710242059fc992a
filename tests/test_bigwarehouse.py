"""The benchmark warehouse generator: exact spend row count, both connections, double-booking,
and totals that agree between the raw tables, the views and the marts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from benchmarks.bigwarehouse import CONSOLE, ENTERPRISE, ORG_A, ORG_B, build

from spendscope.warehouse.schema import ALL_TABLES

S = "spendscope"
TOKENS = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens", "requests")


@pytest.mark.slow
def test_small_warehouse(tmp_path: Path) -> None:
    figures = build(tmp_path / "bigwh", spend_rows=20_000, days=30, today=date(2026, 11, 22))
    con = duckdb.connect(figures["warehouse"], read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")

        def one(sql: str) -> Any:
            row = con.execute(sql).fetchone()
            assert row is not None
            return row[0]

        # The requested count is what `spend` holds once double-booked rows are left out.
        assert one(f"SELECT count(*) FROM {S}.spend") == 20_000 == figures["views"]["spend"]
        by_conn = dict(
            con.execute(f"SELECT connection_label, count(*) FROM {S}.spend GROUP BY 1").fetchall()
        )
        assert by_conn == {CONSOLE: 12_000, ENTERPRISE: 8_000}
        labels = con.execute(f"SELECT connection_label FROM {S}.connections").fetchall()
        assert sorted(labels) == [(CONSOLE,), (ENTERPRISE,)]

        # Organization A's rows through the Enterprise connection are the double-booked ones:
        # on the last 15 days, with exactly the Console spend of each of those days.
        child = f"{S}.analytics_cost_user WHERE organization_id = '{ORG_A}'"
        left_out = one(f"SELECT count(*) FROM {S}.spend_overlaps")
        assert left_out == one(f"SELECT count(*) FROM {child}") > 0
        assert one(f"SELECT count(DISTINCT bucket_start) FROM {child}") == 15
        assert one(f"SELECT count(DISTINCT day) FROM {S}.overlaps") == 15
        assert figures["rows"]["analytics_cost_key"] + figures["rows"]["analytics_cost_user"] == (
            20_000 + left_out
        )
        assert one(f"SELECT count(*) FROM {S}.usage_overlaps") > 0
        assert (
            one(f"""SELECT count(*) FROM (
                SELECT bucket_start, sum(amount_cents) AS s FROM {child} GROUP BY 1) c
            JOIN (SELECT bucket_start, sum(amount_cents) AS s FROM {S}.analytics_cost_key
                GROUP BY 1) k USING (bucket_start) WHERE c.s = k.s""")
            == 15
        )

        # The views' totals are the raw rows' own (the Enterprise ones of organization B).
        raw = f"""SELECT sum(amount_cents) FROM (
            SELECT amount_cents FROM {S}.analytics_cost_key UNION ALL
            SELECT amount_cents FROM {S}.analytics_cost_user WHERE organization_id = '{ORG_B}')"""
        cents = one(raw)
        assert isinstance(cents, Decimal)
        assert cents > 0
        assert one(f"SELECT sum(billed_cost) FROM {S}.spend") * 100 == cents
        for col in TOKENS:
            raw_tokens = one(f"""SELECT sum({col}) FROM (
                SELECT {col} FROM {S}.analytics_usage_key UNION ALL
                SELECT {col} FROM {S}.analytics_usage_user WHERE organization_id = '{ORG_B}')""")
            assert one(f"SELECT sum({col}) FROM {S}.usage") == raw_tokens > 0

        # The marts hold the views' totals, by the canonical grain and by the alternate one.
        nano = int(cents * 1_000_000_000)  # mart money: integers of 1e-11 USD = 1e-9 cent
        for grain in ("canon", "alt"):
            assert one(f"SELECT sum(billed_nc) FROM {S}.mart_spend WHERE {grain}") == nano
            assert one(f"SELECT sum(output_tokens) FROM {S}.mart_usage WHERE {grain}") == one(
                f"SELECT sum(output_tokens) FROM {S}.usage"
            )
        assert one(f"SELECT count(*) FROM {S}.mart_spend WHERE canon") == 20_000

        # Each alternate grain carries the canonical grain's money and tokens per day and
        # organization, to the last 1e-9 cent / token.
        for alt, canon in (("actor", "key"), ("detail", "user")):
            for endpoint, cols in (
                ("cost", ("amount_cents", "list_amount_cents")),
                ("usage", TOKENS),
            ):
                sums = ", ".join(f"sum({c}) AS {c}" for c in cols)
                by_day = f"SELECT bucket_start, COALESCE(organization_id, '{ORG_A}') AS o, {sums}"
                mismatched = one(f"""SELECT count(*) FROM (
                    {by_day} FROM {S}.analytics_{endpoint}_{alt} GROUP BY 1, 2) a
                FULL JOIN ({by_day} FROM {S}.analytics_{endpoint}_{canon} GROUP BY 1, 2) c
                    USING (bucket_start, o)
                WHERE {" OR ".join(f"a.{c} IS DISTINCT FROM c.{c}" for c in cols)}""")
                assert mismatched == 0, (endpoint, alt)

        # Keys (row keys and natural keys) are unique, money is well-formed, the last 3 days are
        # provisional.
        for table in figures["rows"].keys() & ALL_TABLES.keys():
            n, key = figures["rows"][table], ", ".join(("connection_label", *ALL_TABLES[table].key))
            assert one(f"SELECT count(DISTINCT row_key) FROM {S}.{table}") == n, table
            assert one(f"SELECT count(DISTINCT ({key})) FROM {S}.{table}") == n, table
        for table in ("key", "user", "actor", "detail"):
            assert (
                one(
                    f"SELECT count(*) FROM {S}.analytics_cost_{table} "
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

        # The pages find names for every key and workspace, and both connections complete
        # through yesterday.
        for table, col in (("api_keys", "api_key_id"), ("workspaces", "workspace_id")):
            assert (
                one(
                    f"SELECT count(*) FROM (SELECT DISTINCT {col} AS id "
                    f"FROM {S}.analytics_cost_key) k ANTI JOIN {S}.{table} USING (id)"
                )
                == 0
            )
        through = con.execute(
            f"SELECT DISTINCT complete_through FROM {S}.sync_state WHERE feed IN ('cost', 'usage')"
        ).fetchall()
        assert through == [(date(2026, 11, 21),)]
        for table in (
            "claude_code_usage",
            "engagement_summaries",
            "engagement_skills",
            "org_users",
        ):
            assert figures["rows"][table] > 0
    finally:
        con.close()
