#!/usr/bin/env python3
"""Deploy benchmark: renders the POSTS-post site (the render bench's cached database), starts
moto's S3 server on 127.0.0.1 and deploys to it with `build.py deploy` in a child process:
objects/s of the first deploy, seconds of a no-change deploy and of a deploy after 1% of
posts changed, and the client's peak RSS and CPU (moto's own CPU is not counted: on a real
store the server is someone else's machine).

    .venv/bin/python -m bench.deploy --posts 100000 --creators 20000   # the target size
    .venv/bin/python -m bench.deploy --posts 10000 --creators 2000     # a quick check
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

from bench.render import add_site_size_options, cached_db, run_build
from sorastats.deploy.deploy import scan
from tests.support.s3_server import moto_server
from tests.support.sitedata import touch_posts

ROOT = Path(__file__).resolve().parents[1]


# `build.py deploy`, then its own peak RSS. Not the child's ru_maxrss from wait4: a child
# started by vfork and exec inherits the parent's high-water mark in that figure (it read
# 303 MiB, this bench's own size, for every deploy); VmHWM belongs to the new program.
CHILD = """
import sys
from sorastats.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(f"VmHWM {hwm.split()[1]}", file=sys.stderr)
sys.exit(code)
"""


def run_deploy(label: str, site: Path, to: str, url: str, env: dict[str, str]) -> float:
    argv = [sys.executable, "-c", CHILD, "deploy", "--out", str(site), "--to", to,
            "--endpoint-url", url]  # fmt: skip
    t0, before = time.perf_counter(), _children_cpu()
    proc = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    out, err = proc.communicate()
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - before
    if proc.returncode != 0:
        sys.exit(f"{label} failed: {out}{err}")
    hwm = int(err.rsplit("VmHWM ", 1)[1].split()[0]) / 1024
    print(
        f"{label:>10}: {seconds:7.1f} s | client CPU {cpu:6.1f} s | peak RSS {hwm:5.0f} MiB | "
        f"{out.strip()}",
        flush=True,
    )
    return seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_site_size_options(ap)
    ap.add_argument("--change", type=float, default=0.01, help="fraction of posts changed")
    ap.add_argument("--dir", type=Path, default=None, help="where to build (default: system temp)")
    args = ap.parse_args()

    source = cached_db(args.posts, args.creators, args.days, "sql")
    with tempfile.TemporaryDirectory(prefix="sorastats-bench-", dir=args.dir) as tmp:
        db = Path(tmp) / "bench.duckdb"
        shutil.copy(source, db)
        site = Path(tmp) / "site"
        run_build("render", db, site, 2)
        objects = len(scan(site))
        with moto_server() as s3:
            s3.client().create_bucket(Bucket="bench")
            to, env = "s3://bench/www", s3.env()
            first = run_deploy("first", site, to, s3.url, env)
            print(f"first deploy: {objects / first:,.0f} objects/s ({objects:,} objects)")
            same = run_deploy("no-change", site, to, s3.url, env)
            touched = touch_posts(db, args.change)
            run_build("1% render", db, site, 2)
            print(f"changed the view counter of {touched:,} posts")
            delta = run_deploy("1% change", site, to, s3.url, env)
        print(
            f"summary: first {objects / first:,.0f} objects/s; no-change {same:.1f} s "
            f"(target < 5 s); 1% change {delta:.1f} s"
        )


if __name__ == "__main__":
    main()
