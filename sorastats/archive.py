"""The capture archive: every captured document kept once, as files named by the SHA-256
of their content, under `data/captures/` beside the database (never published).

Since Sora closed its captures cannot be fetched again, so they are kept whole, outside
the database: immutable files are the home data systems give raw input (a database table
paid write-ahead log for every byte of them). Layout:

    captures/json/ab/abcdef...(64 hex).json.zst   a JSON document, zstd-compressed
    captures/media/ab/abcdef....webp              a media file, as it came

JSON is compressed with zstd (DuckDB's `read_json(..., compression='zstd')` and the
`zstd` tool read it); media files (thumbnails, profile pictures) are compressed already
and are kept as they came. Either kind is written once: a file whose name exists is not
written again, so storing is O(1) for content the archive holds. Files change only by a
purge (`sorastats.ingest.Applier.purge_archive`): the new content goes to a new name
first, then the old file goes.

Library only: nothing here prints, and the database's index of the archive (`captures`)
is the ingest's business (`sorastats.ingest`)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # the standard library's from Python 3.14
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python < 3.14
    from backports import zstd  # type: ignore[import-not-found,unused-ignore,no-redef]

ZSTD_LEVEL = 3  # zstd's default: about 5x on capture JSON at several hundred MB/s
JSON_SUFFIX = ".json.zst"
EMPTY_CONTENT = hashlib.sha256(b"").hexdigest()  # the key of the file of no bytes
# What `raw`'s JSON of a post leaves out, as the ingest does (sorastats.parse.flatten):
# the wrappers nested in it, which have rows of their own. A merge patch's nulls remove.
_NESTED_CUT = (
    '{"children": null, "cursor": null, '
    '"post": {"parent_post": null, "remix_posts": null, "ancestors": null}}'
)
# Media kinds the archive takes, by suffix (what a browser or image tool expects).
MEDIA_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif"})
_KEY = re.compile(r"[0-9a-f]{64}")


class ArchiveError(ValueError):
    """A key or suffix the archive does not take, or a file that is not what its name
    says (damaged on disk)."""


def compress(data: bytes) -> bytes:
    """zstd at the archive's level (what `zstd -3` makes)."""
    packed: bytes = zstd.compress(data, level=ZSTD_LEVEL)
    return packed


def decompress(data: bytes) -> bytes:
    """Any zstd frame back to its bytes."""
    plain: bytes = zstd.decompress(data)
    return plain


