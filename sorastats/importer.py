"""`build.py import`: files and folders of Sora-format JSON into the database.

Formats are detected per file: one JSON document (feed page, profile listing, post tree,
{post, profile} wrapper, SoraVault manifest) or JSONL with one document per line. A file
that cannot be read gets an error naming it; the other files still go in.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from sorastats import media, parse
from sorastats.archive import content_key
from sorastats.ingest import Counts, utcnow
from sorastats.run import IngestRun, Log, OnMessage, OnProgress, Reporter, RunResult
from sorastats.staging import Stager

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Records staged before one set-based apply. Each statement of an apply scans its batch
# and probes the whole tables, so larger batches cost less per record (measured: 40,000
# used ~7 % less CPU than 20,000); DuckDB's memory cap bounds them (100,000 ran out).
BATCH_RECORDS = 40_000
MAX_JSON_BYTES = 512 * 1024 * 1024  # one JSON document; bigger exports should be JSONL


@dataclass
class ImportResult(RunResult):
    """An import's run; `errors` name each file that could not be read (its other files
    still went in), and any of them makes the run `failed`."""

    files: int = 0  # files found under the given paths
    skipped: int = 0  # of them, ingested before (the same bytes): skipped after one read


def find_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Every JSON/JSONL file under the given paths, sorted, and errors for missing ones."""
    files: list[Path] = []
    errors: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in JSON_SUFFIXES
            )
            if not found and not media.image_files([path]):  # images alone are an input too
                errors.append(f"{path}: folder holds no .json, .jsonl or .ndjson files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def newest_updated_at(value: Any) -> float | None:
    """The newest `updated_at` anywhere in a document (posts, profiles, nested ones)."""
    best: float | None = None
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            stamp = current.get("updated_at")
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                best = stamp if best is None or stamp > best else best
            stack.extend(v for v in current.values() if isinstance(v, dict | list))
        elif isinstance(current, list):
            stack.extend(v for v in current if isinstance(v, dict | list))
    return best


def capture_time(doc: Any, fallback: datetime) -> datetime:
    """A document's capture time: its own `captured_at`, else its newest `updated_at`,
    else `fallback` (the import time)."""
    if isinstance(doc, dict) and doc.get("captured_at") is not None:
        stamp = parse.parse_capture_time(doc["captured_at"])
        if stamp is not None:
            return stamp
    newest = newest_updated_at(doc)
    if newest is not None:
        converted = parse.unix_to_utc(newest)
        if converted is not None:
            return converted
    return fallback


class FileImporter:
    """Stages files into batches and has the run apply them as they fill up."""

    def __init__(self, run: IngestRun) -> None:
        self.run = run
        self.stager = Stager(run.staging_dir, run.archive, run.tombstoned(), run.suppressed())
        self.known = run.known_inputs()  # files ingested before: skipped unread
        self.skipped = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sorastats-apply")
        self._pending: Future[Counts] | None = None
        self.pages = 0
        self.items = 0
        self.started_at = utcnow()

    def import_file(self, path: Path, key: str | None = None) -> None:
        """Stage one file; raises parse.BadRecord naming what is wrong with it. A file
        whose bytes were ingested before is skipped after one read (its hash; `key`, if
        given, is that hash computed ahead: see `hashed_ahead`)."""
        source = str(path)
        if key is not None and self._seen(key):
            return
        if path.suffix.lower() in JSONL_SUFFIXES:
            input_key = _file_key(path)
            if self._seen(input_key):
                return
            self._import_lines(path, source, input_key)
            return
        if path.stat().st_size > MAX_JSON_BYTES:
            raise parse.BadRecord(
                f"larger than {MAX_JSON_BYTES // 2**20} MiB; export it as JSONL instead"
            )
        data = path.read_bytes()
        input_key = content_key(data)
        if self._seen(input_key):
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if _looks_like_jsonl(data):
                del data
                self._import_lines(path, source, input_key)
                return
            raise parse.BadRecord(f"not JSON ({exc})") from None
        del data
        parse.detect_shape(doc)  # a whole file of unknown shape is the file's error
        self.stager.add_capture(doc, source, capture_time(doc, self.started_at), input_key)
        self.known.add(input_key)
        self._after_stage()
        self.pages += 1

    def _seen(self, input_key: str) -> bool:
        if input_key in self.known:
            self.skipped += 1
            return True
        return False

    def _import_lines(self, path: Path, source: str, input_key: str) -> None:
        fallback = self.started_at
        newest: float | None = None
        for _, doc in _read_lines(path):  # first pass: the file's capture time
            stamp = newest_updated_at(doc) if doc is not None else None
            if stamp is not None and (newest is None or stamp > newest):
                newest = stamp
        if newest is not None:
            fallback = parse.unix_to_utc(newest) or fallback
        # The whole file is one capture in the archive; the batch it is indexed with is
        # the one its last line lands in (a file's lines may span batches).
        capture = self.stager.capture()
        try:
            for number, doc in _read_lines(path):
                where = f"{source}:{number}"
                if doc is None:
                    self.stager.quarantine_document(
                        _line_text(path, number), "line is not JSON", where
                    )
                    continue
                try:
                    self.stager.add_document(
                        doc,
                        where,
                        capture_time(doc, fallback)
                        if isinstance(doc, dict) and doc.get("captured_at") is not None
                        else fallback,
                        capture,
                    )
                except parse.BadRecord as exc:
                    self.stager.quarantine_document(doc, str(exc), where)
                if len(self.stager.batch) >= BATCH_RECORDS:
                    self.flush()
        except BaseException:
            if capture is not None:
                capture.abort()
            raise
        if capture is not None:
            capture.finish(source, fallback, input_key)
        self.known.add(input_key)
        self.pages += 1
        self._after_stage()

    def _after_stage(self) -> None:
        if len(self.stager.batch) >= BATCH_RECORDS:
            self.flush()

    def flush(self) -> None:
        """Hand the staged batch to the apply thread (waiting for the previous one), so
        Python stages the next batch while DuckDB, which releases the GIL, writes."""
        batch = self.stager.batch
        if not batch.records and not self.pages:
            return
        self.drain()
        self.items += batch.records
        self._pending = self._pool.submit(self.run.checkpoint, batch, pages=self.pages)
        self.pages = 0
        self.stager.new_batch()

    def drain(self) -> None:
        """Wait for the batch being applied; re-raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)
            self.stager.batch.discard()  # empty, or never applied after an error


def _file_key(path: Path) -> str:
    """The archive key of a file's bytes, read in blocks (a JSONL file may be large)."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _key_or_none(path: Path) -> str | None:
    try:
        return _file_key(path)
    except OSError:
        return None  # import_file meets the error again and reports it


# Files hashed ahead of the one being imported, on as many threads as cores: hashing
# releases the GIL, so a re-import of known files (hashing is all it does) uses every
# core. A file that is new is read again for its records, and hashed again from what
# was read: the key the archive records is always of the bytes ingested.
HASH_AHEAD = 64


def hashed_ahead(files: list[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each file with the SHA-256 of its bytes (None if it could not be read), in order,
    computed up to HASH_AHEAD files ahead on a thread per core."""
    workers = max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="sorastats-hash") as pool:
        window: collections.deque[tuple[Path, Future[str | None]]] = collections.deque()
        for path in files:
            window.append((path, pool.submit(_key_or_none, path)))
            if len(window) >= HASH_AHEAD:
                done, future = window.popleft()
                yield done, future.result()
        while window:
            done, future = window.popleft()
            yield done, future.result()


def _looks_like_jsonl(data: bytes) -> bool:
    lines = [line for line in data.splitlines()[:2] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(orjson.loads(line), dict) for line in lines)
    except orjson.JSONDecodeError:
        return False


def _read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed document or None if the line is not JSON), blank lines skipped."""
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                yield number, None


def _line_text(path: Path, number: int) -> str:
    with path.open("rb") as stream:
        for current, line in enumerate(stream, start=1):
            if current == number:
                return line[:10_000].decode("utf-8", errors="replace")
    return ""


def import_paths(
    db_path: Path,
    paths: list[Path],
    *,
    on_message: OnMessage | None = None,
    on_progress: OnProgress | None = None,
    log: Log | None = None,
    captures: Path | None = None,
) -> ImportResult:
    """Import files and folders into the database at `db_path` as one run.

    A file that cannot be read is an error in the result (and to `on_message` as it is
    found); the other files still go in. `on_progress(pages, items)` follows the run;
    `log` gets database upgrade notices (see `db.migrate`); `captures` is the capture
    archive (default: beside the database, see `run.default_captures_dir`). Raises
    `RunLockedError` if another run holds the database."""
    reporter = Reporter(on_message)
    files, missing = find_files(paths)
    for message in missing:
        reporter.error(message)
    source = " ".join(str(p) for p in paths)
    with IngestRun(db_path, "import", source, log=log, captures=captures) as run:
        importer = FileImporter(run)
        try:
            for path, key in hashed_ahead(files):
                try:
                    importer.import_file(path, key)
                except (parse.BadRecord, OSError, UnicodeDecodeError) as exc:
                    reporter.error(f"{path}: {exc}")
                if on_progress is not None:
                    on_progress(
                        run.totals.pages + importer.pages,
                        run.totals.items + len(importer.stager.batch),
                    )
            importer.flush()
            importer.close()
        except BaseException:
            with contextlib.suppress(BaseException):
                importer.close()
            raise
        # Image files in the folders, named by a post's or creator's id: its media.
        if images := media.image_files(paths):
            attached = media.attach_files(run.con, run.archive, images, utcnow())
            reporter.info(
                f"media: {attached.stored:,} image file(s) kept, {attached.failed:,} refused, "
                f"{attached.unmatched:,} named by no known post or creator"
            )
            for error in attached.errors or []:
                reporter.note(f"media refused: {error}")
        result = ImportResult(
            "import",
            run.run_id,
            run.totals,
            run.seconds(),
            reporter.messages,
            files=len(files),
            skipped=importer.skipped,
        )
        errors = result.errors
        note = f"{len(errors)} file error(s); first: {errors[0]}" if errors else None
        run.finish(result.status, note)
    return result
