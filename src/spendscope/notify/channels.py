"""Channels, where alerts are delivered: `webhook` (generic JSON, optionally signed), `slack`
(an incoming-webhook URL) and `email` (SMTP).

They are configuration, not data: they live, with the routes (`routes`), in
`$SPENDSCOPE_HOME/channels.json` beside `connections.json` (a record file, `records_file`: mode
0600, written atomically under an exclusive lock on `channels.lock`), so they can be changed
while `spendscope serve` holds the warehouse, and survive a warehouse rebuilt from scratch.
Their secrets — every webhook and Slack URL (a Slack URL is its own credential, and other URLs
often carry a token), the HMAC signing secret, the SMTP password — are encrypted with the
master key exactly as API keys are; the file keeps a masked hint of each, and nothing ever
prints more than the hint.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..config import Settings
from ..connections import ConnectionStore
from ..errors import InvalidInput, NotFoundLocally, SpendscopeError
from ..records_file import RecordFile
from .routes import Route, check_digests

KINDS = ("webhook", "slack", "email")
SECURITIES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SECRET_NAMES = ("url", "signing_secret", "password")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"'()\[\]\\]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$")
CHANNELS_FILE = "channels.json"


class ChannelError(SpendscopeError):
    """A channel can't be read or saved; the message says why."""


class UnknownChannel(NotFoundLocally, ChannelError):
    """No channel has this name."""


class UnknownRoute(NotFoundLocally, ChannelError):
    """No route has this name."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def mask_secret(name: str, value: str) -> str:
    """A hint safe to print: a URL's scheme and host only, else the last 4 characters of a
    secret of 12 or more (nothing of a shorter one)."""
    if name == "url":
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    return f"…{value[-4:]}" if len(value) >= 12 else "…"


@dataclass(frozen=True, slots=True)
class Book:
    """What `channels.json` holds: the channels and the routes."""

    channels: list[Channel]
    routes: list[Route]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Book:
        channels = [Channel.from_dict(item) for item in data["channels"]]
        return cls(channels, [Route.from_dict(item) for item in data.get("routes") or []])

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "channels": [c.to_dict() for c in self.channels],
            "routes": [r.to_dict() for r in self.routes],
        }


@dataclass(frozen=True, slots=True)
class Channel:
    """A configured channel. `secrets` holds Fernet tokens, never plaintext; `hints` their
    masked forms; `options` the rest (SMTP host, port, security, sender, recipients, user)."""

    name: str
    kind: str
    id: str
    created_at: datetime
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    hints: Mapping[str, str] = field(default_factory=dict)

    def target(self) -> str:
        """Where it delivers, safe to print: `https://hooks.slack.com/…`, or
        `smtp://host:port (starttls) → a@example.com`."""
        if self.kind == "email":
            o = self.options
            to = ", ".join(o.get("to", []))
            return f"smtp://{o.get('host')}:{o.get('port')} ({o.get('security')}) → {to}"
        return self.hints.get("url", "…")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "options": dict(self.options),
            "secrets": dict(self.secrets),
            "hints": dict(self.hints),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Channel:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            id=str(data["id"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            options=dict(data.get("options") or {}),
            secrets={str(k): str(v) for k, v in (data.get("secrets") or {}).items()},
            hints={str(k): str(v) for k, v in (data.get("hints") or {}).items()},
        )

    def public(self) -> dict[str, Any]:
        """What `channels list` shows: no token, secrets as hints."""
        shown = ", ".join(f"{k}: {v}" for k, v in self.hints.items())
        return {
            "name": self.name,
            "kind": self.kind,
            "target": self.target(),
            "secrets": shown,
            "created_at": self.created_at,
        }


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"invalid channel name {name!r}: use 1-63 characters, lowercase letters, digits, "
            "'-' and '_', starting with a letter or digit (for example 'ops-slack')"
        )
    return name


def _check_url(kind: str, url: str | None) -> str:
    """A usable URL; the message never repeats it (it is a secret)."""
    if not url:
        raise InvalidInput(f"a {kind} channel needs --url")
    text = url.strip()
    try:
        parts = urlsplit(text)
        host, _port = parts.hostname, parts.port
    except ValueError:
        host, parts = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not host
        or any(c.isspace() for c in text)
        or parts.fragment
    ):
        raise InvalidInput(
            f"--url is not usable for a {kind} channel: give an http:// or https:// URL with "
            "a host (the value is not repeated here: it is a secret)"
        )
    if kind == "slack" and parts.scheme != "https" and not is_loopback(host):
        raise InvalidInput(
            "--url of a slack channel must be https:// (a Slack URL is a credential); "
            "http:// is accepted on loopback only"
        )
    return text


def _check_address(value: str, option: str) -> str:
    text = value.strip()
    if not _ADDRESS.fullmatch(text):
        raise InvalidInput(f"{option} {text!r} is not an e-mail address like ops@example.com")
    return text


def check_options(
    kind: str,
    *,
    url: str | None = None,
    signing_secret: str | None = None,
    host: str | None = None,
    port: int | None = None,
    security: str | None = None,
    sender: str | None = None,
    recipients: tuple[str, ...] | list[str] = (),
    user: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(options, plaintext secrets) of a new channel, or `InvalidInput` saying what to fix."""
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise InvalidInput(f"unknown channel kind {kind!r}: use one of {', '.join(KINDS)}")
    email_only: dict[str, object] = {"--smtp-host": host, "--smtp-port": port}
    email_only |= {"--security": security, "--from": sender, "--to": recipients, "--user": user}
    email_only |= {"--password": password, "--ca-file": ca_file}
    given = [o for o, v in email_only.items() if v]
    if kind != "email":
        if given:
            raise InvalidInput(f"{', '.join(given)} only apply to email channels")
        if signing_secret is not None and kind != "webhook":
            raise InvalidInput("--signing-secret only applies to webhook channels")
        found = {"url": _check_url(kind, url)}
        if signing_secret is not None:
            if len(signing_secret.strip()) < 16:
                raise InvalidInput("--signing-secret must be at least 16 characters")
            found["signing_secret"] = signing_secret.strip()
        return {}, found
    if url or signing_secret:
        raise InvalidInput("--url and --signing-secret do not apply to email channels")
    return _email_options(host, port, security, sender, recipients, user, password, ca_file)


