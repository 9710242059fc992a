"""Sending one notice to one channel, once: an HTTP POST (webhook, Slack) or an SMTP
conversation (e-mail), and its `Outcome` as the attempt log records it.

An outcome is `sent`, `failed` (worth another attempt: a connection error, a timeout, HTTP
408/425/5xx, an SMTP 4xx reply), `rate_limited` (HTTP 429; its `Retry-After` is kept) or
`rejected` (retrying cannot help: another HTTP 4xx, a redirect, an SMTP 5xx reply, a refused
certificate or login). Error texts are cut to one line and scrubbed of the channel's secrets.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from .channels import Channel
from .messages import Message, email_message, slack_request, webhook_request

if TYPE_CHECKING:
    import httpx

OUTCOMES = ("sent", "failed", "rate_limited", "rejected")
ERROR_LIMIT = 300
_TRANSIENT_HTTP = frozenset({408, 425})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended."""

    outcome: str
    http_status: int | None = None
    smtp_reply: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"

    @property
    def permanent(self) -> bool:
        return self.outcome == "rejected"

    def summary(self) -> str:
        """One line: `HTTP 500: …`, `SMTP 250 OK`, or the error."""
        parts = []
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.smtp_reply:
            parts.append(f"SMTP {self.smtp_reply}")
        if self.error:
            parts.append(self.error)
        if self.retry_after is not None:
            parts.append(f"Retry-After {self.retry_after:g} s")
        return ": ".join(parts) or self.outcome


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` on one line, cut short, with every secret (a URL also by its path and query, and
    quoted or unquoted) replaced by `…`."""
    variants: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        variants |= {secret, quote(secret, safe=""), unquote(secret)}
        parts = urlsplit(secret)
        if parts.scheme and parts.netloc:
            tail = secret[len(f"{parts.scheme}://{parts.netloc}") :]
            variants |= {tail, unquote(tail)}
    for variant in sorted((v for v in variants if len(v) >= 4), key=len, reverse=True):
        text = text.replace(variant, "…")
    text = " ".join(text.split())
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header in seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def send(
    channel: Channel,
    secrets: Mapping[str, str],
    message: Message,
    *,
    attempt: int,
    sent_at: datetime,
    http: httpx.Client,
    timeout: float,
) -> Outcome:
    """Send `message` (a notice, or a group or digest of them) to `channel` once. Never raises
    for a delivery problem: it is the outcome."""
    hidden = list(secrets.values())
    if channel.kind == "email":
        return _send_email(channel, secrets.get("password"), message, sent_at, timeout, hidden)
    if channel.kind == "slack":
        body, headers = slack_request(message)
    else:
        body, headers = webhook_request(message, attempt, sent_at, secrets.get("signing_secret"))
    return _post(http, secrets["url"], body, headers, sent_at, timeout, hidden)


def _post(
    http: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    timeout: float,
    hidden: list[str],
) -> Outcome:
    import httpx

    try:
        r = http.post(url, content=body, headers=dict(headers), timeout=timeout)
    except httpx.HTTPError as exc:
        return Outcome("failed", error=scrub(f"{type(exc).__name__}: {exc}", hidden))
    code = r.status_code
    if 200 <= code < 300:
        return Outcome("sent", http_status=code)
    reply = scrub(f"{r.reason_phrase} {r.text[:ERROR_LIMIT]}".strip(), hidden) or None
    if code == 429:
        wait = retry_after_seconds(r.headers.get("retry-after"), now)
        return Outcome("rate_limited", code, error=reply, retry_after=wait)
    if code >= 500 or code in _TRANSIENT_HTTP:
        return Outcome("failed", code, error=reply)
    if 300 <= code < 400:
        reply = "redirects are not followed; configure the final URL"
    return Outcome("rejected", code, error=reply)


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(message.split())}".strip()


def _smtp_outcome(code: int, text: bytes | str, hidden: list[str]) -> Outcome:
    reply = scrub(_reply(code, text), hidden)
    return Outcome("failed" if 400 <= code < 500 else "rejected", smtp_reply=reply)


def _send_email(
    channel: Channel,
    password: str | None,
    message: Message,
    sent_at: datetime,
    timeout: float,
    hidden: list[str],
) -> Outcome:
    o = channel.options
    host, port, security = str(o["host"]), int(o["port"]), str(o["security"])
    recipients = [str(a) for a in o["to"]]
    msg = email_message(message, channel.id, str(o["from"]), recipients, sent_at)
    context = ssl.create_default_context(cafile=o.get("ca_file"))
    try:
        if security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if o.get("user"):
                smtp.login(str(o["user"]), password or "")
            return _transaction(
                smtp, str(o["from"]), recipients, msg.as_bytes(policy=policy.SMTP), hidden
            )
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome("rejected", error=scrub(f"the server does not support {exc}", hidden))
    except smtplib.SMTPResponseException as exc:
        return _smtp_outcome(exc.smtp_code, exc.smtp_error, hidden)
    except ssl.SSLCertVerificationError as exc:
        refused = f"certificate refused: {exc.verify_message}"
        return Outcome("rejected", error=scrub(refused, hidden))
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome("failed", error=scrub(f"{type(exc).__name__}: {exc}", hidden))


def _transaction(
    smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes, hidden: list[str]
) -> Outcome:
    """MAIL, RCPT for each recipient, DATA; the DATA reply is the outcome's SMTP reply."""
    code, text = smtp.mail(sender)
    if code != 250:
        smtp.rset()
        return _smtp_outcome(code, text, hidden)
    refused: list[str] = []
    first: tuple[int, bytes] | None = None
    for rcpt in recipients:
        code, text = smtp.rcpt(rcpt)
        if code not in (250, 251):
            refused.append(f"{rcpt} ({_reply(code, text)})")
            first = first or (code, text)
    if first is not None and len(refused) == len(recipients):
        smtp.rset()
        return _smtp_outcome(*first, hidden)
    code, text = smtp.data(data)
    if code != 250:
        return _smtp_outcome(code, text, hidden)
    error = scrub("refused recipients: " + "; ".join(refused), hidden) if refused else None
    return Outcome("sent", smtp_reply=scrub(_reply(code, text), hidden), error=error)
