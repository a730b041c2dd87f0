"""The archive's story on the pages: Sora's closing notice (content/notice.txt) on every
page, no "refreshed nightly" claim, and the date of the last capture beside the numbers
of creators and videos ("last seen")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sorastats.site import opendata
from sorastats.site.builder import RenderError, render_site
from sorastats.site.config import RenderConfig
from sorastats.site.content import NOTICE_MAX_CHARS, load_notice
from tests.sorastats.site.test_build import BASE, page, site  # noqa: F401 (fixture)
from tests.support import sitedata
from tests.support.html import load, visible_text
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e

PAGES = ("/", "/c/alice/", f"/p/{sitedata.pid(1)}/", "/top/creators/followers/", "/search/",
         "/about/", "/privacy/")  # fmt: skip


def test_every_page_carries_the_notice_and_no_nightly_claim(site: Path) -> None:  # noqa: F811
    notice = load_notice(ROOT / "content")
    assert "April 26, 2026" in notice
    for url in PAGES:
        doc = load(page(site, url) if url != "/" else site / "index.html")
        assert doc.find("p", class_="site-notice").text == notice, url
        text = " ".join(visible_text(doc).lower().split())
        for claim in ("refreshed nightly", "updated nightly", "we take a snapshot every day"):
            assert claim not in text, (url, claim)


def test_creators_and_videos_say_when_they_were_last_seen(site: Path) -> None:  # noqa: F811
    day = sitedata.NOW.date().isoformat()
    for url, caption in (
        ("/c/alice/", "the last capture of @alice"),
        (f"/p/{sitedata.pid(1)}/", "the last capture of this video"),
    ):
        doc = load(page(site, url))
        seen = doc.find("time", data_last_seen="")
        assert seen.attrs["datetime"].startswith(day), url
        table = doc.find("table", class_="counters reflow")
        assert caption in table.find("caption").text, url


def test_leaderboards_say_as_of_which_capture(site: Path) -> None:  # noqa: F811
    day = sitedata.NOW.date().isoformat()
    for url in ("/top/", "/top/creators/followers/", "/top/videos/views-7d/"):
        doc = load(page(site, url))
        meta = doc.find("p", class_="meta")
        stamp = meta.find("time")
        assert stamp is not None and stamp.attrs["datetime"].startswith(day), url
        assert "the last capture" in meta.text, url


def test_a_new_notice_re_renders_every_page_and_a_long_one_is_refused(
    tmp_path: Path,
) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"

    def render() -> int:
        cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, search=False, content=content)
        return render_site(cfg, log=lambda _m: None).written

    first = render()
    assert render() == 0  # nothing changed: nothing written
    (content / "notice.txt").write_text("The archive moved.\n")
    # every page shows it; the open-data files hold no page text
    assert render() == first - len(opendata.DATASETS)
    assert "The archive moved." in (out / "index.html").read_text()
    (content / "notice.txt").write_text("x" * (NOTICE_MAX_CHARS + 1))
    with pytest.raises(RenderError, match=f"notice.txt: {NOTICE_MAX_CHARS + 1} characters"):
        render()
    (content / "notice.txt").unlink()
    render()
    assert 'class="site-notice"' not in (out / "index.html").read_text()