def _email_options(
    host: str | None,
    port: int | None,
    security: str | None,
    sender: str | None,
    recipients: tuple[str, ...] | list[str],
    user: str | None,
    password: str | None,
    ca_file: str | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    if not host or not host.strip():
        raise InvalidInput("an email channel needs --smtp-host")
    host = host.strip()
    security = (security or "starttls").strip().lower()
    if security not in SECURITIES:
        raise InvalidInput(f"unknown --security {security!r}: use one of {', '.join(SECURITIES)}")
    if security == "none" and not is_loopback(host):
        raise InvalidInput(
            "--security none sends mail (and any password) in clear: it is for a relay on "
            "loopback only (127.0.0.1, ::1, localhost); use starttls or tls"
        )
    port = DEFAULT_PORTS[security] if port is None else port
    if not 1 <= port <= 65535:
        raise InvalidInput(f"--smtp-port {port} is not a port (1-65535)")
    if not sender:
        raise InvalidInput("an email channel needs --from")
    to = [_check_address(a, "--to") for item in recipients for a in item.split(",") if a.strip()]
    if not to:
        raise InvalidInput("an email channel needs at least one --to address")
    if bool(user) != bool(password):
        raise InvalidInput("--user and --password go together")
    if ca_file is not None and not Path(ca_file).is_file():
        raise InvalidInput(f"--ca-file {ca_file!r} is not a readable file")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "security": security,
        "from": _check_address(sender, "--from"),
        "to": to,
    }
    if user:
        options["user"] = user.strip()
    if ca_file is not None:
        options["ca_file"] = str(Path(ca_file).absolute())
    return options, ({"password": password} if password else {})


Named = TypeVar("Named", Channel, Route)


