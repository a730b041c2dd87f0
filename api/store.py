"""All SQL of the accounts API. Every function takes an open transaction (`Conn`) from
`Database.run`/`Database.call`; callers decide the transaction boundaries. Queries are
portable between SQLite and PostgreSQL (see api/db.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from api.db import Conn, Row
from api.strict_json import load_stored

__all__ = ["Conn", "Row"]  # re-exported for route modules

SESSION_IDLE_SECONDS = 7 * 24 * 3600
SESSION_MAX_SECONDS = 30 * 24 * 3600
UNVERIFIED_TTL_SECONDS = 7 * 24 * 3600
TOUCH_EVERY_SECONDS = 60  # last_seen is refreshed at most once a minute: keeps GETs read-only

USER_COLUMNS = (
    "id, email, email_verified_at, pending_email, display_name, settings, kdf, "
    "wrapped_user_key, recovery_kdf, recovery_wrapped_user_key, created_at, updated_at, "
    "password_changed_at"
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


def update_profile(
    conn: Conn, user_id: str, now: int, display_name: str | None, settings: dict[str, Any] | None
) -> None:
    if display_name is not None:
        conn.execute(
            "UPDATE users SET display_name = ?, updated_at = ? WHERE id = ?",
            (display_name, now, user_id),
        )
    if settings is not None:
        conn.execute(
            "UPDATE users SET settings = ?, updated_at = ? WHERE id = ?",
            (json.dumps(settings, sort_keys=True, allow_nan=False), now, user_id),
        )


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


def delete_user(conn: Conn, user_id: str, throttle_keys: list[str]) -> None:
    """Every user table cascades from users(id); the throttle rows keyed on the email go
    too so nothing derived from the account remains."""
    for key in throttle_keys:
        conn.execute("DELETE FROM throttle WHERE key = ?", (key,))
    conn.execute("DELETE FROM users WHERE id = ?", (user_id,))


# --- sessions ---------------------------------------------------------------------------


def create_session(conn: Conn, session: dict[str, Any]) -> None:
    columns = ", ".join(session)
    marks = ", ".join("?" for _ in session)
    conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({marks})", list(session.values()))


def session_by_token_hash(conn: Conn, token_hash: str, now: int) -> Row | None:
    """The hot path of every signed-in request: one indexed lookup joined to the user."""
    return conn.one(
        "SELECT s.id AS session_id, s.token_hash, s.method, s.created_at AS session_created_at, "
        "s.last_seen_at, s.auth_at, u.id, u.email, u.email_verified_at, u.pending_email, "
        "u.display_name, u.settings, u.created_at "
        "FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = ? AND s.last_seen_at > ? AND s.created_at > ?",
        (token_hash, now - SESSION_IDLE_SECONDS, now - SESSION_MAX_SECONDS),
    )


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


def purge_expired(conn: Conn, now: int) -> None:
    conn.execute(
        "DELETE FROM sessions WHERE last_seen_at <= ? OR created_at <= ?",
        (now - SESSION_IDLE_SECONDS, now - SESSION_MAX_SECONDS),
    )
    conn.execute("DELETE FROM email_tokens WHERE expires_at < ?", (now,))
    conn.execute(
        "DELETE FROM throttle WHERE blocked_until < ? AND last_failure_at < ?", (now, now - 86400)
    )
    conn.execute(
        "DELETE FROM users WHERE email_verified_at IS NULL AND created_at < ?",
        (now - UNVERIFIED_TTL_SECONDS,),
    )
    purge_vault(conn, now)


def _export_profile(conn: Conn, user_id: str) -> Any:
    user = user_by_id(conn, user_id)
    assert user is not None
    user["settings"] = load_stored(user["settings"], {})
    user["kdf"] = load_stored(user["kdf"], {})
    user["recovery_kdf"] = load_stored(user["recovery_kdf"], {})
    return user


def _export_sessions(conn: Conn, user_id: str) -> Any:
    return conn.all(
        "SELECT id, method, device, created_at, last_seen_at, auth_at FROM sessions "
        "WHERE user_id = ? ORDER BY created_at",
        (user_id,),
    )


def _export_email_links(conn: Conn, user_id: str) -> Any:
    return conn.all(
        "SELECT purpose, email, created_at, expires_at FROM email_tokens WHERE user_id = ?",
        (user_id,),
    )


def _export_subscription(conn: Conn, user_id: str) -> Any:
    # Replaced by the billing module once subscriptions exist.
    return {"tier": "free", "status": None}


# Sections of GET /api/me/export, in order. Modules that store user data register
# (or replace) their section here so the export stays complete.
EXPORT_SECTIONS: dict[str, Callable[[Conn, str], Any]] = {
    "profile": _export_profile,
    "sessions": _export_sessions,
    "email_links": _export_email_links,
    "subscription": _export_subscription,
    "prompts": lambda conn, user_id: export_prompts(conn, user_id),
    "tags": lambda conn, user_id: export_tags(conn, user_id),
    "favorites": lambda conn, user_id: list_favorites(conn, user_id),
}


def export_user(conn: Conn, user_id: str) -> dict[str, Any]:
    return {name: section(conn, user_id) for name, section in EXPORT_SECTIONS.items()}


# === vault: private prompts, versions, tags, favorites ===================================
# Everything here is scoped by user_id in the WHERE clause itself, so another user's id is
# simply "not found". Titles, bodies, notes and tag names are opaque pv1 envelopes.

TOMBSTONE_SECONDS = 90 * 24 * 3600  # a device offline longer than this resyncs fully
VERSION_COLUMNS = "version, title, body, notes, restored_from, created_at"


def reserve_ids(conn: Conn, user_id: str, kind: str, ids: list[str], now: int, ttl: int) -> None:
    for new in ids:
        conn.execute(
            "INSERT INTO vault_reservations (id, user_id, kind, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (new, user_id, kind, now, now + ttl),
        )


def open_reservations(conn: Conn, user_id: str, now: int) -> int:
    row = conn.one(
        "SELECT count(*) AS n FROM vault_reservations WHERE user_id = ? AND expires_at >= ?",
        (user_id, now),
    )
    return int(row["n"]) if row else 0


def take_reservation(conn: Conn, user_id: str, kind: str, reserved_id: str, now: int) -> bool:
    """Single use: True if `reserved_id` was reserved by this user for `kind` and is live."""
    row = conn.one(
        "DELETE FROM vault_reservations WHERE id = ? AND user_id = ? AND kind = ? "
        "RETURNING expires_at",
        (reserved_id, user_id, kind),
    )
    return row is not None and int(row["expires_at"]) >= now


def count_prompts(conn: Conn, user_id: str) -> int:
    row = conn.one("SELECT count(*) AS n FROM prompts WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0


def count_tags(conn: Conn, user_id: str) -> int:
    row = conn.one("SELECT count(*) AS n FROM tags WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0


def insert_prompt(conn: Conn, prompt: dict[str, Any], fields: dict[str, str]) -> None:
    conn.execute(
        "INSERT INTO prompts (id, user_id, wrapped_item_key, post_id, favorite, version, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
        (
            prompt["id"],
            prompt["user_id"],
            prompt["wrapped_item_key"],
            prompt["post_id"],
            1 if prompt["favorite"] else 0,
            prompt["now"],
            prompt["now"],
        ),
    )
    insert_version(conn, prompt["user_id"], prompt["id"], 1, fields, None, prompt["now"])


def insert_version(
    conn: Conn,
    user_id: str,
    prompt_id: str,
    version: int,
    fields: dict[str, str],
    restored_from: int | None,
    now: int,
) -> None:
    conn.execute(
        "INSERT INTO prompt_versions (prompt_id, user_id, version, title, body, notes, "
        "restored_from, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            prompt_id,
            user_id,
            version,
            fields["title"],
            fields["body"],
            fields.get("notes", ""),
            restored_from,
            now,
        ),
    )


def prompt_row(conn: Conn, user_id: str, prompt_id: str) -> Row | None:
    return conn.one(
        "SELECT id, wrapped_item_key, post_id, favorite, version, created_at, updated_at "
        "FROM prompts WHERE id = ? AND user_id = ?",
        (prompt_id, user_id),
    )


def add_version(
    conn: Conn,
    user_id: str,
    prompt_id: str,
    base_version: int,
    fields: dict[str, str],
    restored_from: int | None,
    now: int,
) -> int | None:
    """The new version number, or None when `base_version` is not the latest (the compare
    and the bump are one UPDATE, so two devices cannot both win)."""
    bumped = conn.execute(
        "UPDATE prompts SET version = version + 1, updated_at = ? "
        "WHERE id = ? AND user_id = ? AND version = ?",
        (now, prompt_id, user_id, base_version),
    )
    if bumped == 0:
        return None
    insert_version(conn, user_id, prompt_id, base_version + 1, fields, restored_from, now)
    return base_version + 1


def version_exists(conn: Conn, user_id: str, prompt_id: str, version: int) -> bool:
    return (
        conn.one(
            "SELECT 1 AS x FROM prompt_versions WHERE prompt_id = ? AND user_id = ? "
            "AND version = ?",
            (prompt_id, user_id, version),
        )
        is not None
    )


def prompt_versions(conn: Conn, user_id: str, prompt_id: str) -> list[Row]:
    return conn.all(
        f"SELECT {VERSION_COLUMNS} FROM prompt_versions WHERE prompt_id = ? AND user_id = ? "
        "ORDER BY version",
        (prompt_id, user_id),
    )


def list_prompts(conn: Conn, user_id: str, since: int | None) -> list[Row]:
    """Prompts (changed at or after `since`) with their latest version's fields."""
    where = "p.user_id = ?" + (" AND p.updated_at >= ?" if since is not None else "")
    params: list[Any] = [user_id] + ([since] if since is not None else [])
    return conn.all(
        "SELECT p.id, p.wrapped_item_key, p.post_id, p.favorite, p.version, p.created_at, "
        "p.updated_at, v.title, v.body, v.notes, v.restored_from, "
        "v.created_at AS version_created_at "
        "FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = p.version "
        f"WHERE {where} ORDER BY p.updated_at DESC, p.id",
        params,
    )


