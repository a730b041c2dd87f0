#!/usr/bin/env python3
"""Render benchmark: synthesizes POSTS posts by CREATORS creators with DAYS daily snapshots
(cached under bench/.cache/), then times full builds alternating with Hugo's bare build of
an equivalent site from the same database (`--hugo-rounds` rounds of each; see
bench/hugo.py), a no-change rebuild and rebuilds after 1% of posts changed. Each build
runs in its own process so peak RSS is its own.

    .venv/bin/python -m bench.render --posts 100000 --creators 20000      # the target size
    .venv/bin/python -m bench.render --posts 10000 --creators 2000        # a quick check
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import hugo
from sorastats.run import default_captures_dir
from tests.support.sitedata import add_images, synth, touch_posts

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
cfg = RenderConfig(db=Path(sys.argv[1]), out=Path(sys.argv[2]), jobs=int(sys.argv[3]),
                   base_url="https://sorastats.example",
                   captures=Path(sys.argv[4]) if sys.argv[4] else None)
r = render_site(cfg, log=lambda m: print(m, file=sys.stderr, flush=True))
d = asdict(r); d.pop("deleted_paths"); d["pages_per_second"] = r.pages_per_second
print(json.dumps(d))
"""


def cached_db(posts: int, creators: int, days: int, source: str, images: int = 0) -> Path:
    """`sql`: every post and creator snapshotted every day, written straight into DuckDB
    (the dense worst case). `ingest`: `build.py synth` capture files through `build.py
    import` (sparser, like real captures)."""
    cache = ROOT / "bench" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    with_images = f"-img{images}" if images else ""
    path = cache / f"site-{source}-{posts}-{creators}-{days}{with_images}.duckdb"
    if not path.exists():
        t0 = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        if source == "sql":
            synth(tmp, posts, creators, days)
        else:
            feed = cache / f"feed-{posts}-{creators}-{days}"
            build = [sys.executable, str(ROOT / "build.py")]
            if not feed.exists():
                subprocess.run(
                    [*build, "synth", "--posts", str(posts), "--creators", str(creators),
                     "--days", str(days), "--out", str(feed)],
                    check=True,
                )  # fmt: skip
            subprocess.run([*build, "import", "--db", str(tmp), str(feed)], check=True)
        if images and source == "sql":
            made = add_images(tmp, every=images)
            print(f"added {made:,} images (one post and creator in {images})")
        tmp.rename(path)
        if images and source == "sql":
            default_captures_dir(tmp).rename(default_captures_dir(path))
        print(f"synthesized {posts:,} posts in {time.perf_counter() - t0:.1f} s -> {path}")
    return path


