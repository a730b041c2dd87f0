"""Moving the JSON of an older database's `raw` table into the capture archive, once.

Databases made before schema version 4 kept every stored record's JSON in `raw`; the
migration renamed that table `raw_unarchived`. The first ingest run after it (the run
knows the archive's folder; a migration does not) writes those records into archive
files, indexes them in `raw_index` and `captures` like any capture, and drops the table,
in one transaction: a run killed half-way leaves the table as it was, and the next run
starts again.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from sorastats.archive import CaptureArchive
from sorastats.staging import POST_ID

# Records per archive file: a few tens of MiB of JSON, read back in one piece by a purge.
RECORDS_PER_FILE = 10_000
SOURCE = "raw table of a database before schema version 4"


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'raw_unarchived'"
    ).fetchone()
    return bool(row and row[0])


def pending(con: duckdb.DuckDBPyConnection) -> int:
    """How many records wait in `raw_unarchived` (0 when the table is gone)."""
    if not _exists(con):
        return 0
    row = con.execute("SELECT count(*) FROM raw_unarchived").fetchone()
    return int(row[0]) if row else 0


def move_into_archive(
    con: duckdb.DuckDBPyConnection,
    archive: CaptureArchive,
    run_id: int,
    log: Callable[[str], None],
) -> int:
    """Move every record of `raw_unarchived` into `archive` and drop the table; returns
    how many records moved. Logs a line first when there are any (it takes a while on a
    large database). Does nothing once the table is gone."""
    if not _exists(con):
        return 0
    total = pending(con)
    if total:
        log(
            f"database: moving {total:,} stored records from the raw table into the "
            f"capture archive {archive.root} (once) ..."
        )
    con.execute("BEGIN TRANSACTION")
    try:
        bounds = con.execute("SELECT min(rowid), max(rowid) FROM raw_unarchived").fetchone()
        if total and bounds is not None:
            low, high = int(bounds[0]), int(bounds[1])
            for start in range(low, high + 1, RECORDS_PER_FILE):
                _move_rows(con, archive, run_id, start, start + RECORDS_PER_FILE)
        con.execute("DROP TABLE raw_unarchived")
        archive.sync()  # the index never names a file a power cut could lose
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return total


def _move_rows(
    con: duckdb.DuckDBPyConnection, archive: CaptureArchive, run_id: int, low: int, high: int
) -> None:
    """One archive file of the records whose rowid is in [low, high): one record a line,
    each found again at JSON path `$` of its line."""
    rows = con.execute(
        "SELECT json FROM raw_unarchived WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
        [low, high],
    ).fetchall()
    if not rows:
        return
    text = b"".join(str(r[0]).encode() + b"\n" for r in rows)
    stored = archive.put_json(text)
    con.execute(
        """
        INSERT INTO captures
        SELECT ?, ?, ?, ?, min(captured_at), count(*), ?, ?
        FROM raw_unarchived WHERE rowid >= ? AND rowid < ?
        """,
        [stored.key, stored.key, SOURCE, run_id, stored.size, stored.stored_size, low, high],
    )
    con.execute(
        """
        INSERT INTO raw_index
        SELECT sha256, kind, entity_id, source, run_id, captured_at, ?,
               row_number() OVER (ORDER BY rowid) - 1, '$'
        FROM raw_unarchived WHERE rowid >= ? AND rowid < ?
        """,
        [stored.key, low, high],
    )
    post_ids = sorted({m.decode() for m in POST_ID.findall(text)})
    if post_ids:
        con.execute(
            "INSERT INTO capture_posts SELECT ?, unnest(?::VARCHAR[])", [stored.key, post_ids]
        )
