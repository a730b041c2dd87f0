"""The capture archive (sorastats/archive.py) and the ingest's use of it: every capture
kept once, compressed, named by its content; re-imports skip known files after one read;
purges reach the archived files; a killed run leaves nothing the next run keeps."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from sorastats import db, importer, parse
from sorastats.archive import ArchiveError, CaptureArchive, compress, content_key, decompress
from sorastats.run import default_captures_dir
from sorastats.staging import capture_line
from tests.support.ingest import DAY1, DAY2, count, dump, page, post, profile, wrapper, write
from tests.support.paths import ROOT

# -- the archive alone -------------------------------------------------------------------


def test_a_document_is_kept_once_compressed_and_named_by_its_content(tmp_path: Path) -> None:
    archive = CaptureArchive(tmp_path / "captures")
    data = json.dumps({"items": [{"post": {"id": "s_1", "text": "x" * 5000}}]}).encode()
    first = archive.put_json(data)
    assert first.new and first.key == hashlib.sha256(data).hexdigest()
    assert first.path == tmp_path / "captures/json" / first.key[:2] / f"{first.key}.json.zst"
    assert first.stored_size < first.size / 10  # zstd: the repeated caption packs tight
    assert decompress(first.path.read_bytes()) == data  # any zstd reader gets it back
    again = archive.put_json(data)
    assert not again.new and again.key == first.key
    assert list(archive.json_keys()) == [first.key]
    assert archive.read_json(first.key) == data


def test_duckdb_reads_the_archive_as_it_is(tmp_path: Path) -> None:
    archive = CaptureArchive(tmp_path / "captures")
    archive.put_json(b'{"items":[{"post":{"id":"s_1"}}]}\n{"items":[]}\n')
    rows = (
        duckdb.connect()
        .execute(f"SELECT json FROM read_json_objects('{archive.json_glob()}', compression='zstd')")
        .fetchall()
    )
    assert sorted(r[0] for r in rows) == ['{"items":[]}', '{"items":[{"post":{"id":"s_1"}}]}']


def test_media_are_kept_as_they_came_with_the_same_naming(tmp_path: Path) -> None:
    archive = CaptureArchive(tmp_path / "captures")
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg"
    stored = archive.put_media(jpeg, ".JPG")
    assert stored.path == tmp_path / f"captures/media/{stored.key[:2]}/{stored.key}.jpg"
    assert stored.path.read_bytes() == jpeg and not archive.put_media(jpeg, ".jpg").new
    with pytest.raises(ArchiveError, match=re.escape("media suffix '.exe'")):
        archive.put_media(b"MZ", ".exe")


@pytest.mark.parametrize("key", ["", "../../etc/passwd", "A" * 64, "0" * 63, "0" * 64 + "/x"])
def test_a_key_that_is_not_a_hash_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ArchiveError, match="not an archive key"):
        CaptureArchive(tmp_path).json_path(key)


def test_a_damaged_file_is_reported_not_returned(tmp_path: Path) -> None:
    archive = CaptureArchive(tmp_path)
    stored = archive.put_json(b'{"a":1}\n')
    stored.path.write_bytes(compress(b'{"a":2}\n'))
    with pytest.raises(ArchiveError, match="does not match its name"):
        archive.read_json(stored.key)


def test_unfinished_files_are_removed_and_named_ones_never(tmp_path: Path) -> None:
    archive = CaptureArchive(tmp_path)
    kept = archive.put_json(b"1\n")
    writer = archive.json_writer()
    writer.write(b"partial")  # a run killed mid-file leaves this
    writer._out.close()  # as the killed process's exit would
    assert archive.remove_unfinished() == 1
    assert set(archive.json_keys()) == {kept.key}
    assert list(tmp_path.glob(".writing.*")) == []


def test_a_streamed_document_equals_one_put_whole(tmp_path: Path) -> None:
    archive = CaptureArchive(tmp_path)
    writer = archive.json_writer()
    for part in (b'{"a":1}\n', b'{"b":2}\n'):
        writer.write(part)
    streamed = writer.finish()
    assert streamed.key == content_key(b'{"a":1}\n{"b":2}\n')
    assert archive.read_json(streamed.key) == b'{"a":1}\n{"b":2}\n'
    assert not archive.put_json(b'{"a":1}\n{"b":2}\n').new


# -- what the archive keeps of a document (pure) --------------------------------------------


def _dead(pid: str) -> dict[str, Any]:
    return wrapper(pid, tombstoned_at=DAY2)


KEEP_CASES: dict[str, tuple[Any, set[str], set[str] | None]] = {
    # name: (document, ids tombstoned before, post ids the kept document holds or None)
    "a public page is kept whole": (page(wrapper("s_a"), wrapper("s_b")), set(), {"s_a", "s_b"}),
    "a deleted post leaves its page": (page(wrapper("s_a"), _dead("s_b")), set(), {"s_a"}),
    "a private post leaves its page": (
        page(wrapper("s_a"), wrapper("s_p", posted_to_public=False)),
        set(),
        {"s_a"},
    ),
    "a share setting other than public": (
        page(wrapper("s_a", permissions={"share_setting": "friends"})),
        set(),
        set(),
    ),
    "a post tombstoned before": (page(wrapper("s_a"), wrapper("s_t")), {"s_t"}, {"s_a"}),
    "a nested parent that is deleted": (
        page({"post": {**post("s_a"), "parent_post": _dead("s_parent")}, "profile": profile()}),
        set(),
        {"s_a"},
    ),
    "a reply in a post tree that is deleted": (
        {**wrapper("s_a"), "children": {"items": [_dead("s_reply")], "cursor": None}},
        set(),
        {"s_a"},
    ),
    "a manifest item goes whole with its wrapper": (
        {"items": [{"_raw": _dead("s_m"), "prompt": "secret"}, {"_raw": wrapper("s_k")}]},
        set(),
        {"s_k"},
    ),
    "a deleted post tree: nothing kept": (_dead("s_a"), set(), None),
    "a profile listing is kept": ({"items": [profile()], "cursor": None}, set(), set()),
}


@pytest.mark.parametrize("case", KEEP_CASES)
def test_what_the_archive_keeps_of_a_document(case: str) -> None:
    doc, tombstoned, expected = KEEP_CASES[case]
    result = capture_line(json.loads(json.dumps(doc)), tombstoned)
    if expected is None:
        assert result is None
        return
    assert result is not None
    line, held, cut = result
    assert cut == (json.loads(line) != doc)  # says whether wrappers were cut
    assert b"\n" not in line
    kept = json.loads(line)
    ids = {m.decode() for m in re.findall(rb'"id":"(s_[^"]*)"', line)}
    assert ids == held == expected
    assert "secret" not in line.decode()
    if not tombstoned and expected == {"s_a", "s_b"}:
        assert kept == doc  # nothing to drop: the document as it came


def test_without_posts_counts_what_it_removed() -> None:
    doc = page(wrapper("s_a"), _dead("s_b"), _dead("s_c"))
    pruned, removed = parse.without_posts(doc, lambda p: p.get("tombstoned_at") is not None)
    assert removed == 2 and [i["post"]["id"] for i in pruned["items"]] == ["s_a"]


# -- the ingest and the archive --------------------------------------------------------------


def _archive_text(captures: Path) -> list[str]:
    """Every archived document, decompressed."""
    archive = CaptureArchive(captures)
    return [archive.read_json(key).decode() for key in archive.json_keys()]


def test_an_import_keeps_every_file_once_beside_the_database(tmp_path: Path) -> None:
    dbp = tmp_path / "db" / "s.duckdb"
    result = importer.import_paths(dbp, [ROOT / "data" / "sample"])
    captures = default_captures_dir(dbp)
    assert captures == tmp_path / "db" / "captures" / "s"
    con = db.connect(dbp, read_only=True)
    indexed = con.execute("SELECT count(*), count(DISTINCT input_sha256) FROM captures").fetchone()
    assert indexed == (result.files, result.files)
    keys = {r[0] for r in con.execute("SELECT sha256 FROM captures WHERE documents > 0").fetchall()}
    assert keys == set(CaptureArchive(captures).json_keys())
    # Every stored post is in the archive, and no viewer field is.
    text = "\n".join(_archive_text(captures))
    posts = [r[0] for r in con.execute("SELECT id FROM posts").fetchall()]
    assert posts and all(f'"{pid}"' in text for pid in posts)
    assert '"user_liked"' not in text and '"is_following"' not in text
    held = {r[0] for r in con.execute("SELECT DISTINCT post_id FROM capture_posts").fetchall()}
    assert set(posts) <= held


def test_a_second_import_of_the_same_folder_reads_no_capture_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbp = tmp_path / "s.duckdb"
    sample = ROOT / "data" / "sample"
    first = importer.import_paths(dbp, [sample])
    parsed: list[int] = []
    real_loads = orjson.loads

    def counting_loads(data: Any) -> Any:
        parsed.append(1)
        return real_loads(data)

    monkeypatch.setattr(orjson, "loads", counting_loads)  # what the importer parses with
    again = importer.import_paths(dbp, [sample])
    assert again.skipped == again.files == first.files and parsed == []
    assert again.counts.pages == again.counts.items == 0
    # a new file beside them is read; the known ones still are not
    extra = tmp_path / "more" / "new.json"
    write(extra, page(wrapper("s_new"), captured_at=DAY2))
    third = importer.import_paths(dbp, [sample, extra.parent])
    assert third.skipped == first.files and third.counts.new_posts == 1


@pytest.mark.parametrize("command", ["import", "nightly"])
def test_an_archive_folder_that_cannot_be_written_stops_the_run_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from sorastats.cli import main

    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    write(tmp_path / "in/1.json", page(wrapper("s_a")))
    dbp = tmp_path / "s.duckdb"
    args = ["--db", str(dbp), "--captures", str(not_a_folder)]
    if command == "nightly":
        args += ["--out", str(tmp_path / "site")]
    assert main([command, *args, str(tmp_path / "in")]) in (1, 2)
    err = capsys.readouterr().err
    assert f"capture archive {not_a_folder}: cannot write there" in err
    assert "Traceback" not in err
    if dbp.exists():  # nothing went in without its capture
        con = db.connect(dbp, read_only=True)
        assert count(con, "SELECT count(*) FROM posts") == 0


def test_the_import_command_says_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sorastats.cli import main

    write(tmp_path / "in/1.json", page(wrapper("s_a")))
    args = ["import", "--db", str(tmp_path / "s.duckdb"), str(tmp_path / "in")]
    assert main(args) == 0
    assert "skipped" not in capsys.readouterr().out
    assert main(args) == 0
    assert "import: 1 file(s) skipped: their bytes were ingested before" in capsys.readouterr().out


def test_a_tombstone_purges_the_post_from_every_archived_file(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    captures = default_captures_dir(dbp)
    write(tmp_path / "in/1.json", page(wrapper("s_dead", text="secret one"), wrapper("s_ok")))
    write(tmp_path / "in/2.json", {**wrapper("s_dead", text="secret two"), "captured_at": DAY1})
    importer.import_paths(dbp, [tmp_path / "in"])
    assert sum("s_dead" in t for t in _archive_text(captures)) == 2
    before = set(CaptureArchive(captures).json_keys())
    write(tmp_path / "in2/3.json", page(_dead("s_dead"), captured_at=DAY2))
    result = importer.import_paths(dbp, [tmp_path / "in2"])
    assert result.counts.removed_posts == 1
    texts = _archive_text(captures)
    assert not any("s_dead" in t or "secret" in t for t in texts)
    assert any("s_ok" in t for t in texts)
    con = db.connect(dbp, read_only=True)
    assert count(con, "SELECT count(*) FROM capture_posts WHERE post_id = 's_dead'") == 0
    keys = {r[0] for r in con.execute("SELECT sha256 FROM captures WHERE documents > 0").fetchall()}
    assert keys == set(CaptureArchive(captures).json_keys())  # no stale file left behind
    assert not before & keys  # both files were rewritten (the wrapper-only one: emptied)
    con.close()
    # the files keep being skipped on re-import, and the post never comes back
    importer.import_paths(dbp, [tmp_path / "in", tmp_path / "in2"])
    assert not any("s_dead" in t for t in _archive_text(captures))


def test_a_post_seen_private_later_leaves_the_archive_too(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    write(tmp_path / "a/1.json", page(wrapper("s_hidden", text="was public"), captured_at=DAY1))
    importer.import_paths(dbp, [tmp_path / "a"])
    write(
        tmp_path / "b/2.json", page(wrapper("s_hidden", posted_to_public=False), captured_at=DAY2)
    )
    importer.import_paths(dbp, [tmp_path / "b"])
    assert not any("s_hidden" in t for t in _archive_text(default_captures_dir(dbp)))


def test_a_new_database_beside_an_old_archive_deletes_nothing(tmp_path: Path) -> None:
    """The captures cannot be fetched again: losing the database must not lose them."""
    dbp = tmp_path / "s.duckdb"
    importer.import_paths(dbp, [ROOT / "data" / "sample"])
    archive = CaptureArchive(default_captures_dir(dbp))
    stray = archive.put_json(b'{"kept":"though no database names it"}\n')
    before = set(archive.json_keys())
    dbp.unlink()
    importer.import_paths(dbp, [ROOT / "data" / "sample"])
    assert set(archive.json_keys()) == before and stray.path.exists()


def test_a_purge_killed_before_its_files_went_finishes_at_the_next_run(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    write(tmp_path / "a/1.json", page(wrapper("s_gone"), wrapper("s_ok")))
    importer.import_paths(dbp, [tmp_path / "a"])
    archive = CaptureArchive(default_captures_dir(dbp))
    (old,) = archive.json_keys()
    # What a run killed between its commit and the deletion leaves: the file listed.
    con = db.connect(dbp)
    con.execute("UPDATE captures SET sha256 = ?", ["0" * 64])
    con.execute("INSERT INTO capture_purges VALUES (?)", [old])
    con.close()
    importer.import_paths(dbp, [tmp_path / "a"])
    assert not archive.json_path(old).exists()
    con = db.connect(dbp, read_only=True)
    assert count(con, "SELECT count(*) FROM capture_purges") == 0


@pytest.mark.e2e  # a subprocess killed mid-import, then a rerun
@pytest.mark.slow
def test_a_killed_import_then_a_rerun_gives_the_tables_and_archive_of_one_import(
    tmp_path: Path,
) -> None:
    source = tmp_path / "feed"
    subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "synth", "--posts", "1500", "--creators",
         "150", "--days", "3", "--no-profile-feeds", "--out", str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    reference = tmp_path / "ref" / "s.duckdb"
    importer.import_paths(reference, [source])
    killed = tmp_path / "killed" / "s.duckdb"
    cmd = [sys.executable, str(ROOT / "build.py"), "import", "--db", str(killed), str(source)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    archive_dir = default_captures_dir(killed) / "json"
    while not (archive_dir.exists() and any(archive_dir.rglob("*.zst"))):
        assert proc.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    a, b = db.connect(reference, read_only=True), db.connect(killed, read_only=True)
    assert dump(a, drop=frozenset({"source"})) == dump(b, drop=frozenset({"source"}))
    index = "SELECT sha256, input_sha256, documents, bytes FROM captures ORDER BY input_sha256"
    assert a.execute(index).fetchall() == b.execute(index).fetchall()
    assert set(CaptureArchive(default_captures_dir(reference)).json_keys()) == set(
        CaptureArchive(default_captures_dir(killed)).json_keys()
    )
