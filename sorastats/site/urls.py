"""Pure URL, slug, path and pagination logic (no I/O), table-tested."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# A username becomes a URL segment as is (lower-cased) only when it is plainly safe;
# anything else falls back to the stable creator id. `u-` is reserved for that fallback.
_SAFE_USERNAME = re.compile(r"[a-z0-9._-]{1,64}")
_SAFE_POST_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")

# The same rule in SQL, so the model can resolve slugs (and collisions) in one query.
# tests/sorastats/site/test_pure.py checks it agrees with `creator_slug` on a table of inputs.
SQL_SLUG_EXPR = (
    "CASE WHEN regexp_full_match(lower({u}), '[a-z0-9._-]{{1,64}}') "
    "AND lower({u}) NOT IN ('.', '..') AND NOT starts_with(lower({u}), 'u-') "
    "THEN lower({u}) ELSE 'u-' || regexp_replace(lower({i}), '[^a-z0-9_-]', '-', 'g') END"
)
SQL_POST_ID_OK = "regexp_full_match({p}, '[A-Za-z0-9_-]{{1,80}}')"


def creator_slug(username: str | None, creator_id: str) -> str:
    """The URL segment of a creator: the lower-cased username when safe, else `u-<id>`."""
    name = (username or "").lower()
    if _SAFE_USERNAME.fullmatch(name) and name not in (".", "..") and not name.startswith("u-"):
        return name
    return "u-" + re.sub(r"[^a-z0-9_-]", "-", creator_id.lower())


def post_id_ok(post_id: str) -> bool:
    return bool(_SAFE_POST_ID.fullmatch(post_id))


def creator_url(slug: str, page: int = 1) -> str:
    return f"/c/{slug}/" if page <= 1 else f"/c/{slug}/page/{page}/"


def post_url(post_id: str) -> str:
    return f"/p/{post_id}/"


def board_url(board: str, page: int = 1) -> str:
    return f"/top/{board}/" if page <= 1 else f"/top/{board}/page/{page}/"


def output_path(url: str) -> str:
    """The file (relative to the site root) that serves `url`: `/a/b/` -> `a/b/index.html`."""
    if not url.startswith("/") or "//" in url or "/../" in url or "/./" in url:
        raise ValueError(f"not a site path: {url!r}")
    rel = url[1:]
    if rel == "" or rel.endswith("/"):
        return rel + "index.html"
    return rel


def absolute(base_url: str, url: str) -> str:
    """Canonical absolute URL of a site path (base URL without trailing slash)."""
    return base_url.rstrip("/") + url


def normalize_base_url(base_url: str) -> str:
    """Validate `--base-url`: http(s), a host, no query or fragment; returned without a
    trailing slash."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--base-url must be an absolute http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"--base-url must not have a query or fragment: {base_url!r}")
    return base_url.rstrip("/")


def safe_external_url(url: str | None) -> str | None:
    """An http(s) URL from other people's data, or None (drops `javascript:` and friends)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        return url.strip()
    return None


@dataclass(frozen=True)
class Pagination:
    page: int
    pages: int

    @property
    def prev(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def page_count(items: int, per_page: int) -> int:
    """Pages needed for `items` (at least one, so an empty list still has its page)."""
    if per_page <= 0:
        raise ValueError("per_page must be positive")
    return max(1, math.ceil(items / per_page))


def page_window(page: int, pages: int, width: int = 2) -> list[int | None]:
    """Page numbers to show around `page`, with None for a gap: 1 … 4 5 [6] 7 8 … 20."""
    shown = {1, pages, *range(max(1, page - width), min(pages, page + width) + 1)}
    out: list[int | None] = []
    last = 0
    for n in sorted(shown):
        if n - last > 1:
            out.append(None)
        out.append(n)
        last = n
    return out


def chunks_of(total: int, size: int) -> list[range]:
    """Split `range(total)` into consecutive ranges of at most `size` (sitemaps)."""
    if size <= 0:
        raise ValueError("size must be positive")
    return [range(s, min(total, s + size)) for s in range(0, total, size)]
