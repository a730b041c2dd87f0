"""Turning parsed documents into staged rows for one batch.

Python only walks, checks and serializes; each staged row goes straight into the
batch's spool file, which DuckDB then loads in bulk (`read_json` / `read_csv`) and applies
set-based (see `sorastats.ingest`). Python memory stays flat however large a batch is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from sorastats import parse
from sorastats.archive import EMPTY_CONTENT, CaptureArchive, JsonWriter

_SORT = orjson.OPT_SORT_KEYS
SPOOL_BUFFER = 1 << 20  # bytes buffered per spool file before a write
# A wrapper's canonical JSON above this is quarantined, not stored: real ones are a few
# KiB. It bounds every spool line, so DuckDB's readers need only small buffers.
MAX_RECORD_BYTES = 8 << 20
SPOOL_LINE_LIMIT = 2 * MAX_RECORD_BYTES  # a line: the record plus its escaped fields
# A quarantined record is kept whole up to this many characters, then cut (its source
# and position still say where the whole one is).
QUARANTINE_RECORD_CHARS = 1 << 20


class Spool:
    """The staged rows of one staging table, one line each, in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._out = path.open("wb", buffering=SPOOL_BUFFER)

    def __len__(self) -> int:
        return self.rows

    def append(self, line: bytes) -> None:
        self._out.write(line + b"\n")
        self.rows += 1

    def close(self) -> None:
        self._out.close()


class StagedBatch:
    """Rows waiting for one set-based apply: a spool file per staging table."""

    TABLES = ("posts", "profiles", "raw", "raw_keys", "quarantine", "captures", "capture_posts")

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        self.directory = directory
        self.posts = Spool(directory / "posts.ndjson")
        self.profiles = Spool(directory / "profiles.ndjson")
        # Where each stored wrapper sits in the archive (`raw_index`): no JSON, which
        # stays in the archive file alone.
        self.raw = Spool(directory / "raw.txt")
        self.raw_keys = Spool(directory / "raw_keys.txt")
        self.quarantine = Spool(directory / "quarantine.ndjson")
        # The archive files this batch's documents went to, and the posts each holds.
        self.captures = Spool(directory / "captures.ndjson")
        self.capture_posts = Spool(directory / "capture_posts.ndjson")
        self.seen: set[bytes] = set()  # canonical hashes staged already
        # Of them, those indexed in `raw_index`: a record may first come where the
        # archive does not keep it (under a cut wrapper), then where it does.
        self.indexed: set[bytes] = set()
        self.records = 0  # wrappers and bare profiles looked at (after flattening)
        self.quarantined = 0

    def __len__(self) -> int:
        return self.records

    def spool(self, table: str) -> Spool:
        spool: Spool = getattr(self, table)
        return spool

    def close(self) -> None:
        """Flush the spool files; the batch is complete."""
        for table in self.TABLES:
            self.spool(table).close()

    def discard(self) -> None:
        """Remove the spool files (after the batch was applied, or given up)."""
        self.close()
        self.seen.clear()
        self.indexed.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def _field(text: str) -> bytes:
    """A text field of a \x01-separated raw line: control characters replaced."""
    if text.isprintable():
        return text.encode()
    return "".join(c if c.isprintable() else "?" for c in text).encode()


def _time(value: datetime) -> bytes:
    return value.isoformat(sep=" ").encode()


def _too_large(canonical: bytes) -> str:
    return (
        f"record is {len(canonical) / 2**20:.1f} MiB; the limit is {MAX_RECORD_BYTES // 2**20} MiB"
    )


# Markers of a wrapper the archive must not keep (deleted or not public), found in the
# compact JSON without parsing it again; only documents that have one are walked.
_NOT_KEPT = re.compile(
    rb'"tombstoned_at":(?!null)|"posted_to_public":(?!true)|"share_setting":(?!"public")'
)
POST_ID = re.compile(rb'"id":"(s_[0-9A-Za-z_-]{1,100})"')


