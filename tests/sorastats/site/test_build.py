"""Build real sites from real DuckDB files and read them back with an HTML parser."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

from sorastats import db
from sorastats.site.builder import RenderError, RenderReport, SiteBuild, render_site
from sorastats.site.check import check_site
from sorastats.site.config import RenderConfig
from sorastats.site.manifest import read_manifest
from sorastats.site.publish import PublishError, SiteDirs, rollback
from tests.support import sitedata
from tests.support.html import load, visible_text

# End-to-end tier (make test): whole site builds.
pytestmark = pytest.mark.e2e

BASE = "https://sorastats.example"
ATOM = "{http://www.w3.org/2005/Atom}"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
ALICE = "user-alice0000000000000000000"


def build(
    dbp: Path,
    out: Path,
    *,
    search: bool = False,
    jobs: int = 1,
    full: bool = RenderConfig.full,
    sitemap_max_urls: int = RenderConfig.sitemap_max_urls,
) -> RenderReport:
    """Render quietly, one job; without Pagefind unless the test asks for `search=True`."""
    cfg = RenderConfig(
        db=dbp,
        out=out,
        base_url=BASE,
        jobs=jobs,
        full=full,
        search=search,
        sitemap_max_urls=sitemap_max_urls,
    )
    return render_site(cfg, log=lambda _m: None)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hand")
    dbp = sitedata.hand_made(tmp / "h.duckdb")
    report = build(dbp, tmp / "site", sitemap_max_urls=10, jobs=2, search=True)
    assert report.published and report.written == report.pages
    return tmp / "site"


def page(site: Path, url: str) -> Path:
    return site / url.lstrip("/") / "index.html"


def test_creator_counters_gains_and_ranks(site: Path) -> None:
    doc = load(page(site, "/c/alice/"))
    assert doc.find("td", data_counter="followers").text == "1,000"
    assert doc.find("td", data_gain="followers-7").text.strip() == "+100"
    rows = {
        r.find("th").text: [td.text.strip() for td in r.find_all("td")]
        for r in doc.find_all("tr")[1:4]
    }
    assert rows["Followers"] == ["1,000", "+10", "+100", "+400"]
    assert rows["Likes received"] == ["5,000", "+100", "+500", "+2,000"]
    ranks = visible_text(doc.find("ul", class_="inline-stats ranks"))
    assert re.search(r"Followers\s*: #1\b", ranks)
    assert doc.find("link", rel="canonical").attrs["href"] == f"{BASE}/c/alice/"
    # charts come with a text summary and a data table
    captions = [f.text for f in doc.find_all("figcaption")]
    assert any(
        c.startswith("Followers: 600 on Sep 30, 2025 to 1,000 on Oct 30, 2025 (+400)")
        for c in captions
    )
    assert doc.find_all("table")[1:]


def test_creator_videos_are_paginated(site: Path) -> None:
    first = load(page(site, "/c/alice/"))
    second = load(page(site, "/c/alice/page/2/"))
    n1 = len(first.find("ul", class_="cards").find_all("li"))
    n2 = len(second.find("ul", class_="cards").find_all("li"))
    assert (n1, n2) == (24, 8)  # 32 public videos
    assert first.find("a", rel="next").attrs["href"] == "/c/alice/page/2/"
    assert not (site / "c/alice/page/3").exists()


def test_hostile_prompt_is_text(site: Path) -> None:
    path = page(site, f"/p/{sitedata.pid(100)}/")
    doc = load(path)
    assert doc.find("pre", id="prompt").text == sitedata.HOSTILE_PROMPT
    scripts = doc.find_all("script")
    assert {s.attrs.get("type") for s in scripts} == {"application/ld+json", "module"}
    assert not doc.find_all("img")
    for n in doc.iter():
        for attr in ("href", "src"):
            assert not n.attrs.get(attr, "").lower().startswith("javascript"), n
    # No image archived: og:image is the site's own placeholder, never the post's text.
    (og,) = doc.find_all("meta", property="og:image")
    assert og.attrs["content"] == "https://sorastats.example/media/placeholder-og.png"
    raw = path.read_text("utf-8")
    assert "<script>alert" not in raw and "<img" not in raw


def test_hostile_creator_fields_are_text(site: Path) -> None:
    doc = load(page(site, "/c/bob/"))
    assert '<script>alert("bob")</script>' in doc.find("h1").text
    assert not [a for a in doc.find_all("a") if a.attrs.get("href", "").startswith("javascript")]


def test_prompt_page_details(site: Path) -> None:
    doc = load(page(site, f"/p/{sitedata.pid(0)}/"))
    assert doc.find("pre", id="prompt").text == "A calm lake at dawn, take 0"
    assert doc.find("button", data_copy="#prompt")
    # Sora's image hosts no longer answer: never linked; no image archived, the placeholder.
    og = doc.find("meta", property="og:image").attrs["content"]
    assert og == "https://sorastats.example/media/placeholder-og.png"
    assert doc.find("meta", name="twitter:card").attrs["content"] == "summary_large_image"
    text = visible_text(doc)
    assert "Remixes (1)" in text and "@bob" in text
    assert doc.find("script", type="application/ld+json").text.count('"VideoObject"') == 1
    remix = load(page(site, f"/p/{sitedata.pid(102)}/"))
    rtext = visible_text(remix)
    assert "Remix of" in rtext and "Same prompt (1 other videos)" in rtext
    assert any(a.attrs.get("href") == f"/p/{sitedata.pid(103)}/" for a in remix.find_all("a"))
    assert "@alice" in rtext  # cameo
    similar = visible_text(load(page(site, f"/p/{sitedata.pid(104)}/")))
    assert "Similar prompts" in similar and "Glacier melting" in similar


def test_empty_prompt_says_not_shared(site: Path) -> None:
    doc = load(page(site, f"/p/{sitedata.pid(101)}/"))
    assert "Prompt not shared by the creator." in visible_text(doc)
    assert not doc.find_all("pre", id="prompt")


def test_renamed_creator_redirects(site: Path) -> None:
    doc = load(page(site, "/c/old_bob/"))
    assert doc.find("meta", http_equiv="refresh").attrs["content"] == "0; url=/c/bob/"
    assert doc.find("link", rel="canonical").attrs["href"] == f"{BASE}/c/bob/"


def test_no_page_says_none_or_null(site: Path) -> None:
    for path in site.rglob("*.html"):
        if "pagefind" in path.parts:
            continue
        text = visible_text(load(path))
        assert not re.search(r"\b(None|null|undefined|nan)\b", text), path


def test_feeds_are_valid_atom(site: Path) -> None:
    for rel in ("feed.xml", "c/alice/feed.xml"):
        root = ET.parse(site / rel).getroot()
        assert root.tag == f"{ATOM}feed"
        entries = root.findall(f"{ATOM}entry")
        assert 0 < len(entries) <= 50
        for e in entries:
            assert e.findtext(f"{ATOM}id", "").startswith(BASE + "/p/")
            updated = e.findtext(f"{ATOM}updated")
            assert updated is not None
            datetime.fromisoformat(updated.replace("Z", "+00:00"))
    alice = ET.parse(site / "c/alice/feed.xml").getroot().findall(f"{ATOM}entry")
    assert len(alice) == 20  # capped


def _sitemap_urls(site: Path) -> list[str]:
    index = ET.parse(site / "sitemap.xml").getroot()
    urls: list[str] = []
    for loc in index.iter(f"{SM}loc"):
        assert loc.text is not None
        sitemap = ET.parse(site / loc.text.removeprefix(BASE + "/")).getroot()
        urls += [u.text or "" for u in sitemap.iter(f"{SM}loc")]
    return urls


def test_sitemaps_are_split_and_complete(site: Path) -> None:
    index = ET.parse(site / "sitemap.xml").getroot()
    maps = [m.text for m in index.iter(f"{SM}loc")]
    assert len(maps) > 1
    listed: list[str] = []
    for loc in maps:
        assert loc is not None and loc.startswith(BASE + "/sitemap-")
        urls = [
            u.text for u in ET.parse(site / loc.removeprefix(BASE + "/")).getroot().iter(f"{SM}loc")
        ]
        assert 0 < len(urls) <= 10
        listed += [u for u in urls if u]
    assert len(listed) == len(set(listed))
    assert f"{BASE}/c/alice/" in listed and f"{BASE}/p/{sitedata.pid(0)}/" in listed
    assert f"{BASE}/c/old_bob/" not in listed
    assert f"Sitemap: {BASE}/sitemap.xml" in (site / "robots.txt").read_text()


def test_pages_have_precompressed_siblings(site: Path) -> None:
    import gzip

    import brotli

    html = page(site, "/c/alice/")
    data = html.read_bytes()
    assert gzip.decompress(html.with_name("index.html.gz").read_bytes()) == data
    assert brotli.decompress(html.with_name("index.html.br").read_bytes()) == data
    css = next((site / "static").glob("site.*.css"))
    assert re.fullmatch(r"site\.[0-9a-f]{10}\.css", css.name)
    assert css.with_name(css.name + ".br").exists()


def test_privacy_and_content_pages(site: Path) -> None:
    privacy = visible_text(load(page(site, "/privacy/")))
    assert "Last updated: December 7, 2026" in privacy
    for n in range(1, 12):
        assert f"{n}. " in privacy
    for promise in ("AES-256-GCM", "do not", "train AI models", "sell", "private by default"):
        assert promise in privacy
    for url in ("/terms/", "/about/", "/about/ranking/", "/search/", "/top/"):
        assert page(site, url).exists()
    assert (site / "404.html").exists()


def test_leaderboards(site: Path) -> None:
    doc = load(page(site, "/top/creators/followers/"))
    first = doc.find("tbody").find_all("tr")[0]
    assert first.find_all("td")[0].text == "1" and "@alice" in first.text
    views = load(page(site, "/top/videos/views-all/"))
    assert "Neon koi" in views.find("tbody").find_all("tr")[0].text or views.find("tbody")


def test_search_index_is_built(site: Path) -> None:
    assert (site / "pagefind" / "pagefind.js").exists()
    assert (site / "pagefind" / "pagefind-ui.js.br").exists()


def test_check_finds_no_problems(site: Path) -> None:
    checked, problems = check_site(site, BASE)
    assert checked > 40 and problems == []


def test_check_reports_broken_things(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><title>t</title><link rel="canonical" href="https://else.example/">'
        '<script src="https://cdn.example/x.js"></script></head>'
        '<body><a href="/missing/">x</a><a href="javascript:alert(1)">y</a></body></html>'
    )
    (tmp_path / "bad.xml").write_text("<a><b></a>")
    _, problems = check_site(tmp_path, BASE)
    text = "\n".join(problems)
    for needle in (
        "no meta description",
        "not under",
        "another host",
        "broken link",
        "javascript",
        "XML does not parse",
    ):
        assert needle in text


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (
                st.st_ino,
                st.st_mtime_ns,
                hashlib.sha1(p.read_bytes()).hexdigest(),
            )
    return out


def test_incremental_rebuilds_tombstones_and_rollback(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    first = build(dbp, out)
    before = _snapshot(out)

    same = build(dbp, out)
    assert (same.written, same.deleted, same.published) == (0, 0, False)
    assert same.unchanged == first.pages
    assert _snapshot(out) == before

    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 999999 WHERE id = ?", [sitedata.pid(3)])
    con.execute("INSERT INTO tombstones VALUES (?, now())", [sitedata.pid(7)])
    con.close()
    second = build(dbp, out)
    assert second.published and 0 < second.written < first.pages
    assert second.deleted_paths == [f"p/{sitedata.pid(7)}/index.html"]
    after = _snapshot(out)
    changed = f"p/{sitedata.pid(3)}/index.html"
    untouched = f"p/{sitedata.pid(104)}/index.html"
    assert after[changed][0] != before[changed][0] and "999,999" in (out / changed).read_text()
    assert after[untouched] == before[untouched]  # same inode, same mtime: never rewritten
    assert not (out / f"p/{sitedata.pid(7)}").exists()
    assert not any(sitedata.pid(7) in k for k in after)  # nor its .gz/.br, nor any link
    assert sitedata.pid(7) not in (out / "c/alice/index.html").read_text()
    assert f"{BASE}/p/{sitedata.pid(7)}/" not in _sitemap_urls(out)  # the sitemap changed
    assert f"{BASE}/p/{sitedata.pid(8)}/" in _sitemap_urls(out)

    # a third build recycles the previous tree; unchanged pages still keep their inode
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 5 WHERE id = ?", [sitedata.pid(4)])
    con.close()
    third = build(dbp, out)
    assert third.published
    final = _snapshot(out)
    assert final[untouched] == before[untouched]
    assert final[changed][2] == after[changed][2]
    assert read_manifest(out) is not None

    rollback(SiteDirs(out))
    assert "999,999" in (out / changed).read_text()
    # live is the second build again; the third (views of pid(4) changed) is the previous
    p4 = f"p/{sitedata.pid(4)}/index.html"
    assert (out / p4).read_bytes() != (tmp_path / "site.prev" / p4).read_bytes()


def test_full_rebuild_rewrites_everything(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    first = build(dbp, out)
    again = build(dbp, out, full=True)
    assert again.written == first.pages and again.published


def test_rollback_without_previous_site_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="no previous site"):
        rollback(SiteDirs(tmp_path / "site"))


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no database"):
        build(tmp_path / "nope.duckdb", tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_colliding_usernames_get_distinct_pages(tmp_path: Path) -> None:
    dbp = tmp_path / "d.duckdb"
    con = db.connect(dbp)
    sitedata.add_creator(con, "user-a", "dup")
    sitedata.add_creator(con, "user-b", "DUP", last_seen_at=datetime(2020, 1, 1))
    con.close()
    build(dbp, tmp_path / "site")
    assert (tmp_path / "site/c/dup/index.html").exists()
    assert (tmp_path / "site/c/u-user-b/index.html").exists()


def test_empty_database_builds_a_valid_site(tmp_path: Path) -> None:
    dbp = tmp_path / "e.duckdb"
    db.connect(dbp).close()
    report = build(dbp, tmp_path / "site")
    assert report.published
    _, problems = check_site(tmp_path / "site", BASE)
    assert problems == []
    assert os.path.exists(tmp_path / "site/index.html")


def _bundle_pages(site: Path, bundle: str) -> int:
    """How many pages a built Pagefind bundle indexed."""
    import json

    entry = json.loads((site / bundle / "pagefind-entry.json").read_text())
    return int(entry["languages"]["en"]["page_count"])


def test_search_is_sharded_and_only_changed_shards_are_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from sorastats.site import search

    monkeypatch.setattr(search, "POSTS_PER_SHARD", 10)  # 36 posts -> 4 shards
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out, search=True)
    bundles = sorted(p.name for p in out.glob("pagefind*"))
    assert bundles == ["pagefind", "pagefind-1", "pagefind-2", "pagefind-3", "pagefind-4"]
    counts = {b: _bundle_pages(out, b) for b in bundles}
    assert sum(v for k, v in counts.items() if k != "pagefind") == len(list((out / "p").iterdir()))
    merge = load(page(out, "/search/")).find("div", id="search").attrs["data-merge"]
    assert json.loads(merge) == ["/pagefind-1/", "/pagefind-2/", "/pagefind-3/", "/pagefind-4/"]

    inodes = {b: (out / b / "pagefind-entry.json").stat().st_ino for b in bundles}
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = 'A brand new prompt' WHERE id = ?", [sitedata.pid(3)])
    con.close()
    report = build(dbp, out, search=True)
    assert report.search_rebuilt
    changed = [b for b in bundles if (out / b / "pagefind-entry.json").stat().st_ino != inodes[b]]
    assert changed == ["pagefind-1"]  # pid(3) ends in '3': the first shard only


def test_damaged_live_site_is_repaired_or_reported(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out)
    con = db.connect(dbp)
    con.execute("UPDATE creators SET follower_count = 1 WHERE username = 'carol'")
    con.close()
    # a live page deleted by hand after the first change is seen: rendered again
    (out / "c/alice/index.html").unlink()
    assert build(dbp, out).published
    assert (out / "c/alice/index.html").exists()
    # a file missing from the live tree and from the previous one: rendered again as well
    con = db.connect(dbp)
    con.execute("UPDATE creators SET follower_count = 2 WHERE username = 'carol'")
    con.close()
    css = next((out / "static").glob("site.*.css"))
    body = css.read_bytes()
    css.unlink()
    (tmp_path / "site.prev/static" / css.name).unlink()  # gone from the previous tree too
    report = build(dbp, out)
    assert report.published and report.written + report.unchanged == report.pages
    assert css.read_bytes() == body
    assert (out / "static" / (css.name + ".br")).exists()
    _, problems = check_site(out, BASE)
    assert problems == []


def test_binary_assets_pass_through_unchanged(tmp_path: Path) -> None:
    import shutil

    from sorastats.files import site_file

    templates = tmp_path / "templates"
    shutil.copytree(site_file("templates"), templates)
    blob = bytes(range(256)) * 4
    (templates / "static" / "icon.png").write_bytes(blob)
    (templates / "static" / "account.js").write_text("export const hello = 'é';\n")
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    render_site(
        RenderConfig(
            db=dbp, out=tmp_path / "site", base_url=BASE, jobs=1, templates=templates, search=False
        ),
        log=lambda _m: None,
    )
    (icon,) = (tmp_path / "site/static").glob("icon.*.png")
    assert icon.read_bytes() == blob and not icon.with_name(icon.name + ".br").exists()
    (module,) = (tmp_path / "site/static").glob("account.*.js")
    assert module.read_text("utf-8") == "export const hello = 'é';\n"


def test_pagefind_failure_is_a_clear_error(tmp_path: Path) -> None:
    from sorastats.site.search import Bundle, SearchIndexError, build_bundles

    (tmp_path / "x.html").write_text("<html><body>no pages for this glob</body></html>")
    with pytest.raises(SearchIndexError, match="pagefind failed on nothing/"):
        build_bundles(tmp_path, [Bundle("pagefind/", "nothing/*.html")])
    assert not (tmp_path / "pagefind").exists()


def test_two_pages_with_one_output_path_are_refused(tmp_path: Path) -> None:
    import shutil

    from sorastats.files import site_file
    from sorastats.site.writer import DuplicateOutputError

    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out)
    before = _snapshot(out)
    content = tmp_path / "content"
    shutil.copytree(site_file("content"), content)
    # content/search.md would become /search/, which the search page already is
    (content / "search.md").write_text("---\ntitle: S\ndescription: D\n---\nhello\n")
    with pytest.raises(
        DuplicateOutputError, match=r"search/index\.html: content\.html and search\.html"
    ):
        render_site(
            RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, content=content, search=False),
            log=lambda _m: None,
        )
    assert _snapshot(out) == before  # refused before publishing: the live site is as it was
    assert not (tmp_path / "site.new").exists()  # and no half-made staging tree is left


def test_page_sets_built_in_parts_give_the_same_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big sets run in parts (by the hash of their ids) so no join outgrows DuckDB's
    memory; the parts must add up to exactly the pages of one whole run."""
    from sorastats.site import model

    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    whole = build(dbp, tmp_path / "whole")
    monkeypatch.setattr(model, "WHOLE_ROWS", 4)
    monkeypatch.setattr(model, "PART_ROWS", 5)  # 36 posts -> 8 parts, 10 creators -> 2
    parted = build(dbp, tmp_path / "parted")
    assert parted.pages == whole.pages
    assert read_manifest(tmp_path / "parted") == read_manifest(tmp_path / "whole")
    # and a rebuild in parts renders only what changed
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 424242 WHERE id = ?", [sitedata.pid(5)])
    con.close()
    again = build(dbp, tmp_path / "parted")
    assert 0 < again.written < whole.pages
    assert "424,242" in (tmp_path / f"parted/p/{sitedata.pid(5)}/index.html").read_text()


