"""The REST API's alert endpoints under /api/v1/alerts: the delivery log, the notifications that
never arrived, and an evaluation of the alerts — what `spendscope alerts log` and `alerts
evaluate` send while `serve` runs (it holds the warehouse). The evaluation's answer is made and
said here (`evaluate_answer`, `evaluation_lines`) for the command and the API alike.

An evaluation through the API is the one `serve` runs after each sync: budgets evaluated, their
alerts delivered through the channels and routes, then the held notifications that have fallen
due sent. (The count of dead notifications is `GET /api/v1/alerts/dead`.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query

from ..notify.alert import json_value
from ..notify.batches import held_report
from ..notify.channels import ChannelStore
from ..notify.delivery import Delivery, Pacing, describe_flushed, flush
from ..notify.records import attempt_log, dead_deliveries, preview_notice
from ..notify.routes import DIGEST
from ..notify.senders import Outcome
from ..watch.alerting import describe_delivery, evaluate_alerts
from .deps import State, WarehouseDep
from .errors import CROSS_SITE, ERROR_RESPONSES
from .models import JSON
from .models_alerts import AttemptsOut, DeadListOut, EvaluateIn, EvaluationOut

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse

ALERTS = "Alerts"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=10_000, description="How many rows, newest first.")]


def evaluate_answer(
    settings: Settings,
    warehouse: Warehouse,
    now: datetime,
    *,
    dry_run: bool = False,
    pacing: Pacing | None = None,
) -> dict[str, Any]:
    """Evaluate the alerts and deliver them, then send the held notifications now due; with
    `dry_run`, what would be sent (and what is held), changing nothing. The answer of
    `POST /api/v1/alerts/evaluate` and of `alerts evaluate --json`."""
    found = evaluate_alerts(settings, warehouse, now, dry_run=dry_run, pacing=pacing)
    out = found.as_json()
    store = ChannelStore(settings)
    for alert, result in zip(out["alerts"], found.results, strict=True):
        dues = {d.channel: d.due for d in result.deliveries}
        if any(d.state == "would_hold" and d.due is None for d in result.deliveries):
            preview = preview_notice(warehouse, result.alert, store.all(), now)
            dues |= {s.channel: s.due for s in preview if s.state == "would_hold"}
        for shown in alert["deliveries"]:
            shown["due"] = dues.get(shown["channel"])
    flushed = []
    if not dry_run:
        flushed = flush(warehouse, store, now, pacing=pacing)
    out["flushed"] = [f.as_json() for f in flushed]
    out["failed"] += sum(len(f.notices) for f in flushed if f.delivery.state == "dead")
    out["held"] = held_report(warehouse, now)
    return out


def evaluate_here(
    settings: Settings, clock: Callable[[], datetime], *, dry_run: bool = False
) -> dict[str, Any]:
    """`evaluate_answer` on the home's own warehouse (no `serve` holds it), as JSON values;
    `clock` dates the evaluation and the attempts."""
    from ..refresh import initialize
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        initialize(wh)
        pacing = Pacing.from_settings(settings, clock=clock)
        found = evaluate_answer(settings, wh, clock(), dry_run=dry_run, pacing=pacing)
    finally:
        wh.close()
    shown: dict[str, Any] = json_value(found)
    return shown


# -- saying an evaluation (`alerts evaluate`, locally or through the API) ------------------------


def _when(text: str) -> str:
    return f"{datetime.fromisoformat(text).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def delivery_text(d: Mapping[str, Any]) -> str:
    """A delivery of the answer as `describe_delivery` says it; a held one with when it is
    due."""
    if d["state"] in ("held", "would_hold") and d.get("due"):
        verb = "held" if d["state"] == "held" else "would hold"
        return f"{d['channel']}: {verb} until {_when(d['due'])}"
    outcome = None if d["outcome"] is None else Outcome(d["outcome"], error=d["error"])
    return describe_delivery(
        Delivery(d["channel"], d["state"], d["attempts"], d["sent_now"], outcome)
    )


def evaluation_lines(found: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The answer on lines: one per alert (status, severity, title, per channel the outcome)
    and one per message of held notifications; then the notes (what is still held, nothing to
    send, no channel, a dry run)."""
    lines = []
    for a in found["alerts"]:
        where = "; ".join(delivery_text(d) for d in a["deliveries"]) or "no channel"
        lines.append(f"{a['status']} {a['severity']}: {a['title']} → {where}")
    lines += [describe_flushed(item) for item in found["flushed"]]
    notes = []
    for held in found["held"]:
        group = "its daily digest" if held["group_key"] == DIGEST else "a group"
        notes.append(
            f"note: {held['notifications']} notification(s) held for {held['channel']} "
            f"({group}), due {_when(held['due_at'])}"
        )
    if not found["alerts"] and not found["flushed"]:
        notes.append("nothing to send")
    if not found["channels"]:
        notes.append("note: no channel: spendscope alerts channels add …")
    if found["dry_run"]:
        notes.append("dry run: nothing was sent and no state changed")
    return lines, notes


def evaluation_failures(found: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(title, what happened) of each notification that died in this evaluation."""
    out = [
        (a["title"], delivery_text(d))
        for a in found["alerts"]
        for d in a["deliveries"]
        if d["state"] == "dead" and d["outcome"] is not None
    ]
    for item in found["flushed"]:
        if item["state"] == "dead":
            what = describe_flushed(item).partition(" → ")[2]
            out += [(n["title"], what) for n in item["notifications"]]
    return out


@router.get(
    "/alerts/log",
    tags=[ALERTS],
    response_model=AttemptsOut,
    summary="The delivery log: every attempt to send an alert, newest first",
    description="Each attempt's time, channel, alert, status, outcome, HTTP status or SMTP "
    "reply and error (never a secret); what `spendscope alerts log` prints (docs/alerts.md).",
)
def log(warehouse: WarehouseDep, limit: Limit = 50) -> dict[str, Any]:
    return {"attempts": attempt_log(warehouse, limit)}


@router.get(
    "/alerts/log/dead",
    tags=[ALERTS],
    response_model=DeadListOut,
    summary="Notifications never delivered (dead), the latest first",
    description="What `spendscope alerts log --dead` prints: each notification whose attempts "
    "ran out (or that a receiver refused), with its last error.",
)
def dead_log(warehouse: WarehouseDep, limit: Limit = 100) -> dict[str, Any]:
    return {"deliveries": dead_deliveries(warehouse, limit)}


@router.post(
    "/alerts/evaluate",
    tags=[ALERTS],
    response_model=EvaluationOut,
    summary="Evaluate the alerts and deliver them (or, with dry_run, say what would be sent)",
    description="Evaluates every budget, delivers each alert through the channels and routes "
    "once per channel and status, then sends the held notifications that have fallen due "
    "(groups, quiet hours, digests); what `spendscope alerts evaluate` does. With `dry_run`, "
    "nothing is sent and nothing changes.",
    responses=CROSS_SITE,
)
def evaluate(state: State, warehouse: WarehouseDep, body: EvaluateIn) -> dict[str, Any]:
    return evaluate_answer(state.settings, warehouse, state.now(), dry_run=body.dry_run)
