"""Routes: which alerts go to which channel, and when.

A route names one or more channels and matches alerts by kind, severity and scope (each an
any-of list; empty matches everything). For each channel, the routes that name it are tried in
the order they were added and the first that matches decides; a channel that no route names
gets every alert at once (so with no route at all every channel gets every alert), and a
channel some route names gets only what one of its routes matches.

What a route decides besides (see `hold`):

- **grouping**: with a group wait, notifications are held and the ones of one group (the same
  values of its `group_by` fields) due together are sent as one message;
- **repeat interval**: a still-firing alert is notified again once this long has passed since
  its last notification to the channel (off unless set);
- **quiet hours**: in the route's time zone, notifications of alerts that are not `critical`
  are held until the quiet hours end, then sent (grouped as above);
- **daily digest**: instead of being sent, notifications are held for the channel's digest,
  one message a day at the route's digest time.

Routes are configuration: they live beside the channels in `channels.json`.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InvalidInput
from .alert import SEVERITIES, Alert

GROUP_FIELDS = ("kind", "scope", "severity", "subject", "period")
DIGEST = "digest"
MAX_GROUP_WAIT = timedelta(hours=24)
MIN_REPEAT = timedelta(minutes=1)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_DURATION = re.compile(r"^([0-9]+)\s*(s|m|h|d)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> int:
    """Seconds from `90`, `90s`, `15m`, `4h` or `1d`."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found:
        raise InvalidInput(f"{option} {text!r} is not a duration like 30s, 15m, 4h or 1d")
    return int(found.group(1)) * _UNITS[found.group(2) or "s"]


