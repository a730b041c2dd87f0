"""SQL that turns the ingest tables into page documents. Every aggregate (gains, ranks,
leaderboards, pagination, remix and same-prompt lists, similar prompts) is computed here in
DuckDB; each page comes out as one JSON document, so Python only hashes strings and the
render pool only parses the documents of pages that changed."""

from __future__ import annotations

import math

from sorastats.site.urls import SQL_POST_ID_OK, SQL_SLUG_EXPR

ISO = "'%Y-%m-%dT%H:%M:%SZ'"
WINDOWS = (1, 7, 30)
# Words shared by at most this many prompts count as rare enough to call prompts similar.
SIMILAR_MAX_DF = 50
# The top cards of a group, most viewed first (NULL views last, ties by id): `min_by`
# with a count keeps only those per group, three times faster than sorting whole lists
# (an ordered aggregate cannot spill at all). For small groups (remixes of one post).
VIEW_ORDER = "struct_pack(nulls := view_count IS NULL, neg := coalesce(-view_count, 0), id := id)"


def top_cards(n: int) -> str:
    return f"min_by(card, {VIEW_ORDER}, {n})"


# A shared word scores 1/df; in units of lcm(1..SIMILAR_MAX_DF) every score is an exact
# integer (a HUGEINT), so sums and ties never depend on the order of addition (float sums
# did: the same data gave different "similar prompts", and so needless re-renders).
SCORE_UNIT = f"CAST('{math.lcm(*range(1, SIMILAR_MAX_DF + 1))}' AS HUGEINT)"
SIMILAR_STOPWORDS = (
    "with", "that", "this", "from", "into", "their", "there", "they", "them", "then",
    "than", "have", "been", "were", "what", "when", "your", "over", "very", "just",
)  # fmt: skip


def slug_sql(username: str, creator_id: str) -> str:
    return SQL_SLUG_EXPR.format(u=username, i=creator_id)


def _gain(cur: str, col: str, w: int, born: str | None, latest: str = "l") -> str:
    """Current minus the value at the latest snapshot on or before the cutoff day (from
    `_latest`: d{w} is that snapshot's day, {col}_{w} its value); a thing born after the
    cutoff gained all it has; otherwise unknown (NULL)."""
    if_born = (
        f"WHEN {born} IS NOT NULL AND CAST({born} AS DATE) > k.c{w} THEN {cur}.{col} "
        if born
        else ""
    )
    return f"CASE WHEN {latest}.d{w} IS NOT NULL THEN {cur}.{col} - {latest}.{col}_{w} {if_born}END"


def _latest(table: str, key: str, day: str, cols: tuple[str, ...]) -> str:
    """Per key, the day and values of the latest row on or before each cutoff day, in one
    grouped pass (cheaper than one ASOF join per cutoff). arg_max_null, not arg_max: a
    NULL counter in that row must come out NULL, not the previous row's value."""
    aggs = ",\n".join(
        f"max({day}) FILTER (WHERE {day} <= c{w}) AS d{w}"
        + "".join(
            f",\n arg_max_null({col}, {day}) FILTER (WHERE {day} <= c{w}) AS {col}_{w}"
            for col in cols
        )
        for w in WINDOWS
    )
    # Windows are 1, 7 and 30 days: every cutoff is on or before c1.
    return f"SELECT {key} AS key, {aggs}\nFROM {table}, k WHERE {day} <= k.c1 GROUP BY {key}"


# A post's or creator's archived image (sorastats.media), as the site names it: the start
# of its hash and its size (sorastats.site.images makes the file names from these).
MEDIA_IMG = (
    "CASE WHEN m.sha256 IS NOT NULL THEN struct_pack(k := left(m.sha256, 16), "
    "w := m.width, h := m.height) END AS img"
)


def media_join(kind: str, owner: str) -> str:
    return f"LEFT JOIN media m ON m.owner_kind = '{kind}' AND m.owner_id = {owner}"


# The newest profile changes a creator page lists (the count of all is shown beside).
PROFILE_HISTORY_SIZE = 20


