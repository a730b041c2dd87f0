"""The serving table: which rule, Content-Type and Cache-Control each kind of path gets."""

from __future__ import annotations

import pytest

from sorastats import serving

CASES = [
    # path, rule, content type starts with, cache-control
    ("index.html", "page", "text/html; charset=utf-8", serving.PAGE),
    ("c/alice/index.html", "page", "text/html; charset=utf-8", serving.PAGE),
    ("404.html", "page", "text/html; charset=utf-8", serving.PAGE),
    ("static/site.3f2a1b9c0d.css", "fingerprinted asset", "text/css", serving.IMMUTABLE),
    ("static/js/vault.0123456789.js", "fingerprinted asset", "text/javascript", serving.IMMUTABLE),
    ("static/site.css", "page", "text/css", serving.PAGE),  # not fingerprinted: not immutable
    ("static/site.3f2a1b9c0.css", "page", "text/css", serving.PAGE),  # 9 hex digits
    ("pagefind/index/en_1a2b3c4.pf_index", "search index chunk", "application/octet-stream",
     serving.IMMUTABLE),
    ("pagefind-3/fragment/en_9f.pf_fragment", "search index chunk", "application/octet-stream",
     serving.IMMUTABLE),
    ("pagefind-c2/filter/en_1.pf_filter", "search index chunk", "application/octet-stream",
     serving.IMMUTABLE),
    ("pagefind/pagefind-entry.json", "search entry", "application/json", serving.PAGE),
    ("pagefind/pagefind.js", "search entry", "text/javascript", serving.PAGE),
    ("pagefind/wasm.unknown.pagefind", "search entry", "application/octet-stream", serving.PAGE),
    ("feed.xml", "feed or sitemap", "application/atom+xml", serving.FEED),
    ("c/alice/feed.xml", "feed or sitemap", "application/atom+xml", serving.FEED),
    ("sitemap.xml", "feed or sitemap", "application/xml", serving.FEED),
    ("sitemap-3.xml", "feed or sitemap", "application/xml", serving.FEED),
    ("robots.txt", "feed or sitemap", "text/plain", serving.FEED),
    ("a/feed.xml.html", "page", "text/html", serving.PAGE),
    ("LICENSE", "page", "application/octet-stream", serving.PAGE),
    ("img/x.PNG", "page", "image/png", serving.PAGE),
]  # fmt: skip


@pytest.mark.parametrize(("rel", "rule", "ctype", "cache"), CASES)
def test_each_kind_of_path(rel: str, rule: str, ctype: str, cache: str) -> None:
    assert serving.rule_for(rel).name == rule
    assert serving.content_type(rel).startswith(ctype)
    assert serving.cache_control(rel) == cache
    assert serving.is_text(rel) == ("charset=utf-8" in serving.content_type(rel))


def test_every_rule_matches_its_own_example_first() -> None:
    for rule in serving.RULES:
        assert serving.rule_for(rule.example) is rule


def test_what_a_page_refers_to_is_deployed_before_it() -> None:
    phase = {rule.name: rule.phase for rule in serving.RULES}
    assert phase["fingerprinted asset"] < phase["page"]
    assert phase["search index chunk"] < phase["search entry"] < phase["page"]
    assert phase["page"] < phase["feed or sitemap"] < serving.MANIFEST_PHASE


@pytest.mark.parametrize(
    ("rel", "sibling"), [("a.html.gz", True), ("a.html.br", True), ("a.html", False)]
)
def test_siblings(rel: str, sibling: bool) -> None:
    assert serving.is_sibling(rel) is sibling


BOTH = ("br", "gzip")
NEGOTIATION = [
    # Accept-Encoding, siblings that exist, what is sent (None: the file as it is)
    (None, BOTH, None),
    ("", BOTH, None),
    ("identity", BOTH, None),
    ("deflate", BOTH, None),
    ("gzip", BOTH, "gzip"),
    ("br", BOTH, "br"),
    ("gzip, deflate, br", BOTH, "br"),  # what browsers send: br preferred
    ("gzip, br", ("gzip",), "gzip"),  # only a .gz sibling
    ("br", ("gzip",), None),
    ("gzip, br", (), None),  # not compressible (or no sibling): never an encoding
    ("br;q=0, gzip", BOTH, "gzip"),  # q=0 refuses
    ("br;q=0.000, gzip;q=0", BOTH, None),
    ("gzip;q=0.5, br;q=0.4", BOTH, "gzip"),  # the client's weights come first
    ("gzip;q=0.5, br;q=0.5", BOTH, "br"),  # a tie: br
    ("*", BOTH, "br"),
    ("*;q=0", BOTH, None),
    ("br;q=0, *", BOTH, "gzip"),  # `*` covers what is not named
    ("gzip;q=0.2, *;q=0.9", BOTH, "br"),
    ("BR, GZIP", BOTH, "br"),  # names are case-insensitive
    ("x-gzip", BOTH, "gzip"),  # RFC 9110: x-gzip is gzip
    (" gzip ; q=0.8 ", BOTH, "gzip"),
    ("br;q=abc, gzip", BOTH, "gzip"),  # a bad q drops its entry, never an error
    ("br;q=2, gzip;q=-1", BOTH, None),  # q outside 0..1 too
    ("br;Q=0.5;level=3, gzip;q=0.1", BOTH, "br"),
    ("br;q=0, br", BOTH, "br"),  # named twice: the kinder q
    (",,, ;q=1", BOTH, None),
]


@pytest.mark.parametrize(("accept", "available", "chosen"), NEGOTIATION)
def test_choose_encoding(
    accept: str | None, available: tuple[str, ...], chosen: str | None
) -> None:
    assert serving.choose_encoding(accept, available) == chosen


@pytest.mark.parametrize(
    ("rel", "compressible"),
    [("a/index.html", True), ("site.0123456789.css", True), ("feed.xml", True),
     ("x.png", False), ("p/index.pf_fragment", False), ("wasm.en.pagefind", False)],
)  # fmt: skip
def test_compressible(rel: str, compressible: bool) -> None:
    assert serving.is_compressible(rel) is compressible
