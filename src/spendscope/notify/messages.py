"""What each kind of channel receives for a notice: the webhook's JSON (schema version 1) and
its HMAC-SHA256 signature, a Slack message people read, and an e-mail whose later messages
(resolved, repeated, fired again) thread under the first one. A `Bundle` (a group, a digest)
is one message listing its notices.

The Message-ID of an alert's e-mails derives from its fingerprint and the channel's id (a random
value made when the channel is added, so two installations never share a Message-ID): the first
firing message is `<spendscope.FINGERPRINT.CHANNEL_ID@SENDER_DOMAIN>`, later ones add the cycle
and status and refer to it in `In-Reply-To` and `References`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from .. import __version__
from .alert import SCHEMA_VERSION, Bundle, Notice

Message = Notice | Bundle

SIGNATURE_HEADER = "X-Spendscope-Signature"
USER_AGENT = f"spendscope/{__version__}"
SLACK_TEXT_LIMIT = 2900  # a section's text may hold 3000 characters
SLACK_HEADER_LIMIT = 150
SLACK_BUNDLE_LIMIT = 45  # a message holds 50 blocks
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SLACK_ICON = {"info": ":large_blue_circle:", "warning": ":warning:", "critical": ":red_circle:"}


def signature(secret: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of the raw body under `secret`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _notice_fields(notice: Notice) -> dict[str, Any]:
    alert = notice.alert
    return {
        "idempotency_key": notice.idempotency_key,
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "cycle": notice.cycle,
        "kind": alert.kind,
        "scope": alert.scope,
        "subject": alert.subject,
        "period": alert.period,
        "severity": alert.severity,
        "title": alert.title,
        "text": alert.text,
        "links": [{"title": t, "url": u} for t, u in alert.links],
        "details": alert.details,
        "repeat": notice.repeat,
        "started_at": notice.started_at.isoformat(),
        "resolved_at": notice.resolved_at.isoformat() if notice.resolved_at else None,
    }


def webhook_payload(message: Message, attempt: int, sent_at: datetime) -> dict[str, Any]:
    """The generic webhook's JSON document (see docs/alerts.md for each field): one alert's
    notification (`type` `alert`), or a group or digest of them (`notifications`)."""
    head: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "source": "spendscope"}
    if isinstance(message, Notice):
        head |= {"type": "alert", **_notice_fields(message)}
    else:
        head |= {
            "type": message.kind,
            "idempotency_key": message.idempotency_key,
            "label": message.label,
            "count": len(message.notices),
            **message.counts,
            "notifications": [_notice_fields(n) for n in message.notices],
        }
    return head | {"sent_at": sent_at.isoformat(), "attempt": attempt}


def webhook_request(
    message: Message, attempt: int, sent_at: datetime, secret: str | None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook POST; signed when the channel has a secret."""
    body = json.dumps(webhook_payload(message, attempt, sent_at), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": message.idempotency_key,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return body, headers


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Text for Slack's mrkdwn: `&`, `<` and `>` escaped, so nothing in it becomes a link or
    a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(notice: Notice) -> str:
    """`FIRING: title` or `RESOLVED: title`, on one line."""
    return f"{notice.status.upper()}: {_one_line(notice.alert.title)}"


def _icon(notice: Notice) -> str:
    alert = notice.alert
    return ":white_check_mark:" if alert.status == "resolved" else _SLACK_ICON[alert.severity]


def bundle_headline(bundle: Bundle) -> str:
    """`3 alerts (2 firing, 1 resolved)`, or `Daily digest 2026-11-22: 3 notifications (…)`."""
    counts = ", ".join(f"{n} {status}" for status, n in bundle.counts.items() if n)
    n = len(bundle.notices)
    if bundle.kind == "digest":
        return f"Daily digest {bundle.label}: {n} notification{'s' * (n != 1)} ({counts})"
    return f"{n} alerts ({counts}): {_one_line(bundle.label)}"


def slack_request(message: Message) -> tuple[bytes, dict[str, str]]:
    """A Slack incoming-webhook message: a header, the text, the facts, the links; for a group
    or digest, a header and one line per notification."""
    if isinstance(message, Bundle):
        return _slack_bundle(message)
    notice = message
    alert = notice.alert
    icon = _icon(notice)
    facts = [
        f"*Severity:* {alert.severity}",
        f"*Scope:* {slack_escape(alert.scope)}",
        f"*Period:* {slack_escape(alert.period)}" if alert.period else "",
        f"*Kind:* {slack_escape(alert.kind)}",
    ]
    text = _cut(slack_escape(alert.text or alert.title), SLACK_TEXT_LIMIT)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(headline(notice), SLACK_HEADER_LIMIT)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{icon} {text}"},
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "  ·  ".join(f for f in facts if f)}],
        },
    ]
    if alert.links:
        links = "  ·  ".join(
            f"<{slack_escape(u).replace('|', '%7C')}|{slack_escape(_one_line(t))}>"
            for t, u in alert.links
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": links}})
    document = {"text": slack_escape(f"{headline(notice)} ({alert.scope})"), "blocks": blocks}
    return _slack_body(document)


def _slack_body(document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", "User-Agent": USER_AGENT}


def _slack_bundle(bundle: Bundle) -> tuple[bytes, dict[str, str]]:
    title = bundle_headline(bundle)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, SLACK_HEADER_LIMIT)}}
    ]
    shown = bundle.notices[:SLACK_BUNDLE_LIMIT]
    for notice in shown:
        alert = notice.alert
        line = (
            f"{_icon(notice)} *{slack_escape(headline(notice))}*\n"
            f"{slack_escape(alert.scope)} · {alert.severity} · {slack_escape(alert.kind)}"
            + (f" · {slack_escape(alert.period)}" if alert.period else "")
        )
        if alert.links:
            t, u = alert.links[0]
            line += f" · <{slack_escape(u).replace('|', '%7C')}|{slack_escape(_one_line(t))}>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(line, 2900)}})
    if len(bundle.notices) > len(shown):
        more = f"… and {len(bundle.notices) - len(shown)} more (see spendscope alerts log)"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return _slack_body({"text": slack_escape(title), "blocks": blocks})


