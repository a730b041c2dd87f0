"""The vault's site pages: shells in the build, docs/encryption.md as a page."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorastats.files import site_file
from sorastats.site.vault_pages import encryption_markdown, vault_pages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[`a/b.js`](../a/b.js)", "`a/b.js`"),
        ("[the vectors](../tests/x.json)", "the vectors (`tests/x.json` in the source)"),
        ("[Verifying](#verifying)", "[Verifying](#verifying)"),
        ("[site](/about/)", "[site](/about/)"),
        ("no links", "no links"),
    ],
)
def test_repository_links_become_text(text: str, expected: str) -> None:
    assert encryption_markdown(text) == expected


def test_pages() -> None:
    pages = {p.rel: p for p in vault_pages(site_file("docs/encryption.md").parent)}
    assert set(pages) == {
        "account/index.html",
        "vault/index.html",
        "vault/favorites/index.html",
        "vault/import/index.html",
        "watchlist/index.html",
        "contact/index.html",
        "about/encryption/index.html",
    }
    assert not pages["vault/index.html"].sitemap and pages["about/encryption/index.html"].sitemap
    assert not pages["watchlist/index.html"].sitemap  # a signed-in shell
    assert pages["contact/index.html"].sitemap  # indexable, unlike the shells
    assert "../" not in pages["about/encryption/index.html"].doc


def test_missing_doc_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(vault_pages(tmp_path))
