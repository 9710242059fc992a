"""Reading the warehouse from a command: directly, or through a running `spendscope serve`.

While `serve` runs it holds the warehouse (DuckDB admits one process), so reads and deletes go
through its API (see `remote`); a stale `serve.json` is removed and the command works locally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings
    from ..warehouse.connection import Warehouse
    from .remote import RunningServer


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[RunningServer | None]:
    """The running `spendscope serve` of this home, or None."""
    from .remote import find_server

    server = find_server(settings)
    try:
        yield server
    finally:
        if server is not None:
            server.close()


def answer(
    settings: Settings,
    path: str,
    local: Callable[[Warehouse], Any],
    params: Mapping[str, Any] | None = None,
) -> Any:
    """What the running `serve` answers at `path`, or else `local(warehouse)` on the local
    warehouse brought up to date first: the same JSON either way. No warehouse yet: one line
    saying to sync."""
    with serving(settings) as server:
        if server is not None:
            return server.get(path, dict(params) if params is not None else None)
    if not settings.warehouse_path.exists():
        from ..errors import ConfigError

        raise ConfigError("The warehouse is empty.", "Run: spendscope sync")
    from ..refresh import initialize
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        initialize(wh)
        return local(wh)
    finally:
        wh.close()


def health(settings: Settings, server: RunningServer | None = None) -> dict[str, dict[str, Any]]:
    """Per connection: last successful sync, data complete through, state of the last run."""
    if server is not None:
        from .remote import decode_health

        return decode_health(server.get("/api/v1/health")["connections"])
    if not settings.warehouse_path.exists():
        from ..connections import ConnectionStore
        from ..reporting.health import key_health

        return key_health(ConnectionStore(settings))  # keys that can't be decrypted
    from ..reporting.health import connection_health
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        return connection_health(wh)
    finally:
        wh.close()