EMPTY_KEY = EMPTY_CONTENT  # the key of a capture of which nothing may be kept


@dataclass(frozen=True)
class KeptCapture:
    key: str  # the archive file (EMPTY_KEY: nothing of the capture may be kept)
    documents: int
    size: int
    stored_size: int
    post_ids: frozenset[str]


def cut_from_archive(tombstoned: frozenset[str] | set[str]) -> parse.Drop:
    """Which wrappers the archive never keeps: posts deleted, not public, or tombstoned."""
    return lambda post: not parse.is_visible(post) or post.get("id") in tombstoned


def capture_line(
    doc: Any, tombstoned: frozenset[str] | set[str]
) -> tuple[bytes, set[str], bool] | None:
    """What the archive keeps of one document (viewer fields already stripped): compact
    JSON without the wrappers of posts that are deleted, not public, or tombstoned
    before, the post ids it holds, and whether anything was cut; None when nothing is
    left. Pure: no I/O."""
    line = orjson.dumps(doc)
    ids = {m.decode() for m in POST_ID.findall(line)}
    if _NOT_KEPT.search(line) or not ids.isdisjoint(tombstoned):
        pruned, cut = parse.without_posts(orjson.loads(line), cut_from_archive(tombstoned))
        if pruned is None:
            return None
        if cut:
            line = orjson.dumps(pruned)
            ids = {m.decode() for m in POST_ID.findall(line)}
        return line, ids, bool(cut)
    return line, ids, False


@dataclass(frozen=True)
class Location:
    """Where a staged record sits in the archive: the capture (its token until the file
    is named), the document's line in the file, and the JSON path in the document."""

    capture: str
    line: int
    path: str | None  # None: the archive does not keep this record

    def at(self, path: str | None) -> Location:
        return Location(self.capture, self.line, path)


def document_records(doc: Any) -> Iterator[tuple[str, str, str]]:
    """(canonical hash, JSON path, identity) of every record one archived document holds,
    in document order. The identity (`post:<id>` or `profile:<user_id>`) pairs a record
    with itself in the same document rewritten: a purge that cuts a cameo out of a post
    changes its hash, not what it is. Pure; consumes `doc` (flattening cuts nested
    wrappers out of their parents)."""
    try:
        shape = parse.detect_shape(doc)
    except parse.BadRecord:
        return
    for path, record in parse.located_records(doc, shape):
        if path is None or not isinstance(record, dict):
            continue
        if shape is parse.Shape.PROFILE_LIST:
            canonical = orjson.dumps(record, option=_SORT)
            yield hashlib.sha256(canonical).hexdigest(), path, f"profile:{record.get('user_id')}"
            continue
        if not isinstance(record.get("post"), dict):
            continue
        for where, wrapper in parse.flatten_located(record, path):
            if where is not None:
                canonical = orjson.dumps(wrapper, option=_SORT)
                post = wrapper.get("post")
                identity = f"post:{post.get('id') if isinstance(post, dict) else None}"
                yield hashlib.sha256(canonical).hexdigest(), where, identity


# A capture's kept text is held in memory up to this size, then streamed to a file (a
# large JSONL export); most captures are one page of a few hundred KiB.
CAPTURE_MEMORY_BYTES = 64 << 20


