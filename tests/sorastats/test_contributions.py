"""The build's side of creators' rights (sorastats/contributions.py, sorastats/erasure.py):
the export read defensively, erasure through the archive's purge path and suppressions
that keep erased creators out of every later import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sorastats import contributions, db, importer, nightly
from sorastats.archive import CaptureArchive
from sorastats.cli import EXIT_RUN_FAILED, main, nightly_exit_code
from sorastats.contributions import Contributions, ContributionsError, parse
from sorastats.erasure import erase_creators
from sorastats.run import default_captures_dir
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.ingest import (
    DAY2,
    count,
    page,
    post,
    profile,
    raw_rows_found_in_archive,
    wrapper,
    write,
)

ERASED = "user-eeeeeeeeeeeeeeeeeeeeeeee"
KEPT = "user-kkkkkkkkkkkkkkkkkkkkkkkk"


def doc(**over: Any) -> bytes:
    value: dict[str, Any] = {
        "format": contributions.FORMAT,
        "version": contributions.VERSION,
        "published_prompts": [
            {"post_id": "s_1", "creator_id": KEPT, "prompt": "<b>mine</b> & yours"}
        ],
        "hidden_creators": [{"creator_id": "user-h"}],
        "hidden_posts": [{"post_id": "s_2"}],
        "erased_creators": [{"creator_id": ERASED}],
        "pending_claims": [{"creator_id": KEPT, "code": "sorastats-abc123"}],
    }
    value.update(over)
    return json.dumps(value).encode()


def test_a_whole_export_is_read() -> None:
    found = parse(doc(), "x")
    assert found.published_prompts == (("s_1", KEPT, "<b>mine</b> & yours"),)
    assert found.hidden_posts == ("s_2",)
    assert found.suppressed_creators == tuple(sorted(("user-h", ERASED)))
    assert found.pending_claims == ((KEPT, "sorastats-abc123"),)


BAD: dict[str, bytes] = {
    "not JSON": b"{",
    "not an object": b"[]",
    "another format": doc(format="other"),
    "a newer version": doc(version=2),
    "a list that is not a list": doc(hidden_posts={"post_id": "s_2"}),
    "an item that is not an object": doc(hidden_creators=["user-h"]),
    "an id with a slash": doc(hidden_posts=[{"post_id": "../s"}]),
    "an empty prompt": doc(published_prompts=[{"post_id": "s", "creator_id": KEPT, "prompt": " "}]),
    "a prompt too long": doc(
        published_prompts=[{"post_id": "s", "creator_id": KEPT, "prompt": "x" * 5001}]
    ),
    "a prompt with NUL": doc(
        published_prompts=[{"post_id": "s", "creator_id": KEPT, "prompt": "a\u0000b"}]
    ),
    "a claim code of another shape": doc(pending_claims=[{"creator_id": KEPT, "code": "x y"}]),
    "a support address that is not one": doc(support_email="help at example"),
    "a support address that is not text": doc(support_email=["a@b.c"]),
}


@pytest.mark.parametrize(
    ("contact", "support", "shown"),
    [
        ("", "help@example.com", "help@example.com"),  # the API's address, taken
        ("help@example.com", "help@example.com", "help@example.com"),
        ("https://example.com/help", None, "https://example.com/help"),  # none given
        ("help@example.com", "other@example.com", None),  # two addresses: refused
    ],
)
def test_the_site_names_the_apis_support_address(
    tmp_path: Path, contact: str, support: str | None, shown: str | None
) -> None:
    (tmp_path / "export.json").write_bytes(doc(support_email=support, erased_creators=[]))
    cfg = RenderConfig(db=tmp_path / "none.duckdb", out=tmp_path / "site", contact=contact)
    said: list[str] = []
    spec = str(tmp_path / "export.json")
    if shown is None:
        with pytest.raises(ContributionsError, match=r"other@example\.com"):
            contributions.prepare_render(cfg, spec, {}, said.append)
        return
    assert contributions.prepare_render(cfg, spec, {}, said.append).contact == shown


@pytest.mark.parametrize("case", BAD)
def test_a_malformed_export_is_refused_with_a_reason(case: str) -> None:
    with pytest.raises(ContributionsError):
        parse(BAD[case])


def test_an_export_over_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contributions, "MAX_BYTES", 100)
    with pytest.raises(ContributionsError, match="over 100 bytes"):
        parse(doc())


def test_load_none_a_file_a_missing_file_and_a_url_without_token(tmp_path: Path) -> None:
    assert contributions.load("none", {}) is contributions.NONE
    (tmp_path / "c.json").write_bytes(doc())
    assert contributions.load(str(tmp_path / "c.json"), {}).hidden_posts == ("s_2",)
    with pytest.raises(ContributionsError, match=r"missing\.json"):
        contributions.load(str(tmp_path / "missing.json"), {})
    with pytest.raises(ContributionsError, match="SORASTATS_BUILD_TOKEN"):
        contributions.load("http://127.0.0.1:9/", {})


def test_an_unreachable_export_is_an_error_naming_it_without_its_query() -> None:
    env = {"SORASTATS_BUILD_TOKEN": "t0ken-value"}
    with pytest.raises(ContributionsError) as caught:
        contributions.load("http://127.0.0.1:9/?secret=1", env)
    assert "127.0.0.1:9/api/build/public-contributions" in str(caught.value)
    assert "secret" not in str(caught.value) and "t0ken" not in str(caught.value)


def _two_creators(tmp_path: Path, folder: str, bio: str = "") -> Path:
    return write(
        tmp_path / folder / "1.json",
        page(
            wrapper("s_gone1", creator=ERASED, text="erase me one"),
            {
                "post": post("s_gone2", creator=ERASED, text="erase me two"),
                "profile": profile(ERASED),
            },
            {
                "post": post("s_kept", creator=KEPT, cameo_profiles=[profile(ERASED)]),
                "profile": profile(KEPT, description=bio),
            },
        ),
    )


def _archive_text(captures: Path) -> str:
    archive = CaptureArchive(captures)
    return "\n".join(archive.read_json(key).decode() for key in archive.json_keys())


def test_erasure_purges_rows_and_archive_and_a_reimport_never_brings_them_back(
    tmp_path: Path,
) -> None:
    dbp = tmp_path / "s.duckdb"
    captures = default_captures_dir(dbp)
    _two_creators(tmp_path, "in")
    # A thumbnail of an erased post and of the kept one, and the erased creator's picture.
    for owner, colour in (("s_gone1", 1), ("s_kept", 2), (ERASED, 3)):
        Image.new("RGB", (8, 8), (colour, 0, 0)).save(tmp_path / "in" / f"{owner}.png")
    importer.import_paths(dbp, [tmp_path / "in"])
    assert "erase me one" in _archive_text(captures)
    assert len(list((captures / "media").rglob("*.png"))) == 3

    # `render|nightly --contributions FILE` erases the creators the export lists
    (tmp_path / "export.json").write_bytes(doc())
    said: list[str] = []
    cfg = RenderConfig(db=dbp, out=tmp_path / "site")
    cfg = contributions.prepare_render(cfg, str(tmp_path / "export.json"), {}, said.append)
    assert cfg.contributions.erased_creators == (ERASED,)
    assert any("erased 1 creator(s) and 2 post(s)" in line for line in said), said
    con = db.connect(dbp, read_only=True)
    for table, column in (
        ("creators", "id"),
        ("creator_usernames", "creator_id"),
        ("creator_snapshots", "creator_id"),
        ("post_cameos", "creator_id"),
    ):
        assert count(con, f"SELECT count(*) FROM {table} WHERE {column} = ?", [ERASED]) == 0
    assert count(con, "SELECT count(*) FROM posts WHERE creator_id = ?", [ERASED]) == 0
    assert count(con, "SELECT count(*) FROM posts WHERE id = 's_kept'") == 1
    assert count(con, "SELECT count(*) FROM raw_index WHERE entity_id LIKE 's_gone%'") == 0
    assert count(con, "SELECT count(*) FROM suppressed_creators") == 1
    assert con.execute("SELECT owner_id FROM media").fetchall() == [("s_kept",)]
    con.close()
    text = _archive_text(captures)
    assert "erase me" not in text and "s_kept" in text
    assert len(list((captures / "media").rglob("*.png"))) == 1  # the erased ones' files went

    assert erase_creators(dbp, [ERASED]).creators == 0  # already erased: nothing to do
    # the same captures again, and a new one: the creator never comes back
    write(
        tmp_path / "in2/2.json",
        page(wrapper("s_gone3", creator=ERASED, text="erase me three"), captured_at=DAY2),
    )
    importer.import_paths(dbp, [tmp_path / "in", tmp_path / "in2"])
    con = db.connect(dbp, read_only=True)
    assert count(con, "SELECT count(*) FROM creators WHERE id = ?", [ERASED]) == 0
    assert count(con, "SELECT count(*) FROM posts WHERE creator_id = ?", [ERASED]) == 0
    assert count(con, "SELECT count(*) FROM post_cameos WHERE creator_id = ?", [ERASED]) == 0
    assert count(con, "SELECT count(*) FROM media") == 1  # their image files found no owner
    con.close()
    assert "erase me" not in _archive_text(captures)


def test_claim_codes_are_matched_in_captured_bios(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    _two_creators(tmp_path, "in", bio="Hi! SoraStats-ABC123 is my code")
    importer.import_paths(dbp, [tmp_path / "in"])
    found = Contributions(
        pending_claims=((KEPT, "sorastats-abc123"), (KEPT, "sorastats-zzz999"),
                        (ERASED, "sorastats-abc123")),
    )  # fmt: skip
    con = db.connect(dbp, read_only=True)
    assert contributions.claim_matches(con, found) == [(KEPT, "sorastats-abc123")]
    assert contributions.claim_matches(con, Contributions()) == []
    con.close()


def test_a_failing_export_stops_the_nightly_before_anything_is_published(
    tmp_path: Path,
) -> None:

    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    cfg = RenderConfig(db=dbp, out=tmp_path / "site", jobs=1, search=False)
    (tmp_path / "bad.json").write_bytes(doc(version=9))
    for spec in (str(tmp_path / "bad.json"), "http://127.0.0.1:9/"):
        plan = nightly.NightlyPlan(
            [], cfg, tmp_path / "reports", contributions=spec, secrets=("t0ken-value",)
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SORASTATS_BUILD_TOKEN", "t0ken-value")
            report = nightly.run_nightly(plan, log=lambda _m: None)
        assert (report.failed_step, report.failure) == ("render", "contributions")
        assert nightly_exit_code(report) == EXIT_RUN_FAILED
        assert not (tmp_path / "site").exists()
        saved = Path(report.report_file).read_text()
        assert "t0ken" not in saved and "contributions" in saved


def test_render_with_a_bad_export_exits_1_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    (tmp_path / "bad.json").write_bytes(b"[1]")
    out = tmp_path / "site"
    argv = ["render", "--db", str(dbp), "--out", str(out), "--contributions"]
    assert main([*argv, str(tmp_path / "bad.json")]) == 1
    assert "contributions" in capsys.readouterr().err and not out.exists()


OTHER = "user-oooooooooooooooooooooooo"


def _copies_elsewhere(folder: Path, captured_at: float = DAY2 - 3600) -> None:
    """Every place a creator's copy sits outside their own posts: a profile listing, a
    cameo in someone else's video, a comment (with its profile) under someone else's
    post, and a comment of theirs as someone else's reply's parent."""
    write(
        folder / "following.json",
        {"items": [profile(OTHER), profile(ERASED), profile(KEPT)], "cursor": None},
    )
    comment = {
        "post": post("c_by_erased", creator=ERASED, text="a reply"),
        "profile": profile(ERASED),
    }
    write(
        folder / "tree.json",
        {
            "post": post("s_tree", creator=KEPT, cameo_profiles=[profile(OTHER), profile(ERASED)]),
            "profile": profile(KEPT),
            "children": {
                "items": [
                    {"post": post("c_by_other", creator=OTHER), "profile": profile(OTHER)},
                    comment,
                ],
                "cursor": None,
            },
            "captured_at": captured_at,
        },
    )


def _assert_archive_and_index_hold_no_trace(dbp: Path) -> None:
    text = _archive_text(default_captures_dir(dbp))
    assert ERASED not in text and "a reply" not in text
    # Everyone else is still there, and every index row still finds its record under
    # its hash (a post that lost a cameo was re-hashed, not dropped from the index).
    for kept in (OTHER, KEPT, "s_tree", "c_by_other"):
        assert kept in text
    con = db.connect(dbp, read_only=True)
    assert raw_rows_found_in_archive(con) > 0
    indexed = {
        (str(kind), str(entity))
        for kind, entity in con.execute("SELECT kind, entity_id FROM raw_index").fetchall()
    }
    assert {("profile", OTHER), ("profile", KEPT), ("post", "s_tree")} <= indexed
    assert not any(ERASED in entity or entity == "c_by_erased" for _, entity in indexed)
    con.close()


def test_erasure_cuts_the_creators_profile_copies_out_of_other_captures(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    _two_creators(tmp_path, "in")
    _copies_elsewhere(tmp_path / "in")
    importer.import_paths(dbp, [tmp_path / "in"])
    before = _archive_text(default_captures_dir(dbp))
    assert before.count(ERASED) >= 5 and "a reply" in before

    result = erase_creators(dbp, [ERASED])
    assert (result.creators, result.posts) == (1, 2)
    assert result.archive_files == 3  # the feed page, the listing and the post tree
    _assert_archive_and_index_hold_no_trace(dbp)
    con = db.connect(dbp, read_only=True)
    assert count(con, "SELECT count(*) FROM post_cameos WHERE post_id = 's_tree'") == 1  # OTHER
    con.close()


def test_captures_imported_after_an_erasure_never_archive_the_creator(tmp_path: Path) -> None:
    dbp = tmp_path / "s.duckdb"
    _two_creators(tmp_path, "in")
    importer.import_paths(dbp, [tmp_path / "in"])
    erase_creators(dbp, [ERASED])
    # New captures, after the erasure, full of the creator's copies.
    _copies_elsewhere(tmp_path / "later")
    write(tmp_path / "later/bare.json", page(wrapper("s_gone4", creator=ERASED)))
    importer.import_paths(dbp, [tmp_path / "later"])
    _assert_archive_and_index_hold_no_trace(dbp)
    con = db.connect(dbp, read_only=True)
    assert count(con, "SELECT count(*) FROM creators WHERE id = ?", [ERASED]) == 0
    assert count(con, "SELECT count(*) FROM creators WHERE id = ?", [OTHER]) == 1
    assert count(con, "SELECT count(*) FROM post_cameos WHERE creator_id = ?", [ERASED]) == 0
    con.close()
