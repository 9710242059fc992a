"""`docs/configuration.md`: the settings reference, generated from the declaration of
`Settings` (description, default, rules and example of each field), inside the page's
hand-written text (where settings come from, the home directory, how keys are protected)."""

from __future__ import annotations

import tempfile
from datetime import date
from typing import Any, NamedTuple

from ..config import (
    ENV_ONLY,
    SETTINGS_FILE,
    Settings,
    accepts,
    env_name,
    load_settings,
    setting_extra,
)
from ..errors import ConfigError


class SettingDoc(NamedTuple):
    """One setting as the reference shows it."""

    name: str
    description: str
    default: Any  # None when there is none, or the setting is required
    note: str | None  # the default in words, when its value alone says too little
    accepts: str
    example: Any  # a valid value, as settings.toml would hold it
    in_file: bool
    secret: bool


def setting_docs() -> list[SettingDoc]:
    """Every setting, in declaration order."""
    docs = []
    for name, field in Settings.model_fields.items():
        extra = setting_extra(name)
        note = extra.get("note")
        docs.append(
            SettingDoc(
                name=name,
                description=field.description or "",
                default=None if field.is_required() else field.default,
                note=note if isinstance(note, str) else None,
                accepts=accepts(name),
                example=extra["example"],
                in_file=name not in ENV_ONLY,
                secret=not field.repr,
            )
        )
    return docs


def env_text(value: Any) -> str:
    """`value` as an environment variable would carry it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _default(doc: SettingDoc) -> str:
    if doc.note:
        return doc.note
    value = doc.default
    if value is None or value == ():
        return "none"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, date):
        return f"`{value.isoformat()}`"
    return f"`{env_text(value)}`"


def _accepts(doc: SettingDoc) -> str:
    text = doc.accepts.removeprefix("expected ").removeprefix("use ")
    return text if doc.secret else f"{text}; e.g. `{env_text(doc.example)}`"


def _row(doc: SettingDoc) -> str:
    name = f"`{doc.name}`" + ("" if doc.in_file else " (environment only)")
    cells = [name, f"`{env_name(doc.name)}`", _default(doc), _accepts(doc), doc.description]
    return "| " + " | ".join(cells) + " |"


def _sample_error() -> str:
    """The line a bad value stops spendscope with, as it really is."""
    with tempfile.TemporaryDirectory() as home:
        try:
            load_settings(home=home, env={env_name("api_mode"): "beta"})
        except ConfigError as exc:
            return str(exc)
    raise AssertionError("api_mode = beta was accepted")


HOME_FILES = [
    ("settings.toml", "yours", "Optional settings, as above."),
    ("warehouse.duckdb", "", "The warehouse."),
    (
        "connections.json",
        "0600",
        "One record per connection: label, kind, API base URL, organization id and name, masked "
        "key hint, **encrypted** key, creation time, API mode, state (`active` or `deleted`) and "
        "deletion time.",
    ),
    ("connections.lock", "0600", "Empty; locked while `connections.json` is being changed."),
    (
        "channels.json",
        "0600",
        "The alert channels: name, kind, options, masked hints and **encrypted** secrets "
        "(webhook and Slack URLs, signing secret, SMTP password); see [alerts.md](alerts.md).",
    ),
    ("channels.lock", "0600", "Empty; locked while `channels.json` is being changed."),
    ("secret.key", "0600", "The master key, unless `SPENDSCOPE_SECRET_KEY` is set."),
    (
        "pseudonym.key",
        "0600",
        "The secret behind e-mail pseudonyms (32 random bytes as hex), beside `secret.key`; "
        "created the first time `pseudonymize_emails` is used. Back it up with `secret.key`: a "
        "new one gives every user a new pseudonym.",
    ),
    (
        "logs/spendscope.log",
        "0600",
        "The full trace of every error a command reported, and the warnings it logged (keys "
        "masked). Bounded: past 1 MB it becomes `spendscope.log.1` (3 older files kept).",
    ),
]
FERNET_COMMAND = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
INTERNAL_ERROR = (
    "internal error: KeyError: 'x'; the trace is in "
    "/home/me/.local/share/spendscope/logs/spendscope.log; run with --debug to see it"
)

TOML_EXAMPLE = """\
refresh_hours = 3
api_mode = "analytics"
overlap_precedence = "enterprise"
enterprise_floor = 2026-01-01
notify_webhook = "https://hooks.example.com/spendscope"
"""

INTRO = """\
# Configuration

spendscope keeps everything it owns in one directory, its **home**, and reads its settings once
at start-up. This page lists every setting, where API keys are kept, and how they are protected.
It is generated from the settings' declarations (`python -m spendscope.docgen`); do not edit it
by hand.

## Where settings come from

Highest precedence first:

1. **Command-line arguments**: `--home` on every command, and the options a command offers for a
   setting (for example the port of `spendscope serve`).
2. **Environment variables** named `SPENDSCOPE_<SETTING>` in upper case, e.g.
   `SPENDSCOPE_API_MODE=legacy`. An empty variable counts as unset.
