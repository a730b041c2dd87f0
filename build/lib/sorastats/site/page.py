"""One output page: where it goes, which template renders it, and the JSON document that
is everything it shows (the builder hashes the document to skip unchanged pages)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    rel: str  # output path relative to the site root
    template: str
    doc: str  # JSON document: everything the page shows
    sitemap: bool = True  # listed in the sitemap (not redirects, feeds, 404)


def dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
