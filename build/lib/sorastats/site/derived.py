"""Derived tables reused from the previous build when their inputs did not change.

Similar prompts (posts sharing rare words) depend only on the prompts and cards of posts
with a prompt. An archive rarely changes those, while counters change every night, yet
splitting every prompt into words is the costliest aggregate of such a rebuild (0.28 s of
about 2 s at 100,000 posts). So the build keeps `simprompts` in `<out>.cache/derived.duckdb`
with a fingerprint of its inputs, and reuses it when the fingerprint matches.

The cache is only ever a shortcut: a missing, stale, unreadable or foreign file means the
table is computed again (and the file replaced), never a wrong page. It is written to a
temporary file and renamed into place, so a killed build cannot leave half a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import duckdb

from sorastats.site import queries

CACHE_FILE = "derived.duckdb"
_ALIAS = "sorastats_derived"


def cache_dir(out: Path) -> Path:
    """Where a site's derived-table cache lives: beside it, never inside (not published)."""
    return out.with_name(out.name + ".cache")


def similar_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """What `simprompts` depends on: its SQL, DuckDB's version (its `hash()`), and every
    (id, prompt, card) of `pcard` with a prompt (ids are unique, so none cancel out in
    the XOR)."""
    row = con.execute(
        "SELECT count(*), bit_xor(hash(id, prompt, card)) FROM pcard WHERE prompt IS NOT NULL"
    ).fetchone()
    code = hashlib.blake2b(
        "\0".join((*queries.similar_sql(), duckdb.__version__)).encode(), digest_size=8
    ).hexdigest()
    count, digest = row if row else (0, 0)
    return f"{code}-{count}-{digest}"


def similar_prompts(
    con: duckdb.DuckDBPyConnection,
    cache: Path | None,
    log: Callable[[str], None],
    *,
    reuse: bool = True,
) -> bool:
    """Make temporary table `simprompts`; True when it came from the cache. With `cache`
    None nothing is kept; with `reuse` False (a `--full` build) it is computed anyway
    and the cache refreshed."""
    key = similar_fingerprint(con)
    path = cache / CACHE_FILE if cache is not None else None
    if path is not None and reuse and _load(con, path, key, log):
        return True
    for sql in queries.similar_sql():
        con.execute(sql)
    if path is not None:
        _store(con, path, key, log)
    return False


def _sql_text(path: Path) -> str:
    """A path as an SQL string literal (ATTACH takes no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DETACH {alias}")


def _load(con: duckdb.DuckDBPyConnection, path: Path, key: str, log: Callable[[str], None]) -> bool:
    if not path.is_file():
        return False
    try:
        con.execute(f"ATTACH {_sql_text(path)} AS {_ALIAS} (READ_ONLY)")
        try:
            row = con.execute(
                f"SELECT value FROM {_ALIAS}.meta WHERE key = 'simprompts'"
            ).fetchone()
            if row is None or row[0] != key:
                return False
            con.execute(f"CREATE TEMP TABLE simprompts AS SELECT * FROM {_ALIAS}.simprompts")
            return True
        finally:
            _detach(con, _ALIAS)
    except duckdb.Error as exc:
        # Not ours, damaged, or from another DuckDB: computed again and replaced.
        log(f"render: ignoring the derived-table cache {path}: {exc}")
        return False


def _store(
    con: duckdb.DuckDBPyConnection, path: Path, key: str, log: Callable[[str], None]
) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    alias = _ALIAS + "_new"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Temporary files of killed builds (and their WALs): one build per site folder
        # runs at a time (RunLock), so none of them is in use.
        for leftover in path.parent.glob(f".{path.name}.*.tmp*"):
            leftover.unlink(missing_ok=True)
        # The render's connection is read-only: it may attach a file to write, not create one.
        duckdb.connect(str(tmp)).close()
        con.execute(f"ATTACH {_sql_text(tmp)} AS {alias} (READ_WRITE)")
        try:
            con.execute(f"CREATE TABLE {alias}.simprompts AS SELECT * FROM simprompts")
            con.execute(f"CREATE TABLE {alias}.meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.execute(f"INSERT INTO {alias}.meta VALUES ('simprompts', ?)", [key])
            con.execute(f"CHECKPOINT {alias}")
        finally:
            _detach(con, alias)
        os.replace(tmp, path)
    except (duckdb.Error, OSError) as exc:
        log(f"render: could not keep the derived-table cache {path}: {exc}")
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
