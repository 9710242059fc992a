"""Losing or replacing the master key: `connect` refuses to start a new one while stored keys
exist (and says where the old one was), a connection whose key can't be decrypted shows `error`
with the reason in `status`, `connections list` and the API, and `sync` still syncs the others
and exits non-zero naming it. Real store, real simulator, real CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

import forked
from conftest import NOW, Api, connect, make_settings
from spendscope.config import Settings, load_settings
from spendscope.connections import ConnectionStore
from spendscope.operations import connect as do_connect
from spendscope.secrets import SecretError, generate_master_key
from spendscope.simulator.server import RunningSimulator

DAYS = 3


def cli(
    home: Path, *args: str, master: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`spendscope <args>` in a child process of its own (see `forked.py`)."""
    env = {
        "SPENDSCOPE_HOME": str(home),
        "SPENDSCOPE_NOW": NOW.isoformat(),
        "SPENDSCOPE_CONSOLE_BACKFILL_DAYS": str(DAYS),
        "SPENDSCOPE_ENTERPRISE_BACKFILL_DAYS": str(DAYS),
        "SPENDSCOPE_ANALYTICS_RPM": "0",
    }
    drop = ["SPENDSCOPE_SECRET_KEY", "SPENDSCOPE_KEY", "SPENDSCOPE_DEBUG"]
    if master is not None:
        env["SPENDSCOPE_SECRET_KEY"] = master
        drop.remove("SPENDSCOPE_SECRET_KEY")
    return forked.cli(args, env, drop=drop, stdin=stdin)


def by_label(rows: list[dict[str, Any]], key: str = "connection") -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


@pytest.fixture
def file_keyed(tmp_path: Path, simulator: RunningSimulator, api: Api) -> Settings:
    """A home whose master key is the file `secret.key`, with one Console connection."""
    settings = load_settings(home=tmp_path / "home", env={})
    ConnectionStore(settings).add(
        "acme",
        "console",
        api.key("console", "admin"),
        base_url=simulator.url,
        organization_id="org",
        organization_name="Acme Platform",
    )
    assert settings.secret_key_file.exists()
    return settings


def test_connect_will_not_replace_a_lost_master_key(
    file_keyed: Settings, simulator: RunningSimulator, api: Api
) -> None:
    settings, keyfile = file_keyed, file_keyed.secret_key_file
    original = keyfile.read_text()
    keyfile.unlink()
    sent = simulator.sim.stats.requests
    r = cli(
        settings.home,
        "connect",
        "console",
        "--label",
        "other",
        "--key",
        "-",
        "--base-url",
        simulator.url,
        stdin=api.key("console", "admin") + "\n",
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    first, *hint = r.stderr.splitlines()
    assert first.startswith("error: the stored keys of acme can't be decrypted: the master key")
    assert "will not start a new master key" in first
    assert str(keyfile) in " ".join(hint)
    assert "SPENDSCOPE_SECRET_KEY" in " ".join(hint)
    assert "connections delete" in " ".join(hint)
    assert not keyfile.exists()  # no new master key
    assert simulator.sim.stats.requests == sent  # and the new key was not sent anywhere
    # The library refuses the same way (the API's connect goes through it).
    store = ConnectionStore(settings)
    with pytest.raises(SecretError, match="will not start a new master key"):
        do_connect(settings, store, "console", "other", api.key("console", "admin"))
    assert [c.label for c in store.all()] == ["acme"]

    # With the key lost, status says why for that connection; sync names it and fails.
    status = by_label(json.loads(cli(settings.home, "status", "--json").stdout))
    assert status["acme"]["state"] == "error"
    assert "master key is missing" in status["acme"]["last_error"]
    synced = cli(settings.home, "sync")
    assert synced.returncode == 1
    assert "Traceback" not in synced.stderr
    assert "error: acme: " in synced.stderr

    # Restoring the file is the way back: the stored key decrypts and connecting works again.
    keyfile.write_text(original)
    keyfile.chmod(0o600)
    assert ConnectionStore(settings).key("acme") == api.key("console", "admin")
    assert ConnectionStore(settings).key_problems() == {}


def test_re_entering_the_keys_starts_a_new_master_key(file_keyed: Settings, api: Api) -> None:
    settings = file_keyed
    settings.secret_key_file.unlink()
    store = ConnectionStore(settings)
    store.remove("acme")  # what `connections delete acme --purge` does to the store
    store.add(
        "acme",
        "console",
        api.key("console", "admin"),
        base_url="http://127.0.0.1:9",
        organization_id="org",
        organization_name="Acme Platform",
    )
    assert settings.secret_key_file.exists()
    assert ConnectionStore(settings).key("acme") == api.key("console", "admin")


def test_connect_refuses_a_replaced_master_key(file_keyed: Settings, api: Api) -> None:
    settings = load_settings(
        home=file_keyed.home, env={"SPENDSCOPE_SECRET_KEY": generate_master_key()}
    )
    with pytest.raises(SecretError) as info:
        ConnectionStore(settings).add(
            "other",
            "console",
            api.key("console", "admin"),
            base_url="http://127.0.0.1:9",
            organization_id="org",
            organization_name="Acme Platform",
        )
    assert "is not the one they were encrypted with" in info.value.message
    assert info.value.hint is not None
    assert "set SPENDSCOPE_SECRET_KEY back" in info.value.hint
    assert [c.label for c in ConnectionStore(file_keyed).all()] == ["acme"]


@pytest.mark.slow
def test_an_undecryptable_key_fails_alone(
    tmp_path: Path, simulator: RunningSimulator, api: Api
) -> None:
    settings = make_settings(tmp_path / "home")
    connect(settings, api, simulator.url)
    # acme-enterprise's stored key was encrypted under another master key.
    data = json.loads(settings.connections_file.read_text())
    foreign = Fernet(generate_master_key().encode()).encrypt(b"sk-ant-api01-whatever")
    for c in data["connections"]:
        if c["label"] == "acme-enterprise":
            c["encrypted_key"] = foreign.decode()
    settings.connections_file.write_text(json.dumps(data))
    master = "test-master-key"  # make_settings' master key

    r = cli(settings.home, "sync", "--json", master=master)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "error: acme-enterprise: connection 'acme-enterprise': a stored API key can't be " in (
        r.stderr
    )
    report = by_label(json.loads(r.stdout))
    assert report["acme-console"]["status"] == "ok"
    assert report["acme-console"]["rows"] > 0
    assert report["acme-enterprise"]["status"] == "failed"

    status = by_label(json.loads(cli(settings.home, "status", "--json", master=master).stdout))
    assert status["acme-console"]["state"] == "ok"
    assert status["acme-enterprise"]["state"] == "error"
    assert "can't be decrypted" in status["acme-enterprise"]["last_error"]
    listed = cli(settings.home, "connections", "list", "--json", master=master)
    assert by_label(json.loads(listed.stdout), "label")["acme-enterprise"]["health"] == "error"

    from benchmarks.background import BackgroundServer

    from spendscope.web.app import create_app

    with BackgroundServer(create_app(settings, now=lambda: NOW)) as url:
        rows = httpx.get(f"{url}/api/v1/connections", timeout=30).json()["connections"]
    api_rows = by_label(rows, "label")
    assert api_rows["acme-enterprise"]["health"] == "error"
    assert "can't be decrypted" in api_rows["acme-enterprise"]["last_error"]
    assert api_rows["acme-console"]["health"] == "ok"
