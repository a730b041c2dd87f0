"""Profile history (schema migration 8): the ingest keeps each creator's username, display
name and bio per capture day in `creator_profile_snapshots`, as it keeps the counters in
`creator_snapshots`; erasing a creator removes those rows too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from sorastats import db, erasure
from sorastats.importer import import_paths
from tests.support.ingest import DAY1, DAY2, page, post, profile, write

UID = "user-aaaaaaaaaaaaaaaaaaaaaaaa"


def capture(tmp: Path, name: str, at: float, **over: Any) -> Path:
    doc = page(
        {"post": post("s_" + "1" * 32, UID), "profile": profile(UID, **over)}, captured_at=at
    )
    return write(tmp / name, doc)


def history(dbp: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(dbp), read_only=True)
    try:
        return con.execute(
            "SELECT strftime(captured_on, '%Y-%m-%d'), username, display_name, bio "
            "FROM creator_profile_snapshots ORDER BY captured_on"
        ).fetchall()
    finally:
        con.close()


def test_each_capture_day_keeps_the_profile_text(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    first = capture(tmp_path, "a.json", DAY1, username="old", description="<b>bio</b>")
    later_same_day = capture(tmp_path, "b.json", DAY1 + 60, username="new", display_name="N")
    next_day = capture(tmp_path, "c.json", DAY2, username="new", display_name="N", description="")
    assert import_paths(dbp, [first]).ok
    assert history(dbp) == [("2025-10-09", "old", "Someone", "<b>bio</b>")]
    # A newer capture of the same day replaces that day's row; an older one is ignored.
    assert import_paths(dbp, [later_same_day]).ok
    assert import_paths(dbp, [first]).ok
    assert history(dbp) == [("2025-10-09", "new", "N", None)]
    assert import_paths(dbp, [next_day]).ok
    assert history(dbp) == [("2025-10-09", "new", "N", None), ("2025-10-10", "new", "N", "")]


def test_erasing_a_creator_removes_their_profile_history(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    assert import_paths(dbp, [capture(tmp_path, "a.json", DAY1, description="me")]).ok
    assert len(history(dbp)) == 1
    con = db.connect(dbp)
    try:
        con.execute("BEGIN")
        erasure.suppress(con, [UID])
        con.execute("COMMIT")
    finally:
        con.close()
    assert history(dbp) == []
