"""The API's dependencies: what an endpoint needs, declared as a typed parameter
(`state: State`, `warehouse: WarehouseDep`, `label: KnownLabel`, ...) instead of read from
`request.app.state`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Request

from ..config import Settings
from ..connections import ConnectionStore
from ..sync.service import SyncService
from ..warehouse.connection import Warehouse
from .state import AppState


def app_state(request: Request) -> AppState:
    """The state of the app serving this request (set by `create_app`)."""
    state: AppState = request.app.state.spendscope
    return state


State = Annotated[AppState, Depends(app_state)]


def _settings(state: State) -> Settings:
    return state.settings


def _warehouse(state: State) -> Warehouse:
    return state.warehouse


def _store(state: State) -> ConnectionStore:
    return state.store()


def _sync(state: State) -> SyncService:
    return state.sync


def _today(state: State) -> date:
    return state.today()


SettingsDep = Annotated[Settings, Depends(_settings)]
WarehouseDep = Annotated[Warehouse, Depends(_warehouse)]
Store = Annotated[ConnectionStore, Depends(_store)]
Sync = Annotated[SyncService, Depends(_sync)]
Today = Annotated[date, Depends(_today)]


def _known_label(
    label: Annotated[str, Path(description="A connection's label (active or deleted).")],
    store: Store,
) -> str:
    """`label`, once a connection (active or deleted) is known by it: else NotFoundLocally
    (404, with the CLI's wording)."""
    store.get(label)
    return label


KnownLabel = Annotated[str, Depends(_known_label)]
