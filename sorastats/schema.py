"""The ingest database's schema: the contract between the ingest job and the renderer.

Tables and columns named here are relied on by the renderer (`sorastats.site`) and the
accounts API's read-only stats export. Add columns with a new migration; never rename or
drop one without a migration that the readers are updated for.

Times are stored as UTC `TIMESTAMP` (naive, always UTC). Counters are `BIGINT`, NULL when
the source did not carry them (older versions lack `share_count`, for example).
"""

from __future__ import annotations

# Counters carried by a post (`item.post`). `share_count`/`repost_count` came later.
POST_COUNTERS: tuple[str, ...] = (
    "like_count",
    "dislike_count",
    "view_count",
    "unique_view_count",
    "remix_count",
    "reply_count",
    "recursive_reply_count",
    "share_count",
    "repost_count",
)

# Counters carried by a profile (`item.profile`). `character_count` came later.
CREATOR_COUNTERS: tuple[str, ...] = (
    "follower_count",
    "following_count",
    "post_count",
    "reply_count",
    "likes_received_count",
    "remix_count",
    "cameo_count",
    "character_count",
)


def _counter_columns(names: tuple[str, ...]) -> str:
    return ",\n    ".join(f"{name} BIGINT" for name in names)


def _snapshot_columns(key: str, counters: tuple[str, ...]) -> str:
    return f"""
    {key} TEXT NOT NULL,  -- ({key}, captured_on) unique: kept so by the ingest
    captured_on DATE NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    {_counter_columns(counters)}"""


def _without_key(table: str, columns: str, names: tuple[str, ...]) -> str:
    """SQL that rebuilds `table` with `columns` and no primary key, keeping its rows
    (DuckDB cannot drop a key in place)."""
    listed = ", ".join(names)
    return f"""
CREATE TABLE {table}_v2 ({columns}
);
INSERT INTO {table}_v2 SELECT {listed} FROM {table};
DROP TABLE {table};
ALTER TABLE {table}_v2 RENAME TO {table};
"""


