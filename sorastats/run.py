"""One ingest run (`import` or `fetch`) from start to finish, shared by both commands.

`IngestRun` is a context manager: entering takes the database's run lock, opens the
database and records the run's row (or re-opens the run to resume); `checkpoint()`
commits progress (a staged batch, its counts and the resume state, in one transaction);
`finish()` closes the row with its status. An exception that escapes the block marks the
run `failed` (or `interrupted`, for a resumable run, which the next start then resumes).

Library functions return a `RunResult`; what happened along the way is collected as
`Message`s in the result and, as it happens, handed to an optional callback. Nothing here
prints: the command line decides what users see and the exit status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from sorastats import db, retention, unarchived
from sorastats.archive import CaptureArchive
from sorastats.ingest import (
    Applier,
    Counts,
    close_stale_runs,
    finish_run,
    start_run,
    utcnow,
)
from sorastats.runlock import RunLock
from sorastats.staging import StagedBatch

MESSAGE_CHARS = 500  # of `runs.message`


class Level(StrEnum):
    INFO = "info"  # shown as is
    NOTE = "note"  # the run went on, or ended early on purpose
    ERROR = "error"  # the run's status is `failed`


@dataclass(frozen=True)
class Message:
    level: Level
    text: str

    def line(self) -> str:
        """The message as users see it: `error: ...`, `note: ...`, or the bare text."""
        return self.text if self.level is Level.INFO else f"{self.level.value}: {self.text}"


OnMessage = Callable[[Message], None]
OnProgress = Callable[[int, int], None]  # (pages, items) so far
Log = Callable[[str], None]


@dataclass
class RunResult:
    """What one run did."""

    command: str
    run_id: int
    counts: Counts
    seconds: float
    messages: list[Message] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [m.text for m in self.messages if m.level is Level.ERROR]

    @property
    def warnings(self) -> list[str]:
        """Every message that is not an error (notes and information)."""
        return [m.text for m in self.messages if m.level is not Level.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"


class Reporter:
    """Collects a run's messages and passes each to the callback, if any, as it comes."""

    def __init__(self, on_message: OnMessage | None = None) -> None:
        self.messages: list[Message] = []
        self._on_message = on_message

    def report(self, level: Level, text: str) -> None:
        message = Message(level, text)
        self.messages.append(message)
        if self._on_message is not None:
            self._on_message(message)

    def info(self, text: str) -> None:
        self.report(Level.INFO, text)

    def note(self, text: str) -> None:
        self.report(Level.NOTE, text)

    def error(self, text: str) -> None:
        self.report(Level.ERROR, text)


def _resumable_run(
    con: duckdb.DuckDBPyConnection, command: str, source: str
) -> tuple[int, dict[str, Any]] | None:
    row = con.execute(
        "SELECT id, checkpoint FROM runs WHERE command = ? AND source = ? "
        "AND status IN ('running', 'interrupted') ORDER BY id DESC LIMIT 1",
        [command, source],
    ).fetchone()
    if row is None:
        return None
    checkpoint = json.loads(row[1]) if row[1] else {}
    return int(row[0]), checkpoint


def default_captures_dir(db_path: Path) -> Path:
    """`captures/<database name>/` beside the database: `data/sorastats.duckdb` keeps
    `data/captures/sorastats/`. One archive per database, as its index is in it."""
    path = Path(db_path)
    return path.parent / "captures" / path.stem


