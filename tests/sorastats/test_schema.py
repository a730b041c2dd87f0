import logging
from pathlib import Path

import duckdb
import pytest

from sorastats import db
from sorastats.schema import MIGRATIONS, SCHEMA_VERSION


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
        "raw_index",  # `raw` is a view each ingest run makes (it names the archive)
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


def _version_1_database(path: Path) -> None:
    """A database as the first release left it: migration 1 only, with rows."""
    con = duckdb.connect(str(path))
    con.execute(MIGRATIONS[0])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(
        "INSERT INTO raw VALUES "
        """('ab', 'post', 's_1', 'f.json', 1, '2025-10-09 08:00', '{"post":{"id":"s_1"}}')"""
    )
    con.execute(
        "INSERT INTO post_snapshots (post_id, captured_on, captured_at, view_count) "
        "VALUES ('s_1', '2025-10-09', '2025-10-09 08:00', 7)"
    )
    con.execute(
        "INSERT INTO creator_snapshots (creator_id, captured_on, captured_at, follower_count) "
        "VALUES ('user-a', '2025-10-09', '2025-10-09 08:00', 3)"
    )
    con.close()


def _primary_keys(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_constraints() "
        "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
    ).fetchall()
    return {r[0] for r in rows}


def test_version_1_database_upgrades_in_place_keeping_its_rows(tmp_path: Path) -> None:
    logged: list[str] = []
    db.connect(tmp_path / "new.duckdb", log=logged.append).close()
    assert logged == []  # a new database is made, not upgraded
    path = tmp_path / "old.duckdb"
    _version_1_database(path)
    con = db.connect(path, log=logged.append)
    assert db.schema_version(con) == SCHEMA_VERSION
    assert logged == [
        f"database: upgrading schema version 1 to {SCHEMA_VERSION} (once) ...",
    ]
    # `raw`'s JSON waits for the next ingest run, which moves it into the archive.
    assert con.execute("SELECT sha256, json FROM raw_unarchived").fetchall() == [
        ("ab", '{"post":{"id":"s_1"}}')
    ]
    assert con.execute("SELECT post_id, view_count FROM post_snapshots").fetchall() == [("s_1", 7)]
    assert con.execute("SELECT creator_id, follower_count FROM creator_snapshots").fetchall() == [
        ("user-a", 3)
    ]
    # The history tables carry no index any more; the entity tables keep theirs.
    keys = _primary_keys(con)
    assert not keys & {"raw_unarchived", "raw_index", "post_snapshots", "creator_snapshots"}
    assert {"posts", "creators", "creator_usernames", "tombstones"} <= keys
    # NOT NULL still holds.
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO raw_unarchived (sha256) VALUES (NULL)")


def test_an_upgrade_goes_to_the_logger_not_stderr_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.duckdb"
    _version_1_database(path)
    with caplog.at_level(logging.INFO, logger="sorastats.db"):
        db.connect(path).close()
    assert capsys.readouterr() == ("", "")
    assert [r.getMessage() for r in caplog.records] == [
        f"database: upgrading schema version 1 to {SCHEMA_VERSION} (once) ...",
    ]


@pytest.mark.parametrize("command", ["import", "render"])
def test_the_command_line_shows_an_upgrade_on_stderr(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sorastats.cli import main

    path = tmp_path / "old.duckdb"
    _version_1_database(path)
    if command == "import":
        empty = tmp_path / "empty.json"
        empty.write_text('{"items": [], "cursor": null}')
        argv = ["import", str(empty), "--db", str(path)]
    else:  # render upgrades through the site package's own call of `db.connect`
        argv = ["render", "--db", str(path), "--out", str(tmp_path / "site"), "--jobs", "1",
                "--no-search"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"database: upgrading schema version 1 to {SCHEMA_VERSION} (once) ..." in err
    assert logging.getLogger("sorastats").handlers == []  # main leaves logging as it was