def sender_domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip().lower()
    return domain or "spendscope.invalid"


def message_ids(notice: Notice, channel_id: str, sender: str) -> tuple[str, str]:
    """(this message's Message-ID, the thread's first Message-ID) for an alert's e-mail."""
    base = f"spendscope.{notice.alert.fingerprint}.{channel_id}"
    domain = sender_domain(sender)
    root = f"<{base}@{domain}>"
    if notice.cycle == 1 and notice.status == "firing" and not notice.repeat:
        return root, root
    repeat = f".r{notice.repeat}" if notice.repeat else ""
    return f"<{base}.{notice.cycle}.{notice.status}{repeat}@{domain}>", root


def _envelope(subject: str, sender: str, recipients: list[str], sent_at: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = _cut(f"[spendscope] {subject}", 200)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(sent_at)
    return msg


def email_message(
    message: Message, channel_id: str, sender: str, recipients: list[str], sent_at: datetime
) -> EmailMessage:
    """The e-mail of a notice (plain text, threaded by Message-ID), or of a group or digest:
    one section per notification, a Message-ID of its own."""
    if isinstance(message, Bundle):
        msg = _envelope(bundle_headline(message), sender, recipients, sent_at)
        base = f"spendscope.{message.kind}.{message.idempotency_key}.{channel_id}"
        msg["Message-ID"] = f"<{base}@{sender_domain(sender)}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Spendscope-Notifications"] = str(len(message.notices))
        sections = [_email_lines(n, title=True) for n in message.notices]
        body = [bundle_headline(message), ""] + [line for s in sections for line in ["", *s]]
        msg.set_content("\n".join(body) + "\n")
        return msg
    notice = message
    alert = notice.alert
    own, root = message_ids(notice, channel_id, sender)
    msg = _envelope(headline(notice), sender, recipients, sent_at)
    msg["Message-ID"] = own
    if own != root:
        msg["In-Reply-To"] = root
        msg["References"] = root
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Spendscope-Fingerprint"] = alert.fingerprint
    msg["X-Spendscope-Status"] = alert.status
    msg.set_content("\n".join(_email_lines(notice)) + "\n")
    return msg


def _email_lines(notice: Notice, title: bool = False) -> list[str]:
    """A notice in plain text: (its headline,) its text, its facts, links, fingerprint."""
    alert = notice.alert
    lines = [f"{headline(notice)}", ""] if title else []
    lines += [alert.text or alert.title, ""]
    lines += [
        f"Status:    {alert.status}",
        f"Severity:  {alert.severity}",
        f"Scope:     {alert.scope}",
        f"Period:    {alert.period}",
        f"Kind:      {alert.kind}",
        f"Started:   {notice.started_at.isoformat()}",
    ]
    if notice.resolved_at is not None:
        lines.append(f"Resolved:  {notice.resolved_at.isoformat()}")
    if alert.links:
        lines += ["", "Links:"] + [f"- {_one_line(t)}: {u}" for t, u in alert.links]
    repeat = f", repeat {notice.repeat}" if notice.repeat else ""
    lines += ["", f"Fingerprint: {alert.fingerprint} (cycle {notice.cycle}{repeat})"]
    return lines