def test_a_second_build_of_the_same_site_is_refused(tmp_path: Path) -> None:
    from sorastats.runlock import RunLock, RunLockedError

    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out)
    before = _snapshot(out)
    with RunLock(out, "x"), pytest.raises(RunLockedError, match=r"pid \d+.*site"):
        build(dbp, out)
    assert _snapshot(out) == before
    assert build(dbp, out).pages > 0  # the lock went with its holder


def test_many_creators_are_searched_in_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from sorastats.site import search

    monkeypatch.setattr(search, "CREATORS_PER_SHARD", 1)  # 3 creators -> 4 shards
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out, search=True)
    shards = sorted(p.name for p in out.glob("pagefind-c*"))
    assert len(shards) >= 2

    first_pages = [p for p in out.glob("c/*/index.html") if "data-pagefind-body" in p.read_text()]
    assert sum(_bundle_pages(out, s) for s in shards) == len(first_pages) > 0
    assert _bundle_pages(out, "pagefind") == 1  # the about page only
    merge = json.loads(load(page(out, "/search/")).find("div", id="search").attrs["data-merge"])
    assert [m for m in merge if m.startswith("/pagefind-c")] == [f"/{s}/" for s in shards]
    _, problems = check_site(out, BASE)
    assert problems == []


def test_pagefind_accepts_every_glob_the_shard_plans_make(tmp_path: Path) -> None:
    """Pagefind's glob engine is stricter than fnmatch (a bare `-` in a class does not
    parse); a glob it rejects would only fail on a site big enough to need that shard."""
    import subprocess

    from pagefind_bin import get_executable

    from sorastats.site import search

    page = tmp_path / "c" / "a-b" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body><h1>x</h1><p>hello</p></body></html>", encoding="utf-8")
    globs = {
        b.glob
        for posts in (1, 2, 4, 8, 16, 32, 64)
        for creators in (1, 2, 4, 8, 16)
        for b in search.plan_bundles(posts, creators)
    }
    assert len(globs) > 150
    for glob in sorted(globs):
        run = subprocess.run(
            [get_executable(), "--site", str(tmp_path), "--glob", glob,
             "--output-subdir", str(tmp_path / "out")],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        output = run.stdout + run.stderr
        assert "did not parse" not in output, glob
        assert "Found" in output, glob


def test_spill_folder_of_a_killed_build_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB spills to a folder named by the build's pid; a SIGKILLed build leaves it
    (GBs at 1M posts), and the next build removes it, not a live build's."""
    import subprocess
    import tempfile

    from sorastats.site.builder import SPILL_PREFIX

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = temp / f"{SPILL_PREFIX}{gone.pid}-x"
    alive = temp / f"{SPILL_PREFIX}1-y"  # pid 1 never ends
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "duckdb_temp_block-1.block").write_bytes(b"x" * 100)
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    assert build(dbp, tmp_path / "site").published
    assert not dead.exists() and alive.exists()
    assert not list(temp.glob(f"{SPILL_PREFIX}{os.getpid()}-*"))  # its own went too


