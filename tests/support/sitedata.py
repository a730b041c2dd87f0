"""Test data for the site, written straight into a DuckDB file per sorastats/schema.py:
a small hand-made set with hostile text, and a fast SQL synthesizer for bigger sets."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Hashable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from sorastats import db

DAY = date(2025, 10, 30)  # the data day of the hand-made set
NOW = datetime(2025, 10, 30, 12, 0, 0)

HOSTILE_PROMPT = (
    '<script>alert("x")</script> <img src=x onerror=alert(1)> javascript:alert(2) '
    "&amp; \u202eRTL override\u202c שלום עולם zero\u200bwidth 🎬🔥 " + "A" * 3000
)


# The snapshot tables have no primary key (schema migration 2): replace by hand.
_SNAPSHOT_KEYS = {
    "creator_snapshots": "creator_id",
    "post_snapshots": "post_id",
    "creator_profile_snapshots": "creator_id",
}


def _insert(con: duckdb.DuckDBPyConnection, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    if key := _SNAPSHOT_KEYS.get(table):
        con.execute(
            f"DELETE FROM {table} WHERE {key} = ? AND captured_on = ?",
            [row[key], row["captured_on"]],
        )
        con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))
        return
    con.execute(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def add_creator(con: duckdb.DuckDBPyConnection, cid: str, username: str, **fields: Any) -> None:
    row = {
        "id": cid,
        "username": username,
        "first_seen_at": NOW - timedelta(days=40),
        "last_seen_at": NOW,
        **fields,
    }
    _insert(con, "creators", row)
    _insert(
        con,
        "creator_usernames",
        {"creator_id": cid, "username": username, "first_seen_at": NOW, "last_seen_at": NOW},
    )


def rename_creator(con: duckdb.DuckDBPyConnection, cid: str, new_username: str) -> None:
    con.execute(
        "UPDATE creator_usernames SET last_seen_at = ? WHERE creator_id = ?",
        [NOW - timedelta(days=1), cid],
    )
    con.execute("UPDATE creators SET username = ? WHERE id = ?", [new_username, cid])
    _insert(
        con,
        "creator_usernames",
        {"creator_id": cid, "username": new_username, "first_seen_at": NOW, "last_seen_at": NOW},
    )


def add_post(
    con: duckdb.DuckDBPyConnection, pid: str, creator_id: str, text: str | None, **fields: Any
) -> None:
    row = {
        "id": pid,
        "creator_id": creator_id,
        "text": text,
        "posted_at": NOW - timedelta(days=20),
        "first_seen_at": NOW - timedelta(days=20),
        "last_seen_at": NOW,
        **fields,
    }
    _insert(con, "posts", row)


def creator_snapshot(con: duckdb.DuckDBPyConnection, cid: str, day: date, **counters: Any) -> None:
    _insert(
        con,
        "creator_snapshots",
        {
            "creator_id": cid,
            "captured_on": day,
            "captured_at": datetime.combine(day, NOW.time()),
            **counters,
        },
    )


def profile_snapshot(
    con: duckdb.DuckDBPyConnection,
    cid: str,
    day: date,
    username: str,
    display_name: str | None = None,
    bio: str | None = None,
) -> None:
    """The profile's text as captured on `day` (creator_profile_snapshots)."""
    _insert(
        con,
        "creator_profile_snapshots",
        {
            "creator_id": cid,
            "captured_on": day,
            "captured_at": datetime.combine(day, NOW.time()),
            "username": username,
            "display_name": display_name,
            "bio": bio,
        },
    )


def post_snapshot(con: duckdb.DuckDBPyConnection, pid: str, day: date, **counters: Any) -> None:
    _insert(
        con,
        "post_snapshots",
        {
            "post_id": pid,
            "captured_on": day,
            "captured_at": datetime.combine(day, NOW.time()),
            **counters,
        },
    )


def pid(n: int) -> str:
    return f"s_{n:032x}"


# Each data set is made once per test process and copied for every test that asks for it
# (making one runs the schema's migrations and many inserts: about 0.8 s; a copy is free).
_MADE: dict[Hashable, Path] = {}
_MADE_IN = Path(tempfile.mkdtemp(prefix="sorastats-sitedata-"))
atexit.register(shutil.rmtree, _MADE_IN, True)


