from pathlib import Path

import pytest

from sorastats import db
from sorastats.schema import SCHEMA_VERSION


def test_new_database_is_migrated_to_current_version(tmp_path: Path) -> None:
    con = db.connect(tmp_path / "s.duckdb")
    assert db.schema_version(con) == SCHEMA_VERSION
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {
        "creators",
        "posts",
        "creator_snapshots",
        "post_snapshots",
        "raw",
        "runs",
        "quarantine",
    } <= tables


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    db.connect(path).close()
    con = db.connect(path)
    assert con.execute("SELECT count(*) FROM meta").fetchone() == (1,)


def test_database_from_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    con = db.connect(path)
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(db.SchemaTooNewError, match="999"):
        db.connect(path)
