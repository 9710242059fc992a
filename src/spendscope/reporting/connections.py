"""A connection's row: what `spendscope connections list` prints and `GET /api/v1/connections`
answers, built by one function from the connection store and the connections' health
(`reporting.health.connection_health`, or the same mapping read from a running server).

`state` is the stored record's (`active`, `deleted`); `health` is the sync state of
`reporting.health` (`ok`, `failing`, `error`, `interrupted`, `syncing`, `deleted`,
`never synced`). The key hint (`sk-ant-admin01-…w9AA`) is kept for this machine's own CLI and
is never part of an API answer: the field is excluded from every serialization.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ..connections import Connection, ConnectionStore


class ConnectionRow(BaseModel):
    """One connection, with its health."""

    label: str = Field(description="The connection's label.")
    kind: str = Field(description="`console` (Claude Console) or `enterprise`.")
    organization_id: str = Field(description="The Anthropic organization's id.")
    organization_name: str = Field(description="The organization's name when it was connected.")
    key_hint: str = Field(
        exclude=True, description="The key's first and last characters (CLI only)."
    )
    state: str = Field(description="The stored record's state: `active` or `deleted`.")
    health: str = Field(
        description="Sync state: `ok`, `failing`, `error`, `interrupted`, `syncing`, "
        "`deleted` or `never synced`."
    )
    created_at: datetime = Field(description="When the connection was made (UTC).")
    last_success: datetime | None = Field(description="When its last sync finished (UTC).")
    last_error: str | None = Field(description="Why its last sync failed, or its key is unusable.")
    last_error_at: datetime | None = Field(description="When its last sync failed (UTC).")
    complete_through: date | None = Field(
        description="Cost and usage are complete through this day (UTC)."
    )
    rows: int = Field(description="Its rows in the spend and usage marts.")
    rejected: int = Field(description="Its rows set aside because they could not be represented.")


def connection_row(conn: Connection, health: Mapping[str, Any]) -> ConnectionRow:
    """`conn`'s row, with `health` (its entry of `connection_health`, or `{}`)."""
    return ConnectionRow(
        label=conn.label,
        kind=conn.kind,
        organization_id=conn.organization_id,
        organization_name=conn.organization_name,
        key_hint=conn.key_hint,
        state=conn.state,
        health=health.get("state", "never synced"),
        created_at=conn.created_at,
        last_success=health.get("last_success"),
        last_error=health.get("last_error"),
        last_error_at=health.get("last_error_at"),
        complete_through=health.get("complete_through"),
        rows=health.get("rows", 0),
        rejected=health.get("rejected", 0),
    )


def connection_rows(
    store: ConnectionStore,
    health: Mapping[str, Mapping[str, Any]],
    include_deleted: bool = False,
) -> list[ConnectionRow]:
    """The store's connections (deleted ones too with `include_deleted`), in its order, each
    with its entry of `health` (see `reporting.health.connection_health`)."""
    return [
        connection_row(c, health.get(c.label, {}))
        for c in store.all(include_deleted=include_deleted)
    ]
