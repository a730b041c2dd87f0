"""api/db.py: the connection pool (connections outlive the threads that opened them) and
`lookup`, the single-statement read of the session check (SQLite: on the event loop's
own connection, falling back to a worker thread when the file is locked; PostgreSQL: a
few asynchronous connections per event loop)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from api.db import ASYNC_POOL_SIZE, Conn, Database, Row
from tests.support.api_server import postgres_schema

T = TypeVar("T")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    database.call(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    database.call(lambda c: c.execute("INSERT INTO t VALUES ('a', 1)"))
    yield database
    database.close()


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """`main` on an event loop of its own in a new thread: the test process may already
    run one in this thread (Playwright's sync API, when a browser test ran first)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, main).result()


def _row(conn: Conn, key: str) -> Row | None:
    return conn.one("SELECT k, v FROM t WHERE k = ?", (key,))


def test_connections_outlive_the_threads_that_opened_them(db: Database) -> None:
    """anyio retires idle worker threads; a connection per thread would leak one each time."""
    before = db.open_connections
    for _ in range(5):
        thread = threading.Thread(target=db.call, args=(_row, "a"), kwargs={"write": False})
        thread.start()
        thread.join()
    assert db.open_connections == max(before, 1)


def test_concurrent_transactions_get_their_own_connections(db: Database) -> None:
    inside = threading.Barrier(3, timeout=10)

    def hold(conn: Conn) -> None:
        inside.wait()  # all three at once: each must have a connection of its own
        assert _row(conn, "a") == {"k": "a", "v": 1}

    threads = [
        threading.Thread(target=db.call, args=(hold,), kwargs={"write": False}) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    with db.transaction(write=False) as conn:
        inside.wait()
        assert _row(conn, "a") is not None
    for thread in threads:
        thread.join()
    assert db.open_connections == 3
    db.call(_row, "a")  # reuses one
    assert db.open_connections == 3


def test_a_failed_transaction_rolls_back_and_its_connection_is_not_reused(db: Database) -> None:
    def fail(conn: Conn) -> None:
        conn.execute("UPDATE t SET v = 2")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        db.call(fail)
    assert db.call(_row, "a") == {"k": "a", "v": 1}


SELECT_A = "SELECT k, v FROM t WHERE k = ?"


def test_lookup_on_sqlite_runs_on_the_loop_thread_outside_a_transaction(db: Database) -> None:
    seen: dict[str, object] = {}

    async def main() -> None:
        seen["loop"] = threading.get_ident()
        assert await db.lookup(SELECT_A, ("a",)) == {"k": "a", "v": 1}
        conn = db._loop_local.conn  # the loop's own connection, opened by that lookup
        conn.raw.create_function("thread_id", 0, threading.get_ident)
        row = await db.lookup("SELECT thread_id() AS thread")
        seen["thread"] = row["thread"] if row else None
        seen["in_transaction"] = conn.raw.in_transaction
        assert await db.lookup(SELECT_A, ("missing",)) is None

    _run(main)
    assert seen["thread"] == seen["loop"]
    assert seen["in_transaction"] is False


def test_lookup_sees_committed_writes_at_once(db: Database) -> None:
    """A session ended (or a row changed) by another connection is seen by the next lookup."""

    async def main() -> None:
        assert await db.lookup(SELECT_A, ("a",)) == {"k": "a", "v": 1}
        await db.run(lambda c: c.execute("DELETE FROM t WHERE k = 'a'"))
        assert await db.lookup(SELECT_A, ("a",)) is None

    _run(main)


def test_lookup_on_a_locked_file_waits_on_a_worker_thread_not_the_loop(
    db: Database, tmp_path: Path
) -> None:
    """A WAL reader never waits for writers, but an exclusive lock stops it: then the read
    waits on a worker thread (busy_timeout) while the event loop keeps serving."""
    db.close()  # an exclusive lock on a WAL file needs every other connection closed
    locker = sqlite3.connect(
        tmp_path / "pool.sqlite3", isolation_level=None, check_same_thread=False
    )
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE t SET v = 2")
    locker.execute("COMMIT")  # the exclusive lock is kept until the connection closes
    threading.Timer(0.5, locker.close).start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async def main() -> Row | None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker)
            start = time.monotonic()
            row = await db.lookup(SELECT_A, ("a",))
            assert time.monotonic() - start >= 0.3  # it did wait for the lock
            tasks.cancel_scope.cancel()
        return row

    assert _run(main) == {"k": "a", "v": 2}
    assert ticks >= 10  # the loop ran meanwhile


def test_lookup_errors_other_than_a_busy_file_are_raised(db: Database) -> None:
    async def main() -> None:
        await db.lookup("SELECT k FROM no_such_table")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _run(main)


def test_close_closes_every_connection_also_the_loops(db: Database) -> None:
    async def main() -> None:
        await db.lookup(SELECT_A, ("a",))

    _run(main)
    db.call(_row, "a")
    assert db.open_connections == 2
    db.close()
    assert db.open_connections == 0


@pytest.mark.postgres
def test_lookup_on_postgres_survives_a_lost_connection_and_bounds_its_pool() -> None:
    import psycopg

    with postgres_schema() as url:
        database = Database(url)
        try:
            database.call(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
            database.call(lambda c: c.execute("INSERT INTO t VALUES ('a', 1)"))
            backends = "SELECT pg_backend_pid() AS pid"

            async def main() -> None:
                assert await database.lookup(SELECT_A, ("a",)) == {"k": "a", "v": 1}
                assert await database.lookup(SELECT_A, ("b",)) is None
                # Many at once: at most ASYNC_POOL_SIZE connections.
                rows = await asyncio.gather(*(database.lookup(backends) for _ in range(40)))
                pids = {row["pid"] for row in rows if row}
                assert 1 <= len(pids) <= ASYNC_POOL_SIZE
                await database.run(lambda c: c.execute("UPDATE t SET v = 2"))
                assert await database.lookup(SELECT_A, ("a",)) == {"k": "a", "v": 2}
                # The server ends the connections (a restart): the next lookup reconnects.
                with psycopg.connect(url, autocommit=True) as admin:
                    for pid in pids:
                        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                assert await database.lookup(SELECT_A, ("a",)) == {"k": "a", "v": 2}
                with pytest.raises(psycopg.errors.UndefinedTable):
                    await database.lookup("SELECT k FROM no_such_table")
                assert await database.lookup(SELECT_A, ("a",)) is not None

            _run(main)
        finally:
            database.close()
