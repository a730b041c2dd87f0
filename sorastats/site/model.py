"""The page model: every output of a build as (path, template, JSON document), streamed
from DuckDB in chunks. Nothing here renders; the builder hashes each document and only
changed pages go to the render pool."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sorastats import contributions
from sorastats.files import site_file
from sorastats.site import derived, queries
from sorastats.site.config import RenderConfig
from sorastats.site.content import load_content
from sorastats.site.page import Page, dumps
from sorastats.site.pricing import pricing_doc
from sorastats.site.search import (
    Bundle,
    creator_shard_count,
    creator_shard_sql,
    plan_bundles,
    shard_count,
    shard_sql,
)
from sorastats.site.urls import board_url, chunks_of, output_path
from sorastats.site.vault_pages import vault_pages


@dataclass(frozen=True)
class Board:
    key: str  # URL part under /top/
    title: str
    kind: str  # 'creators' or 'videos'
    metric: str  # SQL expression of the ranked value
    unit: str


def _video_boards() -> list[Board]:
    boards = []
    for metric, col in (
        ("views", "view_count"),
        ("likes", "like_count"),
        ("remixes", "remix_count"),
    ):
        for win, label, expr in (
            ("24h", "in the last 24 hours", f"pg.{metric}_1"),
            ("7d", "in the last 7 days", f"pg.{metric}_7"),
            ("30d", "in the last 30 days", f"pg.{metric}_30"),
            ("all", "of all time", f"p.{col}"),
        ):
            boards.append(
                Board(f"videos/{metric}-{win}", f"Most {metric} {label}", "videos", expr, metric)
            )
    return boards


BOARDS: tuple[Board, ...] = (
    Board("creators/followers", "Most followed creators", "creators",
          "cs.follower_count", "followers"),
    Board("creators/likes", "Most liked creators", "creators",
          "cs.likes_received_count", "likes"),
    Board("creators/growth-7d", "Fastest growing creators, 7 days", "creators",
          "cs.followers_7", "new followers"),
    Board("creators/growth-30d", "Fastest growing creators, 30 days", "creators",
          "cs.followers_30", "new followers"),
    Board("creators/cameos", "Cameo stars", "creators", "cs.cameo_count", "cameos"),
    *_video_boards(),
)  # fmt: skip


# A page set whose base table has up to WHOLE_ROWS rows runs whole; a bigger one in parts
# of PART_ROWS rows. Measured under DuckDB's 320 MB: 100,000 posts run whole; at 1,000,000
# posts parts of 100,000 ran out of memory (the bigger temporary tables hold more of it)
# and parts of 33,000 did not. Each part re-reads the joined tables, hence no parts below.
WHOLE_ROWS = 100_000
PART_ROWS = 33_000


def prepare(
    con: duckdb.DuckDBPyConnection,
    cfg: RenderConfig,
    cache: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> None:
    """The aggregate tables the page sets read; `simprompts` from `cache` when its inputs
    are unchanged (see sorastats.site.derived)."""
    contributions.apply_to_render(con, cfg.contributions)
    for sql in queries.setup_sql(cfg.creator_page_size):
        con.execute(sql)
    if derived.similar_prompts(con, cache, log, reuse=not cfg.full):
        log("render: similar prompts unchanged: reused from the previous build")


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or {})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def site_info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    row = con.execute(queries.TOTALS).fetchone()
    assert row is not None
    keys = ("creators", "videos", "prompts", "views", "likes", "as_of_day", "as_of")
    return dict(zip(keys, row, strict=True))


def search_bundles(con: duckdb.DuckDBPyConnection) -> list[tuple[Bundle, str]]:
    """The search bundles this site needs, each with the hash of its searchable text.
    Post shards without any post are left out."""
    total_row = con.execute("SELECT count(*) FROM vp").fetchone()
    shards = shard_count(int(total_row[0]) if total_row else 0)
    creators_row = con.execute("SELECT count(*) FROM vc").fetchone()
    creator_shards = creator_shard_count(int(creators_row[0]) if creators_row else 0)
    plan = plan_bundles(shards, creator_shards)
    main = con.execute(queries.SEARCH_MAIN_HASH).fetchone()
    out = [(plan[0], "-".join(str(v) for v in main or ()))]
    for shard, count, digest in con.execute(
        queries.SEARCH_SHARD_HASHES.format(shard=shard_sql(shards))
    ).fetchall():
        out.append((plan[1 + int(shard)], f"{count}-{digest}"))
    if creator_shards > 1:
        for shard, count, digest in con.execute(
            queries.SEARCH_CREATOR_SHARD_HASHES.format(shard=creator_shard_sql(creator_shards))
        ).fetchall():
            out.append((plan[1 + shards + int(shard)], f"{count}-{digest}"))
    return out


def board_pages(
    con: duckdb.DuckDBPyConnection, cfg: RenderConfig, as_of: str | None = None
) -> Iterator[Page]:
    index: list[dict[str, Any]] = []
    # The video boards all rank one join: made once (twelve joins took 0.2 s).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE board_videos AS
           SELECT p.id, p.slug, p.username, left(p.prompt, 200) AS text, p.view_count,
                  p.like_count, p.remix_count, pg.* EXCLUDE (id)
           FROM vp p JOIN pg ON pg.id = p.id"""
    )
    for board in BOARDS:
        if board.kind == "creators":
            top = f"""SELECT c.id AS key, c.slug, c.username, c.display_name, c.verified,
                             {board.metric} AS value
                      FROM vc c JOIN cs ON cs.id = c.id WHERE {board.metric} > 0
                      ORDER BY value DESC, c.id LIMIT {int(cfg.board_size)}"""
        else:
            metric = board.metric.replace("pg.", "p.")  # one table now
            top = f"""SELECT p.id AS key, p.id, p.slug, p.username, p.text, {metric} AS value
                      FROM board_videos p WHERE {metric} > 0
                      ORDER BY value DESC, p.id LIMIT {int(cfg.board_size)}"""
        # Ranked within the top rows only: every row with a greater value is among them,
        # so the rank is the global one, without sorting the whole table in a window.
        sql = f"""SELECT * EXCLUDE (key), rank() OVER (ORDER BY value DESC) AS rank
                  FROM ({top}) ORDER BY value DESC, key"""
        entries = _rows(con, sql)
        parts = chunks_of(len(entries), cfg.board_page_size) or [range(0)]
        index.append(
            {"key": board.key, "title": board.title, "kind": board.kind, "n": len(entries)}
        )
        for number, part in enumerate(parts, start=1):
            url = board_url(board.key, number)
            doc = {
                "url": url,
                "board": {
                    "key": board.key,
                    "title": board.title,
                    "kind": board.kind,
                    "unit": board.unit,
                },
                "page": number,
                "pages": len(parts),
                "as_of": as_of,
                "entries": [entries[i] for i in part],
            }
            yield Page(output_path(url), "board.html", dumps(doc))
    con.execute("DROP TABLE board_videos")
    doc = {"url": "/top/", "boards": index, "as_of": as_of}
    yield Page("top/index.html", "boards.html", dumps(doc))


