"""The HTTP client for the Anthropic organization APIs: auth headers, query encoding, retries
with backoff, `retry-after`, per-organization rate limiting, and typed errors.

    client = AnthropicClient(key, limiter=limiter_for(org_id, 60))
    page = client.get("/v1/organizations/analytics/usage_report",
                      [("starting_at", "2026-11-01T00:00:00Z"), ("group_by[]", "model")])

The key is sent in `x-api-key` and appears nowhere else: not in `repr()`, logs or errors.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from .. import __version__
from ..errors import (
    ConfigError,
    MalformedResponse,
    Secret,
    TransportFailure,
    UpstreamError,
    mask_key,
)
from .keys import classify_key
from .ratelimit import RateLimiter

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "RETRY_STATUSES",
    "AnthropicClient",
    "ParamValue",
    "QueryParams",
    "Response",
    "encode_params",
]

log = logging.getLogger("spendscope.upstream")

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
# Retried with backoff (anthropic-api.md §1.5); 400/401/403/404 never are.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
NEVER_RETRY_STATUSES = frozenset({400, 401, 403, 404})
# A 200 with an unreadable body is tried at most this many times in all.
MALFORMED_ATTEMPTS = 3
# Transport failures worth another attempt: connect errors, timeouts, dropped connections,
# bodies shorter than their content-length (httpx.RemoteProtocolError), corrupt encodings.
_RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)

ParamValue = str | int | float | bool | date | datetime
QueryParams = Sequence[tuple[str, ParamValue]] | Mapping[str, ParamValue | Sequence[ParamValue]]


def _encode_value(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def encode_params(params: QueryParams | None) -> list[tuple[str, str]]:
    """Query pairs as the API expects them (§1.3). A list of pairs is kept in order (repeat a
    name such as `group_by[]` for arrays). In a mapping, a list value becomes the repeated
    bracket form `name[]=a&name[]=b`. Booleans are `true`/`false`, datetimes RFC 3339 UTC, dates
    `YYYY-MM-DD`; `None` values are dropped."""
    if params is None:
        return []
    out: list[tuple[str, str]] = []
    items: Iterable[tuple[str, Any]] = params.items() if isinstance(params, Mapping) else params
    for name, value in items:
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            key = name if name.endswith("[]") else f"{name}[]"
            out.extend((key, _encode_value(v)) for v in value)
        else:
            out.append((name, _encode_value(value)))
    return out


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer: the JSON object, and the metadata callers may want."""

    body: dict[str, Any]
    status: int
    path: str
    request_id: str | None
    organization_id: str | None
    attempts: int


# An integer literal orjson cannot hold exactly (it turns those beyond 64 bits into floats):
# 20 digits, or a negative one of 19 (below -2^63). Strings that merely contain such a run of
# digits only cost the slower decoder. Looked for in the body's shape — each digit as "1", the
# minus sign as itself, any other byte as a space — two substring searches in C, where a regular
# expression would try a match at every digit of a body of megabytes.
_SHAPE = bytes(
    ord("1") if chr(i).isascii() and chr(i).isdigit() else (i if chr(i) == "-" else ord(" "))
    for i in range(256)
)
_WIDE = (b"1" * 20, b"-" + b"1" * 19)
_MAX_INT_DIGITS = 4000  # Python's int() refuses longer literals (sys.int_info)


def _has_wide_integer(content: bytes) -> bool:
    shape = content.translate(_SHAPE)
    return any(run in shape for run in _WIDE)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _wide_int(text: str) -> int | Decimal:
    # A literal too long for int() stays a Decimal: out of any column's range all the same.
    return int(text) if len(text) <= _MAX_INT_DIGITS else Decimal(text)