def tag_ids_by_prompt(conn: Conn, user_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in conn.all(
        "SELECT prompt_id, tag_id FROM prompt_tags WHERE user_id = ? ORDER BY created_at, tag_id",
        (user_id,),
    ):
        out.setdefault(str(row["prompt_id"]), []).append(str(row["tag_id"]))
    return out


def deleted_since(conn: Conn, user_id: str, since: int) -> list[str]:
    return [
        str(r["prompt_id"])
        for r in conn.all(
            "SELECT prompt_id FROM prompt_tombstones WHERE user_id = ? AND deleted_at >= ? "
            "ORDER BY prompt_id",
            (user_id, since),
        )
    ]


def delete_prompt(conn: Conn, user_id: str, prompt_id: str, now: int) -> bool:
    gone = conn.execute("DELETE FROM prompts WHERE id = ? AND user_id = ?", (prompt_id, user_id))
    if gone:
        conn.execute(
            "INSERT INTO prompt_tombstones (user_id, prompt_id, deleted_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, prompt_id) DO UPDATE SET deleted_at = excluded.deleted_at",
            (user_id, prompt_id, now),
        )
    return gone > 0


def set_prompt_favorite(conn: Conn, user_id: str, prompt_id: str, favorite: bool, now: int) -> bool:
    return (
        conn.execute(
            "UPDATE prompts SET favorite = ?, updated_at = ? WHERE id = ? AND user_id = ?",
            (1 if favorite else 0, now, prompt_id, user_id),
        )
        > 0
    )


def set_prompt_post(
    conn: Conn, user_id: str, prompt_id: str, post_id: str | None, now: int
) -> bool:
    return (
        conn.execute(
            "UPDATE prompts SET post_id = ?, updated_at = ? WHERE id = ? AND user_id = ?",
            (post_id, now, prompt_id, user_id),
        )
        > 0
    )


def touch_prompts(conn: Conn, user_id: str, prompt_ids: list[str], now: int) -> None:
    for prompt_id in prompt_ids:
        conn.execute(
            "UPDATE prompts SET updated_at = ? WHERE id = ? AND user_id = ?",
            (now, prompt_id, user_id),
        )


# --- tags ---


def insert_tag(conn: Conn, user_id: str, tag_id: str, name: str, now: int) -> None:
    conn.execute(
        "INSERT INTO tags (id, user_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (tag_id, user_id, name, now, now),
    )


def list_tags(conn: Conn, user_id: str) -> list[Row]:
    return conn.all(
        "SELECT t.id, t.name, t.created_at, t.updated_at, "
        "(SELECT count(*) FROM prompt_tags pt WHERE pt.tag_id = t.id) AS prompts "
        "FROM tags t WHERE t.user_id = ? ORDER BY t.created_at, t.id",
        (user_id,),
    )


def tag_row(conn: Conn, user_id: str, tag_id: str) -> Row | None:
    return conn.one(
        "SELECT id, name, created_at, updated_at FROM tags WHERE id = ? AND user_id = ?",
        (tag_id, user_id),
    )


def rename_tag(conn: Conn, user_id: str, tag_id: str, name: str, now: int) -> bool:
    return (
        conn.execute(
            "UPDATE tags SET name = ?, updated_at = ? WHERE id = ? AND user_id = ?",
            (name, now, tag_id, user_id),
        )
        > 0
    )


def delete_tag(conn: Conn, user_id: str, tag_id: str, now: int) -> bool:
    tagged = [
        str(r["prompt_id"])
        for r in conn.all(
            "SELECT prompt_id FROM prompt_tags WHERE tag_id = ? AND user_id = ?", (tag_id, user_id)
        )
    ]
    gone = conn.execute("DELETE FROM tags WHERE id = ? AND user_id = ?", (tag_id, user_id))
    if gone:
        touch_prompts(conn, user_id, tagged, now)  # their tag lists changed: resync them
    return gone > 0


def owned_prompt_ids(conn: Conn, user_id: str, prompt_ids: list[str]) -> set[str]:
    if not prompt_ids:
        return set()
    marks = ", ".join("?" for _ in prompt_ids)
    rows = conn.all(
        f"SELECT id FROM prompts WHERE user_id = ? AND id IN ({marks})", [user_id, *prompt_ids]
    )
    return {str(r["id"]) for r in rows}


def tags_on_prompt(conn: Conn, user_id: str, prompt_id: str) -> int:
    row = conn.one(
        "SELECT count(*) AS n FROM prompt_tags WHERE prompt_id = ? AND user_id = ?",
        (prompt_id, user_id),
    )
    return int(row["n"]) if row else 0


def assign_tag(conn: Conn, user_id: str, tag_id: str, prompt_id: str, now: int) -> bool:
    """True if newly assigned (already assigned: nothing changes)."""
    added = conn.execute(
        "INSERT INTO prompt_tags (prompt_id, tag_id, user_id, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (prompt_id, tag_id) DO NOTHING",
        (prompt_id, tag_id, user_id, now),
    )
    if added:
        touch_prompts(conn, user_id, [prompt_id], now)
    return added > 0


def unassign_tag(conn: Conn, user_id: str, tag_id: str, prompt_id: str, now: int) -> bool:
    removed = conn.execute(
        "DELETE FROM prompt_tags WHERE prompt_id = ? AND tag_id = ? AND user_id = ?",
        (prompt_id, tag_id, user_id),
    )
    if removed:
        touch_prompts(conn, user_id, [prompt_id], now)
    return removed > 0


def has_tag(conn: Conn, user_id: str, tag_id: str, prompt_id: str) -> bool:
    return (
        conn.one(
            "SELECT 1 AS x FROM prompt_tags WHERE prompt_id = ? AND tag_id = ? AND user_id = ?",
            (prompt_id, tag_id, user_id),
        )
        is not None
    )


# --- favorites of public prompts ---


def add_favorite(conn: Conn, user_id: str, post_id: str, now: int) -> None:
    conn.execute(
        "INSERT INTO favorites (user_id, post_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id, post_id) DO NOTHING",
        (user_id, post_id, now),
    )


def remove_favorite(conn: Conn, user_id: str, post_id: str) -> bool:
    return (
        conn.execute("DELETE FROM favorites WHERE user_id = ? AND post_id = ?", (user_id, post_id))
        > 0
    )


def count_favorites(conn: Conn, user_id: str) -> int:
    row = conn.one("SELECT count(*) AS n FROM favorites WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0


def list_favorites(conn: Conn, user_id: str) -> list[Row]:
    return conn.all(
        "SELECT post_id, created_at FROM favorites WHERE user_id = ? "
        "ORDER BY created_at DESC, post_id",
        (user_id,),
    )


def purge_vault(conn: Conn, now: int) -> None:
    conn.execute("DELETE FROM vault_reservations WHERE expires_at < ?", (now,))
    conn.execute("DELETE FROM prompt_tombstones WHERE deleted_at < ?", (now - TOMBSTONE_SECONDS,))


def export_prompts(conn: Conn, user_id: str) -> Any:
    """Every private prompt as ciphertext with its metadata, all versions and tag ids."""
    tags_by_prompt = tag_ids_by_prompt(conn, user_id)
    prompts = conn.all(
        "SELECT id, wrapped_item_key, post_id, favorite, version, created_at, updated_at "
        "FROM prompts WHERE user_id = ? ORDER BY created_at, id",
        (user_id,),
    )
    for prompt in prompts:
        prompt["favorite"] = bool(prompt["favorite"])
        prompt["tags"] = tags_by_prompt.get(str(prompt["id"]), [])
        prompt["versions"] = [
            {
                "version": v["version"],
                "fields": {"title": v["title"], "body": v["body"], "notes": v["notes"]},
                "restored_from": v["restored_from"],
                "created_at": v["created_at"],
            }
            for v in prompt_versions(conn, user_id, str(prompt["id"]))
        ]
    return prompts


def export_tags(conn: Conn, user_id: str) -> Any:
    return conn.all(
        "SELECT id, name, created_at, updated_at FROM tags WHERE user_id = ? "
        "ORDER BY created_at, id",
        (user_id,),
    )


# --- billing (Stripe customers, subscriptions, webhook event ids) -----------------------
# Migration 3. The webhook handler calls these inside the one transaction that also
# records the event id (see api/billing.py).

EVENT_RETENTION_SECONDS = 30 * 86400  # Stripe retries a delivery for up to 3 days

SUBSCRIPTION_COLUMNS = (
    "subscription_id, customer_id, status, price_id, current_period_end, "
    "cancel_at_period_end, cancel_at, created, as_of, updated_at"
)


def stripe_customer_of(conn: Conn, user_id: str) -> str | None:
    row = conn.one("SELECT customer_id FROM stripe_customers WHERE user_id = ?", (user_id,))
    return None if row is None else str(row["customer_id"])


def user_of_stripe_customer(conn: Conn, customer_id: str) -> str | None:
    row = conn.one("SELECT user_id FROM stripe_customers WHERE customer_id = ?", (customer_id,))
    return None if row is None else str(row["user_id"])


def save_stripe_customer(conn: Conn, user_id: str, customer_id: str, now: int) -> str:
    """Store the user's customer id unless one is stored already; returns the stored one
    (two first checkouts at once get the same customer from Stripe's idempotency key)."""
    conn.execute(
        "INSERT INTO stripe_customers (user_id, customer_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id) DO NOTHING",
        (user_id, customer_id, now),
    )
    stored = stripe_customer_of(conn, user_id)
    assert stored is not None
    return stored


def lock_user_billing(conn: Conn, user_id: str) -> bool:
    """Serialize billing writes of one user (PostgreSQL row lock; SQLite's write
    transaction already holds the database lock). False if the user is gone."""
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""
    return conn.one(f"SELECT id FROM users WHERE id = ?{lock}", (user_id,)) is not None


def subscription_of(conn: Conn, user_id: str) -> Row | None:
    return conn.one(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = ?", (user_id,)
    )


def save_subscription(conn: Conn, user_id: str, sub: dict[str, Any], now: int) -> None:
    """Insert or replace the user's subscription row (`sub` has the SUBSCRIPTION_COLUMNS
    but updated_at)."""
    values = (
        sub["subscription_id"],
        sub["customer_id"],
        sub["status"],
        sub["price_id"],
        sub["current_period_end"],
        1 if sub["cancel_at_period_end"] else 0,
        sub["cancel_at"],
        sub["created"],
        float(sub["as_of"]),
        now,
    )
    conn.execute(
        f"INSERT INTO subscriptions (user_id, {SUBSCRIPTION_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET subscription_id = excluded.subscription_id, "
        "customer_id = excluded.customer_id, status = excluded.status, "
        "price_id = excluded.price_id, current_period_end = excluded.current_period_end, "
        "cancel_at_period_end = excluded.cancel_at_period_end, "
        "cancel_at = excluded.cancel_at, created = excluded.created, "
        "as_of = excluded.as_of, updated_at = excluded.updated_at",
        (user_id, *values),
    )


def stripe_event_seen(conn: Conn, event_id: str) -> bool:
    return conn.one("SELECT 1 AS x FROM stripe_events WHERE event_id = ?", (event_id,)) is not None


def record_stripe_event(conn: Conn, event_id: str, event_type: str, outcome: str, now: int) -> bool:
    """Record a webhook event id; False if it was recorded before (a redelivery). Call it
    first in the transaction that applies the event, so both commit or neither does."""
    inserted = conn.execute(
        "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (event_id) DO NOTHING",
        (event_id, event_type, outcome[:200], now),
    )
    return inserted > 0


def set_stripe_event_outcome(conn: Conn, event_id: str, outcome: str) -> None:
    conn.execute(
        "UPDATE stripe_events SET outcome = ? WHERE event_id = ?", (outcome[:200], event_id)
    )


def purge_stripe_events(conn: Conn, now: int) -> None:
    conn.execute(
        "DELETE FROM stripe_events WHERE received_at < ?", (now - EVENT_RETENTION_SECONDS,)
    )


def _export_billing(conn: Conn, user_id: str) -> Any:
    """Stored billing facts; the export route adds the tier they grant under the settings."""
    subscription = subscription_of(conn, user_id)
    if subscription is not None:
        subscription["cancel_at_period_end"] = bool(subscription["cancel_at_period_end"])
    return {"stripe_customer_id": stripe_customer_of(conn, user_id), "subscription": subscription}


EXPORT_SECTIONS["subscription"] = _export_billing
