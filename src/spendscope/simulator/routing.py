"""What an endpoint family needs to declare its routes: the request it handles, the credentials
it accepts, and a route table of its own. The server (`server.py`) collects the families' tables;
the families never import the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .params import Params
from .state import Simulator
from .world import Credential, Organization

BETA_ANALYTICS = "analytics-usage-cost-2026-08-24"
BETA_FAST_MODE = "fast-mode-2026-02-01"


class Auth(Enum):
    """Which credentials an endpoint accepts (anthropic-api.md §2)."""

    CONSOLE_ADMIN = "console_admin"  # Console Admin API: admin key or org:admin OAuth token
    ORG_MEMBERS = "org_members"  # users/invites/me: Console admin, or Enterprise key with scope
    OAUTH_ONLY = "oauth_only"  # service accounts: org:admin OAuth token only
    ENTERPRISE_GROUPS = "enterprise_groups"  # rbac groups: Enterprise orgs only
    ANALYTICS_B = "analytics_b"  # new usage/cost analytics: admin key or read:analytics
    ANALYTICS_ENTERPRISE = "analytics_enterprise"  # families C and D: read:analytics only
    SPEND_LIMITS = "spend_limits"  # Enterprise only, read/write:spend_limits (spend_limits.py)


@dataclass(slots=True)
class Request:
    sim: Simulator
    method: str
    path: str
    params: Params
    headers: dict[str, str]
    match: dict[str, str] = field(default_factory=dict)
    credential: Credential | None = None
    org: Organization | None = None
    body: bytes = b""

    @property
    def betas(self) -> set[str]:
        raw = self.headers.get("anthropic-beta", "")
        return {b.strip() for b in raw.split(",") if b.strip()}

    @property
    def organization(self) -> Organization:
        assert self.org is not None
        return self.org


Handler = Callable[[Request], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    handler: Handler
    auth: Auth
    scope: str | None = None  # Enterprise scope that grants access (ORG_MEMBERS, GROUPS)
    method: str = "GET"


@dataclass(slots=True)
class RouteTable:
    """The endpoints of one family, in declaration order."""

    routes: list[Route] = field(default_factory=list)

    def get(self, path: str, auth: Auth, scope: str | None = None) -> Callable[[Handler], Handler]:
        """Declare a GET endpoint; `{name}` segments become `req.match[name]`."""
        return self.route("GET", path, auth, scope)

    def post(self, path: str, auth: Auth, scope: str | None = None) -> Callable[[Handler], Handler]:
        return self.route("POST", path, auth, scope)

    def delete(
        self, path: str, auth: Auth, scope: str | None = None
    ) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, auth, scope)

    def route(
        self, method: str, path: str, auth: Auth, scope: str | None = None
    ) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        pattern = re.compile("^" + regex + "$")

        def deco(fn: Handler) -> Handler:
            self.routes.append(Route(pattern, fn, auth, scope, method))
            return fn

        return deco
