"""Real receivers on loopback for the alert tests: an HTTP server that records every POST
(webhook and Slack-format posts) and answers from a script, an aiosmtpd SMTP server that keeps
every message, the fake time of the retries (sleeping advances the clock, nothing waits), and a
home to deliver from."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from conftest import free_port
from spendscope.config import Settings, load_settings
from spendscope.notify.channels import Channel, ChannelStore, check_options
from spendscope.warehouse.connection import Warehouse

MASTER = "test-master-key"


def alert_settings(tmp_path: Path) -> Settings:
    """A fresh home under `tmp_path` with the test master key and a 5 s HTTP timeout."""
    return load_settings(
        home=tmp_path / "home", env={"SPENDSCOPE_SECRET_KEY": MASTER}, overrides={"http_timeout": 5}
    )


def add_mailbox(store: ChannelStore, name: str, port: int, *recipients: str) -> Channel:
    """An e-mail channel to the plain SMTP server on 127.0.0.1:`port`."""
    options, plaintext = check_options(
        "email",
        host="127.0.0.1",
        port=port,
        security="none",
        sender="alerts@example.com",
        recipients=list(recipients),
    )
    return store.add(name, "email", options, plaintext)


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from `script` (status,
    headers, body; `{path}` in a body is the request's path), then `status` with `ok`.
    `path` is the path of `url()` by default."""

    path: str = "/hooks/secret-token"
    status: int = 200
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    posts: list[Posted] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.posts.append(Posted(self.path, headers, body))
                    if receiver.script:
                        status, headers, text = receiver.script.pop(0)
                    else:
                        status = receiver.status
                        headers, text = {}, "ok" if status < 400 else "down"
                data = text.replace("{path}", self.path).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str | None = None) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path or self.path}"

    def bodies(self) -> list[Any]:
        """The JSON body of every POST, in the order they came."""
        return [p.json() for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def receiving(path: str = "/hooks/secret-token") -> Iterator[Receiver]:
    """A receiver for a fixture: `yield from receiving()`."""
    r = Receiver(path)
    try:
        yield r
    finally:
        r.close()


class Inbox:
    """An aiosmtpd handler keeping each message with the session it came in: (message, over
    TLS, authenticated)."""

    def __init__(self) -> None:
        self.messages: list[tuple[EmailMessage, bool, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((msg, session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted for delivery"


def smtp_server(**kwargs: Any) -> tuple[Controller, Inbox, int]:
    """A started aiosmtpd server on 127.0.0.1: (its controller, its inbox, its port)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, inbox, port


def at_once(warehouse: Warehouse, work: Callable[[Warehouse, threading.Barrier], None]) -> None:
    """`work(warehouse, barrier)` in six threads started together: three share `warehouse`,
    three open its file on their own; `barrier` lets them wait for each other again. The first
    error of a thread is raised."""
    houses = [warehouse] * 3 + [Warehouse(warehouse.settings) for _ in range(3)]
    barrier = threading.Barrier(len(houses))
    errors: list[BaseException] = []

    def run(wh: Warehouse) -> None:
        try:
            barrier.wait()
            work(wh, barrier)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(wh,)) for wh in houses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for wh in houses[3:]:
        wh.close()
    if errors:
        raise errors[0]


class FakeTime:
    """The clock and the sleep of the retries: sleeping advances the clock, nothing waits."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.waits: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)
