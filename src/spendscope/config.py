"""Settings: declared once, as the fields of `Settings`; built once by `load_settings()` and
passed down; never built at import time.

Each field carries its description, an example value and its rules; `docs/configuration.md` is
generated from them (`spendscope.docgen.configuration`). Precedence, highest first: explicit
arguments (``--home``, command-line overrides), environment variables ``SPENDSCOPE_*``,
``$SPENDSCOPE_HOME/settings.toml``, defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import platformdirs
from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from . import errors
from .config_values import (
    Accepts,
    FilePath,
    Flag,
    HomePath,
    IsoDate,
    Number,
    OptionalText,
    OptionalUrl,
    Percents,
    Refused,
    Text,
    Url,
    Whole,
    parse_home,
    parse_word,
)

ENV_PREFIX = "SPENDSCOPE_"
SETTINGS_FILE = "settings.toml"
ApiMode = Literal["auto", "analytics", "legacy"]
OverlapPrecedence = Literal["console", "enterprise"]
API_MODES: tuple[str, ...] = get_args(ApiMode)
OVERLAP_PRECEDENCES: tuple[str, ...] = get_args(OverlapPrecedence)


def env_name(name: str) -> str:
    """The environment variable of a setting: `api_mode` -> `SPENDSCOPE_API_MODE`."""
    return ENV_PREFIX + name.upper()


# --- host names (the other kinds of value are in `config_values`) ---------------------------------

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


def _hosts(value: Any) -> tuple[str, ...]:
    """Host names or IP addresses, comma-separated (or a list in settings.toml), lower-cased."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("not a list of host names")
    hosts: list[str] = []
    for item in (i.strip() for i in items):
        host = host_name(item) if item else None
        if item and host is None:
            raise Refused("list host names or IP addresses, without port or *")
        if host and host not in hosts:
            hosts.append(host)
    return tuple(hosts)


_HOSTS = Accepts("expected host names separated by commas")
Hosts = Annotated[tuple[str, ...], _HOSTS, BeforeValidator(_hosts)]


# --- the settings -------------------------------------------------------------------------------


