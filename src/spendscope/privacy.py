"""Stable keyed pseudonyms for user e-mail addresses (the `pseudonymize_emails` setting).

With the setting on, every export, API response and page that shows a user shows
`user-<12 hex>@pseudonym` instead of the address: the first 12 hex digits (48 bits) of
HMAC-SHA256 over the lower-cased, trimmed address, keyed by a secret kept beside the master key
(`pseudonym.key` in the same directory as `secret.key`, 32 random bytes as hex, mode 0600,
created on first use). The same address gives the same pseudonym in every run and process, so
grouping, filtering and CSV joins still work; without the secret a pseudonym cannot be linked
back to an address. A filter by a pseudonym is mapped back to the address inside the process,
by hashing the distinct addresses the warehouse holds (`reveal`). The addresses themselves stay
in the warehouse.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from .config import Settings
from .errors import SpendscopeError

SECRET_FILE = "pseudonym.key"
DIGITS = 12  # hex digits of the HMAC kept: 48 bits
SUFFIX = "@pseudonym"
PATTERN = re.compile(rf"user-[0-9a-f]{{{DIGITS}}}{re.escape(SUFFIX)}")


class PrivacyError(SpendscopeError):
    """The pseudonym secret is missing, unsafe or damaged; the message says what to do."""


def looks_like_address(value: object) -> bool:
    """True for a value shown as a user that is an e-mail address (holds an `@`)."""
    return isinstance(value, str) and "@" in value and not PATTERN.fullmatch(value)


class Pseudonymizer:
    """Turns addresses into pseudonyms under one secret (and back, given the candidates)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __repr__(self) -> str:  # the secret never shows in a log or a traceback
        return "Pseudonymizer()"

    def pseudonym(self, address: str) -> str:
        mac = hmac.new(self._secret, address.strip().lower().encode("utf-8"), hashlib.sha256)
        return f"user-{mac.hexdigest()[:DIGITS]}{SUFFIX}"

    def hide(self, value: object) -> object:
        """The pseudonym of an address; any other value (an id, a key name, None) unchanged."""
        return self.pseudonym(value) if looks_like_address(value) else value  # type: ignore[arg-type]

    def reveal(self, values: Iterable[str], candidates: Iterable[object]) -> list[str]:
        """`values` with each pseudonym replaced by the addresses among `candidates` that it
        stands for (an unknown pseudonym stays as it is and so matches nothing)."""
        wanted = [v for v in values if PATTERN.fullmatch(v)]
        if not wanted:
            return list(values)
        back: dict[str, list[str]] = {}
        for c in candidates:
            if looks_like_address(c):
                back.setdefault(self.pseudonym(str(c)), []).append(str(c))
        out: list[str] = []
        for v in values:
            out.extend(back.get(v, [v]) if PATTERN.fullmatch(v) else [v])
        return out


def secret_path(settings: Settings) -> Path:
    """Where the pseudonym secret lives: beside the master key file."""
    return Path(settings.secret_key_file).parent / SECRET_FILE


def _create(path: Path) -> None:
    """Write a new secret atomically: other processes see no file or a whole one."""
    from .secrets import create_secret_file

    create_secret_file(path, os.urandom(32).hex().encode("ascii") + b"\n")


def load_secret(settings: Settings) -> bytes:
    """The pseudonym secret, created on first use (0600); refused if others can read it."""
    path = secret_path(settings)
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create(path)
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise PrivacyError(f"{path} is not a regular file.", "Remove it; a new one is made.")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise PrivacyError(
                f"Refusing to use {path}: its mode is {mode:04o}, so other users can read it.",
                f"Run: chmod 600 {path}",
            )
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise PrivacyError(
            f"Cannot use the pseudonym secret {path}: {exc.strerror or exc}.",
            "Check the permissions of the directory holding secret.key.",
        ) from None
    except UnicodeDecodeError:
        text = ""
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise PrivacyError(
            f"{path} does not hold a pseudonym secret (64 hex digits).",
            "Restore it from a backup to keep the same pseudonyms, or delete it to start anew.",
        )
    return bytes.fromhex(text)


_cache: dict[Path, Pseudonymizer] = {}
_lock = threading.Lock()


def pseudonymizer(settings: Settings) -> Pseudonymizer | None:
    """The pseudonymizer when `pseudonymize_emails` is on, else None."""
    if not settings.pseudonymize_emails:
        return None
    path = secret_path(settings)
    with _lock:
        found = _cache.get(path)
        if found is None:
            found = _cache[path] = Pseudonymizer(load_secret(settings))
        return found


def hide_filters(
    p: Pseudonymizer | None, filters: Mapping[str, Iterable[str]], dims: Iterable[str]
) -> dict[str, list[str]]:
    """Filters as they may be shown back: addresses of the `dims` given as their pseudonyms."""
    names = set(dims)
    return {
        k: [str(p.hide(v)) if p and k in names else v for v in values]
        for k, values in filters.items()
    }
