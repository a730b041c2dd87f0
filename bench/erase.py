#!/usr/bin/env python3
"""Erasure benchmark: what erasing a creator (docs/creators.md) costs on an imported
archive. Imports the synthetic capture set of bench/ingest.py once (cached in
bench/.cache), then, each on a fresh copy of that database and archive, erases the most
prolific creator and a median one, and prints wall and CPU seconds, the files rewritten,
and the archive scan that finds every copy alone.

    python -m bench.erase --posts 100000 --creators 10000        # the figures in the docs
    python -m bench.erase --posts 10000 --creators 1000 --days 3  # a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from bench.ingest import CACHE, add_capture_arguments, run_import, synthesize
from sorastats.archive import CaptureArchive
from sorastats.erasure import erase_creators, queue_copies
from sorastats.run import default_captures_dir


def imported(capture: Path, name: str) -> Path:
    """The capture set imported once into bench/.cache/<name>.duckdb (with its archive)."""
    db_path = CACHE / f"{name}.duckdb"
    if db_path.exists():
        print(f"using the imported database {db_path}")
        return db_path
    seconds, cpu, _, line = run_import(capture, db_path)
    print(f"imported in {seconds:.1f} s ({cpu:.1f} CPU s): {line}")
    return db_path


def fresh_copy(db_path: Path, into: Path) -> Path:
    """A copy of the database and its archive that an erasure may rewrite."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    copy = into / db_path.name
    shutil.copy2(db_path, copy)
    shutil.copytree(default_captures_dir(db_path), default_captures_dir(copy))
    return copy


def victims(db_path: Path) -> list[tuple[str, str, int]]:
    """(label, creator id, posts) of the most prolific creator and a median one."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT creator_id, count(*) AS n FROM posts GROUP BY creator_id ORDER BY n DESC, "
            "creator_id"
        ).fetchall()
    top, median = rows[0], rows[len(rows) // 2]
    return [("most prolific", top[0], top[1]), ("median", median[0], median[1])]


def scan_seconds(db_path: Path, creator: str) -> tuple[float, float, int]:
    """(wall s, CPU s, files found) of the archive scan alone, rolled back."""
    with duckdb.connect(str(db_path)) as con:
        archive = CaptureArchive(default_captures_dir(db_path))
        con.execute("BEGIN TRANSACTION")
        wall, cpu = time.perf_counter(), time.process_time()
        found = queue_copies(con, archive, [creator])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        con.execute("ROLLBACK")
    return wall, cpu, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_capture_arguments(parser, posts=100_000, creators=10_000)
    args = parser.parse_args()
    capture = synthesize(args.posts, args.creators, args.days, args.seed)
    name = f"erase-p{args.posts}-c{args.creators}-d{args.days}-s{args.seed}"
    source = imported(capture, name)
    with duckdb.connect(str(source), read_only=True) as con:
        files, size = con.execute("SELECT count(*), sum(bytes) FROM captures").fetchone() or (0, 0)
    print(f"archive: {files:,} files, {(size or 0) / 2**20:,.0f} MiB of JSON")
    print(f"load average (1 min) before the runs: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="sorastats-bench-erase-") as tmp:
        for label, creator, posts in victims(source):
            copy = fresh_copy(source, Path(tmp) / "db")
            wall, cpu, found = scan_seconds(copy, creator)
            print(f"{label} ({posts:,} posts): the scan alone {wall:.1f} s, {cpu:.1f} CPU s, "
                  f"{found:,} files name them")  # fmt: skip
            wall, cpu = time.perf_counter(), time.process_time()
            result = erase_creators(copy, [creator])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{label}: erased in {wall:.1f} s, {cpu:.1f} CPU s; {result.posts:,} posts, "
                  f"{result.archive_files:,} files rewritten "
                  f"({1000 * cpu / max(result.archive_files, 1):.1f} CPU ms a file)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
