"""API keys at rest: Fernet encryption under one master key, and masked hints safe to print.

The master key comes from `SPENDSCOPE_SECRET_KEY` (a Fernet key, or any passphrase, from which a
Fernet key is derived with scrypt), else from `$SPENDSCOPE_HOME/secret.key`, created on first
use with mode 0600. A `secret.key` readable or writable by group or others is refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import os
import re
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .config import Settings
from .errors import SpendscopeError

# scrypt parameters for a passphrase in SPENDSCOPE_SECRET_KEY (documented in configuration.md).
# The salt is fixed so the same passphrase gives the same key on every machine.
KDF_SALT = b"spendscope.master-key.v1"
KDF_N, KDF_R, KDF_P = 2**15, 8, 1
_KEY_PREFIX = re.compile(r"^sk-ant-[a-z]+[0-9]*-")
_HINT_MIN_LENGTH = 12


class SecretError(SpendscopeError):
    """The master key is missing, unsafe or wrong; the message says what to do."""


def mask_key(key: str) -> str:
    """A hint safe to print: the key's type prefix and its last 4 characters, never more.

    `sk-ant-admin01-…w9AA`; a key with no recognised prefix gives `…w9AA`. When the part after
    the prefix is shorter than 12 characters, not even the last 4 are shown.
    """
    key = key.strip()
    match = _KEY_PREFIX.match(key)
    prefix = match.group(0) if match else ""
    body = key[len(prefix) :]
    return f"{prefix}…{body[-4:]}" if len(body) >= _HINT_MIN_LENGTH else f"{prefix}…"


def generate_master_key() -> str:
    """A fresh random Fernet key, suitable for `SPENDSCOPE_SECRET_KEY` or `secret.key`."""
    return Fernet.generate_key().decode("ascii")


def is_fernet_key(text: str) -> bool:
    """True if `text` is a url-safe base64 encoding of exactly 32 bytes."""
    try:
        return len(base64.urlsafe_b64decode(text.encode("ascii"))) == 32 and len(text) == 44
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


@functools.lru_cache(maxsize=4)  # scrypt is slow on purpose; each process derives a key once
def derive_master_key(passphrase: str) -> bytes:
    """A Fernet key from a passphrase: scrypt(N=2^15, r=8, p=1, fixed salt), url-safe base64."""
    kdf = Scrypt(salt=KDF_SALT, length=32, n=KDF_N, r=KDF_R, p=KDF_P)
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode("utf-8")))


def _check_private(path: Path) -> None:
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"{path} is not a regular file; remove it or point SPENDSCOPE_HOME away")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SecretError(
            f"refusing to use {path}: its mode is {mode:04o}, so other users can read it; "
            f"run `chmod 600 {path}` (and consider rotating the keys it protects)"
        )


def _create_key_file(path: Path) -> None:
    """Create `path` holding a new key, atomically: other processes see no file or a whole one."""
    create_secret_file(path, generate_master_key().encode("ascii") + b"\n")


def create_secret_file(path: Path, content: bytes) -> None:
    """Create `path` (mode 0600) holding `content`, atomically: other processes see no file or
    a whole one. If `path` already exists it is kept: a concurrent creator wins and everyone
    uses its content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # link() never replaces `path`
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class Vault:
    """Encrypts and decrypts API keys with the master key; loads it lazily on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fernet: Fernet | None = None
        self._source = ""

    def __repr__(self) -> str:
        return f"Vault(home={str(self._settings.home)!r})"

    @property
    def key_source(self) -> str:
        """Where the master key comes from, for messages: the env var or the key file."""
        if self._settings.secret_key is not None:
            return "SPENDSCOPE_SECRET_KEY"
        return str(self._settings.secret_key_file)

    def has_master_key(self) -> bool:
        """True if a master key is configured: SPENDSCOPE_SECRET_KEY, or the key file exists."""
        return self._settings.secret_key is not None or self._settings.secret_key_file.exists()

    def can_decrypt(self, token: str) -> bool:
        """True if `token` decrypts with the master key in use (False when there is none).

        An unusable key file (unsafe mode, damaged) still raises its SecretError."""
        if not self.has_master_key():
            return False
        try:
            self._load(create=False).decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def lost_key_problem(self) -> str:
        """Why stored keys can't be decrypted: the master key is missing, or it is another one."""
        if not self.has_master_key():
            return (
                f"the master key is missing ({self._settings.secret_key_file} does not exist "
                "and SPENDSCOPE_SECRET_KEY is not set)"
            )
        return f"the master key from {self.key_source} is not the one they were encrypted with"

    def restore_hint(self) -> str:
        """What to do when stored keys can't be decrypted: where the master key was, or how
        to re-enter the keys."""
        path = self._settings.secret_key_file
        if self._settings.secret_key is not None:
            where = (
                "set SPENDSCOPE_SECRET_KEY back to the master key they were encrypted with "
                f"(or unset it if they were encrypted with {path})"
            )
        elif path.exists():
            where = (
                f"put the original {path} back (mode 0600), or set SPENDSCOPE_SECRET_KEY to "
                "the master key they were encrypted with"
            )
        else:
            where = (
                f"restore {path} from a backup (mode 0600), or set SPENDSCOPE_SECRET_KEY to "
                "the master key they were encrypted with"
            )
        return (
            f"Restore the master key: {where}. Or re-enter the keys: `spendscope connections "
            "delete <label> --purge`, then `spendscope connect … --label <label>` again (its "
            "next sync fetches the data again)."
        )

    def _load(self, create: bool) -> Fernet:
        if self._fernet is not None:
            return self._fernet
        passphrase = self._settings.secret_key
        if passphrase is not None:
            key = (
                passphrase.encode() if is_fernet_key(passphrase) else derive_master_key(passphrase)
            )
        else:
            key = self._read_key_file(create)
        self._fernet = Fernet(key)
        return self._fernet

    def _read_key_file(self, create: bool) -> bytes:
        path = self._settings.secret_key_file
        try:
            if not path.exists():
                if not create:
                    raise SecretError(
                        f"no master key: {path} does not exist and SPENDSCOPE_SECRET_KEY is not "
                        "set, so stored API keys can't be decrypted; restore the key file or set "
                        "SPENDSCOPE_SECRET_KEY, or delete the connections and connect them again"
                    )
                self._settings.ensure_home()
                _create_key_file(path)
            _check_private(path)
            text = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise SecretError(f"cannot use master key file {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError:
            text = ""
        if not is_fernet_key(text):
            raise SecretError(
                f"{path} does not hold a valid master key (44 characters of url-safe base64); "
                "restore the original file, or remove it and connect again"
            )
        return text.encode("ascii")

    def encrypt(self, plaintext: str) -> str:
        """Encrypt `plaintext` (an API key); the token is printable ASCII."""
        if not plaintext:
            raise SecretError("refusing to encrypt an empty key")
        return self._load(create=True).encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token from `encrypt`; a different master key raises a clear SecretError."""
        fernet = self._load(create=False)
        try:
            return fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretError(
                f"a stored API key can't be decrypted with the master key from {self.key_source}: "
                "it was encrypted with a different master key (or the stored value is damaged); "
                "restore the original master key, or delete the connection and connect it again"
            ) from None
