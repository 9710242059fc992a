"""A synced home with anomalies in it: the session's synced backfill after Anthropic revised two
days of one API key up by $400 (injected into a private simulator, then synced as corrections)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import NOW, copy_home, sync
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.state import SimConfig

KEY = "staging-default-14"
EARLY, LATE = date(2026, 11, 10), date(2026, 11, 21)  # a Tuesday; the last complete day
SPIKES = tuple(f"spike:api_key={KEY}:day={d}:add=400" for d in (EARLY, LATE))


def spiked_home(synced: Settings, home: Path) -> Settings:
    """A copy of the synced home at `home` after Anthropic revised `EARLY` and `LATE` up by $400
    of the key `KEY`."""
    with RunningSimulator(SimConfig(seed=42, rpm=0, injections=SPIKES), now=NOW) as running:
        settings = copy_home(synced, home, base_url=running.url)
        reports = sync(settings, ConnectionStore(settings), since=EARLY)
    assert [r.error for r in reports] == [None, None]
    assert sum(r.corrections for r in reports) > 0
    return settings