class CaptureBuilder:
    """One capture on its way into the archive: its documents, one line each."""

    def __init__(self, stager: Stager, archive: CaptureArchive) -> None:
        self.stager = stager
        self.archive = archive
        # Names the capture in staged `raw_index` rows until its file is named, which
        # is when it is finished: a large JSONL file's records may be applied before.
        self.token = f"pending:{uuid.uuid4().hex}"
        self.first_batch = stager.batch
        self.lines: list[bytes] = []
        self.held = 0
        self.writer: JsonWriter | None = None
        self.post_ids: set[str] = set()
        self.documents = 0

    def add(self, doc: Any) -> tuple[int, bool] | None:
        """Call before `Stager.add_document` flattens `doc` (flattening cuts nested
        wrappers out of their parents) and after its viewer fields are stripped. Returns
        the document's line in the file and whether wrappers were cut from it (None:
        nothing of it is kept)."""
        kept = capture_line(doc, self.stager.tombstoned)
        if kept is None:
            return None
        line, ids, cut = kept
        number = self.documents
        self.post_ids |= ids
        self.documents += 1
        self.lines.append(line)
        self.held += len(line) + 1
        if self.held > CAPTURE_MEMORY_BYTES:
            if self.writer is None:
                self.writer = self.archive.json_writer()
            self.writer.write(b"\n".join(self.lines) + b"\n")
            self.lines, self.held = [], 0
        return number, cut

    def finish(self, source: str, captured_at: datetime, input_key: str | None) -> KeptCapture:
        """Name the file and stage its index rows with the current batch. `input_key`
        is the hash of the bytes as read, which a later import skips; None (a fetched
        page, never re-imported) indexes the capture by what it keeps."""
        if not self.documents:
            kept = KeptCapture(EMPTY_KEY, 0, 0, 0, frozenset())
        else:
            tail = b"\n".join(self.lines) + b"\n" if self.lines else b""
            if self.writer is None:
                stored = self.archive.put_json(tail)
            else:
                if tail:
                    self.writer.write(tail)
                stored = self.writer.finish()
            kept = KeptCapture(
                stored.key, self.documents, stored.size, stored.stored_size,
                frozenset(self.post_ids),
            )  # fmt: skip
        self.lines = []
        batch = self.stager.batch
        batch.captures.append(
            orjson.dumps(
                {
                    "sha256": kept.key,
                    "token": self.token,
                    # Its records were applied with earlier batches as well: their
                    # `raw_index` rows are renamed from the token once this commits.
                    "spans": batch is not self.first_batch,
                    "input_sha256": input_key or kept.key,
                    "source": source,
                    "cap": _time(captured_at).decode(),
                    "documents": kept.documents,
                    "bytes": kept.size,
                    "stored_bytes": kept.stored_size,
                }
            )
        )
        for post_id in sorted(kept.post_ids):
            batch.capture_posts.append(orjson.dumps({"capture": kept.key, "post_id": post_id}))
        return kept

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        self.lines = []