def setup_sql(creator_page_size: int) -> list[str]:
    """Temporary tables the page queries read (in dependency order)."""
    post_cols = ("view_count", "like_count", "remix_count")
    gains_post = ",\n".join(
        _gain("b", col, w, "b.posted_at") + f" AS {short}_{w}"
        for w in WINDOWS
        for col, short in zip(post_cols, ("views", "likes", "remixes"), strict=True)
    )
    creator_cols = ("follower_count", "likes_received_count")
    gains_creator = ",\n".join(
        [
            _gain("b", col, w, "b.created_at") + f" AS {short}_{w}"
            for w in WINDOWS
            for col, short in zip(creator_cols, ("followers", "likes"), strict=True)
        ]
        + [_gain("b", "views", w, None, latest="v") + f" AS views_{w}" for w in WINDOWS]
    )
    cutoffs = "k AS (SELECT " + ", ".join(f"day - {w} AS c{w}" for w in WINDOWS) + " FROM dataday)"
    return [
        """CREATE TEMP TABLE dataday AS SELECT
            coalesce((SELECT max(captured_on) FROM creator_snapshots),
                     (SELECT max(captured_on) FROM post_snapshots),
                     CAST((SELECT max(last_seen_at) FROM creators) AS DATE),
                     current_date) AS day,
            coalesce(greatest((SELECT max(captured_at) FROM creator_snapshots),
                              (SELECT max(captured_at) FROM post_snapshots)),
                     (SELECT max(last_seen_at) FROM creators)) AS captured""",
        f"""CREATE TEMP TABLE vc AS
            WITH s AS (SELECT creators.*, {slug_sql("username", "id")} AS slug0, {MEDIA_IMG}
                       FROM creators {media_join("creator", "creators.id")}
                       WHERE banned_at IS NULL
                         -- Hidden or erased at their request (sorastats.contributions).
                         AND creators.id NOT IN (SELECT id FROM hidden_creators)
                         AND creators.id NOT IN (SELECT creator_id FROM suppressed_creators))
            SELECT s.* EXCLUDE (slug0),
                   CASE WHEN row_number() OVER (PARTITION BY slug0
                                                ORDER BY last_seen_at DESC, id) = 1
                        THEN slug0 ELSE 'u-' || regexp_replace(lower(id), '[^a-z0-9_-]', '-', 'g')
                   END AS slug
            FROM s""",
        f"""CREATE TEMP TABLE vp AS
            -- Only what pages show: this table is held in memory for the whole build.
            SELECT p.* EXCLUDE (text, dislike_count, recursive_reply_count, root_post_id,
                                thumbnail_url, video_url, media_expires_at, generation_id,
                                first_seen_at),
                   vc.slug, vc.username, vc.display_name AS creator_display_name,
                   nullif(trim(p.text), '') AS prompt, {MEDIA_IMG}
            FROM posts p JOIN vc ON vc.id = p.creator_id {media_join("post", "p.id")}
            WHERE {SQL_POST_ID_OK.format(p="p.id")}
              AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.post_id = p.id)
              AND p.id NOT IN (SELECT id FROM hidden_posts)""",
        """CREATE TEMP TABLE pcard AS
            SELECT id, creator_id, parent_post_id, prompt, posted_at, view_count,
                   -- Cards link posts to each other: no counters in them, or one post's
                   -- new view count would re-render every page that links to it.
                   like_count,
                   struct_pack(id := id, slug := slug, username := username,
                               text := left(prompt, 200), img := img, w := width,
                               h := height, dur := round(coalesce(duration_s, n_frames / 30.0)))
                     AS card
            FROM vp""",
        f"""CREATE TEMP TABLE pg AS
            WITH {cutoffs},
                 l AS ({_latest("post_snapshots", "post_id", "captured_on", post_cols)})
            SELECT b.id, {gains_post}
            FROM vp b CROSS JOIN k LEFT JOIN l ON l.key = b.id""",
        # Views of a creator's videos on each day: every video counts with its newest
        # snapshot on or before that day (not only videos captured that very day). Computed
        # from changes: each snapshot adds its difference to the post's previous one from
        # the first listed day on or after it (and after the post's day), and a running
        # sum per creator adds them up. Integer keys: window sorts on strings are slow.
        """CREATE TEMP TABLE cviews AS
            WITH days AS (SELECT DISTINCT captured_on AS day FROM post_snapshots
                          WHERE captured_on > (SELECT day FROM dataday) - 31),
                 cr AS (SELECT creator_id, row_number() OVER () AS cid
                        FROM (SELECT DISTINCT creator_id FROM vp)),
                 p0 AS (SELECT vp.id, cr.cid, row_number() OVER () AS pid,
                               CAST(vp.posted_at AS DATE) AS born
                        FROM vp JOIN cr USING (creator_id)),
                 -- The first listed day a post counts on (NULL: after the last one).
                 p AS (SELECT p0.*, d.day AS bborn
                       FROM p0 ASOF LEFT JOIN days d ON p0.born <= d.day),
                 ev AS (SELECT p.cid,
                               greatest(s.captured_on, (SELECT min(day) FROM days), p.bborn)
                                 AS day,
                               coalesce(s.view_count, 0) - coalesce(lag(s.view_count) OVER w, 0)
                                 AS dv,
                               -- How many of the posts have a known (non-NULL) count.
                               (s.view_count IS NOT NULL)::INT
                                 - coalesce((lag(s.view_count) OVER w IS NOT NULL)::INT, 0) AS dn
                        FROM post_snapshots s JOIN p ON p.id = s.post_id
                        WHERE p.born IS NULL OR p.bborn IS NOT NULL
                        WINDOW w AS (PARTITION BY p.pid ORDER BY s.captured_on)),
                 first AS (SELECT cid, min(coalesce(born, DATE '0001-01-01')) AS first
                           FROM p GROUP BY 1),
                 grid AS (SELECT f.cid, d.day FROM first f JOIN days d ON d.day >= f.first),
                 b AS (SELECT cid, day, sum(dv) AS dv, sum(dn) AS dn FROM ev GROUP BY ALL),
                 c AS (SELECT g.cid, g.day,
                              sum(b.dv) OVER (PARTITION BY g.cid ORDER BY g.day) AS v,
                              sum(b.dn) OVER (PARTITION BY g.cid ORDER BY g.day) AS n
                       FROM grid g LEFT JOIN b ON b.cid = g.cid AND b.day = g.day)
            SELECT cr.creator_id, c.day, CASE WHEN c.n > 0 THEN c.v END AS views
            FROM c JOIN cr USING (cid)""",
        f"""CREATE TEMP TABLE cs AS
            WITH {cutoffs},
                 pv AS (SELECT creator_id, sum(view_count) AS views, count(*) AS videos
                        FROM vp GROUP BY 1),
                 ap AS (SELECT pc.creator_id, count(*) AS appearances
                        FROM post_cameos pc JOIN vp ON vp.id = pc.post_id GROUP BY 1),
                 b AS (SELECT vc.id, vc.created_at, vc.follower_count, vc.likes_received_count,
                              vc.cameo_count, pv.views, coalesce(pv.videos, 0) AS videos,
                              coalesce(ap.appearances, 0) AS appearances
                       FROM vc LEFT JOIN pv ON pv.creator_id = vc.id
                       LEFT JOIN ap ON ap.creator_id = vc.id),
                 l AS ({_latest("creator_snapshots", "creator_id", "captured_on", creator_cols)}),
                 v AS ({_latest("cviews", "creator_id", "day", ("views",))}),
                 g AS (SELECT b.id, b.follower_count, b.likes_received_count, b.cameo_count,
                              b.views, b.videos, b.appearances, {gains_creator}
                       FROM b CROSS JOIN k
                       LEFT JOIN l ON l.key = b.id LEFT JOIN v ON v.key = b.id)
            SELECT g.*,
              CASE WHEN follower_count IS NOT NULL THEN
                rank() OVER (ORDER BY follower_count DESC NULLS LAST) END AS rank_followers,
              CASE WHEN likes_received_count IS NOT NULL THEN
                rank() OVER (ORDER BY likes_received_count DESC NULLS LAST) END AS rank_likes,
              CASE WHEN followers_7 IS NOT NULL THEN
                rank() OVER (ORDER BY followers_7 DESC NULLS LAST) END AS rank_growth_7d,
              CASE WHEN followers_30 IS NOT NULL THEN
                rank() OVER (ORDER BY followers_30 DESC NULLS LAST) END AS rank_growth_30d,
              CASE WHEN coalesce(cameo_count, 0) > 0 THEN
                rank() OVER (ORDER BY cameo_count DESC NULLS LAST) END AS rank_cameos
            FROM g""",
        # list_sort on structs led by the (unique) day: faster than an ordered aggregate.
        """CREATE TEMP TABLE pser AS
            WITH q AS (SELECT post_id, list(struct_pack(c := captured_on, views := view_count,
                                                        likes := like_count,
                                                        remixes := remix_count)) AS l
                       FROM post_snapshots
                       WHERE captured_on > (SELECT day FROM dataday) - 31
                         AND post_id IN (SELECT id FROM vp)
                       GROUP BY 1)
            SELECT post_id,
                   list_transform(list_sort(l),
                                  lambda x: struct_pack(d := x.c, views := x.views,
                                                        likes := x.likes,
                                                        remixes := x.remixes)) AS s
            FROM q""",
        """CREATE TEMP TABLE cser AS
            WITH j AS (
              SELECT coalesce(s.creator_id, v.creator_id) AS creator_id,
                     coalesce(s.captured_on, v.day) AS day,
                     s.follower_count, s.likes_received_count, v.views
              FROM (SELECT * FROM creator_snapshots
                    WHERE captured_on > (SELECT day FROM dataday) - 31) s
              FULL OUTER JOIN (SELECT * FROM cviews WHERE day > (SELECT day FROM dataday) - 31) v
                ON s.creator_id = v.creator_id AND s.captured_on = v.day)
            SELECT creator_id,
                   list_transform(
                     list_sort(list(struct_pack(day := day, followers := follower_count,
                                                likes := likes_received_count,
                                                views := views))),
                     lambda x: struct_pack(d := x.day,
                                           followers := x.followers, likes := x.likes,
                                           views := x.views)) AS s
            FROM j GROUP BY 1""",
        # Profile history: the days a visible creator's username, display name or bio
        # differed from their previous capture (creator_profile_snapshots), newest first.
        f"""CREATE TEMP TABLE cprof AS
            WITH s AS (SELECT creator_id, captured_on, username, display_name, bio,
                              lag(username) OVER w AS u0, lag(display_name) OVER w AS n0,
                              lag(bio) OVER w AS b0, row_number() OVER w AS rn
                       FROM creator_profile_snapshots
                       WHERE creator_id IN (SELECT id FROM vc)
                       WINDOW w AS (PARTITION BY creator_id ORDER BY captured_on))
            SELECT creator_id, count(*) AS n,
                   list(struct_pack(
                     d := strftime(captured_on, '%Y-%m-%d'),
                     username := CASE WHEN username IS DISTINCT FROM u0
                                      THEN struct_pack(was := u0, now := username) END,
                     display_name := CASE WHEN display_name IS DISTINCT FROM n0
                                          THEN struct_pack(was := n0, now := display_name) END,
                     bio := CASE WHEN bio IS DISTINCT FROM b0
                                 THEN struct_pack(was := b0, now := bio) END)
                        ORDER BY captured_on DESC)[1:{PROFILE_HISTORY_SIZE}] AS items
            FROM s
            WHERE rn > 1 AND (username IS DISTINCT FROM u0 OR display_name IS DISTINCT FROM n0
                              OR bio IS DISTINCT FROM b0)
            GROUP BY 1""",
        "DROP TABLE cviews",  # only cs and cser read it
        f"""CREATE TEMP TABLE remixes AS
            SELECT parent_post_id AS pid, count(*) AS n,
                   {top_cards(12)} AS items
            FROM pcard WHERE parent_post_id IS NOT NULL GROUP BY 1""",
        # One list per group of posts sharing a prompt, not one per post: the groups of
        # popular prompts are big, and a copy of their list per post filled memory.
        f"""CREATE TEMP TABLE samegroup AS
            SELECT row_number() OVER () AS gid, *, hash(items) AS items_hash FROM (
              SELECT lower(prompt) AS k, count(*) AS n,
                     -- Not `min_by`: its state copies each card it keeps, and at 1M posts
                     -- in big groups that ran out of memory (a list spills).
                     list_transform(list_sort(list(struct_pack(
                         key := {VIEW_ORDER}, card := card)))[1:13],
                                    lambda x: x.card) AS items
              FROM pcard WHERE prompt IS NOT NULL GROUP BY 1 HAVING count(*) > 1)""",
        """CREATE TEMP TABLE sameprompt AS
            SELECT pcard.id, samegroup.gid
            FROM pcard JOIN samegroup ON samegroup.k = lower(pcard.prompt)""",
        """CREATE TEMP TABLE cams AS
            SELECT pc.post_id,
                   list_transform(list_sort(list(struct_pack(username := vc.username,
                                                             slug := vc.slug))),
                                  lambda x: struct_pack(slug := x.slug,
                                                        username := x.username)) AS items
            FROM post_cameos pc JOIN vc ON vc.id = pc.creator_id GROUP BY 1""",
        f"""CREATE TEMP TABLE cpages AS
            WITH n AS (SELECT creator_id, posted_at, id,
                              struct_pack(id := id, slug := card.slug,
                                          username := card.username, text := card.text,
                                          img := card.img, w := card.w, h := card.h,
                                          dur := card.dur,
                                          views := view_count, likes := like_count) AS vcard,
                              row_number() OVER (PARTITION BY creator_id
                                                 ORDER BY posted_at DESC NULLS LAST, id) AS rn
                       FROM pcard)
            SELECT creator_id, (rn - 1) // {creator_page_size} + 1 AS page,
                   list_transform(list_sort(list(struct_pack(rn := rn, card := vcard))),
                                  lambda x: x.card) AS items
            FROM n GROUP BY ALL""",
    ]