def _copy_of(key: Hashable, path: Path, make: Callable[[Path], Path]) -> Path:
    made = _MADE.get(key)
    if made is None or not made.exists():
        made = _MADE[key] = make(_MADE_IN / f"{len(_MADE)}.duckdb")
    shutil.copyfile(made, path)
    wal = made.with_name(made.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, path.with_name(path.name + ".wal"))
    return path


def hand_made(path: Path) -> Path:
    """A small set with known numbers (made once per process, then copied):

    - alice: 1,000 followers now, 900 seven days ago (gain +100), 600 thirty days ago; 30
      posts (two pages of videos), one with a hostile prompt.
    - bob (renamed from old_bob), hostile display name and bio; NULL optional fields.
    - a post with an empty prompt, a remix, two posts with the same prompt.
    """
    return _copy_of("hand_made", path, _make_hand_made)


def _make_hand_made(path: Path) -> Path:
    con = db.connect(path)
    add_creator(
        con, "user-alice0000000000000000000", "alice", display_name="Alice 🎥",
        bio="Makes short films.", verified=True, follower_count=1000, following_count=10,
        likes_received_count=5000, post_count=30, cameo_count=3,
        permalink="https://sora.chatgpt.com/profile/alice", created_at=NOW - timedelta(days=300),
    )  # fmt: skip
    history = ((30, 600, 3000), (7, 900, 4500), (1, 990, 4900), (0, 1000, 5000))
    for ago, followers, likes in history:
        day = DAY - timedelta(days=ago)
        creator_snapshot(con, "user-alice0000000000000000000", day, follower_count=followers,
                         likes_received_count=likes)  # fmt: skip
    add_creator(
        con, "user-bob000000000000000000000", "old_bob",
        display_name='<script>alert("bob")</script>\u202eevil',
        bio="javascript:alert(1) " + "B" * 500, follower_count=5,
        permalink="javascript:alert(document.cookie)",
    )  # fmt: skip
    rename_creator(con, "user-bob000000000000000000000", "bob")
    # bob's profile history: renamed from old_bob 3 days ago, the hostile display name
    # and bio set 2 days ago; alice's profile never changed (no history shown).
    bob, bob_name = "user-bob000000000000000000000", '<script>alert("bob")</script>\u202eevil'
    bob_bio = "javascript:alert(1) " + "B" * 500
    profile_snapshot(con, bob, DAY - timedelta(days=5), "old_bob", "Bob", "<b>old</b> bio")
    profile_snapshot(con, bob, DAY - timedelta(days=3), "bob", "Bob", "<b>old</b> bio")
    profile_snapshot(con, bob, DAY - timedelta(days=2), "bob", bob_name, bob_bio)
    profile_snapshot(con, bob, DAY, "bob", bob_name, bob_bio)
    for ago in (5, 0):
        profile_snapshot(con, "user-alice0000000000000000000", DAY - timedelta(days=ago),
                         "alice", "Alice 🎥", "Makes short films.")  # fmt: skip
    add_creator(con, "user-carol00000000000000000000", "carol")  # every optional field NULL

    for n in range(30):
        add_post(
            con, pid(n), "user-alice0000000000000000000", f"A calm lake at dawn, take {n}",
            posted_at=NOW - timedelta(days=25, hours=-n), view_count=100 + n, like_count=10 + n,
            remix_count=0, preview_image_url=f"https://ogimg.chatgpt.com/?postId={pid(n)}",
            permalink=f"https://sora.chatgpt.com/p/{pid(n)}", width=352, height=640, n_frames=300,
        )  # fmt: skip
        post_snapshot(con, pid(n), DAY - timedelta(days=7), view_count=50 + n, like_count=5)
        post_snapshot(con, pid(n), DAY, view_count=100 + n, like_count=10 + n)
    add_post(con, pid(100), "user-alice0000000000000000000", HOSTILE_PROMPT, view_count=7,
             preview_image_url="javascript:alert(3)")  # fmt: skip
    add_post(con, pid(101), "user-bob000000000000000000000", "", view_count=1)
    add_post(con, pid(102), "user-bob000000000000000000000", "Neon koi swimming through clouds",
             parent_post_id=pid(0), view_count=50)  # fmt: skip
    add_post(con, pid(103), "user-carol00000000000000000000", "Neon koi swimming through clouds")
    add_post(
        con,
        pid(104),
        "user-carol00000000000000000000",
        "Glacier calving in slow motion, golden hour",
    )
    add_post(
        con, pid(105), "user-alice0000000000000000000", "Glacier melting in slow motion at night"
    )
    _insert(
        con, "post_cameos", {"post_id": pid(102), "creator_id": "user-alice0000000000000000000"}
    )
    con.close()
    return path


