"""SQL of the account's own data: the profile (display name, settings), its export and
deleting the account."""

from __future__ import annotations

import json
from typing import Any

from api.db import Conn


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


def set_restricted(conn: Conn, user_id: str, restricted_at: int | None, now: int) -> None:
    conn.execute(
        "UPDATE users SET restricted_at = ?, updated_at = ? WHERE id = ?",
        (restricted_at, now, user_id),
    )


def delete_user(conn: Conn, user_id: str, throttle_keys: list[str]) -> None:
    """Every user table cascades from users(id); the throttle rows keyed on the email go
    too so nothing derived from the account remains."""
    for key in throttle_keys:
        conn.execute("DELETE FROM throttle WHERE key = ?", (key,))
    conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
