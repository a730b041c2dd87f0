"""The renderer's settings: one declarative table feeding the CLI help and docs/site.md (a
test checks every setting is documented)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sorastats.contributions import NONE, Contributions
from sorastats.files import site_file
from sorastats.site.urls import normalize_base_url


@dataclass(frozen=True)
class Setting:
    option: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("--db", "DuckDB database to render from (default: data/sorastats.duckdb)"),
    Setting("--out", "live site folder; staging, the previous site and a cache sit beside it"),
    Setting("--base-url", "absolute URL the site is served at, for canonical links"),
    Setting("--jobs", "render processes (default: the number of cores)"),
    Setting("--full", "ignore the manifest and re-render every page"),
    Setting("--no-search", "skip the Pagefind search index (quick local or test builds)"),
    Setting(
        "--contact",
        "how to reach the team (an email address or an https:// URL): the Contact link in "
        "every page's footer, where the privacy policy sends privacy requests",
    ),
    Setting(
        "--contributions",
        "creators' decisions from the accounts API: its URL (read with "
        "$SORASTATS_BUILD_TOKEN), a file of the export, or `none` (the default); a "
        "failing export stops the build before it publishes (docs/creators.md)",
    ),
)

CONTACT_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
CONTACT_URL = re.compile(r"https://[^\s<>\"]+")


def contact_href(contact: str) -> str:
    """The link of the footer's Contact entry ("" when there is none)."""
    if not contact:
        return ""
    return f"mailto:{contact}" if CONTACT_EMAIL.fullmatch(contact) else contact


# Settings that change no page's output (paths, parallelism, what to rebuild or build).
_NOT_OUTPUT = frozenset(
    (
        "db",
        "out",
        "jobs",
        "full",
        "search",
        "templates",
        "content",
        "batch_size",
        "fetch_size",
        # Creators' decisions change page documents, which the page hashes already cover.
        "contributions",
        "captures",
    )
)


@dataclass(frozen=True)
class RenderConfig:
    db: Path
    out: Path = Path("site")
    base_url: str = "http://127.0.0.1:8000"
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    full: bool = False
    search: bool = True  # build the Pagefind index; pages are the same either way
    templates: Path = field(default_factory=lambda: site_file("templates"))
    content: Path = field(default_factory=lambda: site_file("content"))
    creator_page_size: int = 24
    board_size: int = 500
    board_page_size: int = 50
    feed_size: int = 50
    creator_feed_size: int = 20
    sitemap_max_urls: int = 50_000
    batch_size: int = 256
    fetch_size: int = 2_000
    contact: str = ""  # an email address or https URL; "" shows no Contact link
    # What creators decided through the API (sorastats.contributions; none by default).
    contributions: Contributions = NONE
    # The capture archive whose media become the site's images (sorastats/site/images.py);
    # None: the ingest's default, `captures/<database name>/` beside the database.
    captures: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.contact and not (
            CONTACT_EMAIL.fullmatch(self.contact) or CONTACT_URL.fullmatch(self.contact)
        ):
            raise ValueError(
                f"--contact must be an email address or an https:// URL, not {self.contact!r}"
            )
        if self.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if not 1 <= self.sitemap_max_urls <= 50_000:
            raise ValueError("sitemap_max_urls must be within 1..50000")

    def fingerprint(self) -> str:
        """Hash of the settings that change page output (not paths or job counts)."""
        shown = {k: v for k, v in asdict(self).items() if k not in _NOT_OUTPUT}
        return hashlib.blake2b(
            json.dumps(shown, sort_keys=True).encode(), digest_size=8
        ).hexdigest()
