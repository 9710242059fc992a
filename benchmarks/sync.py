"""Sync benchmark: a full default backfill of the synthetic Console and Enterprise organizations.

Measures, against a simulator in its own process (so memory figures are the sync's own):
- requests issued, against the minimum the API's page limits allow for the data loaded;
- wall time, against the floor the analytics rate limit sets (the simulator runs with a raised
  limit to scale time: floor = the busiest organization's analytics requests / rpm);
- rows loaded per second, and peak memory (RSS) of the syncing process.

Run with `uv run python -m benchmarks.sync [--rpm 1200]`; rewrites the sync section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks.markdown import write_section
from spendscope.config import load_settings
from spendscope.connections import ConnectionStore
from spendscope.sources.base import ANALYTICS_MAX_DAYS, split
from spendscope.sources.engine import SyncRequest
from spendscope.sync import run_sync
from spendscope.warehouse.store import Warehouse
from spendscope.warehouse.tables import ANALYTICS_GRAINS

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ENGAGEMENT_DAILY = (
    "engagement_users",
    "engagement_skills",
    "engagement_connectors",
    "engagement_plugins",
    "engagement_artifacts",
    "engagement_projects",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_simulator(rpm: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spendscope",
            "simulate",
            "--port",
            str(port),
            "--now",
            NOW.isoformat(),
            "--rpm",
            str(rpm),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/_simulator/info", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start")


def _pages(units: int, limit: int = 1000) -> int:
    return max(1, math.ceil(units / limit))


def minimum_requests(
    wh: Warehouse, start: dict[str, date], end: date, counts: dict[str, int]
) -> dict[str, int]:
    """The fewest requests the API's page limits allow for what was loaded, per feed group."""
    con = wh.duckdb()
    out: dict[str, int] = {}
    for label, first in start.items():
        windows = split(first, end, ANALYTICS_MAX_DAYS)
        for (grain, cost), dims in (
            (k, ANALYTICS_GRAINS[k[0]])
            for k in ((g, c) for g in ANALYTICS_GRAINS for c in (False, True))
        ):
            table = f"analytics_{'cost' if cost else 'usage'}_{grain}"
            cols = ", ".join("actor_type, actor_id" if d == "actor" else d for d in dims)
            for w in windows:
                units = con.execute(
                    f"SELECT count(*) FROM (SELECT DISTINCT bucket_start, {cols} "
                    f"FROM spendscope.{table} WHERE connection_label = ? "
                    "AND bucket_start >= ? AND bucket_start < ?)",
                    [label, w.start_at, w.end_at],
                ).fetchone()[0]
                if (
                    units
                    or con.execute(
                        f"SELECT count(*) FROM spendscope.{table} WHERE connection_label = ?",
                        [label],
                    ).fetchone()[0]
                ):
                    out[f"{label}: analytics"] = out.get(f"{label}: analytics", 0) + _pages(units)
    for label, n in counts.items():
        out[label] = out.get(label, 0) + n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--rpm",
        type=int,
        default=1200,
        help="analytics requests per minute per organization (scaled)",
    )
    args = ap.parse_args(argv)
    proc, url = _start_simulator(args.rpm)
    try:
        info = httpx.get(url + "/_simulator/info").json()
        orgs = {o["name"]: o for o in info["organizations"]}
        keys = {o["name"]: {k["label"]: k["key"] for k in o["keys"]} for o in info["organizations"]}
        home = Path(tempfile.mkdtemp(prefix="spendscope-bench-"))
        settings = load_settings(
            home=home, env={"SPENDSCOPE_SECRET_KEY": "bench"}, overrides={"analytics_rpm": args.rpm}
        )
        store = ConnectionStore(settings)
        store.add(
            "console",
            "console",
            keys["Acme Platform"]["admin"],
            base_url=url,
            organization_id=orgs["Acme Platform"]["id"],
            organization_name="Acme Platform",
        )
        store.add(
            "enterprise",
            "enterprise",
            keys["Acme Enterprise"]["analytics"],
            base_url=url,
            organization_id=orgs["Acme Enterprise"]["id"],
            organization_name="Acme Enterprise",
        )
        wh = Warehouse(settings)
        wh.initialize()
        httpx.post(url + "/_simulator/stats/reset")
        t0 = time.perf_counter()
        reports = run_sync(settings, store, wh, request=SyncRequest(), now=lambda: NOW)
        wall = time.perf_counter() - t0
        stats = httpx.get(url + "/_simulator/stats").json()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        errors = [r.error for r in reports if r.error]
        if errors:
            print("sync failed:", errors, file=sys.stderr)
            return 1
        # Requests per organization on the analytics API (the rate-limited ones).
        today = NOW.date()
        start = {
            "console": settings.backfill_start("console", today),
            "enterprise": settings.backfill_start("enterprise", today),
        }
        days = {k: (today + timedelta(days=1) - v).days for k, v in start.items()}
        con = wh.duckdb()
        eng_latest = con.execute(
            "SELECT max(CAST(bucket_start AS DATE)) FROM spendscope.engagement_users"
        ).fetchone()[0]
        eng_days = (eng_latest - start["enterprise"]).days + 1 if eng_latest else 0
        cc_days = days["console"] - 0
        n_ws = con.execute("SELECT count(*) FROM spendscope.workspaces").fetchone()[0]
        n_groups = con.execute("SELECT count(*) FROM spendscope.rbac_groups").fetchone()[0]
        fixed = {
            "console: claude code (1 per day)": cc_days,
            "console: admin lists (1 per list, members per workspace)": 5 + int(n_ws),
            "enterprise: engagement (1 per day and endpoint)": eng_days * len(ENGAGEMENT_DAILY),
            "enterprise: engagement summaries (366 days per request)": math.ceil(eng_days / 366),
            "enterprise: admin lists (1 per list, members per group)": 4 + int(n_groups),
        }
        minimum = minimum_requests(wh, start, today + timedelta(days=1), fixed)
        issued = sum(r.requests for r in reports)
        retries = sum(r.retries for r in reports)
        rows = sum(r.rows for r in reports)
        analytics_req = {
            r.label: sum(n for p, n in r.by_endpoint.items() if "/analytics/" in p) for r in reports
        }
        served = int(stats["requests"])
        floor = max(analytics_req.values()) / args.rpm * 60
        min_total = sum(minimum.values())
        lines = [
            "| Measure | Result | Bound |",
            "|---|---|---|",
            f"| Backfill | Console {days['console']} days, Enterprise {days['enterprise']} days "
            f"(engagement through {eng_latest}) | defaults |",
            f"| Requests issued | {issued:,} ({retries} retries; the simulator served {served:,}) "
            f"| minimum {min_total:,}: "
            f"{issued / min_total:.3f}× (target ≤ 1.05×) |",
            f"| Analytics requests per organization | Console {analytics_req['console']:,}, "
            f"Enterprise {analytics_req['enterprise']:,} | {args.rpm} per minute each |",
            f"| Wall time | {wall:.1f} s | rate-limit floor {floor:.1f} s: {wall / floor:.2f}× "
            "(target ≤ 1.20×) |",
            f"| Rows loaded | {rows:,} ({rows / wall:,.0f} rows/s) | |",
            f"| Peak memory of the syncing process | {peak_mb:.0f} MB | < 1,024 MB |",
            f"| dlt load runs | {wh.load_runs} | |",
        ]
        lines += ["", "Minimum requests by part:", "", "| Part | Minimum |", "|---|---|"]
        lines += [f"| {k} | {v:,} |" for k, v in minimum.items()]
        text = "\n".join(lines)
        print(text)
        _write(args.rpm, text)
        wh.close()
        return 0
    finally:
        proc.kill()


def _write(rpm: int, table: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    write_section(
        "sync",
        "Sync (full backfill)",
        [
            f"Measured {stamp} on a 2-core machine; simulator in its own "
            f"process on loopback with the analytics limit raised to {rpm} requests "
            "per minute per organization (time scaled accordingly).",
            "",
            table,
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
