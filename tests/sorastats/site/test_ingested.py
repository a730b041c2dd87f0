"""The site built from data that went through the real ingest: the bundled sample and a
synthetic capture set from `build.py synth`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest

from sorastats import synth
from sorastats.cli import main
from sorastats.importer import import_paths
from sorastats.site.builder import render_site
from sorastats.site.check import check_site, parse_page
from sorastats.site.config import RenderConfig
from tests.support.html import facts_by_html_parser, load, visible_text
from tests.support.ingest import one_row
from tests.support.paths import ROOT

# End-to-end tier (make test): whole builds of ingested data.
pytestmark = pytest.mark.e2e

BASE = "https://sorastats.example"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def quiet(_msg: str) -> None:
    pass


def sitemap_urls(site: Path) -> list[str]:
    urls: list[str] = []
    for loc in ET.parse(site / "sitemap.xml").getroot().iter(f"{SM}loc"):
        assert loc.text
        part = ET.parse(site / loc.text.removeprefix(BASE + "/")).getroot()
        urls += [u.text or "" for u in part.iter(f"{SM}loc")]
    return urls


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("sample")
    dbp = tmp / "s.duckdb"
    assert import_paths(dbp, [ROOT / "data/sample"]).ok
    cfg = RenderConfig(db=dbp, out=tmp / "site", base_url=BASE, jobs=2, search=False)
    render_site(cfg, log=quiet)
    return dbp, tmp / "site"


def test_sample_site_checks_clean(sample: tuple[Path, Path]) -> None:
    _, site = sample
    checked, problems = check_site(site, BASE)
    assert checked > 200 and problems == []  # the sample: 160 posts by 20 creators


def test_the_check_scanner_reads_every_page_as_html_parser_does(
    sample: tuple[Path, Path],
) -> None:
    _, site = sample
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 200
    for page in pages:
        html = page.read_text("utf-8")
        assert parse_page(html) == facts_by_html_parser(html), page


def test_sample_pages_match_the_database(sample: tuple[Path, Path]) -> None:
    dbp, site = sample
    con = duckdb.connect(str(dbp), read_only=True)
    posts = {r[0] for r in con.execute("SELECT id FROM posts").fetchall()}
    tombstoned = {r[0] for r in con.execute("SELECT post_id FROM tombstones").fetchall()}
    follower, username = one_row(
        con, "SELECT follower_count, username FROM creators ORDER BY follower_count DESC LIMIT 1"
    )
    con.close()
    assert tombstoned and not posts & tombstoned
    assert {p.name for p in (site / "p").iterdir()} == posts
    top = load(site / "top/creators/followers/index.html")
    first = top.find("tbody").find_all("tr")[0]
    assert f"@{username}" in first.text and f"{follower:,}" in first.text
    creator = load(site / f"c/{username}/index.html")
    assert creator.find("td", data_counter="followers").text == f"{follower:,}"


def test_sample_renamed_creator_redirects(sample: tuple[Path, Path]) -> None:
    _, site = sample
    doc = load(site / "c/creator_7b0370/index.html")
    assert doc.find("meta", http_equiv="refresh").attrs["content"] == "0; url=/c/renamed_7b0370/"
    assert "renamed_7b0370" in visible_text(load(site / "c/renamed_7b0370/index.html"))
    assert f"{BASE}/c/creator_7b0370/" not in sitemap_urls(site)


@pytest.mark.slow
def test_synthetic_set_through_nightly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "feed"
    synth.write(synth.SynthSpec(posts=800, creators=80, days=6, seed=5), source)
    dbp, out = tmp_path / "n.duckdb", tmp_path / "site"
    args = ["nightly", "--db", str(dbp), "--out", str(out), "--base-url", BASE, "--jobs", "2",
            "--no-search"]  # fmt: skip
    assert main([*args, str(source)]) == 0
    assert "published" in capsys.readouterr().out
    _, problems = check_site(out, BASE)
    assert problems == []
    urls = sitemap_urls(out)
    # Every indexable page is in the sitemap (redirects and account/vault shells are noindex).
    pages = [p for p in out.rglob("index.html") if 'content="noindex"' not in p.read_text()]
    assert len(urls) == len(set(urls)) == len(pages)
    # importing the same captures again changes nothing on the site
    assert main([*args, str(source)]) == 0
    assert "0 written" in capsys.readouterr().out
    # and small sitemaps split at their limit
    cfg = RenderConfig(
        db=dbp, out=tmp_path / "small", base_url=BASE, jobs=1, sitemap_max_urls=100, search=False
    )
    render_site(cfg, log=quiet)
    parts = list((tmp_path / "small").glob("sitemap-*.xml"))
    assert len(parts) == -(-len(urls) // 100)
    assert sorted(sitemap_urls(tmp_path / "small")) == sorted(urls)
