"""Record files of the home: small versioned JSON documents whose secrets are encrypted
(`connections.json`, `channels.json`).

A file holds `{"version": N, "<list>": [...], ...}` with mode 0600. Writes are atomic (temp
file, fsync, `os.replace`, fsync of the directory) and serialised between processes and threads
by an exclusive `flock` on a lock file beside it (`connections.lock`), held across each
read-modify-write; readers never see a half-written file. Secrets are encrypted with the master
key (`secrets.Vault`) before anything is written, and a new master key is refused while stored
secrets need the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .config import Settings
from .errors import SpendscopeError
from .secrets import SecretError, Vault

T = TypeVar("T")
FILE_VERSION = 1


class RecordFile:
    """One record file: `path`, its lock beside it, and the vault of its secrets.

    `error` is the error raised when it can't be read or saved, `noun` what it holds (for
    messages: "could not save channels to …") and `remedy` the way out of a damaged file
    ("remove it and connect again")."""

    def __init__(
        self,
        settings: Settings,
        path: Path,
        *,
        error: type[SpendscopeError],
        noun: str,
        remedy: str,
    ) -> None:
        self.settings = settings
        self.path = path
        self.lock_path = path.with_suffix(".lock")
        self.vault = Vault(settings)
        self._error = error
        self._noun = noun
        self._remedy = remedy

    def __repr__(self) -> str:
        return f"RecordFile(path={str(self.path)!r})"

    # --- reading ---------------------------------------------------------------------------

    def read(self, parse: Callable[[Mapping[str, Any]], T], missing: T) -> T:
        """`parse(document)`, or `missing` when there is no file. A document of another
        version, or one `parse` can't take, is a damaged file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return missing
        except OSError as exc:
            raise self._error(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw)
            if data.get("version") != FILE_VERSION:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            return parse(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._error(
                f"{self.path} is damaged ({exc}); restore it from a backup, or {self._remedy}"
            ) from None

    # --- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the exclusive lock (across a read-modify-write)."""
        self.settings.ensure_home()
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._error(
                f"cannot open lock file {self.lock_path}: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    @contextlib.contextmanager
    def locked(self, load: Callable[[], T]) -> Iterator[T]:
        """Hold the lock across a read-modify-write: yields what `load()` reads under it."""
        with self.lock():
            yield load()

    def write(self, lists: Mapping[str, list[dict[str, Any]]]) -> None:
        """Replace the file with `{"version": …, **lists}`, atomically."""
        payload = {"version": FILE_VERSION, **lists}
        data = json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
        directory = self.path.parent
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.stem}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            tmp = None
            _fsync_dir(directory)
        except OSError as exc:
            raise self._error(
                f"could not save {self._noun} to {self.path}: {exc.strerror or exc}; "
                "the previous file is unchanged"
            ) from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    # --- secrets ---------------------------------------------------------------------------

    def encrypt(self, plaintext: str) -> str:
        return self.vault.encrypt(plaintext)

    def decrypt(self, token: str, owner: str) -> str:
        """The plaintext of a stored secret; a failure names its `owner` ("connection 'x'")."""
        try:
            return self.vault.decrypt(token)
        except SecretError as exc:
            raise SecretError(f"{owner}: {exc.message}", exc.hint) from None

    def refuse_lost_key(self, tokens: Iterable[str], what: str, tail: str = "") -> None:
        """Refuse to encrypt under a master key none of the stored `tokens` decrypts with:
        a new one would leave them unreadable for good. The error says where the old master
        key was and how to re-enter the secrets."""
        stored = [t for t in tokens if t]
        if not stored or any(self.vault.can_decrypt(t) for t in stored):
            return
        raise SecretError(
            f"{what} can't be decrypted: {self.vault.lost_key_problem()}{tail}",
            self.vault.restore_hint(),
        )


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; some file systems can't fsync a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
