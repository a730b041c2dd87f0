"""The ingest engine: applies staged batches to the database, set-based, one transaction
per batch together with the run's counts and checkpoint.

Rules (the schema contract's promises):
- A post's latest sighting decides. Tombstoned once means gone for good: it leaves
  posts, post_snapshots, post_cameos, raw_index and quarantine (and the capture
  archive's files, when the run ends), and only `tombstones` keeps its id and deletion
  time. A latest sighting that is not public removes it likewise (but it may come back
  when seen public again).
- Snapshots: one row per entity per UTC capture day; a later capture that day wins.
- Rows only move forward in capture time, ties broken by content hash, so applying the
  same input in any batching or order gives the same tables (resume == uninterrupted).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import duckdb
import orjson

from sorastats import media, parse
from sorastats.archive import CaptureArchive
from sorastats.schema import CREATOR_COUNTERS, POST_COUNTERS
from sorastats.staging import (
    EMPTY_KEY,
    POST_ID,
    SPOOL_LINE_LIMIT,
    StagedBatch,
    document_records,
)
from sorastats.tempdirs import owned_tempdir

_POST_STRUCT = (
    "STRUCT(id VARCHAR, creator_id VARCHAR, comment BOOLEAN, public BOOLEAN, "
    "tombstoned_at TIMESTAMP, text VARCHAR, posted_at TIMESTAMP, updated_at TIMESTAMP, "
    "width INTEGER, height INTEGER, duration_s DOUBLE, n_frames INTEGER, counters BIGINT[], "
    "parent_post_id VARCHAR, root_post_id VARCHAR, preview_image_url VARCHAR, "
    "permalink VARCHAR, emoji VARCHAR, thumbnail_url VARCHAR, video_url VARCHAR, "
    "media_expires_at TIMESTAMP, generation_id VARCHAR, cameo_ids VARCHAR[])"
)
_PROFILE_STRUCT = (
    "STRUCT(id VARCHAR, username VARCHAR, display_name VARCHAR, bio VARCHAR, "
    "verified BOOLEAN, is_public_figure BOOLEAN, can_cameo BOOLEAN, "
    "is_default_profile_picture BOOLEAN, profile_picture_url VARCHAR, "
    "profile_picture_expires_at TIMESTAMP, permalink VARCHAR, counters BIGINT[], "
    "created_at TIMESTAMP, updated_at TIMESTAMP, banned_at TIMESTAMP)"
)
_COLUMNS: dict[str, dict[str, str]] = {
    "posts": {"rk": "VARCHAR", "cap": "TIMESTAMP", "f": _POST_STRUCT},
    "profiles": {"rk": "VARCHAR", "cap": "TIMESTAMP", "f": _PROFILE_STRUCT},
    "raw": {
        "sha256": "VARCHAR",
        "kind": "VARCHAR",
        "entity_id": "VARCHAR",
        "source": "VARCHAR",
        "cap": "TIMESTAMP",
        "capture": "VARCHAR",
        "line": "BIGINT",
        "path": "VARCHAR",
    },
    "raw_keys": {"sha256": "VARCHAR"},
    "quarantine": {
        "sha256": "VARCHAR",
        "source": "VARCHAR",
        "reason": "VARCHAR",
        "record": "VARCHAR",
        "entity_id": "VARCHAR",
    },
    "captures": {
        "sha256": "VARCHAR",
        "token": "VARCHAR",
        "spans": "BOOLEAN",
        "input_sha256": "VARCHAR",
        "source": "VARCHAR",
        "cap": "TIMESTAMP",
        "documents": "BIGINT",
        "bytes": "BIGINT",
        "stored_bytes": "BIGINT",
    },
    "capture_posts": {"capture": "VARCHAR", "post_id": "VARCHAR"},
}

_POST_PLAIN = (
    "creator_id",
    "text",
    "posted_at",
    "updated_at",
    "width",
    "height",
    "duration_s",
    "n_frames",
)
_POST_LINKS = (
    "parent_post_id",
    "root_post_id",
    "preview_image_url",
    "permalink",
    "emoji",
    "thumbnail_url",
    "video_url",
    "media_expires_at",
    "generation_id",
)
_CREATOR_PLAIN = (
    "username",
    "display_name",
    "bio",
    "verified",
    "is_public_figure",
    "can_cameo",
    "is_default_profile_picture",
    "profile_picture_url",
    "profile_picture_expires_at",
    "permalink",
)
_CREATOR_TIMES = ("created_at", "updated_at", "banned_at")
# What a creator's profile history keeps each capture day (creator_profile_snapshots).
PROFILE_TEXT = ("username", "display_name", "bio")


def _counters_select(names: tuple[str, ...]) -> str:
    return ", ".join(f"f.counters[{i + 1}] AS {name}" for i, name in enumerate(names))


@dataclass
class Counts:
    """What a run did; summed over batches and stored in `runs`."""

    pages: int = 0
    items: int = 0
    new_posts: int = 0
    updated_posts: int = 0
    new_creators: int = 0
    updated_creators: int = 0
    snapshots: int = 0
    removed_posts: int = 0
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def close_stale_runs(con: duckdb.DuckDBPyConnection, command: str, keep_source: str | None) -> None:
    """Mark runs left `running` by a process that died as `interrupted`. Only called
    with the run lock held, so no such run is alive; a fetch run with the same options
    is kept, as the next fetch resumes it."""
    con.execute(
        "UPDATE runs SET status = 'interrupted', message = 'the process stopped mid-run' "
        "WHERE command = ? AND status = 'running' AND source IS DISTINCT FROM ?",
        [command, keep_source],
    )


def start_run(con: duckdb.DuckDBPyConnection, command: str, source: str) -> int:
    row = con.execute(
        "INSERT INTO runs (command, source, started_at, status) VALUES (?, ?, ?, 'running') "
        "RETURNING id",
        [command, source, utcnow()],
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: int, status: str, message: str | None = None
) -> None:
    con.execute(
        "UPDATE runs SET status = ?, message = ?, ended_at = ? WHERE id = ?",
        [status, message, utcnow(), run_id],
    )


def load_counts(con: duckdb.DuckDBPyConnection, run_id: int) -> Counts:
    fields = list(asdict(Counts()))
    row = con.execute(f"SELECT {', '.join(fields)} FROM runs WHERE id = ?", [run_id]).fetchone()
    assert row is not None
    return Counts(**dict(zip(fields, (int(v) for v in row), strict=True)))


STAGING_PREFIX = "sorastats-stage-"


class Move(NamedTuple):
    """Where a record of a rewritten archive file went: the old file, the new one, its
    hash in the old file, its hash now (another where a cut changed it), its line and
    its JSON path in the new file."""

    old: str
    new: str
    old_sha256: str
    sha256: str
    line: int
    path: str


def _moved_records(
    old: str, line: bytes, new_line: bytes, number: int, *, rehashed: bool
) -> Iterator[Move]:
    """The records of one rewritten document (`line`, now `new_line` at line `number`).
    Cutting whole wrappers leaves the others' hashes as they were (nested wrappers are
    hashed without what nests in them); only a cut inside a record (`rehashed`: a cameo)
    changes one, and then each record is paired with itself before the rewrite by its
    identity, in order, which costs a second parse. Pure."""
    if not rehashed:
        for digest, path, _ in document_records(orjson.loads(new_line)):
            yield Move(old, "", digest, digest, number, path)
        return
    before: dict[str, list[str]] = {}
    for digest, _, identity in document_records(orjson.loads(line)):
        before.setdefault(identity, []).append(digest)
    for digest, path, identity in document_records(orjson.loads(new_line)):
        earlier = before.get(identity)
        # A record with no counterpart is not one the index can hold: skipped.
        if earlier:
            yield Move(old, "", earlier.pop(0), digest, number, path)


class Applier:
    """Applies staged batches of one run to the database."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: int,
        archive: CaptureArchive | None = None,
    ) -> None:
        self.con = con
        self.run_id = run_id
        self.archive = archive
        self.totals = load_counts(con, run_id)
        self.staging_dir = owned_tempdir(STAGING_PREFIX)

    def close(self) -> None:
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def apply(
        self, batch: StagedBatch, *, pages: int = 0, checkpoint: dict[str, Any] | None = None
    ) -> Counts:
        """Apply one batch and record counts (and checkpoint) in one transaction."""
        counts = Counts(pages=pages, items=batch.records, quarantined=batch.quarantined)
        batch.close()
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for name, columns_of in _COLUMNS.items():
                spool = batch.spool(name)
                path = spool.path
                columns = ", ".join(f"'{c}': '{t}'" for c, t in columns_of.items())
                # Explicit buffer sizes: by default the CSV reader takes one buffer as
                # big as the file (120 MiB a batch at 1M posts) and read_json two of
                # twice the largest object; either ran the ingest out of memory.
                if name in ("raw", "raw_keys"):
                    reader = (
                        f"read_csv('{path}', delim=chr(1), quote='', escape='', header=false, "
                        f"auto_detect=false, max_line_size={SPOOL_LINE_LIMIT}, "
                        f"buffer_size={2 * SPOOL_LINE_LIMIT}, columns={{{columns}}})"
                    )
                else:
                    reader = (
                        f"read_json('{path}', format='newline_delimited', "
                        f"maximum_object_size={SPOOL_LINE_LIMIT}, columns={{{columns}}})"
                    )
                empty = ", ".join(f"NULL::{t} AS {c}" for c, t in columns_of.items())
                source = reader if len(spool) else f"(SELECT {empty} WHERE false)"
                con.execute(f"CREATE OR REPLACE TEMP TABLE s_{name} AS SELECT * FROM {source}")
            self._apply_sql(counts)
            self._apply_captures()
            self._record(counts, checkpoint)
            if self.archive is not None:
                self.archive.sync()  # the index never names a file a power cut could lose
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            batch.discard()
        self.totals.add(counts)
        return counts

    def _apply_captures(self) -> None:
        """Index this batch's archive files and queue the removed posts for the purge of
        the files that hold them (`purge_archive`)."""
        con = self.con
        con.execute(
            """
            INSERT INTO captures
            SELECT sha256, input_sha256, source, ?, cap, documents, bytes, stored_bytes
            FROM s_captures
            WHERE input_sha256 NOT IN (SELECT input_sha256 FROM captures)
            QUALIFY row_number() OVER (PARTITION BY input_sha256 ORDER BY sha256) = 1
            """,
            [self.run_id],
        )
        con.execute(
            """
            INSERT INTO capture_posts
            SELECT DISTINCT capture, post_id FROM s_capture_posts
            WHERE capture NOT IN (
                SELECT capture FROM capture_posts
                WHERE capture IN (SELECT capture FROM s_capture_posts))
            """
        )
        # A capture whose records went in with earlier batches (a large JSONL file):
        # their `raw_index` rows still carry its token.
        con.execute(
            """
            UPDATE raw_index SET capture = c.sha256 FROM s_captures c
            WHERE c.spans AND raw_index.capture = c.token
            """
        )
        # Removed posts leave the index now and the archive files when the run ends
        # (`purge_archive`): a file is then rewritten once, however many of its posts went.
        con.execute(
            """
            INSERT INTO capture_purge_queue
            SELECT capture, post_id FROM capture_posts WHERE post_id IN (SELECT id FROM s_gone)
            """
        )
        con.execute("DELETE FROM capture_posts WHERE post_id IN (SELECT id FROM s_gone)")
        # Their thumbnails (and the pictures of creators banned or back to the default
        # one) leave the media table now and the archive right after the commit.
        media.queue_purge(con)

    def purge_archive(self) -> int:
        """Cut the queued removed posts from the archive files that hold them, and every
        erased creator's copies from each file rewritten (a queue row without a post
        names a file that holds such a copy: `sorastats.erasure`), in one transaction
        (then delete the replaced files). Called when a run ends and when one starts (a
        killed run's queue). Returns how many files were rewritten."""
        con = self.con
        if self.archive is None:
            con.execute("DELETE FROM capture_purge_queue")
            return 0
        con.execute("BEGIN TRANSACTION")
        try:
            rows = con.execute(
                "SELECT capture, list(DISTINCT post_id) FILTER (WHERE post_id IS NOT NULL) "
                "FROM capture_purge_queue GROUP BY capture ORDER BY capture"
            ).fetchall()
            erased = frozenset(
                str(r[0])
                for r in con.execute("SELECT creator_id FROM suppressed_creators").fetchall()
            )
            moves: list[Move] = []
            for old, gone in rows:
                moves.extend(self._purge_capture(str(old), set(gone or ()), erased))
            self._repoint_raw_index([str(r[0]) for r in rows], moves)
            con.execute("DELETE FROM capture_purge_queue")
            self.archive.sync()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.drop_purged()
        return len(rows)

    def _purge_capture(self, old: str, gone: set[str], erased: frozenset[str]) -> list[Move]:
        """Rewrite one archive file without the posts in `gone` and the `erased` creators'
        copies, under its new name; the index moves to it in the caller's transaction and
        the old file is listed for deletion after the commit (`drop_purged`). Returns
        where each record the new file holds now sits (see `Move`)."""
        assert self.archive is not None
        con = self.con
        if old == EMPTY_KEY or not self.archive.has_json(old):
            con.execute("DELETE FROM capture_posts WHERE capture = ?", [old])
            return []
        kept_lines: list[bytes] = []
        moves: list[Move] = []

        def drop(post: dict[str, Any]) -> bool:
            return post.get("id") in gone or post.get("shared_by") in erased

        for line in self.archive.read_json(old).splitlines():
            doc, cut = parse.without_posts(orjson.loads(line), drop)
            copies = 0  # cameos and profiles cut: what changes a kept record's hash
            if doc is not None and erased and parse.names_creators(line, erased):
                doc, copies = parse.without_creators(doc, erased)
            if doc is None:
                continue
            new_line = orjson.dumps(doc) if cut or copies else line
            number = len(kept_lines)
            kept_lines.append(new_line)
            moves.extend(_moved_records(old, line, new_line, number, rehashed=copies > 0))
        if kept_lines:
            text = b"\n".join(kept_lines) + b"\n"
            stored = self.archive.put_json(text)
            new, size, stored_size = stored.key, stored.size, stored.stored_size
        else:
            text, new, size, stored_size = b"", EMPTY_KEY, 0, 0
        con.execute(
            "UPDATE captures SET sha256 = ?, documents = ?, bytes = ?, stored_bytes = ? "
            "WHERE sha256 = ?",
            [new, len(kept_lines), size, stored_size, old],
        )
        con.execute("DELETE FROM capture_posts WHERE capture = ?", [old])
        kept = sorted({m.decode() for m in POST_ID.findall(text)})
        if kept:
            con.execute("INSERT INTO capture_posts SELECT ?, unnest(?::VARCHAR[])", [new, kept])
        if new != old:
            con.execute("INSERT INTO capture_purges VALUES (?)", [old])
        return [m._replace(new=new) for m in moves]

    def _repoint_raw_index(self, rewritten: list[str], moves: list[Move]) -> None:
        """Point the `raw_index` rows of rewritten files at the record's place in the new
        file (the cut wrappers shift lists), under its new hash where a cut changed it (a
        cameo cut out of a post); rows whose record the new file lacks go. One statement
        each for all files: every one scans the whole index."""
        if not rewritten:
            return
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE s_moves (old VARCHAR, new VARCHAR, "
            "old_sha256 VARCHAR, sha256 VARCHAR, line BIGINT, path VARCHAR)"
        )
        if moves:
            # One statement over six lists: executemany would be a statement per row.
            columns = [list(column) for column in zip(*moves, strict=True)]
            con.execute(
                "INSERT INTO s_moves SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::BIGINT[]), "
                "unnest(?::VARCHAR[])",
                columns,
            )
        con.execute(
            """
            UPDATE raw_index SET capture = m.new, sha256 = m.sha256, line = m.line,
                                 path = m.path
            FROM (
                SELECT old, old_sha256, any_value(new) AS new,
                       arg_min(sha256, (line, path)) AS sha256,
                       arg_min(line, (line, path)) AS line, arg_min(path, (line, path)) AS path
                FROM s_moves GROUP BY old, old_sha256
            ) m
            WHERE raw_index.capture = m.old AND raw_index.sha256 = m.old_sha256
            """
        )
        con.execute(
            "DELETE FROM raw_index WHERE capture IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(set(rewritten) - {m[1] for m in moves})],
        )

    def drop_purged(self) -> int:
        """Outside a transaction: delete the archive files committed purges replaced
        (unless a capture names one again: the same content came back), then forget them.
        Runs after each apply and when a run starts (a run killed between its commit and
        this leaves them listed). Returns how many files went."""
        if self.archive is None:
            return 0
        con = self.con
        listed = con.execute(
            "SELECT DISTINCT sha256 FROM capture_purges "
            "WHERE sha256 NOT IN (SELECT sha256 FROM captures)"
        ).fetchall()
        removed = sum(self.archive.remove_json(str(r[0])) for r in listed)
        con.execute("DELETE FROM capture_purges")
        return removed + media.drop_purged(con, self.archive)

    def _scalar(self, sql: str, params: list[Any] | None = None) -> int:
        row = self.con.execute(sql, params or []).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _apply_sql(self, counts: Counts) -> None:
        con = self.con
        run = self.run_id
        # Posts: the removals first.
        con.execute(
            """
            INSERT INTO tombstones
            SELECT f.id, min(f.tombstoned_at) FROM s_posts
            WHERE f.tombstoned_at IS NOT NULL GROUP BY f.id
            ON CONFLICT DO NOTHING
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE s_latest AS
            SELECT f.id AS id, f.public AND f.tombstoned_at IS NULL AS visible, cap
            FROM s_posts
            QUALIFY row_number() OVER (
                PARTITION BY f.id ORDER BY cap DESC, f.updated_at DESC NULLS LAST, rk DESC) = 1
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE s_gone AS
            SELECT DISTINCT f.id AS id FROM s_posts WHERE f.tombstoned_at IS NOT NULL
            UNION
            SELECT l.id FROM s_latest l LEFT JOIN posts p ON p.id = l.id
            WHERE NOT l.visible AND (p.id IS NULL OR l.cap >= p.last_seen_at)
            UNION
            SELECT l.id FROM s_latest l JOIN tombstones t ON t.post_id = l.id
            UNION
            -- Posts of erased creators (docs/creators.md): gone like tombstoned ones.
            SELECT DISTINCT f.id FROM s_posts
            WHERE f.creator_id IN (SELECT creator_id FROM suppressed_creators)
            """
        )
        counts.removed_posts = self._scalar(
            "SELECT count(*) FROM posts WHERE id IN (SELECT id FROM s_gone)"
        )
        con.execute("DELETE FROM posts WHERE id IN (SELECT id FROM s_gone)")
        con.execute("DELETE FROM post_snapshots WHERE post_id IN (SELECT id FROM s_gone)")
        con.execute("DELETE FROM post_cameos WHERE post_id IN (SELECT id FROM s_gone)")
        con.execute(
            "DELETE FROM raw_index WHERE kind IN ('post', 'comment') "
            "AND entity_id IN (SELECT id FROM s_gone)"
        )
        con.execute(
            "DELETE FROM quarantine WHERE entity_id IN "
            "(SELECT id FROM s_gone WHERE id IN (SELECT post_id FROM tombstones))"
        )

        # Posts: the sightings that may be stored (public videos, not gone).
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE s_ok AS
            SELECT rk, cap, f.id AS id, f.creator_id, f.text, f.posted_at, f.updated_at,
                   f.width, f.height, f.duration_s, f.n_frames,
                   {_counters_select(POST_COUNTERS)},
                   f.parent_post_id, f.root_post_id, f.preview_image_url, f.permalink,
                   f.emoji, f.thumbnail_url, f.video_url, f.media_expires_at,
                   f.generation_id, f.cameo_ids
            FROM s_posts
            WHERE f.public AND f.tombstoned_at IS NULL AND NOT f.comment
              AND f.id NOT IN (SELECT id FROM s_gone)
            """
        )
        counts.new_posts, counts.updated_posts = self._upsert_newest(
            "posts", "s_ok", "s_up", (*_POST_PLAIN, *POST_COUNTERS, *_POST_LINKS)
        )
        # Cameos follow the post's newest sighting.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE s_cameo_posts AS
            SELECT u.id, u.cameo_ids FROM s_up u JOIN posts p ON p.id = u.id
            WHERE p.last_seen_at = u.cap
            """
        )
        con.execute("DELETE FROM post_cameos WHERE post_id IN (SELECT id FROM s_cameo_posts)")
        con.execute(
            """
            INSERT INTO post_cameos
            SELECT * FROM (SELECT DISTINCT id, unnest(cameo_ids) AS creator_id
                           FROM s_cameo_posts)
            WHERE creator_id NOT IN (SELECT creator_id FROM suppressed_creators)
            ON CONFLICT DO NOTHING
            """
        )
        counts.snapshots += self._snapshots(
            "post_snapshots", "post_id", "s_ok", "id", POST_COUNTERS, "updated_at"
        )

        # Creators.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE s_cr AS
            SELECT rk, cap, f.id AS id, {", ".join(f"f.{c}" for c in _CREATOR_PLAIN)},
                   {_counters_select(CREATOR_COUNTERS)},
                   {", ".join(f"f.{c}" for c in _CREATOR_TIMES)}
            FROM s_profiles
            WHERE f.id NOT IN (SELECT creator_id FROM suppressed_creators)
            """
        )
        counts.new_creators, counts.updated_creators = self._upsert_newest(
            "creators", "s_cr", "s_cr_up", (*_CREATOR_PLAIN, *CREATOR_COUNTERS, *_CREATOR_TIMES)
        )
        con.execute(
            """
            INSERT INTO creator_usernames
            SELECT id, username, min(cap), max(cap) FROM s_cr GROUP BY id, username
            ON CONFLICT (creator_id, username) DO UPDATE SET
                first_seen_at = least(creator_usernames.first_seen_at, excluded.first_seen_at),
                last_seen_at = greatest(creator_usernames.last_seen_at, excluded.last_seen_at)
            """
        )
        counts.snapshots += self._snapshots(
            "creator_snapshots", "creator_id", "s_cr", "id", CREATOR_COUNTERS, "updated_at"
        )
        # The profile's text, per capture day (migration 8): the creator page's history.
        self._snapshots(
            "creator_profile_snapshots", "creator_id", "s_cr", "id", PROFILE_TEXT, "updated_at"
        )

        # Where each stored record sits in the archive, deduplicated by content hash
        # (within a batch already by the stager, across batches here); nothing of a
        # removed post. `raw_index` has no index: its keys are streamed past this
        # batch's few keys, so the hash table holds the batch's keys, not the table's.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE s_raw_stored AS
            SELECT sha256 FROM raw_index WHERE sha256 IN (SELECT sha256 FROM s_raw_keys)
            """
        )
        con.execute(
            """
            INSERT INTO raw_index
                (sha256, kind, entity_id, source, run_id, captured_at, capture, line, path)
            SELECT r.sha256, r.kind, r.entity_id, r.source, ?, r.cap,
                   coalesce(c.sha256, r.capture), r.line, r.path
            FROM s_raw r LEFT JOIN (
                SELECT DISTINCT token, sha256 FROM s_captures) c ON c.token = r.capture
            WHERE NOT (r.kind IN ('post', 'comment') AND (
                r.entity_id IN (SELECT id FROM s_gone)
                OR r.entity_id IN (SELECT post_id FROM tombstones)))
              AND NOT (r.kind = 'profile'
                       AND r.entity_id IN (SELECT creator_id FROM suppressed_creators))
              AND r.sha256 NOT IN (SELECT sha256 FROM s_raw_stored)
            """,
            [run],
        )
        con.execute(
            """
            INSERT INTO quarantine
                (run_id, source, reason, record, quarantined_at, entity_id, sha256)
            SELECT ?, source, reason, record, ?, entity_id, sha256 FROM s_quarantine
            WHERE sha256 NOT IN (SELECT sha256 FROM quarantine WHERE sha256 IS NOT NULL)
              AND (entity_id IS NULL OR entity_id NOT IN (SELECT post_id FROM tombstones))
            QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY source) = 1
            """,
            [run, utcnow()],
        )

    def _upsert_newest(
        self, table: str, sightings: str, newest: str, columns: tuple[str, ...]
    ) -> tuple[int, int]:
        """Keep each id's newest sighting of this batch (with its first capture time) in
        temp table `newest`, write it over older rows of `table`, and return how many ids
        were new and how many updated."""
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {newest} AS
            SELECT *, min(cap) OVER (PARTITION BY id) AS first_cap FROM {sightings}
            QUALIFY row_number() OVER (
                PARTITION BY id ORDER BY cap DESC, updated_at DESC NULLS LAST, rk DESC) = 1
            """
        )
        # Stored ids counted by a semi-join whose hash table holds this batch's ids
        # (`NOT IN (SELECT id FROM table)` hashed every stored id, each batch).
        new = self._scalar(
            f"SELECT (SELECT count(*) FROM {newest}) - "
            f"(SELECT count(*) FROM {table} t SEMI JOIN {newest} n ON t.id = n.id)"
        )
        updated = self._scalar(
            f"SELECT count(*) FROM {newest} u JOIN {table} t ON t.id = u.id "
            "WHERE u.cap > t.last_seen_at"
        )
        self._replace_newer(table, newest, columns)
        return new, updated

    def _replace_newer(self, table: str, stage: str, columns: tuple[str, ...]) -> None:
        """Write each staged row whose capture is at least as new as the stored one.

        Delete-then-insert of the changed keys: DuckDB's ON CONFLICT DO UPDATE is two
        orders of magnitude slower here on wide rows."""
        con = self.con
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE s_apply AS
            SELECT s.*, least(s.first_cap, t.first_seen_at) AS first_seen
            FROM {stage} s LEFT JOIN {table} t ON t.id = s.id
            WHERE t.id IS NULL OR s.cap >= t.last_seen_at
            """
        )
        con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM s_apply)")
        con.execute(
            f"""
            INSERT INTO {table} (id, {", ".join(columns)}, first_seen_at, last_seen_at)
            SELECT id, {", ".join(columns)}, first_seen, cap FROM s_apply
            """
        )
        # An older capture seen late still moves first_seen_at back.
        con.execute(
            f"""
            UPDATE {table} SET first_seen_at = s.first_cap FROM {stage} s
            WHERE {table}.id = s.id AND s.first_cap < {table}.first_seen_at
            """
        )

    def _snapshots(
        self,
        table: str,
        key: str,
        stage: str,
        stage_key: str,
        counters: tuple[str, ...],
        order: str,
    ) -> int:
        con = self.con
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE s_snap AS
            SELECT {stage_key} AS k, CAST(cap AS DATE) AS day, cap, {", ".join(counters)}
            FROM {stage}
            QUALIFY row_number() OVER (
                PARTITION BY {stage_key}, CAST(cap AS DATE)
                ORDER BY cap DESC, {order} DESC NULLS LAST, rk DESC) = 1
            """
        )
        # The table has no index (see migration 2), so (key, day) stays unique here: a
        # newer capture of a stored day replaces its row, an older or equal one is
        # dropped. The join's build side is this batch; the scan of the table skips
        # row groups outside the batch's days.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE s_snap_new AS
            SELECT s.*, t.captured_at IS NOT NULL AS stored FROM s_snap s LEFT JOIN (
                SELECT t.{key}, t.captured_on, t.captured_at FROM {table} t
                SEMI JOIN s_snap s ON t.{key} = s.k AND t.captured_on = s.day
            ) t ON t.{key} = s.k AND t.captured_on = s.day
            WHERE t.captured_at IS NULL OR s.cap > t.captured_at
            """
        )
        con.execute(
            f"""
            DELETE FROM {table} USING s_snap_new n
            WHERE n.stored AND {table}.{key} = n.k AND {table}.captured_on = n.day
            """
        )
        con.execute(
            f"""
            INSERT INTO {table} ({key}, captured_on, captured_at, {", ".join(counters)})
            SELECT k, day, cap, {", ".join(counters)} FROM s_snap_new
            """
        )
        return self._scalar("SELECT count(*) FROM s_snap_new")

    def _record(self, counts: Counts, checkpoint: dict[str, Any] | None) -> None:
        fields = [k for k in asdict(counts)]
        sets = ", ".join(f"{k} = {k} + ?" for k in fields)
        params: list[Any] = [getattr(counts, k) for k in fields]
        if checkpoint is not None:
            sets += ", checkpoint = ?"
            params.append(json.dumps(checkpoint, sort_keys=True))
        self.con.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*params, self.run_id])


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
