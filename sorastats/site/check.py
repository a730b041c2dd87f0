"""`check`: every page parses and has a title, canonical URL and description; every
internal link and asset resolves; nothing loads from another host.

A site built without search (`--no-search`) has no Pagefind folders: its manifest lists
no search bundle, and links into `/pagefind*/` (the search page's UI) are then not
problems. A site whose manifest lists bundles, or a folder without a manifest, is
checked in full."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sorastats.site.manifest import manifest_file

SKIP_DIRS = ("pagefind",)
# Elements whose URL the browser fetches by itself: these must never leave the site.
FETCHED = {("script", "src"), ("img", "src"), ("link", "href"), ("iframe", "src"),
           ("source", "src"), ("video", "src"), ("audio", "src")}  # fmt: skip


@dataclass
class PageFacts:
    title: str = ""
    canonical: str | None = None
    description: str | None = None
    refresh: str | None = None
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attr, url)
    tags: set[str] = field(default_factory=set)


# A few compiled patterns over the whole page, instead of html.parser's per-tag Python
# (measured on the sample site: about 4x less CPU, and the nightly check reads every
# page). tests/support/html.py keeps html.parser's reading as the oracle: the tests compare
# the two on every page of a built site and on hand-written odd markup.
_TAG_BODY = r"(?:[^>\"']|\"[^\"]*\"|'[^']*')*"  # attributes; a quoted '>' stays inside
# Comments, declarations, and the text of script and style (which is not markup): gone,
# the start tag of a script or style kept.
_HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<[!?][^>]*>"
    rf"|(<(script|style)\b{_TAG_BODY}(?<!/)>).*?(?:</\2[^>]*>|\Z)",
    re.S | re.I,
)
_START_TAG = re.compile(rf"<([a-zA-Z][^\s/>]*)({_TAG_BODY})>")
_ANY_TAG = re.compile(rf"</?[a-zA-Z][^\s/>]*{_TAG_BODY}>")
_TITLE = re.compile(rf"<title\b{_TAG_BODY}>(.*?)(?:</title\b[^>]*>|\Z)", re.S | re.I)
_ATTR = re.compile(
    r"((?<=[\'\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*(\'[^\']*\'|\"[^\"]*\"|(?![\'\"])[^>\s]*))?"
)
_LINKING = re.compile(r"href|src", re.I)
_READ_ALWAYS = frozenset({"link", "meta"})


def _attrs(text: str) -> dict[str, str]:
    """Attribute names lowercased, values unquoted and unescaped; the first of a
    repeated name wins (as browsers read it)."""
    found: dict[str, str] = {}
    for match in _ATTR.finditer(" " + text):
        name, value = match.group(1).lower(), match.group(3) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        found.setdefault(name, unescape(value) if "&" in value else value)
    return found


def parse_page(html: str) -> PageFacts:
    facts = PageFacts()
    markup = _HIDDEN.sub(r"\1", html)
    facts.title = "".join(unescape(_ANY_TAG.sub("", m.group(1))) for m in _TITLE.finditer(markup))
    names: set[str] = set()
    for name, raw in _START_TAG.findall(markup):
        names.add(name)
        # Most tags carry nothing the check reads: their attributes are not read.
        lower = name.lower()
        if lower not in _READ_ALWAYS and not _LINKING.search(raw):
            continue
        a = _attrs(raw)
        if lower == "link" and a.get("rel") == "canonical":
            facts.canonical = a.get("href")
        elif lower == "meta" and a.get("name") == "description":
            facts.description = a.get("content")
        elif lower == "meta" and a.get("http-equiv", "").lower() == "refresh":
            facts.refresh = a.get("content")
        for attr in ("href", "src"):
            if attr in a and not (lower == "link" and a.get("rel") == "canonical"):
                facts.links.append((lower, attr, a[attr]))
    facts.tags = {name.lower() for name in names}
    return facts


def target_exists(root: Path, path: str) -> bool:
    rel = unquote(path).lstrip("/")
    if ".." in rel.split("/"):
        return False
    candidate = root / rel
    if path.endswith("/") or rel == "":
        return (candidate / "index.html").is_file()
    return candidate.is_file() or (candidate / "index.html").is_file()


def search_built(root: Path) -> bool:
    """False for a site built without search: its manifest lists no search bundle (the
    keys ending in '/'). True for any other folder, with or without a manifest."""
    path = manifest_file(root)
    if path is None:
        return True
    with open(path, encoding="utf-8") as lines:
        next(lines)  # the header
        return any(line[: line.find("\t")].endswith("/") for line in lines)


def _search_path(path: str) -> bool:
    """A URL path into a Pagefind bundle (`/pagefind/`, `/pagefind-N/`, `/pagefind-cN/`)."""
    first = path.lstrip("/").split("/", 1)[0]
    return first == "pagefind" or first.startswith("pagefind-")


def check_page(
    root: Path,
    rel: str,
    base_url: str | None,
    search: bool = True,
    exists: dict[str, bool] | None = None,
) -> list[str]:
    """The problems of one page. `exists` remembers which link targets exist, across
    the pages of one check (most pages link the same assets and sections)."""
    exists = {} if exists is None else exists
    problems: list[str] = []
    try:
        facts = parse_page((root / rel).read_text("utf-8"))
    except UnicodeDecodeError as exc:
        return [f"{rel}: does not parse: {exc}"]
    if not {"html", "head"} <= facts.tags:
        problems.append(f"{rel}: not a whole HTML document")
    if not facts.title.strip():
        problems.append(f"{rel}: no title")
    if not (facts.description or "").strip():
        problems.append(f"{rel}: no meta description")
    if not facts.canonical:
        problems.append(f"{rel}: no canonical link")
    elif base_url and not facts.canonical.startswith(base_url.rstrip("/") + "/"):
        problems.append(f"{rel}: canonical {facts.canonical} is not under {base_url}")
    host = urlsplit(base_url).netloc if base_url else None
    for tag, attr, url in facts.links:
        parts = urlsplit(url)
        if parts.scheme in ("mailto", "tel") or url.startswith("#"):
            continue
        if parts.scheme and parts.scheme not in ("http", "https"):
            problems.append(f"{rel}: <{tag} {attr}> uses a {parts.scheme}: URL")
            continue
        if parts.netloc and parts.netloc != host:
            if (tag, attr) in FETCHED:
                problems.append(f"{rel}: <{tag} {attr}={url}> loads from another host")
            continue
        path = parts.path
        if not path:
            continue
        if not path.startswith("/"):
            path = "/" + str(Path(rel).parent / path)
        if not search and _search_path(path):
            continue  # built without search: no Pagefind folders, by design
        found = exists.get(path)
        if found is None:
            found = exists[path] = target_exists(root, path)
        if not found:
            problems.append(f"{rel}: broken link <{tag} {attr}={url}>")
    return problems


def check_site(root: Path, base_url: str | None = None) -> tuple[int, list[str]]:
    """Check a built site; returns (files checked, problems)."""
    if not root.is_dir():
        return 0, [f"{root}: no such site folder"]
    problems: list[str] = []
    checked = 0
    search = search_built(root)
    exists: dict[str, bool] = {}
    for dirpath, dirs, files in os.walk(root):
        if Path(dirpath) == root:
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if name.endswith(".html"):
                checked += 1
                problems.extend(check_page(root, rel, base_url, search, exists))
            elif name.endswith(".xml"):
                checked += 1
                try:
                    ET.parse(root / rel)  # noqa: S314 - our own output
                except ET.ParseError as exc:
                    problems.append(f"{rel}: XML does not parse: {exc}")
    return checked, problems
