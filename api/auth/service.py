"""The rules and transactions of signing in: accounts and their credentials, sessions,
emailed links, throttling, and the export sections of sessions and links. Callable
without HTTP: every function takes an open transaction (`Conn`). The HTTP side of
sessions (cookies, the answer of a sign-in) is in api/http.py."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from api.auth import store
from api.db import Conn, Row
from api.errors import ApiError
from api.security import backoff_seconds
from api.services import Services
from sorastats import retention

SESSION_MAX_SECONDS = store.SESSION_MAX_SECONDS
TOUCH_EVERY_SECONDS = store.TOUCH_EVERY_SECONDS

# --- accounts ---------------------------------------------------------------------------


def user_id_taken(conn: Conn, user_id: str) -> bool:
    return store.user_id_taken(conn, user_id)


def create_or_replace_pending_user(conn: Conn, user: dict[str, Any]) -> str:
    return store.create_or_replace_pending_user(conn, user)


def user_by_email(conn: Conn, email: str) -> Row | None:
    """The account with its credential hashes (for checking a proof), or None."""
    return store.user_by_email(conn, email)


def user_by_id(conn: Conn, user_id: str) -> Row | None:
    return store.user_by_id(conn, user_id)


def auth_hash_of(conn: Conn, user_id: str) -> str | None:
    return store.auth_hash_of(conn, user_id)


def kdf_profile(conn: Conn) -> list[tuple[tuple[int, int, bool], int]]:
    return store.kdf_profile(conn)


def email_taken(conn: Conn, email: str) -> bool:
    return store.email_taken(conn, email)


def set_pending_email(conn: Conn, user_id: str, email: str | None, now: int) -> None:
    store.set_pending_email(conn, user_id, email, now)


def set_password(
    conn: Conn,
    user_id: str,
    auth_hash: str,
    kdf: dict[str, Any],
    wrapped_user_key: str,
    now: int,
    keep_session_id: str | None,
) -> int:
    """A new password ends every session but `keep_session_id` and every emailed link
    (see store.set_password). Returns the sessions ended."""
    return store.set_password(conn, user_id, auth_hash, kdf, wrapped_user_key, now, keep_session_id)


def recover_password(
    conn: Conn, user_id: str, auth_hash: str, kdf: dict[str, Any], wrapped_user_key: str, now: int
) -> Row:
    """Set the password proven by the recovery code, ending every session; the fresh
    account row, to sign in with."""
    store.set_password(conn, user_id, auth_hash, kdf, wrapped_user_key, now, keep_session_id=None)
    fresh = store.user_by_id(conn, user_id)
    assert fresh is not None
    return fresh


# --- emailed links ----------------------------------------------------------------------

LINK_SECONDS = retention.seconds("email links")


def save_link(
    conn: Conn, nonce_hash: str, user_id: str, purpose: str, email: str, now: int
) -> None:
    store.add_email_token(conn, nonce_hash, user_id, purpose, email, now, LINK_SECONDS)


def _take_link(conn: Conn, nonce_hash: str, purpose: str, now: int) -> Row:
    row = store.take_email_token(conn, nonce_hash, purpose, now)
    if row is None:
        raise ApiError(400, "link_used", "This link was already used or has expired.")
    return row


def confirm_email(conn: Conn, nonce_hash: str, purpose: str, now: int) -> dict[str, Any]:
    """Use a verification or email-change link (single use)."""
    row = _take_link(conn, nonce_hash, purpose, now)
    if purpose == "verify":
        store.mark_verified(conn, row["user_id"], now)
        return {"status": "verified"}
    if not store.change_email(conn, row["user_id"], row["email"], now):
        raise ApiError(409, "email_taken", "That address now belongs to another account.")
    return {"status": "email_changed", "email": row["email"]}


def take_signin_link(conn: Conn, nonce_hash: str, now: int) -> Row:
    """Use a sign-in link (single use); the account to sign in."""
    row = _take_link(conn, nonce_hash, "signin", now)
    store.mark_verified(conn, row["user_id"], now)  # the mail proves the address
    user = store.user_by_id(conn, row["user_id"])
    assert user is not None
    return user


# --- sessions ---------------------------------------------------------------------------


def replace_session(conn: Conn, old_token_hash: str | None, session: dict[str, Any]) -> None:
    """Store a new session, ending the one the request carried (no session fixation)."""
    if old_token_hash is not None:
        store.delete_session_by_token_hash(conn, old_token_hash)
    store.create_session(conn, session)


def session_by_token_hash(conn: Conn, token_hash: str, now: int) -> Row | None:
    return store.session_by_token_hash(conn, token_hash, now)


def session_query(token_hash: str, now: int) -> tuple[str, tuple[Any, ...]]:
    """The session check's one statement, for `Database.lookup` (api/middleware.py)."""
    return store.session_query(token_hash, now)


def touch_session(conn: Conn, session_id: str, now: int) -> None:
    store.touch_session(conn, session_id, now)


def list_sessions(conn: Conn, user_id: str, now: int) -> list[Row]:
    return store.list_sessions(conn, user_id, now)


def delete_session(conn: Conn, user_id: str, session_id: str) -> bool:
    """Scoped by owner: another user's session id is simply not found."""
    return store.delete_session(conn, user_id, session_id)


# --- throttling -------------------------------------------------------------------------


def blocked_until(conn: Conn, keys: list[str]) -> int:
    return store.blocked_until(conn, keys)


def count_failures(conn: Conn, keys: Sequence[tuple[str, int]], now: int, cap: int) -> None:
    """Count one failure against each (key, free attempts); past its free attempts a key
    backs off exponentially, up to `cap` seconds."""
    for key, free in keys:
        store.record_failure(conn, key, now, functools.partial(_backoff, free=free, cap=cap))


def _backoff(failures: int, *, free: int, cap: int) -> int:
    return backoff_seconds(failures, free, cap)


def clear_failures(conn: Conn, key: str) -> None:
    store.clear_failures(conn, key)


# --- export and housekeeping ------------------------------------------------------------


def export_sessions(conn: Conn, user_id: str, services: Services) -> Any:
    return store.export_sessions(conn, user_id)


def export_email_links(conn: Conn, user_id: str, services: Services) -> Any:
    return store.export_email_links(conn, user_id)


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    """Expired sessions, links and throttle rows; registrations never verified."""
    return store.purge_expired(conn, now)