def run_build(
    label: str, db: Path, out: Path, jobs: int, captures: Path | None = None
) -> dict[str, Any]:
    """One build in a process of its own; its report, with the process's wall seconds
    (`process_seconds`) and CPU seconds (`process_cpu_seconds`: it, the programs it ran and
    its render processes) added."""
    cmd = [sys.executable, "-c", CHILD, str(db), str(out), str(jobs), str(captures or "")]
    timed, stdout, _err = hugo.run_timed(cmd, cwd=ROOT)
    r: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    r["process_seconds"] = timed.wall
    r["process_cpu_seconds"] = timed.cpu + r["worker_cpu_seconds"]
    print(
        f"{label:>10}: {r['total_seconds']:7.1f} s total ({timed.wall:.1f} s process, "
        f"{r['process_cpu_seconds']:.1f} CPU s) | {r['written']:>8,} written "
        f"{r['unchanged']:>8,} unchanged {r['deleted']:>5,} deleted | render+write "
        f"{r['pages_per_second']:6,.0f} pages/s ({r['render_seconds']:.1f} s) | search "
        f"{r['search_seconds']:5.1f} s | compress {r['compress_seconds']:5.1f} CPU s | peak RSS "
        f"main {r['peak_rss_mib']:.0f} MiB, worker {r['worker_peak_rss_mib']:.0f} MiB, "
        f"Pagefind {r['search_peak_rss_mib']:.0f} MiB | images {r['images_encoded']:,} encoded "
        f"({r['image_cpu_seconds']:.1f} CPU s)",
        flush=True,
    )
    if phases := r.get("phase_seconds"):
        print("            phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    return r


def remove_site(out: Path) -> None:
    """A site folder and everything beside it a build keeps (`.new`, `.prev`, `.cache`)."""
    for suffix in ("", ".new", ".prev", ".cache"):
        shutil.rmtree(out.with_name(out.name + suffix), ignore_errors=True)


def versus_hugo(
    db: Path, out: Path, jobs: int, captures: Path | None, rounds: int
) -> dict[str, Any]:
    """Full builds of the project into `out` and bare Hugo builds of the same pages beside
    it, alternated; returns the last full build's report (its site stays in `out`)."""
    tmp = out.parent
    exe = hugo.hugo_binary()
    t0 = time.perf_counter()
    source = tmp / "hugo-site"
    pages = hugo.write_site(db, source)
    print(f"hugo: wrote {pages:,} content pages in {time.perf_counter() - t0:.1f} s "
          f"(Hugo {hugo.HUGO_VERSION}, {exe})", flush=True)  # fmt: skip
    ours: list[dict[str, Any]] = []
    theirs: list[hugo.Timed] = []
    hugo_out = tmp / "hugo-public"
    for n in range(1, rounds + 1):
        remove_site(out)
        ours.append(run_build(f"full #{n}", db, out, jobs, captures))
        theirs.append(hugo.build(exe, source, hugo_out))
        files = sum(1 for p in hugo_out.rglob("*") if p.is_file())
        h = theirs[-1]
        print(
            f"{'hugo #' + str(n):>10}: {h.wall:7.1f} s wall, {h.cpu:.1f} CPU s, peak RSS "
            f"{h.peak_rss_mib:,.0f} MiB, {files:,} files | ratio (ours / Hugo) "
            f"{ours[-1]['process_seconds'] / h.wall:.2f} wall, "
            f"{ours[-1]['process_cpu_seconds'] / h.cpu:.2f} CPU",
            flush=True,
        )
        shutil.rmtree(hugo_out, ignore_errors=True)
    shutil.rmtree(source, ignore_errors=True)
    wall = statistics.median(r["process_seconds"] for r in ours)
    cpu = statistics.median(r["process_cpu_seconds"] for r in ours)
    rss = max(
        max(r["peak_rss_mib"], r["worker_peak_rss_mib"], r["search_peak_rss_mib"]) for r in ours
    )
    h_wall = statistics.median(h.wall for h in theirs)
    h_cpu = statistics.median(h.cpu for h in theirs)
    h_rss = max(h.peak_rss_mib for h in theirs)
    print(
        f"versus Hugo (medians of {rounds}): ours {wall:.1f} s wall, {cpu:.1f} CPU s, "
        f"largest process {rss:.0f} MiB | Hugo {h_wall:.1f} s wall, {h_cpu:.1f} CPU s, "
        f"{h_rss:,.0f} MiB | ratio {wall / h_wall:.2f} wall (target < 1.0), "
        f"{cpu / h_cpu:.2f} CPU, {rss / h_rss:.2f} RSS",
        flush=True,
    )
    return ours[-1]


def add_site_size_options(ap: argparse.ArgumentParser) -> None:
    """The synthetic site's size, as every benchmark of a whole site takes it."""
    ap.add_argument("--posts", type=int, default=100_000)
    ap.add_argument("--creators", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=30)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_site_size_options(ap)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--change", type=float, default=0.01, help="fraction of posts changed")
    ap.add_argument("--source", choices=("sql", "ingest"), default="sql", help="data generator")
    ap.add_argument("--dir", type=Path, default=None, help="where to build (default: system temp)")
    ap.add_argument(
        "--images",
        type=int,
        default=8,
        help="one post and one creator in N get an image (160 px WebP; 0: none; sql only)",
    )
    ap.add_argument(
        "--hugo-rounds",
        type=int,
        default=2,
        help="full builds of ours and of Hugo's, alternated, before the rebuilds (0: no Hugo)",
    )
    args = ap.parse_args()

    source = cached_db(args.posts, args.creators, args.days, args.source, args.images)
    # The images stay in the cached database's archive; the builds read them from there.
    captures = default_captures_dir(source)
    with tempfile.TemporaryDirectory(prefix="sorastats-bench-", dir=args.dir) as tmp:
        db = Path(tmp) / "bench.duckdb"
        shutil.copy(source, db)
        out = Path(tmp) / "site"
        if args.hugo_rounds > 0:
            full = versus_hugo(db, out, args.jobs, captures, args.hugo_rounds)
        else:
            full = run_build("full", db, out, args.jobs, captures)
        same = run_build("no-change", db, out, args.jobs, captures)
        touched = touch_posts(db, args.change)
        print(f"changed the view counter of {touched:,} posts (first change: links the live tree)")
        run_build("1% change", db, out, args.jobs, captures)
        touched = touch_posts(db, args.change)
        print(f"changed {touched:,} posts again (steady state: recycles the previous tree)")
        delta = run_build("1% again", db, out, args.jobs, captures)
        files = sum(1 for p in out.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"site: {files:,} files, {size / 2**20:,.0f} MiB (with .gz/.br siblings)")
        print(
            f"ratios: no-change {same['total_seconds']:.1f} s (target < 10 s); 1% change "
            f"{100 * delta['total_seconds'] / full['total_seconds']:.1f}% of full (target < 5%)"
        )


if __name__ == "__main__":
    main()
