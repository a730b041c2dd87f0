"""Builders of Sora-format documents and database comparisons shared by ingest tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import orjson

from tests.support.paths import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES

DAY1 = 1760000000.0  # 2025-10-09 08:53:20 UTC
DAY2 = DAY1 + 86400


def post(
    pid: str | None, creator: str = "user-aaaaaaaaaaaaaaaaaaaaaaaa", **over: Any
) -> dict[str, Any]:
    """A post as the feed sends it; `pid=None` makes a record without an id (to reject)."""
    value: dict[str, Any] = {
        "id": pid,
        "shared_by": creator,
        "posted_to_public": True,
        "posted_at": DAY1 - 3600,
        "updated_at": DAY1 - 60,
        "like_count": 1,
        "view_count": 10,
        "remix_count": 0,
        "source": "sy",
        "text": f"caption of {pid}",
        "user_liked": True,
        "is_owner": False,
        "attachments": [{"width": 352, "height": 640, "n_frames": 300}],
        "permissions": {"share_setting": "public", "can_read": True},
        "tombstoned_at": None,
        "cameo_profiles": None,
    }
    value.update(over)
    return value


def profile(uid: str = "user-aaaaaaaaaaaaaaaaaaaaaaaa", **over: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "user_id": uid,
        "username": "creator_" + uid[-4:],
        "display_name": "Someone",
        "follower_count": 7,
        "post_count": 2,
        "is_following": True,
        "follows_you": True,
        "updated_at": DAY1 - 100,
    }
    value.update(over)
    return value


def wrapper(
    pid: str, creator: str = "user-aaaaaaaaaaaaaaaaaaaaaaaa", **over: Any
) -> dict[str, Any]:
    return {"post": post(pid, creator, **over), "profile": profile(creator)}


def page(*wrappers: object, captured_at: float | None = DAY1) -> dict[str, Any]:
    """A feed page; its items are usually wrapper()s, but may be anything (broken input)."""
    doc: dict[str, Any] = {"items": list(wrappers), "cursor": None}
    if captured_at is not None:
        doc["captured_at"] = captured_at
    return doc


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


# Columns that legitimately differ between two runs of the same input.
VOLATILE = {"run_id", "quarantined_at", "id@quarantine"}
STABLE_TABLES = (
    "creators",
    "creator_usernames",
    "posts",
    "post_cameos",
    "creator_snapshots",
    "post_snapshots",
    "tombstones",
    "raw",
    "quarantine",
)


def dump(con: duckdb.DuckDBPyConnection, *, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every stable table's rows, sorted, without run-dependent columns."""
    out: dict[str, Any] = {}
    for table in STABLE_TABLES:
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if r[0] not in VOLATILE and f"{r[0]}@{table}" not in VOLATILE and r[0] not in drop
        ]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
        out[table] = sorted(rows, key=repr)
    return out


def one_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...]:
    """The first row of a query that always has one (fails the test if there is none)."""
    row = con.execute(sql, params or []).fetchone()
    assert row is not None, sql
    return row


def count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    return int(one_row(con, sql, params)[0])


def raw_rows_found_in_archive(con: duckdb.DuckDBPyConnection) -> int:
    """Check that every row of the view `raw` finds its record in the capture archive:
    its JSON, in the stager's canonical form (sorted keys), hashes to the row's sha256.
    Returns how many rows were checked."""
    rows = con.execute("SELECT sha256, json FROM raw").fetchall()
    for sha256, text in rows:
        assert text is not None, f"raw row {sha256} finds no record in the archive"
        canonical = orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS)
        assert hashlib.sha256(canonical).hexdigest() == sha256, text[:300]
    return len(rows)
