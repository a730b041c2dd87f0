"""The open data (docs/data.md): the Parquet files under /data/ read back with DuckDB hold
exactly the public rows of the ingest tables; a hidden, erased, banned or deleted creator
or post is in none of them; a file is rewritten only when its rows changed, and the same
rows always give the same bytes; the /data/ page shows the declared schema."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sorastats import db
from sorastats.contributions import NONE, Contributions
from sorastats.site import opendata
from sorastats.site.builder import RenderReport, render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.html import load, visible_text

ALICE = "user-alice0000000000000000000"
BOB = "user-bob000000000000000000000"
CAROL = "user-carol00000000000000000000"
DAVE = "user-dave0000000000000000000"  # banned by Sora
TOMBSTONED = sitedata.pid(7)  # one of alice's, deleted on Sora
HIDDEN_POST = sitedata.pid(105)  # one of alice's, hidden at her request


def build(dbp: Path, out: Path, found: Contributions = NONE) -> RenderReport:
    cfg = RenderConfig(
        db=dbp, out=out, base_url="https://s.example", jobs=1, search=False, contributions=found
    )
    return render_site(cfg, log=lambda _m: None)


def read(site: Path, name: str) -> list[dict[str, Any]]:
    con = duckdb.connect()
    cur = con.execute(f"SELECT * FROM read_parquet('{site / 'data' / name}.parquet')")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def raw(dbp: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(dbp), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("opendata")
    dbp = sitedata.hand_made(tmp / "h.duckdb")
    assert build(dbp, tmp / "site").published
    return dbp, tmp / "site"


pytestmark = pytest.mark.e2e  # whole builds


def test_files_hold_the_public_rows_of_the_tables(site: tuple[Path, Path]) -> None:
    dbp, out = site
    creators = {r["id"]: r for r in read(out, "creators")}
    expected = raw(
        dbp,
        "SELECT id, username, display_name, bio, follower_count, likes_received_count, "
        "cameo_count, created_at FROM creators ORDER BY id",
    )
    assert sorted(creators) == [r[0] for r in expected]
    for cid, username, display, bio, followers, likes, cameos, created in expected:
        row = creators[cid]
        assert (row["username"], row["display_name"], row["bio"]) == (username, display, bio)
        assert (row["follower_count"], row["likes_received_count"]) == (followers, likes)
        assert (row["cameo_count"], row["created_at"]) == (cameos, created)
        assert (out / row["page"].strip("/") / "index.html").is_file()
    # Gains from the snapshots: 1,000 now, 990 a day ago, 900 a week ago, 600 a month ago.
    alice = creators[ALICE]
    assert (alice["followers_1d"], alice["followers_7d"], alice["followers_30d"]) == (10, 100, 400)
    assert alice["videos"] == 32 and creators[CAROL]["followers_7d"] is None

    posts = {r["id"]: r for r in read(out, "posts")}
    expected_posts = raw(
        dbp,
        "SELECT id, creator_id, nullif(trim(text), ''), posted_at, view_count, like_count, "
        "remix_count, width, height, parent_post_id FROM posts ORDER BY id",
    )
    assert sorted(posts) == [r[0] for r in expected_posts]
    for pid, cid, prompt, posted, views, likes, remixes, w, h, parent in expected_posts:
        row = posts[pid]
        assert (row["creator_id"], row["prompt"], row["posted_at"]) == (cid, prompt, posted)
        assert (row["view_count"], row["like_count"], row["remix_count"]) == (views, likes, remixes)
        assert (row["width"], row["height"], row["parent_post_id"]) == (w, h, parent)
        assert row["has_prompt"] is (prompt is not None)
        assert row["orientation"] == (None if w is None or h is None else "portrait" if w < h else
                                      "landscape" if w > h else "square")  # fmt: skip
        assert (out / row["page"].strip("/") / "index.html").is_file()
    assert posts[sitedata.pid(100)]["prompt"] == sitedata.HOSTILE_PROMPT  # kept as it is
    assert posts[sitedata.pid(3)]["views_7d"] == 50  # 103 now, 53 a week ago

    day = sitedata.DAY
    daily = {(r["post_id"], r["day"]): r for r in read(out, "post_daily")}
    snaps = raw(
        dbp,
        "SELECT post_id, captured_on, view_count, like_count, remix_count FROM post_snapshots "
        f"WHERE captured_on > DATE '{day}' - 31",
    )
    assert sorted(daily) == sorted((p, d) for p, d, *_ in snaps)
    for p, d, views, likes, remixes in snaps:
        r = daily[(p, d)]
        assert (r["view_count"], r["like_count"], r["remix_count"]) == (views, likes, remixes)
    cdaily = {(r["creator_id"], r["day"]): r["follower_count"] for r in read(out, "creator_daily")}
    csnaps = raw(dbp, "SELECT creator_id, captured_on, follower_count FROM creator_snapshots")
    assert {k: v for k, v in cdaily.items() if v is not None} == {(c, d): f for c, d, f in csnaps}
    assert cdaily[(ALICE, day - timedelta(days=7))] == 900


def test_files_follow_the_declaration(site: tuple[Path, Path]) -> None:
    _, out = site
    con = duckdb.connect()
    for ds in opendata.DATASETS:
        path = out / ds.rel
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        assert [(r[0], r[1]) for r in described] == [(c.name, c.type) for c in ds.columns]
        # Written in the declared order (the first sort key decides row-group skipping).
        key = ds.order.split(",")[0].split()[0]
        desc = "DESC" in ds.order.split(",")[0]
        values = [r[0] for r in con.execute(f"SELECT {key} FROM read_parquet('{path}')").fetchall()]
        known = [v for v in values if v is not None]
        assert known == sorted(known, reverse=desc)
        assert values[len(known) :] == [None] * (len(values) - len(known))  # nulls last
        meta = con.execute(
            f"SELECT DISTINCT compression FROM parquet_metadata('{path}')"
        ).fetchall()
        assert {r[0] for r in meta} <= {"ZSTD", "UNCOMPRESSED"}


def _text_of_every_file(out: Path) -> dict[str, str]:
    """Each Parquet file's rows as JSON text (every column, every row)."""
    con = duckdb.connect()
    return {
        ds.name: " ".join(
            r[0]
            for r in con.execute(
                f"SELECT CAST(to_json(t) AS VARCHAR) FROM read_parquet('{out / ds.rel}') t"
            ).fetchall()
        )
        for ds in opendata.DATASETS
    }


