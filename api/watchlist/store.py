"""SQL of the watchlist (the accounts database, every query scoped by user_id) and its one
read of the ingest DuckDB file: the watched items' labels and snapshots (read-only, opened
per request as api/stats/store.py does; the nightly build owns the file)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from api.db import Conn, Row
from api.watchlist.rules import COUNTERS, Snapshot

# --- the accounts database ----------------------------------------------------------------


def add(conn: Conn, user_id: str, kind: str, target_id: str, now: int) -> bool:
    """True if newly added (already watched: nothing changes)."""
    return (
        conn.execute(
            "INSERT INTO watchlist (user_id, kind, target_id, created_at, seen_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, kind, target_id) DO NOTHING",
            (user_id, kind, target_id, now, now),
        )
        > 0
    )


def remove(conn: Conn, user_id: str, kind: str, target_id: str) -> bool:
    return (
        conn.execute(
            "DELETE FROM watchlist WHERE user_id = ? AND kind = ? AND target_id = ?",
            (user_id, kind, target_id),
        )
        > 0
    )


def has(conn: Conn, user_id: str, kind: str, target_id: str) -> bool:
    return (
        conn.one(
            "SELECT 1 AS x FROM watchlist WHERE user_id = ? AND kind = ? AND target_id = ?",
            (user_id, kind, target_id),
        )
        is not None
    )


def count(conn: Conn, user_id: str) -> int:
    row = conn.one("SELECT count(*) AS n FROM watchlist WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0


def items(conn: Conn, user_id: str) -> list[Row]:
    return conn.all(
        "SELECT kind, target_id, created_at, seen_at FROM watchlist WHERE user_id = ? "
        "ORDER BY created_at DESC, kind, target_id",
        (user_id,),
    )


def mark_seen(conn: Conn, user_id: str, now: int) -> int:
    return conn.execute("UPDATE watchlist SET seen_at = ? WHERE user_id = ?", (now, user_id))


def hidden_ids(conn: Conn, kind: str, ids: list[str]) -> set[str]:
    """Which of `ids` the site hides (`hidden_targets`, kind 'creator' or 'post')."""
    if not ids:
        return set()
    marks = ", ".join("?" for _ in ids)
    rows = conn.all(
        f"SELECT target_id FROM hidden_targets WHERE kind = ? AND target_id IN ({marks})",
        [kind, *ids],
    )
    return {str(r["target_id"]) for r in rows}


# --- the ingest database (read-only) ------------------------------------------------------


class StatsUnavailableError(Exception):
    """The ingest database is missing or busy; the message says which."""


@dataclass(frozen=True)
class Target:
    kind: str
    id: str
    label: str  # '@username', or the video's caption (cut short)
    username: str
    creator_id: str  # the creator's id (a video's poster)
    text: str | None  # a video's caption
    snapshots: list[Snapshot]


_CREATORS = """
SELECT id, username, id AS creator_id, NULL AS text FROM creators
WHERE id IN (SELECT unnest(?::VARCHAR[])) AND banned_at IS NULL
  AND id NOT IN (SELECT creator_id FROM suppressed_creators)
"""
_VIDEOS = """
SELECT p.id, c.username, c.id AS creator_id, p.text FROM posts p JOIN creators c
  ON c.id = p.creator_id
WHERE p.id IN (SELECT unnest(?::VARCHAR[])) AND c.banned_at IS NULL
  AND p.id NOT IN (SELECT post_id FROM tombstones)
  AND c.id NOT IN (SELECT creator_id FROM suppressed_creators)
"""
_SNAPSHOTS = {
    "creator": ("creator_snapshots", "creator_id"),
    "video": ("post_snapshots", "post_id"),
}


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.is_file():
        raise StatsUnavailableError(
            f"The stats database is not available on this server ({path.name} is missing)."
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise StatsUnavailableError(
            "The stats database is being updated; try again in a minute."
        ) from exc


def read_targets(path: Path, wanted: dict[str, list[str]]) -> dict[tuple[str, str], Target]:
    """The watched items the ingest database still shows, by (kind, id), each with every
    snapshot of its counters. `wanted`: ids by kind."""
    con = _open(path)
    try:
        found: dict[tuple[str, str], Target] = {}
        for kind, sql in (("creator", _CREATORS), ("video", _VIDEOS)):
            ids = wanted.get(kind, [])
            if not ids:
                continue
            rows = con.execute(sql, [ids]).fetchall()
            snaps = _snapshots(con, kind, [str(r[0]) for r in rows])
            for tid, username, creator_id, text in rows:
                found[(kind, str(tid))] = Target(
                    kind=kind,
                    id=str(tid),
                    label=f"@{username}",
                    username=str(username),
                    creator_id=str(creator_id),
                    text=None if text is None else str(text),
                    snapshots=snaps.get(str(tid), []),
                )
        return found
    except duckdb.CatalogException as exc:
        raise StatsUnavailableError("The stats database has no tables yet.") from exc
    finally:
        con.close()


def _snapshots(
    con: duckdb.DuckDBPyConnection, kind: str, ids: list[str]
) -> dict[str, list[Snapshot]]:
    if not ids:
        return {}
    table, key = _SNAPSHOTS[kind]
    names = [name for name, _ in COUNTERS[kind]]
    columns = ", ".join(column for _, column in COUNTERS[kind])
    out: dict[str, list[Snapshot]] = {}
    rows: list[tuple[Any, ...]] = con.execute(
        f"SELECT {key}, captured_at, {columns} FROM {table} "
        f"WHERE {key} IN (SELECT unnest(?::VARCHAR[]))",
        [ids],
    ).fetchall()
    for row in rows:
        at: datetime = row[1]
        counters = {n: (None if v is None else int(v)) for n, v in zip(names, row[2:], strict=True)}
        out.setdefault(str(row[0]), []).append(Snapshot(at, counters))
    return out
