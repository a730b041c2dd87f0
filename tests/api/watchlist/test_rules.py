"""The watchlist's pure rules (api/watchlist/rules.py), table-tested."""

from __future__ import annotations

from datetime import datetime

import pytest

from api.watchlist.rules import Snapshot, gains_since, well_formed

D = datetime(2025, 10, 20, 12, 0, 0)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 10, day, hour, 0, 0)


def snap(day: int, followers: int | None, likes: int | None = 0) -> Snapshot:
    return Snapshot(at(day), {"followers": followers, "likes": likes})


@pytest.mark.parametrize(
    ("kind", "target_id", "ok"),
    [
        ("creator", "user-alice0000000000000000000", True),
        ("creator", "ch_abc-DEF_1", True),
        ("creator", "", False),
        ("creator", "a" * 65, False),
        ("creator", "user alice", False),
        ("creator", "../etc", False),
        ("creator", "<script>", False),
        ("video", "s_" + "0" * 32, True),
        ("video", "s_" + "A" * 32, False),  # Sora's ids are lower-case hex
        ("video", "s_" + "0" * 31, False),
        ("video", "user-alice0000000000000000000", False),
        ("prompt", "s_" + "0" * 32, False),
        ("", "x", False),
    ],
)
def test_well_formed(kind: str, target_id: str, ok: bool) -> None:
    assert well_formed(kind, target_id) is ok


@pytest.mark.parametrize(
    ("snapshots", "seen", "now", "gains", "since"),
    [
        # baseline: the newest capture at or before the last look
        ([snap(10, 100), snap(15, 150), snap(20, 190)], at(16), {"followers": 190, "likes": 0},
         {"followers": 40, "likes": 0}, "2025-10-15T12:00:00Z"),
        # order of the rows does not matter
        ([snap(20, 190), snap(10, 100), snap(15, 150)], at(16), {"followers": 190, "likes": 0},
         {"followers": 40, "likes": 0}, "2025-10-15T12:00:00Z"),
        # a capture exactly at the look counts as seen
        ([snap(15, 150), snap(20, 190)], at(15), {"followers": 190, "likes": 0},
         {"followers": 40, "likes": 0}, "2025-10-15T12:00:00Z"),
        # looked before the first capture: counted from the first one
        ([snap(15, 150), snap(20, 190)], at(1), {"followers": 190, "likes": 0},
         {"followers": 40, "likes": 0}, "2025-10-15T12:00:00Z"),
        # looked after the newest capture: nothing new, a gain of 0
        ([snap(15, 150), snap(20, 190)], at(25), {"followers": 190, "likes": 0},
         {"followers": 0, "likes": 0}, "2025-10-20T12:00:00Z"),
        # counters can fall
        ([snap(15, 150), snap(20, 120)], at(15), {"followers": 120, "likes": 0},
         {"followers": -30, "likes": 0}, "2025-10-15T12:00:00Z"),
        # a counter missing at either end has no gain
        ([snap(15, None, 3), snap(20, 190, 5)], at(15), {"followers": 190, "likes": 5},
         {"followers": None, "likes": 2}, "2025-10-15T12:00:00Z"),
        ([snap(15, 150, 3), snap(20, None, 5)], at(15), {"followers": None, "likes": 5},
         {"followers": None, "likes": 2}, "2025-10-15T12:00:00Z"),
        # one capture only
        ([snap(20, 190)], at(25), {"followers": 190, "likes": 0},
         {"followers": 0, "likes": 0}, "2025-10-20T12:00:00Z"),
    ],
)  # fmt: skip
def test_gains_since(
    snapshots: list[Snapshot],
    seen: datetime,
    now: dict[str, int | None],
    gains: dict[str, int | None],
    since: str,
) -> None:
    result = gains_since(snapshots, seen)
    assert result is not None
    assert result["now"] == now and result["gains"] == gains and result["since"] == since
    assert result["as_of"] == max(s.captured_at for s in snapshots).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_snapshot_no_numbers() -> None:
    assert gains_since([], D) is None
