"""The connection store: `$SPENDSCOPE_HOME/connections.json`, mode 0600, keys encrypted.

A record file (`records_file`): writes are atomic and serialised between processes and threads
by an exclusive `flock` on `connections.lock`; readers never see a half-written file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .config import API_MODES, Settings
from .errors import NotFoundLocally, SpendscopeError
from .records_file import RecordFile
from .secrets import SecretError, mask_key

KINDS = ("console", "enterprise")
STATES = ("active", "deleted")
LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ConnectionStoreError(SpendscopeError):
    """A connection can't be found, added, read or saved; the message says why."""


class InvalidLabelError(ConnectionStoreError, ValueError):
    """A label is not a valid slug."""


class UnknownConnection(NotFoundLocally, ConnectionStoreError):
    """No connection has this label (HTTP 404 in the API, a non-zero exit in the CLI)."""


def validate_label(label: str) -> str:
    """Return `label` if it is a valid slug, else raise InvalidLabelError saying what is allowed."""
    if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
        raise InvalidLabelError(
            f"invalid connection label {label!r}: use 1-63 characters, lowercase letters, digits, "
            "'-' and '_', starting with a letter or digit (for example 'acme-prod')"
        )
    return label


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConnectionStoreError(f"{name} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Connection:
    """One organization connected with one key. The key itself is only ever encrypted here."""

    label: str
    kind: str
    base_url: str
    organization_id: str
    organization_name: str
    key_hint: str
    encrypted_key: str | None = field(repr=False)
    created_at: datetime
    api_mode: str | None = None  # None: use Settings.api_mode
    state: str = "active"
    deleted_at: datetime | None = None

    def __post_init__(self) -> None:
        validate_label(self.label)
        if self.kind not in KINDS:
            raise ConnectionStoreError(
                f"connection {self.label}: kind {self.kind!r} is not one of {', '.join(KINDS)}"
            )
        if self.state not in STATES:
            raise ConnectionStoreError(
                f"connection {self.label}: state {self.state!r} is not one of {', '.join(STATES)}"
            )
        if self.api_mode is not None and self.api_mode not in API_MODES:
            raise ConnectionStoreError(
                f"connection {self.label}: api_mode {self.api_mode!r} is not one of "
                f"{', '.join(API_MODES)} (or unset)"
            )
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))
        if self.deleted_at is not None:
            object.__setattr__(self, "deleted_at", _utc(self.deleted_at, "deleted_at"))
        if self.state == "active" and not self.encrypted_key:
            raise ConnectionStoreError(f"connection {self.label} is active but has no key")
        if self.state == "deleted" and (self.encrypted_key or self.deleted_at is None):
            raise ConnectionStoreError(
                f"connection {self.label} is deleted but still has a key or no deletion time"
            )

    @property
    def is_active(self) -> bool:
        return self.state == "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "base_url": self.base_url,
            "organization_id": self.organization_id,
            "organization_name": self.organization_name,
            "key_hint": self.key_hint,
            "encrypted_key": self.encrypted_key,
            "created_at": self.created_at.isoformat(),
            "api_mode": self.api_mode,
            "state": self.state,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Connection:
        deleted_at = data.get("deleted_at")
        return cls(
            label=str(data["label"]),
            kind=str(data["kind"]),
            base_url=str(data["base_url"]),
            organization_id=str(data["organization_id"]),
            organization_name=str(data["organization_name"]),
            key_hint=str(data["key_hint"]),
            encrypted_key=data.get("encrypted_key"),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            api_mode=data.get("api_mode"),
            state=str(data.get("state", "active")),
            deleted_at=datetime.fromisoformat(str(deleted_at)) if deleted_at else None,
        )