def similar_sql() -> list[str]:
    """Temporary table `simprompts` (each post's prompts sharing its rarest words), from
    `pcard`. It reads only the prompts and cards of posts with a prompt: a build reuses
    it from the previous one when those did not change (`sorastats.site.derived`)."""
    stop = ", ".join(f"'{w}'" for w in SIMILAR_STOPWORDS)
    return [
        f"""CREATE TEMP TABLE words AS
            SELECT DISTINCT id, w FROM (
              SELECT id, unnest(regexp_extract_all(lower(prompt), '[\\p{{L}}\\p{{N}}]{{4,}}')) AS w
              FROM pcard WHERE prompt IS NOT NULL)
            WHERE w NOT IN ({stop})""",
        f"""CREATE TEMP TABLE rare AS
            WITH df AS (SELECT w, count(*) AS df FROM words GROUP BY w
                        HAVING count(*) BETWEEN 2 AND {SIMILAR_MAX_DF})
            SELECT id, w, df FROM (
              SELECT words.id, words.w, df.df,
                     row_number() OVER (PARTITION BY words.id ORDER BY df.df, words.w) AS rn
              FROM words JOIN df USING (w))
            WHERE rn <= 5""",
        f"""CREATE TEMP TABLE simprompts AS
            WITH pairs AS (SELECT a.id, b.id AS other, sum({SCORE_UNIT} // a.df) AS score
                           FROM rare a JOIN words b ON a.w = b.w AND a.id <> b.id
                           GROUP BY 1, 2),
                 ranked AS (SELECT p.id, p.other,
                                   row_number() OVER (PARTITION BY p.id
                                                      ORDER BY p.score DESC, p.other) AS rn
                            FROM pairs p JOIN pcard o ON o.id = p.other
                            JOIN pcard me ON me.id = p.id
                            WHERE lower(o.prompt) <> lower(me.prompt))
            SELECT r.id,
                   list_transform(list_sort(list(struct_pack(rn := r.rn, card := c.card))),
                                  lambda x: x.card) AS items
            FROM ranked r JOIN pcard c ON c.id = r.other WHERE r.rn <= 6 GROUP BY r.id""",
        "DROP TABLE words",  # big intermediates: free their memory before streaming
        "DROP TABLE rare",
    ]