class Stager:
    """Stages the records of documents into a `StagedBatch` spooled under `directory`.

    With an `archive`, `capture()` keeps each capture there (see sorastats.archive) and
    stages its index rows with the batch, so the index commits with the records."""

    def __init__(
        self,
        directory: Path,
        archive: CaptureArchive | None = None,
        tombstoned: set[str] | None = None,
        suppressed: frozenset[str] = frozenset(),
    ) -> None:
        self.directory = directory
        self.archive = archive
        self.tombstoned: set[str] = tombstoned if tombstoned is not None else set()
        # Erased creators (docs/creators.md): nothing of theirs is staged or archived.
        self.suppressed = suppressed
        self._batches = 0
        self.batch = self.new_batch()

    def capture(self) -> CaptureBuilder | None:
        """Start keeping one capture in the archive (None without an archive)."""
        return CaptureBuilder(self, self.archive) if self.archive is not None else None

    def add_capture(
        self, doc: Any, source: str, captured_at: datetime, input_key: str | None
    ) -> None:
        """Stage one document that is a capture of its own (a `.json` file, a fetched
        page) and keep it in the archive; see `CaptureBuilder.finish` for `input_key`."""
        capture = self.capture()
        try:
            self.add_document(doc, source, captured_at, capture)
        except BaseException:
            if capture is not None:
                capture.abort()
            raise
        if capture is not None:
            capture.finish(source, captured_at, input_key)

    def new_batch(self) -> StagedBatch:
        """Start a new batch (the current one belongs to whoever applies it)."""
        self._batches += 1
        self.batch = StagedBatch(self.directory / f"batch-{self._batches}")
        return self.batch

    def add_document(
        self,
        doc: Any,
        source: str,
        captured_at: datetime,
        capture: CaptureBuilder | None = None,
    ) -> parse.Shape:
        """Stage every record of one parsed document (and keep it in `capture`). Raises
        parse.BadRecord if the document as a whole has no known shape (the caller
        reports the file)."""
        shape = parse.detect_shape(doc)
        parse.strip_viewer_fields(doc)
        if self.suppressed and parse.names_creators(orjson.dumps(doc), self.suppressed):
            # Cut before anything sees it, so the archive, the index's paths and the
            # staged records all agree: an erased creator's copies never come back.
            doc, _ = parse.without_creators(doc, self.suppressed)
            if doc is None:
                return shape
        kept = capture.add(doc) if capture is not None else None
        if capture is None or kept is None:
            # Nothing of it is archived, so nothing of it is indexed in `raw_index`.
            for record in parse.top_records(doc, shape):
                self._add_record(record, shape, source, captured_at, None)
            return shape
        line, cut = kept
        # Paths as they are in the archived document: the wrappers it cut shift lists.
        drop = cut_from_archive(self.tombstoned) if cut else parse.keep_all
        for path, record in parse.located_records(doc, shape, drop):
            self._add_record(
                record, shape, source, captured_at, Location(capture.token, line, path), drop
            )
        return shape

    def _add_record(
        self,
        record: Any,
        shape: parse.Shape,
        source: str,
        captured_at: datetime,
        where: Location | None,
        drop: parse.Drop = parse.keep_all,
    ) -> None:
        if shape is parse.Shape.PROFILE_LIST:
            self.add_profile_record(record, source, captured_at, where)
        else:
            self.add_wrapper(record, source, captured_at, where, drop)

    def add_profile_record(
        self, record: Any, source: str, captured_at: datetime, where: Location | None = None
    ) -> None:
        batch = self.batch
        batch.records += 1
        try:
            facts = parse.extract_profile(record)
        except parse.BadRecord as exc:
            self._quarantine(record, str(exc), source, None)
            return
        canonical = orjson.dumps(record, option=_SORT)
        if len(canonical) > MAX_RECORD_BYTES:
            self._quarantine(record, _too_large(canonical), source, facts.id)
            return
        digest = hashlib.sha256(canonical).digest()
        cap = _time(captured_at)
        self._stage_profile(facts, digest, cap)
        self._stage_raw(digest, b"profile", facts.id, source, cap, where)

    def add_wrapper(
        self,
        wrapper: Any,
        source: str,
        captured_at: datetime,
        where: Location | None = None,
        drop: parse.Drop = parse.keep_all,
    ) -> None:
        if not isinstance(wrapper, dict) or not isinstance(wrapper.get("post"), dict):
            self.batch.records += 1
            self._quarantine(wrapper, "not a {post, profile} wrapper", source, None)
            return
        path = where.path if where is not None else None
        for nested_path, nested in parse.flatten_located(wrapper, path, drop):
            self._add_flat_wrapper(
                nested, source, captured_at, where.at(nested_path) if where else None
            )

    def _add_flat_wrapper(
        self, wrapper: dict[str, Any], source: str, cap_dt: datetime, where: Location | None
    ) -> None:
        batch = self.batch
        batch.records += 1
        post = wrapper.get("post")
        profile = wrapper.get("profile")
        try:
            facts = parse.extract_post(post)
            creator = None
            if profile is not None:
                creator = parse.extract_profile(profile)
                if creator.id != facts.creator_id:
                    raise parse.BadRecord(
                        f"profile.user_id {creator.id!r} is not post.shared_by {facts.creator_id!r}"
                    )
        except parse.BadRecord as exc:
            post_id = post.get("id") if isinstance(post, dict) else None
            # A record that says it is deleted or not public is dropped, never kept,
            # not even in quarantine.
            if isinstance(post, dict) and (
                post.get("tombstoned_at") is not None
                or post.get("posted_to_public") is False
                or (
                    isinstance(post.get("permissions"), dict)
                    and post["permissions"].get("share_setting") not in (None, "public")
                )
            ):
                return
            self._quarantine(
                wrapper, str(exc), source, post_id if isinstance(post_id, str) else None
            )
            return
        canonical = orjson.dumps(wrapper, option=_SORT)
        visible = facts.public and facts.tombstoned_at is None
        if len(canonical) > MAX_RECORD_BYTES:
            if visible:
                self._quarantine(wrapper, _too_large(canonical), source, facts.id)
                return
            # A removal needs only the post's id and state, never its content.
            facts = dataclasses.replace(facts, text=None, cameo_ids=())
        digest = hashlib.sha256(canonical).digest()
        cap = _time(cap_dt)
        kind = b"comment" if facts.comment else b"post"
        if digest in batch.seen:
            # The same wrapper twice in one batch: ingested once, indexed where kept.
            if visible:
                self._stage_raw(digest, kind, facts.id, source, cap, where)
            return
        batch.seen.add(digest)
        batch.posts.append(
            b'{"rk":"'
            + digest.hex().encode()
            + b'","cap":"'
            + cap
            + b'","f":'
            + orjson.dumps(facts)
            + b"}"
        )
        if not visible:
            return  # its removal is staged above; nothing of it is stored
        self._stage_raw(digest, kind, facts.id, source, cap, where)
        if creator is not None:
            self._stage_profile(creator, digest, cap)
        if not facts.comment:
            for cameo in (post or {}).get("cameo_profiles") or []:
                try:
                    cameo_facts = parse.extract_profile(cameo, "cameo_profiles[]")
                except parse.BadRecord:
                    continue  # a partial cameo profile still links by user_id
                self._stage_profile(cameo_facts, digest, cap)

    def _stage_profile(self, facts: parse.ProfileFacts, digest: bytes, cap: bytes) -> None:
        self.batch.profiles.append(
            b'{"rk":"'
            + digest.hex().encode()
            + b'","cap":"'
            + cap
            + b'","f":'
            + orjson.dumps(facts)
            + b"}"
        )

    def _stage_raw(
        self,
        digest: bytes,
        kind: bytes,
        entity_id: str,
        source: str,
        cap: bytes,
        where: Location | None,
    ) -> None:
        """Index one stored record where the archive keeps it (`raw_index`); a record
        the archive does not keep has no row."""
        if where is None or where.path is None or digest in self.batch.indexed:
            return
        self.batch.indexed.add(digest)
        # One line, fields split by \x01 (text fields have control characters replaced).
        key = digest.hex().encode()
        self.batch.raw.append(
            b"\x01".join(
                (
                    key,
                    kind,
                    _field(entity_id),
                    _field(source),
                    cap,
                    where.capture.encode(),
                    str(where.line).encode(),
                    where.path.encode(),
                )
            )
        )
        self.batch.raw_keys.append(key)

    def _quarantine(self, record: Any, reason: str, source: str, entity_id: str | None) -> None:
        batch = self.batch
        batch.quarantined += 1
        try:
            text = orjson.dumps(record, option=_SORT).decode()
        except TypeError:
            text = repr(record)
        digest = hashlib.sha256(f"{reason}\n{text}".encode()).hexdigest()
        if len(text) > QUARANTINE_RECORD_CHARS:
            text = text[:QUARANTINE_RECORD_CHARS] + f"... [cut: {len(text):,} characters in all]"
        batch.quarantine.append(
            orjson.dumps(
                {
                    "sha256": digest,
                    "source": source,
                    "reason": reason,
                    "record": text,
                    "entity_id": entity_id,
                }
            )
        )

    def quarantine_document(self, record: Any, reason: str, source: str) -> None:
        """Keep a whole unusable document (for example a line of JSONL) with its reason."""
        self.batch.records += 1
        self._quarantine(record, reason, source, None)
