"""`check`'s page scanner (one compiled pattern, for speed) reads what html.parser reads:
the title, canonical, description, refresh, every href/src and the tags. Odd markup here;
every page of a built site in test_ingested.py."""

from __future__ import annotations

import pytest

from sorastats.site.check import parse_page
from tests.support.html import facts_by_html_parser

PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>{title}</title>{head}</head><body>{body}</body></html>"
)

CASES = {
    "plain": (
        "A &amp; B",
        '<link rel="canonical" href="https://x.example/a/">',
        '<a href="/b/">b</a>',
    ),
    "uppercase tags and attributes": (
        "T",
        '<LINK REL="canonical" HREF="/c/">',
        '<A HREF="/d/">d</A>',
    ),
    "single quotes and bare values": (
        "T",
        "<meta name='description' content='d e'>",
        "<a href=/e/>e</a>",
    ),
    "entities in attributes": ("T", "", '<a href="/s?q=a&amp;b=&#39;c&#39;">s</a>'),
    "a gt inside a quoted value": ("T", "", '<a title="x > y" href="/f/">f</a>'),
    "a comment hides a link": ("T", "<!-- <a href='/gone/'> -->", '<a href="/g/">g</a>'),
    "script text is not markup": (
        "T",
        '<script src="/static/a.js"></script>',
        '<script>var s = "<a href=\\"/nope/\\">"; if (a<b) {}</script><a href="/h/">h</a>',
    ),
    "style text is not markup": (
        "T",
        "<style>a[href='/no/']{}</style>",
        '<img src="/i.png" alt="">',
    ),
    "self-closing tags": ("T", '<link rel="icon" href="/f.ico"/>', '<img src="/j.png"/><br/>'),
    "repeated attribute: the first wins": ("T", "", '<a href="/one/" href="/two/">x</a>'),
    "valueless attributes": ("T", "", '<input disabled><a download href="/k/">k</a>'),
    "refresh redirect": ("T", '<meta http-equiv="Refresh" content="0; url=/l/">', ""),
    "a tag inside the title": ("Ti<b>tl</b>e &lt;3", "", ""),
    "whitespace around equals": ("T", "", '<a href = "/m/" >m</a>'),
    "an empty title": ("", "", ""),
    "newlines in a tag": ("T", "", '<a\n  class="x"\n  href="/n/"\n>n</a>'),
}


@pytest.mark.parametrize("case", CASES)
def test_the_scanner_reads_what_html_parser_reads(case: str) -> None:
    title, head, body = CASES[case]
    html = PAGE.format(title=title, head=head, body=body)
    assert parse_page(html) == facts_by_html_parser(html)


def test_what_the_scanner_reads() -> None:
    html = PAGE.format(
        title="Top &amp; rising",
        head='<link rel="canonical" href="https://x.example/top/">'
        '<meta name="description" content="d">',
        body='<a href="/c/a/">a</a><script>"<a href=/no/>"</script><img src="/p.png">',
    )
    facts = parse_page(html)
    assert facts.title == "Top & rising"
    assert facts.canonical == "https://x.example/top/" and facts.description == "d"
    assert facts.links == [("a", "href", "/c/a/"), ("img", "src", "/p.png")]
    assert {"html", "head", "body", "title", "meta", "link", "a", "script", "img"} == facts.tags


def test_unterminated_markup_does_not_hang_or_raise() -> None:
    for html in ["<html><head><title>cut", "<a href='/x", "<!-- open", "<script>never closed"]:
        parse_page(html)  # returns; check_page then reports what is missing
    assert parse_page("<html><head><title>cut").title == "cut"
