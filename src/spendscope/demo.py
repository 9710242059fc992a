"""The demo: a first look with no Anthropic account.

`run_demo` starts the simulator with a level shift injected into one workspace a few days ago,
connects its Console and Enterprise organizations to a demo home, backfills them, computes a
month-to-date summary, and runs the watch step (`demo_watch`): a budget near its threshold, the
forecast, the anomalies, and the alerts delivered to a webhook receiver on loopback. It returns
a `DemoResult` that keeps the simulator, the receiver and the warehouse open (so a dashboard can
serve the demo data, sync against the simulator and deliver later alerts) until it is closed.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from .config import Settings, load_settings
from .connections import ConnectionStore
from .demo_watch import RECEIVER_LOG, DemoWatch, Receiver, watch_demo
from .errors import SpendscopeError
from .reporting.catalog import Scope
from .reporting.queries import totals
from .simulator.server import RunningSimulator
from .simulator.state import SimConfig
from .sync.reports import ConnectionReport, Progress, SyncRequest
from .sync.run import run_sync
from .warehouse.connection import Warehouse

CONSOLE_LABEL = "acme-console"
ENTERPRISE_LABEL = "acme-enterprise"
# How many rows each summary table keeps (the biggest).
TOP = 5
# The anomaly injected: a level shift of this workspace of the Console organization, by this
# factor, from the last weekday at least this many days before today (a complete day, whatever
# the hour; a weekday, when the workspace spends enough for the jump to pass the anomaly
# detection's dollar floor). A shift, not a one-day spike: its episode still runs on the newest
# complete day, so the anomaly is active and its alert fires (an anomaly found once it is over is
# listed, never notified). Injected when the backfill has this many days: 14 complete days of
# history before the shift, whichever weekday today is.
ANOMALY_WORKSPACE = "Production"
ANOMALY_FACTOR = 6
ANOMALY_DAYS_AGO = 3
ANOMALY_MIN_DAYS = 20


class SimulatorUnavailable(SpendscopeError):
    """The simulator could not listen on the port asked for."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(f"cannot start the simulator on port {port}: {reason}")
        self.port = port


@dataclass(frozen=True, slots=True)
class SummaryTable:
    """One table of the summary: cost totals grouped by `columns[:-1]`, biggest first."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    metric: str = "cost"


@dataclass(slots=True)
class DemoResult:
    """What the demo did, and the simulator, receiver and warehouse it leaves open (close it
    when done)."""

    home: Path
    settings: Settings
    simulator: RunningSimulator
    warehouse: Warehouse
    connected: list[tuple[str, str]]  # (label, organization name)
    reports: list[ConnectionReport]
    month: date  # first day of the month the summary covers
    summary: list[SummaryTable]
    injected: str | None  # the anomaly's spec (None: the backfill is too short to flag one)
    receiver: Receiver
    watch: DemoWatch

    def close(self) -> None:
        try:
            self.warehouse.close()
        finally:
            try:
                self.receiver.close()
            finally:
                self.simulator.__exit__(None, None, None)

    def __enter__(self) -> DemoResult:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# (group by, title, only this connection)
_SUMMARY: tuple[tuple[str, str, str | None], ...] = (
    ("connection", "By connection", None),
    ("model", "Top models", None),
    ("workspace", "Top workspaces (Console)", CONSOLE_LABEL),
    ("api_key", "Top API keys (Console; — = usage without a key)", CONSOLE_LABEL),
    ("user", "Top users (Enterprise)", ENTERPRISE_LABEL),
    ("product", "By product (Enterprise)", ENTERPRISE_LABEL),
    ("team", "Top teams (allocated: docs/allocation.md)", None),
)


def run_demo(
    home: Path,
    *,
    port: int = 8765,
    days: int = 90,
    fresh: bool = False,
    now: datetime | None = None,
    on_step: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Start the simulator on `port` (with an anomaly injected when `days` reaches
    `ANOMALY_MIN_DAYS`), connect its two organizations to `home` (replacing the demo connections
    already there; `fresh` empties `home` first), backfill `days` of history, summarize the
    month to date and run the watch step (`demo_watch.watch_demo`).

    `now` freezes the simulator's clock (default: the real clock); `on_step` receives a line
    per step, `progress` the sync's window counts. Raises `SimulatorUnavailable` when the port
    is taken."""
    say = on_step or (lambda _line: None)
    if fresh and home.exists():
        shutil.rmtree(home)
    settings = load_settings(
        home=home,
        overrides={
            "console_backfill_days": days,
            "enterprise_backfill_days": days,
            "analytics_rpm": 0,
        },
    )
    settings.ensure_home()

    def clock() -> datetime:
        return now if now is not None else datetime.now(UTC)

    injected = anomaly_spec(clock().date(), days)
    config = SimConfig(rpm=0, injections=(injected,) if injected else ())
    try:
        running = RunningSimulator(config, now=now, port=port, warm=True)
    except OSError as exc:
        raise SimulatorUnavailable(port, str(exc.strerror or exc)) from None
    with contextlib.ExitStack() as opened:
        opened.enter_context(running)
        say(f"simulator on {running.url}")
        if injected:
            say(f"anomaly injected: {injected}")
        store = ConnectionStore(settings)
        connected = _connect(store, running, say)
        wh = Warehouse(settings)
        opened.callback(wh.close)
        say(f"backfilling {days} days …")
        reports = run_sync(settings, store, wh, request=SyncRequest(), progress=progress, now=clock)
        today = clock().date()
        if allocate_demo(wh, home, today, today - timedelta(days=days)):
            say(f"allocation: sample rules and mappings from {home / 'allocation'}")
        first = today.replace(day=1)
        summary = summarize(wh, first, today + timedelta(days=1))
        receiver = opened.enter_context(Receiver(home / RECEIVER_LOG))
        watch = watch_demo(settings, wh, receiver, clock(), say)
        opened.pop_all()  # done: the result keeps the simulator, receiver and warehouse open
    return DemoResult(
        home, settings, running, wh, connected, reports, first, summary, injected, receiver, watch
    )


