"""Progress on a terminal (pages, items/s) and the end-of-run summary line."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sorastats.ingest import Counts


class Progress:
    """Rewrites one status line on stderr, at most a few times a second, only on a TTY."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, pages: int, items: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        rate = items / max(now - self.started, 1e-9)
        self._drawn = True
        self.stream.write(f"\r{self.label}: {pages:,} pages, {items:,} items, {rate:,.0f} items/s")
        self.stream.flush()

    def count(self, done: int, total: int) -> None:
        """Progress through a known number of objects (a deploy)."""
        if not self.enabled or (done < total and time.monotonic() - self._last < 0.25):
            return
        self._last = now = time.monotonic()
        rate = done / max(now - self.started, 1e-9)
        self._drawn = True
        self.stream.write(f"\r{self.label}: {done:,} of {total:,} objects, {rate:,.0f}/s")
        self.stream.flush()

    def done(self) -> None:
        """End the status line, if one was drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def seconds(self) -> float:
        return time.monotonic() - self.started


def summary(command: str, counts: Counts, seconds: float) -> str:
    """The one-line summary every long command ends with."""
    return (
        f"{command}: {counts.new_posts:,} new, {counts.updated_posts:,} updated posts; "
        f"{counts.new_creators:,} new, {counts.updated_creators:,} updated creators; "
        f"{counts.snapshots:,} snapshots; {counts.removed_posts:,} removed; "
        f"{counts.quarantined:,} quarantined; {counts.items:,} records in "
        f"{counts.pages:,} pages; {seconds:.1f} s"
    )
