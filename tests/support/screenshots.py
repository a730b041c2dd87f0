"""The screenshots in docs/images/, taken again from the bundled sample: `make screenshots`.

Builds the sample into a temporary folder, serves it on 127.0.0.1 and photographs, in
Debian's chromium, the home page and the creator and prompt pages with the longest
history, on a desktop (1280 px) and a phone (390 px), light, and the creator page dark
on a phone. Prints each file it wrote."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from tests.support.browser import launch_chromium, serve_directory
from tests.support.paths import ROOT

OUT = ROOT / "docs" / "images"
SHOTS = (  # (file, page, width, scheme)
    ("home.png", "home", 1280, "light"),
    ("creator-desktop.png", "creator", 1280, "light"),
    ("creator-phone.png", "creator", 390, "light"),
    ("creator-phone-dark.png", "creator", 390, "dark"),
    ("prompt-desktop.png", "prompt", 1280, "light"),
    ("prompt-phone.png", "prompt", 390, "light"),
)


def build(work: Path) -> tuple[Path, dict[str, str]]:
    db, site = work / "sample.duckdb", work / "site"
    for args in (
        ["import", str(ROOT / "data" / "sample"), "--db", str(db)],
        ["render", "--db", str(db), "--out", str(site)],
    ):
        subprocess.run(
            [sys.executable, str(ROOT / "build.py"), *args], check=True, stdout=subprocess.DEVNULL
        )
    con = duckdb.connect(str(db), read_only=True)
    try:
        # The longest history, then the most followers: the charts have the most to show;
        # a profile picture, and a name that is not one of the sample's hostile ones.
        (creator,) = con.execute(
            """SELECT c.username FROM creators c JOIN creator_snapshots s ON s.creator_id = c.id
               WHERE coalesce(c.display_name, '') NOT LIKE '%<%'
                 AND c.id IN (SELECT owner_id FROM media WHERE owner_kind = 'creator')
               GROUP BY c.username ORDER BY count(*) DESC, max(s.follower_count) DESC,
               c.username LIMIT 1"""
        ).fetchone() or ("",)
        (post,) = con.execute(
            """SELECT p.id FROM posts p JOIN post_snapshots s ON s.post_id = p.id
               WHERE p.text <> '' AND p.text NOT LIKE '%<%'
                 AND p.id IN (SELECT owner_id FROM media WHERE owner_kind = 'post')
               GROUP BY p.id ORDER BY count(*) DESC, max(s.view_count) DESC,
               p.id LIMIT 1"""
        ).fetchone() or ("",)
    finally:
        con.close()
    return site, {"home": "/", "creator": f"/c/{creator}/", "prompt": f"/p/{post}/"}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sorastats-shots-") as tmp:
        site, urls = build(Path(tmp))
        with serve_directory(site) as base, launch_chromium() as browser:
            for name, page_key, width, scheme in SHOTS:
                context = browser.new_context(
                    # A phone shot shows two screens' worth: the header, numbers, charts.
                    viewport={"width": width, "height": 900 if width > 600 else 1500},
                    color_scheme="dark" if scheme == "dark" else "light",
                    device_scale_factor=1,
                )
                page = context.new_page()
                page.goto(base + urls[page_key], wait_until="networkidle")
                page.screenshot(path=str(OUT / name))
                context.close()
                print(f"{OUT / name}  ({urls[page_key]}, {width} px, {scheme})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
