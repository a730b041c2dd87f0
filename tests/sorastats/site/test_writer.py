"""The writer: atomic and staged writes, precompressed siblings at page and asset settings."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import brotli
import pytest

from sorastats.site import writer
from sorastats.site.writer import staged_write, write_output


def test_staged_write_gives_a_linked_file_a_new_inode(tmp_path: Path) -> None:
    """A staging tree linked from the live site: writing a page there must leave the live
    copy's bytes alone (a new inode, not the shared one truncated)."""
    live, staging = tmp_path / "live.html", tmp_path / "new" / "a" / "index.html"
    live.write_bytes(b"old")
    staging.parent.mkdir(parents=True)
    os.link(live, staging)
    staged_write(staging, b"new page")
    assert live.read_bytes() == b"old" and staging.read_bytes() == b"new page"
    assert live.stat().st_ino != staging.stat().st_ino
    staged_write(tmp_path / "made" / "here" / "index.html", b"x")  # folders made as needed
    assert (tmp_path / "made" / "here" / "index.html").read_bytes() == b"x"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("staged", [False, True])
def test_siblings_decompress_to_the_file(tmp_path: Path, staged: bool) -> None:
    data = b"<p>" + b"a page of text " * 400 + b"</p>"
    size, _spent = write_output(tmp_path, "p/x/index.html", data, staged=staged)
    page = tmp_path / "p/x/index.html"
    assert page.read_bytes() == data
    assert gzip.decompress((tmp_path / "p/x/index.html.gz").read_bytes()) == data
    assert brotli.decompress((tmp_path / "p/x/index.html.br").read_bytes()) == data
    assert size == sum(f.stat().st_size for f in page.parent.iterdir())
    # written again over itself (a recycled tree): replaced, never appended to
    write_output(tmp_path, "p/x/index.html", b"<p>short</p>", staged=staged)
    assert brotli.decompress((tmp_path / "p/x/index.html.br").read_bytes()) == b"<p>short</p>"


def test_assets_are_compressed_at_the_best_settings(tmp_path: Path) -> None:
    """Pages get brotli's fast quality, assets (loaded on every visit) its best; both are
    the same bytes once decompressed, the asset's no larger."""
    css = b"".join(
        b".c%d { color: #%06x; margin: %dpx; }\n" % (i, i * 997, i % 17) for i in range(400)
    )
    write_output(tmp_path / "page", "site.css", css)
    write_output(tmp_path / "asset", "site.css", css, best=True)
    fast = (tmp_path / "page" / "site.css.br").read_bytes()
    best = (tmp_path / "asset" / "site.css.br").read_bytes()
    assert brotli.decompress(fast) == brotli.decompress(best) == css
    assert len(best) < len(fast)
    assert best == brotli.compress(css, quality=writer.BEST_BROTLI_QUALITY)
    assert fast == brotli.compress(css, quality=writer.BROTLI_QUALITY)
