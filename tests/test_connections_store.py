"""The connection store: permissions, no plaintext keys, deletion, atomic writes, locking."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spendscope.config import Settings, load_settings
from spendscope.connections import (
    Connection,
    ConnectionStore,
    ConnectionStoreError,
    InvalidLabelError,
    validate_label,
)
from spendscope.secrets import SecretError, Vault

ADMIN_KEY = "sk-ant-admin01-" + "Kp3" * 30 + "w9AA"
ANALYTICS_KEY = "sk-ant-api01-" + "Zm8" * 25 + "Qq7_"
BASE = "https://api.anthropic.com"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home", env={})


@pytest.fixture
def store(settings: Settings) -> ConnectionStore:
    return ConnectionStore(settings)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def add_console(
    store: ConnectionStore, label: str = "acme-api", key: str = ADMIN_KEY
) -> Connection:
    return store.add(
        label,
        "console",
        key,
        base_url=BASE,
        organization_id="org-1111",
        organization_name="Acme API",
        now=NOW,
    )


def add_enterprise(store: ConnectionStore, label: str = "acme-claude") -> Connection:
    return store.add(
        label,
        "enterprise",
        ANALYTICS_KEY,
        base_url=BASE + "/",
        organization_id="org-2222",
        organization_name="Acme",
    )


def test_add_get_list_key(store: ConnectionStore) -> None:
    console = add_console(store)
    enterprise = add_enterprise(store)
    add_console(store, "acme-eu", ADMIN_KEY[:-4] + "zzzz")
    assert [c.label for c in store.all()] == ["acme-api", "acme-claude", "acme-eu"]
    assert [c.kind for c in store.all()] == ["console", "enterprise", "console"]
    got = store.get("acme-api")
    assert got == console
    assert got.created_at == NOW
    assert got.key_hint == "sk-ant-admin01-…w9AA"
    assert got.state == "active"
    assert got.api_mode is None
    assert enterprise.base_url == BASE
    assert enterprise.created_at.tzinfo is UTC
    assert store.key("acme-api") == ADMIN_KEY
    assert store.key("acme-claude") == ANALYTICS_KEY
    assert ConnectionStore(store.settings).key("acme-eu") == ADMIN_KEY[:-4] + "zzzz"


def test_file_is_private_and_holds_no_plaintext(
    store: ConnectionStore, permissive_umask: None
) -> None:
    add_console(store)
    add_enterprise(store)
    path = store.settings.connections_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    for key in (ADMIN_KEY, ANALYTICS_KEY):
        assert key.encode() not in raw
        assert key[15:].encode() not in raw  # nor the secret part alone
    assert b"sk-ant-admin01-\xe2\x80\xa6w9AA" in raw  # the hint is there
    shown = " ".join(
        [repr(store), str(store), repr(store.all()), str(store.get("acme-api"))]
        + [repr(c) for c in store.all()]
    )
    for key in (ADMIN_KEY, ANALYTICS_KEY):
        assert key not in shown
        assert key[15:40] not in shown
    assert "encrypted_key" not in shown
    leftovers = {p.name for p in store.settings.home.iterdir()}
    assert leftovers == {"connections.json", "connections.lock", "secret.key"}


def test_mark_deleted_removes_key_keeps_record(store: ConnectionStore) -> None:
    add_console(store)
    add_enterprise(store)
    token = store.get("acme-api").encrypted_key
    assert token is not None
    assert token.encode() in store.settings.connections_file.read_bytes()

    deleted = store.mark_deleted("acme-api", now=NOW)
    raw = store.settings.connections_file.read_bytes()
    assert token.encode() not in raw
    assert deleted.state == "deleted"
    assert deleted.deleted_at == NOW
    assert deleted.encrypted_key is None

    again = ConnectionStore(store.settings)
    assert [c.label for c in again.all()] == ["acme-claude"]
    assert [c.label for c in again.all(include_deleted=True)] == ["acme-api", "acme-claude"]
    record = again.get("acme-api")
    assert (record.state, record.organization_id, record.key_hint) == (
        "deleted",
        "org-1111",
        "sk-ant-admin01-…w9AA",
    )
    with pytest.raises(ConnectionStoreError, match="was deleted and its key with it"):
        again.key("acme-api")
    assert again.key("acme-claude") == ANALYTICS_KEY
    with pytest.raises(ConnectionStoreError, match="deleted connection whose history is kept"):
        add_console(again)


def test_remove_purges_record(store: ConnectionStore) -> None:
    add_console(store)
    add_enterprise(store)
    store.mark_deleted("acme-api")
    store.remove("acme-api")
    assert [c.label for c in store.all(include_deleted=True)] == ["acme-claude"]
    assert b"acme-api" not in store.settings.connections_file.read_bytes()
    add_console(store)  # the label is free again
    assert store.key("acme-api") == ADMIN_KEY


def test_unknown_label_lists_known_ones(store: ConnectionStore) -> None:
    with pytest.raises(ConnectionStoreError, match="no connections yet"):
        store.get("nope")
    add_console(store)
    add_enterprise(store)
    store.mark_deleted("acme-claude")
    for call in (store.get, store.key, store.mark_deleted, store.remove):
        with pytest.raises(ConnectionStoreError) as info:
            call("nope")
        assert "unknown connection 'nope'" in str(info.value)
        assert "known labels: acme-api, acme-claude (deleted)" in str(info.value)


def test_duplicate_label_refused(store: ConnectionStore) -> None:
    add_console(store)
    before = store.settings.connections_file.read_bytes()
    with pytest.raises(ConnectionStoreError, match="'acme-api' already exists"):
        add_console(store, key=ADMIN_KEY[:-4] + "0000")
    assert store.settings.connections_file.read_bytes() == before


@pytest.mark.parametrize("label", ["a", "acme-prod_2", "0org", "x" * 63])
def test_valid_labels(label: str) -> None:
    assert validate_label(label) == label


@pytest.mark.parametrize(
    "label", ["", "Acme", "-acme", "_acme", "x" * 64, "acme prod", "acmé", "a/b", "a.b", "a\n"]
)
def test_invalid_labels(store: ConnectionStore, label: str) -> None:
    with pytest.raises(InvalidLabelError, match=r"invalid connection label.*lowercase letters"):
        add_console(store, label)
    assert not store.settings.connections_file.exists()


def test_invalid_kind_and_naive_time(store: ConnectionStore) -> None:
    with pytest.raises(ConnectionStoreError, match="kind 'platform' is not one of"):
        store.add(
            "x", "platform", ADMIN_KEY, base_url=BASE, organization_id="o", organization_name="O"
        )
    with pytest.raises(ConnectionStoreError, match="timezone-aware"):
        store.add(
            "x",
            "console",
            ADMIN_KEY,
            base_url=BASE,
            organization_id="o",
            organization_name="O",
            now=datetime(2026, 1, 1),
        )
    assert store.all() == []


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_keeps_previous_file(
    store: ConnectionStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    add_console(store)
    path = store.settings.connections_file
    before = path.read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(ConnectionStoreError) as info:
        add_enterprise(store)
    monkeypatch.undo()
    message = str(info.value)
    assert "could not save connections" in message
    assert "No space left on device" in message
    assert "previous file is unchanged" in message
    assert path.read_bytes() == before
    assert [c.label for c in store.all()] == ["acme-api"]
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    add_enterprise(store)  # and the store still works afterwards
    assert [c.label for c in store.all()] == ["acme-api", "acme-claude"]


def test_damaged_file_is_a_clear_error(store: ConnectionStore) -> None:
    store.settings.ensure_home()
    store.settings.connections_file.write_text('{"version": 1, "connections": [')
    with pytest.raises(ConnectionStoreError, match="is damaged"):
        store.all()


def test_wrong_master_key_names_the_connection(store: ConnectionStore) -> None:
    add_console(store)
    store.settings.secret_key_file.unlink()
    Vault(store.settings).encrypt("x")  # a new, different secret.key
    with pytest.raises(SecretError, match=r"connection 'acme-api'.*different master key"):
        ConnectionStore(store.settings).key("acme-api")


def test_two_stores_in_two_threads_both_persist(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read-modify-write is slowed so that, without the lock, one add would be lost."""
    original = ConnectionStore._load

    def slow_load(self: ConnectionStore) -> list[Connection]:
        connections = original(self)
        time.sleep(0.1)
        return connections

    monkeypatch.setattr(ConnectionStore, "_load", slow_load)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(label: str, key: str) -> None:
        try:
            barrier.wait()
            add_console(ConnectionStore(settings), label, key)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=("left", ADMIN_KEY)),
        threading.Thread(target=worker, args=("right", ADMIN_KEY[:-4] + "RRRR")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    monkeypatch.undo()
    assert errors == []
    store = ConnectionStore(settings)
    assert sorted(c.label for c in store.all()) == ["left", "right"]
    assert store.key("left") == ADMIN_KEY
    assert store.key("right") == ADMIN_KEY[:-4] + "RRRR"
