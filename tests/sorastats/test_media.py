"""The media archive (sorastats/media.py) in-process: type sniffing, bounds on files,
storing and replacing, image files in an import, and the purge of a deleted post's or a
banned creator's media. Downloads from a real server are in test_media_download.py (e2e)."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from sorastats import db, media, synth
from sorastats.archive import CaptureArchive
from sorastats.importer import import_paths
from sorastats.run import default_captures_dir

NOW = datetime(2025, 10, 10, 12, 0, 0)


def picture(fmt: str, size: tuple[int, int] = (8, 12)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and header that claim a huge image, in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))


@pytest.mark.parametrize(
    ("fmt", "suffix"),
    [("JPEG", ".jpg"), ("PNG", ".png"), ("GIF", ".gif"), ("WEBP", ".webp"), ("AVIF", ".avif")],
)
def test_each_image_type_is_told_by_its_first_bytes(fmt: str, suffix: str) -> None:
    data = picture(fmt)
    assert media.sniff(data[:32]) == suffix
    assert media.image_size(data) == (suffix, 8, 12)


@pytest.mark.parametrize(
    "data",
    [
        b"<!doctype html><title>Not found</title>",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",  # an MP4 video
        b"%PDF-1.7\n",
        b"",
    ],
)
def test_what_is_not_an_image_is_refused_whatever_its_name(data: bytes) -> None:
    assert media.sniff(data[:32]) is None
    with pytest.raises(media.MediaError, match="not a JPEG, PNG, GIF, WebP or AVIF"):
        media.image_size(data)


def test_a_damaged_image_and_a_huge_claimed_one_are_refused() -> None:
    with pytest.raises(media.MediaError, match="unreadable image"):
        media.image_size(picture("PNG")[:20])  # the signature, then nothing readable
    assert media.image_size(png_claiming(4000, 3000)) == (".png", 4000, 3000)
    # Over Pillow's bomb limit (a warning made an error), and over ours.
    with pytest.raises(media.MediaError, match=r"unreadable image \(DecompressionBomb"):
        media.image_size(png_claiming(100_000, 100_000))
    with pytest.raises(media.MediaError, match="image of 8000x7000 pixels is out of bounds"):
        media.image_size(png_claiming(8000, 7000))


def test_a_file_over_the_size_limit_is_refused() -> None:
    with pytest.raises(media.MediaError, match="larger than 5 MiB"):
        media.image_size(picture("PNG") + b"\0" * media.MAX_BYTES)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/t.webp",
        "http://10.0.0.1/t.webp",
        "http://192.168.1.20/t.webp",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/t.webp",
        "http://[fd00::1]/t.webp",
        "http://0.0.0.0/t.webp",
    ],
)
def test_downloads_never_go_to_this_machine_or_a_private_network(url: str) -> None:
    with media.Downloader() as downloader:
        with pytest.raises(media.MediaError, match="is not a public address") as caught:
            downloader.get(url)
        assert downloader.requests == 0 and not caught.value.retry


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://h.example/a.png", "data:,x", "/a.png"]
)
def test_downloads_take_http_and_https_urls_only(url: str) -> None:
    with media.Downloader() as downloader, pytest.raises(media.MediaError, match="URL refused"):
        downloader.get(url)


def _database(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, CaptureArchive]:
    con = db.connect(tmp_path / "s.duckdb")
    return con, CaptureArchive(default_captures_dir(tmp_path / "s.duckdb"))


def test_store_keeps_one_file_per_content_and_replaces_the_owners_old_one(
    tmp_path: Path,
) -> None:
    con, archive = _database(tmp_path)
    first, second = picture("PNG"), picture("WEBP", (10, 10))
    row = media.store(con, archive, "post", "s_1", first, "https://h.example/t.png", NOW)
    media.store(con, archive, "post", "s_2", first, "a.png", NOW)  # the same content
    assert archive.has_media(row.sha256, ".png")
    assert con.execute("SELECT count(*) FROM media").fetchone() == (2,)
    # s_1 gets a new picture: its old file stays, s_2 still holds that content.
    new = media.store(con, archive, "post", "s_1", second, "b.webp", NOW)
    assert archive.has_media(row.sha256, ".png") and archive.has_media(new.sha256, ".webp")
    assert con.execute(
        "SELECT sha256, width, height FROM media WHERE owner_id = 's_1'"
    ).fetchall() == [(new.sha256, 10, 10)]
    # s_2 too: now nobody holds the PNG, and it goes.
    media.store(con, archive, "post", "s_2", second, "b.webp", NOW)
    assert not archive.has_media(row.sha256, ".png")
    assert con.execute("SELECT count(*) FROM media_purges").fetchone() == (0,)


def test_store_refuses_a_bad_file_and_changes_nothing(tmp_path: Path) -> None:
    con, archive = _database(tmp_path)
    with pytest.raises(media.MediaError):
        media.store(con, archive, "post", "s_1", b"<html>", "x.png", NOW)
    with pytest.raises(ValueError, match="owner_kind"):
        media.store(con, archive, "video", "s_1", picture("PNG"), "x.png", NOW)
    assert con.execute("SELECT count(*) FROM media").fetchone() == (0,)
    assert not (archive.root / "media").exists()


def test_a_banned_creator_or_one_back_to_the_default_picture_loses_it(tmp_path: Path) -> None:
    con, archive = _database(tmp_path)
    for creator in ("user-a", "user-b", "user-c"):
        con.execute(
            "INSERT INTO creators (id, username, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?)",
            [creator, creator, NOW, NOW],
        )
    stored = {
        c: media.store(con, archive, "creator", c, picture("PNG", (9 + n, 9)), "p.png", NOW)
        for n, c in enumerate(("user-a", "user-b", "user-c"))
    }
    con.execute("UPDATE creators SET banned_at = ? WHERE id = 'user-a'", [NOW])
    con.execute("UPDATE creators SET is_default_profile_picture = true WHERE id = 'user-b'")
    con.execute("CREATE TEMP TABLE s_gone (id VARCHAR)")
    media.queue_purge(con)
    assert media.drop_purged(con, archive) == 2
    assert con.execute("SELECT owner_id FROM media").fetchall() == [("user-c",)]
    assert not archive.has_media(stored["user-a"].sha256, ".png")
    assert archive.has_media(stored["user-c"].sha256, ".png")


def test_a_post_that_leaves_loses_its_media_and_shared_content_stays(tmp_path: Path) -> None:
    con, archive = _database(tmp_path)
    shared, own = picture("PNG"), picture("PNG", (5, 5))
    media.store(con, archive, "post", "s_gone", shared, "a.png", NOW)
    mine = media.store(con, archive, "post", "s_gone2", own, "b.png", NOW)
    kept = media.store(con, archive, "post", "s_kept", shared, "c.png", NOW)
    con.execute("CREATE TEMP TABLE s_gone AS SELECT unnest(['s_gone', 's_gone2']) AS id")
    media.queue_purge(con)  # in the ingest's transaction, as `Applier` calls it
    assert media.drop_purged(con, archive) == 1  # after the commit
    assert con.execute("SELECT owner_id FROM media").fetchall() == [("s_kept",)]
    assert archive.has_media(kept.sha256, ".png") and not archive.has_media(mine.sha256, ".png")


def _post_with_image_then_tombstoned(spec: synth.SynthSpec) -> int:
    for i in range(spec.posts):
        tomb = spec.tombstone_day(i)
        if tomb is not None and spec.live_on(i, spec.day_of(i)) and tomb > spec.day_of(i):
            return i
    raise AssertionError("the synthetic set has a post deleted after its first day")


@pytest.mark.e2e  # two whole import runs
def test_import_keeps_image_files_by_id_and_a_deleted_post_loses_its_image(
    tmp_path: Path,
) -> None:
    spec = synth.SynthSpec(posts=60, creators=6, days=6, seed=3)
    out = tmp_path / "captures-in"
    synth.write(spec, out, profile_feeds=False, images=False)
    doomed = _post_with_image_then_tombstoned(spec)
    day = spec.day_of(doomed)
    images = tmp_path / "images"
    images.mkdir()
    (images / f"{spec.post_id(doomed)}.webp").write_bytes(synth.image(3, doomed, 40, 72))
    (images / "s_nobody00000000000000000000000000.png").write_bytes(picture("PNG"))
    (images / f"{spec.creator_id(0)}.png").write_bytes(b"<html>not a picture</html>")
    dbp = tmp_path / "s.duckdb"
    # The days up to the post's first: it is live, and its image goes in with it.
    first = import_paths(dbp, [out / f"day-{d + 1:02d}" for d in range(day + 1)] + [images])
    assert first.ok, first.errors
    texts = " | ".join(first.warnings)
    assert "1 image file(s) kept, 1 refused, 1 named by no known post or creator" in texts
    assert f"{spec.creator_id(0)}.png: not a JPEG" in texts
    con = duckdb.connect(str(dbp), read_only=True)
    rows = con.execute("SELECT owner_kind, owner_id, sha256, suffix FROM media").fetchall()
    con.close()
    assert [(k, o) for k, o, _, _ in rows] == [("post", spec.post_id(doomed))]
    archive = CaptureArchive(default_captures_dir(dbp))
    assert archive.has_media(rows[0][2], ".webp")
    # The rest: the post is deleted, and its image leaves the table and the archive.
    assert import_paths(dbp, [out]).ok
    con = duckdb.connect(str(dbp), read_only=True)
    assert con.execute("SELECT count(*) FROM media").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM media_purges").fetchone() == (0,)
    con.close()
    assert not archive.has_media(rows[0][2], ".webp")
