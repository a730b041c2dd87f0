"""What of a built tree becomes objects, and with which version (no bucket needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sorastats.deploy.deploy import DeployError, scan
from sorastats.site.manifest import MANIFEST_HEADER

MANIFEST = {
    "index.html": "d1",
    "c/alice/index.html": "d2",
    "static/site.3f2a1b9c0d.css": "d3",
    "pagefind/": "bundle9",
}
FILES = [
    "index.html", "index.html.gz", "index.html.br", "c/alice/index.html",
    "c/alice/.index.html.123.tmp", "static/site.3f2a1b9c0d.css", "static/favicon.ico",
    "pagefind/pagefind.js", "pagefind/fragment/en_1a.pf_fragment", "google123.html",
    "extra/readme.txt", "c/alice/notes.txt",
]  # fmt: skip


def test_versions_by_kind(tmp_path: Path) -> None:
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    lines = [MANIFEST_HEADER, *(f"{rel}\t{digest}" for rel, digest in MANIFEST.items())]
    (tmp_path / ".manifest").write_text("\n".join(lines) + "\n")

    def content(rel: str) -> str:
        return "h" + hashlib.sha256(rel.encode()).hexdigest()[:24]

    assert scan(tmp_path) == {
        "index.html": "md1",  # the build's input hash: nothing read
        "c/alice/index.html": "md2",
        "static/site.3f2a1b9c0d.css": "n",  # fingerprinted: the name is the version
        "static/favicon.ico": content("static/favicon.ico"),  # by hand in static/
        "pagefind/pagefind.js": "bbundle9",  # a bundle's fixed-name file: the bundle's hash
        "pagefind/fragment/en_1a.pf_fragment": "n",
        "google123.html": content("google123.html"),  # by hand at the top level
        "extra/readme.txt": content("extra/readme.txt"),  # a folder the build does not know
        # not objects: siblings, dotfiles, and files by hand inside page folders
    }


def test_no_site_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="no site built"):
        scan(tmp_path)
