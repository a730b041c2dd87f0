"""Erasing creators at their request (docs/creators.md, privacy policy section 8).

An erased creator's rows leave every table; their posts, comments, profile copies (in
listings, as cameos in others' videos) and images leave the capture archive through the
purge that tombstoned posts go through (`capture_purge_queue`, then
`Applier.purge_archive` when the run ends); and `suppressed_creators` keeps their id so
no later import or fetch stores or archives them again (`Stager.add_document`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sorastats.archive import CaptureArchive
from sorastats.ingest import utcnow
from sorastats.run import IngestRun, Log
from sorastats.staging import EMPTY_KEY

# Every row an erased creator leaves, posts first. Their thumbnails and picture leave the
# `media` table here and the archive when the run ends (`media.drop_purged`, called by
# `Applier.purge_archive`), as a deleted post's do.
_MEDIA_OWNED = (
    "(owner_kind = 'post' AND owner_id IN (SELECT id FROM e_posts)) "
    "OR (owner_kind = 'creator' AND owner_id IN (SELECT id FROM e_ids))"
)
_DELETES: tuple[str, ...] = (
    f"INSERT INTO media_purges SELECT sha256, suffix FROM media WHERE {_MEDIA_OWNED}",
    f"DELETE FROM media WHERE {_MEDIA_OWNED}",
    "DELETE FROM post_snapshots WHERE post_id IN (SELECT id FROM e_posts)",
    "DELETE FROM post_cameos WHERE post_id IN (SELECT id FROM e_posts) "
    "OR creator_id IN (SELECT id FROM e_ids)",
    "DELETE FROM posts WHERE id IN (SELECT id FROM e_posts)",
    "DELETE FROM raw_index WHERE (kind IN ('post', 'comment') "
    "AND entity_id IN (SELECT id FROM e_posts)) "
    "OR (kind = 'profile' AND entity_id IN (SELECT id FROM e_ids))",
    "DELETE FROM quarantine WHERE entity_id IN (SELECT id FROM e_posts) "
    "OR entity_id IN (SELECT id FROM e_ids)",
    "DELETE FROM creator_snapshots WHERE creator_id IN (SELECT id FROM e_ids)",
    "DELETE FROM creator_usernames WHERE creator_id IN (SELECT id FROM e_ids)",
    "DELETE FROM creator_profile_snapshots WHERE creator_id IN (SELECT id FROM e_ids)",
    "DELETE FROM creators WHERE id IN (SELECT id FROM e_ids)",
)


@dataclass(frozen=True)
class ErasureResult:
    creators: int  # newly erased (already suppressed ones are skipped)
    posts: int  # their posts removed
    archive_files: int  # archive files rewritten without them


def suppress(con: duckdb.DuckDBPyConnection, creator_ids: Iterable[str]) -> tuple[int, int]:
    """In the caller's transaction: record the suppressions, delete the rows, queue the
    archive files that hold their posts. Returns (creators newly erased, posts removed)."""
    ids = sorted(set(creator_ids))
    con.execute("CREATE OR REPLACE TEMP TABLE e_ids AS SELECT unnest(?::VARCHAR[]) AS id", [ids])
    con.execute("DELETE FROM e_ids WHERE id IN (SELECT creator_id FROM suppressed_creators)")
    row = con.execute("SELECT count(*) FROM e_ids").fetchone()
    new = int(row[0]) if row else 0
    if not new:
        return 0, 0
    con.execute(
        "INSERT INTO suppressed_creators SELECT id, ? FROM e_ids ON CONFLICT DO NOTHING",
        [utcnow()],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE e_posts AS "
        "SELECT id FROM posts WHERE creator_id IN (SELECT id FROM e_ids)"
    )
    row = con.execute("SELECT count(*) FROM e_posts").fetchone()
    posts = int(row[0]) if row else 0
    # The existing purge path: the files that hold these posts are rewritten without
    # them when the run ends (`Applier.purge_archive`).
    con.execute(
        "INSERT INTO capture_purge_queue SELECT capture, post_id FROM capture_posts "
        "WHERE post_id IN (SELECT id FROM e_posts)"
    )
    con.execute("DELETE FROM capture_posts WHERE post_id IN (SELECT id FROM e_posts)")
    for sql in _DELETES:
        con.execute(sql)
    return new, posts


def queue_copies(
    con: duckdb.DuckDBPyConnection, archive: CaptureArchive, creator_ids: Iterable[str]
) -> int:
    """In the caller's transaction: queue every archive file that still names one of
    the creators (a profile in a listing, a cameo in someone else's video, a comment)
    for `Applier.purge_archive`, which cuts every erased creator's copies from it.
    Reads every file: the index keeps one place per distinct record, so only the files
    themselves say where every copy is. Returns how many files were queued."""
    needles = [f'"{creator}"'.encode() for creator in sorted(set(creator_ids))]
    keys = [str(r[0]) for r in con.execute("SELECT DISTINCT sha256 FROM captures").fetchall()]
    found: list[str] = []
    for key in keys:
        if key == EMPTY_KEY or not archive.has_json(key):
            continue
        text = archive.read_json(key)
        if any(needle in text for needle in needles):
            found.append(key)
    if found:
        con.execute("INSERT INTO capture_purge_queue SELECT unnest(?::VARCHAR[]), NULL", [found])
    return len(found)


def erase_creators(
    db_path: Path,
    creator_ids: Iterable[str],
    *,
    captures: Path | None = None,
    log: Log | None = None,
) -> ErasureResult:
    """Erase the creators not erased yet, as one run of their own (`erase` in `runs`),
    holding the database's lock; the archive is purged when the run ends."""
    ids = sorted(set(creator_ids))
    if not ids:
        return ErasureResult(0, 0, 0)
    with IngestRun(db_path, "erase", "contributions", log=log, captures=captures) as run:
        con = run.con
        con.execute("BEGIN TRANSACTION")
        try:
            creators, posts = suppress(con, ids)
            if creators and run.archive is not None:
                queue_copies(con, run.archive, ids)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        queued = con.execute("SELECT count(DISTINCT capture) FROM capture_purge_queue").fetchone()
        files = int(queued[0]) if queued else 0
        run.finish("ok")
    return ErasureResult(creators, posts, files)