def test_a_first_release_database_is_upgraded_then_rendered(tmp_path: Path) -> None:
    import duckdb

    from sorastats.schema import MIGRATIONS, SCHEMA_VERSION

    current = sitedata.hand_made(tmp_path / "now.duckdb")
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(MIGRATIONS[0])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(f"ATTACH '{current}' AS now (READ_ONLY)")
    for table in ("creators", "creator_usernames", "posts", "post_cameos", "tombstones",
                  "creator_snapshots", "post_snapshots"):  # fmt: skip
        con.execute(f"INSERT INTO {table} SELECT * FROM now.{table}")
    con.close()
    report = build(old, tmp_path / "site")
    assert report.published and report.pages == build(current, tmp_path / "site2").pages
    assert db.schema_version(db.connect(old, read_only=True)) == SCHEMA_VERSION
    assert (
        load(page(tmp_path / "site", "/c/alice/")).find("td", data_counter="followers").text
        == "1,000"
    )


def test_a_same_prompt_list_that_reorders_re_renders_the_other_pages(tmp_path: Path) -> None:
    # Post pages are hashed with a stand-in for their "same prompt" list (the group's
    # hash): a change in the group's order must still reach every member's page.
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    members = [sitedata.pid(n) for n in (900, 901, 902)]
    con = db.connect(dbp)
    for views, post_id in zip((300, 200, 100), members, strict=True):
        sitedata.add_post(con, post_id, ALICE, "a prompt three videos share", view_count=views)
    con.close()
    out = tmp_path / "site"
    build(dbp, out)
    last = out / f"p/{members[2]}/index.html"

    def same_prompt_order(page_file: Path) -> list[str]:
        text = page_file.read_text()
        section = text[text.index("Same prompt") :]
        return sorted(members[:2], key=lambda m: section.index(f"/p/{m}/"))

    assert same_prompt_order(last) == members[:2]
    inode = last.stat().st_ino
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 400 WHERE id = ?", [members[1]])
    con.close()
    report = build(dbp, out)
    assert last.stat().st_ino != inode  # rewritten though its own row did not change
    assert same_prompt_order(last) == [members[1], members[0]]
    untouched = out / f"p/{sitedata.pid(104)}/index.html"
    assert report.written < report.pages and untouched.exists()


