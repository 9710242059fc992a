"""Summing facts by any set of dimensions: the one aggregation every endpoint uses."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .facts import COMPONENTS, Fact

BUCKET_WIDTHS = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}


def _per_component() -> list[int]:
    return [0] * len(COMPONENTS)


@dataclass(slots=True, eq=False)
class Acc:
    """Running sums of usage and cost for one group."""

    uncached: int = 0
    cache_read: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    output: int = 0
    web_search: int = 0
    requests: int = 0
    seconds: int = 0
    cost: list[int] = field(default_factory=_per_component)  # micro-cents per component
    list_cost: list[int] = field(default_factory=_per_component)

    def add(self, f: Fact) -> None:
        self.uncached += f.uncached
        self.cache_read += f.cache_read
        self.cache_5m += f.cache_5m
        self.cache_1h += f.cache_1h
        self.output += f.output
        self.web_search += f.web_search
        self.requests += f.requests
        self.seconds += f.seconds
        c, lc = self.cost, self.list_cost
        for i, v in enumerate(f.cost):
            if v:
                c[i] += v
        for i, v in enumerate(f.list_cost):
            if v:
                lc[i] += v

    @property
    def total_tokens(self) -> int:
        return self.uncached + self.cache_read + self.cache_5m + self.cache_1h + self.output

    def amount(self, components: Iterable[int] | None = None) -> int:
        return sum(self.cost) if components is None else sum(self.cost[i] for i in components)

    def list_amount(self, components: Iterable[int] | None = None) -> int:
        if components is None:
            return sum(self.list_cost)
        return sum(self.list_cost[i] for i in components)


def bucket_start(ts: datetime, width: timedelta) -> datetime:
    """Floor a UTC instant to the bucket width."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((ts - epoch) // width) * width


def group_facts(
    facts: Iterable[Fact],
    key: Callable[[Fact], Hashable],
    keep: Callable[[Fact], bool] | None = None,
) -> dict[Hashable, Acc]:
    """Sum facts by `key` (facts for which `keep` is false are skipped)."""
    out: dict[Hashable, Acc] = {}
    for f in facts:
        if keep is not None and not keep(f):
            continue
        k = key(f)
        acc = out.get(k)
        if acc is None:
            acc = out[k] = Acc()
        acc.add(f)
    return out


def bucketed_key(
    width: timedelta | None, dims: Callable[[Fact], tuple[Hashable, ...]]
) -> Callable[[Fact], tuple[Hashable, ...]]:
    """A key of (bucket start, *dims); bucket start is None when width is None."""
    if width is None:
        return lambda f: (None, *dims(f))
    if width == BUCKET_WIDTHS["1d"]:
        return lambda f: (f.day, *dims(f))

    def key(f: Fact) -> tuple[Hashable, ...]:
        return (bucket_start(f.start, width), *dims(f))

    return key
