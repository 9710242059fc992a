"""Settings: built once by `load_settings()` and passed down; never built at import time.

Precedence, highest first: explicit arguments (``--home``, command-line overrides), environment
variables ``SPENDSCOPE_*``, ``$SPENDSCOPE_HOME/settings.toml``, defaults. Every setting is
documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from . import errors

ENV_PREFIX = "SPENDSCOPE_"
SETTINGS_FILE = "settings.toml"
API_MODES = ("auto", "analytics", "legacy")
OVERLAP_PRECEDENCES = ("console", "enterprise")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(errors.ConfigError, ValueError):
    """A setting has a value that is not allowed; the message names the setting and the fix."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, validated. Build it with `load_settings()`."""

    home: Path
    warehouse_path: Path = Path("warehouse.duckdb")  # relative paths are under `home`
    base_url: str = "https://api.anthropic.com"
    refresh_hours: float = 6.0
    reconciliation_days: int = 30
    engagement_reconciliation_days: int = 7
    console_backfill_days: int = 183
    enterprise_backfill_days: int = 365
    enterprise_floor: date = date(2026, 1, 1)
    api_mode: str = "auto"
    overlap_precedence: str = "console"
    analytics_rpm: int = 60
    admin_rpm: int = 0
    http_timeout: float = 30.0
    pseudonymize_emails: bool = False
    # A webhook URL often embeds a token (Slack, Teams): kept out of repr.
    notify_webhook: str | None = field(default=None, repr=False)
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    # Host names (besides loopback ones) the dashboard answers to, e.g. behind a reverse proxy.
    allowed_hosts: tuple[str, ...] = ()
    # The master key for stored API keys, from SPENDSCOPE_SECRET_KEY only (see secrets.py).
    secret_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), "Settings")
            object.__setattr__(self, f.name, value)
        if not self.warehouse_path.is_absolute():
            object.__setattr__(self, "warehouse_path", self.home / self.warehouse_path)

    @property
    def settings_file(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret.key"

    @property
    def connections_file(self) -> Path:
        return self.home / "connections.json"

    def ensure_home(self) -> Path:
        """Create the home directory (mode 0700) if it does not exist; return it."""
        if not self.home.is_dir():
            try:
                self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.home, 0o700)
            except OSError as exc:
                raise ConfigError(
                    f"setting home: cannot create {self.home}: {exc.strerror or exc}"
                ) from exc
        return self.home

    def backfill_days(self, kind: str) -> int:
        """Days of history the first sync of a connection of `kind` reads."""
        return self.console_backfill_days if kind == "console" else self.enterprise_backfill_days

    def backfill_start(self, kind: str, today: date) -> date:
        """First day of the first backfill; Enterprise never starts before `enterprise_floor`."""
        start = date.fromordinal(today.toordinal() - self.backfill_days(kind))
        if kind == "enterprise":
            start = max(start, self.enterprise_floor)
        return start


# --- parsing and validation -------------------------------------------------------------------


def _fail(name: str, source: str, value: Any, allowed: str) -> ConfigError:
    shown = repr(value) if name != "secret_key" else "(hidden)"
    return ConfigError(f"setting {name} (from {source}): {shown} is not allowed; {allowed}")


def _as_int(name: str, value: Any, source: str, minimum: int, maximum: int | None = None) -> int:
    parsed: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = int(value.strip())
        except ValueError:
            parsed = None
    if parsed is None or parsed < minimum or (maximum is not None and parsed > maximum):
        top = f" and {maximum}" if maximum is not None else ""
        between = f"between {minimum}{top}" if top else f">= {minimum}"
        raise _fail(name, source, value, f"expected a whole number {between}")
    return parsed


def _as_float(name: str, value: Any, source: str) -> float:
    parsed: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        parsed = float(value)
    elif isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            parsed = None
    if parsed is None or not parsed > 0 or parsed == float("inf"):
        raise _fail(name, source, value, "expected a number > 0")
    return parsed