def test_a_changed_prompt_re_renders_its_creator_feed(tmp_path: Path) -> None:
    # Feeds are hashed with a digest of their entries' rows standing in for the entries.
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    newest = sitedata.pid(950)
    con = db.connect(dbp)
    sitedata.add_post(con, newest, ALICE, "first words of a fresh prompt",
                      posted_at=sitedata.NOW)  # fmt: skip
    con.close()
    out = tmp_path / "site"
    build(dbp, out)
    feed = out / "c/alice/feed.xml"
    assert "first words of a fresh prompt" in feed.read_text()
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = 'second words instead' WHERE id = ?", [newest])
    con.close()
    build(dbp, out)
    text = feed.read_text()
    assert "second words instead" in text and "first words" not in text
    ET.fromstring(text)  # still a valid document


def _similar_section(page_file: Path) -> str:
    text = page_file.read_text()
    return text[text.index("<h2>Similar prompts</h2>") :] if "<h2>Similar prompts" in text else ""


def test_similar_prompts_are_reused_until_a_prompt_changes(tmp_path: Path) -> None:
    from sorastats.site.derived import CACHE_FILE, cache_dir

    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    a, b = sitedata.pid(960), sitedata.pid(961)
    con = db.connect(dbp)
    sitedata.add_post(con, a, ALICE, "a glacier walrus sings opera at dawn")
    sitedata.add_post(con, b, ALICE, "the glacier walrus dances alone")
    con.close()
    out = tmp_path / "site"
    logs: list[str] = []
    cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, search=False)
    render_site(cfg, log=logs.append)
    cache = cache_dir(out) / CACHE_FILE
    assert cache.is_file() and out not in cache.parents  # beside the site, never published
    assert f"/p/{b}/" in _similar_section(out / f"p/{a}/index.html")
    reused = "render: similar prompts unchanged: reused from the previous build"
    assert reused not in logs

    # Counters only: the similar prompts come from the cache.
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 12345 WHERE id = ?", [a])
    con.close()
    logs.clear()
    render_site(cfg, log=logs.append)
    assert reused in logs
    assert f"/p/{b}/" in _similar_section(out / f"p/{a}/index.html")

    # A prompt changes: computed again, and the pages follow.
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = 'a purple teapot' WHERE id = ?", [b])
    con.close()
    logs.clear()
    render_site(cfg, log=logs.append)
    assert reused not in logs
    assert f"/p/{b}/" not in _similar_section(out / f"p/{a}/index.html")

    # A damaged cache is ignored (and said so), then replaced.
    cache.write_bytes(b"not a database")
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 7 WHERE id = ?", [a])
    con.close()
    logs.clear()
    report = render_site(cfg, log=logs.append)
    assert report.published and any("ignoring the derived-table cache" in m for m in logs)
    logs.clear()
    render_site(
        RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, full=True, search=False),
        log=logs.append,
    )
    assert reused not in logs  # --full computes everything again
    logs.clear()
    # A killed build's temporary file goes with the next write of the cache.
    killed = cache.parent / f".{CACHE_FILE}.999999.tmp"
    killed.write_bytes(b"half a database")
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 8 WHERE id = ?", [a])
    con.close()
    render_site(cfg, log=logs.append)
    assert reused in logs
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = 'a glacier walrus again' WHERE id = ?", [b])
    con.close()
    render_site(cfg, log=logs.append)
    assert not list(cache.parent.glob(".*.tmp*"))  # no temporary files left