def _find(items: list[Named], name: str, noun: str = "channel") -> Named:
    """The channel (or route) called `name`, else `UnknownChannel` (`UnknownRoute`) naming
    the known ones."""
    for item in items:
        if item.name == name:
            return item
    known = ", ".join(i.name for i in items)
    hint = f"known {noun}s: {known}" if known else f"no {noun}s yet"
    error = UnknownChannel if noun == "channel" else UnknownRoute
    raise error(
        f"unknown {noun} {name!r}; {hint}", f"Add one with `spendscope alerts {noun}s add`."
    )


class ChannelStore:
    """The channels of a home and the routes between them, in `channels.json`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.home / CHANNELS_FILE
        self._file = RecordFile(
            settings,
            self.path,
            error=ChannelError,
            noun="channels",
            remedy="remove it and add the channels again",
        )

    def __repr__(self) -> str:
        return f"ChannelStore(path={str(self.path)!r})"

    def _load(self) -> Book:
        return self._file.read(Book.from_dict, Book([], []))

    def all(self) -> list[Channel]:
        """The channels in the order they were added."""
        return self._load().channels

    def routes(self) -> list[Route]:
        """The routes in the order they were added (the order they are tried in)."""
        return self._load().routes

    def get(self, name: str) -> Channel:
        return _find(self.all(), name)

    def secrets(self, channel: Channel) -> dict[str, str]:
        """The channel's secrets in clear. Never print or log them."""
        owner = f"channel {channel.name!r}"
        return {name: self._file.decrypt(token, owner) for name, token in channel.secrets.items()}

    def add(
        self,
        name: str,
        kind: str,
        options: Mapping[str, Any],
        plaintext: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> Channel:
        """Save a new channel (options checked by `check_options`); its secrets are encrypted
        before anything is written."""
        validate_name(name)
        ConnectionStore(self.settings).check_master_key()
        tokens = [t for c in self.all() for t in c.secrets.values()]
        self._file.refuse_lost_key(tokens, "the stored channel secrets")
        channel = Channel(
            name=name,
            kind=kind,
            id=secrets.token_hex(4),
            created_at=(now or datetime.now(UTC)).astimezone(UTC),
            options=dict(options),
            secrets={k: self._file.encrypt(v) for k, v in plaintext.items()},
            hints={k: mask_secret(k, v) for k, v in plaintext.items()},
        )
        with self._file.locked(self._load) as book:
            if any(c.name == name for c in book.channels):
                raise InvalidInput(
                    f"a channel named {name!r} already exists; remove it first or choose "
                    "another name"
                )
            self._save(Book([*book.channels, channel], book.routes))
        return channel

    def remove(self, name: str) -> Channel:
        """Remove a channel; refused while a route names it."""
        with self._file.locked(self._load) as book:
            found = _find(book.channels, name)
            using = [r.name for r in book.routes if name in r.channels]
            if using:
                raise InvalidInput(
                    f"channel {name!r} is named by route(s) {', '.join(using)}; remove them "
                    "first (spendscope alerts routes remove NAME)"
                )
            self._save(Book([c for c in book.channels if c.name != name], book.routes))
        return found

    def add_route(self, route: Route) -> Route:
        """Save a new route (made by `routes.make_route`); its channels must exist."""
        with self._file.locked(self._load) as book:
            if any(r.name == route.name for r in book.routes):
                raise InvalidInput(
                    f"a route named {route.name!r} already exists; remove it first or choose "
                    "another name"
                )
            names = {c.name for c in book.channels}
            for channel in route.channels:
                if channel not in names:
                    _find(book.channels, channel)
            routes = [*book.routes, route]
            check_digests(routes)
            self._save(Book(book.channels, routes))
        return route

    def remove_route(self, name: str) -> Route:
        with self._file.locked(self._load) as book:
            found = _find(book.routes, name, "route")
            self._save(Book(book.channels, [r for r in book.routes if r.name != name]))
        return found

    def _save(self, book: Book) -> None:
        self._file.write(book.to_dict())