3. **`$SPENDSCOPE_HOME/{settings_file}`** (optional): flat `key = value` lines using the setting
   names below, e.g.

   ```toml
{toml}   ```

   An unknown key is an error (so a typo doesn't go unnoticed). {env_only} can't be
   set in this file.
4. **Defaults**, listed below.

Every value is checked when spendscope starts. A bad value stops it with one line that names the
setting, where the value came from and what is allowed, for example:

```
{sample_error}
```

Booleans accept `true/false`, `yes/no`, `on/off`, `1/0`. Dates are ISO `YYYY-MM-DD`.

## Settings

| Setting (`settings.toml` key) | Environment variable | Default | Accepts | Meaning |
|---|---|---|---|---|
"""

AFTER_TABLE = """
Two more environment variables are not settings:

- `SPENDSCOPE_SERVE_TOKEN`: the token `spendscope serve` requires when bound to an address other
  than loopback (at least 16 characters); see [dashboard.md](dashboard.md#access).
- `SPENDSCOPE_DEBUG=1`: does what `--debug` does; see [Errors and the log](#errors-and-the-log).

## What lives in the home directory

{home_files}

The home directory itself is created with mode 0700.

## How API keys are protected

- **Encrypted at rest.** An API key is encrypted with [Fernet](https://cryptography.io/en/latest/fernet/)
  (AES-128-CBC with HMAC-SHA256, from the `cryptography` package) before it is written.
  `connections.json` never contains a key in clear.
- **Never shown.** Commands, logs and the dashboard show only a masked hint: the key's type prefix
  and its last four characters, e.g. `sk-ant-admin01-…w9AA`. When the part after the prefix is
  shorter than 12 characters, not even those four are shown.
- **The master key** comes from, in order:
  1. `SPENDSCOPE_SECRET_KEY`. If it is a Fernet key (44 characters of url-safe base64, as printed
     by `{fernet_command}`),
     it is used as is. Any other value is treated as a passphrase and a key is derived from it
     with **scrypt** (N = 2^15, r = 8, p = 1, 32 bytes, fixed salt `spendscope.master-key.v1`), so
     the same passphrase gives the same key on every machine. The salt is fixed, so prefer a
     generated Fernet key or a long random passphrase. With this variable set, `secret.key` is
     neither read nor created.
  2. `$SPENDSCOPE_HOME/secret.key`, generated randomly the first time a key is stored, with
     mode 0600. spendscope refuses to use a `secret.key` that group or others can read or write,
     and tells you to `chmod 600` it.
  The operating system keyring is not used: most servers and containers have none.
- **Wrong or missing master key.** If stored keys can't be decrypted (the master key changed or
  `secret.key` was lost), spendscope says so and names the connection. Restore the original master
  key, or delete the connection and connect it again. Losing the master key loses only the stored
  keys, not the warehouse data. Meanwhile:
  - `connect` refuses to start a new master key (or to use another one) while stored keys exist
    that the current one can't decrypt, so the old keys are not left unreadable for good. It says
    where the master key was (`secret.key`'s path, or `SPENDSCOPE_SECRET_KEY`) and how to re-enter
    the keys instead: `spendscope connections delete LABEL --purge`, then connect it again (its
    next sync fetches the data again). Once no such key is stored, `connect` creates a new master
    key as on the first day.
  - `status`, `connections list`, the API and the dashboard show such a connection as `error`,
    with the reason.
  - `sync` syncs the other connections and exits non-zero naming the one it could not decrypt.
- **Back up** `secret.key` (or your `SPENDSCOPE_SECRET_KEY`) separately from `connections.json`:
  either one alone is useless to whoever finds it.

## Connections

Each connection has a **label**: a stable slug you choose that names the organization everywhere
(it is the billing account in reports). Labels are 1–63 characters of lowercase letters, digits,
`-` and `_`, starting with a letter or digit (`acme-prod`, `acme_claude`). Any number of Console
and Enterprise connections can coexist.

- **Deleting** a connection deletes its stored key at once. Its record stays, marked `deleted`,
  so the history it loaded remains labelled as coming from a deleted connection; its label can't
  be reused while that record exists.
- **Purging** (`--purge`) removes the record entirely, and the label becomes free again.

`connections.json` is always replaced in one step (written to a temporary file in the same
directory, flushed to disk, then renamed over the old one), so a crash or a full disk leaves the
previous version intact; an error says the file was not changed. Changes from several processes
at once are serialised by a lock, so none is lost.

## Errors and the log

A command that fails prints one line on stderr saying what went wrong, usually followed by an
indented line saying what to do, and exits non-zero: 2 for a value given on the command line that
is not accepted (a malformed or out-of-range date, a limit outside 1–10000, a base URL that is not
`http(s)://` with a host), 130 after Ctrl-C, 1 otherwise. It never prints a Python traceback: the
full trace goes to `$SPENDSCOPE_HOME/logs/spendscope.log`. `spendscope --debug COMMAND` (or
`SPENDSCOPE_DEBUG=1`) prints the trace on stderr as well.

An error spendscope does not know (a bug) is reported as one line too:

```
{internal_error}
```

Please include that trace when you report it. Dates are accepted from 2000-01-01 to 2100-01-01; a
connection label that does not exist is an error in every command (`sync --connection`,
`report --connection`, `connections test`, `connections delete`) that names the known labels.
"""


def configuration_markdown() -> str:
    intro = INTRO.format(
        settings_file=SETTINGS_FILE,
        toml="".join(f"   {line}\n" for line in TOML_EXAMPLE.splitlines()),
        env_only=" and ".join(f"`{name}`" for name in ENV_ONLY),
        sample_error=_sample_error(),
    )
    rows = "".join(_row(doc) + "\n" for doc in setting_docs())
    home_files = ["| File | Mode | Contents |", "|---|---|---|"]
    home_files += [f"| `{name}` | {mode} | {text} |" for name, mode, text in HOME_FILES]
    rest = AFTER_TABLE.format(
        home_files="\n".join(home_files),
        fernet_command=FERNET_COMMAND,
        internal_error=INTERNAL_ERROR,
    )
    return intro + rows + rest
