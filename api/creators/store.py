"""SQL of creators' rights: claims, published prompts, what the site hides, removal
requests (the accounts database); and the two look-ups in the ingest DuckDB file that say
who a creator or a post is (read-only, as api/stats/store.py opens it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from api.db import Conn, Row

CLAIM_COLUMNS = (
    "id, user_id, creator_id, username, code, evidence, status, reason, created_at, "
    "expires_at, decided_at"
)
REQUEST_COLUMNS = "id, kind, target_id, target, reason, email, status, created_at, decided_at"


# --- claims -------------------------------------------------------------------------------


def expire_claims(conn: Conn, now: int) -> int:
    return conn.execute(
        "UPDATE creator_claims SET status = 'expired', decided_at = ? "
        "WHERE status = 'pending' AND expires_at < ?",
        (now, now),
    )


def insert_claim(conn: Conn, claim: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO creator_claims (id, user_id, creator_id, username, code, evidence, "
        "status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (
            claim["id"],
            claim["user_id"],
            claim["creator_id"],
            claim["username"],
            claim["code"],
            claim["evidence"],
            claim["created_at"],
            claim["expires_at"],
        ),
    )


def claim(conn: Conn, claim_id: str) -> Row | None:
    return conn.one(f"SELECT {CLAIM_COLUMNS} FROM creator_claims WHERE id = ?", (claim_id,))


def claims_of(conn: Conn, user_id: str) -> list[Row]:
    return conn.all(
        f"SELECT {CLAIM_COLUMNS} FROM creator_claims WHERE user_id = ? ORDER BY created_at, id",
        (user_id,),
    )


def claims_with_status(conn: Conn, status: str) -> list[Row]:
    return conn.all(
        f"SELECT {CLAIM_COLUMNS} FROM creator_claims WHERE status = ? ORDER BY created_at, id",
        (status,),
    )


def count_pending(conn: Conn, user_id: str) -> int:
    row = conn.one(
        "SELECT count(*) AS n FROM creator_claims WHERE user_id = ? AND status = 'pending'",
        (user_id,),
    )
    return int(row["n"]) if row else 0


def pending_claim(conn: Conn, user_id: str, creator_id: str) -> Row | None:
    return conn.one(
        f"SELECT {CLAIM_COLUMNS} FROM creator_claims "
        "WHERE user_id = ? AND creator_id = ? AND status = 'pending'",
        (user_id, creator_id),
    )


def verified_claim(conn: Conn, creator_id: str) -> Row | None:
    return conn.one(
        f"SELECT {CLAIM_COLUMNS} FROM creator_claims WHERE creator_id = ? AND status = 'verified'",
        (creator_id,),
    )


def pending_by_code(conn: Conn, code: str) -> Row | None:
    return conn.one(
        f"SELECT {CLAIM_COLUMNS} FROM creator_claims WHERE code = ? AND status = 'pending'",
        (code,),
    )


def decide_claim(conn: Conn, claim_id: str, status: str, reason: str, now: int) -> int:
    """Only a pending claim is decided (a code is used once)."""
    return conn.execute(
        "UPDATE creator_claims SET status = ?, reason = ?, decided_at = ? "
        "WHERE id = ? AND status = 'pending'",
        (status, reason, now, claim_id),
    )


def pending_claims(conn: Conn, now: int) -> list[Row]:
    return conn.all(
        "SELECT creator_id, username, code FROM creator_claims "
        "WHERE status = 'pending' AND expires_at >= ? ORDER BY creator_id, code",
        (now,),
    )


def purge_claims(conn: Conn, before: int) -> int:
    """Claims never verified (pending, rejected, expired) made before `before`."""
    return conn.execute(
        "DELETE FROM creator_claims WHERE status <> 'verified' AND created_at < ?", (before,)
    )


# --- published prompts -------------------------------------------------------------------


def upsert_published(
    conn: Conn, user_id: str, post_id: str, creator_id: str, prompt: str, now: int
) -> bool:
    """True if the post had no published prompt yet."""
    updated = conn.execute(
        "UPDATE published_prompts SET prompt = ?, updated_at = ? WHERE post_id = ? AND user_id = ?",
        (prompt, now, post_id, user_id),
    )
    if updated:
        return False
    conn.execute(
        "INSERT INTO published_prompts (post_id, user_id, creator_id, prompt, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (post_id, user_id, creator_id, prompt, now, now),
    )
    return True


def published_owner(conn: Conn, post_id: str) -> str | None:
    row = conn.one("SELECT user_id FROM published_prompts WHERE post_id = ?", (post_id,))
    return str(row["user_id"]) if row else None


def delete_published(conn: Conn, user_id: str, post_id: str) -> int:
    return conn.execute(
        "DELETE FROM published_prompts WHERE post_id = ? AND user_id = ?", (post_id, user_id)
    )


def delete_published_of_creator(conn: Conn, creator_id: str) -> int:
    return conn.execute("DELETE FROM published_prompts WHERE creator_id = ?", (creator_id,))


def published_of(conn: Conn, user_id: str) -> list[Row]:
    return conn.all(
        "SELECT post_id, creator_id, prompt, created_at, updated_at FROM published_prompts "
        "WHERE user_id = ? ORDER BY post_id",
        (user_id,),
    )


def all_published(conn: Conn) -> list[Row]:
    return conn.all(
        "SELECT post_id, creator_id, prompt FROM published_prompts p "
        "WHERE EXISTS (SELECT 1 FROM creator_claims c WHERE c.user_id = p.user_id "
        "AND c.creator_id = p.creator_id AND c.status = 'verified') ORDER BY post_id"
    )


# --- what the site hides ------------------------------------------------------------------


def hidden(conn: Conn, kind: str, target_id: str) -> Row | None:
    return conn.one(
        "SELECT kind, target_id, label, erased, source, created_at FROM hidden_targets "
        "WHERE kind = ? AND target_id = ?",
        (kind, target_id),
    )


def hide(
    conn: Conn, kind: str, target_id: str, label: str, source: str, now: int, erased: bool
) -> None:
    """Hide (or erase) a target; an erased one stays erased."""
    found = hidden(conn, kind, target_id)
    if found is None:
        conn.execute(
            "INSERT INTO hidden_targets (kind, target_id, label, erased, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, target_id, label, int(erased), source, now),
        )
    elif erased and not found["erased"]:
        conn.execute(
            "UPDATE hidden_targets SET erased = 1, source = ? WHERE kind = ? AND target_id = ?",
            (source, kind, target_id),
        )


def show(conn: Conn, kind: str, target_id: str) -> int:
    return conn.execute(
        "DELETE FROM hidden_targets WHERE kind = ? AND target_id = ? AND erased = 0",
        (kind, target_id),
    )


def all_hidden(conn: Conn) -> list[Row]:
    return conn.all(
        "SELECT kind, target_id, label, erased FROM hidden_targets ORDER BY kind, target_id"
    )


# --- removal requests ---------------------------------------------------------------------


def insert_request(conn: Conn, request: dict[str, Any]) -> None:
    conn.execute(
        f"INSERT INTO removal_requests ({REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tuple(request[c.strip()] for c in REQUEST_COLUMNS.split(",")),
    )


def request(conn: Conn, request_id: str) -> Row | None:
    return conn.one(f"SELECT {REQUEST_COLUMNS} FROM removal_requests WHERE id = ?", (request_id,))


def requests_with_status(conn: Conn, status: str) -> list[Row]:
    return conn.all(
        f"SELECT {REQUEST_COLUMNS} FROM removal_requests WHERE status = ? ORDER BY created_at, id",
        (status,),
    )


def decide_request(conn: Conn, request_id: str, status: str, now: int) -> int:
    return conn.execute(
        "UPDATE removal_requests SET status = ?, decided_at = ? "
        "WHERE id = ? AND status = 'pending'",
        (status, now, request_id),
    )


def purge_requests(conn: Conn, before: int) -> int:
    return conn.execute("DELETE FROM removal_requests WHERE created_at < ?", (before,))


# --- the ingest database (read-only) ----------------------------------------------------


class IngestUnavailableError(Exception):
    """The ingest database is missing or busy; the message says which (503)."""


@dataclass(frozen=True)
class Creator:
    id: str
    username: str  # the current one


@dataclass(frozen=True)
class CreatorMatch:
    creator: Creator
    renamed: bool  # the name asked for is a past username of this creator


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.is_file():
        raise IngestUnavailableError(
            f"The stats database is not available on this server ({path.name} is missing)."
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise IngestUnavailableError(
            "The stats database is being updated; try again in a minute."
        ) from exc


def find_creator(path: Path, username: str) -> CreatorMatch | None:
    """The creator whose current username is `username` (any case), else the one that
    used to be called so, else None."""
    con = _open(path)
    try:
        row = con.execute(
            "SELECT id, username FROM creators WHERE lower(username) = lower(?) "
            "ORDER BY last_seen_at DESC, id LIMIT 1",
            [username],
        ).fetchone()
        if row is not None:
            return CreatorMatch(Creator(str(row[0]), str(row[1])), renamed=False)
        row = con.execute(
            "SELECT c.id, c.username FROM creator_usernames u JOIN creators c "
            "ON c.id = u.creator_id WHERE lower(u.username) = lower(?) "
            "ORDER BY u.last_seen_at DESC, c.id LIMIT 1",
            [username],
        ).fetchone()
    except duckdb.CatalogException as exc:
        raise IngestUnavailableError("The stats database has no creator tables yet.") from exc
    finally:
        con.close()
    return CreatorMatch(Creator(str(row[0]), str(row[1])), renamed=True) if row else None


def post_creator(path: Path, post_id: str) -> str | None:
    """The id of the creator who posted `post_id`, or None for an unknown post."""
    con = _open(path)
    try:
        row = con.execute("SELECT creator_id FROM posts WHERE id = ?", [post_id]).fetchone()
    except duckdb.CatalogException as exc:
        raise IngestUnavailableError("The stats database has no post tables yet.") from exc
    finally:
        con.close()
    return str(row[0]) if row else None
