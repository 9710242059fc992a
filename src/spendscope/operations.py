"""Connection operations shared by the CLI and the REST API: connect, test, delete.

Each checks what it is given against the API (the connect-time diagnosis), changes the store and
the warehouse, and raises a `SpendscopeError` with one line and a hint when something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings
    from .connections import Connection, ConnectionStore
    from .upstream.probe import OrgIdentity
    from .warehouse.connection import Warehouse


@dataclass(frozen=True, slots=True)
class Connected:
    connection: Connection
    organization: OrgIdentity


def probe(
    settings: Settings, kind: str, key: str, base_url: str, now: datetime | None = None
) -> OrgIdentity:
    """Check a key for a connection of `kind`; return its organization. A base URL that is not
    an http(s) URL with a host is refused (`InvalidInput`) before anything is sent."""
    from .upstream.client import AnthropicClient
    from .upstream.probe import probe_console, probe_enterprise
    from .validation import check_base_url

    base_url = check_base_url(base_url, "base URL")
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
    """Test a key, then save the connection (encrypted). Nothing is saved when the test fails,
    and nothing is sent when the label, the base URL or the master key is not usable."""
    from .errors import ConfigError
    from .validation import check_base_url

    if kind not in ("console", "enterprise"):
        raise ConfigError(f"Unknown connection kind '{kind}'.", "Use console or enterprise.")
    store.ensure_label_free(label)  # before the key is sent anywhere
    url = check_base_url(base_url or settings.base_url, "base URL")
    store.check_master_key()  # a lost master key is restored, not silently replaced
    key = key.strip()
    if not key:
        raise ConfigError("No key given.", "Paste the organization's key.")
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
    """Delete a connection: its key, and with `purge` its record and every row it loaded (by
    default its history stays, marked as from a deleted connection). Returns the rows purged.

    All of it or nothing, in an order that cannot half-apply:
    1. the warehouse is opened (and so locked) first: if another process holds it, this fails
       before anything has changed;
    2. one warehouse transaction makes the change — the rows deleted (`purge`) or the
       connection recorded as deleted — and recomputes the double-booking table and the marts
       (a deleted connection's double-booked days count again on the other side);
    3. only then does the connection store drop the key (and, with `purge`, the record).
    A failure before 2 commits changes nothing; a crash between 2 and 3 leaves the connection
    and its key in place (purged data is fetched again by the next sync) and running the
    command again finishes it."""
    store.get(label)  # an unknown label stops here
    removed = 0
    if warehouse is not None or settings.warehouse_path.exists():
        from .refresh import initialize, refresh
        from .warehouse.connection import Warehouse

        wh = warehouse or Warehouse(settings)
        try:
            initialize(wh)  # opens and locks the warehouse: a busy one stops us here
            if purge:
                removed = (
                    refresh(wh, change=lambda cur: wh.delete_connection_rows_in(cur, label)) or 0
                )
            else:
                refresh(wh, change=lambda cur: _record_deleted(cur, label))
        finally:
            if warehouse is None:
                wh.close()
    if purge:
        store.remove(label)
    else:
        store.mark_deleted(label)
    return removed


def _record_deleted(cur: Any, label: str) -> None:
    from .warehouse.schema import DATASET, utcnow

    """Mark the connection deleted in the warehouse (the refresh that follows, in the same
    transaction, recomputes what depends on it: the double-booking table, the marts)."""
    cur.execute(
        f"UPDATE {DATASET}.connections SET state = 'deleted', updated_at = ? "
        "WHERE connection_label = ?",
        [utcnow(), label],
    )
