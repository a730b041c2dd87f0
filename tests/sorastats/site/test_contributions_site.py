"""Creators' decisions reach every output of a real build (docs/creators.md): a hidden
creator or post leaves their pages, cards in other pages, leaderboards, search records,
sitemaps and feeds, and comes back when shown again; a published prompt is on the post
page, escaped, and in the search index."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sorastats.contributions import NONE, Contributions
from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.html import load, visible_text

pytestmark = pytest.mark.e2e  # whole builds, Pagefind included

BOB = "user-bob000000000000000000000"
CAROL = "user-carol00000000000000000000"
SHARED = '<script>alert("shared")</script> Moonlit tidepool glowing, take two'
# What would name bob anywhere: his id, his usernames, his posts' ids.
BOB_MARKS = (
    BOB.encode(),
    b"/c/bob/",
    b"@bob",
    b"old_bob",
    sitedata.pid(101).encode(),
    sitedata.pid(102).encode(),
)
HIDDEN_POST = sitedata.pid(105)  # one of alice's, hidden alone


def build(dbp: Path, out: Path, found: Contributions) -> None:
    cfg = RenderConfig(db=dbp, out=out, base_url="https://s.example", jobs=1, contributions=found)
    assert render_site(cfg, log=lambda _m: None).published


def outputs(site: Path) -> dict[str, bytes]:
    """Every file of the site as served: compressed search records decompressed (their
    .gz and .br siblings hold the same bytes as the file beside them)."""
    found: dict[str, bytes] = {}
    for path in site.rglob("*"):
        if path.is_file() and path.suffix not in (".gz", ".br"):
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            found[str(path.relative_to(site))] = data.lower()
    return found


def naming(site: Path, marks: tuple[bytes, ...]) -> list[str]:
    return sorted(rel for rel, data in outputs(site).items() if any(m in data for m in marks))


def test_hide_publish_and_show_again(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    decided = Contributions(
        published_prompts=(
            (sitedata.pid(103), CAROL, SHARED),
            # a prompt for a post of someone else is ignored
            (sitedata.pid(1), CAROL, "not alice's words"),
        ),
        hidden_creators=(BOB,),
        hidden_posts=(HIDDEN_POST,),
    )

    build(dbp, out, NONE)
    shown = naming(out, BOB_MARKS)
    # bob is everywhere first: his pages, cards on carol's page, sitemap, feeds, search
    assert "c/bob/index.html" in shown and f"p/{sitedata.pid(103)}/index.html" in shown
    assert "sitemap-1.xml" in shown and any(rel.startswith("pagefind") for rel in shown)
    assert naming(out, (HIDDEN_POST.encode(),))

    build(dbp, out, decided)
    assert naming(out, BOB_MARKS) == []
    assert naming(out, (HIDDEN_POST.encode(),)) == []
    post = out / "p" / sitedata.pid(103) / "index.html"
    html = post.read_text()
    assert "Prompt shared by the creator" in html
    assert "&lt;script&gt;alert(&#34;shared&#34;)&lt;/script&gt;" in html
    assert '<script>alert("shared")' not in html
    assert "Neon koi swimming through clouds" in visible_text(load(post))  # caption kept
    assert "not alice" not in (out / "p" / sitedata.pid(1) / "index.html").read_text()
    assert naming(out, (b"moonlit tidepool",)) != [f"p/{sitedata.pid(103)}/index.html"]
    assert any(rel.startswith("pagefind") for rel in naming(out, (b"tidepool",)))

    build(dbp, out, NONE)  # shown again, prompt taken back
    assert "c/bob/index.html" in naming(out, BOB_MARKS)
    assert naming(out, (b"tidepool",)) == []
