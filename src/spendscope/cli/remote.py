"""Finding a running `spendscope serve` and asking its REST API.

DuckDB lets one process open a warehouse file, so while `serve` runs, commands that read the
warehouse (`status`, `report`, `connections list`) and `connections delete` go through it:

- `serve` writes `serve.json` under SPENDSCOPE_HOME (mode 0600) once it is listening: its URL,
  its process id and a random local token, made anew at each start. It removes the file when
  it stops (only its own file: the token says whose it is).
- A command calls `find_server(settings)`. A file whose process is gone, or whose address
  answers nothing, is stale: it is removed and the command reads the warehouse itself.
- The server accepts the local token (`Authorization: Bearer …`) from loopback clients, in
  addition to SPENDSCOPE_SERVE_TOKEN; the file is readable by its owner only.

Values come back as JSON; `decode_*` turn them into the Python types the warehouse gives
(datetimes, dates, ints, decimal text), so the CLI renders the same output either way.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..errors import ConfigError, InvalidInput, NotFoundLocally, SpendscopeError, WarehouseError

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

SERVE_FILE = "serve.json"
PROBE_TIMEOUT = 15.0
REQUEST_TIMEOUT = 300.0
TOKEN_ENV = "SPENDSCOPE_SERVE_TOKEN"


def discovery_path(settings: Settings) -> Path:
    return Path(settings.home) / SERVE_FILE


def new_token() -> str:
    return secrets.token_urlsafe(32)


def local_url(host: str, port: int) -> str:
    """The address a local client uses for a server bound to `host`."""
    if host in ("", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


# -- the discovery file ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `serve.json` holds."""

    url: str
    pid: int
    token: str

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "pid": self.pid, "token": self.token}, indent=2)


