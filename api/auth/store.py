"""SQL of sign-in: users' credentials and email addresses, sessions, emailed links and
throttling. Every function takes an open transaction (`Conn`) from `Database.run`/
`Database.call`; callers decide the transaction boundaries. Queries are portable between
SQLite and PostgreSQL (see api/db.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from api.db import Conn, Row
from api.strict_json import load_stored
from sorastats import retention

# Periods come from the retention table (sorastats/retention.py), as the privacy page does.
SESSION_IDLE_SECONDS = retention.seconds("idle sessions")
SESSION_MAX_SECONDS = retention.seconds("sessions")
UNVERIFIED_TTL_SECONDS = retention.seconds("unverified accounts")
THROTTLE_KEEP_SECONDS = retention.seconds("sign-in throttle")
TOUCH_EVERY_SECONDS = 60  # last_seen is refreshed at most once a minute: keeps GETs read-only

USER_COLUMNS = (
    "id, email, email_verified_at, pending_email, display_name, settings, kdf, "
    "wrapped_user_key, recovery_kdf, recovery_wrapped_user_key, created_at, updated_at, "
    "password_changed_at, restricted_at"
)

# --- users ------------------------------------------------------------------------------


def create_user(conn: Conn, user: dict[str, Any]) -> bool:
    """Insert a user; False if the email or id is taken (nothing written)."""
    taken = conn.one(
        "SELECT 1 AS x FROM users WHERE email = ? OR id = ?", (user["email"], user["id"])
    )
    if taken:
        return False
    columns = ", ".join(user)
    marks = ", ".join("?" for _ in user)
    conn.execute(f"INSERT INTO users ({columns}) VALUES ({marks})", list(user.values()))
    return True


def create_or_replace_pending_user(conn: Conn, user: dict[str, Any]) -> str:
    """'created' (new, or replacing an unverified registration of the same email, whose
    links die with it), 'exists' (a verified account has the email) or 'id_taken' (any
    account has the id: register checks that first, on its own, so this is only a race)."""
    existing = conn.one("SELECT id, email_verified_at FROM users WHERE email = ?", (user["email"],))
    if existing is not None and existing["email_verified_at"] is not None:
        return "exists"
    if user_id_taken(conn, user["id"]):
        return "id_taken"
    if existing is not None:
        conn.execute("DELETE FROM users WHERE id = ?", (existing["id"],))
    create_user(conn, user)
    return "created"


def user_id_taken(conn: Conn, user_id: str) -> bool:
    """Whether any account (verified or not, whatever its email) has this id."""
    return conn.one("SELECT 1 AS x FROM users WHERE id = ?", (user_id,)) is not None


def kdf_profile(conn: Conn) -> list[tuple[tuple[int, int, bool], int]]:
    """How many accounts have each prelogin shape (kdf iterations, recovery iterations,
    equal salts), most common first: made-up prelogin answers follow it."""
    counts: dict[tuple[int, int, bool], int] = {}
    for row in conn.all("SELECT kdf, recovery_kdf FROM users"):
        kdf, recovery = load_stored(row["kdf"], {}), load_stored(row["recovery_kdf"], {})
        try:
            same_salt = kdf["salt"] == recovery["salt"]
            shape = (int(kdf["iterations"]), int(recovery["iterations"]), same_salt)
        except (KeyError, TypeError, ValueError):
            continue  # a damaged row tells nothing about the shapes (and must not break them)
        counts[shape] = counts.get(shape, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def user_by_email(conn: Conn, email: str) -> Row | None:
    return conn.one(
        f"SELECT {USER_COLUMNS}, auth_hash, recovery_hash FROM users WHERE email = ?", (email,)
    )


def user_by_id(conn: Conn, user_id: str) -> Row | None:
    return conn.one(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))


def auth_hash_of(conn: Conn, user_id: str) -> str | None:
    row = conn.one("SELECT auth_hash FROM users WHERE id = ?", (user_id,))
    return None if row is None else str(row["auth_hash"])


def mark_verified(conn: Conn, user_id: str, now: int) -> None:
    conn.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, ?), updated_at = ? "
        "WHERE id = ?",
        (now, now, user_id),
    )


def email_taken(conn: Conn, email: str) -> bool:
    return conn.one("SELECT 1 AS x FROM users WHERE email = ?", (email,)) is not None


def set_pending_email(conn: Conn, user_id: str, email: str | None, now: int) -> None:
    conn.execute(
        "UPDATE users SET pending_email = ?, updated_at = ? WHERE id = ?", (email, now, user_id)
    )


def change_email(conn: Conn, user_id: str, email: str, now: int) -> bool:
    if email_taken(conn, email):
        return False
    conn.execute(
        "UPDATE users SET email = ?, pending_email = NULL, email_verified_at = ?, updated_at = ? "
        "WHERE id = ?",
        (email, now, now, user_id),
    )
    return True


def set_password(
    conn: Conn,
    user_id: str,
    auth_hash: str,
    kdf: dict[str, Any],
    wrapped_user_key: str,
    now: int,
    keep_session_id: str | None,
) -> int:
    """Set a new password (change or recovery) and end every other way in: all sessions
    but `keep_session_id` and every outstanding emailed link (sign-in, verification,
    email change; a pending email change is cancelled). One transaction, so no link or
    session issued under the old password survives it. Returns the sessions ended."""
    conn.execute(
        "UPDATE users SET auth_hash = ?, kdf = ?, wrapped_user_key = ?, pending_email = NULL, "
        "password_changed_at = ?, updated_at = ? WHERE id = ?",
        (auth_hash, json.dumps(kdf, allow_nan=False), wrapped_user_key, now, now, user_id),
    )
    conn.execute("DELETE FROM email_tokens WHERE user_id = ?", (user_id,))
    return delete_other_sessions(conn, user_id, keep_session_id)


# --- sessions ---------------------------------------------------------------------------


def create_session(conn: Conn, session: dict[str, Any]) -> None:
    columns = ", ".join(session)
    marks = ", ".join("?" for _ in session)
    conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({marks})", list(session.values()))


def session_query(token_hash: str, now: int) -> tuple[str, tuple[Any, ...]]:
    """The hot path of every signed-in request: one indexed lookup joined to the user, as
    (sql, params) for `Database.lookup` (one statement, no transaction)."""
    return (
        "SELECT s.id AS session_id, s.token_hash, s.method, s.created_at AS session_created_at, "
        "s.last_seen_at, s.auth_at, u.id, u.email, u.email_verified_at, u.pending_email, "
        "u.display_name, u.settings, u.created_at, u.restricted_at "
        "FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = ? AND s.last_seen_at > ? AND s.created_at > ?",
        (token_hash, now - SESSION_IDLE_SECONDS, now - SESSION_MAX_SECONDS),
    )


def session_by_token_hash(conn: Conn, token_hash: str, now: int) -> Row | None:
    return conn.one(*session_query(token_hash, now))


def touch_session(conn: Conn, session_id: str, now: int) -> None:
    conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (now, session_id))


def list_sessions(conn: Conn, user_id: str, now: int) -> list[Row]:
    return conn.all(
        "SELECT id, method, device, created_at, last_seen_at FROM sessions "
        "WHERE user_id = ? AND last_seen_at > ? AND created_at > ? ORDER BY created_at",
        (user_id, now - SESSION_IDLE_SECONDS, now - SESSION_MAX_SECONDS),
    )


def delete_session(conn: Conn, user_id: str, session_id: str) -> bool:
    """Scoped by owner: another user's session id is simply not found."""
    return (
        conn.execute("DELETE FROM sessions WHERE id = ? AND user_id = ?", (session_id, user_id)) > 0
    )