def _post_counters(prefix: str) -> str:
    return ", ".join(
        f"{name} := {prefix}.{col}"
        for name, col in (
            ("views", "view_count"),
            ("unique_views", "unique_view_count"),
            ("likes", "like_count"),
            ("remixes", "remix_count"),
            ("replies", "reply_count"),
            ("shares", "share_count"),
            ("reposts", "repost_count"),
        )
    )


def _gains(prefix: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{n}_{w} := {prefix}.{n}_{w}" for n in names for w in WINDOWS)


# The page sets below each give (key, rel, doc): the key a rebuild filters on (one page
# per key), the output path, and the page's document as a STRUCT (the builder hashes it
# with `hash()`, and turns changed ones into JSON with `to_json()`). `/*filter*/` is
# where the builder narrows a set to the keys of changed pages (`AND <key> IN (...)`);
# `/*part:col*/` where it splits a big set into parts by `hash(col)`, so that no join's
# hash table outgrows DuckDB's memory limit (seven of them at once, at 1M posts).
# A post's "same prompt" list: its group's top cards without itself. For hashing, the
# group's hash stands in for it (with the post's id, which the document holds, it
# decides the list): filtering every post's list took 60% of hashing the post pages.
SAME_ITEMS = "list_filter(sg.items, lambda x: x.id <> sp.id)[1:12]"
SAME_ITEMS_FOR_HASH = "sg.items_hash"

POST_PAGES = f"""
SELECT p.id AS key, 'p/' || p.id || '/index.html' AS rel, (struct_pack(
    url := '/p/' || p.id || '/', id := p.id, prompt := p.prompt,
    shared_prompt := sh.prompt,
    posted := strftime(p.posted_at, {ISO}), updated := strftime(p.updated_at, {ISO}),
    last_seen := strftime(p.last_seen_at, {ISO}),
    width := p.width, height := p.height,
    duration_s := coalesce(p.duration_s, p.n_frames / 30.0),
    {_post_counters("p")}, {_gains("pg", ("views", "likes", "remixes"))},
    preview := p.preview_image_url, permalink := p.permalink, emoji := p.emoji, img := p.img,
    creator := struct_pack(slug := p.slug, username := p.username,
                           display_name := p.creator_display_name),
    parent := parent.card, parent_id := p.parent_post_id,
    remix_n := r.n, remix_items := r.items,
    same_n := sp.n, same_items := sp.items,
    similar := si.items, cameos := cam.items, series := ps.s
)) AS doc
FROM (SELECT * FROM vp WHERE /*part:id*/) p
LEFT JOIN (SELECT * FROM pg WHERE /*part:id*/) pg ON pg.id = p.id
LEFT JOIN (SELECT id, card FROM pcard
           WHERE id IN (SELECT parent_post_id FROM vp WHERE /*part:id*/)) parent
  ON parent.id = p.parent_post_id
LEFT JOIN (SELECT * FROM remixes WHERE /*part:pid*/) r ON r.pid = p.id
LEFT JOIN (SELECT sp.id, sg.n - 1 AS n, {SAME_ITEMS} AS items
           FROM sameprompt sp JOIN samegroup sg USING (gid) WHERE /*part:sp.id*/) sp
  ON sp.id = p.id
LEFT JOIN (SELECT * FROM simprompts WHERE /*part:id*/) si ON si.id = p.id
LEFT JOIN (SELECT * FROM cams WHERE /*part:post_id*/) cam ON cam.post_id = p.id
LEFT JOIN (SELECT * FROM pser WHERE /*part:post_id*/) ps ON ps.post_id = p.id
-- The prompt its creator published through the API (sorastats.contributions).
LEFT JOIN shared_prompts sh ON sh.post_id = p.id AND sh.creator_id = p.creator_id
WHERE true /*filter*/
"""

_CREATOR_STRUCT = """struct_pack(
    id := c.id, slug := c.slug, username := c.username, display_name := c.display_name,
    bio := c.bio, verified := c.verified, is_public_figure := c.is_public_figure,
    can_cameo := c.can_cameo, permalink := c.permalink, img := c.img,
    created := strftime(c.created_at, {iso}), first_seen := strftime(c.first_seen_at, {iso}),
    last_seen := strftime(c.last_seen_at, {iso}),
    followers := c.follower_count, following := c.following_count,
    post_count := c.post_count, likes := c.likes_received_count, remixes := c.remix_count,
    cameos := c.cameo_count, characters := c.character_count,
    views := cs.views, videos := cs.videos, appearances := cs.appearances,
    {gains},
    rank_followers := cs.rank_followers, rank_likes := cs.rank_likes,
    rank_growth_7d := cs.rank_growth_7d, rank_growth_30d := cs.rank_growth_30d,
    rank_cameos := cs.rank_cameos)""".format(
    iso=ISO, gains=_gains("cs", ("followers", "likes", "views"))
)

CREATOR_PAGES = f"""
WITH cpp AS (SELECT * FROM cpages WHERE /*part:creator_id*/),
     np AS (SELECT creator_id, max(page) AS n FROM cpp GROUP BY 1),
     ap AS (SELECT vc.id AS creator_id, coalesce(cp.page, 1) AS page, cp.items
            FROM vc LEFT JOIN cpp cp ON cp.creator_id = vc.id WHERE /*part:vc.id*/)
SELECT c.id || ':' || ap.page AS key,
       'c/' || c.slug || '/' || CASE WHEN ap.page > 1 THEN 'page/' || ap.page || '/' ELSE '' END
         || 'index.html' AS rel,
       (struct_pack(
    url := '/c/' || c.slug || '/' || CASE WHEN ap.page > 1 THEN 'page/' || ap.page || '/'
                                          ELSE '' END,
    page := ap.page, pages := coalesce(np.n, 1), videos := ap.items,
    creator := {_CREATOR_STRUCT},
    series := CASE WHEN ap.page = 1 THEN cser.s END,
    history := CASE WHEN ap.page = 1 THEN cprof.items END,
    history_n := CASE WHEN ap.page = 1 THEN coalesce(cprof.n, 0) END
)) AS doc
FROM ap JOIN (SELECT * FROM vc WHERE /*part:id*/) c ON c.id = ap.creator_id
JOIN (SELECT * FROM cs WHERE /*part:id*/) cs ON cs.id = c.id
LEFT JOIN np ON np.creator_id = c.id
LEFT JOIN (SELECT * FROM cser WHERE /*part:creator_id*/) cser ON cser.creator_id = c.id
LEFT JOIN (SELECT * FROM cprof WHERE /*part:creator_id*/) cprof ON cprof.creator_id = c.id
WHERE true /*filter*/
"""

# A creator's series file, `/c/<slug>/series.json`: what /compare/ reads for each creator
# it shows (its counters, gains and the last 30 days of the creator page's charts), so the
# static site needs no query server. Rewritten only when it changed, like a page.
CREATOR_SERIES = f"""
SELECT c.id AS key, 'c/' || c.slug || '/series.json' AS rel, (struct_pack(
    slug := c.slug, username := c.username, display_name := c.display_name,
    url := '/c/' || c.slug || '/', last_seen := strftime(c.last_seen_at, {ISO}),
    followers := c.follower_count, likes := c.likes_received_count, views := cs.views,
    {_gains("cs", ("followers", "likes", "views"))},
    series := cser.s
)) AS doc
FROM (SELECT * FROM vc WHERE /*part:id*/) c
JOIN (SELECT * FROM cs WHERE /*part:id*/) cs ON cs.id = c.id
LEFT JOIN (SELECT * FROM cser WHERE /*part:creator_id*/) cser ON cser.creator_id = c.id
WHERE true /*filter*/
"""

REDIRECTS = f"""
WITH old AS (SELECT creator_id, {slug_sql("username", "creator_id")} AS slug, last_seen_at
             FROM creator_usernames),
     ranked AS (SELECT *, row_number() OVER (PARTITION BY slug
                                              ORDER BY last_seen_at DESC, creator_id) AS rn
                FROM old)
SELECT r.slug AS key, 'c/' || r.slug || '/index.html' AS rel,
       (struct_pack(url := '/c/' || r.slug || '/', target := '/c/' || vc.slug || '/',
                           username := vc.username)) AS doc
FROM ranked r JOIN vc ON vc.id = r.creator_id
WHERE r.rn = 1 AND r.slug <> vc.slug AND r.slug NOT IN (SELECT slug FROM vc) /*filter*/
"""

# A creator feed's entries, newest first. For hashing, an order-free digest of the same
# rows stands in (`rn` numbers them, so none cancel out in the XOR): formatting every
# creator's entries took most of the time of hashing the feeds.
FEED_ENTRIES = f"""list_transform(
        list_sort(list(struct_pack(rn := n.rn, id := n.id, prompt := n.prompt,
                                   posted_at := n.posted_at, updated_at := n.updated_at))),
        lambda x: struct_pack(id := x.id, prompt := x.prompt, username := c.username,
                              posted := strftime(x.posted_at, {ISO}),
                              updated := strftime(coalesce(x.updated_at, x.posted_at),
                                                  {ISO})))"""
FEED_ENTRIES_FOR_HASH = "bit_xor(hash(n.rn, n.id, n.prompt, n.posted_at, n.updated_at))"

CREATOR_FEEDS = f"""
WITH n AS (SELECT creator_id, id, prompt, posted_at, updated_at,
                  row_number() OVER (PARTITION BY creator_id
                                     ORDER BY posted_at DESC NULLS LAST, id) AS rn
           FROM vp)
SELECT c.slug AS key, 'c/' || c.slug || '/feed.xml' AS rel, (struct_pack(
    url := '/c/' || c.slug || '/feed.xml', page_url := '/c/' || c.slug || '/',
    title := '@' || c.username,
    updated := strftime(max(coalesce(n.updated_at, n.posted_at)), {ISO}),
    entries := {FEED_ENTRIES})) AS doc
FROM n JOIN vc c ON c.id = n.creator_id
WHERE n.rn <= $feed_size /*filter*/
GROUP BY c.slug, c.username
"""

SITE_FEED = f"""
SELECT id, prompt, username, strftime(posted_at, {ISO}) AS posted,
       strftime(coalesce(updated_at, posted_at), {ISO}) AS updated
FROM vp WHERE prompt IS NOT NULL
ORDER BY posted_at DESC NULLS LAST, id LIMIT $feed_size
"""

# Searchable text per search bundle: when a bundle's hash is unchanged, its Pagefind
# index from the previous build is reused as is, so counter-only changes never re-index.
SEARCH_MAIN_HASH = """
SELECT count(*), coalesce(bit_xor(hash(slug, username, display_name, bio)), 0) FROM vc
"""
SEARCH_CREATOR_SHARD_HASHES = """
SELECT {shard} AS shard, count(*), bit_xor(hash(slug, username, display_name, bio))
FROM vc GROUP BY 1 ORDER BY 1
"""
SEARCH_SHARD_HASHES = """
SELECT {shard} AS shard, count(*),
       bit_xor(hash(id, prompt, slug, username, creator_display_name, shared_prompt))
FROM (SELECT vp.*, sh.prompt AS shared_prompt FROM vp LEFT JOIN shared_prompts sh
      ON sh.post_id = vp.id AND sh.creator_id = vp.creator_id)
GROUP BY 1 ORDER BY 1
"""

TOTALS = f"""
SELECT (SELECT count(*) FROM vc), (SELECT count(*) FROM vp),
       (SELECT count(*) FROM vp WHERE prompt IS NOT NULL),
       (SELECT sum(view_count) FROM vp), (SELECT sum(like_count) FROM vp),
       strftime((SELECT day FROM dataday), '%Y-%m-%d'),
       strftime((SELECT captured FROM dataday), {ISO})
"""
