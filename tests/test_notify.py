"""Alert delivery against real receivers on loopback: an HTTP server for webhook and
Slack-format posts, a real SMTP server (aiosmtpd) for e-mail, plain, STARTTLS with a login, and
implicit TLS. One notification per alert and status however often (or however concurrently) it
is evaluated, a resolved message when it clears, retries paced by an injected clock, dead
deliveries listed, and secrets never written or printed in clear."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import ssl
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner, Result

from conftest import free_port
from receivers import MASTER, FakeTime, Receiver, alert_settings, at_once, receiving, smtp_server
from spendscope.cli import main
from spendscope.config import Settings, load_settings
from spendscope.notify import records
from spendscope.notify.alert import Alert, Link, fingerprint
from spendscope.notify.channels import Channel, ChannelStore, check_options
from spendscope.notify.delivery import Pacing, deliver, send_test
from spendscope.notify.senders import scrub
from spendscope.warehouse.connection import Warehouse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ENV = {"SPENDSCOPE_SECRET_KEY": MASTER, "SPENDSCOPE_NOW": NOW.isoformat()}
SIGNING = "whsec-0123456789abcdef"
TOKEN = "T0SECRET/B0SECRET/xoxsecretpathtoken"
PASSWORD = "hunter2-smtp-password"


# -- receivers ------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving(f"/hooks/{TOKEN}")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spendscope test relay")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"alerts",
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


# -- the set-up -----------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return alert_settings(tmp_path)


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Warehouse]:
    wh = Warehouse(settings)
    yield wh
    wh.close()


@pytest.fixture
def store(settings: Settings) -> ChannelStore:
    return ChannelStore(settings)


def add(store: ChannelStore, name: str, kind: str, **options: Any) -> Channel:
    found, plaintext = check_options(kind, **options)
    return store.add(name, kind, found, plaintext, now=NOW)


def budget_alert(status: str = "firing", spent: str = "8400.00") -> Alert:
    return Alert(
        kind="budget",
        scope="team:payments",
        subject="payments-monthly@80%",
        period="2026-11",
        severity="warning",
        title="payments is at 84% of its November budget",
        text=f"Month-to-date billed cost ${spent} of $10,000.00 <b>& rising</b>.",
        status=status,
        links=(Link("Budgets", "http://127.0.0.1:8000/budgets?name=payments"),),
        details={"spent": Decimal(spent), "budget": Decimal("10000.00"), "threshold": 80},
    )


def attempts(warehouse: Warehouse) -> list[dict[str, Any]]:
    return list(reversed(records.attempt_log(warehouse, 100)))


# -- webhook ----------------------------------------------------------------------------------


def test_webhook_is_signed_and_carries_the_payload(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url(), signing_secret=SIGNING)
    alert = budget_alert()
    done = deliver(alert, [hook], NOW, warehouse=warehouse, store=store, pacing=Pacing())
    assert [(d.channel, d.state, d.sent_now) for d in done] == [("hook", "sent", True)]
    (post,) = receiver.posts
    expected = hmac.new(SIGNING.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-spendscope-signature"] == f"sha256={expected}"
    body = post.json()
    assert body["schema_version"] == 1
    assert (
        body["fingerprint"]
        == alert.fingerprint
        == fingerprint("budget", "team:payments", "payments-monthly@80%", "2026-11")
    )
    assert body["status"] == "firing"
    assert body["cycle"] == 1
    assert body["attempt"] == 1
    assert body["idempotency_key"] == post.headers["idempotency-key"]
    assert body["links"] == [
        {"title": "Budgets", "url": "http://127.0.0.1:8000/budgets?name=payments"}
    ]
    assert body["details"] == {"spent": "8400.00", "budget": "10000.00", "threshold": 80}
    assert body["started_at"] == NOW.isoformat()
    assert body["resolved_at"] is None


def test_evaluating_again_sends_nothing_more_and_a_resolved_message_once(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    kw: dict[str, Any] = {"warehouse": warehouse, "store": store, "pacing": Pacing()}
    deliver(budget_alert(), [hook], NOW, **kw)
    # the same data again, then a revised figure: the same alert, nothing more to send
    again = deliver(budget_alert(), [hook], NOW + timedelta(hours=1), **kw)
    revised = deliver(budget_alert(spent="8412.50"), [hook], NOW + timedelta(hours=2), **kw)
    assert [(d.state, d.sent_now) for d in again + revised] == [("sent", False)] * 2
    assert len(receiver.posts) == 1
    assert "signature" not in {
        k.lower().removeprefix("x-spendscope-") for k in receiver.posts[0].headers
    }

    cleared = NOW + timedelta(hours=3)
    deliver(budget_alert("resolved"), [hook], cleared, **kw)
    deliver(budget_alert("resolved"), [hook], cleared + timedelta(hours=1), **kw)
    assert len(receiver.posts) == 2
    firing, resolved = (p.json() for p in receiver.posts)
    assert resolved["status"] == "resolved"
    assert resolved["fingerprint"] == firing["fingerprint"]
    assert resolved["resolved_at"] == cleared.isoformat()
    assert resolved["idempotency_key"] != firing["idempotency_key"]

    # firing again after it resolved: the next cycle, notified again
    deliver(budget_alert(), [hook], cleared + timedelta(days=1), **kw)
    assert [p.json()["cycle"] for p in receiver.posts] == [1, 1, 2]


def test_a_resolved_alert_that_never_fired_sends_nothing(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    done = deliver(budget_alert("resolved"), [hook], NOW, warehouse=warehouse, store=store)
    assert done == []
    assert receiver.posts == []


def test_two_evaluators_at_once_send_one_notification(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    found: list[Any] = []

    def evaluate(wh: Warehouse, start: threading.Barrier) -> None:
        found.extend(deliver(budget_alert(), [hook], NOW, warehouse=wh, store=store))

    at_once(warehouse, evaluate)  # three evaluators share the warehouse, three open their own
    assert len(receiver.posts) == 1
    assert sum(d.sent_now for d in found) == 1
    assert len(found) == 6
    assert warehouse.read("SELECT count(*) FROM spendscope.alert_deliveries") == [(1,)]


def test_a_stopped_evaluator_is_taken_over_after_its_lease(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    _notice, claims, _ = records.open_notice(warehouse, budget_alert(), [hook], NOW)
    assert len(claims) == 1  # claimed, then the process died before sending
    kw: dict[str, Any] = {"warehouse": warehouse, "store": store}
    held = deliver(budget_alert(), [hook], NOW + timedelta(minutes=1), **kw)
    assert [d.state for d in held] == ["pending"]
    assert receiver.posts == []
    later = NOW + records.LEASE + timedelta(seconds=1)
    taken = deliver(budget_alert(), [hook], later, **kw)
    assert [(d.state, d.sent_now) for d in taken] == [("sent", True)]
    assert len(receiver.posts) == 1


# -- Slack, retries, dead deliveries ----------------------------------------------------------


def test_slack_message_is_readable_and_429_retry_after_is_honoured(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    slack = add(store, "ops-slack", "slack", url=receiver.url(f"/services/{TOKEN}"))
    receiver.script = [(429, {"Retry-After": "7"}, "rate_limited")]
    time = FakeTime(NOW)
    pacing = Pacing(attempts=5, backoff_seconds=2.0, sleep=time.sleep, clock=time.clock)
    done = deliver(budget_alert(), [slack], NOW, warehouse=warehouse, store=store, pacing=pacing)
    assert [(d.state, d.attempts) for d in done] == [("sent", 2)]
    assert time.waits == [7.0]
    assert len(receiver.posts) == 2
    message = receiver.posts[1].json()
    assert message["text"].startswith("FIRING: payments is at 84% of its November budget")
    header, section, context, links = message["blocks"]
    assert header["text"]["text"] == "FIRING: payments is at 84% of its November budget"
    assert "&lt;b&gt;&amp; rising&lt;/b&gt;" in section["text"]["text"]  # escaped, not markup
    assert "*Scope:* team:payments" in context["elements"][0]["text"]
    assert links["text"]["text"] == "<http://127.0.0.1:8000/budgets?name=payments|Budgets>"
    log = attempts(warehouse)
    assert [(a["outcome"], a["http_status"], a["wait_seconds"]) for a in log] == [
        ("rate_limited", 429, 7.0),
        ("sent", 200, None),
    ]
    assert log[1]["attempted_at"] == NOW + timedelta(seconds=7)


def test_a_receiver_that_fails_then_recovers_gets_it_after_backoff(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    receiver.script = [(500, {}, "boom"), (503, {}, "busy"), (502, {}, "bad gateway")]
    time = FakeTime(NOW)
    pacing = Pacing(attempts=5, backoff_seconds=2.0, sleep=time.sleep, clock=time.clock)
    done = deliver(budget_alert(), [hook], NOW, warehouse=warehouse, store=store, pacing=pacing)
    assert [(d.state, d.attempts) for d in done] == [("sent", 4)]
    assert time.waits == [2.0, 4.0, 8.0]
    assert [p.json()["attempt"] for p in receiver.posts] == [1, 2, 3, 4]
    assert len({p.json()["idempotency_key"] for p in receiver.posts}) == 1
    log = attempts(warehouse)
    assert [a["outcome"] for a in log] == ["failed", "failed", "failed", "sent"]
    assert (log[0]["http_status"], log[0]["error"]) == (500, "Internal Server Error boom")
    assert records.dead_deliveries(warehouse) == []


def test_after_the_last_attempt_the_delivery_is_dead_and_listed(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    receiver.script = [(500, {}, "down")] * 10
    time = FakeTime(NOW)
    pacing = Pacing(attempts=3, backoff_seconds=1.5, sleep=time.sleep, clock=time.clock)
    kw: dict[str, Any] = {"warehouse": warehouse, "store": store, "pacing": pacing}
    done = deliver(budget_alert(), [hook], NOW, **kw)
    assert [(d.state, d.attempts) for d in done] == [("dead", 3)]
    assert time.waits == [1.5, 3.0]
    (dead,) = records.dead_deliveries(warehouse)
    assert (dead["channel"], dead["title"], dead["attempts"]) == (
        "hook",
        "payments is at 84% of its November budget",
        3,
    )
    assert dead["last_error"] == "HTTP 500: Internal Server Error down"
    # evaluating again does not start over: the dead delivery stays visible
    deliver(budget_alert(), [hook], NOW + timedelta(hours=1), **kw)
    assert len(receiver.posts) == 3


def test_a_refused_notification_is_dead_at_once(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    hook = add(store, "hook", "webhook", url=receiver.url())
    receiver.script = [(404, {}, "no_service")]
    time = FakeTime(NOW)
    pacing = Pacing(sleep=time.sleep, clock=time.clock)
    done = deliver(budget_alert(), [hook], NOW, warehouse=warehouse, store=store, pacing=pacing)
    assert [(d.state, d.attempts) for d in done] == [("dead", 1)]
    assert time.waits == []
    assert len(receiver.posts) == 1


def test_secrets_never_reach_the_log_even_when_a_receiver_echoes_them(
    receiver: Receiver, store: ChannelStore, warehouse: Warehouse
) -> None:
    slack = add(store, "ops-slack", "slack", url=receiver.url(f"/services/{TOKEN}"))
    gone = add(store, "gone", "slack", url=f"http://127.0.0.1:{free_port()}/services/{TOKEN}")
    receiver.script = [(500, {}, "cannot post to {path}")]
    pacing = Pacing(attempts=1)
    deliver(budget_alert(), [slack, gone], NOW, warehouse=warehouse, store=store, pacing=pacing)
    text = json.dumps(records.attempt_log(warehouse), default=str, ensure_ascii=False)
    assert "cannot post to …" in text
    assert "ConnectError" in text
    for secret in (TOKEN, "xoxsecretpathtoken", "B0SECRET"):
        assert secret not in text
    assert scrub(f"GET {receiver.url()} failed", [receiver.url()]) == "GET … failed"


# -- e-mail -----------------------------------------------------------------------------------


def test_email_is_received_and_its_resolution_threads_with_it(
    store: ChannelStore, warehouse: Warehouse
) -> None:
    controller, inbox, port = smtp_server()
    try:
        mail = add(
            store,
            "finance-mail",
            "email",
            host="127.0.0.1",
            port=port,
            security="none",
            sender="spendscope@example.com",
            recipients=("finance@example.com, cto@example.com",),
        )
        kw: dict[str, Any] = {"warehouse": warehouse, "store": store}
        deliver(budget_alert(), [mail], NOW, **kw)
        deliver(budget_alert(), [mail], NOW + timedelta(hours=1), **kw)
        deliver(budget_alert("resolved"), [mail], NOW + timedelta(hours=2), **kw)
    finally:
        controller.stop()
    (first, _, _), (second, _, _) = inbox.messages
    assert first["Subject"] == "[spendscope] FIRING: payments is at 84% of its November budget"
    assert second["Subject"].startswith("[spendscope] RESOLVED: ")
    assert first["To"] == "finance@example.com, cto@example.com"
    assert mail.id in first["Message-ID"]
    assert budget_alert().fingerprint in first["Message-ID"]
    assert first["In-Reply-To"] is None
    # (a folded header keeps its leading blank when parsed back)
    assert second["In-Reply-To"].strip() == first["Message-ID"] == second["References"].strip()
    assert second["Message-ID"] != first["Message-ID"]
    assert "Scope:     team:payments" in first.get_content()
    assert [a["smtp_reply"] for a in attempts(warehouse)] == [
        "250 Message accepted for delivery"
    ] * 2


def test_email_over_starttls_with_a_login_keeps_the_password_secret(
    store: ChannelStore, warehouse: Warehouse, certificate: tuple[Path, Path]
) -> None:
    controller, inbox, port = smtp_server(
        tls_context=server_tls(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    try:
        options = {
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "sender": "alerts@example.com",
            "recipients": ("ops@example.com",),
            "user": "alerts",
            "ca_file": str(certificate[0]),
        }
        good = add(store, "mail", "email", password=PASSWORD, **options)
        wrong = add(store, "wrong", "email", password="not-the-password", **options)
        time = FakeTime(NOW)
        pacing = Pacing(attempts=3, sleep=time.sleep, clock=time.clock)
        done = deliver(
            budget_alert(), [good, wrong], NOW, warehouse=warehouse, store=store, pacing=pacing
        )
    finally:
        controller.stop()
    assert sorted((d.channel, d.state, d.attempts) for d in done) == [
        ("mail", "sent", 1),
        ("wrong", "dead", 1),  # a refused login is not retried
    ]
    ((msg, over_tls, authenticated),) = inbox.messages
    assert over_tls
    assert authenticated
    assert msg["To"] == "ops@example.com"
    log = json.dumps(records.attempt_log(warehouse), default=str)
    assert "535" in log
    home = store.settings.home
    stored = (home / "channels.json").read_text()
    assert PASSWORD not in stored
    assert "not-the-password" not in stored
    assert PASSWORD not in log
    assert "not-the-password" not in log


def test_email_over_implicit_tls(
    store: ChannelStore, warehouse: Warehouse, certificate: tuple[Path, Path]
) -> None:
    controller, inbox, port = smtp_server(ssl_context=server_tls(certificate))
    try:
        mail = add(
            store,
            "mail",
            "email",
            host="127.0.0.1",
            port=port,
            security="tls",
            sender="alerts@example.com",
            recipients=("ops@example.com",),
            ca_file=str(certificate[0]),
        )
        untrusted = Channel(**_fields(mail, ca_file=None))  # the system's CAs: refused
        outcome = send_test(untrusted, store, NOW)
        done = deliver(budget_alert(), [mail], NOW, warehouse=warehouse, store=store)
    finally:
        controller.stop()
    assert outcome.outcome == "rejected"
    assert "certificate" in (outcome.error or "")
    assert [d.state for d in done] == ["sent"]
    assert len(inbox.messages) == 1


def _fields(channel: Channel, **options: Any) -> dict[str, Any]:
    """A channel's fields with some options changed (None removes one)."""
    changed = {k: v for k, v in {**channel.options, **options}.items() if v is not None}
    return {
        "name": channel.name,
        "kind": channel.kind,
        "id": channel.id,
        "created_at": channel.created_at,
        "options": changed,
        "secrets": channel.secrets,
        "hints": channel.hints,
    }