def test_the_derived_cache_works_in_a_folder_with_a_quote(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "it's" / "site"
    logs: list[str] = []
    cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, search=False)
    render_site(cfg, log=logs.append)
    render_site(cfg, log=logs.append)
    assert "render: similar prompts unchanged: reused from the previous build" in logs
    assert not any("derived-table cache" in m for m in logs)  # nothing ignored or failed


# -- the build's phases, search off, a quiet library ------------------------------------

PHASES = [
    "prepare",
    "render_page_sets",
    "render_python_pages",
    "plan_changes",
    "link_unchanged",
    "finish_rendering",
    "drop_stale",
    "index_search",
    "seal",
    "publish",
]


def test_phases_run_in_order_and_a_build_without_changes_stops_after_planning(
    tmp_path: Path,
) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    first = build(dbp, out)
    assert list(first.phase_seconds) == PHASES
    assert all(seconds >= 0 for seconds in first.phase_seconds.values())
    assert first.total_seconds >= sum(first.phase_seconds.values())
    same = build(dbp, out)
    assert list(same.phase_seconds) == PHASES[:4] and not same.published


class PhaseFailed(RuntimeError):
    pass


def failing_after(phase: str) -> type[SiteBuild]:
    """A real build whose `phase` fails once it has done its work (`publish`: before)."""

    def fail(self: SiteBuild) -> None:
        if phase != "publish":
            getattr(SiteBuild, phase)(self)
        raise PhaseFailed(phase)

    return type(f"FailsAfter_{phase}", (SiteBuild,), {phase: fail})


