#!/usr/bin/env python3
"""Screener benchmark: the synthetic set of POSTS posts (bench/render.py's `cached_db`,
every post snapshotted every day) made into the part of a site the screener reads (the
aggregates of a real build, the four /data/ Parquet files written by the build's own
`opendata.write`, the /screener/ page and the assets; not the 100,000s of other pages,
which bench/render.py times), served by the dev server as `make run` serves it
(`python -m api serve --site`, Range requests included), and /screener/ driven in
Debian's chromium.

    .venv/bin/python -m bench.screener --posts 100000            # 20,000 creators
    .venv/bin/python -m bench.screener --posts 1000000 --runs 1

For each table (creators, videos) a cold browser (a new chromium, empty cache) opens the
page and the first result is timed from navigation start; then, in the same page, a set
of later screens (filters, a sort, a text search, a later page) each timed from the
moment it is asked to the moment its rows are on the page. Also printed: the Open data
files' sizes, the build's seconds, and the bytes transferred (engine vs data).
Targets (docs/performance.md): first result under 2 s at 1,000,000 posts, each later query
under 500 ms."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
from playwright.sync_api import Page, sync_playwright

from bench.render import cached_db
from sorastats.site import model, opendata, worker
from sorastats.site.builder import open_db, raw_pages
from sorastats.site.config import RenderConfig
from sorastats.site.templating import asset_map, make_env
from sorastats.site.writer import write_output
from sorastats.tempdirs import owned_tempdir
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]

LATER: dict[str, list[str]] = {
    "posts": [
        "t=posts&f=view_count.gte.100000&f=orientation.is.portrait&s=views_7d&d=desc",
        "t=posts&f=views_7d.gte.1000&f=has_prompt.is.true&s=like_count&d=desc",
        "t=posts&f=posted_at.from.2025-10-25&s=posted_at&d=desc",
        "t=posts&f=view_count.gte.100000&f=orientation.is.portrait&s=views_7d&d=desc&p=5",
        "t=posts&f=prompt.has.dragon&s=view_count&d=desc",
    ],
    "creators": [
        "t=creators&f=followers_30d.gte.100&s=followers_30d&d=desc",
        "t=creators&f=verified.is.true&f=follower_count.gte.1000&s=likes_received_count&d=asc",
        "t=creators&f=username.has.99&s=follower_count&d=desc",
        "t=creators&f=followers_30d.gte.100&s=followers_30d&d=desc&p=3",
    ],
}


def build_screener_site(db: Path, out: Path) -> dict[str, float]:
    """The screener's part of a site (see the module docstring); CPU and wall seconds of
    the aggregates and of writing each Parquet file."""
    cfg = RenderConfig(db=db, out=out, base_url="https://sorastats.example", jobs=1)
    spill = owned_tempdir("sorastats-bench-")
    con = open_db(db, spill)
    times: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        model.prepare(con, cfg)
        times["aggregates"] = time.perf_counter() - t0
        summaries = []
        for ds in opendata.DATASETS:
            t0 = time.perf_counter()
            summaries.append(opendata.summarize(con, ds))
            times[f"digest {ds.name}"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            opendata.write(con, ds, out)
            times[f"write {ds.name}"] = time.perf_counter() - t0
        info = model.site_info(con)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    assets = asset_map(cfg.templates / "static")
    env = make_env(cfg.templates, cfg.base_url, assets)
    for page in [*raw_pages(cfg, assets), *opendata.pages(summaries, info)]:
        write_output(out, page.rel, worker.render_one(env, page.rel, page.template, page.doc))
    return times


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(site: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DEV_MODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--site", str(site), "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the dev server did not start")


def wait_ready(page: Page, count: int, timeout: float = 120.0) -> None:
    """Until the page has run `count` queries and shows their rows (no eval: the CSP)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(
            "() => [window.__screener ? window.__screener.queries.length : 0,"
            " document.getElementById('screen-status').dataset.kind || '',"
            " document.getElementById('screen-status').textContent]"
        )
        if state[1] == "error":
            sys.exit(f"the screener failed: {state[2]}")
        if state[0] >= count:
            return
        time.sleep(0.01)
    sys.exit("timed out waiting for the screener")


def one_run(base: str, table: str) -> dict[str, Any]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            sizes: list[tuple[str, int]] = []

            def finished(request: Any) -> None:
                s = request.sizes()
                sizes.append((request.url, s["responseBodySize"] + s["responseHeadersSize"]))

            page.on("requestfinished", finished)
            page.goto(f"{base}/screener/?t={table}")
            wait_ready(page, 1)  # the first page of rows is on the page
            first = page.evaluate("() => window.__screener.first")
            marks = page.evaluate("() => window.__screener.marks")
            wait_ready(page, 2)  # and its count
            boot = sum(n for _, n in sizes)
            data_first = sum(n for u, n in sizes if "/data/" in u)
            later: list[float] = []
            for query in LATER[table]:
                before = page.evaluate("() => window.__screener.queries.length")
                t0 = time.perf_counter()
                page.evaluate(
                    "(q) => { history.pushState(null, '', '?' + q);"
                    " dispatchEvent(new PopStateEvent('popstate')); }",
                    query,
                )
                wait_ready(page, before + 1)  # the page of rows (the count follows)
                later.append((time.perf_counter() - t0) * 1000)
                wait_ready(page, before + 2)
            page.wait_for_timeout(200)
            return {
                "first_ms": float(first),
                "marks": {k: float(v) for k, v in marks.items()},
                "later_ms": later,
                "boot_bytes": boot,
                "first_data_bytes": data_first,
                "total_bytes": sum(n for _, n in sizes),
                "data_bytes": sum(n for u, n in sizes if "/data/" in u),
                "requests": len(sizes),
            }
        finally:
            browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=100_000)
    ap.add_argument("--creators", type=int, default=0, help="default: posts / 5")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    creators = args.creators or args.posts // 5
    db = cached_db(args.posts, creators, args.days, "sql")
    site = ROOT / "bench" / ".cache" / f"screener-site-{args.posts}"
    times = build_screener_site(db, site)
    print("build: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    con = duckdb.connect()
    for f in sorted((site / "data").glob("*.parquet")):
        row = con.execute(
            "SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)", [str(f)]
        ).fetchone()
        groups = int(row[0]) if row else 0
        print(f"  /data/{f.name}: {f.stat().st_size / 1e6:8.2f} MB, {groups} row groups")
    proc, base = serve(site)
    try:
        for table in ("creators", "posts"):
            runs = [one_run(base, table) for _ in range(args.runs)]
            firsts = [r["first_ms"] for r in runs]
            later = [ms for r in runs for ms in r["later_ms"]]
            r = runs[-1]
            print(
                f"{table:>8}: first result {statistics.median(firsts):6.0f} ms "
                f"(runs {', '.join(f'{x:.0f}' for x in firsts)}) | later queries median "
                f"{statistics.median(later):5.0f} ms, max {max(later):5.0f} ms "
                f"({', '.join(f'{x:.0f}' for x in r['later_ms'])}) | to first result "
                f"{r['boot_bytes'] / 1e6:.1f} MB ({r['first_data_bytes'] / 1e6:.2f} MB data) | "
                f"whole session {r['total_bytes'] / 1e6:.1f} MB ({r['data_bytes'] / 1e6:.2f} MB "
                f"data, {r['requests']} requests)"
            )
            print(
                "          first run, ms since navigation: "
                + ", ".join(f"{k} {v:.0f}" for k, v in r["marks"].items())
                + f", first rows {r['first_ms']:.0f}"
            )
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
