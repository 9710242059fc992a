"""Progress on stderr: one redrawn line per connection on a terminal, nothing otherwise."""

from __future__ import annotations

import threading
from typing import TextIO


class ProgressBars:
    def __init__(self, stream: TextIO, width: int = 24) -> None:
        self.stream = stream
        self.width = width
        self.enabled = stream.isatty()
        self._state: dict[str, dict[str, tuple[int, int]]] = {}
        self._lock = threading.Lock()
        self._drawn = 0

    def update(self, connection: str, feed: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._state.setdefault(connection, {})[feed] = (done, total)
            self._draw()

    def _draw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        lines = []
        for conn, feeds in self._state.items():
            done = sum(d for d, _ in feeds.values())
            total = sum(t for _, t in feeds.values()) or 1
            filled = int(self.width * done / total)
            bar = "█" * filled + "░" * (self.width - filled)
            lines.append(f"{conn:<20} {bar} {done}/{total} windows")
        for line in lines:
            self.stream.write("\x1b[2K" + line + "\n")
        self._drawn = len(lines)
        self.stream.flush()

    def close(self) -> None:
        self._drawn = 0