# Each migration moves the database from version N-1 to N. They run in order, in one
# transaction each, on open; `meta.schema_version` records where a database stands.
MIGRATIONS: tuple[str, ...] = (
    # 1: the first release's tables.
    f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per creator (profile), keyed by the stable user_id.
CREATE TABLE creators (
    id TEXT PRIMARY KEY,                 -- profile.user_id ('user-...' or 'ch_...')
    username TEXT NOT NULL,              -- current username; past ones in creator_usernames
    display_name TEXT,
    bio TEXT,                            -- profile.description
    verified BOOLEAN,
    is_public_figure BOOLEAN,
    can_cameo BOOLEAN,
    is_default_profile_picture BOOLEAN,
    profile_picture_url TEXT,            -- signed; expires at profile_picture_expires_at
    profile_picture_expires_at TIMESTAMP,
    permalink TEXT,
    {_counter_columns(CREATOR_COUNTERS)},
    created_at TIMESTAMP,
    updated_at TIMESTAMP,
    banned_at TIMESTAMP,
    first_seen_at TIMESTAMP NOT NULL,    -- capture time we first saw the profile
    last_seen_at TIMESTAMP NOT NULL      -- capture time of the newest profile we stored
);

-- Every username a creator has been seen with, so renamed creators can be redirected.
CREATE TABLE creator_usernames (
    creator_id TEXT NOT NULL,
    username TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (creator_id, username)
);

-- Exactly the public, non-deleted video posts that may appear on the site.
CREATE TABLE posts (
    id TEXT PRIMARY KEY,                 -- 's_' + 32 hex
    creator_id TEXT NOT NULL,            -- post.shared_by
    text TEXT,                           -- the caption as posted: the prompt the site shows
    posted_at TIMESTAMP,
    updated_at TIMESTAMP,
    width INTEGER,
    height INTEGER,
    duration_s DOUBLE,                   -- from duration_s, or n_frames / 30
    n_frames INTEGER,
    {_counter_columns(POST_COUNTERS)},
    parent_post_id TEXT,                 -- remix parent (may not be in posts)
    root_post_id TEXT,
    preview_image_url TEXT,              -- stable OG image link
    permalink TEXT,
    emoji TEXT,
    thumbnail_url TEXT,                  -- signed; expires at media_expires_at
    video_url TEXT,                      -- signed md/source encoding
    media_expires_at TIMESTAMP,
    generation_id TEXT,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);

-- People cast into a post (post.cameo_profiles).
CREATE TABLE post_cameos (
    post_id TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    PRIMARY KEY (post_id, creator_id)
);

-- One row per creator per capture day; a second capture that day updates the row.
CREATE TABLE creator_snapshots (
    creator_id TEXT NOT NULL,
    captured_on DATE NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    {_counter_columns(CREATOR_COUNTERS)},
    PRIMARY KEY (creator_id, captured_on)
);

-- One row per post per capture day; a second capture that day updates the row.
CREATE TABLE post_snapshots (
    post_id TEXT NOT NULL,
    captured_on DATE NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    {_counter_columns(POST_COUNTERS)},
    PRIMARY KEY (post_id, captured_on)
);

-- Posts that must never (re)appear: tombstoned ones are purged everywhere but here.
CREATE TABLE tombstones (
    post_id TEXT PRIMARY KEY,
    deleted_at TIMESTAMP NOT NULL
);

-- Every ingested wrapper, as received, so tables can be re-derived. Deduplicated by
-- content hash: ingesting the same wrapper twice stores it once.
CREATE TABLE raw (
    sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                  -- 'post' ({{post, profile}} wrapper), 'comment'
                                         -- (a reply's wrapper) or 'profile' (bare profile)
    entity_id TEXT,                      -- post id or user_id
    source TEXT NOT NULL,                -- URL or file path it came from
    run_id BIGINT NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    json TEXT NOT NULL
);

CREATE SEQUENCE runs_id_seq START 1;

CREATE TABLE runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('runs_id_seq'),
    command TEXT NOT NULL,               -- 'fetch' or 'import'
    source TEXT NOT NULL,                -- base URL (never the token) or paths
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    status TEXT NOT NULL,                -- 'running', 'ok', 'failed', 'interrupted'
    message TEXT,
    pages BIGINT NOT NULL DEFAULT 0,
    items BIGINT NOT NULL DEFAULT 0,
    new_posts BIGINT NOT NULL DEFAULT 0,
    updated_posts BIGINT NOT NULL DEFAULT 0,
    new_creators BIGINT NOT NULL DEFAULT 0,
    updated_creators BIGINT NOT NULL DEFAULT 0,
    snapshots BIGINT NOT NULL DEFAULT 0,
    removed_posts BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0,
    checkpoint TEXT                      -- JSON: where a resumed run starts again
);

-- Records that could not be ingested, with where they came from and why.
CREATE SEQUENCE quarantine_id_seq START 1;

CREATE TABLE quarantine (
    id BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id_seq'),
    run_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    record TEXT NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    entity_id TEXT,                      -- post id or user_id when the record had one
    sha256 TEXT UNIQUE                   -- of reason + record: the same bad record is kept once
);
""",
    # 2: the history tables (`raw` and the snapshots) lose their primary keys. DuckDB
    # holds a key's whole index in memory once a batch touches it, and these tables
    # grow by every capture: at 1,000,000 posts their indexes outgrew the ingest's
    # memory cap. The ingest keeps their keys unique itself (see sorastats.ingest).
    _without_key(
        "raw",
        """
    sha256 TEXT NOT NULL,                -- unique: checked by the ingest, not an index
    kind TEXT NOT NULL,
    entity_id TEXT,
    source TEXT NOT NULL,
    run_id BIGINT NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    json TEXT NOT NULL""",
        ("sha256", "kind", "entity_id", "source", "run_id", "captured_at", "json"),
    )
    + _without_key(
        "creator_snapshots",
        _snapshot_columns("creator_id", CREATOR_COUNTERS),
        ("creator_id", "captured_on", "captured_at", *CREATOR_COUNTERS),
    )
    + _without_key(
        "post_snapshots",
        _snapshot_columns("post_id", POST_COUNTERS),
        ("post_id", "captured_on", "captured_at", *POST_COUNTERS),
    ),
)

# 3: the capture archive's index (sorastats.archive). Every captured document is kept
# once as a compressed file named by its content's hash; `captures` says where each came
# from, and `capture_posts` which posts each holds, so a purge finds the files to rewrite.
# No primary keys, for the reason of migration 2: the ingest keeps them unique.
MIGRATIONS += (
    """
CREATE TABLE captures (
    sha256 TEXT NOT NULL,                -- the archive file: SHA-256 of what it keeps
    input_sha256 TEXT NOT NULL,          -- unique: of the bytes as read or received; a
                                         -- re-import of the same file skips it at once
    source TEXT NOT NULL,                -- URL or file path it came from
    run_id BIGINT NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    documents BIGINT NOT NULL,           -- JSON documents kept (a JSONL file: its lines)
    bytes BIGINT NOT NULL,               -- of the kept JSON
    stored_bytes BIGINT NOT NULL         -- on disk, compressed
);

CREATE TABLE capture_posts (
    capture TEXT NOT NULL,               -- captures.sha256
    post_id TEXT NOT NULL
);

-- Posts removed during a run, to be cut from the archive files that hold them: a run
-- rewrites each such file once, when it ends (or, after a kill, when the next starts),
-- however many of its posts went.
CREATE TABLE capture_purge_queue (
    capture TEXT NOT NULL,
    post_id TEXT NOT NULL
);

-- Archive files a committed purge replaced, deleted right after the commit; a run
-- killed in between deletes them when the next run starts. Only these files are ever
-- deleted: an archive file this database does not index (a new database beside an old
-- archive, a run killed before its commit) is kept.
CREATE TABLE capture_purges (
    sha256 TEXT NOT NULL
);
""",
)

# 4: `raw` keeps no JSON any more. Each stored record's JSON is in the capture archive
# already, and `raw_index` says where: the archive file, the document's line in it and the
# record's JSON path there. The view `raw` (made by each ingest run, which knows the
# archive's folder: sorastats.archive.raw_view_sql) reads the JSON from the files. Rows of
# older databases wait in `raw_unarchived` until the next run moves them into the archive
# (sorastats.unarchived).
MIGRATIONS += (
    """
ALTER TABLE raw RENAME TO raw_unarchived;

CREATE TABLE raw_index (
    sha256 TEXT NOT NULL,                -- unique: checked by the ingest, not an index
    kind TEXT NOT NULL,                  -- 'post', 'comment' or 'profile', as `raw` had
    entity_id TEXT,
    source TEXT NOT NULL,
    run_id BIGINT NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    capture TEXT NOT NULL,               -- captures.sha256: the archive file
    line BIGINT NOT NULL,                -- the document's line in the file, from 0
    path TEXT NOT NULL                   -- the record's JSON path in the document
);
""",
)

# 5: creators erased at their request (docs/creators.md): their rows and archived
# captures are purged (sorastats.erasure) and the ingest never stores them again, as
# `tombstones` does for deleted posts.
MIGRATIONS += (
    """
CREATE TABLE suppressed_creators (
    creator_id TEXT PRIMARY KEY,
    suppressed_at TIMESTAMP NOT NULL
);
""",
)

# 6: the media archive (sorastats.media). Thumbnails and profile pictures are kept as
# files named by their content's hash in the capture archive (`media/`); `media` says
# whose each is. A post or creator has at most one (the newest), kept so by
# sorastats.media. `media_purges` lists files whose owner went (a deleted, hidden or
# banned one): deleted after the commit that removed the row, as `capture_purges`.
MIGRATIONS += (
    """
CREATE TABLE media (
    owner_kind TEXT NOT NULL,            -- 'post' (its thumbnail) or 'creator' (picture)
    owner_id TEXT NOT NULL,              -- posts.id or creators.id
    sha256 TEXT NOT NULL,                -- the archive's file: captures/media/ab/<sha256><suffix>
    suffix TEXT NOT NULL,                -- '.jpg', '.png', '.webp', '.gif' or '.avif'
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    source TEXT NOT NULL,                -- URL without its query (no signature) or file name
    stored_at TIMESTAMP NOT NULL
);

CREATE TABLE media_purges (
    sha256 TEXT NOT NULL,
    suffix TEXT NOT NULL
);
""",
)

# 7: a file to rewrite without the erased creators' copies (their profiles in listings,
# their cameos in others' videos, their comments) names no post: `post_id` NULL.
# `Applier.purge_archive` cuts every suppressed creator from each file it rewrites.
MIGRATIONS += ("ALTER TABLE capture_purge_queue ALTER COLUMN post_id DROP NOT NULL;",)

# 8: profile history (docs/site.md, creator pages). A creator's username, display name and
# bio as captured, one row per creator per capture day, kept as creator_snapshots keeps
# the counters (a newer capture of the day replaces the row; no key, see migration 2).
# The creator page lists what changed and when; an erased creator's rows go with them.
MIGRATIONS += (
    """
CREATE TABLE creator_profile_snapshots (
    creator_id TEXT NOT NULL,            -- (creator_id, captured_on) unique: kept so by the ingest
    captured_on DATE NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    username TEXT,
    display_name TEXT,
    bio TEXT
);
""",
)

SCHEMA_VERSION = len(MIGRATIONS)

# Tables the site reads; a post that leaves `posts` leaves each of these too.
POST_KEYED_TABLES: tuple[tuple[str, str], ...] = (
    ("posts", "id"),
    ("post_snapshots", "post_id"),
    ("post_cameos", "post_id"),
)
