"""SQL of the vault: private prompts, their versions, tags, favorites.

Everything here is scoped by user_id in the WHERE clause itself, so another user's id is
simply "not found". Titles, bodies, notes and tag names are opaque pv1 envelopes."""

from __future__ import annotations

from typing import Any

from api.db import Conn, Row
from sorastats import retention

# A device offline longer than this resyncs fully (period: sorastats/retention.py).
TOMBSTONE_SECONDS = retention.seconds("vault tombstones")
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


def purge_vault(conn: Conn, now: int) -> dict[str, int]:
    return {
        "vault reservations": conn.execute(
            "DELETE FROM vault_reservations WHERE expires_at < ?", (now,)
        ),
        "vault tombstones": conn.execute(
            "DELETE FROM prompt_tombstones WHERE deleted_at < ?", (now - TOMBSTONE_SECONDS,)
        ),
    }


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
