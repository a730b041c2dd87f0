"""`raw` as a view over the capture archive: every row finds its record in the files,
after imports, JSONL captures, purges and the move of an older database's `raw` rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from sorastats import db, importer, unarchived
from sorastats.archive import CaptureArchive
from sorastats.run import IngestRun, default_captures_dir
from sorastats.schema import MIGRATIONS, SCHEMA_VERSION
from tests.support.ingest import (
    DAY1,
    DAY2,
    STABLE_TABLES,
    count,
    dump,
    page,
    raw_rows_found_in_archive,
    wrapper,
    write,
)
from tests.support.paths import ROOT

SAMPLE = ROOT / "data" / "sample"
A, B, C, D = ("s_" + ch * 32 for ch in "abcd")


def archive_text(db_path: Path) -> str:
    """Every archived document, decompressed."""
    archive = CaptureArchive(default_captures_dir(db_path))
    return "".join(archive.read_json(key).decode() for key in archive.json_keys())


@pytest.mark.slow  # imports the whole sample: make test
def test_every_raw_row_of_the_sample_finds_its_record(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    importer.import_paths(path, [SAMPLE])
    con = db.connect(path, read_only=True)
    checked = raw_rows_found_in_archive(con)
    assert checked == count(con, "SELECT count(*) FROM raw_index") > 600
    # Post trees nest replies and parents: their rows point inside the documents.
    assert count(con, "SELECT count(*) FROM raw_index WHERE path LIKE '%.post.parent_post'") > 0
    # The database holds no record's JSON: the archive does.
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'raw_index'"
    ).fetchall()}  # fmt: skip
    assert "json" not in columns


def test_a_purge_repoints_the_rows_of_the_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    # B sits between A and C: cutting it shifts C from items[2] to items[1].
    write(tmp_path / "in" / "day1.json", page(wrapper(A), wrapper(B), wrapper(C)))
    importer.import_paths(path, [tmp_path / "in"])
    gone = page(wrapper(B, tombstoned_at=DAY2), captured_at=DAY2)
    write(tmp_path / "in2" / "day2.json", gone)
    importer.import_paths(path, [tmp_path / "in2"])
    con = db.connect(path, read_only=True)
    assert raw_rows_found_in_archive(con) == 2  # A and C (a wrapper's profile has no row)
    assert con.execute(
        "SELECT entity_id, path FROM raw_index WHERE kind = 'post' ORDER BY entity_id"
    ).fetchall() == [(A, "$.items[0]"), (C, "$.items[1]")]
    assert B not in archive_text(path)


def test_a_jsonl_capture_indexes_each_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.duckdb"
    lines = [page(wrapper(A)), page(wrapper(B, tombstoned_at=DAY1), wrapper(C)), page(wrapper(D))]
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(doc) + "\n" for doc in lines))
    # A batch of one record: the file's records go in before the file is named.
    monkeypatch.setattr(importer, "BATCH_RECORDS", 1)
    importer.import_paths(path, [export])
    con = db.connect(path, read_only=True)
    assert raw_rows_found_in_archive(con) == 3  # A, C and D
    assert con.execute(
        "SELECT entity_id, line, path FROM raw_index WHERE kind = 'post' ORDER BY entity_id"
    ).fetchall() == [(A, 0, "$.items[0]"), (C, 1, "$.items[0]"), (D, 2, "$.items[0]")]
    assert count(con, "SELECT count(*) FROM raw_index WHERE capture LIKE 'pending:%'") == 0


def test_rows_of_a_capture_never_finished_are_dropped_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    importer.import_paths(path, [write(tmp_path / "in" / "p.json", page(wrapper(A)))])
    con = db.connect(path)
    # What a run killed inside a large JSONL file leaves: rows under the capture's token.
    con.execute(
        "INSERT INTO raw_index SELECT sha256 || 'x', kind, entity_id, source, run_id, "
        "captured_at, 'pending:0123', line, path FROM raw_index"
    )
    con.close()
    with IngestRun(path, "import", "nothing") as run:
        run.finish("ok")
    con = db.connect(path, read_only=True)
    assert count(con, "SELECT count(*) FROM raw_index WHERE capture LIKE 'pending:%'") == 0
    assert raw_rows_found_in_archive(con) == 1


def _canonical(text: str) -> str:
    return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()


def _raw_as_before(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return sorted(
        (sha, kind, entity, source, run, cap, _canonical(text))
        for sha, kind, entity, source, run, cap, text in con.execute(
            "SELECT sha256, kind, entity_id, source, run_id, captured_at, json FROM raw"
        ).fetchall()
    )


def _version_2_copy(source: Path, target: Path) -> None:
    """A version-2 database (before the archive) holding what `source` holds, with the
    JSON of every record in its `raw` table, as the import stored it then."""
    con = duckdb.connect(str(target))
    for migration in MIGRATIONS[:2]:
        con.execute(migration)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute(f"ATTACH '{source}' AS new (READ_ONLY)")
    for table in STABLE_TABLES:
        if table != "raw":
            con.execute(f"INSERT INTO {table} SELECT * FROM new.{table}")
    # Later ids follow the copied ones, as in a database that made them itself.
    con.execute("SELECT nextval('quarantine_id_seq') FROM range((SELECT count(*) FROM quarantine))")
    rows = con.execute(
        "SELECT sha256, kind, entity_id, source, run_id, captured_at, json FROM new.raw"
    ).fetchall()
    con.executemany(
        "INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*row[:6], _canonical(row[6])) for row in rows],
    )
    con.close()


@pytest.mark.slow  # imports the whole sample: make test
def test_a_version_2_database_moves_its_raw_rows_into_the_archive(tmp_path: Path) -> None:
    made = tmp_path / "made.duckdb"
    importer.import_paths(made, [SAMPLE])
    with db.connect(made, read_only=True) as con:
        expected_raw = _raw_as_before(con)
    old = tmp_path / "old" / "sorastats.duckdb"
    old.parent.mkdir()
    _version_2_copy(made, old)
    with duckdb.connect(str(old), read_only=True) as con:
        before = dump(con)
        assert _raw_as_before(con) == expected_raw
    logged: list[str] = []
    with IngestRun(old, "import", "nothing", log=logged.append) as run:
        run.finish("ok")
    assert logged[0] == f"database: upgrading schema version 2 to {SCHEMA_VERSION} (once) ..."
    assert logged[1].startswith(f"database: moving {len(expected_raw):,} stored records")
    con = db.connect(old, read_only=True)
    after = dump(con)
    for table in STABLE_TABLES:
        if table != "raw":
            assert after[table] == before[table], table
    assert _raw_as_before(con) == expected_raw  # every record, its provenance unchanged
    assert raw_rows_found_in_archive(con) == len(expected_raw)
    assert count(con, "SELECT count(*) FROM information_schema.tables "
                      "WHERE table_name = 'raw_unarchived'") == 0  # fmt: skip
    con.close()
    # Moved once: the next run has nothing to move, and a tombstone reaches moved files.
    some_post = next(r[2] for r in expected_raw if r[1] == "post")
    assert some_post in archive_text(old)
    logged.clear()
    gone = page(wrapper(some_post, tombstoned_at=DAY2), captured_at=DAY2 + 10**8)
    importer.import_paths(old, [write(tmp_path / "gone.json", gone)], log=logged.append)
    assert logged == []
    assert some_post not in archive_text(old)
    con = db.connect(old, read_only=True)
    its_rows = sum(1 for r in expected_raw if r[2] == some_post)
    assert its_rows >= 1
    assert raw_rows_found_in_archive(con) == len(expected_raw) - its_rows


@pytest.mark.slow  # imports the whole sample: make test
def test_moving_is_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = tmp_path / "made.duckdb"
    importer.import_paths(made, [SAMPLE])
    old = tmp_path / "old" / "sorastats.duckdb"
    old.parent.mkdir()
    _version_2_copy(made, old)
    monkeypatch.setattr(unarchived, "RECORDS_PER_FILE", 100)
    calls = 0
    real = unarchived._move_rows

    def failing(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full")
        real(*args)

    monkeypatch.setattr(unarchived, "_move_rows", failing)
    with pytest.raises(OSError, match="disk full"), IngestRun(old, "import", "nothing"):
        pass
    con = db.connect(old, read_only=True)
    assert unarchived.pending(con) > 600  # all still there, none indexed
    assert count(con, "SELECT count(*) FROM raw_index") == 0
    con.close()
    monkeypatch.setattr(unarchived, "_move_rows", real)
    with IngestRun(old, "import", "nothing") as run:
        run.finish("ok")
    con = db.connect(old, read_only=True)
    assert unarchived.pending(con) == 0
    assert raw_rows_found_in_archive(con) > 600
