"""What one dashboard app holds (`AppState`: settings, warehouse, sync service, tokens, clock)
and who may use it (`AppState.authorized`). Built by `app.create_app`, read by the API through
the dependencies of deps.py."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from ..connections import ConnectionStore
    from ..sync.service import SyncService
    from ..warehouse.connection import Warehouse

SESSION_COOKIE = "spendscope_session"


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class AppState:
    settings: Settings
    warehouse: Warehouse
    sync: SyncService
    token: str | None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    local_token: str | None = None

    def today(self) -> date:
        return self.now().astimezone(UTC).date()

    def store(self) -> ConnectionStore:
        from ..connections import ConnectionStore

        return ConnectionStore(self.settings)

    def session_value(self) -> str:
        assert self.token
        return hmac.new(self.token.encode(), b"spendscope-session", hashlib.sha256).hexdigest()

    def authorized(
        self, headers: dict[str, str], cookies: dict[str, str], peer: str | None = None
    ) -> bool:
        auth = headers.get("authorization", "")
        if (
            self.local_token  # serve.json's token: CLI commands on this machine (loopback only)
            and peer is not None
            and is_loopback(peer)
            and auth.lower().startswith("bearer ")
            and hmac.compare_digest(auth[7:].strip().encode(), self.local_token.encode())
        ):
            return True
        if not self.token:
            return True
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
            auth[7:].strip().encode(), self.token.encode()
        ):
            return True
        cookie = cookies.get(SESSION_COOKIE, "")
        # as bytes: compare_digest refuses str with non-ASCII characters
        return bool(cookie) and hmac.compare_digest(cookie.encode(), self.session_value().encode())