# -- the command line -------------------------------------------------------------------------


def store_of(settings: Settings) -> ChannelStore:
    return ChannelStore(settings)


def cli(home: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV, input=stdin)


def test_cli_channels_add_list_test_send_log_remove(tmp_path: Path, receiver: Receiver) -> None:
    home = tmp_path / "home"
    url = receiver.url()
    added = cli(
        home,
        "alerts", "channels", "add", "hook", "--kind", "webhook", "--url", "-",
        "--signing-secret", "-",
        stdin=f"{url}\n{SIGNING}\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.stdout == ""
    listed = cli(home, "alerts", "channels", "list")
    as_json = cli(home, "alerts", "channels", "list", "--json")
    port = receiver.server.server_address[1]
    assert json.loads(as_json.stdout) == [
        {
            "name": "hook",
            "kind": "webhook",
            "target": f"http://127.0.0.1:{port}/…",
            "secrets": f"url: http://127.0.0.1:{port}/…, signing_secret: …cdef",
            "created_at": NOW.isoformat(),
        }
    ]
    stored = home / "channels.json"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    sent = cli(home, "alerts", "test-send", "hook")
    assert sent.exit_code == 0, sent.output
    assert (
        sent.stdout == f"sent: test alert to hook (webhook http://127.0.0.1:{port}/…): HTTP 200\n"
    )
    (post,) = receiver.posts
    assert post.json()["kind"] == "test"
    assert post.json()["scope"] == "channel:hook"
    digest = hmac.new(SIGNING.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-spendscope-signature"] == f"sha256={digest}"

    receiver.script = [(503, {}, "maintenance")]
    failed = cli(home, "alerts", "test-send", "hook")
    assert failed.exit_code == 1
    assert failed.stderr.splitlines() == [
        f"error: test alert to hook (webhook http://127.0.0.1:{port}/…) not delivered: "
        "failed, HTTP 503: Service Unavailable maintenance"
    ]
    log = cli(home, "alerts", "log", "--json", "--limit", "5")
    assert [(r["outcome"], r["http_status"], r["alert_kind"]) for r in json.loads(log.stdout)] == [
        ("failed", 503, "test"),
        ("sent", 200, "test"),
    ]
    assert len(cli(home, "alerts", "log", "--limit", "1").stdout.splitlines()) == 3
    everything = (
        "".join(r.output for r in (added, listed, as_json, sent, failed, log)) + stored.read_text()
    )
    for secret in (TOKEN, SIGNING, url):
        assert secret not in everything

    removed = cli(home, "alerts", "channels", "remove", "hook")
    assert removed.exit_code == 0
    assert "removed channel hook" in removed.stderr
    assert json.loads(cli(home, "alerts", "channels", "list", "--json").stdout) == []
    unknown = cli(home, "alerts", "channels", "remove", "hook")
    assert unknown.exit_code == 1
    assert "unknown channel 'hook'" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "pager"],
            "error: unknown channel kind 'pager': use one of webhook, slack, email",
        ),
        (
            ["--kind", "webhook", "--url", f"ftp://example.com/{TOKEN}"],
            "error: --url is not usable for a webhook channel: give an http:// or https:// URL "
            "with a host (the value is not repeated here: it is a secret)",
        ),
        (
            ["--kind", "slack", "--url", f"http://hooks.slack.com/services/{TOKEN}"],
            "error: --url of a slack channel must be https:// (a Slack URL is a credential); "
            "http:// is accepted on loopback only",
        ),
        (
            ["--kind", "email", "--smtp-host", "mail.example.com", "--security", "none",
             "--from", "a@example.com", "--to", "b@example.com"],
            "error: --security none sends mail (and any password) in clear: it is for a relay "
            "on loopback only (127.0.0.1, ::1, localhost); use starttls or tls",
        ),
        (
            ["--kind", "email", "--smtp-host", "mail.example.com", "--from", "a@example.com",
             "--to", "not an address"],
            "error: --to 'not an address' is not an e-mail address like ops@example.com",
        ),
        (["--kind", "webhook"], "error: a webhook channel needs --url"),
    ],
)  # fmt: skip
def test_cli_refuses_a_bad_channel_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    r = cli(tmp_path / "home", "alerts", "channels", "add", "x", *args)
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [message]
    assert TOKEN not in r.output
    assert not (tmp_path / "home" / "channels.json").exists()


