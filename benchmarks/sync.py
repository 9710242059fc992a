"""Sync benchmark: a full default backfill of the synthetic Console and Enterprise organizations.

Measures, against a simulator in its own process (so memory figures are the sync's own):
- requests issued, against the minimum the API's page limits allow for the data loaded;
- wall time, against the floor the analytics rate limit sets (the simulator runs with a raised
  limit to scale time: floor = the busiest organization's analytics requests / rpm);
- rows loaded per second, and peak memory (RSS) of the syncing process;
- the disk the warehouse takes while it syncs: the peak of the file, its write-ahead log and
  DuckDB's spill directory together (sampled every 20 ms), against the file's final size.

Run with `uv run python -m benchmarks.sync [--rpm 1200]`; rewrites the sync section of
BENCHMARKS.md. `--upsert ROWS` instead compares ways to upsert a window into a table of ROWS rows
(the write path's choice) and rewrites the upsert section.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks.markdown import write_section
from spendscope.config import load_settings
from spendscope.connections import ConnectionStore
from spendscope.refresh import initialize
from spendscope.sources.base import ANALYTICS_MAX_DAYS, split
from spendscope.sync.reports import SyncRequest
from spendscope.sync.run import run_sync
from spendscope.warehouse.connection import Warehouse
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


class DiskSampler:
    """Samples the size of the warehouse file, its write-ahead log and its spill directory."""

    def __init__(self, path: Path, every: float = 0.02) -> None:
        self.path = path
        self.every = every
        self.peak = {"file": 0, "wal": 0, "tmp": 0, "total": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _size(self, p: Path) -> int:
        try:
            if p.is_dir():
                return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            return p.stat().st_size
        except OSError:  # appeared or vanished while measured
            return 0

    def sample(self) -> None:
        sizes = {
            "file": self._size(self.path),
            "wal": self._size(self.path.with_name(self.path.name + ".wal")),
            "tmp": self._size(self.path.with_name(self.path.name + ".tmp")),
        }
        sizes["total"] = sum(sizes.values())
        for k, v in sizes.items():
            self.peak[k] = max(self.peak[k], v)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> DiskSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


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


UPSERTS = {
    "DELETE narrowed to the batch's connection and bucket range, then INSERT BY NAME (used)": (
        "",
        "DELETE FROM t WHERE row_key IN (SELECT row_key FROM incoming) "
        "AND connection_label = 'c' AND bucket_start BETWEEN ? AND ?; "
        "INSERT INTO t BY NAME SELECT * FROM incoming",
    ),
    "DELETE by row_key alone, then INSERT BY NAME": (
        "",
        "DELETE FROM t WHERE row_key IN (SELECT row_key FROM incoming); "
        "INSERT INTO t BY NAME SELECT * FROM incoming",
    ),
    "PRIMARY KEY (row_key) and INSERT OR REPLACE": (
        "PRIMARY KEY",
        "INSERT OR REPLACE INTO t BY NAME SELECT * FROM incoming",
    ),
}


def upsert(rows: int, windows: int = 20, days: int = 365) -> list[str]:
    """Time upserting one-day windows (every row of the day revised) into a table of `rows`."""
    import duckdb
    import pyarrow.compute as pc

    lines = ["| Method | Build | Per window | Rows per window |", "|---|---|---|---|"]
    for name, (pk, sql) in UPSERTS.items():
        path = Path(tempfile.mkdtemp(prefix="spendscope-upsert-")) / "u.duckdb"
        con = duckdb.connect(str(path), config={"memory_limit": "256MB"})
        try:
            con.execute(
                f"CREATE TABLE t (row_key VARCHAR NOT NULL {pk}, connection_label VARCHAR NOT "
                "NULL, bucket_start TIMESTAMPTZ NOT NULL, model VARCHAR, amount DECIMAL(38, 9), "
                "tokens BIGINT)"
            )
            t0 = time.perf_counter()
            try:
                con.execute(
                    "INSERT INTO t SELECT md5(CAST(i AS VARCHAR))[:32], 'c', TIMESTAMPTZ "
                    f"'2025-11-01 00:00:00+00' + to_days(CAST(i * {days} // {rows} AS INTEGER)), "
                    f"'model-' || (i % 7), (i % 1000) / 7.0, i FROM range({rows}) r(i) ORDER BY 3"
                )
                con.execute("CHECKPOINT")
            except duckdb.Error as exc:
                lines.append(f"| {name} | fails: {str(exc).splitlines()[0][:90]} | — | — |")
                continue
            build = time.perf_counter() - t0
            batches = []
            for d in range(days - windows, days):
                batch = con.execute(
                    "SELECT row_key, connection_label, bucket_start, model, amount + 1 AS amount, "
                    "tokens FROM t WHERE bucket_start >= TIMESTAMPTZ '2025-11-01 00:00:00+00' + "
                    f"to_days({d}) AND bucket_start < TIMESTAMPTZ '2025-11-01 00:00:00+00' + "
                    f"to_days({d + 1})"
                ).to_arrow_table()
                batches.append(batch)
            t1 = time.perf_counter()
            for batch in batches:
                cur = con.cursor()
                cur.execute("BEGIN TRANSACTION")
                cur.register("incoming", batch)
                bounds = pc.min_max(batch.column("bucket_start")).as_py()
                for statement in sql.split("; "):
                    params = [bounds["min"], bounds["max"]] if "?" in statement else []
                    cur.execute(statement, params)
                cur.execute("COMMIT")
                cur.close()
            per = (time.perf_counter() - t1) / len(batches)
            lines.append(
                f"| {name} | {build:.1f} s | {per * 1000:,.0f} ms | {batches[0].num_rows:,} |"
            )
        finally:
            con.close()
            shutil.rmtree(path.parent, ignore_errors=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--rpm",
        type=int,
        default=1200,
        help="analytics requests per minute per organization (scaled)",
    )
    ap.add_argument(
        "--upsert", type=int, metavar="ROWS", help="compare upsert methods on ROWS rows instead"
    )
    args = ap.parse_args(argv)
    if args.upsert:
        lines = upsert(args.upsert)
        print("\n".join(lines))
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        write_section(
            "upsert",
            "Write path: upserting a window",
            [
                f"Measured {stamp} on a 2-core machine: a table of {args.upsert:,} rows over "
                "365 days, DuckDB memory limit 256 MB (the warehouse's); 20 one-day windows, "
                "every row of the day revised, each in its own transaction.",
                "",
                *lines,
            ],
        )
        return 0
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
        initialize(wh)
        httpx.post(url + "/_simulator/stats/reset")
        t0 = time.perf_counter()
        with DiskSampler(Path(settings.warehouse_path)) as disk:
            reports = run_sync(settings, store, wh, request=SyncRequest(), now=lambda: NOW)
        wall = time.perf_counter() - t0
        final_bytes = Path(settings.warehouse_path).stat().st_size
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
            f"| Write transactions (a window, or an event) | {wh.load_runs:,} "
            f"({wh.write_seconds:.1f} s in all) and {wh.checkpoints} checkpoints | |",
            f"| Disk while syncing (file + write-ahead log + spill) | peak "
            f"{_mb(disk.peak['total'])}: log at most {_mb(disk.peak['wal'])}, spill at most "
            f"{_mb(disk.peak['tmp'])} | final file {_mb(final_bytes)} |",
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
