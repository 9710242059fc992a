"""The demo's watch step: a budget near its threshold, the organization's forecast, the
anomalies, and the alerts delivered to a webhook receiver the demo runs on loopback.

`Receiver` is that receiver: an HTTP server on 127.0.0.1 in a thread of the demo's process that
appends each POST's JSON body to a log file, one document a line, and answers 200. It stays up
as long as the demo (the dashboard included), so alerts of later evaluations arrive too.

`watch_demo` adds a `webhook` channel pointing at it (`ChannelStore`, as `alerts channels add`
does), sets a budget on the organization whose amount puts the month to date just past its
80 % threshold (`make_budget` and `save_budgets`, as `budgets set` does), and runs the
evaluation `alerts evaluate` runs (`evaluate_alerts`: the budgets, then the anomalies, whose
stored rows `find_anomalies` reads back). A demo run again on the same home first removes its
channel (it pointed at the last run's receiver) and deletes its budget, then evaluates, so the
budget's thresholds fire anew instead of staying where the last run left them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .config import Settings
from .money import dollars
from .notify.channels import ChannelStore, check_options
from .reporting.sql import privacy
from .warehouse.connection import Warehouse
from .watch.alerting import Evaluation, evaluate_alerts
from .watch.anomaly_store import read_anomalies
from .watch.anomaly_view import public
from .watch.budget_model import make_budget
from .watch.budget_store import delete_budget, load_budgets, save_budgets
from .watch.budget_view import budgets_answer
from .watch.outlook import answer, forecast_scope

BUDGET = "demo"
CHANNEL = "demo-receiver"
RECEIVER_LOG = "demo-receiver.log"
# The month to date as a share of the demo budget: just past its 80 % threshold.
TARGET = Decimal("0.82")
CENT = Decimal("0.01")
# The anomalies shown: how many, and over how many days before today.
ANOMALIES_SHOWN = 5
ANOMALY_DAYS = 7


class Receiver:
    """A webhook receiver on loopback that appends each POST's body to `log` (emptied first);
    a context manager, or `close()` it."""

    def __init__(self, log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock, log.open("a", encoding="utf-8") as out:
                    out.write(_log_line(body) + "\n")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the log file is the record."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="demo-receiver", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def received(self) -> list[dict[str, Any]]:
        """The documents received so far, oldest first."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _log_line(body: bytes) -> str:
    """A body as one line of JSON (a body that is not JSON kept as text under `body`)."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"body": body.decode("utf-8", "replace")}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def arrivals(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alert notifications in the receiver's documents, a group's or digest's each on its
    own: kind, status, severity, title."""
    out = []
    for doc in docs:
        for n in doc.get("notifications") or [doc]:
            out.append({k: n.get(k) for k in ("kind", "status", "severity", "title")})
    return out


@dataclass(frozen=True, slots=True)
class DemoWatch:
    """What the watch step found: the organization's forecast (`GET /api/v1/forecast`'s
    `forecast`), the demo budget (`GET /api/v1/budgets`'s row; None while the month has no
    complete day), the evaluation, the anomalies (`GET /api/v1/anomalies`'s) and the receiver's
    documents after the evaluation."""

    forecast: dict[str, Any]
    budget: dict[str, Any] | None
    evaluation: Evaluation
    anomalies: list[dict[str, Any]]
    receiver_url: str
    log: Path
    received: list[dict[str, Any]]


def budget_amount(month_to_date: Decimal) -> Decimal:
    """A monthly amount the month to date is just past 80 % of (`TARGET` of it): in whole
    dollars when that keeps the month to date at 80 % or more, else to the cent."""
    exact = month_to_date / TARGET
    whole = exact.quantize(Decimal(1), ROUND_CEILING)
    if month_to_date >= whole * Decimal("0.8"):
        return whole
    return max(exact.quantize(CENT, ROUND_HALF_EVEN), CENT)


def _reset(settings: Settings, warehouse: Warehouse, store: ChannelStore, now: datetime) -> None:
    """Remove what an earlier run of the demo left: its channel, then its budget (and what the
    budget fired, resolved by an evaluation with the channel gone)."""
    if any(c.name == CHANNEL for c in store.all()):
        store.remove(CHANNEL)
    if BUDGET in load_budgets(warehouse):
        delete_budget(warehouse, BUDGET)
        evaluate_alerts(settings, warehouse, now)


def watch_demo(
    settings: Settings,
    warehouse: Warehouse,
    receiver: Receiver,
    now: datetime,
    say: Callable[[str], None],
) -> DemoWatch:
    """Set the demo budget, add the receiver's channel, evaluate the alerts, and read the
    forecast, the budget and the anomalies as of `now` (see the module's docstring)."""
    store = ChannelStore(settings)
    _reset(settings, warehouse, store, now)
    outlook = forecast_scope(warehouse, None, now)
    month_to_date = outlook.parent.forecast.actual
    options, plaintext = check_options("webhook", url=receiver.url)
    store.add(CHANNEL, "webhook", options, plaintext, now=now)
    say(f"alert receiver on {receiver.url} (channel {CHANNEL})")
    if month_to_date > 0:
        amount = budget_amount(month_to_date)
        save_budgets(warehouse, [make_budget(BUDGET, "organization", amount)], now)
        say(f"budget {BUDGET}: organization, {dollars(amount)} a month")
    evaluation = evaluate_alerts(settings, warehouse, now)
    budget = None
    if month_to_date > 0:
        budget = budgets_answer(warehouse, now, BUDGET)["budgets"][0]
    return DemoWatch(
        answer(outlook)["forecast"],
        budget,
        evaluation,
        find_anomalies(warehouse, now),
        receiver.url,
        receiver.log,
        receiver.received(),
    )


def find_anomalies(warehouse: Warehouse, now: datetime) -> list[dict[str, Any]]:
    """The anomalies of the last `ANOMALY_DAYS` days as the evaluation left them, biggest
    impact first (at most `ANOMALIES_SHOWN`), each as `GET /api/v1/anomalies` answers it."""
    since = now.date() - timedelta(days=ANOMALY_DAYS)
    with warehouse.cursor() as cur:
        found = read_anomalies(cur, "WHERE day >= ?", since)
    shown = sorted(found.values(), key=lambda a: (-a.impact, a.id))[:ANOMALIES_SHOWN]
    p = privacy(warehouse)
    return [public(a, p) for a in shown]