def delete_session_by_token_hash(conn: Conn, token_hash: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def delete_other_sessions(conn: Conn, user_id: str, keep_session_id: str | None) -> int:
    return conn.execute(
        "DELETE FROM sessions WHERE user_id = ? AND id <> ?", (user_id, keep_session_id or "")
    )


# --- email links ------------------------------------------------------------------------


def add_email_token(
    conn: Conn, nonce_hash: str, user_id: str, purpose: str, email: str, now: int, ttl: int
) -> None:
    conn.execute(
        "INSERT INTO email_tokens (nonce_hash, user_id, purpose, email, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (nonce_hash, user_id, purpose, email, now, now + ttl),
    )


def take_email_token(conn: Conn, nonce_hash: str, purpose: str, now: int) -> Row | None:
    """Single use: the row is deleted as it is read; expired rows never match."""
    row = conn.one(
        "DELETE FROM email_tokens WHERE nonce_hash = ? AND purpose = ? "
        "RETURNING user_id, email, expires_at",
        (nonce_hash, purpose),
    )
    if row is None or int(row["expires_at"]) < now:
        return None
    return row


# --- throttling -------------------------------------------------------------------------


def blocked_until(conn: Conn, keys: list[str]) -> int:
    marks = ", ".join("?" for _ in keys)
    # Only real blocks (a backoff above zero); a failure within the free attempts has
    # blocked_until = last_failure_at.
    row = conn.one(
        f"SELECT max(blocked_until) AS b FROM throttle WHERE key IN ({marks}) "
        "AND blocked_until > last_failure_at",
        keys,
    )
    return int(row["b"] or 0) if row else 0


def record_failure(
    conn: Conn, key: str, now: int, backoff: Callable[[int], int], forget_after: int = 3600
) -> None:
    """Count a failure; failures older than `forget_after` seconds are forgotten."""
    row = conn.one("SELECT failures, last_failure_at FROM throttle WHERE key = ?", (key,))
    failures = 1
    if row and now - int(row["last_failure_at"]) < forget_after:
        failures = int(row["failures"]) + 1
    until = now + backoff(failures)
    conn.execute(
        "INSERT INTO throttle (key, failures, last_failure_at, blocked_until) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, "
        "last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until",
        (key, failures, now, until),
    )


def clear_failures(conn: Conn, key: str) -> None:
    conn.execute("DELETE FROM throttle WHERE key = ?", (key,))


# --- housekeeping and export ------------------------------------------------------------


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    """Rows removed, by the retention table's key (sorastats/retention.py)."""
    return {
        "sessions": conn.execute(
            "DELETE FROM sessions WHERE created_at <= ?", (now - SESSION_MAX_SECONDS,)
        ),
        "idle sessions": conn.execute(
            "DELETE FROM sessions WHERE last_seen_at <= ?", (now - SESSION_IDLE_SECONDS,)
        ),
        "email links": conn.execute("DELETE FROM email_tokens WHERE expires_at < ?", (now,)),
        "sign-in throttle": conn.execute(
            "DELETE FROM throttle WHERE blocked_until < ? AND last_failure_at < ?",
            (now, now - THROTTLE_KEEP_SECONDS),
        ),
        "unverified accounts": conn.execute(
            "DELETE FROM users WHERE email_verified_at IS NULL AND created_at < ?",
            (now - UNVERIFIED_TTL_SECONDS,),
        ),
    }


def export_sessions(conn: Conn, user_id: str) -> Any:
    return conn.all(
        "SELECT id, method, device, created_at, last_seen_at, auth_at FROM sessions "
        "WHERE user_id = ? ORDER BY created_at",
        (user_id,),
    )


def export_email_links(conn: Conn, user_id: str) -> Any:
    return conn.all(
        "SELECT purpose, email, created_at, expires_at FROM email_tokens WHERE user_id = ?",
        (user_id,),
    )
