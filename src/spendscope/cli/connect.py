"""`spendscope connect console|enterprise`: test a key, then save the connection."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .options import friendly, home_option, load_settings, now

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def connect() -> None:
    """Connect an Anthropic organization (the key is tested before it is saved)."""


def _read_key(key: str | None) -> str:
    from ..errors import ConfigError

    if key == "-":
        key = sys.stdin.readline().strip()
    elif key is None:
        key = os.environ.get("SPENDSCOPE_KEY")
        if not key and sys.stdin.isatty():
            key = click.prompt("API key", hide_input=True)
    if not key:
        raise ConfigError(
            "No key given.", "Pass --key - and the key on stdin, or set SPENDSCOPE_KEY."
        )
    return key.strip()


def _connect(
    kind: str, label: str, key: str | None, base_url: str | None, home: str | None, api: str | None
) -> None:
    from ..connections import ConnectionStore
    from ..operations import connect as do_connect
    from ..validation import check_base_url

    settings = load_settings(home)
    store = ConnectionStore(settings)
    store.ensure_label_free(label)  # before asking for the key
    if base_url is not None:
        check_base_url(base_url, "--base-url")
    store.check_master_key()
    secret = _read_key(key)
    done = do_connect(settings, store, kind, label, secret, base_url=base_url, api=api, now=now())
    conn, org = done.connection, done.organization
    click.echo(
        f"connected {conn.label}: {kind} organization {org.name} ({org.id}), key {conn.key_hint}",
        err=True,
    )
    click.echo("next: spendscope sync", err=True)


_API_CHOICE = click.Choice(["auto", "analytics", "legacy"])


def _connect_options(key_help: str) -> Callable[[F], F]:
    """The options both `connect` commands take."""

    def deco(fn: F) -> F:
        fn = friendly(fn)
        fn = home_option(fn)
        fn = click.option(
            "--api",
            type=_API_CHOICE,
            default=None,
            help="Which cost/usage endpoints to use (default: the api_mode setting).",
        )(fn)
        fn = click.option(
            "--base-url", default=None, help="API base URL (default https://api.anthropic.com)."
        )(fn)
        fn = click.option("--key", default=None, help=key_help)(fn)
        return click.option(
            "--label", required=True, help="A stable slug naming this organization."
        )(fn)

    return deco


@connect.command("console")
@_connect_options(
    "Admin API key (sk-ant-admin01-…); '-' reads it from stdin; default: $SPENDSCOPE_KEY."
)
def connect_console(
    label: str, key: str | None, base_url: str | None, api: str | None, home: str | None
) -> None:
    """Connect a Claude Console organization with an Admin API key."""
    _connect("console", label, key, base_url, home, api)


@connect.command("enterprise")
@_connect_options(
    "Analytics key (sk-ant-api01-…, scope read:analytics); '-' reads it from "
    "stdin; default: $SPENDSCOPE_KEY."
)
def connect_enterprise(
    label: str, key: str | None, base_url: str | None, api: str | None, home: str | None
) -> None:
    """Connect a Claude Enterprise organization with an analytics key."""
    _connect("enterprise", label, key, base_url, home, api)
