"""Connection operations shared by the CLI and the REST API: connect, test, delete.

Each checks what it is given against the API (the connect-time diagnosis), changes the store and
the warehouse, and raises a `SpendscopeError` with one line and a hint when something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings
    from .connections import Connection, ConnectionStore
    from .upstream.probe import OrgIdentity
    from .warehouse.store import Warehouse


@dataclass(frozen=True)
class Connected:
    connection: Connection
    organization: OrgIdentity


def probe(
    settings: Settings, kind: str, key: str, base_url: str, now: datetime | None = None
) -> OrgIdentity:
    """Check a key for a connection of `kind`; return its organization."""
    from .upstream.client import AnthropicClient
    from .upstream.probe import probe_console, probe_enterprise

    with AnthropicClient(
        key, base_url=base_url, timeout=settings.http_timeout, max_attempts=3
    ) as client:
        check = probe_console if kind == "console" else probe_enterprise
        return check(client, now=now)


def connect(
    settings: Settings,
    store: ConnectionStore,
    kind: str,
    label: str,
    key: str,
    *,
    base_url: str | None = None,
    api: str | None = None,
    now: datetime | None = None,
) -> Connected:
    """Test a key, then save the connection (encrypted). Nothing is saved when the test fails."""
    from .errors import ConfigError

    if kind not in ("console", "enterprise"):
        raise ConfigError(f"Unknown connection kind '{kind}'.", "Use console or enterprise.")
    store.ensure_label_free(label)  # before the key is sent anywhere
    key = key.strip()
    if not key:
        raise ConfigError("No key given.", "Paste the organization's key.")
    url = base_url or settings.base_url
    org = probe(settings, kind, key, url, now)
    conn = store.add(
        label,
        kind,
        key,
        base_url=url,
        organization_id=org.id,
        organization_name=org.name or "",
        api_mode=api,
    )
    return Connected(conn, org)


def check_connection(
    settings: Settings, store: ConnectionStore, label: str, now: datetime | None = None
) -> Connected:
    """Check a saved connection's key against the API, with the connect-time diagnosis."""
    conn = store.get(label)
    org = probe(settings, conn.kind, store.key(label), conn.base_url, now)
    return Connected(conn, org)


def delete_connection(
    settings: Settings,
    store: ConnectionStore,
    label: str,
    *,
    purge: bool = False,
    warehouse: Warehouse | None = None,
) -> int:
    """Delete a connection: the key goes at once; its history stays unless `purge`.

    Returns the number of warehouse rows purged. The overlaps and the marts are recomputed, so a
    deleted connection's double-booked days count again on the other side."""
    store.get(label)
    if purge:
        store.remove(label)
    else:
        store.mark_deleted(label)
    if warehouse is None and not settings.warehouse_path.exists():
        return 0
    from .sync import record_connections
    from .warehouse.marts import refresh_marts
    from .warehouse.store import Warehouse
    from .warehouse.views import create_views, refresh_overlaps

    wh = warehouse or Warehouse(settings)
    removed = 0
    try:
        wh.initialize()
        if purge:
            removed = wh.delete_connection_rows(label)
        record_connections(wh, store)
        refresh_overlaps(wh)
        create_views(wh)
        refresh_marts(wh, full=True)
    finally:
        if warehouse is None:
            wh.close()
    return removed