def synth(path: Path, posts: int, creators: int, days: int = 31, seed: int = 7) -> Path:
    """A synthetic set of `posts` posts by `creators` creators with `days` daily snapshots,
    generated in SQL (100k posts take seconds; made once per process, then copied)."""
    if posts > 20_000:  # a benchmark's set: made where asked, not kept twice
        return _make_synth(path, posts, creators, days, seed)
    key = ("synth", posts, creators, days, seed)
    return _copy_of(key, path, lambda made: _make_synth(made, posts, creators, days, seed))


def _make_synth(path: Path, posts: int, creators: int, days: int, seed: int) -> Path:
    con = db.connect(path)
    con.execute(f"SELECT setseed({(seed % 100) / 100})")
    day0 = DAY - timedelta(days=days - 1)
    words = (
        "lake dawn neon koi glacier city rain robot cat dog forest desert storm night ocean "
        "violin dancer castle dragon sunset"
    )
    pick = f"string_split('{words}', ' ')[1 + ((i * 131 + k * 17 + k * k * i) % 20)::INT]"
    con.execute(
        f"""INSERT INTO creators (id, username, display_name, bio, verified, follower_count,
               following_count, post_count, likes_received_count, cameo_count, created_at,
               first_seen_at, last_seen_at, permalink)
            SELECT 'user-' || lpad(i::VARCHAR, 24, '0'), 'creator_' || i, 'Creator ' || i,
                   CASE WHEN i % 3 = 0 THEN 'Bio of creator ' || i END, i % 50 = 0,
                   (i * 7919) % 100000, i % 300, 5, (i * 104729) % 1000000, (i * 31) % 1000,
                   TIMESTAMP '2025-01-01' + INTERVAL (i % 300) DAY,
                   TIMESTAMP '{day0}', TIMESTAMP '{DAY} 12:00:00',
                   'https://sora.chatgpt.com/profile/creator_' || i
            FROM range({creators}) t(i)"""
    )
    con.execute(
        """INSERT INTO creator_usernames
           SELECT id, username, first_seen_at, last_seen_at FROM creators"""
    )
    con.execute(
        f"""INSERT INTO posts (id, creator_id, text, posted_at, width, height, n_frames,
               view_count, like_count, remix_count, reply_count, parent_post_id,
               preview_image_url, permalink, first_seen_at, last_seen_at)
            SELECT 's_' || lpad(printf('%x', i), 32, '0'),
                   'user-' || lpad((i % {creators})::VARCHAR, 24, '0'),
                   CASE WHEN i % 10 = 9 THEN NULL ELSE
                     list_aggregate(list_transform(range(12), lambda k: {pick}), 'string_agg', ' ')
                     || ' scene ' || (i % 997) END,
                   TIMESTAMP '{day0}' + INTERVAL (i % ({days} * 24)) HOUR, 352, 640, 300,
                   (i * 7) % 200000, (i * 3) % 2000, i % 271, i % 20,
                   CASE WHEN i % 7 = 0 AND i > 0
                        THEN 's_' || lpad(printf('%x', i - 1), 32, '0') END,
                   'https://ogimg.chatgpt.com/?postId=s_' || lpad(printf('%x', i), 32, '0'),
                   'https://sora.chatgpt.com/p/s_' || lpad(printf('%x', i), 32, '0'),
                   TIMESTAMP '{day0}', TIMESTAMP '{DAY} 12:00:00'
            FROM range({posts}) t(i)"""
    )
    con.execute(
        f"""INSERT INTO creator_snapshots (creator_id, captured_on, captured_at, follower_count,
               likes_received_count, cameo_count)
            SELECT c.id, DATE '{day0}' + d::INTEGER, TIMESTAMP '{day0}' + INTERVAL (d) DAY,
                   greatest(0, c.follower_count - ({days} - 1 - d) * (hash(c.id) % 50)),
                   greatest(0, c.likes_received_count - ({days} - 1 - d) * (hash(c.id) % 400)),
                   c.cameo_count
            FROM creators c, range({days}) t(d)"""
    )
    con.execute(
        f"""INSERT INTO post_snapshots (post_id, captured_on, captured_at, view_count, like_count,
               remix_count)
            SELECT p.id, DATE '{day0}' + d::INTEGER, TIMESTAMP '{day0}' + INTERVAL (d) DAY,
                   greatest(0, p.view_count - ({days} - 1 - d) * (hash(p.id) % 500)),
                   greatest(0, p.like_count - ({days} - 1 - d) * (hash(p.id) % 5)),
                   greatest(0, p.remix_count - ({days} - 1 - d))
            FROM posts p, range({days}) t(d)
            WHERE CAST(p.posted_at AS DATE) <= DATE '{day0}' + d::INTEGER"""
    )
    # Profile text every day, as the ingest keeps it; one creator in 20 was renamed and
    # one in 30 changed their bio halfway (the creator pages' profile history).
    con.execute(
        f"""INSERT INTO creator_profile_snapshots
            SELECT c.id, DATE '{day0}' + d::INTEGER, TIMESTAMP '{day0}' + INTERVAL (d) DAY,
                   CASE WHEN i % 20 = 0 AND d < {days} // 2 THEN 'old_' || c.username
                        ELSE c.username END,
                   c.display_name,
                   CASE WHEN i % 30 = 0 AND d < {days} // 2 THEN 'An older bio' ELSE c.bio END
            FROM (SELECT *, CAST(substr(id, 6) AS BIGINT) AS i FROM creators) c,
                 range({days}) t(d)"""
    )
    con.close()
    return path


