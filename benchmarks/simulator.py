"""Simulator benchmark: start-up time, page latency, history generation and memory.

Run with `make benchmark` (or `uv run python -m benchmarks.simulator`). Prints a Markdown table
and rewrites the simulator section of BENCHMARKS.md.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from benchmarks.markdown import write_section
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BETA = {"anthropic-beta": "analytics-usage-cost-2026-08-24", "anthropic-version": "2023-06-01"}


def _keys(url: str) -> dict[str, str]:
    info = httpx.get(url + "/_simulator/info").json()
    out = {}
    for org in info["organizations"]:
        for k in org["keys"]:
            if k["label"] in ("admin", "analytics") and org["analytics_enabled"]:
                out[org["kind"]] = k["key"]
    return out


def _walk(client: httpx.Client, path: str, key: str, params: dict[str, Any]) -> list[float]:
    """Time every page of a query (ms per page, server round trip on loopback)."""
    times = []
    page: str | None = None
    while True:
        q = dict(params)
        if page:
            q["page"] = page
        t0 = time.perf_counter()
        r = client.get(path, params=q, headers={**BETA, "x-api-key": key})
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        body = r.json()
        page = body.get("next_page")
        if not body.get("has_more", bool(page)) or not page:
            return times


def main() -> int:
    rows: list[tuple[str, str, str]] = []
    t0 = time.perf_counter()
    with RunningSimulator(SimConfig(seed=42, rpm=0), now=NOW) as running:
        httpx.get(running.url + "/_simulator/info").raise_for_status()
        startup = time.perf_counter() - t0
        rows.append(("Start-up to first answer", f"{startup * 1000:.0f} ms", "< 2,000 ms"))
        keys = _keys(running.url)
        t1 = time.perf_counter()
        running.sim.warm()
        warm = time.perf_counter() - t1
        facts = sum(len(v) for v in running.sim.store._base.values())
        rows.append(
            (
                "Generate 13 months, 3 organizations",
                f"{warm:.1f} s ({facts:,} facts)",
                "background, after start-up",
            )
        )
        client = httpx.Client(base_url=running.url, timeout=60)
        cases = [
            (
                "B usage, 31 days, by day x key x model x tier x context",
                "/v1/organizations/analytics/usage",
                keys["console"],
                {
                    "starting_at": "2026-10-22T00:00:00Z",
                    "ending_at": "2026-11-22T00:00:00Z",
                    "time_bucket_width": "1d",
                    "limit": 1000,
                    "group_by[]": [
                        "workspace_id",
                        "api_key_id",
                        "model",
                        "service_tier",
                        "context_window",
                    ],
                },
            ),
            (
                "B cost, 31 days, by day x actor x product x model (+ token type)",
                "/v1/organizations/analytics/cost",
                keys["enterprise"],
                {
                    "starting_at": "2026-10-22T00:00:00Z",
                    "ending_at": "2026-11-22T00:00:00Z",
                    "time_bucket_width": "1d",
                    "limit": 1000,
                    "group_by[]": ["organization_id", "actor", "product", "model", "token_type"],
                },
            ),
            (
                "A messages usage, 31 daily buckets, all 9 dimensions",
                "/v1/organizations/usage_report/messages",
                keys["console"],
                {
                    "starting_at": "2026-10-22T00:00:00Z",
                    "ending_at": "2026-11-22T00:00:00Z",
                    "limit": 31,
                    "group_by[]": [
                        "api_key_id",
                        "workspace_id",
                        "model",
                        "service_tier",
                        "context_window",
                        "inference_geo",
                        "account_id",
                        "service_account_id",
                    ],
                },
            ),
        ]
        for label, path, key, params in cases:
            first = _walk(client, path, key, params)
            again = _walk(client, path, key, params)
            rows.append(
                (
                    label,
                    f"{len(first)} pages: first {first[0]:.0f} ms, then median "
                    f"{statistics.median(again):.1f} ms / page",
                    "< 50 ms per page",
                )
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("Peak memory (benchmark process, simulator included)", f"{peak:.0f} MB", ""))

    table = ["| Measure | Result | Target |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    print("\n".join(table))
    write_section(
        "simulator",
        "Simulator",
        [f"Measured {stamp} on a 2-core machine, loopback HTTP.", "", *table],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