def test_hidden_erased_banned_and_deleted_never_appear(tmp_path: Path) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    con = db.connect(dbp)
    sitedata.add_creator(con, DAVE, "dave_banned", follower_count=77)
    sitedata.creator_snapshot(con, DAVE, sitedata.DAY, follower_count=77)
    sitedata.add_post(con, sitedata.pid(200), DAVE, "Dave's banned video", view_count=9)
    sitedata.post_snapshot(con, sitedata.pid(200), sitedata.DAY, view_count=9)
    con.execute("UPDATE creators SET banned_at = now() WHERE id = ?", [DAVE])
    con.execute("INSERT INTO tombstones VALUES (?, now())", [TOMBSTONED])
    con.close()
    decided = Contributions(
        hidden_creators=(BOB,), hidden_posts=(HIDDEN_POST,), erased_creators=(CAROL,)
    )
    out = tmp_path / "site"
    assert build(dbp, out, decided).published
    # Who must not be named: their ids, names and every post of theirs.
    marks = [BOB, "old_bob", '"bob"', CAROL, '"carol"', DAVE, "dave_banned", TOMBSTONED,
             HIDDEN_POST, *(sitedata.pid(n) for n in (101, 102, 103, 104, 200))]  # fmt: skip
    found = {
        name: [m for m in marks if m in text] for name, text in _text_of_every_file(out).items()
    }
    assert found == {ds.name: [] for ds in opendata.DATASETS}
    assert {r["id"] for r in read(out, "creators")} == {ALICE}
    posts = {r["id"] for r in read(out, "posts")}
    assert sitedata.pid(1) in posts and len(posts) == 32 - 2  # alice's, less two
    assert {r["post_id"] for r in read(out, "post_daily")} <= posts
    # Shown again (the decisions withdrawn): back in the files, which were rewritten.
    assert build(dbp, out).published
    assert {r["id"] for r in read(out, "creators")} == {ALICE, BOB, CAROL}
    assert HIDDEN_POST in {r["id"] for r in read(out, "posts")}
    assert TOMBSTONED not in {r["id"] for r in read(out, "posts")}  # deleted stays deleted


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    return {
        ds.name: ((out / ds.rel).stat().st_ino, (out / ds.rel).read_bytes())
        for ds in opendata.DATASETS
    }


def test_rewritten_only_when_changed_and_the_same_rows_give_the_same_bytes(
    tmp_path: Path,
) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    build(dbp, out)
    first = _files(out)
    again = build(dbp, out)
    assert again.written == 0 and not again.published  # nothing changed: no file touched
    assert _files(out) == first
    con = db.connect(dbp)
    con.execute("UPDATE creators SET bio = 'A new bio' WHERE id = ?", [ALICE])
    con.close()
    changed = build(dbp, out)
    assert changed.published
    now = _files(out)
    assert now["creators"][0] != first["creators"][0]  # a new file
    assert now["creators"][1] != first["creators"][1]
    for name in ("posts", "post_daily", "creator_daily"):
        assert now[name] == first[name], name  # the same file, linked from the last build
    # The same rows built from scratch elsewhere: byte for byte the same files.
    fresh = tmp_path / "fresh"
    build(dbp, fresh)
    assert {k: v[1] for k, v in _files(fresh).items()} == {k: v[1] for k, v in now.items()}


def test_the_data_page_shows_schema_date_licence_and_examples(site: tuple[Path, Path]) -> None:
    _, out = site
    page = load(out / "data" / "index.html")
    text = " ".join(visible_text(page).split())
    assert "Data as of Oct 30, 2025" in text
    assert opendata.LICENCE in text
    for ds in opendata.DATASETS:
        assert f"https://s.example/{ds.rel}" in text or f"/{ds.rel}" in text
        for column in ds.columns:
            assert re.search(rf"\b{column.name}\b {re.escape(column.type)}\b", text), column
    for example in ("duckdb -c", "pd.read_parquet", "pl.scan_parquet"):
        assert example in text
    assert "https://s.example/data/creators.parquet" in text


def test_the_declaration_is_safe_to_quote_and_screen() -> None:
    """Names the screener quotes are plain identifiers; every filter kind is one it knows."""
    kinds = {"", "num", "date", "text", "bool"}
    for ds in opendata.DATASETS:
        names = [c.name for c in ds.columns]
        assert len(names) == len(set(names))
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)
        for c in ds.columns:
            assert c.screen in kinds or re.fullmatch(r"enum:[a-z]+(\|[a-z]+)*", c.screen), c
    assert {ds.name for ds in opendata.DATASETS if ds.screener} == {"creators", "posts"}
