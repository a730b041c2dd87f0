#!/usr/bin/env python3
"""Watchlist benchmark: the one read of the ingest DuckDB behind `GET /api/watchlist`
(`api.watchlist.store.read_targets`: the watched items and all their snapshots) on a
synthesized site database (cached in bench/.cache/, as bench/render.py makes it), for a
full Pro list (250 creators and 250 videos) and a full free list (10 and 10), beside the
anchor every Pro user already triggers, the CSV export's read of one creator
(`api.stats.store.read_creator_series`). Prints the median wall and CPU seconds of
`--repeat` reads each, and each read's ratio to the anchor. Read-only; bounded.

    .venv/bin/python -m bench.watchlist --posts 100000 --creators 20000
    .venv/bin/python -m bench.watchlist --posts 1000000 --creators 100000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from api.stats.store import read_creator_series
from api.watchlist.store import read_targets
from bench.render import add_site_size_options, cached_db


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `repeat` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def pick(db: Path, creators: int, videos: int) -> dict[str, list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        c = con.execute("SELECT id FROM creators ORDER BY hash(id) LIMIT ?", [creators]).fetchall()
        v = con.execute("SELECT id FROM posts ORDER BY hash(id) LIMIT ?", [videos]).fetchall()
    finally:
        con.close()
    return {"creator": [r[0] for r in c], "video": [r[0] for r in v]}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_site_size_options(ap)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    db = cached_db(args.posts, args.creators, args.days, "sql")
    pro, free = pick(db, 250, 250), pick(db, 10, 10)
    one = pro["creator"][0]
    anchor = timed(lambda: read_creator_series(db, one), args.repeat)
    print(f"{args.posts:,} posts, {args.creators:,} creators, {args.days} days: {db.name}")
    print(f"{'read':<34} {'wall s':>8} {'CPU s':>8} {'CPU / anchor':>13}")
    print(f"{'anchor: CSV export, 1 creator':<34} {anchor[0]:8.3f} {anchor[1]:8.3f} {1:13.1f}")
    for label, wanted in (("watchlist, free (10 + 10)", free), ("watchlist, Pro (250 + 250)", pro)):
        found = read_targets(db, wanted)
        snaps = sum(len(t.snapshots) for t in found.values())
        wall, cpu = timed(lambda w=wanted: read_targets(db, w), args.repeat)  # type: ignore[misc]
        ratio = cpu / anchor[1] if anchor[1] else float("nan")
        print(
            f"{label:<34} {wall:8.3f} {cpu:8.3f} {ratio:13.1f}   "
            f"({len(found)} items, {snaps:,} snapshots)"
        )


if __name__ == "__main__":
    main()
