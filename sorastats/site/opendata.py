"""The open data: Parquet files of the public tables under `/data/` (docs/data.md).

One declaration (`DATASETS`) is the whole story of each file: its columns (name, type,
the SQL that makes it, what it means, how the screener may filter it), where its rows
come from and in which order they are written. The files, the schema on the `/data/`
page, the schema table of docs/data.md and the screener's whitelist of columns all come
from it.

Privacy: every dataset reads only the build's filtered tables (`vc`, `vp` and the gains
and series made from them in sorastats/site/queries.py), so a hidden, erased, banned or
deleted creator or post never reaches a file: the same single filter path as the pages.

Incremental and deterministic: a file's manifest digest is a hash of its rows computed in
DuckDB (row count and XOR of row hashes; every dataset has a unique key) plus the
declaration and the DuckDB version, so a build whose rows did not change links the live
file and writes nothing. When written, rows are sorted by a unique key, one thread writes
in fixed row groups, so identical rows give byte-identical files.

Row groups: files are sorted so that common reads touch few row groups (creators by
followers, videos by views: a "top N" reads the first group's other columns only; the
daily tables by id then day: one thing's history sits in one or two groups), with
min/max statistics per group, which DuckDB (also DuckDB-WASM over HTTP range requests)
uses to skip groups."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sorastats.site.page import Page, dumps

FOLDER = "data"
ROW_GROUP_SIZE = 61_440  # 30 of DuckDB's 2,048-row vectors: 17 groups at 1M posts
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the DuckDB (and Parquet logical) type
    sql: str  # the expression over the dataset's source
    doc: str
    # How the screener filters it: "num", "date", "text", "bool", "enum:<a>|<b>", or ""
    # (shown and sortable only).
    screen: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str  # the file is /data/<name>.parquet
    title: str
    doc: str
    source: str  # FROM ... (the build's filtered temporary tables only)
    order: str  # ORDER BY: a unique key, so the file's bytes never depend on chance
    columns: tuple[Column, ...]
    screener: bool = False  # the screener queries it

    @property
    def rel(self) -> str:
        return f"{FOLDER}/{self.name}.parquet"

    def select(self) -> str:
        cols = ",\n  ".join(f"CAST({c.sql} AS {c.type}) AS {c.name}" for c in self.columns)
        return f"SELECT\n  {cols}\n{self.source}"


def _gains(prefix: str, what: str, table: str, born: str) -> tuple[Column, ...]:
    return tuple(
        Column(
            f"{prefix}_{w}d",
            "BIGINT",
            f"{table}.{prefix}_{w}",
            f"{what} gained in the last {w} day{'s' if w > 1 else ''} (all it has when "
            f"{born} is within the window; NULL without enough history)",
            "num",
        )
        for w in (1, 7, 30)
    )


CREATORS = Dataset(
    "creators",
    "Creators",
    "One row per public creator, with counters as of the last capture and their gains.",
    "FROM vc c JOIN cs ON cs.id = c.id",
    "follower_count DESC NULLS LAST, id",
    (
        Column("id", "VARCHAR", "c.id", "Sora user id (unique)"),
        Column("username", "VARCHAR", "c.username", "current username", "text"),
        Column("display_name", "VARCHAR", "c.display_name", "display name", "text"),
        Column("bio", "VARCHAR", "c.bio", "profile description", "text"),
        Column("verified", "BOOLEAN", "coalesce(c.verified, false)", "verified badge", "bool"),
        Column("page", "VARCHAR", "'/c/' || c.slug || '/'", "the creator's page on this site"),
        Column("created_at", "TIMESTAMP", "c.created_at", "account created (UTC)", "date"),
        Column("follower_count", "BIGINT", "c.follower_count", "followers", "num"),
        Column("likes_received_count", "BIGINT", "c.likes_received_count", "likes received", "num"),
        Column("cameo_count", "BIGINT", "c.cameo_count", "cameos of them", "num"),
        Column("videos", "BIGINT", "cs.videos", "public videos on this site", "num"),
        Column("views", "BIGINT", "cs.views", "views of those videos", "num"),
        *_gains("followers", "followers", "cs", "the account's creation"),
        *_gains("likes", "likes received", "cs", "the account's creation"),
        *_gains("views", "views of their videos", "cs", "the account's creation"),
    ),
    screener=True,
)

POSTS = Dataset(
    "posts",
    "Videos",
    "One row per public video, with counters as of the last capture and their gains.",
    "FROM vp p JOIN pg ON pg.id = p.id",
    "view_count DESC NULLS LAST, id",
    (
        Column("id", "VARCHAR", "p.id", "Sora post id (unique)"),
        Column("creator_id", "VARCHAR", "p.creator_id", "the creator's id (creators.id)"),
        Column("username", "VARCHAR", "p.username", "the creator's username", "text"),
        Column("page", "VARCHAR", "'/p/' || p.id || '/'", "the video's page on this site"),
        Column("prompt", "VARCHAR", "p.prompt", "the caption as posted (NULL: none)", "text"),
        Column("has_prompt", "BOOLEAN", "p.prompt IS NOT NULL", "has a caption", "bool"),
        Column("posted_at", "TIMESTAMP", "p.posted_at", "posted (UTC)", "date"),
        Column("width", "INTEGER", "p.width", "width in pixels", "num"),
        Column("height", "INTEGER", "p.height", "height in pixels", "num"),
        Column(
            "orientation",
            "VARCHAR",
            "CASE WHEN p.width IS NULL OR p.height IS NULL THEN NULL "
            "WHEN p.width < p.height THEN 'portrait' WHEN p.width > p.height THEN 'landscape' "
            "ELSE 'square' END",
            "portrait, landscape or square (NULL: size unknown)",
            "enum:portrait|landscape|square",
        ),
        Column(
            "duration_s",
            "DOUBLE",
            "round(coalesce(p.duration_s, p.n_frames / 30.0), 2)",
            "length in seconds",
            "num",
        ),
        Column("parent_post_id", "VARCHAR", "p.parent_post_id", "the remixed video's id"),
        Column("view_count", "BIGINT", "p.view_count", "views", "num"),
        Column("like_count", "BIGINT", "p.like_count", "likes", "num"),
        Column("remix_count", "BIGINT", "p.remix_count", "remixes", "num"),
        *_gains("views", "views", "pg", "the video's posting"),
        *_gains("likes", "likes", "pg", "the video's posting"),
        *_gains("remixes", "remixes", "pg", "the video's posting"),
    ),
    screener=True,
)

CREATOR_DAILY = Dataset(
    "creator_daily",
    "Creators, day by day",
    "The public creators' counters on each captured day of the last 30 (the site's charts).",
    "FROM cser JOIN vc c ON c.id = cser.creator_id, unnest(cser.s) AS u(x)",
    "creator_id, day",
    (
        Column("creator_id", "VARCHAR", "cser.creator_id", "creators.id"),
        Column("day", "DATE", "x.d", "capture day (UTC)"),
        Column("follower_count", "BIGINT", "x.followers", "followers that day"),
        Column("likes_received_count", "BIGINT", "x.likes", "likes received that day"),
        Column("views", "BIGINT", "x.views", "views of their public videos that day"),
    ),
)

POST_DAILY = Dataset(
    "post_daily",
    "Videos, day by day",
    "The public videos' counters on each captured day of the last 30 (the site's charts).",
    "FROM pser JOIN vp p ON p.id = pser.post_id, unnest(pser.s) AS u(x)",
    "post_id, day",
    (
        Column("post_id", "VARCHAR", "pser.post_id", "posts.id"),
        Column("day", "DATE", "x.d", "capture day (UTC)"),
        Column("view_count", "BIGINT", "x.views", "views that day"),
        Column("like_count", "BIGINT", "x.likes", "likes that day"),
        Column("remix_count", "BIGINT", "x.remixes", "remixes that day"),
    ),
)

DATASETS: tuple[Dataset, ...] = (CREATORS, POSTS, CREATOR_DAILY, POST_DAILY)


def copy_options() -> str:
    # Parquet version 1 pages: every reader (pandas, polars, older DuckDB-WASM) reads them.
    return f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE}, PARQUET_VERSION V1"


def _declaration(ds: Dataset) -> str:
    return repr((ds, copy_options(), duckdb.__version__))


@dataclass(frozen=True)
class Summary:
    dataset: Dataset
    rows: int
    digest: str  # the manifest digest: changes whenever the file's bytes would


def summarize(con: duckdb.DuckDBPyConnection, ds: Dataset) -> Summary:
    """The row count and content digest of a dataset, computed in DuckDB (no file made)."""
    names = ", ".join(c.name for c in ds.columns)
    row = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash({names})), 0), "
        f"coalesce(sum(hash({names}) % 1000003), 0) FROM ({ds.select()})"
    ).fetchone()
    rows, xor, total = (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
    h = hashlib.blake2b(_declaration(ds).encode(), digest_size=12)
    h.update(f"{rows}-{xor}-{total}".encode())
    return Summary(ds, rows, h.hexdigest())


def write(con: duckdb.DuckDBPyConnection, ds: Dataset, root: Path) -> int:
    """Write the dataset's file under `root` atomically (a temporary file renamed over
    it, so a hard link to the old one keeps its bytes); returns its size."""
    target = root / ds.rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    settings = con.execute(
        "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    ).fetchone()
    assert settings is not None
    # One thread and insertion order: the sorted rows go out in the same row groups,
    # byte for byte, every time.
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    try:
        # COPY takes no parameter for its target: the path is quoted as a SQL string
        # literal (a site folder may hold a quote).
        quoted = str(tmp).replace("'", "''")
        con.execute(f"COPY ({ds.select()}\nORDER BY {ds.order}) TO '{quoted}' ({copy_options()})")
    finally:
        con.execute(f"SET threads = {int(settings[0])}")
        con.execute(f"SET preserve_insertion_order = {str(settings[1]).lower()}")
    os.replace(tmp, target)
    return target.stat().st_size


def schema_doc(summaries: list[Summary]) -> list[dict[str, Any]]:
    """What the /data/ page shows of each dataset (rows are counted in the build)."""
    return [
        {
            "name": s.dataset.name,
            "title": s.dataset.title,
            "doc": s.dataset.doc,
            "url": "/" + s.dataset.rel,
            "rows": s.rows,
            "order": s.dataset.order,
            "columns": [{"name": c.name, "type": c.type, "doc": c.doc} for c in s.dataset.columns],
        }
        for s in summaries
    ]


def screener_columns(ds: Dataset) -> list[dict[str, str]]:
    """The screener's whitelist for a dataset: every column it may show and sort by, and
    how it may filter each (the page's script builds SQL from these names only)."""
    return [{"name": c.name, "type": c.type, "doc": c.doc, "screen": c.screen} for c in ds.columns]


def pages(summaries: list[Summary], info: dict[str, Any]) -> list[Page]:
    """The /data/ page (schema, licence, date, examples) and the /screener/ page."""
    data = {
        "url": "/data/",
        "as_of": info.get("as_of_day"),
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "row_group_size": ROW_GROUP_SIZE,
        "datasets": schema_doc(summaries),
    }
    screener = {
        "url": "/screener/",
        "as_of": info.get("as_of_day"),
        "tables": {
            s.dataset.name: {
                "title": s.dataset.title,
                "url": "/" + s.dataset.rel,
                "rows": s.rows,
                "columns": screener_columns(s.dataset),
            }
            for s in summaries
            if s.dataset.screener
        },
    }
    return [
        Page("data/index.html", "data.html", dumps(data)),
        Page("screener/index.html", "screener.html", dumps(screener)),
    ]


def schema_markdown() -> str:
    """docs/data.md's schema tables (tests/support/docgen.py)."""
    out: list[str] = []
    for ds in DATASETS:
        out += [
            f"**`/{ds.rel}`** ({ds.title.lower()}): {ds.doc} Sorted by `{ds.order}`.",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
            *(f"| `{c.name}` | {c.type} | {c.doc} |" for c in ds.columns),
            "",
        ]
    return "\n".join(out).rstrip("\n") + "\n"
