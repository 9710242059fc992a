"""`pseudonymize_emails`: with it on, every output that shows a user shows a stable keyed
pseudonym, never the address; filters by a pseudonym still select that user's rows.

A warehouse synced from the simulator (real users with real-looking addresses), a
`settings.toml` turning the setting on (as a user would), then every output path read back:
the REST API in process, the CLI in process and in a separate process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from hostile_world import hostile_simulator, local_client, synced_home
from spendscope.cli import main
from spendscope.config import Settings, load_settings
from spendscope.privacy import (
    PATTERN,
    PrivacyError,
    Pseudonymizer,
    load_secret,
    pseudonymizer,
    secret_path,
)
from spendscope.warehouse.connection import Warehouse

SINCE, UNTIL = "2026-11-10", "2026-11-23"
ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+")


def _write_setting(home: Path, on: bool) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.toml").write_text(f"pseudonymize_emails = {str(on).lower()}\n")


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("private")
    _write_setting(home, True)
    with hostile_simulator() as running:
        settings = synced_home(home, running)
    assert settings.pseudonymize_emails
    return settings


@pytest.fixture(scope="module")
def addresses(private: Settings) -> set[str]:
    """Every e-mail address the warehouse holds, in any table."""
    wh = Warehouse(private)
    try:
        cols = wh.read(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'spendscope' "
            "AND (column_name LIKE '%email%' OR column_name = 'user_key')"
        )
        found: set[str] = set()
        for table, col in cols:
            rows = wh.read(
                f'SELECT DISTINCT CAST("{col}" AS VARCHAR) FROM spendscope."{table}" '
                f"""WHERE CAST("{col}" AS VARCHAR) LIKE '%@%'"""
            )
            found |= {r[0] for r in rows}
    finally:
        wh.close()
    found = {a for a in found if ADDRESS.fullmatch(a) and not PATTERN.fullmatch(a)}
    assert len(found) > 20  # Console Claude Code users and Enterprise members
    return found


def assert_private(text: str, addresses: set[str], where: str) -> None:
    low = text.lower()
    leaked = sorted(a for a in addresses if a.lower() in low)
    assert not leaked, f"{where} shows {leaked[:3]}"


# -- the pseudonym and its secret ---------------------------------------------------------------


def test_pseudonym_is_a_keyed_hash_of_the_lowercased_address() -> None:
    p = Pseudonymizer(b"k" * 32)
    a = p.pseudonym("Ana.Tanaka@Acme.example")
    assert PATTERN.fullmatch(a), a
    assert a == p.pseudonym(" ana.tanaka@acme.example ")
    assert a != Pseudonymizer(b"j" * 32).pseudonym("ana.tanaka@acme.example")
    assert a != p.pseudonym("ana.tanaka2@acme.example")
    assert p.hide("user_01abc") == "user_01abc"  # an id is not an address
    assert p.hide(None) is None
    assert p.hide(a) == a  # a pseudonym is not hashed again
    assert p.reveal([a, "x"], ["ana.tanaka@acme.example", "b@c.d"]) == [
        "ana.tanaka@acme.example",
        "x",
    ]
    unknown = p.pseudonym("nobody@nowhere.example")
    assert p.reveal([unknown], ["ana.tanaka@acme.example"]) == [unknown]


def _settings(home: Path) -> Settings:
    return load_settings(
        home=home,
        env={"SPENDSCOPE_SECRET_KEY": "test-master-key"},
        overrides={"pseudonymize_emails": True},
    )


def test_secret_is_created_beside_the_master_key_private_and_reused(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    path = secret_path(settings)
    assert path.parent == settings.secret_key_file.parent
    assert not path.exists()
    first = load_secret(settings)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(settings) == first
    p = pseudonymizer(settings)
    assert p is not None
    assert p.pseudonym("a@b.c") == Pseudonymizer(first).pseudonym("a@b.c")
    off = load_settings(home=tmp_path / "home", env={}, overrides={})
    assert pseudonymizer(off) is None


def test_an_unsafe_or_damaged_secret_is_one_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    path = secret_path(settings)
    load_secret(settings)
    path.chmod(0o644)
    with pytest.raises(PrivacyError, match="mode is 0644") as caught:
        load_secret(settings)
    assert caught.value.hint == f"Run: chmod 600 {path}"
    path.chmod(0o600)
    path.write_text("not a secret\n")
    with pytest.raises(PrivacyError, match="64 hex digits"):
        load_secret(settings)


def test_two_processes_give_the_same_pseudonym(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    here = Pseudonymizer(load_secret(settings)).pseudonym("Ana.Tanaka@acme.example")
    code = (
        "import sys; from spendscope.config import load_settings; "
        "from spendscope.privacy import pseudonymizer; "
        "s = load_settings(home=sys.argv[1], env={}, overrides={'pseudonymize_emails': True}); "
        "print(pseudonymizer(s).pseudonym('ana.tanaka@acme.example'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(settings.home)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == here


# -- every output path --------------------------------------------------------------------------


def _get(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, (path, r.text)
    return r


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_api_shows_pseudonyms_only(private: Settings, addresses: set[str]) -> None:
    span = {"since": SINCE, "until": UNTIL}
    with local_client(private) as client:
        bodies = {}
        for dim in ("user", "project"):
            for fmt in ("explore", "explore.csv"):
                bodies[f"{fmt} {dim}"] = _get(
                    client, f"/api/v1/{fmt}", group_by=dim, limit=100, **span
                ).text
            bodies[f"values {dim}"] = _get(client, f"/api/v1/dimensions/{dim}/values", **span).text
        for by in ("user", "project", "user,model"):
            bodies[f"report {by}"] = _get(client, "/api/v1/report", by=by).text
        for path in ("overview", "claude-code", "engagement", "meta", "freshness", "connections"):
            bodies[path] = _get(client, f"/api/v1/{path}", **span).text
        for where, text in bodies.items():
            assert_private(text, addresses, where)
        users = json.loads(bodies["explore user"])["groups"]
        assert sum(1 for g in users if PATTERN.fullmatch(g["key"])) >= 10
        assert all(g["label"] == g["key"] for g in users if PATTERN.fullmatch(g["key"]))
        values = json.loads(bodies["values user"])["values"]
        assert {g["key"] for g in users if PATTERN.fullmatch(g["key"])} <= {
            v["key"] for v in values
        }
        projects = json.loads(bodies["explore project"])["groups"]
        assert "@SUM(A1)" in {g["label"] for g in projects}  # a workspace's name, kept
        cc = json.loads(bodies["claude-code"])["users"]
        assert any(PATTERN.fullmatch(u["user"]) for u in cc)
        top = json.loads(bodies["overview"])["top"]["user"]
        assert top
        assert all(PATTERN.fullmatch(t["key"]) for t in top)


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_a_filter_by_pseudonym_selects_that_users_rows(
    private: Settings, addresses: set[str]
) -> None:
    span = {"since": SINCE, "until": UNTIL}
    with local_client(private) as client:
        for dim in ("user", "project"):
            groups = _get(client, "/api/v1/explore", group_by=dim, limit=100, **span).json()
            named = [g for g in groups["groups"] if PATTERN.fullmatch(g["key"])]
            assert len(named) >= 3
            for g in named[:3]:
                one = _get(
                    client, "/api/v1/explore", filter=f"{dim}:{g['key']}", group_by=dim, **span
                )
                data = one.json()
                assert data["total"] == g["total"], (dim, g)
                assert [x["key"] for x in data["groups"]] == [g["key"]]
                assert data["filters"] == {dim: [g["key"]]}
                assert_private(one.text, addresses, "filtered explore")
                text = _get(client, "/api/v1/explore.csv", filter=f"{dim}:{g['key']}", **span).text
                rows = list(csv.DictReader(io.StringIO(text, newline="")))
                assert sum(Decimal(r["cost"]) for r in rows) == Decimal(g["total"])
        # a raw address typed as a filter still works, and is echoed as its pseudonym
        some = sorted(a for a in addresses if "@" in a)[0]
        data = _get(client, "/api/v1/explore", filter=f"user:{some}", **span).json()
        assert data["filters"]["user"][0] != some
        assert PATTERN.fullmatch(data["filters"]["user"][0])


def _cli(home: Path, *args: str) -> str:
    out = CliRunner().invoke(main, [*args, "--home", str(home)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return out.stdout


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_cli_report_shows_pseudonyms_in_every_format(
    private: Settings, addresses: set[str]
) -> None:
    for fmt in ("table", "json", "csv"):
        for by in ("user", "project", "user,model"):
            text = _cli(private.home, "report", "--by", by, f"--{fmt}")
            assert_private(text, addresses, f"report --by {by} --{fmt}")
    # a Console workspace (project) named with an `@` is a name, not an address: shown as is
    projects = json.loads(_cli(private.home, "report", "--by", "project", "--json"))
    assert "@SUM(A1)" in {r["project"] for r in projects}
    assert sum(1 for r in projects if r["project"] and PATTERN.fullmatch(r["project"])) >= 10
    rows = json.loads(_cli(private.home, "report", "--by", "user", "--json"))
    named = [r for r in rows if r["user"] and PATTERN.fullmatch(r["user"])]
    assert len(named) >= 10
    first = named[0]
    only = json.loads(
        _cli(private.home, "report", "--by", "user", "--filter", f"user:{first['user']}", "--json")
    )
    assert only == [first]


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_pseudonyms_are_the_same_in_another_process(private: Settings) -> None:
    here = {
        r["user"]
        for r in json.loads(_cli(private.home, "report", "--by", "user", "--json"))
        if r["user"]
    }
    env = {**os.environ, "SPENDSCOPE_SECRET_KEY": "test-master-key"}
    env.pop("SPENDSCOPE_HOME", None)
    home = str(private.home)
    out = subprocess.run(
        [sys.executable, "-m", "spendscope", "report", "--by", "user", "--csv", "--home", home],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    there = {r["user"] for r in csv.DictReader(io.StringIO(out.stdout, newline="")) if r["user"]}
    assert there == here
    assert sum(1 for u in there if PATTERN.fullmatch(u)) >= 10


@pytest.mark.slow  # shares a module fixture: a sync of its own (~10 s)
def test_with_the_setting_off_addresses_show(private: Settings, addresses: set[str]) -> None:
    """The checks above can fail: the same warehouse without the setting shows addresses."""
    _write_setting(private.home, False)
    try:
        text = _cli(private.home, "report", "--by", "user", "--csv")
    finally:
        _write_setting(private.home, True)
    assert any(a in text for a in addresses)
    assert not PATTERN.search(text)