def content_key(data: bytes) -> str:
    """The name of `data` in the archive: the SHA-256 of its bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Stored:
    key: str
    path: Path
    size: int  # bytes of the content
    stored_size: int  # bytes on disk
    new: bool  # written now (False: the archive held it already)


class CaptureArchive:
    """Content-addressed files under `root` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._made: set[Path] = set()  # folders known to exist (one mkdir each, not per file)

    def prepare(self) -> None:
        """Make the archive's folder, or raise ArchiveError saying why it cannot be used
        (called before a run touches anything: no record goes in without its capture)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe.{os.getpid()}.tmp"
            probe.write_bytes(b"")
            probe.unlink()
            # The file of empty content: DuckDB's readers refuse a glob that matches no
            # file, and the view `raw` reads the archive through one (raw_view_sql).
            self.put_json(b"")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ArchiveError(
                f"capture archive {self.root}: cannot write there: {reason}"
            ) from None

    # -- naming ----------------------------------------------------------------------

    def json_path(self, key: str) -> Path:
        _check_key(key)
        return self.root / "json" / key[:2] / f"{key}{JSON_SUFFIX}"

    def media_path(self, key: str, suffix: str) -> Path:
        _check_key(key)
        suffix = suffix.lower()
        if suffix not in MEDIA_SUFFIXES:
            raise ArchiveError(
                f"media suffix {suffix!r} is not one the archive takes "
                f"({', '.join(sorted(MEDIA_SUFFIXES))})"
            )
        return self.root / "media" / key[:2] / f"{key}{suffix}"

    def has_json(self, key: str) -> bool:
        return self.json_path(key).is_file()

    # -- writing ---------------------------------------------------------------------

    def put_json(self, data: bytes) -> Stored:
        """Keep one JSON document (its bytes, compressed); O(1) when already kept."""
        key = content_key(data)
        path = self.json_path(key)
        if path.is_file():
            return Stored(key, path, len(data), path.stat().st_size, new=False)
        packed = compress(data)
        self._write_new(path, packed)
        return Stored(key, path, len(data), len(packed), new=True)

    def json_writer(self) -> JsonWriter:
        """Keep a document too large to hold in memory, written in parts (a JSONL file)."""
        return JsonWriter(self)

    def put_media(self, data: bytes, suffix: str) -> Stored:
        """Keep one media file as it came; O(1) when already kept."""
        key = content_key(data)
        path = self.media_path(key, suffix)
        if path.is_file():
            return Stored(key, path, len(data), len(data), new=False)
        self._write_new(path, data)
        return Stored(key, path, len(data), len(data), new=True)

    def _write_new(self, path: Path, data: bytes) -> None:
        """Write `data` at `path` whole or not at all: a temporary name in the same
        folder, then a rename (a file under an archive name is always complete). Reaching
        the disk is `sync`'s job, once per batch rather than once per file."""
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)

    def sync(self) -> None:
        """Make every file written so far durable: called before a database commit that
        refers to them, so the index never names a file a power cut could lose."""
        if self.root.is_dir():
            _syncfs(self.root)

    def has_media(self, key: str, suffix: str) -> bool:
        return self.media_path(key, suffix).is_file()

    def read_media(self, key: str, suffix: str) -> bytes:
        """A media file's bytes; raises ArchiveError if they are not what its name says."""
        path = self.media_path(key, suffix)
        data = path.read_bytes()
        if content_key(data) != key:
            raise ArchiveError(f"{path}: its content does not match its name")
        return data

    def remove_media(self, key: str, suffix: str) -> bool:
        try:
            self.media_path(key, suffix).unlink()
        except FileNotFoundError:
            return False
        return True

    def remove_json(self, key: str) -> bool:
        try:
            self.json_path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    # -- reading ---------------------------------------------------------------------

    def read_json(self, key: str) -> bytes:
        """The document's bytes; raises ArchiveError if the file is not what its name says."""
        data = decompress(self.json_path(key).read_bytes())
        if content_key(data) != key:
            raise ArchiveError(f"{self.json_path(key)}: its content does not match its name")
        return data

    def json_keys(self) -> Iterator[str]:
        """The key of every file that holds JSON, in no particular order (not the file of
        empty content that `prepare` makes for DuckDB's globs)."""
        base = self.root / "json"
        if not base.is_dir():
            return
        for folder in os.scandir(base):
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder.path):
                name = entry.name
                key = name[: -len(JSON_SUFFIX)]
                if name.endswith(JSON_SUFFIX) and _KEY.fullmatch(key) and key != EMPTY_CONTENT:
                    yield key

    def remove_unfinished(self) -> int:
        """Remove temporary files a killed writer left (never a named file: a file under
        its content's name is complete, and only a purge deletes one)."""
        if not self.root.is_dir():
            return 0
        unfinished = [*self.root.glob(".writing.*.tmp"), *self.root.glob("*/*/.*.tmp")]
        for tmp in unfinished:
            tmp.unlink(missing_ok=True)
        return len(unfinished)

    def json_glob(self) -> str:
        """A glob over every JSON document, for DuckDB's readers."""
        return str(self.root / "json" / "*" / f"*{JSON_SUFFIX}")

    def raw_view_sql(self) -> str:
        """The statement that makes the view `raw` read this archive: each `raw_index`
        row with its record's JSON, found by file, line and JSON path (DuckDB numbers a
        reader's rows in order, which gives each document's line in its file)."""
        glob = str(self.root.resolve() / "json" / "*" / f"*{JSON_SUFFIX}").replace("'", "''")
        return f"""
            CREATE OR REPLACE VIEW raw AS
            SELECT r.sha256, r.kind, r.entity_id, r.source, r.run_id, r.captured_at,
                   CASE WHEN r.kind = 'profile' THEN json_extract(d.json, r.path)
                        ELSE json_merge_patch(json_extract(d.json, r.path), '{_NESTED_CUT}')
                   END::VARCHAR AS json
            FROM raw_index r LEFT JOIN (
                SELECT regexp_extract(filename, '([0-9a-f]{{64}})[.]json[.]zst$', 1) AS capture,
                       ordinality - min(ordinality) OVER (PARTITION BY filename) AS line,
                       json
                FROM read_ndjson_objects('{glob}', filename = true, compression = 'zstd')
                    WITH ORDINALITY
            ) d ON d.capture = r.capture AND d.line = r.line
            """


class JsonWriter:
    """Compresses and hashes as it is written, to a temporary file in the archive; `finish`
    names it by its content's hash (or drops it when the archive holds that already)."""

    def __init__(self, archive: CaptureArchive) -> None:
        self.archive = archive
        archive.root.mkdir(parents=True, exist_ok=True)
        self._tmp = archive.root / f".writing.{os.getpid()}.{id(self)}.tmp"
        self._out = open(self._tmp, "wb")  # noqa: SIM115 - closed by finish or abort
        self._zstd = zstd.ZstdCompressor(level=ZSTD_LEVEL)
        self._hash = hashlib.sha256()
        self.size = 0
        self._stored = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        packed = self._zstd.compress(data)
        self._stored += len(packed)
        self._out.write(packed)

    def finish(self) -> Stored:
        packed = self._zstd.flush()
        self._stored += len(packed)
        self._out.write(packed)
        self._out.close()
        key = self._hash.hexdigest()
        path = self.archive.json_path(key)
        if path.is_file():
            self._tmp.unlink()
            return Stored(key, path, self.size, path.stat().st_size, new=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, path)
        return Stored(key, path, self.size, self._stored, new=True)

    def abort(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)


def _check_key(key: str) -> None:
    if not _KEY.fullmatch(key):
        raise ArchiveError(f"not an archive key (64 lowercase hex digits): {key[:80]!r}")


def _syncfs(folder: Path) -> None:
    """Flush the file system holding `folder` (Linux's syncfs; elsewhere os.sync)."""
    libc_syncfs = getattr(_libc(), "syncfs", None)
    if libc_syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if libc_syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@functools.cache
def _libc() -> object:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else object()
