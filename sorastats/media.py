"""The media archive: thumbnails and profile pictures, kept once, by content hash, in the
capture archive (`captures/media/ab/<sha256><suffix>`, sorastats.archive), with the table
`media` saying whose each is (a post's thumbnail, a creator's picture).

They come in two ways: downloaded while Sora's signed URLs are valid (`fetch --media`,
`collect`), or as image files inside an imported folder, named by the post's or
creator's id (`attach_files`). Either way a file is checked before it is kept: at most
`MAX_BYTES`, a JPEG, PNG, WebP, GIF or AVIF by its first bytes (not by what a server or
a file name says), and an image Pillow can read the size of, of at most `MAX_PIXELS`.

Downloads are bounded (`MediaLimits`): a connect/read timeout and a total deadline, the
body streamed and dropped as soon as it passes the size limit or shows the wrong type,
retries with backoff for timeouts, connection errors, 429 and 5xx only, and redirects
followed by hand, at most `max_redirects`, and only to http or https URLs of public
addresses (never loopback, private, link-local or reserved ones, checked at each hop).

A post that leaves the site (deleted, no longer public) or a creator who is banned or
shows the default picture again loses its media in the ingest's transaction
(`queue_purge`); the files go right after the commit (`drop_purged`), unless another
owner holds the same content. The site's images are made from these files at build time
(sorastats.site.images), never from a URL.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import duckdb
import httpx
from PIL import Image

from sorastats.archive import MEDIA_SUFFIXES, CaptureArchive, content_key
from sorastats.client import backoff_delay, public_url, retry_after_seconds
from sorastats.tls import tls_context

MAX_BYTES = 5 * 1024 * 1024  # a Sora thumbnail is 30-200 KB; a picture bigger is not one
MAX_PIXELS = 50_000_000  # decoded size bound: a small file may claim a huge image
OWNER_KINDS = ("post", "creator")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SNIFF_BYTES = 32  # enough for every signature below


class MediaError(ValueError):
    """A file or download the archive does not take; one line, never a URL's query."""

    def __init__(self, message: str, *, retry: bool = False, wait: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry  # worth another attempt (a timeout, 429, 5xx)
        self.wait = wait  # what the server asked for (Retry-After), in seconds


@dataclass(frozen=True)
class MediaLimits:
    max_bytes: int = MAX_BYTES
    timeout_s: float = 10.0  # connect, and each read
    total_s: float = 30.0  # the whole download: a server that dribbles bytes is dropped
    retries: int = 2
    backoff_s: float = 0.5
    max_wait_s: float = 10.0
    max_redirects: int = 3
    # Captured data says where to go: never to this machine or its private network (a
    # hostile capture could otherwise make the fetcher read internal services). Tests of
    # a server on 127.0.0.1 turn it on.
    allow_private: bool = False


def sniff(head: bytes) -> str | None:
    """The suffix of an image by its first bytes (JPEG, PNG, GIF, WebP, AVIF), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return ".gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return ".avif"
    return None


def image_size(data: bytes) -> tuple[str, int, int]:
    """(suffix, width, height) of an image the archive takes, or MediaError saying why not."""
    if len(data) > MAX_BYTES:
        raise MediaError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    suffix = sniff(data[:_SNIFF_BYTES])
    if suffix is None:
        raise MediaError("not a JPEG, PNG, GIF, WebP or AVIF image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise MediaError(f"unreadable image ({type(exc).__name__})") from None
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise MediaError(f"image of {width}x{height} pixels is out of bounds")
    assert suffix in MEDIA_SUFFIXES
    return suffix, width, height


class Downloader:
    """GETs one image at a time under `MediaLimits`; `get` returns its bytes or raises
    MediaError (after the retries, for the errors worth retrying)."""

    def __init__(
        self,
        limits: MediaLimits | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or MediaLimits()
        self.requests = 0
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            headers={"Accept": "image/avif,image/webp,image/*", "User-Agent": "sorastats/0.1"},
            timeout=httpx.Timeout(self.limits.timeout_s),
            follow_redirects=False,  # followed by hand: only to http(s), and counted
            verify=tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, url: str) -> bytes:
        self._check(url, "URL")
        limits = self.limits
        for attempt in range(limits.retries + 1):
            try:
                return self._once(url)
            except MediaError as exc:
                if not exc.retry or attempt == limits.retries:
                    raise
                wait = exc.wait
                if wait is None:
                    wait = backoff_delay(attempt, limits.backoff_s, limits.max_wait_s)
                self._sleep(min(wait, limits.max_wait_s))
        raise AssertionError("unreachable: the last attempt raises or returns")

    def _once(self, url: str) -> bytes:
        limits = self.limits
        deadline = self._clock() + limits.total_s
        for _hop in range(limits.max_redirects + 1):
            self.requests += 1
            try:
                with self._http.stream("GET", url) as response:
                    status = response.status_code
                    if status in REDIRECT_STATUSES:
                        location = response.headers.get("Location")
                        if not location:
                            raise MediaError(f"HTTP {status} without a Location")
                        url = urljoin(url, location)
                        self._check(url, "redirect")
                        continue
                    if status in RETRY_STATUSES:
                        wait = retry_after_seconds(response.headers.get("Retry-After"))
                        raise MediaError(f"HTTP {status}", retry=True, wait=wait)
                    if status != 200:
                        raise MediaError(f"HTTP {status} (not retried)")
                    return self._body(response, deadline)
            except httpx.TimeoutException as exc:
                raise MediaError(f"timeout ({type(exc).__name__})", retry=True) from None
            except httpx.TransportError as exc:
                raise MediaError(f"connection error ({type(exc).__name__})", retry=True) from None
        raise MediaError(f"more than {limits.max_redirects} redirects")

    def _body(self, response: httpx.Response, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise MediaError(f"larger than {limit:,} bytes (Content-Length {int(declared):,})")
        parts: list[bytes] = []
        size = 0
        checked = False
        for chunk in response.iter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                raise MediaError(f"larger than {limit:,} bytes")
            if not checked and size >= _SNIFF_BYTES:
                # Stop at once on a page of HTML or a video: the type is in the first bytes.
                if sniff(b"".join(parts)[:_SNIFF_BYTES]) is None:
                    raise MediaError("not a JPEG, PNG, GIF, WebP or AVIF image")
                checked = True
            if self._clock() > deadline:
                raise MediaError(
                    f"slower than {self.limits.total_s:g} s for the whole body", retry=True
                )
        return b"".join(parts)

    def _check(self, url: str, what: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise MediaError(
                f"{what} to a {scheme or 'relative'}: URL refused (http and https only)"
            )
        if not self.limits.allow_private:
            _check_public(parts.hostname or "", parts.port or (443 if scheme == "https" else 80))


def _check_public(host: str, port: int) -> None:
    """Every address `host` names must be public (a name resolving to 10.0.0.1 too)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise MediaError(f"host {host[:100]!r} does not resolve", retry=True) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise MediaError(f"host {host[:100]!r} is not a public address ({address}): refused")


# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaRow:
    owner_kind: str
    owner_id: str
    sha256: str
    suffix: str
    width: int
    height: int


def store(
    con: duckdb.DuckDBPyConnection,
    archive: CaptureArchive,
    owner_kind: str,
    owner_id: str,
    data: bytes,
    source: str,
    now: datetime,
) -> MediaRow:
    """Keep `data` as the media of one post or creator (replacing what it had), in one
    transaction; raises MediaError for a file the archive does not take."""
    if owner_kind not in OWNER_KINDS:
        raise ValueError(f"owner_kind must be one of {OWNER_KINDS}, not {owner_kind!r}")
    suffix, width, height = image_size(data)
    key = content_key(data)
    archive.put_media(data, suffix)
    archive.sync()  # the row never names a file a power cut could lose
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO media_purges SELECT sha256, suffix FROM media "
            "WHERE owner_kind = ? AND owner_id = ? AND sha256 <> ?",
            [owner_kind, owner_id, key],
        )
        con.execute(
            "DELETE FROM media WHERE owner_kind = ? AND owner_id = ?", [owner_kind, owner_id]
        )
        con.execute(
            "INSERT INTO media VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [owner_kind, owner_id, key, suffix, width, height, len(data), source[:500], now],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    drop_purged(con, archive)
    return MediaRow(owner_kind, owner_id, key, suffix, width, height)


# What the ingest runs in a batch's transaction, after `s_gone` (the posts that left)
# is made and the creators are updated: media whose owner left the site go from the
# table now, and their files after the commit (`drop_purged`).
PURGE_SQL: tuple[str, ...] = (
    """CREATE OR REPLACE TEMP TABLE s_media_gone AS
       SELECT owner_kind, owner_id FROM media
       WHERE (owner_kind = 'post' AND owner_id IN (SELECT id FROM s_gone))
          OR (owner_kind = 'creator' AND owner_id IN (
                SELECT id FROM creators
                WHERE banned_at IS NOT NULL OR coalesce(is_default_profile_picture, false)))""",
    """INSERT INTO media_purges SELECT sha256, suffix FROM media
       WHERE (owner_kind, owner_id) IN (SELECT (owner_kind, owner_id) FROM s_media_gone)""",
    """DELETE FROM media
       WHERE (owner_kind, owner_id) IN (SELECT (owner_kind, owner_id) FROM s_media_gone)""",
)


def queue_purge(con: duckdb.DuckDBPyConnection) -> None:
    """In the caller's transaction: remove the media rows of posts in `s_gone` and of
    banned creators or those showing the default picture, listing their files."""
    for statement in PURGE_SQL:
        con.execute(statement)


def drop_purged(con: duckdb.DuckDBPyConnection, archive: CaptureArchive | None) -> int:
    """Outside a transaction: delete the files committed purges listed (unless a row names
    the same content again), then forget them. Returns how many files went."""
    listed = con.execute(
        "SELECT DISTINCT sha256, suffix FROM media_purges "
        "WHERE sha256 NOT IN (SELECT sha256 FROM media)"
    ).fetchall()
    removed = 0
    if archive is not None:
        removed = sum(archive.remove_media(str(key), str(suffix)) for key, suffix in listed)
    con.execute("DELETE FROM media_purges")
    return removed


# -- the two ways in -------------------------------------------------------------------------


@dataclass
class MediaCounts:
    stored: int = 0  # files kept now (new rows)
    failed: int = 0  # downloads or files refused
    unmatched: int = 0  # image files named by no known post or creator
    errors: list[str] | None = None  # the first few reasons, for the run's report

    def note(self, what: str, reason: str) -> None:
        self.failed += 1
        if self.errors is None:
            self.errors = []
        if len(self.errors) < 10:
            self.errors.append(f"{what}: {reason}")


CANDIDATES_SQL = """
    SELECT 'post' AS kind, p.id, p.thumbnail_url FROM posts p
    WHERE p.thumbnail_url IS NOT NULL AND (p.media_expires_at IS NULL OR p.media_expires_at > $now)
      AND p.id NOT IN (SELECT owner_id FROM media WHERE owner_kind = 'post')
    UNION ALL
    SELECT 'creator', c.id, c.profile_picture_url FROM creators c
    WHERE c.profile_picture_url IS NOT NULL AND c.banned_at IS NULL
      AND NOT coalesce(c.is_default_profile_picture, false)
      AND (c.profile_picture_expires_at IS NULL OR c.profile_picture_expires_at > $now)
      AND c.id NOT IN (SELECT owner_id FROM media WHERE owner_kind = 'creator')
    ORDER BY 1 DESC, 2
    LIMIT $limit
"""


def collect(
    con: duckdb.DuckDBPyConnection,
    archive: CaptureArchive,
    downloader: Downloader,
    now: datetime,
    *,
    limit: int = 10_000,
) -> MediaCounts:
    """Download the media of posts and creators that have none yet and whose signed URL
    is still valid at `now` (each once: a kept one is never fetched again). A failed
    download is counted and the next run tries again while the URL is valid."""
    counts = MediaCounts()
    rows = con.execute(CANDIDATES_SQL, {"now": now, "limit": limit}).fetchall()
    for kind, owner_id, url in rows:
        where = f"{kind} {owner_id} ({public_url(str(url))})"
        try:
            data = downloader.get(str(url))
            store(con, archive, str(kind), str(owner_id), data, public_url(str(url)), now)
        except MediaError as exc:
            counts.note(where, str(exc))
            continue
        counts.stored += 1
    return counts


def image_files(paths: Iterable[Path]) -> list[Path]:
    """Image files (by suffix) under the given files and folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
            )
        elif path.is_file() and path.suffix.lower() in MEDIA_SUFFIXES:
            found.append(path)
    return sorted(found)


def attach_files(
    con: duckdb.DuckDBPyConnection, archive: CaptureArchive, files: list[Path], now: datetime
) -> MediaCounts:
    """Keep image files named by a post's or creator's id (`s_….webp`, `user-….jpg`) as
    its media; files named by no known post or creator are counted, not kept."""
    counts = MediaCounts()
    for path in files:
        owner_id = path.stem
        kind = _owner_kind(con, owner_id)
        if kind is None:
            counts.unmatched += 1
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                raise MediaError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
            data = path.read_bytes()
            held = con.execute(
                "SELECT sha256 FROM media WHERE owner_kind = ? AND owner_id = ?", [kind, owner_id]
            ).fetchone()
            if held is not None and held[0] == content_key(data):
                continue  # kept already (a folder imported again)
            store(con, archive, kind, owner_id, data, path.name, now)
        except MediaError as exc:
            counts.note(str(path), str(exc))
            continue
        counts.stored += 1
    return counts


def _owner_kind(con: duckdb.DuckDBPyConnection, owner_id: str) -> str | None:
    row = con.execute(
        "SELECT 'post' FROM posts WHERE id = $id UNION ALL "
        "SELECT 'creator' FROM creators WHERE id = $id LIMIT 1",
        {"id": owner_id},
    ).fetchone()
    return str(row[0]) if row else None
