"""The REST API's connections and sync endpoints under /api/v1: list, connect, test, delete,
events, and "sync now" (the read endpoints are in api.py).

Every change is refused from another site (403) and answers the one error envelope of errors.py.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from ..errors import SpendscopeError
from ..reporting.connections import connection_row, connection_rows
from ..reporting.health import connection_health, recent_events
from .deps import KnownLabel, SettingsDep, State, Store, Sync, WarehouseDep
from .errors import (
    CONFLICT,
    CROSS_SITE,
    ERROR_RESPONSES,
    UPSTREAM,
    Conflict,
    ErrorDetail,
    error_body,
)
from .models import (
    JSON,
    ConnectedOut,
    ConnectionsOut,
    ConnectionTestFailed,
    ConnectionTestPassed,
    DeletedOut,
    EventsOut,
    HealthOut,
    SyncStartedOut,
    SyncStatusOut,
)

CONNECTIONS = "Connections and sync"
router = APIRouter(prefix="/api/v1", default_response_class=JSON, responses=ERROR_RESPONSES)


# -- connections and sync -----------------------------------------------------------------------


@router.get(
    "/connections",
    tags=[CONNECTIONS],
    summary="Connections with their health (never any key material)",
)
def list_connections(warehouse: WarehouseDep, store: Store) -> ConnectionsOut:
    return ConnectionsOut(connections=connection_rows(store, connection_health(warehouse)))


@router.get(
    "/health",
    tags=[CONNECTIONS],
    response_model=HealthOut,
    response_model_exclude_unset=True,
    summary="Each connection's sync health, deleted connections included",
)
def health(warehouse: WarehouseDep) -> dict[str, Any]:
    return {"connections": connection_health(warehouse)}


class ConnectIn(BaseModel):
    kind: Literal["console", "enterprise"] = Field(description="The kind of organization.")
    label: str = Field(description="A short name for the connection.", max_length=64)
    key: str = Field(description="The Admin API key (console) or analytics key (enterprise).")
    base_url: str | None = Field(default=None, description="API base URL (default Anthropic's).")
    api: Literal["auto", "analytics", "legacy"] | None = Field(
        default=None, description="Which Console API to read (default: the setting)."
    )

    def __repr__(self) -> str:  # the key never shows in a log or a traceback
        return f"ConnectIn(kind={self.kind!r}, label={self.label!r})"

    __str__ = __repr__


@router.post(
    "/connections",
    tags=[CONNECTIONS],
    status_code=201,
    summary="Connect an organization (the key is tested first; nothing is saved if it fails)",
    description="A key that cannot be used is a 400 whose `code` is the connect-time diagnosis "
    "(`wrong_key_type`, `standard_key`, `key_rejected`, ...); a taken label is a 409.",
    responses={**CROSS_SITE, **CONFLICT, **UPSTREAM},
)
def create_connection(
    state: State, settings: SettingsDep, store: Store, body: ConnectIn
) -> ConnectedOut:
    from ..operations import connect

    label = body.label.strip()
    taken = {c.label: c.is_active for c in store.all(include_deleted=True)}
    if label in taken:
        raise Conflict(
            f"A connection labelled '{label}' already exists"
            + ("." if taken[label] else " (deleted, its history kept)."),
            "Choose another label"
            + ("." if taken[label] else ", or purge the old connection first."),
        )
    done = connect(
        settings,
        store,
        body.kind,
        label,
        body.key,
        base_url=(body.base_url or "").strip() or None,
        api=body.api,
        now=state.now(),
    )
    org = done.organization
    return ConnectedOut(
        connection=connection_row(done.connection, {}),
        message=f"Connected {done.connection.label}: {org.name or org.id} ({org.id}).",
    )


@router.post(
    "/connections/{label}/test",
    tags=[CONNECTIONS],
    summary="Test a connection's key against the API",
    description="`ok` says whether the key works; when it does not, `error` is the usual error "
    "object (`code`, `message`, `hint`) and the status is still 200.",
    responses=CROSS_SITE,
)
def test_connection(
    state: State, settings: SettingsDep, store: Store, label: KnownLabel
) -> ConnectionTestPassed | ConnectionTestFailed:
    from ..operations import check_connection

    try:
        done = check_connection(settings, store, label, now=state.now())
    except SpendscopeError as exc:
        return ConnectionTestFailed(ok=False, error=ErrorDetail(**error_body(exc)["error"]))
    org = done.organization
    return ConnectionTestPassed(
        ok=True, message=f"{label} reaches {org.name or org.id} ({org.id})."
    )


@router.delete(
    "/connections/{label}",
    tags=[CONNECTIONS],
    summary="Delete a connection (history kept unless purge)",
    description="Its key is deleted; its data stays in the warehouse, marked as from a deleted "
    "connection, unless `purge`. All of it or nothing. 409 while a sync runs.",
    responses={**CROSS_SITE, **CONFLICT},
)
def delete_connection(
    settings: SettingsDep,
    store: Store,
    warehouse: WarehouseDep,
    sync: Sync,
    label: KnownLabel,
    purge: Annotated[bool, Query(description="Also delete its data.")] = False,
) -> DeletedOut:
    from ..operations import delete_connection as do_delete
    from ..sync.service import SyncBusy

    try:
        with sync.exclusive():  # no sync starts while the connection is being deleted
            removed = do_delete(settings, store, label, purge=purge, warehouse=warehouse)
    except SyncBusy:
        raise Conflict("A sync is running.", "Try again when it has finished.") from None
    return DeletedOut(deleted=label, purged=purge, rows_removed=removed)


@router.get(
    "/connections/{label}/events",
    tags=[CONNECTIONS],
    response_model=EventsOut,
    summary="A connection's event log, newest first",
)
def connection_events(
    warehouse: WarehouseDep,
    label: KnownLabel,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many events.")] = 50,
) -> dict[str, Any]:
    events = recent_events(warehouse, label, limit)
    for e in events:
        if isinstance(e.get("detail"), str):
            with contextlib.suppress(orjson.JSONDecodeError):
                e["detail"] = orjson.loads(e["detail"])
    return {"events": events}


class SyncIn(BaseModel):
    connection: str | None = Field(default=None, description="Only this connection.")


@router.post(
    "/sync",
    tags=[CONNECTIONS],
    status_code=202,
    response_model=SyncStartedOut,
    summary="Sync now (every connection, or one)",
    description="Starts a sync in the background and answers at once with its status (as GET "
    "/sync); 409 if one is already running.",
    responses={**CROSS_SITE, **CONFLICT},
)
def start_sync(
    store: Store, sync: Sync, body: Annotated[SyncIn | None, Body()] = None
) -> dict[str, Any]:
    from ..sync.service import SyncBusy

    label = body.connection if body else None
    if label:
        store.get(label)  # NotFoundLocally: 404
    try:
        status = sync.start([label] if label else None)
    except SyncBusy:
        raise Conflict("A sync is already running.", "Wait for it to finish.") from None
    return {"sync": status}


@router.get(
    "/sync",
    tags=[CONNECTIONS],
    response_model=SyncStatusOut,
    summary="The state of the current or last sync, and the schedule",
)
def sync_status(sync: Sync) -> dict[str, Any]:
    return sync.status()