def _as_bool(name: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(name, source, value, "expected true or false")


def _as_choice(name: str, value: Any, source: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise _fail(name, source, value, "use one of: " + ", ".join(choices))


def _as_url(name: str, value: Any, source: str) -> str:
    if isinstance(value, str):
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme in ("http", "https") and parts.netloc:
            return text.rstrip("/")
    raise _fail(name, source, value, "expected an http:// or https:// URL")


def _as_path(name: str, value: Any, source: str) -> Path:
    if isinstance(value, str | os.PathLike) and str(value).strip():
        return Path(str(value).strip()).expanduser()
    raise _fail(name, source, value, "expected a file system path")


def _as_date(name: str, value: Any, source: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail(name, source, value, "expected a date like 2026-01-01")


def _as_text(name: str, value: Any, source: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _fail(name, source, value, "expected a non-empty string")


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def host_name(text: str) -> str | None:
    """`text` as a canonical host name (lower case; IPv6 without brackets), or None if it is
    neither a DNS name nor an IP address."""
    text = text.strip().lower()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if bare != text or len(text) > 253 or not all(_HOST_LABEL.match(p) for p in text.split(".")):
        return None
    return text


def _as_hosts(name: str, value: Any, source: str) -> tuple[str, ...]:
    """Host names or IP addresses, comma-separated (or a list in settings.toml), lower-cased."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise _fail(name, source, value, "expected host names separated by commas")
    hosts: list[str] = []
    for item in (i.strip() for i in items):
        host = host_name(item) if item else None
        if item and host is None:
            raise _fail(name, source, value, "list host names or IP addresses, without port or *")
        if host and host not in hosts:
            hosts.append(host)
    return tuple(hosts)


def _optional(parse: Callable[[str, Any, str], Any]) -> Callable[[str, Any, str], Any]:
    def parse_optional(name: str, value: Any, source: str) -> Any:
        return None if value is None else parse(name, value, source)

    return parse_optional


_PARSERS: dict[str, Callable[[str, Any, str], Any]] = {
    "home": lambda n, v, s: _as_path(n, v, s).absolute(),
    "warehouse_path": _as_path,
    "base_url": _as_url,
    "refresh_hours": _as_float,
    "reconciliation_days": lambda n, v, s: _as_int(n, v, s, 1),
    "engagement_reconciliation_days": lambda n, v, s: _as_int(n, v, s, 1),
    "console_backfill_days": lambda n, v, s: _as_int(n, v, s, 1),
    "enterprise_backfill_days": lambda n, v, s: _as_int(n, v, s, 1),
    "enterprise_floor": _as_date,
    "api_mode": lambda n, v, s: _as_choice(n, v, s, API_MODES),
    "overlap_precedence": lambda n, v, s: _as_choice(n, v, s, OVERLAP_PRECEDENCES),
    "analytics_rpm": lambda n, v, s: _as_int(n, v, s, 0),
    "admin_rpm": lambda n, v, s: _as_int(n, v, s, 0),
    "http_timeout": _as_float,
    "pseudonymize_emails": _as_bool,
    "notify_webhook": _optional(_as_url),
    "serve_host": _as_text,
    "serve_port": lambda n, v, s: _as_int(n, v, s, 0, 65535),
    "allowed_hosts": _as_hosts,
    "secret_key": _optional(_as_text),
}
SETTING_NAMES: tuple[str, ...] = tuple(_PARSERS)
# Settings that can't come from settings.toml: `home` holds the file, the key must not sit in it.
_NOT_IN_FILE = ("home", "secret_key")


def _coerce(name: str, value: Any, source: str) -> Any:
    return _PARSERS[name](name, value, source)


def env_name(name: str) -> str:
    """The environment variable of a setting: `api_mode` -> `SPENDSCOPE_API_MODE`."""
    return ENV_PREFIX + name.upper()


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """`SPENDSCOPE_HOME`, else the platform's user data directory for spendscope."""
    env = os.environ if env is None else env
    raw = env.get(env_name("home"), "").strip()
    source = env_name("home")
    if not raw:
        raw, source = platformdirs.user_data_dir("spendscope"), "platform default"
    home: Path = _coerce("home", raw, source)
    return home


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    for key in data:
        if key in _NOT_IN_FILE:
            raise ConfigError(f"setting {key} can't be set in {path}; use {env_name(key)}")
        if key not in _PARSERS:
            known = ", ".join(n for n in SETTING_NAMES if n not in _NOT_IN_FILE)
            raise ConfigError(f"unknown setting {key!r} in {path}; known settings: {known}")
    return data


def load_settings(
    home: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings once: `home` / `overrides` > environment > settings.toml > defaults.

    `env` defaults to `os.environ`; an empty environment variable counts as unset. `overrides`
    carries explicit command-line values by setting name (None values are ignored).
    """
    env = os.environ if env is None else env
    explicit = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in explicit:
        if key not in _PARSERS or key == "home":
            raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(_PARSERS)}")
    if home is not None:
        resolved_home: Path = _coerce("home", home, "argument --home")
    else:
        resolved_home = default_home(env)
    from_file = _read_file(resolved_home / SETTINGS_FILE)
    values: dict[str, Any] = {"home": resolved_home}
    for name in SETTING_NAMES:
        if name == "home":
            continue
        raw_env = env.get(env_name(name), "")
        if name in explicit:
            values[name] = _coerce(name, explicit[name], "argument")
        elif raw_env.strip():
            values[name] = _coerce(name, raw_env, "environment " + env_name(name))
        elif name in from_file:
            values[name] = _coerce(name, from_file[name], str(resolved_home / SETTINGS_FILE))
    return Settings(**values)
