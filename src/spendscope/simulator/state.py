"""The simulator's mutable state: configuration, clock, rate limiters, fault injection."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from .facts_store import FactStore
from .inject import Injection, InjectionError, has_cost, parse_spec, resolve
from .world import World
from .world_generation import build_world


@dataclass(slots=True)
class SimConfig:
    """Every behaviour the reference leaves UNCONFIRMED is a field here (changeable at run time
    through `POST /_simulator/config`)."""

    seed: int = 42
    # Analytics API (families B, C, D): requests per minute per organization (0 = unlimited).
    rpm: int = 60
    # Admin API (family A): no numeric limit is documented; 0 = unlimited.
    admin_rpm: int = 0
    # Probability that a request gets an injected fault (500, 529, slow, dropped, truncated).
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("500", "529", "slow", "drop", "truncate")
    # Added to every response.
    latency_ms: int = 0
    # How long a "slow" fault stalls before answering.
    slow_ms: int = 3000
    # Family B without `anthropic-beta: analytics-usage-cost-2026-08-24` -> 400.
    require_beta_header: bool = True
    # Missing `anthropic-version` -> 400 (the real behaviour is UNCONFIRMED; lenient default).
    require_version_header: bool = False
    # Status for a standard `sk-ant-api03-` key on these endpoints: 401 or 403.
    standard_key_status: int = 401
    # Status for an Enterprise organization whose analytics API is not enabled: 404 or 403.
    analytics_disabled_status: int = 404
    # Enterprise analytics key on Console-only Admin endpoints: 403 or 400.
    enterprise_key_on_admin_status: int = 403
    # Family D: days of lag before a day can be queried (1 per the SDK, 3 per the support guide).
    engagement_lag_days: int = 1
    # Family D `/summaries` envelope: "data" (SDK 2.10.0), "summaries" (mid-2026 docs) or "both".
    summaries_envelope: str = "data"
    # Family D `/users`: list members with no activity as all-zero rows.
    engagement_include_inactive: bool = False
    # Family D group-key fields when not grouped: "omit" (default) or "null".
    engagement_ungrouped_keys: str = "omit"
    # Family B/C: how often the export behind `data_refreshed_at` is refreshed.
    refresh_hours: int = 4
    # Family A Claude Code report: "datetime" ("2026-11-03T00:00:00Z") or "date" ("2026-11-03").
    claude_code_date_format: str = "datetime"
    # Family A reports without `ending_at`: "limit" (limit buckets from start, capped at now).
    console_default_ending: str = "limit"
    # Console cost report: tiers whose cost it leaves out (documented: Priority Tier).
    cost_report_excluded_tiers: tuple[str, ...] = ("priority", "priority_on_demand")
    # Family A `/service_accounts`: page size when `limit` is omitted (UNCONFIRMED; 20 like the
    # other Admin lists).
    service_accounts_default_limit: int = 20
    # Family C bucketed reports: groups kept per time bucket (documented: top 100, no remainder).
    legacy_group_cap: int = 100
    # Family C per-user reports, row order (reference silent): "row" ranks every row by the
    # `order_by` metric; "actor" ranks actors by their total and keeps each actor's rows together.
    legacy_user_order: str = "row"
    # Family C user actor e-mail key(s): "both" (default), "email_address" (SDK) or "email" (docs).
    legacy_actor_email_keys: str = "both"
    # Family B (`/analytics/usage`, `/analytics/cost`): an ungrouped, unbucketed query whose range
    # holds no usage still answers one all-zero row (True) or an empty `data` (False).
    analytics_empty_total_row: bool = True
    # Family B cost with `group_by[]=token_type` but not `cost_type` (reference silent): "split"
    # answers the web-search / code-execution / session rows with their `cost_type` set (as when
    # grouped by both); "combined" answers one row (`cost_type` and `token_type` null) for them.
    analytics_token_type_other_rows: str = "split"
    # Family B envelope also carries `organization_id` (UNCONFIRMED; SDK 2.10.0 ignores it).
    analytics_envelope_org_id: bool = False
    # Family B `group.product` for Console traffic (UNCONFIRMED): "filter" shows the `products[]`
    # filter values (`messages_api`, ...); "null" shows null (no known surface).
    analytics_console_products: str = "filter"
    # Family A usage/cost reports, explicit `ending_at` not on a bucket boundary: False (docs:
    # only buckets ending at/before `ending_at`) or True (the straddling bucket is returned too,
    # holding the usage before `ending_at` only).
    console_ending_partial_bucket: bool = False
    # Family A `/usage_report/messages` rows, `speed` key (UNCONFIRMED): "always" (null unless
    # grouped) or "beta" (present only with `anthropic-beta: fast-mode-2026-02-01`).
    console_usage_speed_field: str = "always"
    # Family D: optional lookback limit -- a `date`/`starting_date` more than this many days
    # before today -> 400 (0 = off; the early-2026 support guide said 90 days).
    engagement_lookback_days: int = 0

    # Spend Limits API (spend_limits.py): requests per minute per organization, shared by its
    # endpoints (documented: 60; 0 = unlimited).
    spend_limits_rpm: int = 60
    # ... a Console organization's key on them (UNCONFIRMED): 400 `organization_type_not_supported`,
    # 403 `permission_error` or 404 `not_found_error`.
    spend_limits_console_status: int = 400
    # ... share of members whose `period_to_date_spend` reads "0" (unavailable) on a given day.
    spend_limits_unavailable_rate: float = 0.1
    # ... members on the organization default show an undocumented `source` type instead.
    spend_limits_unknown_source: bool = False
    # ... POST and DELETE allowed (False: 403 `spend_limits_admin_api_writes_not_enabled`).
    spend_limits_writes_enabled: bool = True

    # Length of the rate-limit window in seconds (the documented limit is per minute).
    rate_window_seconds: float = 60.0
    # Renamed entities, "OLD=NEW" each: OLD is the id, name (or a user's e-mail) of a workspace,
    # API key, service account or user; NEW its name (a user's e-mail). Applied when the world
    # is built, before any data exists, so hostile or unusual names reach every endpoint.
    renames: tuple[str, ...] = ()
    # Anomalies injected at start, one spec each (`spike:workspace=NAME:day=-3:x=6`, see
    # `inject.py`); relative days count from the start clock. At run time:
    # `POST /_simulator/injections`.
    injections: tuple[str, ...] = ()

    def update(self, changes: dict[str, Any], *, running: bool = True) -> None:
        """Change settings; `running=False` (before the simulator is built) also allows the
        start-only ones (`renames`, `injections`)."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown setting: {name}")
            if name == "seed" or (running and name in ("renames", "injections")):
                raise ValueError(f"{name} cannot change while running")
            setattr(self, name, _coerce(getattr(self, name), value))

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _coerce(current: Any, value: Any) -> Any:
    """Convert a setting's new value to the type of its current value."""
    if isinstance(current, tuple):
        return (value,) if isinstance(value, str) else tuple(value)
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value