def anomaly_spec(today: date, days: int) -> str | None:
    """The simulator's injection for a backfill of `days` ending `today` (see
    `ANOMALY_WORKSPACE`), or None when the backfill is too short for it to be flagged."""
    if days < ANOMALY_MIN_DAYS:
        return None
    day = today - timedelta(days=ANOMALY_DAYS_AGO)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return f"shift:workspace={ANOMALY_WORKSPACE}:day={day.isoformat()}:x={ANOMALY_FACTOR}"


# The demo's allocation: teams from key names, RBAC groups and workspaces, the default
# workspace shared in proportion, and cost centres. Written to the demo home for reading.
DEMO_RULES = """# Sample allocation rules (see docs/allocation.md).
[dimensions.team]
rbac = "split"

[[dimensions.team.rules]]
id = "team-from-key-name"
when = { api_key_name = { regex = "^team-([a-z]+)-" } }
value = "{1}"

[[dimensions.team.rules]]
id = "shared-default-workspace"
when = { workspace_name = { equals = "Default" } }
split = { method = "proportional", values = ["payments", "search", "growth"] }

[[dimensions.team.rules]]
id = "rbac-groups"
inherit = "rbac_group_name"

[dimensions.cost_center]
default = "CC-000 (unassigned)"

[[dimensions.cost_center.rules]]
id = "production"
when = { workspace_name = { in = ["Production", "Support Bots"] } }
value = "CC-100"
"""
DEMO_MAPPINGS = """subject_type,subject,dimension,value,valid_from,valid_to
workspace,Research,team,research,{start},
workspace,Data Science,team,data-science,{start},
api_key,team-search-ci,team,platform,{moved},
connection,acme-enterprise,cost_center,CC-200,{start},
"""


def allocate_demo(wh: Warehouse, home: Path, today: date, start: date) -> bool:
    """Install the sample allocation (rules from `start`, a key moving team ten days ago) unless
    the home already has rules; returns whether it did."""
    from .allocation.model import parse_mappings_csv
    from .allocation.store import import_mappings, install_rules, load_config
    from .refresh import refresh_allocation

    if load_config(wh).versions:
        return False
    folder = home / "allocation"
    folder.mkdir(parents=True, exist_ok=True)
    rules = folder / "rules.toml"
    rules.write_text(DEMO_RULES)
    mappings = folder / "teams.csv"
    moved = max(start, today - timedelta(days=10))
    mappings.write_text(DEMO_MAPPINGS.format(start=start.isoformat(), moved=moved.isoformat()))
    install_rules(
        wh, DEMO_RULES, source=rules.name, effective=start, today=today, backfill_from=start
    )
    rows = parse_mappings_csv(mappings.read_text(), mappings.name)
    import_mappings(wh, rows, source=mappings.name, today=today, backfill_from=start)
    refresh_allocation(wh)
    return True


def _connect(
    store: ConnectionStore, running: RunningSimulator, say: Callable[[str], None]
) -> list[tuple[str, str]]:
    """Add the simulator's Console and Enterprise organizations as the demo connections."""
    world = running.sim.world
    demo_orgs = (
        (CONSOLE_LABEL, world.console, "admin"),
        (ENTERPRISE_LABEL, world.enterprise, "analytics"),
    )
    # Both go before either is added again: a demo home whose master key changed would
    # otherwise refuse the new keys while an old one is still stored.
    existing = {c.label for c in store.all(include_deleted=True)}
    for label, _, _ in demo_orgs:
        if label in existing:
            store.remove(label)
    connected = []
    for label, org, cred in demo_orgs:
        key = next(c.secret for c in org.credentials if c.label == cred)
        store.add(
            label,
            org.kind,
            key,
            base_url=running.url,
            organization_id=org.id,
            organization_name=org.name,
        )
        say(f"connected {label}: {org.name}")
        connected.append((label, org.name))
    return connected


def summarize(wh: Warehouse, first: date, end: date) -> list[SummaryTable]:
    """The summary's tables: cost from `first` to `end` (exclusive) by connection, model,
    workspace, API key, user, product and team, double-booked spend counted once."""
    tables = []
    for by, title, conn in _SUMMARY:
        filters = {"connection": [conn]} if conn else {}
        cols, rows = totals(wh, "cost", Scope(first, end, filters), [by], limit=TOP)
        tables.append(SummaryTable(title, cols, rows))
    return tables