def show_duration(seconds: int) -> str:
    """`4h`, `90s`, `1d`: the largest unit that divides it."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_clock(text: str, option: str) -> time:
    found = _CLOCK.fullmatch(text.strip())
    if not found:
        raise InvalidInput(f"{option} {text!r} is not a time of day like 08:00")
    return time(int(found.group(1)), int(found.group(2)))


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
        ) from None


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at `at` in `zone`, as UTC."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Route:
    """A route as stored. Durations are seconds; times of day are `HH:MM` in `timezone`."""

    name: str
    channels: tuple[str, ...]
    created_at: datetime
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    group_wait: int = 0
    repeat_interval: int | None = None
    quiet_hours: tuple[str, str] | None = None
    digest: str | None = None
    timezone: str = "UTC"
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", parse_zone(self.timezone))

    # --- what it matches --------------------------------------------------------------------

    def matches(self, alert: Alert) -> bool:
        return (
            (not self.kinds or alert.kind in self.kinds)
            and (not self.severities or alert.severity in self.severities)
            and (not self.scopes or any(fnmatch.fnmatchcase(alert.scope, p) for p in self.scopes))
        )

    def group_key(self, alert: Alert) -> str:
        """The group a held notification goes with: this route and its `group_by` values (the
        channel is kept beside it), or the channel's digest."""
        if self.digest:
            return DIGEST
        values = {f: getattr(alert, f) for f in self.group_by}
        return f"route:{self.name}:" + json.dumps(values, ensure_ascii=False)

    # --- when -------------------------------------------------------------------------------

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet hours `now` falls in, or None when it is outside them."""
        if self.quiet_hours is None:
            return None
        start, end = (parse_clock(t, "quiet hours") for t in self.quiet_hours)
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if start < end:
            inside = start <= clock < end
            ends_on = local.date()
        else:  # over midnight
            inside = clock >= start or clock < end
            ends_on = local.date() + timedelta(days=1) if clock >= start else local.date()
        return _local(ends_on, end, self.zone) if inside else None

    def next_digest(self, now: datetime) -> datetime:
        """The first digest time after `now`."""
        assert self.digest is not None
        at = parse_clock(self.digest, "digest")
        local = now.astimezone(self.zone)
        when = _local(local.date(), at, self.zone)
        if when <= now:
            when = _local(local.date() + timedelta(days=1), at, self.zone)
        return when

    def hold(
        self, alert: Alert, now: datetime, group_due: datetime | None
    ) -> tuple[datetime, str] | None:
        """When a notification of `alert` by this route is due, and the group it goes with;
        None to send it now. `group_due` is when the open group it would join is due (the
        earliest held notification of that group still to come), if there is one."""
        key = self.group_key(alert)
        if self.digest:
            return self.next_digest(now), key
        due = now + timedelta(seconds=self.group_wait)
        if group_due is not None and now <= group_due <= due:
            due = group_due  # joins the group already waiting
        quiet = self.quiet_until(now) if alert.severity != "critical" else None
        if quiet is not None:
            due = max(due, quiet)
        return (due, key) if due > now else None

    # --- storage and display ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channels": list(self.channels),
            "created_at": self.created_at.isoformat(),
            "kinds": list(self.kinds),
            "severities": list(self.severities),
            "scopes": list(self.scopes),
            "group_by": list(self.group_by),
            "group_wait": self.group_wait,
            "repeat_interval": self.repeat_interval,
            "quiet_hours": list(self.quiet_hours) if self.quiet_hours else None,
            "digest": self.digest,
            "timezone": self.timezone,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Route:
        quiet = data.get("quiet_hours")
        repeat = data.get("repeat_interval")
        return cls(
            name=str(data["name"]),
            channels=tuple(str(c) for c in data["channels"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            kinds=tuple(str(k) for k in data.get("kinds") or ()),
            severities=tuple(str(s) for s in data.get("severities") or ()),
            scopes=tuple(str(s) for s in data.get("scopes") or ()),
            group_by=tuple(str(g) for g in data.get("group_by") or ()),
            group_wait=int(data.get("group_wait") or 0),
            repeat_interval=None if repeat is None else int(repeat),
            quiet_hours=(str(quiet[0]), str(quiet[1])) if quiet else None,
            digest=None if data.get("digest") is None else str(data["digest"]),
            timezone=str(data.get("timezone") or "UTC"),
        )

    def public(self) -> dict[str, Any]:
        """What `routes list` shows."""
        match = [
            f"{name}={','.join(values)}"
            for name, values in (
                ("kind", self.kinds),
                ("severity", self.severities),
                ("scope", self.scopes),
            )
            if values
        ]
        if self.digest:
            timing = f"daily digest at {self.digest}"
        elif self.group_wait:
            by = ",".join(self.group_by) or "route"
            timing = f"group by {by}, wait {show_duration(self.group_wait)}"
        else:
            timing = "at once"
        quiet = "-".join(self.quiet_hours) if self.quiet_hours else None
        return {
            "name": self.name,
            "channels": ", ".join(self.channels),
            "match": " ".join(match) or "everything",
            "timing": timing,
            "repeat": show_duration(self.repeat_interval) if self.repeat_interval else None,
            "quiet_hours": quiet,
            "timezone": self.timezone,
            "created_at": self.created_at,
        }


def route_for(channel: str, alert: Alert, routes: Sequence[Route]) -> tuple[bool, Route | None]:
    """(whether `channel` gets `alert`, the route that decides how). A channel no route names
    gets everything at once: (True, None)."""
    named = [r for r in routes if channel in r.channels]
    if not named:
        return True, None
    for route in named:
        if route.matches(alert):
            return True, route
    return False, None


def _words(values: Sequence[str], option: str, pattern: re.Pattern[str], what: str) -> list[str]:
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    for v in out:
        if not pattern.fullmatch(v):
            raise InvalidInput(f"{option} {v!r} is not {what}")
    return list(dict.fromkeys(out))


def make_route(
    name: str,
    channels: Sequence[str],
    *,
    known_channels: Sequence[str],
    kinds: Sequence[str] = (),
    severities: Sequence[str] = (),
    scopes: Sequence[str] = (),
    group_by: Sequence[str] = (),
    group_wait: str | None = None,
    repeat_interval: str | None = None,
    quiet_hours: str | None = None,
    digest: str | None = None,
    timezone: str = "UTC",
    now: datetime,
) -> Route:
    """A new route from command-line values, or `InvalidInput` saying what to fix."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid route name {name!r}: use 1-63 characters, lowercase letters, digits, "
            "'-' and '_', starting with a letter or digit (for example 'critical-to-pager')"
        )
    names = _words(channels, "--channel", _NAME, "a channel name")
    if not names:
        raise InvalidInput("a route needs at least one --channel")
    unknown = [c for c in names if c not in known_channels]
    if unknown:
        known = ", ".join(known_channels) or "none yet"
        raise InvalidInput(f"unknown channel {unknown[0]!r} (channels: {known})")
    severity_list = _words(severities, "--severity", re.compile(r"^[a-z]+$"), "a severity")
    for s in severity_list:
        if s not in SEVERITIES:
            raise InvalidInput(f"--severity {s!r} is not one of {', '.join(SEVERITIES)}")
    fields = _words(group_by, "--group-by", re.compile(r"^[a-z]+$"), "a field")
    for f in fields:
        if f not in GROUP_FIELDS:
            raise InvalidInput(f"--group-by {f!r} is not one of {', '.join(GROUP_FIELDS)}")
    wait = 0 if group_wait is None else parse_duration(group_wait, "--group-wait")
    if wait > MAX_GROUP_WAIT.total_seconds():
        raise InvalidInput("--group-wait is at most 1d (use --digest for a daily message)")
    if fields and not wait:
        raise InvalidInput("--group-by needs a --group-wait (how long to gather a group)")
    repeat = None
    if repeat_interval is not None:
        repeat = parse_duration(repeat_interval, "--repeat-interval")
        if repeat < MIN_REPEAT.total_seconds():
            raise InvalidInput("--repeat-interval is at least 1m")
    quiet = None
    if quiet_hours is not None:
        start, sep, end = quiet_hours.partition("-")
        if not sep:
            raise InvalidInput(f"--quiet-hours {quiet_hours!r} is not a range like 22:00-07:00")
        begin, finish = parse_clock(start, "--quiet-hours"), parse_clock(end, "--quiet-hours")
        if begin == finish:
            raise InvalidInput("--quiet-hours must start and end at different times")
        quiet = (begin.strftime("%H:%M"), finish.strftime("%H:%M"))
    digest_at = None
    if digest is not None:
        digest_at = parse_clock(digest, "--digest").strftime("%H:%M")
        if wait or quiet:
            raise InvalidInput(
                "--digest sends one message a day: it does not go with --group-wait or "
                "--quiet-hours"
            )
    scope_list = [s.strip() for item in scopes for s in item.split(",") if s.strip()]
    kind_list = _words(kinds, "--kind", _KIND, "an alert kind (budget, anomaly, …)")
    parse_zone(timezone)
    return Route(
        name=name,
        channels=tuple(names),
        created_at=now.astimezone(UTC),
        kinds=tuple(kind_list),
        severities=tuple(severity_list),
        scopes=tuple(dict.fromkeys(scope_list)),
        group_by=tuple(fields),
        group_wait=wait,
        repeat_interval=repeat,
        quiet_hours=quiet,
        digest=digest_at,
        timezone=timezone.strip(),
    )


def check_digests(routes: Sequence[Route]) -> None:
    """A channel has one digest a day: its digest routes must agree on the time and zone."""
    seen: dict[str, Route] = {}
    for route in routes:
        if not route.digest:
            continue
        for channel in route.channels:
            other = seen.setdefault(channel, route)
            if (other.digest, other.timezone) != (route.digest, route.timezone):
                raise InvalidInput(
                    f"channel {channel!r} already has its daily digest at {other.digest} "
                    f"{other.timezone} (route {other.name!r}); a channel has one digest a day"
                )