class Clock:
    """Simulated UTC time. Frozen at `now` when given; otherwise it follows the wall clock.
    Either way `advance()` moves it forward."""

    def __init__(self, now: datetime | None = None) -> None:
        self._frozen = now.astimezone(UTC) if now else None
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        base = self._frozen or datetime.now(UTC)
        return base + self._offset

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()

    def set(self, when: datetime) -> datetime:
        with self._lock:
            self._frozen = when.astimezone(UTC)
            self._offset = timedelta(0)
        return self.now()


class RateLimiter:
    """Sliding 60-second window per key, on the wall clock."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, rpm: int, window: float = 60.0) -> float | None:
        """Record a request; return None if allowed, else seconds to wait."""
        if rpm <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= rpm:
                return max(0.001, hits[0] + window - now)
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


@dataclass(slots=True)
class Stats:
    requests: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Simulator:
    """Everything a request handler needs."""

    def __init__(
        self, config: SimConfig, now: datetime | None = None, history_days: int = 400
    ) -> None:
        self.config = config
        self.clock = Clock(now)
        self.world: World = build_world(
            config.seed, self.clock.now(), history_days, renames=config.renames
        )
        self.store = FactStore(self.world)
        self.limiter = RateLimiter()
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        self._fault_rng = random.Random(config.seed ^ 0x5EED)
        self._fault_lock = threading.Lock()
        # One-shot faults queued by tests: (path prefix, kind).
        self.scheduled_faults: list[tuple[str, str]] = []
        # Per-query result cache for paginated endpoints: key -> rows.
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._cache_generation = 0
        self._cache_lock = threading.Lock()
        for spec in config.injections:
            self.inject(spec)

    # -- time ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def data_refreshed_at(self) -> datetime:
        """The watermark of the analytics export: now, floored to the refresh period."""
        now = self.now()
        hours = max(1, self.config.refresh_hours)
        floored = now.replace(minute=0, second=0, microsecond=0)
        return floored - timedelta(hours=floored.hour % hours)

    # -- faults -------------------------------------------------------------------------------
    def pick_fault(self, path: str) -> str | None:
        with self._fault_lock:
            for i, (prefix, kind) in enumerate(self.scheduled_faults):
                if path.startswith(prefix):
                    del self.scheduled_faults[i]
                    return kind
            rate = self.config.fault_rate
            if rate <= 0 or self._fault_rng.random() >= rate:
                return None
            kinds = self.config.fault_kinds or ("500",)
            return self._fault_rng.choice(kinds)

    def count(self, path: str, status: int, fault: str | None = None) -> None:
        with self._stats_lock:
            s = self.stats
            s.requests += 1
            s.by_path[path] = s.by_path.get(path, 0) + 1
            s.by_status[str(status)] = s.by_status.get(str(status), 0) + 1
            if fault:
                s.faults[fault] = s.faults.get(fault, 0) + 1
            if status == 429:
                s.rate_limited += 1

    def reset_stats(self) -> None:
        with self._stats_lock:
            self.stats = Stats()

    # -- query cache --------------------------------------------------------------------------
    def cached(self, key: tuple[Any, ...], build: Any) -> Any:
        """Result of `build()` for this key, computed once (pages of one query share it)."""
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
            generation = self._cache_generation
        value = build()
        with self._cache_lock:
            if generation != self._cache_generation:
                return value  # the data changed while it was built: serve it, keep nothing
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = value
        return value

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._cache_generation += 1

    # -- injected anomalies -------------------------------------------------------------------
    def inject(self, spec: str | Mapping[str, object]) -> tuple[Injection, bool]:
        """Add (or replace) an injection from a spec string or its fields; returns it and
        whether anything changed. Raises InjectionError (a ValueError) on a bad spec."""
        fields_ = parse_spec(spec) if isinstance(spec, str) else spec
        inj = resolve(fields_, self.world, self.now().date())
        if inj.add is not None:
            orgs = [o for o in self.world.orgs if inj.org_id in (None, o.id)]
            if not any(has_cost(inj, self.store.generate(o, inj.day)) for o in orgs):
                raise InjectionError(
                    f"add: {inj.scope} '{inj.label}' has no cost on {inj.day.isoformat()} "
                    "to add to; use x instead"
                )
        changed = self.store.inject(inj)
        if changed:
            self.clear_cache()
        return inj, changed

    def clear_injections(self, ident: str | None = None) -> list[Injection]:
        """Remove one injection by id, or all; raises InjectionError for an unknown id."""
        gone = self.store.remove(ident)
        if ident is not None and not gone:
            raise InjectionError(f"id: no injection '{ident}' (GET /_simulator/injections)")
        if gone:
            self.clear_cache()
        return gone

    def injections_json(self) -> list[dict[str, Any]]:
        return [i.to_json() for i in self.store.injections()]

    def injections_control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """`/_simulator/injections` (GET lists, POST adds a spec or its fields) and
        `/_simulator/injections/clear` (POST, `{"id": ...}` or `{}` for all)."""
        if not isinstance(body, dict):
            raise InjectionError("the body must be a JSON object")
        if path == "/_simulator/injections" and method == "GET":
            return 200, {"injections": self.injections_json()}
        if path == "/_simulator/injections" and method == "POST":
            spec = body.get("spec")
            if spec is not None and (len(body) > 1 or not isinstance(spec, str)):
                raise InjectionError("give either spec (a string) or the fields, not both")
            inj, changed = self.inject(spec if spec is not None else body)
            return 200, {
                "injection": inj.to_json(),
                "changed": changed,
                "injections": self.injections_json(),
            }
        if path == "/_simulator/injections/clear" and method == "POST":
            if set(body) - {"id"}:
                raise InjectionError('give {"id": ID} to clear one injection, or {} for all')
            ident = body.get("id")
            gone = self.clear_injections(None if ident is None else str(ident))
            return 200, {"cleared": [i.id for i in gone], "injections": self.injections_json()}
        return 404, {"error": f"no control endpoint {method} {path}"}

    def warm(self) -> None:
        """Generate every day of history (newest first), so later queries only aggregate."""
        now = self.now()
        day = now.date()
        while day >= self.world.history_start:
            for org in self.world.orgs:
                self.store.day_facts(org, day, now)
            day -= timedelta(days=1)

    def info(self) -> dict[str, Any]:
        return {
            "now": self.now().isoformat().replace("+00:00", "Z"),
            "data_refreshed_at": self.data_refreshed_at().isoformat().replace("+00:00", "Z"),
            "seed": self.config.seed,
            "history_start": self.world.history_start.isoformat(),
            "organizations": [o.info() for o in self.world.orgs],
            "injections": self.injections_json(),
            "config": self.config.to_json(),
        }
