"""How each file of a built site is served: its Content-Type, its Cache-Control and where
it comes in a deploy. One table (`RULES`) that the deploy (`sorastats/deploy/`), the dev
server (`python -m api serve --site`) and docs/deploy.md all use, so the bucket, the dev
server and the docs cannot drift apart (tests compare them).

Why these lifetimes: fingerprinted files (`static/site.<hash>.css`, Pagefind's hashed
index chunks) never change under their name, so browsers and the CDN keep them a year.
Everything else keeps its URL across builds (pages, feeds, sitemaps, Pagefind's entry
files): a short max-age, and `stale-while-revalidate` so a CDN answers at once from its
copy while it fetches the next nightly's version behind the scenes.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

IMMUTABLE = "public, max-age=31536000, immutable"
PAGE = "public, max-age=300, stale-while-revalidate=86400"
FEED = "public, max-age=900, stale-while-revalidate=86400"


@dataclass(frozen=True)
class Rule:
    """Files whose path (relative to the site root, `/`-separated) matches `pattern`."""

    name: str
    pattern: re.Pattern[str]
    example: str
    cache_control: str
    phase: int  # deploy order: lower first (what a page refers to exists before the page)
    why: str


# First match wins; the last rule matches everything.
RULES: tuple[Rule, ...] = (
    Rule(
        "fingerprinted asset",
        re.compile(r"^static/.+\.[0-9a-f]{10}(\.[A-Za-z0-9]+)?$"),
        "static/site.3f2a1b9c0d.css",
        IMMUTABLE,
        0,
        "Named by the hash of its content: a new version is a new name.",
    ),
    Rule(
        "archived image",
        re.compile(r"^media/[0-9a-f]{16}-[a-z0-9]+-\d+\.webp$"),
        "media/0a1b2c3d4e5f6789-w1-320.webp",
        IMMUTABLE,
        0,
        "Named by its source's hash and the encoder's settings (sorastats/site/images.py).",
    ),
    Rule(
        "search index chunk",
        re.compile(r"^pagefind(-c?\d+)?/(fragment|index|filter)/[^/]+$"),
        "pagefind/index/en_1a2b3c4.pf_index",
        IMMUTABLE,
        0,
        "Pagefind names its chunks by their content hash.",
    ),
    Rule(
        "search entry",
        re.compile(r"^pagefind(-c?\d+)?/[^/]+$"),
        "pagefind/pagefind-entry.json",
        PAGE,
        1,
        "Pagefind's fixed-name entry files point at the chunks of this build.",
    ),
    Rule(
        "feed or sitemap",
        re.compile(r"(^|/)(feed\.xml|sitemap[^/]*\.xml|robots\.txt)$"),
        "c/alice/feed.xml",
        FEED,
        3,
        "Readers and crawlers poll them; they list pages, so they come after the pages.",
    ),
    Rule(
        "page",
        re.compile(r".*"),
        "c/alice/index.html",
        PAGE,
        2,
        "Same URL every night: short-lived, served stale while the CDN revalidates.",
    ),
)

# The deploy's own bookkeeping objects come after everything else.
MANIFEST_PHASE = 4

_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "svg": "image/svg+xml; charset=utf-8",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
    "ico": "image/x-icon",
    "woff2": "font/woff2",
    "wasm": "application/wasm",
    "parquet": "application/vnd.apache.parquet",
}
# Atom feeds say what they are, so feed readers and browsers treat them as feeds.
_FEED_TYPE = "application/atom+xml; charset=utf-8"
DEFAULT_TYPE = "application/octet-stream"  # Pagefind's .pf_* chunks, anything unknown

# What the writer precompresses (`.gz`/`.br` siblings), by Content-Encoding, in the
# server's order of preference (br is ~15 % smaller than gzip on our pages).
ENCODINGS: dict[str, str] = {"br": ".br", "gzip": ".gz"}
# The types that get those siblings (text; images and fonts are compressed already).
COMPRESSIBLE = (".html", ".css", ".js", ".xml", ".json", ".txt", ".svg")
# RFC 9110 asks servers to take the old x-gzip as gzip.
_ALIASES = {"x-gzip": "gzip"}


def rule_for(rel: str) -> Rule:
    for rule in RULES:
        if rule.pattern.search(rel):
            return rule
    raise AssertionError("the last rule matches every path")  # pragma: no cover


def content_type(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if name == "feed.xml":
        return _FEED_TYPE
    _, dot, ext = name.rpartition(".")
    return _TYPES.get(ext.lower(), DEFAULT_TYPE) if dot else DEFAULT_TYPE


def is_text(rel: str) -> bool:
    return "charset=" in content_type(rel)


def cache_control(rel: str) -> str:
    return rule_for(rel).cache_control


def is_compressible(rel: str) -> bool:
    """The writer gives this file `.gz`/`.br` siblings: its answers vary by Accept-Encoding
    (also the identity ones, so a cache never hands a plain copy to a br client or a br
    copy to a plain one)."""
    return rel.endswith(COMPRESSIBLE)


def choose_encoding(accept_encoding: str | None, available: Collection[str]) -> str | None:
    """The Content-Encoding to answer with, among `available` (keys of ENCODINGS that exist
    for the file), for a request's Accept-Encoding header; None: send the file as it is.

    The client's highest q wins; on a tie, ENCODINGS' order (br, then gzip). `q=0` refuses
    a coding, `*` stands for every coding the header does not name. Entries that do not
    parse (a bad q) are ignored, never an error: identity is always acceptable to us."""
    if not accept_encoding or not available:
        return None
    weights: dict[str, float] = {}
    for entry in accept_encoding.split(","):
        name, _, params = entry.partition(";")
        name = name.strip().lower()
        name = _ALIASES.get(name, name)
        if not name:
            continue
        q = 1.0
        for param in params.split(";") if params else ():
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if not 0.0 <= q <= 1.0:
            continue  # a malformed q: as if the entry were absent
        weights[name] = max(q, weights.get(name, -1.0))  # named twice: the kinder q
    star = weights.get("*", 0.0)
    best: str | None = None
    best_q = 0.0
    for coding in ENCODINGS:  # preference order decides ties: strict > below
        if coding not in available:
            continue
        q = weights.get(coding, star)
        if q > best_q:
            best, best_q = coding, q
    return best


def is_sibling(rel: str) -> bool:
    """A precompressed copy (`x.html.gz`, `x.html.br`) of another file of the site: served
    in place of that file, never under its own name."""
    return rel.endswith((".gz", ".br"))