def test_cli_email_channel_password_from_stdin_and_dead_log(
    tmp_path: Path, store: ChannelStore
) -> None:
    home = tmp_path / "home"
    port = free_port()  # nothing listens there
    r = cli(
        home,
        "alerts", "channels", "add", "mail", "--kind", "email", "--smtp-host", "localhost",
        "--smtp-port", str(port), "--security", "none", "--from", "alerts@example.com",
        "--to", "ops@example.com", "--to", "cfo@example.com", "--user", "alerts",
        "--password", "-",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    listed = cli(home, "alerts", "channels", "list")
    assert f"smtp://localhost:{port} (none) → ops@example.com, cfo@example.com" in listed.stdout
    assert "password: …word" in listed.stdout
    assert PASSWORD not in listed.stdout
    assert PASSWORD not in (home / "channels.json").read_text()

    settings = load_settings(home=home, env={"SPENDSCOPE_SECRET_KEY": MASTER})
    mail = ChannelStore(settings).get("mail")
    assert ChannelStore(settings).secrets(mail) == {"password": PASSWORD}
    wh = Warehouse(settings)
    try:
        time = FakeTime(NOW)
        pacing = Pacing(attempts=2, sleep=time.sleep, clock=time.clock)
        deliver(
            budget_alert(), [mail], NOW, warehouse=wh, store=ChannelStore(settings), pacing=pacing
        )
    finally:
        wh.close()
    dead = cli(home, "alerts", "log", "--dead", "--json")
    assert dead.exit_code == 0, dead.output
    ((row,),) = [json.loads(dead.stdout)]
    assert (row["channel"], row["status"], row["attempts"], row["last_outcome"]) == (
        "mail",
        "firing",
        2,
        "failed",
    )
    assert "Connection refused" in row["error"]
    assert PASSWORD not in dead.stdout
