"""Settings precedence and validation; the master key file; encryption; masked key hints."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from cryptography.fernet import Fernet

from spendscope.config import Settings, default_home, load_settings
from spendscope.errors import ConfigError
from spendscope.secrets import SecretError, Vault, generate_master_key, mask_key

ADMIN_KEY = "sk-ant-admin01-" + "Q" * 89 + "w9AA"
ANALYTICS_KEY = "sk-ant-api01-" + "z" * 60 + "Xy7_"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0, so a file is private only if the code makes it so explicitly."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# --- settings ------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, env={})
    assert s.home == tmp_path
    assert s.warehouse_path == tmp_path / "warehouse.duckdb"
    assert s.base_url == "https://api.anthropic.com"
    assert (s.refresh_hours, s.reconciliation_days, s.engagement_reconciliation_days) == (6, 30, 7)
    assert (s.console_backfill_days, s.enterprise_backfill_days) == (183, 365)
    assert s.enterprise_floor == date(2026, 1, 1)
    assert (s.api_mode, s.overlap_precedence) == ("auto", "console")
    assert (s.analytics_rpm, s.admin_rpm, s.http_timeout) == (60, 0, 30.0)
    assert s.pseudonymize_emails is False
    assert s.notify_webhook is None
    assert (s.serve_host, s.serve_port) == ("127.0.0.1", 8000)
    assert s.secret_key is None


def test_home_precedence(tmp_path: Path) -> None:
    env = {"SPENDSCOPE_HOME": str(tmp_path / "from-env")}
    assert load_settings(home=tmp_path / "arg", env=env).home == tmp_path / "arg"
    assert load_settings(env=env).home == tmp_path / "from-env"
    assert default_home({}) == Path(platformdirs.user_data_dir("spendscope")).absolute()
    assert load_settings(env={}).home == default_home({})


FIELDS: list[tuple[str, str, str, Any, Any, Any, Any]] = [
    # name, toml literal, env value, override, default, from file, from env/override
    ("api_mode", '"legacy"', "analytics", "legacy", "auto", "legacy", "analytics"),
    ("analytics_rpm", "30", "20", 10, 60, 30, 20),
    ("refresh_hours", "12", "1.5", 3, 6.0, 12.0, 1.5),
    ("pseudonymize_emails", "true", "no", True, False, True, False),
    ("enterprise_floor", "2026-03-01", "2026-02-01", date(2026, 5, 1),
     date(2026, 1, 1), date(2026, 3, 1), date(2026, 2, 1)),
    ("notify_webhook", '"https://hooks.example/file"', "https://hooks.example/env",
     "https://hooks.example/arg", None, "https://hooks.example/file", "https://hooks.example/env"),
    ("serve_port", "9000", "9100", 9200, 8000, 9000, 9100),
]  # fmt: skip


@pytest.mark.parametrize("case", FIELDS, ids=[f[0] for f in FIELDS])
def test_precedence_argument_env_file_default(
    tmp_path: Path, case: tuple[str, str, str, Any, Any, Any, Any]
) -> None:
    name, toml, env_value, override, default, from_file, from_env = case
    env_var = "SPENDSCOPE_" + name.upper()
    assert getattr(load_settings(home=tmp_path, env={}), name) == default
    (tmp_path / "settings.toml").write_text(f"{name} = {toml}\n")
    assert getattr(load_settings(home=tmp_path, env={}), name) == from_file
    assert getattr(load_settings(home=tmp_path, env={env_var: env_value}), name) == from_env
    assert getattr(load_settings(home=tmp_path, env={env_var: ""}), name) == from_file
    s = load_settings(home=tmp_path, env={env_var: env_value}, overrides={name: override})
    assert getattr(s, name) == override


def test_settings_file_found_through_env_home(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('overlap_precedence = "enterprise"\n')
    s = load_settings(env={"SPENDSCOPE_HOME": str(tmp_path)})
    assert s.overlap_precedence == "enterprise"


def test_warehouse_path_relative_to_home(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, env={"SPENDSCOPE_WAREHOUSE_PATH": "data/w.duckdb"})
    assert s.warehouse_path == tmp_path / "data" / "w.duckdb"
    s = load_settings(home=tmp_path, env={"SPENDSCOPE_WAREHOUSE_PATH": "/srv/w.duckdb"})
    assert s.warehouse_path == Path("/srv/w.duckdb")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("api_mode", "beta", "auto, analytics, legacy"),
        ("overlap_precedence", "both", "console, enterprise"),
        ("refresh_hours", "-1", "> 0"),
        ("http_timeout", "soon", "> 0"),
        ("reconciliation_days", "0", ">= 1"),
        ("analytics_rpm", "1.5", "whole number"),
        ("serve_port", "70000", "between 0 and 65535"),
        ("pseudonymize_emails", "maybe", "true or false"),
        ("notify_webhook", "ftp://hooks.example/x", "http"),
        ("base_url", "api.anthropic.com", "http"),
        ("enterprise_floor", "2026-13-01", "2026-01-01"),
    ],
)
def test_invalid_env_value_names_the_setting(
    tmp_path: Path, name: str, value: str, allowed: str
) -> None:
    env_var = "SPENDSCOPE_" + name.upper()
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path, env={env_var: value})
    message = str(info.value)
    assert f"setting {name} " in message
    assert env_var in message
    assert allowed in message
    assert "\n" not in message


def test_invalid_file_values(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("refresh_hours = true\n")
    with pytest.raises(ConfigError, match=r"setting refresh_hours \(from .*settings\.toml\)"):
        load_settings(home=tmp_path, env={})
    path.write_text("refresh_hour = 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'refresh_hour'.*refresh_hours"):
        load_settings(home=tmp_path, env={})
    path.write_text('secret_key = "x"\n')
    with pytest.raises(ConfigError, match="SPENDSCOPE_SECRET_KEY"):
        load_settings(home=tmp_path, env={})
    path.write_text("api_mode = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(home=tmp_path, env={})


def test_invalid_override_and_direct_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="setting serve_port"):
        load_settings(home=tmp_path, env={}, overrides={"serve_port": -1})
    with pytest.raises(ConfigError, match="unknown setting 'port'"):
        load_settings(home=tmp_path, env={}, overrides={"port": 1})
    with pytest.raises(ConfigError, match="setting api_mode"):
        Settings(home=tmp_path, api_mode="everything")


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    env = {
        "SPENDSCOPE_SECRET_KEY": "correct horse battery staple",
        "SPENDSCOPE_NOTIFY_WEBHOOK": "https://hooks.example/T000/B000/tokentoken",
    }
    text = repr(load_settings(home=tmp_path, env=env))
    assert "horse" not in text
    assert "tokentoken" not in text


@pytest.mark.parametrize(
    ("name", "toml", "allowed"),
    [
        ("serve_port", "true", "whole number"),
        ("refresh_hours", '"inf"', "> 0"),
        ("enterprise_floor", "2026-02-01T00:00:00", "2026-01-01"),
        ("serve_host", "5", "non-empty string"),
        ("allowed_hosts", "[1, 2]", "host names separated by commas"),
        ("allowed_hosts", '["spend.example.com:8000"]', "without port"),
        ("api_mode", "3", "auto, analytics, legacy"),
    ],
)
def test_file_values_of_the_wrong_type(tmp_path: Path, name: str, toml: str, allowed: str) -> None:
    (tmp_path / "settings.toml").write_text(f"{name} = {toml}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path, env={})
    message = str(info.value)
    assert message.startswith(f"setting {name} (from {tmp_path / 'settings.toml'}): ")
    assert allowed in message


def test_file_lists_and_words_are_normalised(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        'allowed_hosts = ["Spend.Example.com", "spend.example.com", "[::1]"]\n'
        'api_mode = " Legacy "\npseudonymize_emails = "on"\n'
    )
    s = load_settings(home=tmp_path, env={})
    assert s.allowed_hosts == ("spend.example.com", "::1")
    assert (s.api_mode, s.pseudonymize_emails) == ("legacy", True)


def test_environment_names_are_exact_and_others_are_ignored(tmp_path: Path) -> None:
    env = {
        "spendscope_api_mode": "legacy",
        "SPENDSCOPE_SERVE_PORT": "   ",
        "SPENDSCOPE_SERVE_TOKEN": "t" * 20,
        "SPENDSCOPE_NO_SUCH_SETTING": "1",
    }
    s = load_settings(home=tmp_path, env=env)
    assert (s.api_mode, s.serve_port) == ("auto", 8000)


def test_a_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    env = {"SPENDSCOPE_NOTIFY_WEBHOOK": "ftp://hooks.example/T000/tokentoken"}
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path, env=env)
    assert "SPENDSCOPE_NOTIFY_WEBHOOK): (hidden) is not allowed" in str(info.value)
    assert "tokentoken" not in str(info.value)


def test_settings_are_immutable_and_changed_copies_are_checked(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, env={})
    with pytest.raises(ValueError, match="frozen"):
        s.serve_port = 9000
    changed = s.with_changes(serve_port=9000, api_mode="LEGACY")
    assert (changed.serve_port, changed.api_mode) == (9000, "legacy")
    assert (s.serve_port, s.api_mode) == (8000, "auto")
    assert changed.warehouse_path == s.warehouse_path
    with pytest.raises(ConfigError, match=r"setting serve_port \(from Settings\): -1 is not"):
        s.with_changes(serve_port=-1)


def test_ensure_home_creates_private_dir(tmp_path: Path, permissive_umask: None) -> None:
    s = load_settings(home=tmp_path / "a" / "home", env={})
    assert not s.home.exists()
    assert s.ensure_home() == s.home
    assert mode_of(s.home) == 0o700


def test_backfill_start(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, env={})
    assert s.backfill_start("console", date(2026, 11, 22)) == date(2026, 5, 23)
    assert s.backfill_start("enterprise", date(2026, 11, 22)) == date(2026, 1, 1)
    assert s.backfill_start("enterprise", date(2027, 6, 1)) == date(2026, 6, 1)


# --- master key and vault -------------------------------------------------------------------


def test_secret_key_file_created_0600_and_round_trip(
    tmp_path: Path, permissive_umask: None
) -> None:
    s = load_settings(home=tmp_path / "home", env={})
    vault = Vault(s)
    token = vault.encrypt(ADMIN_KEY)
    assert ADMIN_KEY not in token
    assert mode_of(s.secret_key_file) == 0o600
    assert mode_of(s.home) == 0o700
    Fernet(s.secret_key_file.read_bytes().strip())  # a valid Fernet key
    assert vault.decrypt(token) == ADMIN_KEY
    assert Vault(s).decrypt(token) == ADMIN_KEY  # a new process reads the same key
    assert [p.name for p in s.home.iterdir()] == ["secret.key"]  # no temp file left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_group_or_world_accessible_secret_key_refused(tmp_path: Path, mode: int) -> None:
    s = load_settings(home=tmp_path, env={})
    token = Vault(s).encrypt(ANALYTICS_KEY)
    os.chmod(s.secret_key_file, mode)
    with pytest.raises(SecretError, match=r"refusing to use .*secret\.key.*chmod 600"):
        Vault(s).decrypt(token)
    with pytest.raises(SecretError, match="chmod 600"):
        Vault(s).encrypt(ANALYTICS_KEY)


def test_decrypt_without_any_master_key(tmp_path: Path) -> None:
    token = Vault(load_settings(home=tmp_path / "a", env={})).encrypt(ADMIN_KEY)
    other = load_settings(home=tmp_path / "b", env={})
    with pytest.raises(SecretError, match="no master key"):
        Vault(other).decrypt(token)
    assert not other.secret_key_file.exists()


def test_wrong_master_key_is_a_clear_error(tmp_path: Path) -> None:
    token = Vault(load_settings(home=tmp_path / "a", env={})).encrypt(ADMIN_KEY)
    Vault(load_settings(home=tmp_path / "b", env={})).encrypt("something else")
    for env in ({}, {"SPENDSCOPE_SECRET_KEY": generate_master_key()}):
        with pytest.raises(SecretError) as info:
            Vault(load_settings(home=tmp_path / "b", env=env)).decrypt(token)
        message = str(info.value)
        assert "can't be decrypted" in message
        assert "different master key" in message
        assert "restore the original master key" in message
        assert info.value.__cause__ is None
        assert ADMIN_KEY not in message


def test_damaged_secret_key_file(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, env={})
    s.secret_key_file.write_text("not a key\n")
    os.chmod(s.secret_key_file, 0o600)
    with pytest.raises(SecretError, match="does not hold a valid master key"):
        Vault(s).encrypt(ADMIN_KEY)


def test_env_fernet_key_used_directly(tmp_path: Path) -> None:
    key = generate_master_key()
    s = load_settings(home=tmp_path, env={"SPENDSCOPE_SECRET_KEY": key})
    token = Vault(s).encrypt(ADMIN_KEY)
    assert Fernet(key.encode()).decrypt(token.encode()).decode() == ADMIN_KEY
    assert not s.secret_key_file.exists()


def test_env_passphrase_is_derived(tmp_path: Path) -> None:
    env = {"SPENDSCOPE_SECRET_KEY": "correct horse battery staple"}
    token = Vault(load_settings(home=tmp_path / "a", env=env)).encrypt(ADMIN_KEY)
    assert Vault(load_settings(home=tmp_path / "b", env=env)).decrypt(token) == ADMIN_KEY
    assert not (tmp_path / "a" / "secret.key").exists()
    wrong = {"SPENDSCOPE_SECRET_KEY": "correct horse battery stapler"}
    with pytest.raises(SecretError, match="SPENDSCOPE_SECRET_KEY"):
        Vault(load_settings(home=tmp_path / "a", env=wrong)).decrypt(token)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        (ADMIN_KEY, "sk-ant-admin01-…w9AA"),
        (ANALYTICS_KEY, "sk-ant-api01-…Xy7_"),
        ("  " + ADMIN_KEY + "\n", "sk-ant-admin01-…w9AA"),
        ("sess-01234567WXYZ", "…WXYZ"),
        ("sk-ant-admin01-x", "sk-ant-admin01-…"),
        ("sk-ant-api01-0123456789a", "sk-ant-api01-…"),
        ("sk-ant-api01-0123456789ab", "sk-ant-api01-…89ab"),
        ("", "…"),
    ],
)
def test_mask_key(key: str, hint: str) -> None:
    assert mask_key(key) == hint
    body = key.strip()
    assert body == "" or body not in mask_key(key)
    assert len(mask_key(key).split("…")[1]) <= 4