def decode_json(content: bytes) -> Any:
    """A JSON body, numbers exact: orjson, and the standard decoder (integers of any size, kept
    exact) for a body holding an integer beyond 64 bits or one orjson refuses (a number too
    large for a double, a lone surrogate). None when it is not JSON at all."""
    if not _has_wide_integer(content):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(content, parse_int=_wide_int, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, else `retry-after` in seconds
    (integer or float) or as an HTTP date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = -1.0
        if ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


def _error_from(response: httpx.Response, path: str, attempts: int) -> UpstreamError:
    error_type = upstream_message = error_code = None
    request_id = response.headers.get("request-id")
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            error_type = str(err["type"]) if err.get("type") else None
            upstream_message = str(err["message"]) if err.get("message") else None
            details = err.get("details")
            if isinstance(details, dict) and details.get("error_code"):
                error_code = str(details["error_code"])
        if payload.get("request_id"):
            request_id = str(payload["request_id"])
    return UpstreamError.from_response(
        response.status_code,
        error_type=error_type,
        upstream_message=upstream_message,
        request_id=request_id,
        error_code=error_code,
        path=path,
        attempts=attempts,
        retry_after=_retry_after(response.headers),
    )


_tls_lock = threading.Lock()
_tls: dict[str, ssl.SSLContext] = {}


def tls_context() -> ssl.SSLContext:
    """The certificate-verifying TLS context every client shares: loading the CA bundle costs
    ~0.15 s, paid once per process instead of once per client (a sync makes one per feed, and
    its feeds' threads ask at once: one loads it, the others wait for it)."""
    with _tls_lock:
        if "verifying" not in _tls:
            _tls["verifying"] = httpx.create_ssl_context()
        return _tls["verifying"]


def verify_for(base_url: str) -> ssl.SSLContext:
    """The TLS context for a client of `base_url`. Plain HTTP (a simulator or proxy on loopback)
    never negotiates TLS, so it skips loading the CA bundle; its context trusts no certificate,
    should it ever be asked to."""
    if base_url.lower().startswith("https:"):
        return tls_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class AnthropicClient:
    """A keep-alive HTTP client for one key. Thread-safe: several threads may share it.

    Counters (read by benchmarks): `requests` (HTTP requests sent, retries included),
    `retries`, `rate_limited` (429 answers), `transport_errors`, `malformed`, `by_endpoint`
    (requests per path), `by_status`, `slept_seconds` (time spent in backoff).
    """

    def __init__(
        self,
        key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        max_attempts: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = f"spendscope/{__version__}",
        rng: random.Random | None = None,
    ) -> None:
        key = key.strip()
        if not key:
            raise ConfigError("No API key was given.", "Pass the organization's key.")
        if not (key.isascii() and key.isprintable()) or " " in key:
            raise ConfigError(
                "The API key contains characters no Anthropic key has.",
                "Copy the key again, without quotes, spaces or line breaks.",
            )
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1.")
        self._key = Secret(key)
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.user_agent = user_agent
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=verify_for(self.base_url),
        )
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.transport_errors = 0
        self.malformed = 0
        self.slept_seconds = 0.0
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()

    # -- identity -------------------------------------------------------------------------------
    @property
    def key_kind(self) -> str:
        """What the key's prefix says it is (see `keys.classify_key`)."""
        return classify_key(self._key.reveal())

    @property
    def key_hint(self) -> str:
        """The masked key, safe to show: `sk-ant-admin01-…x9AA`."""
        return mask_key(self._key.reveal())

    def __repr__(self) -> str:
        return f"AnthropicClient(base_url={self.base_url!r}, key={self.key_hint!r})"

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AnthropicClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counters(self) -> dict[str, Any]:
        """A snapshot of the counters."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "transport_errors": self.transport_errors,
                "malformed": self.malformed,
                "slept_seconds": round(self.slept_seconds, 3),
                "by_endpoint": dict(self.by_endpoint),
                "by_status": dict(self.by_status),
            }

    # -- requests -------------------------------------------------------------------------------
    def get(
        self, path: str, params: QueryParams | None = None, betas: Sequence[str] = ()
    ) -> dict[str, Any]:
        """GET `path` and return its JSON object, retrying transient failures; raise an
        `UpstreamError` subclass otherwise."""
        return self.request(path, params, betas).body

    def request(
        self, path: str, params: QueryParams | None = None, betas: Sequence[str] = ()
    ) -> Response:
        """Like `get`, with the response metadata (request id, organization id, attempts)."""
        query = encode_params(params)
        headers = {
            "x-api-key": self._key.reveal(),
            "anthropic-version": ANTHROPIC_VERSION,
            "user-agent": self.user_agent,
            "accept": "application/json",
        }
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        attempt = 0
        malformed = 0
        while True:
            attempt += 1
            try:
                response = self._send(path, query, headers)
            except _RETRY_EXCEPTIONS as exc:
                with self._lock:
                    self.transport_errors += 1
                failure = TransportFailure(
                    f"Could not get an answer from {self.base_url} for GET {path}: "
                    f"{type(exc).__name__}: {exc}"
                    + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                    path=path,
                )
                if attempt >= self.max_attempts:
                    raise failure from exc
                self._retry(path, attempt, type(exc).__name__, self._backoff(attempt))
                continue

            status = response.status_code
            if 200 <= status < 300:
                body = self._parse(response)
                if body is not None:
                    return Response(
                        body=body,
                        status=status,
                        path=path,
                        request_id=response.headers.get("request-id"),
                        organization_id=response.headers.get("anthropic-organization-id"),
                        attempts=attempt,
                    )
                malformed += 1
                with self._lock:
                    self.malformed += 1
                if malformed >= MALFORMED_ATTEMPTS or attempt >= self.max_attempts:
                    request_id = response.headers.get("request-id")
                    raise MalformedResponse(
                        f"Anthropic API answered GET {path} with a body that is not a JSON "
                        f"object ({malformed} times in {attempt} attempts)"
                        + (f" [request {request_id}]" if request_id else ""),
                        status=status,
                        request_id=request_id,
                        path=path,
                    )
                self._retry(path, attempt, "malformed body", self._backoff(attempt))
                continue

            error = _error_from(response, path, attempt)
            should_retry = response.headers.get("x-should-retry", "").strip().lower()
            retryable = (
                status not in NEVER_RETRY_STATUSES
                and should_retry != "false"
                and (status in RETRY_STATUSES or should_retry == "true")
            )
            if status == 429:
                with self._lock:
                    self.rate_limited += 1
            if not retryable or attempt >= self.max_attempts:
                raise error
            asked = _retry_after(response.headers)
            delay = (
                min(asked, self.retry_after_max) if asked is not None else self._backoff(attempt)
            )
            if status == 429 and self.limiter is not None:
                self.limiter.penalize(delay)
            self._retry(path, attempt, f"{status} {error.error_type or ''}".strip(), delay)

    def _send(
        self, path: str, query: list[tuple[str, str]], headers: dict[str, str]
    ) -> httpx.Response:
        ticket = self.limiter.acquire() if self.limiter is not None else None
        try:
            with self._lock:
                self.requests += 1
                self.by_endpoint[path] += 1
            response = self._http.get(path, params=tuple(query), headers=headers)
            with self._lock:
                self.by_status[response.status_code] += 1
            log.debug("GET %s -> %s", path, response.status_code)
            return response
        finally:
            if ticket is not None and self.limiter is not None:
                self.limiter.release(ticket)

    @staticmethod
    def _parse(response: httpx.Response) -> dict[str, Any] | None:
        body = decode_json(response.content)
        return body if isinstance(body, dict) else None

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base·2^(n-1), capped, times 0.75–1.0."""
        delay = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return delay * (1.0 - 0.25 * self._rng.random())

    def _retry(self, path: str, attempt: int, why: str, delay: float) -> None:
        level = logging.INFO if why.startswith("429") else logging.WARNING
        log.log(
            level,
            "GET %s: %s; retry %d/%d in %.2fs",
            path,
            why,
            attempt,
            self.max_attempts - 1,
            delay,
        )
        with self._lock:
            self.retries += 1
            self.slept_seconds += delay
        if delay > 0:
            self._sleep(delay)
