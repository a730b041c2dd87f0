"""Database engine: SQLite (WAL, secure_delete, foreign keys) or PostgreSQL (psycopg 3)
behind one small interface, plus the versioned migrations runner.

SQL is written once with `?` placeholders; the PostgreSQL connection rewrites them to
`%s`. Keep to the common dialect: TEXT, BIGINT, INTEGER, ON CONFLICT, RETURNING. All
queries live in the domains' `api/<domain>/store.py`; migrations in `api/migrations.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread

from api.migrations import MIGRATIONS

Row = dict[str, Any]
T = TypeVar("T")


class SchemaError(Exception):
    """The database schema is not at the version this code expects."""


class DatabaseUnavailable(Exception):
    """No connection could be made: the message names the database (without its password)
    and the driver's reason, on one line."""


def describe(url: str) -> str:
    """The database URL as it may be printed: a PostgreSQL password becomes `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


class Conn(Protocol):
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class SqliteConn:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly by Database.transaction.
        self.raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.raw.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "secure_delete = ON",  # deleted rows are overwritten with zeros (privacy §8)
            "foreign_keys = ON",
            "busy_timeout = 10000",
        ):
            self.raw.execute(f"PRAGMA {pragma}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.raw.execute(sql, tuple(params)).rowcount

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self.raw.execute(sql, tuple(params)).fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self.raw.execute(sql, tuple(params)).fetchall()]

    def begin(self, write: bool) -> None:
        # IMMEDIATE takes the write lock up front so two writers never deadlock on upgrade.
        self.raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class PostgresConn:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        # A host that never answers fails in 10 s, not the TCP timeout (a URL may say else).
        if "connect_timeout" not in url:
            url = f"{url}{'&' if '?' in url else '?'}connect_timeout=10"
        self.raw = psycopg.connect(url, autocommit=True, row_factory=dict_row)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = self.raw.execute(self._sql(sql), tuple(params))
        return int(cur.rowcount)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self.raw.execute(self._sql(sql), tuple(params)).fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self.raw.execute(self._sql(sql), tuple(params)).fetchall()]

    def begin(self, write: bool) -> None:
        self.raw.execute("BEGIN")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


ASYNC_POOL_SIZE = 4  # asynchronous PostgreSQL connections per event loop (worker process)


class AsyncPostgresPool:
    """A few psycopg asynchronous connections (autocommit) of one event loop, for
    `Database.lookup`: opened on demand up to `size`, then requests wait for a free one.
    A connection that fails is dropped; after a lost one the read is tried once more."""

    def __init__(self, url: str, size: int) -> None:
        if "connect_timeout" not in url:
            url = f"{url}{'&' if '?' in url else '?'}connect_timeout=10"
        self.url = url
        self.size = size
        self._idle: list[Any] = []
        self._opened = 0
        self._free = asyncio.Condition()
        self._all: list[Any] = []

    async def one(self, sql: str, params: Sequence[Any]) -> Row | None:
        import psycopg

        for attempt in (1, 2):
            conn = await self._acquire()
            try:
                cursor = await conn.execute(PostgresConn._sql(sql), tuple(params))
                row = await cursor.fetchone()
            except psycopg.OperationalError:
                # The connection is lost (a server restart ends it; a read is safe to
                # repeat): once more, on a new one.
                await self._drop(conn)
                for idle in list(self._idle):  # a restart ended those too
                    self._idle.remove(idle)
                    await self._drop(idle)
                if attempt == 1:
                    continue
                raise
            except BaseException:
                await self._drop(conn)
                raise
            await self._release(conn)
            return None if row is None else dict(row)
        raise AssertionError("unreachable")

    async def _acquire(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        async with self._free:
            while not self._idle and self._opened >= self.size:
                await self._free.wait()
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, row_factory=dict_row
            )
        except BaseException:
            async with self._free:
                self._opened -= 1
                self._free.notify()
            raise
        self._all.append(conn)
        return conn

    async def _release(self, conn: Any) -> None:
        async with self._free:
            self._idle.append(conn)
            self._free.notify()

    async def _drop(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            await conn.close()
        if conn in self._all:
            self._all.remove(conn)
        async with self._free:
            self._opened -= 1
            self._free.notify()

    def close(self) -> None:
        """Closes every connection, from any thread (at shutdown)."""
        for conn in self._all:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()
        self._all.clear()
        self._idle.clear()


class Database:
    """A pool of connections, each used by one transaction at a time, whichever thread runs
    it: a connection outlives the worker thread that opened it (anyio retires idle threads
    after 10 s; a connection per thread would leak one each time). `run` hops to a worker
    thread so the event loop never blocks on I/O; `lookup` is the hot path's single read."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = (
            "postgresql" if url.startswith(("postgresql://", "postgres://")) else "sqlite"
        )
        self._idle: list[SqliteConn | PostgresConn] = []
        self._all: list[SqliteConn | PostgresConn] = []
        self._lock = threading.Lock()
        # SQLite: one connection per event-loop thread for `lookup`, never in a transaction.
        self._loop_local = threading.local()
        self._async_pools: list[AsyncPostgresPool] = []

    @property
    def sqlite_path(self) -> str:
        return self.url.removeprefix("sqlite:///")

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._all)

    def _acquire(self) -> SqliteConn | PostgresConn:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = self._connect()
        with self._lock:
            self._all.append(conn)
        return conn

    def _release(self, conn: SqliteConn | PostgresConn) -> None:
        with self._lock:
            if conn in self._all:  # not closed meanwhile
                self._idle.append(conn)

    def _discard(self, conn: SqliteConn | PostgresConn) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[SqliteConn | PostgresConn]:
        """A connection of the pool for the duration of the block, outside any transaction
        (bulk loads in benches; everything else uses `transaction`)."""
        conn = self._acquire()
        try:
            yield conn
        except BaseException:
            self._discard(conn)
            raise
        self._release(conn)

    def _connect(self) -> SqliteConn | PostgresConn:
        import psycopg

        try:
            if self.dialect == "postgresql":
                return PostgresConn(self.url)
            return SqliteConn(self.sqlite_path)
        except (psycopg.Error, sqlite3.Error, OSError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise DatabaseUnavailable(
                f"cannot reach the database {describe(self.url)}: {reason}"
            ) from exc

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Conn]:
        with self.connection() as conn:
            conn.begin(write)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def call(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        with self.transaction(write) as conn:
            return fn(conn, *args)

    async def run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        """Run `fn(conn, *args)` in one transaction on a worker thread."""
        return await anyio.to_thread.run_sync(lambda: self.call(fn, *args, write=write))

    async def lookup(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of ONE read statement, which is atomic on its own and so needs no
        BEGIN/COMMIT: the session check of every signed-in request. SQLite: on this thread,
        the event loop's, with a connection of its own: an indexed read costs less than the
        hop to a worker thread, and a WAL reader does not wait for writers; should the file
        be locked all the same (an exclusive lock), it is not waited for here but on a
        worker thread. PostgreSQL: on the loop too, on one of a few asynchronous
        connections (one round trip instead of three, and no thread)."""
        if self.dialect == "sqlite":
            conn: SqliteConn | None = getattr(self._loop_local, "conn", None)
            if conn is None:
                conn = await self._open_loop_conn()
            try:
                return conn.one(sql, params)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            return await anyio.to_thread.run_sync(lambda: self._autocommit_one(sql, params))
        return await self._async_pool().one(sql, params)

    def _autocommit_one(self, sql: str, params: Sequence[Any]) -> Row | None:
        with self.connection() as conn:
            return conn.one(sql, params)

    async def _open_loop_conn(self) -> SqliteConn:
        """Opened on a worker thread (opening may wait for a lock), kept for this thread."""

        def connect() -> SqliteConn:
            made = self._connect()
            assert isinstance(made, SqliteConn)
            # Never wait on the event loop: a busy file goes to a worker thread instead.
            made.raw.execute("PRAGMA busy_timeout = 0")
            return made

        made = await anyio.to_thread.run_sync(connect)
        conn: SqliteConn | None = getattr(self._loop_local, "conn", None)
        if conn is not None:  # another request of this loop opened one meanwhile
            made.close()
            return conn
        with self._lock:
            self._all.append(made)
        self._loop_local.conn = made
        return made

    def _async_pool(self) -> AsyncPostgresPool:
        pool: AsyncPostgresPool | None = getattr(self._loop_local, "pool", None)
        if pool is None:
            pool = AsyncPostgresPool(self.url, ASYNC_POOL_SIZE)
            with self._lock:
                self._async_pools.append(pool)
            self._loop_local.pool = pool
        return pool

    def checkpoint(self) -> None:
        """Fold the SQLite WAL into the main file and truncate it, so deleted data does not
        linger in the log (secure_delete zeroes the pages in the main file)."""
        if self.dialect == "sqlite":
            with self.connection() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                # Closing from another thread may fail; harmless at shutdown.
                with contextlib.suppress(Exception):
                    conn.close()
            self._all.clear()
            self._idle.clear()
            for pool in self._async_pools:
                pool.close()
            self._async_pools.clear()
        self._loop_local = threading.local()

    # --- migrations -------------------------------------------------------------------

    def current_version(self) -> int:
        with self.transaction(write=False) as conn:
            if not _has_table(conn, "schema_migrations"):
                return 0
            row = conn.one("SELECT max(version) AS v FROM schema_migrations")
            return int(row["v"] or 0) if row else 0

    def migrate(self, log: Callable[[str], None] = lambda _msg: None) -> list[int]:
        """Apply pending migrations in order, each in its own transaction."""
        applied = []
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
        for migration in MIGRATIONS:
            with self.transaction() as conn:
                done = conn.one(
                    "SELECT 1 AS x FROM schema_migrations WHERE version = ?", (migration.version,)
                )
                if done:
                    continue
                for statement in migration.statements(self.dialect):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, int(time.time())),
                )
            log(f"applied migration {migration.version:04d} {migration.name}")
            applied.append(migration.version)
        return applied

    def applied_versions(self) -> set[int]:
        with self.transaction(write=False) as conn:
            if not _has_table(conn, "schema_migrations"):
                return set()
            return {int(r["version"]) for r in conn.all("SELECT version FROM schema_migrations")}

    def check_schema(self) -> None:
        """Every listed migration must be applied, and nothing unknown. Compares sets, not
        the highest number: branches add versions independently (the vault's 2 may land
        after a database already has billing's 3), and `migrate` applies any missing one."""
        known = {m.version for m in MIGRATIONS}
        applied = self.applied_versions()
        missing = sorted(known - applied)
        if missing:
            raise SchemaError(
                f"database schema at version {max(applied, default=0)} lacks migration(s) "
                f"{', '.join(map(str, missing))} that this code needs: "
                "run `python -m api migrate`"
            )
        unknown = sorted(applied - known)
        if unknown:
            raise SchemaError(
                f"database schema has migration(s) {', '.join(map(str, unknown))}, newer "
                f"than this code (which knows up to {max(known)})"
            )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    ) or ("locked" in str(exc) or "busy" in str(exc))


def _has_table(conn: Conn, name: str) -> bool:
    if conn.dialect == "sqlite":
        sql = "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = (
            "SELECT 1 AS x FROM information_schema.tables "
            "WHERE table_name = ? AND table_schema = current_schema()"
        )
    return conn.one(sql, (name,)) is not None
