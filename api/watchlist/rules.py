"""The watchlist's pure rules (no I/O), table-tested in tests/api/watchlist/test_rules.py:
which ids are well formed, and the gains of an item since the user last looked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

# What can be watched, and the shape of its id (as the site's pages carry them).
KINDS: Final = ("creator", "video")
ID_PATTERNS: Final = {
    "creator": re.compile(r"[A-Za-z0-9_-]{1,64}"),  # as api/stats/store.py CREATOR_ID
    "video": re.compile(r"s_[0-9a-f]{32}"),  # a Sora post id
}
# The counters shown for each kind: (name in the answer, snapshot column).
COUNTERS: Final = {
    "creator": (("followers", "follower_count"), ("likes", "likes_received_count")),
    "video": (("views", "view_count"), ("likes", "like_count"), ("remixes", "remix_count")),
}


def well_formed(kind: str, target_id: str) -> bool:
    pattern = ID_PATTERNS.get(kind)
    return pattern is not None and pattern.fullmatch(target_id) is not None


@dataclass(frozen=True)
class Snapshot:
    """One capture day of an item: when, and its counters by answer name (None: absent)."""

    captured_at: datetime
    counters: dict[str, int | None]


def gains_since(snapshots: Sequence[Snapshot], seen: datetime) -> dict[str, Any] | None:
    """An item's counters now and how much each grew since `seen` (when the user last
    looked), from its snapshots (any order). None when it has no snapshot.

    The baseline is the newest snapshot captured at or before `seen`: what the user could
    have seen then. An item first captured after `seen` counts from its first snapshot.
    A counter missing at either end has no gain (None), never a made-up one."""
    if not snapshots:
        return None
    ordered = sorted(snapshots, key=lambda s: s.captured_at)
    latest = ordered[-1]
    before = [s for s in ordered if s.captured_at <= seen]
    base = before[-1] if before else ordered[0]
    gains: dict[str, int | None] = {}
    for name, value in latest.counters.items():
        old = base.counters.get(name)
        gains[name] = None if value is None or old is None else value - old
    return {
        "now": dict(latest.counters),
        "gains": gains,
        "since": _iso(base.captured_at),
        "as_of": _iso(latest.captured_at),
    }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")  # stored naive, always UTC
