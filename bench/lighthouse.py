#!/usr/bin/env python3
"""Lighthouse on the bundled sample site: the five page types a visitor reads, mobile
emulation (Lighthouse's default), in Debian's chromium, served locally by the dev
server as `make run` serves it. Each page runs twice, alternating: as built, and with
the site's one script (site.js, which carries the metrics beacon) blocked
(`--blocked-url-patterns`), so the script's cost shows as a difference in the same run.

    python -m bench.lighthouse [--runs 1]

Installs Lighthouse (npm `lighthouse@12.2.3`, Node 20) into bench/.cache/lighthouse if
missing. Prints each page's performance, accessibility, best-practices and SEO scores,
its render-blocking resources, requests and bytes transferred, and for the prompt page
each request and the HTML + CSS bytes (the budget: 6 requests, 30 KB, HTML + CSS 14 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "lighthouse"
LIGHTHOUSE = "lighthouse@12.2.3"
CHROMIUM = "/usr/bin/chromium"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
SITE_SCRIPT = "*/static/site.*.js"


def lighthouse_bin() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        print(f"installing {LIGHTHOUSE} into {CACHE} ...", flush=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), LIGHTHOUSE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_sample(work: Path) -> Path:
    db, site = work / "sample.duckdb", work / "site"
    py = sys.executable
    for args in (
        ["import", str(ROOT / "data" / "sample"), "--db", str(db)],
        ["render", "--db", str(db), "--out", str(site)],
    ):
        subprocess.run([py, str(ROOT / "build.py"), *args], check=True, stdout=subprocess.DEVNULL)
    return site


def serve(site: Path, work: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEV_MODE": "1"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api",
            "serve",
            "--site",
            str(site),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the dev server did not start")


def pages(site: Path) -> dict[str, str]:
    creators = sorted(p for p in (site / "c").iterdir() if (p / "index.html").exists())
    # A creator with a profile picture and videos with thumbnails, as most have.
    creator = next(
        (p.name for p in creators if 'class="avatar"' in (p / "index.html").read_text()),
        creators[0].name,
    )
    # The heavier prompt page: one with its archived thumbnail above the fold.
    posts = sorted(p for p in (site / "p").iterdir() if (p / "index.html").exists())
    post = next((p for p in posts if 'class="thumb"' in (p / "index.html").read_text()), posts[0])
    post_name = post.name
    return {
        "home": "/",
        "creator": f"/c/{creator}/",
        "prompt": f"/p/{post_name}/",
        "leaderboard": "/top/creators/followers/",
        "search": "/search/",
    }


def audit(binary: Path, url: str, out: Path, block_metrics: bool) -> dict[str, Any]:
    command = [
        str(binary), url, "--quiet", "--output=json", f"--output-path={out}",
        f"--chrome-path={CHROMIUM}", "--chrome-flags=--headless=new --no-sandbox",
        f"--only-categories={','.join(CATEGORIES)}",
    ]  # fmt: skip
    if block_metrics:
        command.append(f"--blocked-url-patterns={SITE_SCRIPT}")
    done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0 or not out.exists():
        # Lighthouse now and then fails to drive chromium on a loaded machine: say so, go on.
        raise AuditFailed(done.stderr.decode(errors="replace").strip().splitlines()[-1:])
    report: dict[str, Any] = json.loads(out.read_text())
    return report


class AuditFailed(Exception):
    pass


def summary(report: dict[str, Any]) -> dict[str, Any]:
    audits = report["audits"]
    blocking = audits.get("render-blocking-resources", {}).get("details", {}).get("items", [])
    requests = audits.get("network-requests", {}).get("details", {}).get("items", [])
    html_css = [r for r in requests if r.get("resourceType") in ("Document", "Stylesheet")]
    return {
        **{c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES},
        "blocking": [item["url"].rsplit("/", 1)[-1] for item in blocking],
        "requests": len(requests),
        "kib": sum(item.get("transferSize", 0) for item in requests) / 1024,
        "html_css_kib": sum(item.get("transferSize", 0) for item in html_css) / 1024,
        "each": [
            f"{r.get('resourceType', '?')} /{r['url'].split('/', 3)[-1]} {r.get('transferSize')} B"
            for r in requests
        ],
        "failing": sorted(
            key
            for key, a in audits.items()
            if a.get("scoreDisplayMode") == "binary" and a.get("score") == 0
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="rounds of each page")
    args = parser.parse_args()
    binary = lighthouse_bin()
    with tempfile.TemporaryDirectory(prefix="sorastats-lighthouse-") as tmp:
        work = Path(tmp)
        site = build_sample(work)
        port = free_port()
        server = serve(site, work, port)
        try:
            print(f"{'page':<12} {'variant':<16} perf a11y best  seo  req   KiB  blocking")
            for name, path in pages(site).items():
                for run in range(args.runs):
                    for blocked in (False, True):
                        out = work / f"{name}-{run}-{int(blocked)}.json"
                        try:
                            report = audit(binary, f"http://127.0.0.1:{port}{path}", out, blocked)
                        except AuditFailed as failed:
                            print(f"{name:<12} Lighthouse failed: {failed}", flush=True)
                            continue
                        s = summary(report)
                        variant = "script blocked" if blocked else "as built"
                        print(
                            f"{name:<12} {variant:<16} {s['performance']:>4} "
                            f"{s['accessibility']:>4} {s['best-practices']:>4} {s['seo']:>4} "
                            f"{s['requests']:>4} {s['kib']:>5.1f}  "
                            f"{', '.join(s['blocking']) or '-'}",
                            flush=True,
                        )
                        if s["failing"] and not blocked:
                            print(f"{'':<12} failing audits: {', '.join(s['failing'])}")
                        if name == "prompt" and not blocked and run == 0:
                            print(f"{'':<12} HTML + CSS {s['html_css_kib']:.1f} KiB; requests:")
                            for line in s["each"]:
                                print(f"{'':<14}{line}")
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
