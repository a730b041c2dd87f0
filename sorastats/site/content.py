"""Markdown pages from `content/` (privacy, terms, about, about/ranking).

A page starts with a small header of `key: value` lines between `---` lines (title and
description are required), then Markdown. Raw HTML in Markdown is disabled; the lines
that mark a generated table (`<!-- generated: NAME -->`, `<!-- /generated -->`: the
privacy page's retention table, written by tests/support/docgen.py) are dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

# A whole line that opens or closes a generated block (tests/support/docgen.py's BLOCK).
GENERATED_MARKER = re.compile(r"^<!-- (?:generated: [^>]*|/generated) -->\n", re.M)


class ContentError(ValueError):
    """A content file is malformed."""


@dataclass(frozen=True)
class ContentPage:
    url: str
    title: str
    description: str
    html: str


def parse_front_matter(text: str, source: str) -> tuple[dict[str, str], str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ContentError(f"{source}: must start with a '---' header")
    meta: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return meta, "\n".join(lines[i + 1 :])
        key, sep, value = line.partition(":")
        if not sep:
            raise ContentError(f"{source}:{i + 1}: expected 'key: value', got {line!r}")
        meta[key.strip()] = value.strip()
    raise ContentError(f"{source}: header is not closed with '---'")


def content_url(rel: Path) -> str:
    """`privacy.md` -> `/privacy/`, `about/ranking.md` -> `/about/ranking/`."""
    return "/" + rel.with_suffix("").as_posix() + "/"


NOTICE_FILE = "notice.txt"  # the one-line notice every page shows (not a page itself)
NOTICE_MAX_CHARS = 300


def load_notice(content_dir: Path) -> str:
    """The site-wide notice: `notice.txt` in the content folder as one line of plain
    text (escaped where shown), or "" when there is none. Raises ContentError when it
    is too long to stay one line."""
    path = content_dir / NOTICE_FILE
    if not path.is_file():
        return ""
    text = " ".join(path.read_text("utf-8").split())
    if len(text) > NOTICE_MAX_CHARS:
        raise ContentError(
            f"{NOTICE_FILE}: {len(text)} characters; the notice is one line of at most "
            f"{NOTICE_MAX_CHARS}"
        )
    return text


def labelled_tables(tokens: list[Token]) -> list[Token]:
    """Tables made to reflow on phones: `class="reflow"`, and each body cell carries its
    column's header text in `data-label`, which the stylesheet shows above the cell when
    the rows stack (a 4-column table does not fit a 360 px screen)."""
    headers: list[str] = []
    column = 0
    in_head = False
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            token.attrSet("class", "reflow")
            headers = []
        elif token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            column = 0
        elif token.type == "th_open" and in_head:
            inline = tokens[i + 1]
            headers.append(inline.content if inline.type == "inline" else "")
        elif token.type == "td_open":
            if column < len(headers) and headers[column]:
                token.attrSet("data-label", headers[column])
            column += 1
    return tokens


def load_content(content_dir: Path) -> list[ContentPage]:
    md = MarkdownIt("js-default")  # CommonMark + tables, raw HTML off
    pages: list[ContentPage] = []
    for path in sorted(content_dir.rglob("*.md")):
        rel = path.relative_to(content_dir)
        meta, body = parse_front_matter(path.read_text("utf-8"), str(rel))
        for key in ("title", "description"):
            if not meta.get(key):
                raise ContentError(f"{rel}: missing '{key}' in the header")
        pages.append(
            ContentPage(
                content_url(rel),
                meta["title"],
                meta["description"],
                md.renderer.render(
                    labelled_tables(md.parse(GENERATED_MARKER.sub("", body))), md.options, {}
                ),
            )
        )
    return pages