def test_a_failure_in_any_phase_leaves_the_live_site_untouched(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out)
    before = _snapshot(out)
    page_file = out / f"p/{sitedata.pid(3)}/index.html"
    for n, phase in enumerate(PHASES, start=1):
        con = db.connect(dbp)
        con.execute("UPDATE posts SET view_count = ? WHERE id = ?", [777_000 + n, sitedata.pid(3)])
        con.close()
        cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, search=False)
        with pytest.raises(PhaseFailed, match=phase):
            failing_after(phase).render(cfg)
        assert _snapshot(out) == before, phase
        assert not (tmp_path / "site.prev").exists(), phase  # nothing was published
    report = build(dbp, out)  # the next build starts over and publishes
    assert report.published and f"777,{len(PHASES):03d}" in page_file.read_text()
    assert not (tmp_path / "site.new").exists()
    assert check_site(out, BASE)[1] == []


def test_a_staging_tree_that_fails_the_check_is_not_published(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out)
    before = _snapshot(out)
    con = db.connect(dbp)
    con.execute("UPDATE posts SET view_count = 888888 WHERE id = ?", [sitedata.pid(3)])
    con.close()
    seen: list[Path] = []

    def reject(tree: Path) -> tuple[int, list[str]]:
        seen.append(tree)
        assert (tree / ".manifest").is_file()  # sealed: the check can tell search off
        return 7, ["p/x/index.html: no title"]

    cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, search=False)
    report = render_site(cfg, log=lambda _line: None, check=reject)
    assert seen == [tmp_path / "site.new"]
    assert not report.published and report.written >= 1
    assert (report.checked, report.check_problems) == (7, ["p/x/index.html: no title"])
    assert "publish" not in report.phase_seconds
    assert _snapshot(out) == before
    assert "888,888" in (tmp_path / "site.new" / f"p/{sitedata.pid(3)}/index.html").read_text()
    passed = render_site(cfg, log=lambda _line: None, check=lambda tree: check_site(tree, BASE))
    assert passed.published and passed.checked > 0 and passed.check_problems == []
    assert "888,888" in (out / f"p/{sitedata.pid(3)}/index.html").read_text()