class ConnectionStore:
    """Connections of any kind and number, persisted in `connections.json` under the home dir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.connections_file
        self._file = RecordFile(
            settings,
            self.path,
            error=ConnectionStoreError,
            noun="connections",
            remedy="remove it and connect again",
        )
        self._vault = self._file.vault

    def __repr__(self) -> str:
        return f"ConnectionStore(path={str(self.path)!r})"

    # --- reading ---------------------------------------------------------------------------

    def _load(self) -> list[Connection]:
        return self._file.read(
            lambda data: [Connection.from_dict(item) for item in data["connections"]], []
        )

    def all(self, include_deleted: bool = False) -> list[Connection]:
        """Connections in the order they were added; deleted ones only if asked."""
        return [c for c in self._load() if include_deleted or c.is_active]

    def get(self, label: str) -> Connection:
        """The connection labelled `label` (active or deleted)."""
        return self._find(self._load(), label)

    def _find(self, connections: list[Connection], label: str) -> Connection:
        for conn in connections:
            if conn.label == label:
                return conn
        known = [c.label + ("" if c.is_active else " (deleted)") for c in connections]
        hint = (
            f"known labels: {', '.join(known)}"
            if known
            else "no connections yet; add one with `spendscope connect console|enterprise`"
        )
        raise UnknownConnection(f"unknown connection {label!r}; {hint}")

    def key(self, label: str) -> str:
        """The plaintext API key of an active connection. Never print or log it."""
        conn = self.get(label)
        if not conn.is_active or conn.encrypted_key is None:
            raise ConnectionStoreError(
                f"connection {label!r} was deleted and its key with it; connect it again"
            )
        return self._file.decrypt(conn.encrypted_key, f"connection {label!r}")

    # --- the master key ----------------------------------------------------------------------

    def key_problems(self) -> dict[str, str]:
        """Active connections whose stored key can't be decrypted, with the reason (one line)."""
        problems: dict[str, str] = {}
        for conn in self.all():
            if conn.encrypted_key is None:
                continue
            try:
                readable = self._vault.can_decrypt(conn.encrypted_key)
            except SecretError as exc:
                problems[conn.label] = exc.message
                continue
            if not readable:
                problems[conn.label] = (
                    f"its stored key can't be decrypted: {self._vault.lost_key_problem()}; "
                    "restore the master key, or delete this connection and connect it again"
                )
        return problems

    def check_master_key(self) -> None:
        """Refuse to encrypt a new key when no stored key decrypts with the master key in use.

        Otherwise connecting would create a new master key (or use another one) and the keys
        already stored would stay unreadable for good. The error says where the old master key
        was and how to re-enter the keys instead."""
        stored = [c for c in self.all() if c.encrypted_key is not None]
        labels = ", ".join(c.label for c in stored)
        self._file.refuse_lost_key(
            [c.encrypted_key or "" for c in stored],
            f"the stored keys of {labels}",
            "; spendscope will not start a new master key while they exist",
        )

    # --- writing ---------------------------------------------------------------------------

    def _save(self, connections: list[Connection]) -> None:
        self._file.write({"connections": [c.to_dict() for c in connections]})

    def add(
        self,
        label: str,
        kind: str,
        key: str,
        *,
        base_url: str,
        organization_id: str,
        organization_name: str,
        api_mode: str | None = None,
        now: datetime | None = None,
    ) -> Connection:
        """Store a new connection; only the encrypted key and a masked hint are kept."""
        validate_label(label)
        key = key.strip()
        if not key:
            raise ConnectionStoreError(f"connection {label!r}: the API key is empty")
        created = now if now is not None else datetime.now(UTC)
        self.check_master_key()
        encrypted = self._file.encrypt(key)
        conn = Connection(
            label=label,
            kind=kind,
            base_url=base_url.rstrip("/"),
            organization_id=organization_id,
            organization_name=organization_name,
            key_hint=mask_key(key),
            encrypted_key=encrypted,
            created_at=created,
            api_mode=api_mode,
        )
        with self._file.locked(self._load) as connections:
            _ensure_free(connections, label)
            self._save([*connections, conn])
        return conn

    def ensure_label_free(self, label: str) -> None:
        """Raise if `label` is invalid or taken (by an active or a deleted connection)."""
        validate_label(label)
        _ensure_free(self._load(), label)

    def mark_deleted(self, label: str, *, now: datetime | None = None) -> Connection:
        """Delete the stored key now; keep the record (state "deleted") to label its history."""
        with self._file.locked(self._load) as connections:
            conn = self._find(connections, label)
            if not conn.is_active:
                return conn
            deleted = replace(
                conn,
                encrypted_key=None,
                state="deleted",
                deleted_at=now if now is not None else datetime.now(UTC),
            )
            self._save([deleted if c.label == label else c for c in connections])
        return deleted

    def remove(self, label: str) -> None:
        """Remove the record entirely, key included (for `--purge`)."""
        with self._file.locked(self._load) as connections:
            self._find(connections, label)
            self._save([c for c in connections if c.label != label])


def _ensure_free(connections: list[Connection], label: str) -> None:
    for existing in connections:
        if existing.label == label and existing.is_active:
            raise ConnectionStoreError(
                f"a connection labelled {label!r} already exists; choose another label"
            )
        if existing.label == label:
            raise ConnectionStoreError(
                f"label {label!r} belongs to a deleted connection whose history is kept; "
                "choose another label, or purge the old one first"
            )