def write_discovery(settings: Settings, info: ServerInfo) -> Path:
    """Write `serve.json` atomically, readable by its owner only."""
    home = settings.ensure_home()
    path = home / SERVE_FILE
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".serve.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(info.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_discovery(settings: Settings) -> ServerInfo | None:
    """The file's content, or None when there is none (or it cannot be understood)."""
    try:
        data = json.loads(discovery_path(settings).read_text(encoding="utf-8"))
        return ServerInfo(str(data["url"]), int(data["pid"]), str(data["token"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return ServerInfo("", 0, "")  # unreadable: treated as stale


def remove_discovery(settings: Settings, token: str) -> None:
    """Remove `serve.json` if it is still the one holding `token` (never another server's)."""
    info = read_discovery(settings)
    if info is not None and (not token or info.token == token):
        with contextlib.suppress(FileNotFoundError):
            discovery_path(settings).unlink()


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to someone else
    return True


# -- the client -----------------------------------------------------------------------------------


class Unreachable(Exception):
    """Nothing answers at the address in the discovery file."""


class TokenRefused(WarehouseError):
    """The server at the discovery file's address refused this command's token (HTTP 401)."""


class RunningServer:
    """A `spendscope serve` of this home that answered; `get`/`post`/`delete` call its API."""

    def __init__(self, info: ServerInfo, timeout: float = REQUEST_TIMEOUT) -> None:
        import httpx

        self.info = info
        host = urlsplit(info.url).hostname or ""
        token = info.token
        if not _is_loopback(host) and os.environ.get(TOKEN_ENV, "").strip():
            token = os.environ[TOKEN_ENV].strip()  # the local token is accepted on loopback only
        self._http = httpx.Client(
            base_url=info.url,
            timeout=timeout,
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            trust_env=False,  # never through a proxy: the server is on this machine
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        params: Any = None,
        timeout: float | None = None,
        body: Any = None,
        csv: str | None = None,
    ) -> Any:
        import httpx

        if isinstance(params, dict):
            params = {k: v for k, v in params.items() if v is not None}
        send: dict[str, Any] = {"json": body}
        if csv is not None:  # a CSV document as the body, not JSON
            send = {"content": csv.encode("utf-8"), "headers": {"content-type": "text/csv"}}
        try:
            if timeout is None:
                r = self._http.request(method, path, params=params, **send)
            else:
                r = self._http.request(method, path, params=params, timeout=timeout, **send)
        except httpx.ConnectError as exc:
            raise Unreachable(str(exc)) from None
        except httpx.HTTPError as exc:
            raise WarehouseError(
                f"spendscope serve (process {self.info.pid}) holds the warehouse but did not "
                f"answer at {self.info.url}: {type(exc).__name__}.",
                "Try again, or stop `spendscope serve` and run the command on its own.",
            ) from None
        if r.status_code >= 400:
            raise _error(r, self.info)
        return r.json()

    def get(self, path: str, params: Any = None) -> Any:
        return self._call("GET", path, params)

    def delete(self, path: str, params: Any = None) -> Any:
        return self._call("DELETE", path, params)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, body=body)

    def post_csv(self, path: str, text: str, params: Any = None) -> Any:
        return self._call("POST", path, params, csv=text)

    def probe(self) -> None:
        """A cheap request that says whether this server is alive and accepts our token."""
        self._call("GET", "/api/v1/sync", timeout=PROBE_TIMEOUT)


def _error(r: httpx.Response, info: ServerInfo) -> SpendscopeError:
    """The API's error envelope as the error the command would raise reading locally."""
    try:
        body = r.json().get("error") or {}
        message = str(body.get("message") or "")
        hint = body.get("hint")
    except (ValueError, AttributeError):
        message, hint = "", None
    if r.status_code == 401:
        return TokenRefused(
            f"spendscope serve at {info.url} (process {info.pid}) holds the warehouse and "
            "refused this command's token.",
            f"Set {TOKEN_ENV} to the dashboard's token, or stop `spendscope serve`.",
        )
    if not message:
        message = f"spendscope serve at {info.url} answered HTTP {r.status_code}."
    if r.status_code == 404:
        return NotFoundLocally(message, hint)
    if r.status_code in (400, 422):  # the request's input: exit 2, as locally
        return InvalidInput(message, hint)
    if r.status_code == 409:
        return ConfigError(message, hint)
    return WarehouseError(message, hint)


def find_server(settings: Settings) -> RunningServer | None:
    """The running `serve` of this home, or None. A stale discovery file is removed."""
    info = read_discovery(settings)
    if info is None:
        return None
    if info.url and _pid_alive(info.pid):
        server = RunningServer(info)
        try:
            server.probe()
            return server
        except Unreachable:
            server.close()
        except TokenRefused:
            server.close()  # another program now answers at that address: the file is stale
        except BaseException:
            server.close()
            raise
    remove_discovery(settings, info.token)
    return None


def path_of(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


# -- decoding the API's JSON into the warehouse's Python types ------------------------------------


def as_datetime(v: Any) -> datetime | None:
    return None if v is None else datetime.fromisoformat(str(v))


def as_date(v: Any) -> date | None:
    if v is None:
        return None
    text = str(v)
    return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)


def _health_value(key: str, value: Any) -> Any:
    """Times (`last_success`, `…_at`) and days (`…_through`) back from their ISO text."""
    if not isinstance(value, str):
        return value
    if key == "last_success" or key.endswith("_at"):
        return as_datetime(value)
    if key.endswith("_through"):
        return as_date(value)
    return value


def decode_health(data: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`GET /api/v1/health` back into `reporting.health.connection_health`'s shape."""
    return {label: {k: _health_value(k, v) for k, v in h.items()} for label, h in data.items()}


def decode_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`GET /api/v1/connections/{label}/events` back into `recent_events`' shape."""
    out = []
    for e in events:
        row = dict(e)
        row["occurred_at"] = as_datetime(row.get("occurred_at"))
        out.append(row)
    return out


def decode_rows(
    rows: Iterable[Mapping[str, Any]], date_columns: Iterable[str]
) -> list[dict[str, Any]]:
    """Rows whose `date_columns` are ISO dates in JSON."""
    dates = set(date_columns)
    return [{k: as_date(v) if k in dates else v for k, v in r.items()} for r in rows]