def test_a_build_without_search_runs_no_pagefind(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    off = build(dbp, out, search=False)
    assert off.published and off.search_skipped and not off.search_rebuilt
    assert off.search_seconds == 0 and "index_search" in off.phase_seconds
    assert not list(out.glob("pagefind*")) and not list(out.rglob("pagefind-entry.json"))
    search_page = page(out, "/search/")
    assert load(search_page).find("div", id="search")  # the page is there all the same
    assert check_site(out, BASE)[1] == []  # no Pagefind folder is not a problem here

    # Search on: the index is built and no page is rendered again (same pages either way).
    on = build(dbp, out, search=True)
    assert on.published and on.search_rebuilt and not on.search_skipped
    assert on.written == 0 and (out / "pagefind" / "pagefind-ui.js").exists()
    assert check_site(out, BASE)[1] == []
    # A site built with search that lost its index is still reported.
    shutil.rmtree(out / "pagefind")
    assert any("/pagefind/pagefind-ui.js" in p for p in check_site(out, BASE)[1])

    # Search off again: the index goes, the pages stay.
    again = build(dbp, out, search=False)
    assert again.published and again.search_skipped and again.written == 0
    assert not list(out.glob("pagefind*"))
    assert check_site(out, BASE)[1] == []
    assert build(dbp, out, search=False).published is False  # and then nothing changes


def test_the_library_prints_nothing_and_logs_to_its_logger(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=2)  # workers and Pagefind too
    assert render_site(cfg).published
    assert capfd.readouterr() == ("", "")  # not even from the render processes
    with caplog.at_level(logging.INFO, logger="sorastats.site"):
        render_site(cfg)
    assert f"render: computing aggregates from {dbp}" in caplog.messages
    assert {r.name for r in caplog.records} == {"sorastats.site"}
    assert capfd.readouterr() == ("", "")


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_first_build_indexes_prompt_pages_while_rendering_and_is_reproducible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into an empty staging tree the prompt pages' search bundles are indexed on a thread
    while the rest of the site renders; every prompt page is in one of them, and two
    first builds of one database are the same bytes, file for file (pages, siblings,
    search bundles, manifest)."""
    from sorastats.site import search

    monkeypatch.setattr(search, "POSTS_PER_SHARD", 10)  # 36 posts -> 4 shards
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    one = build(dbp, tmp_path / "one", search=True, jobs=2)
    two = build(dbp, tmp_path / "two", search=True, jobs=1)
    for report in (one, two):
        assert report.published and report.search_rebuilt
        assert report.search_overlap_seconds > 0
    posts = len(list((tmp_path / "one" / "p").iterdir()))
    shards = [f"pagefind-{i}" for i in range(1, 5)]
    assert sum(_bundle_pages(tmp_path / "one", b) for b in shards) == posts
    first, second = _tree_bytes(tmp_path / "one"), _tree_bytes(tmp_path / "two")
    assert sorted(first) == sorted(second)
    assert [rel for rel in first if first[rel] != second[rel]] == []
    # A rebuild recycles a tree: the bundles are indexed after the render, as before.
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = 'A brand new prompt' WHERE id = ?", [sitedata.pid(3)])
    con.close()
    again = build(dbp, tmp_path / "one", search=True, jobs=2)
    assert again.search_rebuilt and again.search_overlap_seconds == 0
    assert sum(_bundle_pages(tmp_path / "one", b) for b in shards) == posts
