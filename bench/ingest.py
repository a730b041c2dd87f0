#!/usr/bin/env python3
"""Ingest benchmark: synthesize N posts by M creators (cached in bench/.cache), import
them into a fresh database and print posts/s and peak RSS of the import process.

    python -m bench.ingest                       # the target: 1,000,000 posts, 100,000 creators
    python -m bench.ingest --posts 100000 --creators 10000

Target on a 2-core machine: >= 50,000 posts/s, peak RSS < 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"


def synthesize(posts: int, creators: int, days: int, seed: int) -> Path:
    out = CACHE / f"synth-p{posts}-c{creators}-d{days}-s{seed}"
    done = out / ".complete"
    if done.exists():
        print(f"using cached capture set {out}")
        return out
    shutil.rmtree(out, ignore_errors=True)
    print(f"synthesizing {posts:,} posts by {creators:,} creators over {days} days ...")
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "build.py"),
            "synth",
            "--posts",
            str(posts),
            "--creators",
            str(creators),
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--out",
            str(out),
            # The target is set on the latest feed's captures; profile feeds would
            # multiply the input by about days/2.
            "--no-profile-feeds",
        ],
        check=True,
    )
    done.write_text("ok\n")
    print(f"synthesized in {time.monotonic() - started:.1f} s")
    return out


def warm_page_cache(files: list[Path]) -> None:
    """Read every file once, untimed, so a run does not depend on whether the capture
    set was just synthesized (cold, reading the 1M set alone took 21 s instead of 7 s)."""
    print(f"warming the page cache: reading {len(files):,} files once ...", flush=True)
    for path in files:
        path.read_bytes()


def run_measured(command: list[str], what: str) -> tuple[float, str, resource.struct_rusage]:
    """(wall seconds, standard output, resource usage) of one child process, which must
    succeed. The usage counts the child and the children it waited for: CPU seconds
    (user + system) matter on a shared machine, where wall time depends on what else runs,
    and `ru_maxrss` is the peak RSS of the largest of those processes (KiB)."""
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    if status != 0:
        # A negative code is the signal that ended it (say -9 when out of memory).
        code = os.waitstatus_to_exitcode(status)
        raise SystemExit(f"{what} failed with exit code {code}: {output}")
    return seconds, output, usage


def run_import(capture: Path, db_path: Path) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS bytes, summary line) of one `build.py import`
    process."""
    seconds, output, usage = run_measured(
        [sys.executable, str(ROOT / "build.py"), "import", str(capture), "--db", str(db_path)],
        "import",
    )
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss * 1024, output.strip().splitlines()[-1]


def add_capture_arguments(parser: argparse.ArgumentParser, posts: int, creators: int) -> None:
    """The options that pick a capture set (shared with bench/ingest_floor.py)."""
    parser.add_argument("--posts", type=int, default=posts)
    parser.add_argument("--creators", type=int, default=creators)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_capture_arguments(parser, posts=1_000_000, creators=100_000)
    args = parser.parse_args()
    capture = synthesize(args.posts, args.creators, args.days, args.seed)
    paths = sorted(capture.rglob("*.json"))
    files = len(paths)
    size = sum(p.stat().st_size for p in paths)
    warm_page_cache(paths)
    with tempfile.TemporaryDirectory(prefix="sorastats-bench-") as tmp:
        db_path = Path(tmp) / "bench.duckdb"
        load = os.getloadavg()[0]
        seconds, cpu, rss, line = run_import(capture, db_path)
        db_size = db_path.stat().st_size
        kept, packed, on_disk = archive_sizes(db_path)
        # The same set again: every file is known, so each is read once and skipped.
        again_s, again_cpu, _, _ = run_import(capture, db_path)
    print(line)
    print(f"input: {files:,} files, {size / 2**20:,.0f} MiB; database {db_size / 2**20:,.0f} MiB")
    print(
        f"capture archive: {kept / 2**20:,.0f} MiB of JSON kept in {packed / 2**20:,.0f} MiB "
        f"of zstd ({kept / max(packed, 1):.1f}x), {on_disk / 2**20:,.0f} MiB on disk"
    )
    print(f"posts: {args.posts:,} in {seconds:.1f} s = {args.posts / seconds:,.0f} posts/s")
    print(f"CPU of the import process: {cpu:.1f} s (user + system)")
    print(f"peak RSS of the import process: {rss / 2**20:,.0f} MiB")
    print(f"load average (1 min) before the run: {load:.2f}")
    print(f"no-change re-import: {again_s:.1f} s, {again_cpu:.1f} CPU s")
    return 0


def archive_sizes(db_path: Path) -> tuple[int, int, int]:
    """(JSON bytes kept, zstd bytes, bytes on disk) of the database's capture archive."""
    import duckdb

    from sorastats.run import default_captures_dir

    con = duckdb.connect(str(db_path), read_only=True)
    row = con.execute("SELECT sum(bytes), sum(stored_bytes) FROM captures").fetchone()
    con.close()
    on_disk = sum(
        p.stat().st_blocks * 512 for p in default_captures_dir(db_path).rglob("*") if p.is_file()
    )
    return int(row[0] or 0) if row else 0, int(row[1] or 0) if row else 0, on_disk


if __name__ == "__main__":
    sys.exit(main())
