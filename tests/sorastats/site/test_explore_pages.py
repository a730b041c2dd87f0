"""The explore pages of a built site (issue 18): the creator pages' profile history, the
creators' series files that /compare/ reads, and the /compare/ and /watchlist/ shells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.html import load

# End-to-end tier (make test): a whole site build.
pytestmark = pytest.mark.e2e

BASE = "https://sorastats.example"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("explore")
    dbp = sitedata.hand_made(tmp / "h.duckdb")
    cfg = RenderConfig(db=dbp, out=tmp / "site", base_url=BASE, jobs=1, search=False)
    report = render_site(cfg, log=lambda _m: None)
    assert report.published
    return tmp / "site"


def history_rows(site: Path, slug: str) -> list[list[str]]:
    doc = load(site / "c" / slug / "index.html")
    tables = doc.find_all("table", class_="history reflow")
    if not tables:
        return []
    return [
        [c.text.strip() for c in row.iter()[1:] if c.tag in ("td", "th") and c in row.children]
        for row in tables[0].find("tbody").find_all("tr")
    ]


def test_profile_history_lists_each_change_newest_first(site: Path) -> None:
    bob_name = '<script>alert("bob")</script>\u202eevil'
    assert history_rows(site, "bob") == [
        ["Oct 28, 2025", "Display name", "Bob", bob_name],
        ["Oct 28, 2025", "Bio", "<b>old</b> bio", "javascript:alert(1) " + "B" * 500],
        ["Oct 27, 2025", "Username", "@old_bob", "@bob"],
    ]


def test_profile_history_is_escaped(site: Path) -> None:
    raw = (site / "c/bob/index.html").read_text("utf-8")
    assert "<b>old</b>" not in raw and "&lt;b&gt;old&lt;/b&gt;" in raw
    assert '<script>alert("bob")' not in raw


def test_an_unchanged_profile_shows_no_history(site: Path) -> None:
    assert history_rows(site, "alice") == []  # captured twice, the same both days
    assert history_rows(site, "carol") == []  # never captured with its text


def test_each_shown_creator_has_a_series_file_for_compare(site: Path) -> None:
    alice = json.loads((site / "c/alice/series.json").read_text("utf-8"))
    assert alice["username"] == "alice" and alice["url"] == "/c/alice/"
    assert (alice["followers"], alice["followers_7"], alice["followers_30"]) == (1000, 100, 400)
    assert [(p["d"], p["followers"]) for p in alice["series"]] == [
        ("2025-09-30", 600),
        ("2025-10-23", 900),
        ("2025-10-29", 990),
        ("2025-10-30", 1000),
    ]
    bob = (site / "c/bob/series.json").read_text("utf-8")
    assert "<script>" not in bob and "\\u003cscript\\u003e" in bob  # safe even as HTML
    assert json.loads(bob)["display_name"] == '<script>alert("bob")</script>\u202eevil'
    slugs = {p.parent.name for p in (site / "c").glob("*/index.html")}
    files = {p.parent.name for p in (site / "c").glob("*/series.json")}
    assert files == slugs - {"old_bob"}  # every creator page, and no redirect
    sitemaps = "".join(p.read_text("utf-8") for p in site.glob("sitemap*.xml"))
    assert "series.json" not in sitemaps and "/compare/" in sitemaps
    assert "/watchlist/" not in sitemaps


def test_the_compare_and_watchlist_pages(site: Path) -> None:
    compare = load(site / "compare/index.html")
    assert compare.find("label", for_="compare-input")
    assert compare.find("form", action="/compare/").attrs["method"] == "get"
    watchlist = load(site / "watchlist/index.html")
    assert watchlist.find("meta", name="robots").attrs["content"] == "noindex"
    for doc in (compare, watchlist):
        nav = [a.attrs["href"] for a in doc.find("nav").find_all("a")]
        assert "/compare/" in nav