class IngestRun:
    """One row of `runs` and the database session that fills it.

    With `resumable`, an unfinished run of the same command and source is re-opened
    (`resumed` is then true and `state` holds its last checkpoint) instead of a new one.
    """

    def __init__(
        self,
        db_path: Path,
        command: str,
        source: str,
        *,
        resumable: bool = False,
        log: Log | None = None,
        captures: Path | None = None,
    ) -> None:
        self.db_path = db_path
        # The capture archive: beside the database unless given (never under the site).
        self.archive = CaptureArchive(
            captures if captures is not None else default_captures_dir(db_path)
        )
        self.command = command
        self.source = source
        self.resumable = resumable
        self.log = log
        self.resumed = False
        self.state: dict[str, Any] = {}
        self.finished = False
        self.quarantine_purged = 0  # records past their period, removed as the run starts
        self._lock: RunLock | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._applier: Applier | None = None
        self._started = 0.0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> IngestRun:
        """Lock the database, open it and record (or re-open) the run's row."""
        self.archive.prepare()  # an unusable archive stops the run before it starts
        lock = RunLock(self.db_path)
        lock.__enter__()  # raises RunLockedError if another run holds it
        self._lock = lock
        try:
            con = db.configure(db.connect(self.db_path, log=self.log))
            self._con = con
            close_stale_runs(con, self.command, self.source if self.resumable else None)
            self.quarantine_purged = retention.purge_quarantine(con, utcnow())
            resumed = _resumable_run(con, self.command, self.source) if self.resumable else None
            if resumed is not None:
                run_id, self.state = resumed
                self.resumed = True
                con.execute("UPDATE runs SET status = 'running' WHERE id = ?", [run_id])
            else:
                run_id = start_run(con, self.command, self.source)
            self._applier = Applier(con, run_id, self.archive)
            # What a killed run left: index rows of a capture it never finished, purged
            # files not yet deleted, unfinished temporary files (the lock is held: no
            # other run writes to this archive).
            con.execute("DELETE FROM raw_index WHERE capture LIKE 'pending:%'")
            self._applier.drop_purged()
            self._applier.purge_archive()
            self.archive.remove_unfinished()
            unarchived.move_into_archive(con, self.archive, run_id, self.log or db.log_upgrade)
            con.execute(self.archive.raw_view_sql())
        except BaseException:
            self.close()
            raise
        self._started = time.monotonic()
        return self

    def checkpoint(
        self,
        batch: StagedBatch | None = None,
        *,
        pages: int = 0,
        state: dict[str, Any] | None = None,
    ) -> Counts:
        """Commit progress: a staged batch (with the pages it came from) and the resume
        state, in one transaction. Without a batch, only the state is recorded."""
        if state is not None:
            self.state = state
        if batch is None:
            if state is not None:
                self.con.execute(
                    "UPDATE runs SET checkpoint = ? WHERE id = ?",
                    [json.dumps(state, sort_keys=True), self.run_id],
                )
            return Counts()
        return self.applier.apply(batch, pages=pages, checkpoint=state)

    def finish(self, status: str, message: str | None = None, *, purge: bool = True) -> None:
        """Cut the run's removed posts from the archive (unless `purge` is false: a run
        ending on an error leaves its queue to the next run), then close the run's row
        with its status (`ok`, `failed` or `interrupted`)."""
        if purge:
            self.applier.purge_archive()
        finish_run(self.con, self.run_id, status, message[:MESSAGE_CHARS] if message else None)
        self.finished = True

    def close(self) -> None:
        """Release the database and its lock (the row is left as it is)."""
        if self._applier is not None:
            self._applier.close()
            self._applier = None
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def __enter__(self) -> IngestRun:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and not self.finished and self._con is not None:
                status, message = failure_status(exc, resumable=self.resumable)
                self.finish(status, message, purge=False)
        finally:
            self.close()

    # -- what the run has done -------------------------------------------------------

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("the run is not started")
        return self._con

    @property
    def applier(self) -> Applier:
        if self._applier is None:
            raise RuntimeError("the run is not started")
        return self._applier

    @property
    def run_id(self) -> int:
        return self.applier.run_id

    @property
    def staging_dir(self) -> Path:
        return self.applier.staging_dir

    @property
    def totals(self) -> Counts:
        """Counts committed so far (a resumed run's earlier ones included)."""
        return self.applier.totals

    def known_inputs(self) -> set[str]:
        """The hashes of every file and page already ingested: the same bytes again are
        skipped without parsing."""
        rows = self.con.execute("SELECT input_sha256 FROM captures").fetchall()
        return {r[0] for r in rows}

    def tombstoned(self) -> set[str]:
        rows = self.con.execute("SELECT post_id FROM tombstones").fetchall()
        return {r[0] for r in rows}

    def suppressed(self) -> frozenset[str]:
        """Creators erased at their request: no import or fetch stores them again."""
        rows = self.con.execute("SELECT creator_id FROM suppressed_creators").fetchall()
        return frozenset(r[0] for r in rows)

    def seconds(self) -> float:
        return time.monotonic() - self._started


def failure_status(exc: BaseException, *, resumable: bool) -> tuple[str, str]:
    """The status and message a run ends with when `exc` escapes it: a resumable run is
    `interrupted` (the next start with the same source resumes it), any other `failed`."""
    if resumable:
        if isinstance(exc, KeyboardInterrupt):
            return "interrupted", "interrupted; the next start resumes"
        return "interrupted", f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS]
    return "failed", f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS]