def add_images(path: Path, every: int = 8, width: int = 160, seed: int = 7) -> int:
    """Give one post in `every` a thumbnail and one creator in `every` a picture: small
    distinct WebP files (sorastats.synth.image) in the database's capture archive, with
    their `media` rows, as an import of image files leaves them. Returns how many."""
    from sorastats import synth as capture_synth
    from sorastats.archive import CaptureArchive
    from sorastats.run import default_captures_dir

    con = db.connect(path)
    archive = CaptureArchive(default_captures_dir(path))
    owners = con.execute(
        f"""SELECT 'post', id, width, height FROM posts WHERE hash(id) % {every} = 0
            UNION ALL
            SELECT 'creator', id, 1, 1 FROM creators WHERE hash(id) % {every} = 1
            ORDER BY 1, 2"""
    ).fetchall()
    rows: list[list[Any]] = [[] for _ in range(6)]
    for n, (kind, owner, w, h) in enumerate(owners):
        size = (width, round(width * h / w)) if w and h else (width, width)
        data = capture_synth.image(seed, n, *size)
        stored = archive.put_media(data, ".webp")
        for column, value in zip(rows, (kind, owner, stored.key, size[0], size[1], len(data))):
            column.append(value)
    archive.sync()
    con.execute(
        """INSERT INTO media SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                  unnest(?::VARCHAR[]), '.webp', unnest(?::INTEGER[]), unnest(?::INTEGER[]),
                  unnest(?::BIGINT[]), 'synthetic', TIMESTAMP '2025-10-30 12:00:00'""",
        rows,
    )
    con.close()
    return len(owners)


def touch_posts(path: Path, fraction: float) -> int:
    """Change the view counter of a fraction of posts (a '1% change' rebuild)."""
    con = db.connect(path)
    step = max(1, round(1 / fraction))
    con.execute(f"UPDATE posts SET view_count = view_count + 1 WHERE hash(id) % {step} = 0")
    row = con.execute(f"SELECT count(*) FROM posts WHERE hash(id) % {step} = 0").fetchone()
    con.close()
    return int(row[0]) if row else 0


def broken_link_templates(tmp_path: Path) -> Path:
    """The real templates with a broken link on every page (a bad template change): a
    site built with them fails `check_site`."""
    from sorastats.files import site_file

    templates = tmp_path / "templates-broken"
    shutil.copytree(site_file("templates"), templates)
    base = templates / "base.html"
    text = base.read_text()
    assert '<a class="skip" href="#main">' in text
    base.write_text(text.replace('<a class="skip" href="#main">', '<a href="/no-such-page/">'))
    return templates