class Settings(BaseSettings):
    """Everything configurable, validated and immutable. Build it with `load_settings()`;
    `with_changes()` gives a modified copy."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    home: HomePath = Field(
        description="Where spendscope keeps its warehouse, settings, connections and master "
        "key. Created with mode 0700. Not settable in `settings.toml` (that file lives in it); "
        "`--home` overrides the variable.",
        json_schema_extra={
            "example": "/srv/spendscope",
            "in_file": False,
            "note": "the platform's user data directory for `spendscope` (Linux: "
            "`~/.local/share/spendscope`; macOS: `~/Library/Application Support/spendscope`)",
        },
    )
    warehouse_path: FilePath = Field(
        Path("warehouse.duckdb"),
        validate_default=True,  # the default, too, is made absolute under `home`
        description="The DuckDB warehouse file. A relative path is taken relative to the home "
        "directory.",
        json_schema_extra={
            "example": "data/warehouse.duckdb",
            "note": "`warehouse.duckdb` (i.e. `$SPENDSCOPE_HOME/warehouse.duckdb`)",
        },
    )
    base_url: Url = Field(
        "https://api.anthropic.com",
        description="Base URL of the Anthropic API for new connections (each connection keeps "
        "the URL it was created with). Point it at `spendscope simulate` to work without an "
        "Anthropic account.",
        json_schema_extra={"example": "http://127.0.0.1:8765"},
    )
    refresh_hours: Number = Field(
        6.0,
        description="How often `spendscope serve` refreshes every connection, in hours "
        "(fractions allowed).",
        json_schema_extra={"example": 1.5},
    )
    reconciliation_days: Whole = Field(
        30,
        ge=1,
        description="Trailing window of cost and usage data re-read on each refresh, because "
        "Anthropic revises those figures for up to 30 days. Changes are applied in place and "
        "logged as corrections.",
        json_schema_extra={"example": 14},
    )
    engagement_reconciliation_days: Whole = Field(
        7,
        ge=1,
        description="Trailing window re-read on each refresh for engagement and Claude Code data.",
        json_schema_extra={"example": 3},
    )
    console_backfill_days: Whole = Field(
        183,
        ge=1,
        description="History read by the first sync of a Console connection.",
        json_schema_extra={"example": 90, "note": "`183` (about 6 months)"},
    )
    enterprise_backfill_days: Whole = Field(
        365,
        ge=1,
        description="History read by the first sync of an Enterprise connection, never before "
        "`enterprise_floor`.",
        json_schema_extra={"example": 30},
    )
    enterprise_floor: IsoDate = Field(
        date(2026, 1, 1),
        description="Earliest date the Enterprise analytics API serves; an Enterprise backfill "
        "never starts before it.",
        json_schema_extra={"example": "2026-03-01"},
    )
    api_mode: Annotated[ApiMode, BeforeValidator(parse_word)] = Field(
        "auto",
        description="Which API family reads cost and usage: `auto` (the Usage and Cost "
        "Analytics API where it answers, the legacy reports where it is refused), `analytics` "
        "(only the new API), `legacy` (only the legacy reports). A connection may override it.",
        json_schema_extra={"example": "legacy"},
    )
    overlap_precedence: Annotated[OverlapPrecedence, BeforeValidator(parse_word)] = Field(
        "console",
        description="When a child Console organization's spend also arrives through its parent "
        "Enterprise connection, which connection's rows count in totals. The other rows stay in "
        "the warehouse, marked as overlapping.",
        json_schema_extra={"example": "enterprise"},
    )
    analytics_rpm: Whole = Field(
        60,
        ge=0,
        description="Client-side request limit per minute per organization on the analytics "
        "API (the documented limit is 60). `0` disables the client-side limit.",
        json_schema_extra={"example": 30},
    )
    admin_rpm: Whole = Field(
        0,
        ge=0,
        description="Client-side request limit per minute per organization on the Admin API; "
        "`0` means no client-side limit (server `retry-after` is still honoured).",
        json_schema_extra={"example": 120},
    )
    spend_limits_rpm: Whole = Field(
        60,
        ge=0,
        description="Client-side request limit per minute per organization on the Spend Limits "
        "API (Claude Enterprise; its endpoints share a documented 60). `0` disables the "
        "client-side limit.",
        json_schema_extra={"example": 30},
    )
    spend_limit_thresholds: Percents = Field(
        (Decimal(80), Decimal(100)),
        description="Percents of a member's Anthropic spend cap at which the `spend_limit` "
        "alert fires: once per member, threshold and month (see "
        "[spend-limits.md](spend-limits.md#alerts)).",
        json_schema_extra={"example": [90, 100]},
    )
    http_timeout: Number = Field(
        30.0,
        description="Timeout of one HTTP request, in seconds.",
        json_schema_extra={"example": 60},
    )
    pseudonymize_emails: Flag = Field(
        False,
        description="Show every user e-mail address as a stable pseudonym, "
        "`user-<12 hex digits>@pseudonym`, in every output: `report` (table, `--json`, "
        "`--csv`), every API response and page, `explore.csv`. The pseudonym is HMAC-SHA256 of "
        "the lower-cased address under the secret in `pseudonym.key` (first 12 hex digits, 48 "
        "bits), the same in every run, so grouping, filtering (`--filter user:user-…@pseudonym`) "
        "and joining CSVs still work. The addresses stay in the warehouse. See "
        "[dashboard.md](dashboard.md#privacy-and-exports).",
        json_schema_extra={"example": True},
    )
    notify_webhook: OptionalUrl = Field(
        None,
        repr=False,  # a webhook URL often embeds a token (Slack, Teams)
        description='A URL that receives the "data is ready" notification after a '
        "connection's first backfill. Treated as a secret: never shown in settings dumps.",
        json_schema_extra={"example": "https://hooks.example.com/spendscope"},
    )
    alert_attempts: Whole = Field(
        5,
        ge=1,
        le=20,
        description="How many times a notification is tried on a channel before its delivery "
        "is marked `dead` (listed by `spendscope alerts log --dead`); see "
        "[alerts.md](alerts.md#retries-and-dead-deliveries).",
        json_schema_extra={"example": 3},
    )
    alert_backoff_seconds: Number = Field(
        2.0,
        description="The wait after a notification's first failed attempt, in seconds; each "
        "further wait doubles (2, 4, 8, … s), up to 5 minutes. A `429` answer's `Retry-After` "
        "is waited instead.",
        json_schema_extra={"example": 5},
    )
    sync_failing_hours: Number = Field(
        24.0,
        description="How long a connection's syncs may keep failing before a `sync_failing` "
        "alert is sent (see [alerts.md](alerts.md#sync-failing-and-data-ready)).",
        json_schema_extra={"example": 6},
    )
    anomaly_min_daily_spend: Number = Field(
        10.0,
        description="The spend floor of anomaly detection, in US dollars: a scope (the "
        "organization, a connection, a team, workspace, API key, user or model) is scored only "
        "while its mean daily spend over its last 28 complete days is at least this much; see "
        "[anomalies.md](anomalies.md#what-is-scored).",
        json_schema_extra={"example": 100},
    )
    anomaly_min_impact_usd: Number = Field(
        50.0,
        description="An anomaly's impact (the day's actual spend less its expected spend) must "
        "be at least this many US dollars, besides a robust score of 3.5 or more; see "
        "[anomalies.md](anomalies.md#when-a-day-is-an-anomaly).",
        json_schema_extra={"example": 200},
    )
    anomaly_min_impact_percent: Number = Field(
        30.0,
        description="An anomaly's impact must also be at least this percent of the day's "
        "expected spend; see [anomalies.md](anomalies.md#when-a-day-is-an-anomaly).",
        json_schema_extra={"example": 50},
    )
    serve_host: Text = Field(
        "127.0.0.1",
        description="Address `spendscope serve` binds to. Binding anywhere else requires a token.",
        json_schema_extra={"example": "::1"},
    )
    serve_port: Whole = Field(
        8000,
        ge=0,
        le=65535,
        description="Port of `spendscope serve`.",
        json_schema_extra={"example": 8080},
    )
    allowed_hosts: Hosts = Field(
        (),
        description="Host names (or IP addresses) the dashboard answers to besides the loopback "
        "names and the address it is bound to: comma-separated in the variable, a list or a "
        "comma-separated string in `settings.toml`; no port, no wildcard. A request whose "
        "`Host` header names anything else is refused (DNS-rebinding defence); see "
        "[dashboard.md](dashboard.md#access).",
        json_schema_extra={"example": ["spend.example.com", "10.0.0.7"]},
    )
    secret_key: OptionalText = Field(
        None,
        repr=False,
        description="The master key that encrypts stored API keys; see below.",
        json_schema_extra={
            "example": "correct horse battery staple",
            "in_file": False,
            "note": "none: use `$SPENDSCOPE_HOME/secret.key`",
        },
    )

    def __init__(self, _origins: Mapping[str, str] | None = None, **values: Any) -> None:
        """A bad value stops with a `ConfigError` naming it and its origin (from `_origins`)."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc, values, _origins or {}) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: `load_settings()` layers the environment and the file itself,
        so that an error can name the one a bad value came from."""
        return (init_settings,)

    @field_validator("warehouse_path")
    @classmethod
    def _under_home(cls, path: Path, info: ValidationInfo) -> Path:
        home = info.data.get("home")
        return home / path if isinstance(home, Path) and not path.is_absolute() else path

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with `changes` applied, checked like any other value."""
        return Settings(**{**self.model_dump(), **changes})

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
                raise errors.ConfigError(
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


def setting_extra(name: str) -> dict[str, Any]:
    """The `json_schema_extra` of a setting: its `example`, and `in_file` / `note` if given."""
    found = Settings.model_fields[name].json_schema_extra
    return dict(found) if isinstance(found, dict) else {}


# Settings that can't come from settings.toml: `home` holds the file, the key must not sit in it.
ENV_ONLY: tuple[str, ...] = tuple(
    n for n in Settings.model_fields if setting_extra(n).get("in_file") is False
)
FILE_SETTINGS: tuple[str, ...] = tuple(n for n in Settings.model_fields if n not in ENV_ONLY)


def accepts(name: str) -> str:
    """What setting `name` accepts, as its error message and the reference word it."""
    field = Settings.model_fields[name]
    for item in field.metadata:
        if isinstance(item, Accepts):
            return item.text
    if get_origin(field.annotation) is Literal:
        return "use one of: " + ", ".join(get_args(field.annotation))
    if field.annotation is not int:
        raise LookupError(f"setting {name} does not say what it accepts")
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    between = f"between {low} and {high}" if high is not None else f">= {low}"
    return f"expected a whole number {between}"


# --- loading ------------------------------------------------------------------------------------


def _not_allowed(name: str, origin: str, value: Any, allowed: str) -> errors.ConfigError:
    shown = "(hidden)" if not Settings.model_fields[name].repr else repr(value)
    return errors.ConfigError(f"setting {name} (from {origin}): {shown} is not allowed; {allowed}")


def _unknown(key: object, where: str, names: tuple[str, ...]) -> errors.ConfigError:
    return errors.ConfigError(f"unknown setting {key!r}{where}; known settings: {', '.join(names)}")


def _config_error(
    exc: ValidationError, values: Mapping[str, Any], origins: Mapping[str, str]
) -> errors.ConfigError:
    """The first problem of `exc` as one line naming the setting, its origin and the rule."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    if name not in Settings.model_fields:
        return _unknown(name, "", tuple(Settings.model_fields))
    origin = origins.get(name, "Settings")
    if first["type"] == "missing":
        return errors.ConfigError(f"setting {name} (from {origin}) is required; {accepts(name)}")
    refused = first.get("ctx", {}).get("error")
    allowed = str(refused) if isinstance(refused, Refused) else accepts(name)
    return _not_allowed(name, origin, values.get(name, first.get("input")), allowed)


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """`SPENDSCOPE_HOME`, else the platform's user data directory for spendscope."""
    env = os.environ if env is None else env
    raw = env.get(env_name("home"), "")
    if raw.strip():
        return _home_from(raw, "environment " + env_name("home"))
    return _home_from(platformdirs.user_data_dir("spendscope"), "platform default")


def _home_from(value: Any, origin: str) -> Path:
    try:
        return parse_home(value)
    except ValueError:
        raise _not_allowed("home", origin, value, accepts("home")) from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise errors.ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{path} is not valid TOML: {exc}") from exc
    for key in data:
        if key in ENV_ONLY:
            raise errors.ConfigError(f"setting {key} can't be set in {path}; use {env_name(key)}")
        if key not in Settings.model_fields:
            raise _unknown(key, f" in {path}", FILE_SETTINGS)
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
    settable = tuple(n for n in Settings.model_fields if n != "home")
    for key in explicit:
        if key not in settable:
            raise _unknown(key, "", settable)
    if home is not None:
        values: dict[str, Any] = {"home": _home_from(home, "argument --home")}
    else:
        values = {"home": default_home(env)}
    path = values["home"] / SETTINGS_FILE
    origins: dict[str, str] = {}
    for name, value in _read_file(path).items():
        values[name], origins[name] = value, str(path)
    for name in settable:
        raw = env.get(env_name(name), "")
        if raw.strip():
            values[name], origins[name] = raw, "environment " + env_name(name)
    for name, value in explicit.items():
        values[name], origins[name] = value, "argument"
    return Settings(_origins=origins, **values)
