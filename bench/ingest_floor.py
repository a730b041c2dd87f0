#!/usr/bin/env python3
"""Ingest floors: how fast could any import go on this machine? Times the parts that
every design must do, each alone, on the capture set `bench/ingest.py` synthesizes, and
prints each as a ceiling in posts/s (the bench's unit: distinct posts per second).

    python -m bench.ingest_floor                       # 100,000 posts (synthesized once)
    python -m bench.ingest_floor --posts 1000000 --creators 100000

1. Python: read every file and parse it with orjson, in one process per core. No checks,
   no extraction, nothing stored.
2. DuckDB: its compiled JSON reader (all threads) reads the feed pages and unnests their
   items. Nothing stored.
3. DuckDB: the same, and stores each item's JSON in a table, committed and
   checkpointed. This is what `raw` must hold ("every ingested wrapper's JSON"), without
   its hash or any of the checks, snapshots and tables the import also makes. Run under
   three memory caps: the import's; 900 MB, about the 1 GiB RSS target; one big enough
   never to spill (its RSS is far over the target).

4. DuckDB: its JSON reader with typed columns for the fields the tables need (the post's
   id, creator, state, texts, times, counters, media and links; the profile's), unnested,
   as a SQL-first import would read them. Nothing stored.
5. Python: every file compressed with zstd at the archive's level, in one process per
   core: what keeping the capture archive costs, nothing else.
6. Python: the import's own staging (sorastats.staging: checks, extraction, canonical
   JSON and hashes, spool files) of every file in one process, with no archive and no
   DuckDB: the work step 4 would replace in a SQL-first import.

The last line adds up what an import that keeps the archive must do at least: the
cheaper way to read typed fields (step 4, DuckDB, or step 6, the import's Python
staging) and the archive's compression (step 5), in CPU seconds with both cores busy all
the time, as one more ceiling. Storing and merging the rows comes on top.

Steps 2 to 4 read only the feed pages (`latest-*.json`), not the post trees, so their
ceilings are higher than the whole input allows. Each step runs in its own process, so
its CPU seconds and peak RSS are its own. The files are read once first, untimed, so
every step finds them in the page cache, as `bench/ingest.py` does.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import duckdb
import orjson

from bench.ingest import (  # the same capture set, cached, and the same measuring
    add_capture_arguments,
    run_measured,
    synthesize,
    warm_page_cache,
)
from sorastats.archive import compress
from sorastats.db import INGEST_MEMORY_LIMIT  # the import's limits, so the floor follows them
from sorastats.importer import BATCH_RECORDS
from sorastats.staging import SPOOL_LINE_LIMIT, Stager

STORE_MEMORY_CAPS = (INGEST_MEMORY_LIMIT, "900MB", "8GB")


def parse_files(paths: list[str]) -> int:
    """Parse each file; return how many bytes were read."""
    read = 0
    for path in paths:
        data = Path(path).read_bytes()
        read += len(data)
        orjson.loads(data)
    return read


def python_parse(files: list[Path], workers: int) -> str:
    chunks = [[str(p) for p in files[i::workers]] for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        read = sum(pool.map(parse_files, chunks))
    return f"{len(files):,} files, {read / 2**20:,.0f} MiB, {workers} processes"


def feed_items(pattern: str) -> str:
    return (
        f"SELECT unnest(items) AS item FROM read_json('{pattern}', "
        f"columns={{items: 'JSON[]', cursor: 'VARCHAR'}}, maximum_object_size={SPOOL_LINE_LIMIT})"
    )


_ATTACHMENT = "STRUCT(generation_id VARCHAR, width INTEGER, height INTEGER, duration_s DOUBLE)"
_POST = (
    "STRUCT(id VARCHAR, shared_by VARCHAR, posted_to_public BOOLEAN, posted_at DOUBLE, "
    "updated_at DOUBLE, tombstoned_at DOUBLE, text VARCHAR, like_count BIGINT, "
    "view_count BIGINT, unique_view_count BIGINT, remix_count BIGINT, reply_count BIGINT, "
    "share_count BIGINT, repost_count BIGINT, preview_image_url VARCHAR, permalink VARCHAR, "
    f"parent_post_id VARCHAR, root_post_id VARCHAR, attachments {_ATTACHMENT}[], "
    "permissions STRUCT(share_setting VARCHAR), emoji VARCHAR)"
)
_PROFILE = (
    "STRUCT(user_id VARCHAR, username VARCHAR, display_name VARCHAR, description VARCHAR, "
    "verified BOOLEAN, is_public_figure BOOLEAN, can_cameo BOOLEAN, "
    "profile_picture_url VARCHAR, permalink VARCHAR, follower_count BIGINT, "
    "following_count BIGINT, post_count BIGINT, likes_received_count BIGINT, "
    "created_at DOUBLE, updated_at DOUBLE)"
)


def duckdb_typed(pattern: str) -> str:
    con = connect(":memory:", INGEST_MEMORY_LIMIT)
    row = con.execute(
        f"""
        SELECT count(*), count(DISTINCT w.profile.user_id), sum(w.post.view_count)
        FROM (SELECT unnest(items) AS w FROM read_json('{pattern}',
            columns={{items: 'STRUCT(post {_POST}, profile {_PROFILE})[]'}},
            maximum_object_size={SPOOL_LINE_LIMIT}))
        """
    ).fetchone()
    assert row is not None
    return f"{row[0]:,} items of {row[1]:,} creators, typed"


def stage_all(files: list[Path], folder: Path) -> str:
    stager = Stager(folder / "stage")
    when = datetime(2026, 1, 1)
    records = 0
    for path in files:
        stager.add_document(orjson.loads(path.read_bytes()), str(path), when)
        if len(stager.batch) >= BATCH_RECORDS:
            records += len(stager.batch)
            stager.batch.discard()
            stager.new_batch()
    records += len(stager.batch)
    stager.batch.discard()
    return f"{records:,} records staged, 1 process"


def compress_files(paths: list[str]) -> int:
    return sum(len(compress(Path(p).read_bytes())) for p in paths)


def zstd_all(files: list[Path], workers: int) -> str:
    chunks = [[str(p) for p in files[i::workers]] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        packed = sum(pool.map(compress_files, chunks))
    size = sum(p.stat().st_size for p in files)
    return f"{size / 2**20:,.0f} MiB to {packed / 2**20:,.0f} MiB, {workers} processes"


def connect(path: str, memory: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    con.execute(f"SET memory_limit = '{memory}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


def duckdb_read(pattern: str) -> str:
    con = connect(":memory:", INGEST_MEMORY_LIMIT)
    row = con.execute(f"SELECT count(*), sum(length(item)) FROM ({feed_items(pattern)})").fetchone()
    assert row is not None
    return f"{row[0]:,} items, {row[1] / 2**20:,.0f} MiB of item JSON"


def duckdb_store(pattern: str, folder: Path, memory: str) -> str:
    path = folder / "floor.duckdb"
    con = connect(str(path), memory)
    con.execute("CREATE TABLE raw (json VARCHAR)")
    con.execute(f"INSERT INTO raw SELECT item::VARCHAR FROM ({feed_items(pattern)})")
    con.execute("CHECKPOINT")
    row = con.execute("SELECT count(*) FROM raw").fetchone()
    assert row is not None
    con.close()
    return f"{row[0]:,} rows stored, database {path.stat().st_size / 2**20:,.0f} MiB"


STEPS = {
    "parse": "1. Python: read + orjson.loads",
    "read": "2. DuckDB: read_json + unnest",
    **{f"store-{cap}": f"3. DuckDB: + store the JSON, {cap} cap" for cap in STORE_MEMORY_CAPS},
    "typed": "4. DuckDB: read_json with typed columns + unnest",
    "zstd": "5. Python: zstd of every file, the archive's level",
    "stage": "6. Python: the import's staging alone",
}


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the parse pool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_step(step: str, capture: Path, folder: Path) -> str:
    """Run one step in this process and describe it as `wall<TAB>cpu<TAB>detail`, timed
    around the work only (not the interpreter's start)."""
    wall, cpu = time.monotonic(), cpu_seconds()
    detail = step_work(step, capture, folder)
    return f"{time.monotonic() - wall}\t{cpu_seconds() - cpu}\t{detail}"


def step_work(step: str, capture: Path, folder: Path) -> str:
    pattern = str(capture / "*" / "latest-*.json")
    if step == "parse":
        return python_parse(sorted(capture.rglob("*.json")), os.cpu_count() or 1)
    if step == "read":
        return duckdb_read(pattern)
    if step == "typed":
        return duckdb_typed(pattern)
    if step == "stage":
        return stage_all(sorted(capture.rglob("*.json")), folder)
    if step == "zstd":
        return zstd_all(sorted(capture.rglob("*.json")), os.cpu_count() or 1)
    return duckdb_store(pattern, folder, step.removeprefix("store-"))


def measure(step: str, capture: Path, folder: Path) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS bytes, detail) of one step in a child process; the times
    are the child's own, around the work."""
    _, output, usage = run_measured(
        [
            sys.executable,
            "-m",
            "bench.ingest_floor",
            "--step",
            step,
            "--capture",
            str(capture),
            "--tmp",
            str(folder),
        ],
        f"step {step}",
    )
    wall, cpu, detail = output.strip().split("\t", 2)
    return float(wall), float(cpu), usage.ru_maxrss * 1024, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_capture_arguments(parser, posts=100_000, creators=10_000)
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--capture", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(run_step(args.step, args.capture, args.tmp))
        return 0
    capture = synthesize(args.posts, args.creators, args.days, args.seed)
    warm_page_cache(sorted(capture.rglob("*.json")))
    print(f"{args.posts:,} posts; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    cpu_of: dict[str, float] = {}
    for step, name in STEPS.items():
        with tempfile.TemporaryDirectory(prefix="sorastats-floor-") as tmp:
            wall, cpu, rss, detail = measure(step, capture, Path(tmp))
        cpu_of[step] = cpu
        print(
            f"{name}: {wall:.1f} s wall, {cpu:.1f} CPU s, peak RSS {rss / 2**20:,.0f} MiB; "
            f"ceiling {args.posts / wall:,.0f} posts/s ({detail})"
        )
    cores = os.cpu_count() or 1
    reader = min(("typed", "stage"), key=lambda step: cpu_of[step])
    least = cpu_of[reader] + cpu_of["zstd"]
    print(
        f"the cheaper typed read (step {'4' if reader == 'typed' else '6'}) + the archive "
        f"(step 5): {least:.1f} CPU s; on {cores} cores busy all the time, ceiling "
        f"{args.posts / (least / cores):,.0f} posts/s (DuckDB typed / Python staging: "
        f"{cpu_of['typed'] / cpu_of['stage']:.1f}x the CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
