"""`build.py import` against real DuckDB files: formats, rules, bad input, idempotence."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sorastats import db, importer
from sorastats.cli import main
from tests.support.ingest import (
    DAY1,
    DAY2,
    FIXTURES,
    count,
    dump,
    one_row,
    page,
    post,
    profile,
    wrapper,
    write,
)
from tests.support.paths import ROOT


def run_import(db_path: Path, *paths: Path) -> importer.ImportResult:
    return importer.import_paths(db_path, list(paths))


def open_db(db_path: Path) -> duckdb.DuckDBPyConnection:
    return db.connect(db_path, read_only=True)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "s.duckdb"


def test_shared_fixtures_import_cleanly(db_path: Path) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURES} is absent")
    result = run_import(db_path, FIXTURES)
    assert result.ok, result.errors
    con = open_db(db_path)
    assert count(con, "SELECT count(*) FROM quarantine") == 0
    posts = dict(con.execute("SELECT id, text FROM posts").fetchall())
    assert posts == {
        "s_33209d1c4f2bfb8b1dd0df1ca79c371a": "女学生练习Y字バランス 1周",
        "s_3c5d4a423713d5c882d6d8b20d976398": "basketball legend gives a halftime speech",
    }
    # the comment is kept in raw but is not a post
    assert count(con, "SELECT count(*) FROM raw WHERE kind = 'comment'") == 1
    # 1 feed author + 2 tree profiles + 3 bare profiles from the following listing
    assert count(con, "SELECT count(*) FROM creators") == 6
    viral = con.execute(
        "SELECT view_count, like_count, remix_count, media_expires_at, posted_at FROM posts "
        "WHERE id = 's_3c5d4a423713d5c882d6d8b20d976398'"
    ).fetchone()
    assert viral == (
        212466,
        2043,
        271,
        datetime(2025, 10, 26, 3, 18, 7),
        datetime(2025, 10, 19, 20, 7, 18, 740903),
    )
    # no captured_at in the files: the newest updated_at decides the capture day
    days = {r[0] for r in con.execute("SELECT captured_on FROM creator_snapshots").fetchall()}
    assert days == {date(2025, 10, 20), date(2025, 11, 11)}
    for (text,) in con.execute("SELECT json FROM raw").fetchall():
        for field in ("user_liked", "is_following", "follows_you", "is_owner", "can_read"):
            assert f'"{field}"' not in text


def test_importing_twice_changes_only_runs(db_path: Path, tmp_path: Path) -> None:
    sample = ROOT / "data" / "sample"
    run_import(db_path, sample)
    con = open_db(db_path)
    first = dump(con, drop=frozenset())
    con.close()
    second_result = run_import(db_path, sample)
    assert second_result.counts.new_posts == 0
    assert second_result.counts.snapshots == 0
    con = open_db(db_path)
    assert dump(con) == first
    assert count(con, "SELECT count(*) FROM runs") == 2


@pytest.mark.slow  # many imports in a row: make test
def test_batch_size_does_not_change_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = ROOT / "data" / "sample"
    run_import(tmp_path / "big.duckdb", sample)
    # 972 records in batches of 31: 32 batch boundaries, each must change nothing
    monkeypatch.setattr(importer, "BATCH_RECORDS", 31)
    run_import(tmp_path / "small.duckdb", sample)
    big, small = open_db(tmp_path / "big.duckdb"), open_db(tmp_path / "small.duckdb")
    assert dump(big, drop=frozenset({"source"})) == dump(small, drop=frozenset({"source"}))


def test_every_format_is_detected(db_path: Path, tmp_path: Path) -> None:
    files = tmp_path / "in"
    write(files / "page.json", page(wrapper("s_page")))
    write(files / "single.json", {**wrapper("s_single"), "captured_at": DAY1})
    tree = wrapper("s_tree")
    tree["children"] = {"items": [wrapper("c0ffee", source="project_y")], "cursor": None}
    write(files / "tree.json", tree)
    write(
        files / "manifest.json",
        {"version": 2, "items": [{"id": "x", "_raw": wrapper("s_vault")}]},
    )
    (files / "lines.jsonl").write_text(
        "\n".join(json.dumps(wrapper(f"s_line{i}")) for i in range(3)) + "\n\n"
    )
    write(
        files / "listing.json", {"items": [profile("user-listed0000000000000000")], "cursor": "c"}
    )
    result = run_import(db_path, files)
    assert result.ok, result.errors
    con = open_db(db_path)
    ids = {r[0] for r in con.execute("SELECT id FROM posts").fetchall()}
    assert ids == {"s_page", "s_single", "s_tree", "s_vault", "s_line0", "s_line1", "s_line2"}
    assert count(con, "SELECT count(*) FROM creators WHERE id = 'user-listed0000000000000000'") == 1


def test_bad_files_are_named_and_the_rest_still_goes_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "in"
    write(files / "good.json", page(wrapper("s_good")))
    (files / "broken.json").write_text('{"items": [ {"post": ')
    (files / "binary.json").write_bytes(b"\x00\xff\xfe garbage")
    write(files / "odd.json", {"hello": "world"})
    db_file = tmp_path / "s.duckdb"
    status = main(["import", str(files), str(tmp_path / "missing"), "--db", str(db_file)])
    assert status != 0
    err = capsys.readouterr().err
    for name in ("broken.json", "binary.json", "odd.json", "missing"):
        assert name in err
    assert "not JSON" in err and "no 'post' or 'items' key" in err
    con = open_db(db_file)
    assert con.execute("SELECT id FROM posts").fetchall() == [("s_good",)]
    assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_bad_records_are_quarantined_and_the_run_goes_on(db_path: Path, tmp_path: Path) -> None:
    doc = page(
        wrapper("s_ok"),
        {"post": post(None), "profile": profile()},  # no id
        wrapper("s_counter", like_count="12"),  # counter as a string
        wrapper("s_caption", text={"nested": "object"}),  # string as an object
        "not a wrapper",  # broken structure
        {"post": post("s_mismatch"), "profile": profile("user-zzzzzzzzzzzzzzzzzzzzzzzz")},
        wrapper("s_private_bad", like_count="x", posted_to_public=False),  # never kept
        wrapper("s_deleted_bad", like_count="x", tombstoned_at=DAY1),  # never kept
    )
    write(tmp_path / "in" / "p.json", doc)
    (tmp_path / "in" / "l.jsonl").write_text(json.dumps(wrapper("s_line")) + "\n{oops\n")
    result = run_import(db_path, tmp_path / "in")
    assert result.ok
    assert result.counts.quarantined == 6
    con = open_db(db_path)
    assert {r[0] for r in con.execute("SELECT id FROM posts").fetchall()} == {"s_ok", "s_line"}
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM quarantine").fetchall())
    assert any("post.id is missing" in r for r in reasons)
    assert any("like_count is a string" in r for r in reasons)
    assert any("text is an object" in r for r in reasons)
    assert any("not a {post, profile} wrapper" in r for r in reasons)
    assert any("is not post.shared_by" in r for r in reasons)
    assert any("line is not JSON" in r for r in reasons)
    for hidden in ("s_private_bad", "s_deleted_bad"):
        assert count(con, f"SELECT count(*) FROM quarantine WHERE record LIKE '%{hidden}%'") == 0
    sources = {r[0] for r in con.execute("SELECT source FROM quarantine").fetchall()}
    assert str(tmp_path / "in" / "l.jsonl") + ":2" in sources
    con.close()
    run_import(db_path, tmp_path / "in")
    assert count(open_db(db_path), "SELECT count(*) FROM quarantine") == 6


def test_snapshots_one_row_per_day_and_later_capture_wins(db_path: Path, tmp_path: Path) -> None:
    write(tmp_path / "a.json", page(wrapper("s_1", view_count=10), captured_at=DAY1))
    write(tmp_path / "b.json", page(wrapper("s_1", view_count=20), captured_at=DAY1 + 3600))
    write(tmp_path / "c.json", page(wrapper("s_1", view_count=30), captured_at=DAY2))
    run_import(db_path, tmp_path / "a.json", tmp_path / "b.json")
    run_import(db_path, tmp_path / "c.json")
    run_import(db_path, tmp_path / "a.json")  # an older capture, imported late, loses
    con = open_db(db_path)
    rows = con.execute(
        "SELECT captured_on, view_count FROM post_snapshots ORDER BY captured_on"
    ).fetchall()
    assert rows == [(date(2025, 10, 9), 20), (date(2025, 10, 10), 30)]
    assert con.execute("SELECT view_count FROM posts").fetchall() == [(30,)]
    first, last = one_row(con, "SELECT first_seen_at, last_seen_at FROM posts")
    assert first == datetime(2025, 10, 9, 8, 53, 20) and last == datetime(2025, 10, 10, 8, 53, 20)


def test_capture_time_falls_back_to_updated_at_then_import_time(
    db_path: Path, tmp_path: Path
) -> None:
    write(tmp_path / "u.json", page(wrapper("s_u", updated_at=DAY2), captured_at=None))
    no_times = wrapper("s_n")
    del no_times["post"]["updated_at"]
    del no_times["profile"]["updated_at"]
    write(tmp_path / "n.json", page(no_times, captured_at=None))
    run_import(db_path, tmp_path / "u.json", tmp_path / "n.json")
    con = open_db(db_path)
    days = dict(con.execute("SELECT post_id, captured_on FROM post_snapshots").fetchall())
    assert days["s_u"] == date(2025, 10, 10)
    today = con.execute("SELECT CAST(started_at AS DATE) FROM runs").fetchone()
    assert today is not None and days["s_n"] == today[0]


def test_tombstoned_post_is_purged_and_never_readded(db_path: Path, tmp_path: Path) -> None:
    cameo = profile("user-cccccccccccccccccccccccc")
    write(tmp_path / "1.json", page(wrapper("s_dead", cameo_profiles=[cameo]), captured_at=DAY1))
    run_import(db_path, tmp_path / "1.json")
    con = open_db(db_path)
    assert count(con, "SELECT count(*) FROM post_cameos WHERE post_id = 's_dead'") == 1
    con.close()
    write(
        tmp_path / "2.json",
        page(wrapper("s_dead", tombstoned_at=DAY2 - 10, text="secret"), captured_at=DAY2),
    )
    result = run_import(db_path, tmp_path / "2.json")
    assert result.counts.removed_posts == 1
    write(tmp_path / "3.json", page(wrapper("s_dead"), captured_at=DAY2 + 86400))
    run_import(db_path, tmp_path / "1.json", tmp_path / "3.json")
    con = open_db(db_path)
    for table, key in (("posts", "id"), ("post_snapshots", "post_id"), ("post_cameos", "post_id")):
        assert count(con, f"SELECT count(*) FROM {table} WHERE {key} = 's_dead'") == 0
    assert count(con, "SELECT count(*) FROM raw WHERE json LIKE '%s_dead%'") == 0
    assert con.execute("SELECT * FROM tombstones").fetchall() == [
        ("s_dead", datetime(2025, 10, 10, 8, 53, 10))
    ]


def test_non_public_posts_never_enter_and_leave_when_hidden(db_path: Path, tmp_path: Path) -> None:
    write(
        tmp_path / "1.json",
        page(
            wrapper("s_private", posted_to_public=False),
            wrapper("s_unlisted", permissions={"share_setting": "unlisted"}),
            wrapper("s_later_hidden"),
            captured_at=DAY1,
        ),
    )
    run_import(db_path, tmp_path / "1.json")
    con = open_db(db_path)
    assert [r[0] for r in con.execute("SELECT id FROM posts").fetchall()] == ["s_later_hidden"]
    con.close()
    write(
        tmp_path / "2.json",
        page(wrapper("s_later_hidden", permissions={"share_setting": "private"}), captured_at=DAY2),
    )
    run_import(db_path, tmp_path / "2.json")
    con = open_db(db_path)
    assert count(con, "SELECT count(*) FROM posts") == 0
    assert count(con, "SELECT count(*) FROM post_snapshots") == 0
    assert count(con, "SELECT count(*) FROM raw WHERE kind = 'post'") == 0
    for (text,) in con.execute("SELECT json FROM raw").fetchall():
        assert "s_private" not in text and "s_unlisted" not in text
    con.close()
    # seen public again later: it may come back
    write(tmp_path / "3.json", page(wrapper("s_later_hidden"), captured_at=DAY2 + 86400))
    run_import(db_path, tmp_path / "3.json")
    assert count(open_db(db_path), "SELECT count(*) FROM posts") == 1


def test_nested_wrappers_are_ingested_once(db_path: Path, tmp_path: Path) -> None:
    parent = wrapper("s_parent", view_count=99)
    remix: dict[str, Any] = wrapper("s_remix", parent_post_id="s_parent", parent_post=parent)
    top = wrapper(
        "s_top",
        remix_posts={"items": [remix, wrapper("s_remix2", parent_post=parent)], "cursor": None},
        parent_post=parent,
    )
    write(tmp_path / "p.json", page(top, remix))
    result = run_import(db_path, tmp_path / "p.json")
    con = open_db(db_path)
    ids = sorted(r[0] for r in con.execute("SELECT id FROM posts").fetchall())
    assert ids == ["s_parent", "s_remix", "s_remix2", "s_top"]
    assert count(con, "SELECT count(*) FROM raw WHERE entity_id = 's_parent'") == 1
    assert count(con, "SELECT count(*) FROM post_snapshots") == 4
    assert result.counts.new_posts == 4
    top_raw = con.execute("SELECT json FROM raw WHERE entity_id = 's_top'").fetchone()
    assert top_raw is not None and "s_parent" not in top_raw[0].replace('"parent_post_id"', "")


def test_renamed_creator_keeps_username_history(db_path: Path, tmp_path: Path) -> None:
    uid = "user-rrrrrrrrrrrrrrrrrrrrrrrr"
    old = {"post": post("s_1", uid), "profile": profile(uid, username="old_name")}
    new = {"post": post("s_2", uid), "profile": profile(uid, username="new_name")}
    write(tmp_path / "1.json", page(old, captured_at=DAY1))
    write(tmp_path / "2.json", page(new, captured_at=DAY2))
    run_import(db_path, tmp_path)
    con = open_db(db_path)
    assert con.execute("SELECT username FROM creators").fetchall() == [("new_name",)]
    names = con.execute("SELECT username FROM creator_usernames ORDER BY first_seen_at").fetchall()
    assert names == [("old_name",), ("new_name",)]


def test_comments_are_not_posts(db_path: Path, tmp_path: Path) -> None:
    tree = wrapper("s_video")
    tree["children"] = {
        "items": [
            wrapper("abc123", source="project_y", parent_post_id="s_video", attachments=[]),
            wrapper("s_looks_like_video_but_reply", source="project_y"),
        ],
        "cursor": None,
    }
    write(tmp_path / "t.json", tree)
    run_import(db_path, tmp_path / "t.json")
    con = open_db(db_path)
    assert con.execute("SELECT id FROM posts").fetchall() == [("s_video",)]
    assert count(con, "SELECT count(*) FROM raw WHERE kind = 'comment'") == 2


def test_sample_privacy_and_shape(db_path: Path) -> None:
    sample = ROOT / "data" / "sample"
    result = run_import(db_path, sample)
    assert result.ok and result.counts.quarantined == 0
    con = open_db(db_path)
    hidden = set()
    for path in sample.rglob("*.json"):
        for item in json.loads(path.read_text()).get("items", []):
            p = item["post"]
            share = p["permissions"]["share_setting"]
            if p["tombstoned_at"] or not p["posted_to_public"] or share != "public":
                hidden.add(p["id"])
    assert hidden, "the sample should hold non-public and tombstoned posts"
    stored = {r[0] for r in con.execute("SELECT id FROM posts").fetchall()}
    assert not stored & hidden
    assert count(con, "SELECT count(*) FROM tombstones") > 0
    assert count(con, "SELECT count(*) FROM creator_usernames") > count(
        con, "SELECT count(*) FROM creators"
    )
    assert count(con, "SELECT count(*) FROM post_cameos") > 0
    assert count(con, "SELECT count(*) FROM posts WHERE parent_post_id IS NOT NULL") > 0
    assert count(con, "SELECT count(*) FROM raw WHERE json LIKE '%user_liked%'") == 0


def test_stats_command_reports_counts_and_runs(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = ROOT / "data" / "sample"
    assert main(["import", str(sample), "--db", str(db_path)]) == 0
    assert "import: " in capsys.readouterr().out  # the summary line
    assert main(["stats", "--json", "--db", str(db_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tables"]["posts"] > 120  # the sample: 160 posts, a few never public
    assert report["runs"][0]["status"] == "ok" and report["runs"][0]["command"] == "import"
    assert main(["stats", "--db", str(db_path)]) == 0
    text = capsys.readouterr().out
    assert "posts" in text and "last runs" in text and "#1" in text


def test_stats_without_a_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "no database at" in capsys.readouterr().err


def test_a_run_left_running_by_a_dead_process_is_marked(db_path: Path, tmp_path: Path) -> None:
    con = db.connect(db_path)
    con.execute(
        "INSERT INTO runs (command, source, started_at, status) "
        "VALUES ('import', 'x', now()::TIMESTAMP, 'running')"
    )
    con.close()
    write(tmp_path / "p.json", page(wrapper("s_1")))
    run_import(db_path, tmp_path / "p.json")
    rows = open_db(db_path).execute("SELECT status FROM runs ORDER BY id").fetchall()
    assert rows == [("interrupted",), ("ok",)]


def test_manifest_items_without_raw_are_quarantined(db_path: Path, tmp_path: Path) -> None:
    write(
        tmp_path / "vault.json",
        {"items": [{"_raw": wrapper("s_kept"), "title": "x"}, {"_raw": None, "id": "lost"}]},
    )
    result = run_import(db_path, tmp_path / "vault.json")
    assert result.ok and result.counts.quarantined == 1
    con = open_db(db_path)
    assert con.execute("SELECT id FROM posts").fetchall() == [("s_kept",)]
    assert con.execute("SELECT reason FROM quarantine").fetchall() == [
        ("not a {post, profile} wrapper",)
    ]


def test_jsonl_lines_may_carry_their_own_capture_time(db_path: Path, tmp_path: Path) -> None:
    lines = [
        {**wrapper("s_a", view_count=1), "captured_at": DAY1},
        {**wrapper("s_a", view_count=2), "captured_at": "2025-10-10T08:00:00Z"},
    ]
    (tmp_path / "w.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    run_import(db_path, tmp_path / "w.jsonl")
    rows = (
        open_db(db_path)
        .execute("SELECT captured_on, view_count FROM post_snapshots ORDER BY 1")
        .fetchall()
    )
    assert rows == [(date(2025, 10, 9), 1), (date(2025, 10, 10), 2)]


def test_profile_picture_expiry_is_kept(db_path: Path) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURES} is absent")
    run_import(db_path, FIXTURES / "v2_following_user_listing_2025-11-11.json")
    rows = (
        open_db(db_path)
        .execute(
            "SELECT username, profile_picture_expires_at, character_count FROM creators "
            "WHERE username = 'creator_8fae04'"
        )
        .fetchall()
    )
    assert rows == [("creator_8fae04", datetime(2025, 11, 14), 8)]


def test_synth_profile_feeds_give_every_live_post_a_daily_snapshot(
    db_path: Path, tmp_path: Path
) -> None:
    from sorastats import synth

    spec = synth.SynthSpec(posts=90, creators=9, days=4, seed=4)
    synth.write(spec, tmp_path / "capture")
    assert run_import(db_path, tmp_path / "capture").ok
    con = open_db(db_path)
    stored = {r[0] for r in con.execute("SELECT id FROM posts").fetchall()}
    assert stored
    for i in range(spec.posts):
        pid = spec.post_id(i)
        if pid not in stored:
            continue
        live_days = [d for d in range(spec.days) if spec.live_on(i, d)]
        snaps = count(con, "SELECT count(*) FROM post_snapshots WHERE post_id = ?", [pid])
        assert snaps == len(live_days), pid


def test_staging_left_by_a_killed_run_is_swept(tmp_path: Path) -> None:
    import os
    import subprocess

    from sorastats.ingest import STAGING_PREFIX
    from sorastats.tempdirs import sweep_stale

    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that has ended: its pid is free
    dead = tmp_path / f"{STAGING_PREFIX}{gone.pid}-abc"
    live = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-def"
    unknown = tmp_path / f"{STAGING_PREFIX}oldstyle"
    for folder in (dead, live, unknown):
        folder.mkdir()
        (folder / "raw.spool").write_text("x")
    assert sweep_stale(tmp_path, STAGING_PREFIX) == [dead]
    assert not dead.exists() and live.exists() and unknown.exists()


@pytest.mark.slow  # many imports in a row: make test
def test_history_keys_stay_unique_across_batches_and_runs(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # raw and the snapshot tables have no index (schema migration 2): the ingest alone
    # keeps (id, day) and the content hash unique.
    sample = ROOT / "data" / "sample"
    monkeypatch.setattr(importer, "BATCH_RECORDS", 60)
    write(tmp_path / "a.json", page(wrapper("s_1", view_count=10), captured_at=DAY1))
    write(tmp_path / "b.json", page(wrapper("s_1", view_count=20), captured_at=DAY1 + 60))
    run_import(db_path, sample, tmp_path / "a.json")
    run_import(db_path, sample, tmp_path / "b.json", tmp_path / "a.json")
    con = open_db(db_path)
    for table, key in (
        ("post_snapshots", "post_id, captured_on"),
        ("creator_snapshots", "creator_id, captured_on"),
        ("raw", "sha256"),
    ):
        rows, distinct = one_row(con, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
        assert rows == distinct > 0, table
    assert con.execute(
        "SELECT view_count FROM post_snapshots WHERE post_id = 's_1'"
    ).fetchall() == [(20,)]


def test_an_oversized_record_is_quarantined_cut_and_the_rest_goes_in(
    db_path: Path, tmp_path: Path
) -> None:
    from sorastats.staging import MAX_RECORD_BYTES, QUARANTINE_RECORD_CHARS

    write(tmp_path / "1.json", page(wrapper("s_gone"), captured_at=DAY1))
    run_import(db_path, tmp_path / "1.json")
    huge = "x" * (MAX_RECORD_BYTES + 10)
    write(
        tmp_path / "2.json",
        page(
            wrapper("s_ok"),
            wrapper("s_huge", text=huge),
            # A removal still counts however large its record: the post goes.
            wrapper("s_gone", tombstoned_at=DAY2 - 10, text=huge),
            captured_at=DAY2,
        ),
    )
    result = run_import(db_path, tmp_path / "2.json")
    assert result.ok and result.counts.quarantined == 1
    con = open_db(db_path)
    assert {r[0] for r in con.execute("SELECT id FROM posts").fetchall()} == {"s_ok"}
    assert count(con, "SELECT count(*) FROM tombstones WHERE post_id = 's_gone'") == 1
    reason, record, entity = one_row(con, "SELECT reason, record, entity_id FROM quarantine")
    assert reason == "record is 8.0 MiB; the limit is 8 MiB" and entity == "s_huge"
    assert len(record) < QUARANTINE_RECORD_CHARS + 100
    cut = re.search(r"\.\.\. \[cut: ([\d,]+) characters in all\]$", record)
    assert cut is not None and int(cut[1].replace(",", "")) > len(huge)
    assert count(con, "SELECT count(*) FROM raw WHERE json LIKE '%xxxx%'") == 0
    con.close()

    # A bare profile of a listing has the same limit; the listing's others go in.
    big = profile("user-big00000000000000000000", description=huge)
    write(
        tmp_path / "3.json",
        {"items": [big, profile("user-small0000000000000000")], "cursor": None},
    )
    result = run_import(db_path, tmp_path / "3.json")
    assert result.ok and result.counts.quarantined == 1
    con = open_db(db_path)
    assert con.execute(
        "SELECT reason FROM quarantine WHERE entity_id = 'user-big00000000000000000000'"
    ).fetchall() == [("record is 8.0 MiB; the limit is 8 MiB",)]
    creators = {r[0] for r in con.execute("SELECT id FROM creators").fetchall()}
    assert "user-small0000000000000000" in creators
    assert "user-big00000000000000000000" not in creators


def test_files_are_hashed_ahead_in_order_and_a_missing_one_is_reported(tmp_path: Path) -> None:
    import hashlib

    paths = [write(tmp_path / f"p{n:03}.json", page(wrapper(f"s_{n:032}"))) for n in range(150)]
    missing = tmp_path / "gone.json"
    listed = [*paths[:70], missing, *paths[70:]]
    hashed = list(importer.hashed_ahead(listed))
    assert [p for p, _ in hashed] == listed  # in order, past the look-ahead window
    for path, key in hashed:
        expected = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        assert key == expected
    # The import names the missing file; the others go in.
    result = importer.import_paths(tmp_path / "s.duckdb", listed)
    assert result.errors == [f"{missing}: no such file or folder"]
    assert count(open_db(tmp_path / "s.duckdb"), "SELECT count(*) FROM posts") == 150
