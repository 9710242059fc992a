"""Channels, where alerts are delivered: `webhook` (generic JSON, optionally signed), `slack`
(an incoming-webhook URL) and `email` (SMTP).

They are configuration, not data: they live in `$SPENDSCOPE_HOME/channels.json` beside
`connections.json` (mode 0600; written atomically under an exclusive lock on `channels.lock`),
so they can be changed while `spendscope serve` holds the warehouse, and survive a warehouse
rebuilt from scratch. Their secrets — every webhook and Slack URL (a Slack URL is its own
credential, and other URLs often carry a token), the HMAC signing secret, the SMTP password —
are encrypted with the master key exactly as API keys are (`secrets.Vault`); the file keeps a
masked hint of each, and nothing ever prints more than the hint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..connections import ConnectionStore
from ..errors import InvalidInput, NotFoundLocally, SpendscopeError
from ..secrets import SecretError, Vault

KINDS = ("webhook", "slack", "email")
SECURITIES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SECRET_NAMES = ("url", "signing_secret", "password")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"'()\[\]\\]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$")
FILE_VERSION = 1
CHANNELS_FILE = "channels.json"


class ChannelError(SpendscopeError):
    """A channel can't be read or saved; the message says why."""


class UnknownChannel(NotFoundLocally, ChannelError):
    """No channel has this name."""


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


def _find(channels: list[Channel], name: str) -> Channel:
    for channel in channels:
        if channel.name == name:
            return channel
    known = ", ".join(c.name for c in channels)
    hint = f"known channels: {known}" if known else "no channels yet"
    raise UnknownChannel(
        f"unknown channel {name!r}; {hint}", "Add one with `spendscope alerts channels add`."
    )


class ChannelStore:
    """The channels of a home, in `channels.json`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.home / CHANNELS_FILE
        self._lock_path = settings.home / "channels.lock"
        self._vault = Vault(settings)

    def __repr__(self) -> str:
        return f"ChannelStore(path={str(self.path)!r})"

    def all(self) -> list[Channel]:
        """The channels in the order they were added."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw)
            if data.get("version") != FILE_VERSION:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            return [Channel.from_dict(item) for item in data["channels"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ChannelError(
                f"{self.path} is damaged ({exc}); restore it from a backup, or remove it and "
                "add the channels again"
            ) from None

    def get(self, name: str) -> Channel:
        return _find(self.all(), name)

    def secrets(self, channel: Channel) -> dict[str, str]:
        """The channel's secrets in clear. Never print or log them."""
        out: dict[str, str] = {}
        for name, token in channel.secrets.items():
            try:
                out[name] = self._vault.decrypt(token)
            except SecretError as exc:
                raise SecretError(f"channel {channel.name!r}: {exc.message}", exc.hint) from None
        return out

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
        self._check_master_key()
        channel = Channel(
            name=name,
            kind=kind,
            id=secrets.token_hex(4),
            created_at=(now or datetime.now(UTC)).astimezone(UTC),
            options=dict(options),
            secrets={k: self._vault.encrypt(v) for k, v in plaintext.items()},
            hints={k: mask_secret(k, v) for k, v in plaintext.items()},
        )
        with self._locked() as channels:
            if any(c.name == name for c in channels):
                raise InvalidInput(
                    f"a channel named {name!r} already exists; remove it first or choose "
                    "another name"
                )
            self._save([*channels, channel])
        return channel

    def remove(self, name: str) -> Channel:
        with self._locked() as channels:
            found = _find(channels, name)
            self._save([c for c in channels if c.name != name])
        return found

    def _check_master_key(self) -> None:
        """Refuse to encrypt under a new master key while stored secrets need the old one."""
        ConnectionStore(self.settings).check_master_key()
        tokens = [t for c in self.all() for t in c.secrets.values()]
        if tokens and not any(self._vault.can_decrypt(t) for t in tokens):
            raise SecretError(
                f"the stored channel secrets can't be decrypted: {self._vault.lost_key_problem()}",
                self._vault.restore_hint(),
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[Channel]]:
        self.settings.ensure_home()
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self.all()
        finally:
            os.close(fd)

    def _save(self, channels: list[Channel]) -> None:
        payload = {"version": FILE_VERSION, "channels": [c.to_dict() for c in channels]}
        data = json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".channels.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ChannelError(
                f"could not save channels to {self.path}: {exc.strerror or exc}; "
                "the previous file is unchanged"
            ) from exc
