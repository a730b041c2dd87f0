"""Archived images through whole builds (e2e): imported with the captures, published as
responsive WebP once per source, used by the pages, and gone with a deleted post."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from sorastats import synth
from sorastats.importer import import_paths
from sorastats.site import images
from sorastats.site.builder import render_site
from sorastats.site.check import check_site
from sorastats.site.config import RenderConfig
from sorastats.site.derived import cache_dir

pytestmark = pytest.mark.e2e

BASE = "https://sorastats.example"
SPEC = synth.SynthSpec(posts=80, creators=8, days=6, seed=3)


def quiet(_msg: str) -> None:
    pass


def _doomed(spec: synth.SynthSpec) -> int:
    """A post live on its first day and deleted later."""
    for i in range(spec.posts):
        tomb = spec.tombstone_day(i)
        if tomb is not None and spec.live_on(i, spec.day_of(i)) and tomb > spec.day_of(i):
            return i
    raise AssertionError("no post of the synthetic set is deleted after its first day")


def _media(dbp: Path) -> dict[str, tuple[str, str]]:
    con = duckdb.connect(str(dbp), read_only=True)
    rows = con.execute("SELECT owner_id, owner_kind, sha256 FROM media").fetchall()
    con.close()
    return {str(o): (str(k), str(s)) for o, k, s in rows}


def test_images_are_published_once_used_by_pages_and_purged_with_their_post(
    tmp_path: Path,
) -> None:
    captures = tmp_path / "in"
    synth.write(SPEC, captures, profile_feeds=False)
    doomed = _doomed(SPEC)
    doomed_id = SPEC.post_id(doomed)
    # The doomed post gets an image too (written as synth writes them).
    (captures / "media" / f"{doomed_id}.webp").write_bytes(synth.image(3, doomed, 360, 654))
    # And a creator with a picture of their own (not the default one).
    own = next(c for c in range(SPEC.creators) if synth._h(SPEC.seed, c, 26) % 3 == 0)
    picture = synth.image(3, 1000, 160, 160)
    (captures / "media" / f"{SPEC.creator_id(own)}.webp").write_bytes(picture)
    dbp, site = tmp_path / "s.duckdb", tmp_path / "site"
    first_days = [captures / f"day-{d + 1:02d}" for d in range(SPEC.day_of(doomed) + 1)]
    assert import_paths(dbp, [*first_days, captures / "media"]).ok
    cfg = RenderConfig(db=dbp, out=site, base_url=BASE, jobs=2, search=False)

    report = render_site(cfg, log=quiet)
    kept = _media(dbp)
    assert doomed_id in kept and any(k == "creator" for k, _ in kept.values())
    published = sorted(p.name for p in (site / "media").glob("*.webp"))
    assert report.images_encoded == len(published)
    # 360 px wide portraits give a 320 only; 654 px wide landscapes a 320 and a 640.
    assert len(kept) < len(published) and any(n.endswith("-640.webp") for n in published)
    assert check_site(site, BASE)[1] == []  # every src and srcset file exists

    # The prompt page: the thumbnail above the fold, sized, eager, described; og:image.
    page = (site / "p" / doomed_id / "index.html").read_text("utf-8")
    key = kept[doomed_id][1][: images.KEY_CHARS]
    img = re.search(r'<img class="thumb"[^>]*>', page)
    assert img is not None
    tag = img.group(0)
    assert f'src="/media/{key}-w1-320.webp"' in tag and 'fetchpriority="high"' in tag
    assert 'width="320" height="581"' in tag and "loading=" not in tag
    assert 'alt="Thumbnail of @' in tag
    assert f'<meta property="og:image" content="{BASE}/media/{key}-w1-320.webp">' in page

    # A post without an image: the inline placeholder, and the shared og:image file.
    bare = next(
        SPEC.post_id(i)
        for i in range(SPEC.posts)
        if SPEC.post_id(i) not in kept and (site / "p" / SPEC.post_id(i)).is_dir()
    )
    page = (site / "p" / bare / "index.html").read_text("utf-8")
    assert '<svg class="thumb placeholder"' in page and 'aria-label="No thumbnail archived' in page
    assert f'content="{BASE}/{images.OG_PLACEHOLDER}"' in page
    assert (site / images.OG_PLACEHOLDER).read_bytes().startswith(b"\x89PNG")

    # Creator pages: the picture in the header; cards below the fold load lazily.
    creator = next(o for o, (k, _) in kept.items() if k == "creator")
    pages = [p.read_text("utf-8") for p in (site / "c").glob("*/index.html")]
    assert any('class="avatar"' in p and "Profile picture of @" in p for p in pages), creator
    assert any('loading="lazy"' in p for p in pages)

    # Nothing changed: nothing encoded; a --full build links every image from the cache.
    assert render_site(cfg, log=quiet).images_encoded == 0
    full = RenderConfig(db=dbp, out=site, base_url=BASE, jobs=2, search=False, full=True)
    assert render_site(full, log=quiet).images_encoded == 0
    assert sorted(p.name for p in (site / "media").glob("*.webp")) == published

    # The post is deleted: its image leaves the archive, the site and the build's cache.
    assert import_paths(dbp, [captures]).ok
    assert doomed_id not in _media(dbp)
    report = render_site(cfg, log=quiet)
    now = sorted(p.name for p in (site / "media").glob("*.webp"))
    # Only the images of posts first seen in the later days are encoded; none again.
    assert report.images_encoded == len(set(now) - set(published)) > 0
    name = f"{key}-w1-320.webp"
    assert not (site / "media" / name).exists()
    assert not (cache_dir(site) / images.CACHE_FOLDER / name).exists()
    assert not list((dbp.parent / "captures" / "s" / "media").rglob(f"{kept[doomed_id][1]}.*"))
    assert check_site(site, BASE)[1] == []
