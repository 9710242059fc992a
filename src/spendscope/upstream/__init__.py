"""The Anthropic HTTP client: auth, retries, rate limiting, pagination and the connect-time
key check. See docs/upstream-client.md."""

from __future__ import annotations

from .client import ANTHROPIC_VERSION, DEFAULT_BASE_URL, AnthropicClient, Response, encode_params
from .keys import classify_key
from .pagination import console_report_pages, id_pages, report_pages, token_pages
from .probe import OrgIdentity, probe_console, probe_enterprise
from .ratelimit import RateLimiter, limiter_for, reset_limiters

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "AnthropicClient",
    "OrgIdentity",
    "RateLimiter",
    "Response",
    "classify_key",
    "console_report_pages",
    "encode_params",
    "id_pages",
    "limiter_for",
    "probe_console",
    "probe_enterprise",
    "report_pages",
    "reset_limiters",
    "token_pages",
]
