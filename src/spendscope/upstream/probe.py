"""The connect-time key check: test a key before it is saved, and turn each classic mistake
into a message that says what to do (product.md §2).

- `classify_key(key)`: what the prefix says the key is; no request.
- `probe_console(client)`: a Console connection needs an Admin API key (`sk-ant-admin01-…`, or
  an `org:admin` OAuth token). Calls `GET /v1/organizations/me` and one cheap usage report.
- `probe_enterprise(client)`: an Enterprise connection needs an analytics key
  (`sk-ant-api01-…`) with `read:analytics`. Calls `/v1/organizations/me` (a 403 there is not
  fatal) and one cheap engagement request to prove `read:analytics` works.

Each returns the organization's `OrgIdentity` (UUID and name) or raises `KeyCheckFailed`
(with a `reason` code); transient failures (5xx, 429, network) propagate as `UpstreamError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from ..errors import (
    AuthenticationFailed,
    InvalidRequest,
    KeyCheckFailed,
    NotFound,
    PermissionDenied,
    UpstreamError,
)

if TYPE_CHECKING:
    from .client import AnthropicClient, ParamValue
from .keys import KIND_NAMES, classify_key

__all__ = [
    "ANALYTICS_FLOOR",
    "ME_PATH",
    "OrgIdentity",
    "classify_key",
    "probe_console",
    "probe_enterprise",
]

ME_PATH = "/v1/organizations/me"
CONSOLE_PROBE_PATH = "/v1/organizations/usage_report/messages"
ENTERPRISE_PROBE_PATH = "/v1/organizations/analytics/summaries"
ANALYTICS_FLOOR = date(2026, 1, 1)
# How far back the engagement probe asks: the data of a day is queryable 1 to 3 days later.
ENTERPRISE_PROBE_LAG_DAYS = 4

# Where keys are created (anthropic-api.md §2.1).
CONSOLE_KEYS_WHERE = "in the Claude Console under Settings › Admin keys (organization admins only)"
ENTERPRISE_KEYS_WHERE = "at claude.ai under Organization settings › API (Primary Owner only)"

_TOO_RECENT = re.compile(r"latest available|not (yet )?available", re.IGNORECASE)
_NOT_ENTERPRISE = re.compile(r"enterprise plan", re.IGNORECASE)
_NOT_ENABLED = re.compile(r"not enabled", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OrgIdentity:
    """The organization a key belongs to: its UUID (as `/v1/organizations/me` gives it) and
    its name (None when the key may not read it)."""

    id: str
    name: str | None


# -- key-type mistakes, detected before any request ---------------------------------------------


def _standard_key() -> KeyCheckFailed:
    return KeyCheckFailed(
        "standard_key",
        "This is a standard API key (sk-ant-api03-…): it can call the Messages API but cannot "
        "read an organization's usage, cost or members.",
        f"For a Console organization, create an Admin API key (sk-ant-admin01-…) "
        f"{CONSOLE_KEYS_WHERE}; for a Claude Enterprise organization, an analytics key "
        f"(sk-ant-api01-…) with the read:analytics scope {ENTERPRISE_KEYS_WHERE}.",
    )


def _check_console_kind(kind: str) -> None:
    if kind == "standard":
        raise _standard_key()
    if kind == "analytics":
        raise KeyCheckFailed(
            "wrong_key_type",
            f"This is {KIND_NAMES['analytics']}, but a Console connection needs a Claude "
            "Console Admin API key (sk-ant-admin01-…).",
            "Connect this key with `spendscope connect enterprise` instead, or create an "
            f"Admin API key {CONSOLE_KEYS_WHERE}.",
        )


def _check_enterprise_kind(kind: str) -> None:
    if kind == "standard":
        raise _standard_key()
    if kind in ("admin", "oauth"):
        raise KeyCheckFailed(
            "wrong_key_type",
            f"This is {KIND_NAMES[kind]}, but an Enterprise connection needs a Claude "
            "Enterprise analytics key (sk-ant-api01-…) with the read:analytics scope.",
            "Connect this key with `spendscope connect console` instead, or create an "
            f"analytics key with read:analytics {ENTERPRISE_KEYS_WHERE}.",
        )


# -- server answers ------------------------------------------------------------------------------


def _explain(err: UpstreamError, connection: str, kind: str) -> Exception:
    """The KeyCheckFailed for a refused probe request (or `err` itself when transient)."""
    enterprise = connection == "enterprise"
    where = ENTERPRISE_KEYS_WHERE if enterprise else CONSOLE_KEYS_WHERE
    what = "analytics key with read:analytics" if enterprise else "Admin API key"
    if isinstance(err, AuthenticationFailed):
        shape = ""
        if kind == "unknown":
            expected = "sk-ant-api01-" if enterprise else "sk-ant-admin01-"
            shape = f" It does not look like an Anthropic key (expected {expected}…)."
        return KeyCheckFailed(
            "key_rejected",
            f"Anthropic rejected the key (401 {err.error_type or 'authentication_error'}): it "
            f"is revoked, expired or mistyped.{shape}",
            f"Check that the whole key was pasted; otherwise create a new {what} {where} "
            "and connect again.",
        )
    if isinstance(err, PermissionDenied):
        if _NOT_ENABLED.search(err.upstream_message or ""):
            return _analytics_not_enabled(err)
        scope = err.scope or ("read:analytics" if enterprise else None)
        if scope:
            return KeyCheckFailed(
                "missing_scope",
                f"The key is valid but lacks the scope {scope} (403 permission_error on "
                f"{err.path}).",
                f"Scopes are fixed when a key is created: create a new key with the {scope} "
                f"scope {where}, and connect again.",
            )
        return KeyCheckFailed(
            "missing_scope",
            f"The key is valid but may not read {err.path} (403 permission_error).",
            f"Use an {what}, created {where}.",
        )
    if isinstance(err, InvalidRequest) and (
        err.error_code == "organization_type_not_supported"
        or _NOT_ENTERPRISE.search(err.upstream_message or "")
    ):
        if enterprise:
            return KeyCheckFailed(
                "not_enterprise",
                "The organization of this key is not on a Claude Enterprise plan: the "
                "Enterprise analytics API answered 400 "
                f'"{err.upstream_message or "organization type not supported"}".',
                "For a Claude Console organization use `spendscope connect console` with an "
                f"Admin API key (sk-ant-admin01-…) created {CONSOLE_KEYS_WHERE}.",
            )
        return KeyCheckFailed(
            "not_console",
            "The organization of this key is not a Claude Console organization: its usage "
            f'reports answered 400 "{err.upstream_message or "organization type not supported"}'
            '".',
            "For a Claude Enterprise organization use `spendscope connect enterprise` with an "
            f"analytics key (sk-ant-api01-…) created {ENTERPRISE_KEYS_WHERE}.",
        )
    if (
        isinstance(err, NotFound)
        and enterprise
        and (err.path or "").startswith("/v1/organizations/analytics/")
    ):
        return _analytics_not_enabled(err)
    if isinstance(err, (InvalidRequest, NotFound)):
        return KeyCheckFailed(
            "unexpected",
            f"The key check failed: {err.message}",
            "Check the base URL of the API; if it is right, report this with the request id.",
        )
    return err


def _analytics_not_enabled(err: UpstreamError) -> KeyCheckFailed:
    return KeyCheckFailed(
        "analytics_not_enabled",
        "The Claude Enterprise analytics API is not enabled for this organization "
        f"({err.status} {err.error_type or 'error'} on {err.path}).",
        "Ask Anthropic support (or your account team) to enable Enterprise analytics API "
        "access for the organization, and check that the Primary Owner has turned on API "
        "access under Organization settings › API; then connect again.",
    )


def _fail(err: UpstreamError, connection: str, kind: str) -> NoReturn:
    explained = _explain(err, connection, kind)
    if explained is err:
        raise err
    raise explained from err


def _me(client: AnthropicClient, connection: str) -> OrgIdentity | None:
    """The organization from `/me`; None for an Enterprise key that may not read it (403)."""
    try:
        body = client.get(ME_PATH)
    except PermissionDenied as err:
        if connection == "enterprise":
            return None
        _fail(err, connection, client.key_kind)
    except UpstreamError as err:
        _fail(err, connection, client.key_kind)
    org_id, name = body.get("id"), body.get("name")
    if not isinstance(org_id, str) or not org_id:
        raise KeyCheckFailed(
            "unexpected",
            f"GET {ME_PATH} answered without an organization id.",
            "Check the base URL of the API.",
        )
    return OrgIdentity(org_id, name if isinstance(name, str) else None)


def _utcnow(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def probe_console(
    client: AnthropicClient, *, now: datetime | None = None, strict_prefix: bool = True
) -> OrgIdentity:
    """Check a key for a Console connection; return its organization."""
    kind = client.key_kind
    if strict_prefix:
        _check_console_kind(kind)
    identity = _me(client, "console")
    assert identity is not None
    day = _utcnow(now).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    params: list[tuple[str, ParamValue]] = [
        ("starting_at", day),
        ("ending_at", day + timedelta(days=1)),
        ("bucket_width", "1d"),
        ("limit", 1),
    ]
    try:
        client.get(CONSOLE_PROBE_PATH, params)
    except UpstreamError as err:
        _fail(err, "console", kind)
    return identity


def probe_enterprise(
    client: AnthropicClient, *, now: datetime | None = None, strict_prefix: bool = True
) -> OrgIdentity:
    """Check a key for an Enterprise connection; return its organization."""
    kind = client.key_kind
    if strict_prefix:
        _check_enterprise_kind(kind)
    identity = _me(client, "enterprise")
    day = max(ANALYTICS_FLOOR, _utcnow(now).date() - timedelta(days=ENTERPRISE_PROBE_LAG_DAYS))
    params: list[tuple[str, ParamValue]] = [
        ("starting_date", day),
        ("ending_date", day + timedelta(days=1)),
    ]
    org_id: str | None = None
    try:
        org_id = client.request(ENTERPRISE_PROBE_PATH, params).organization_id
    except InvalidRequest as err:
        # A day too recent (or before the floor) is refused only after the key and its scope
        # were accepted: that answer proves read:analytics as well as a 200 does.
        if not _TOO_RECENT.search(err.upstream_message or "") or _NOT_ENTERPRISE.search(
            err.upstream_message or ""
        ):
            _fail(err, "enterprise", kind)
    except UpstreamError as err:
        _fail(err, "enterprise", kind)
    if identity is not None:
        return identity
    if org_id:
        return OrgIdentity(org_id, None)
    raise KeyCheckFailed(
        "unexpected",
        "The key works for analytics, but the organization id could not be read.",
        "Try again later; if it persists, report it.",
    )
