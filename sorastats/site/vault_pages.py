"""The account and vault pages (static shells whose scripts talk to /api) and
`docs/encryption.md` published as /about/encryption/ so anyone can audit the scheme;
and /contact/ (the removal request form, docs/creators.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from markdown_it import MarkdownIt

from sorastats.site.page import Page, dumps

ENCRYPTION_URL = "/about/encryption/"
# (output path, template, url): shells only; everything personal is fetched by script.
SHELLS = (
    ("account/index.html", "account.html", "/account/"),
    ("vault/index.html", "vault.html", "/vault/"),
    ("vault/favorites/index.html", "favorites.html", "/vault/favorites/"),
    ("vault/import/index.html", "vault-import.html", "/vault/import/"),
    ("watchlist/index.html", "watchlist.html", "/watchlist/"),
)
_REPO_LINK = re.compile(r"\[([^\]]+)\]\(\.\./([^)#\s]+)\)")


def encryption_markdown(text: str) -> str:
    """The doc links repository files relatively (`[x](../templates/...)`); on the site
    those become plain text naming the file, since the site does not serve the source."""

    def plain(match: re.Match[str]) -> str:
        label, path = match.group(1), match.group(2)
        return label if label.strip("`") == path else f"{label} (`{path}` in the source)"

    return _REPO_LINK.sub(plain, text)


def encryption_page(docs_dir: Path) -> Page:
    source = docs_dir / "encryption.md"
    text = encryption_markdown(source.read_text("utf-8"))
    html = MarkdownIt("js-default").render(text)
    doc = {
        "url": ENCRYPTION_URL,
        "title": "How SoraStats encrypts private prompts",
        "description": "The exact end-to-end encryption scheme of SoraStats' private prompts, "
        "for anyone to audit.",
        "html": html,
    }
    return Page("about/encryption/index.html", "content.html", dumps(doc))


def vault_pages(docs_dir: Path) -> Iterator[Page]:
    for rel, template, url in SHELLS:
        yield Page(rel, template, dumps({"url": url}), sitemap=False)
    yield encryption_page(docs_dir)
    # Not a shell: indexable, so in the sitemap (the removal form needs script, its text not).
    yield Page("contact/index.html", "contact.html", dumps({"url": "/contact/"}))