def home_page(con: duckdb.DuckDBPyConnection, info: dict[str, Any]) -> Page:
    movers = _rows(
        con,
        """SELECT c.slug, c.username, c.display_name, cs.followers_1 AS gain,
                  cs.follower_count AS followers
           FROM vc c JOIN cs ON cs.id = c.id WHERE cs.followers_1 > 0
           ORDER BY gain DESC, c.id LIMIT 10""",
    )
    trending = _rows(
        con,
        """SELECT p.id, p.slug, p.username, left(p.prompt, 200) AS text, pg.views_1 AS gain,
                  p.view_count AS views
           FROM vp p JOIN pg ON pg.id = p.id WHERE pg.views_1 > 0
           ORDER BY gain DESC, p.id LIMIT 10""",
    )
    newest = _rows(
        con,
        """SELECT slug, username, display_name, follower_count AS followers
           FROM vc ORDER BY coalesce(created_at, first_seen_at) DESC, id LIMIT 10""",
    )
    doc = {"url": "/", "info": info, "movers": movers, "trending": trending, "newest": newest}
    return Page("index.html", "home.html", dumps(doc))


@dataclass(frozen=True)
class PageSet:
    """Pages made wholly in SQL: `sql` gives (key, rel, doc) rows; the builder hashes them
    in DuckDB and fetches the documents of changed pages only."""

    kind: str
    template: str
    sitemap: bool
    sql: str
    params: tuple[tuple[str, str], ...] = ()  # (SQL parameter, RenderConfig attribute)
    filter_column: str = ""  # the key column `/*filter*/` narrows
    part_table: str = ""  # the table whose size decides how many parts (none: one)
    key_part: str = "{key}"  # SQL: the value whose hash picks the part of a `{key}`
    # (expression, stand-in) pairs for hashing: a stand-in must change whenever the
    # expression's value does, given the rest of the document (see `hash_query`).
    hash_subs: tuple[tuple[str, str], ...] = ()

    def query(self, keys_sql: str | None = None, part: int = 0, parts: int = 1) -> str:
        """The set's SQL, narrowed to the keys `keys_sql` selects when given, and to part
        `part` of `parts` (by the hash of the row's id)."""
        sql = re.sub(
            r"/\*part:([\w.]+)\*/",
            lambda m: "true" if parts <= 1 else f"hash({m.group(1)}) % {parts} = {part}",
            self.sql,
        )
        if keys_sql is None:
            return sql.replace("/*filter*/", "")
        return sql.replace("/*filter*/", f"AND {self.filter_column} IN ({keys_sql})")

    def hash_query(self, part: int = 0, parts: int = 1) -> str:
        """The query whose documents are hashed: `query` with each costly expression
        replaced by a cheaper value that decides it (a hash of its inputs)."""
        sql = self.query(None, part, parts)
        for expression, stand_in in self.hash_subs:
            if expression not in sql:
                raise ValueError(f"{self.kind}: {expression!r} is not in the set's SQL")
            sql = sql.replace(expression, stand_in)
        return sql

    def parts(self, con: duckdb.DuckDBPyConnection) -> int:
        """How many parts to run the set in (see WHOLE_ROWS)."""
        if not self.part_table:
            return 1
        row = con.execute(f"SELECT count(*) FROM {self.part_table}").fetchone()
        rows = int(row[0]) if row else 0
        return 1 if rows <= WHOLE_ROWS else -(-rows // PART_ROWS)

    def bind(self, cfg: RenderConfig) -> dict[str, Any]:
        return {name: getattr(cfg, attr) for name, attr in self.params}


PAGE_SETS: tuple[PageSet, ...] = (
    PageSet(
        "post",
        "post.html",
        True,
        queries.POST_PAGES,
        filter_column="p.id",
        part_table="vp",
        hash_subs=((queries.SAME_ITEMS, queries.SAME_ITEMS_FOR_HASH),),
    ),
    PageSet(
        "creator",
        "creator.html",
        True,
        queries.CREATOR_PAGES,
        filter_column="c.id || ':' || ap.page",
        part_table="vc",
        key_part="regexp_replace({key}, ':[0-9]+$', '')",  # the creator id of 'id:page'
    ),
    PageSet(
        "series",
        "series.json",
        False,
        queries.CREATOR_SERIES,
        filter_column="c.id",
        part_table="vc",
    ),
    PageSet("redirect", "redirect.html", False, queries.REDIRECTS, filter_column="r.slug"),
    PageSet(
        "feed",
        "feed.xml",
        False,
        queries.CREATOR_FEEDS,
        params=(("feed_size", "creator_feed_size"),),
        filter_column="c.slug",
        hash_subs=((queries.FEED_ENTRIES, queries.FEED_ENTRIES_FOR_HASH),),
    ),
)


def extra_pages(
    con: duckdb.DuckDBPyConnection, cfg: RenderConfig, info: dict[str, Any], bundles: list[str]
) -> Iterator[Page]:
    """The pages made in Python (a few hundred at most): home, search, boards, content,
    the site feed. Sitemaps and the SQL page sets are not among them."""
    yield home_page(con, info)
    search = {"url": "/search/", "merge": ["/" + b for b in bundles[1:]]}
    yield Page("search/index.html", "search.html", dumps(search))
    yield Page("404.html", "404.html", dumps({"url": "/404.html"}), sitemap=False)
    yield Page("pricing/index.html", "pricing.html", dumps(pricing_doc()))
    yield Page("compare/index.html", "compare.html", dumps({"url": "/compare/"}))
    for cp in load_content(cfg.content):
        doc = {"url": cp.url, "title": cp.title, "description": cp.description, "html": cp.html}
        yield Page(output_path(cp.url), "content.html", dumps(doc))
    yield from board_pages(con, cfg, info["as_of"])
    entries = _rows(con, queries.SITE_FEED, {"feed_size": cfg.feed_size})
    updated = max((e["updated"] or "" for e in entries), default="") or info["as_of"]
    feed = {
        "url": "/feed.xml",
        "page_url": "/",
        "title": "Newest prompts",
        "updated": updated,
        "entries": entries,
    }
    yield Page("feed.xml", "feed.xml", dumps(feed), sitemap=False)
    yield from vault_pages(site_file("docs/encryption.md").parent)
