"""Opening the ingest database: one DuckDB file, migrated to the current schema on open."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import duckdb

from sorastats.schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_DB_PATH = Path("data/sorastats.duckdb")
INGEST_MEMORY_LIMIT = "384MB"  # DuckDB buffer cap during ingest; keeps peak RSS < 1 GiB
INGEST_CHECKPOINT_EVERY = "1GB"  # of write-ahead log


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer release than this one."""


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version recorded in `meta`, or 0 for an empty database."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


_logger = logging.getLogger(__name__)
Log = Callable[[str], None]


def log_upgrade(message: str) -> None:
    """Where upgrade notices go by default: the `sorastats.db` logger at INFO."""
    _logger.info(message)


def migrate(con: duckdb.DuckDBPyConnection, log: Log | None = None) -> int:
    """Apply every migration the database lacks, each in its own transaction. Upgrading
    an existing database is reported to `log` (default: the `sorastats.db` logger at
    INFO, which the command line shows on stderr): a migration may copy big tables
    (version 2 copies `raw`), which takes a while on a large database."""
    log = log or log_upgrade
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"database schema version {current} is newer than this release's "
            f"({SCHEMA_VERSION}); upgrade SoraStats"
        )
    if 0 < current < SCHEMA_VERSION:
        log(f"database: upgrading schema version {current} to {SCHEMA_VERSION} (once) ...")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        con.execute(MIGRATIONS[version - 1])
        con.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            [str(version)],
        )
        con.execute("COMMIT")
    return SCHEMA_VERSION


def connect(
    path: Path | str = DEFAULT_DB_PATH, *, read_only: bool = False, log: Log | None = None
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) and migrate the database at `path`; `log` as `migrate`."""
    path = Path(path)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(
                f"no database at {path}: run `python build.py import` or `fetch` first"
            )
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    # DuckDB's own progress bar would interleave with ours (and draw during migrations).
    con.execute("SET enable_progress_bar = false")
    migrate(con, log)
    return con


def configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Settings for bulk ingest: bounded memory (spilling to disk beside the database) and
    insertion order not preserved in temp results, which ingest never relies on."""
    con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
    # Buffer blocks come from memory allocated once and kept: otherwise each statement's
    # buffers are returned to the kernel and faulted in again by the next (measured:
    # about 0.5 million fewer page faults and 2 s less system time per 100,000 posts).
    con.execute(f"SET block_allocator_memory = '{INGEST_MEMORY_LIMIT}'")
    # zstd stores the raw JSON about 5x smaller than the default string compression,
    # and writing fewer bytes is faster too (measured: bench/ingest.py).
    con.execute("SET force_compression = 'zstd'")
    # Every checkpoint rewrites the primary-key indexes whole; at DuckDB's default
    # (16 MB of WAL) that made commits grow with the database. The WAL keeps every
    # commit durable in between.
    con.execute(f"SET checkpoint_threshold = '{INGEST_CHECKPOINT_EVERY}'")
    con.execute("SET preserve_insertion_order = false")
    # One DuckDB thread: the import already keeps both cores busy (Python stages the
    # next batch while DuckDB applies this one); a second DuckDB thread only added
    # contention (measured about 10 % more CPU per import).
    con.execute("SET threads = 1")
    return con
