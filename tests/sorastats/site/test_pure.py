"""Table tests of the site's pure modules: URLs, slugs, pagination, stats, charts, escaping."""

import functools
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from sorastats.site import charts, search, stats, urls
from sorastats.site.content import ContentError, content_url, parse_front_matter
from sorastats.site.ledger import Ledger
from sorastats.site.manifest import manifest_file, read_manifest
from sorastats.site.templating import gain_html, json_script, xml_text
from sorastats.site.writer import siblings


@pytest.mark.parametrize(
    ("username", "cid", "slug"),
    [
        ("alice", "user-1", "alice"),
        ("Alice.B_c-9", "user-1", "alice.b_c-9"),
        ("..", "user-AB", "u-user-ab"),
        (".", "user-1", "u-user-1"),
        ("u-sneaky", "user-1", "u-user-1"),
        ("../etc", "user-1", "u-user-1"),
        ("<script>", "user-1", "u-user-1"),
        ("名前", "ch_XY/z", "u-ch_xy-z"),
        ("", "user-1", "u-user-1"),
        (None, "user-1", "u-user-1"),
        ("a" * 65, "user-1", "u-user-1"),
        ("a" * 64, "user-1", "a" * 64),
    ],
)
def test_creator_slug(username: str | None, cid: str, slug: str) -> None:
    assert urls.creator_slug(username, cid) == slug


@pytest.mark.parametrize("username", ["alice", "Alice.B", "..", "u-x", "<b>", "名前", "", "a" * 65])
def test_sql_slug_agrees_with_python(username: str) -> None:
    con = duckdb.connect()
    row = con.execute(
        f"SELECT {urls.SQL_SLUG_EXPR.format(u='u', i='i')} FROM (SELECT ? AS u, ? AS i)",
        [username, "user-1"],
    ).fetchone()
    assert row is not None and row[0] == urls.creator_slug(username, "user-1")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/", "index.html"),
        ("/c/alice/", "c/alice/index.html"),
        ("/c/alice/page/2/", "c/alice/page/2/index.html"),
        ("/feed.xml", "feed.xml"),
    ],
)
def test_output_path(url: str, path: str) -> None:
    assert urls.output_path(url) == path


@pytest.mark.parametrize("bad", ["c/x/", "/a/../b/", "//x/", "/a/./b"])
def test_output_path_refuses_escapes(bad: str) -> None:
    with pytest.raises(ValueError, match="not a site path"):
        urls.output_path(bad)


@pytest.mark.parametrize(
    ("page", "url"),
    [(1, "/c/bob/"), (0, "/c/bob/"), (2, "/c/bob/page/2/"), (10, "/c/bob/page/10/")],
)
def test_creator_url(page: int, url: str) -> None:
    assert urls.creator_url("bob", page) == url


@pytest.mark.parametrize(
    ("items", "per", "pages"), [(0, 24, 1), (1, 24, 1), (24, 24, 1), (25, 24, 2), (100, 10, 10)]
)
def test_page_count(items: int, per: int, pages: int) -> None:
    assert urls.page_count(items, per) == pages


def test_page_count_rejects_zero() -> None:
    with pytest.raises(ValueError, match="positive"):
        urls.page_count(5, 0)


@pytest.mark.parametrize(
    ("page", "pages", "window"),
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (6, 20, [1, None, 4, 5, 6, 7, 8, None, 20]),
        (1, 20, [1, 2, 3, None, 20]),
        (20, 20, [1, None, 18, 19, 20]),
        (4, 7, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_page_window(page: int, pages: int, window: list[int | None]) -> None:
    assert urls.page_window(page, pages) == window


@pytest.mark.parametrize(
    ("total", "size", "expected"),
    [(0, 3, []), (3, 3, [range(0, 3)]), (7, 3, [range(0, 3), range(3, 6), range(6, 7)])],
)
def test_chunks_of(total: int, size: int, expected: list[range]) -> None:
    assert urls.chunks_of(total, size) == expected


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://sora.chatgpt.com/p/s_1", "https://sora.chatgpt.com/p/s_1"),
        ("http://x.test/a", "http://x.test/a"),
        ("javascript:alert(1)", None),
        (" JAVASCRIPT:alert(1)", None),
        ("data:text/html,<b>", None),
        ("//evil.test/x", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_external_url(url: str | None, safe: str | None) -> None:
    assert urls.safe_external_url(url) == safe


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("https://sorastats.example/", "https://sorastats.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_base_url_is_normalized(given: str, normal: str) -> None:
    assert urls.normalize_base_url(given) == normal


@pytest.mark.parametrize("bad", ["sorastats.example", "ftp://x", "https://x/?a=1", "https:///path"])
def test_bad_base_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="base-url"):
        urls.normalize_base_url(bad)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, ""),
        (0, "0"),
        (999, "999"),
        (1000, "1K"),
        (1234, "1.2K"),
        (1_500_000, "1.5M"),
        (-2500, "-2.5K"),
        (3e9, "3B"),
    ],
)
def test_compact(n: float | None, text: str) -> None:
    assert stats.compact(n) == text


@pytest.mark.parametrize(
    ("n", "text"), [(None, ""), (0, "0"), (12, "+12"), (-3, "-3"), (1234, "+1,234")]
)
def test_signed(n: int | None, text: str) -> None:
    assert stats.signed(n) == text


@pytest.mark.parametrize(
    ("now", "before", "pct"), [(110, 100, 10.0), (50, 100, -50.0), (5, 0, None), (None, 1, None)]
)
def test_percent_change(now: int | None, before: int | None, pct: float | None) -> None:
    assert stats.percent_change(now, before) == pct


@pytest.mark.parametrize(
    ("iso", "label"),
    [
        ("2025-10-20 03:01:59", "Oct 20, 2025"),
        ("2025-10-02T00:00:00Z", "Oct 2, 2025"),
        ("junk", ""),
        (None, ""),
    ],
)
def test_day_label(iso: str | None, label: str) -> None:
    assert stats.day_label(iso) == label


@pytest.mark.parametrize(
    ("text", "limit", "out"),
    [(None, 10, ""), ("a  b\nc", 10, "a b c"), ("abcdefghijkl", 5, "abcd…"), ("abcde", 5, "abcde")],
)
def test_excerpt(text: str | None, limit: int, out: str) -> None:
    assert stats.excerpt(text, limit) == out


@pytest.mark.parametrize(
    ("lo", "hi", "out"),
    [
        (600, 1000, [600.0, 800.0, 1000.0]),
        (0, 7, [0.0, 2.5, 5.0, 7.5]),
        (5, 5, [4.0, 5.0, 6.0]),  # a flat series: one step around it
        (0, 0, [-1.0, 0.0, 1.0]),
        (1, 2, [1.0, 2.0]),  # never a step below 1 for whole counts
        (12_340, 1_250_000, [0.0, 500_000.0, 1_000_000.0, 1_500_000.0]),
    ],
)
def test_nice_ticks(lo: int, hi: int, out: list[float]) -> None:
    assert charts.nice_ticks(lo, hi) == out


D = date.fromisoformat


@pytest.mark.parametrize(
    ("first", "last", "out"),
    [
        ("2025-10-01", "2025-10-01", ["2025-10-01"]),
        ("2025-10-01", "2025-10-02", ["2025-10-01", "2025-10-02"]),
        ("2025-10-01", "2025-10-31", ["2025-10-01", "2025-10-11", "2025-10-21", "2025-10-31"]),
        ("2025-10-01", "2025-10-08", ["2025-10-01", "2025-10-04", "2025-10-08"]),
        ("2025-12-30", "2026-01-02", ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"]),
    ],
)
def test_date_ticks_include_both_ends(first: str, last: str, out: list[str]) -> None:
    assert [d.isoformat() for d in charts.date_ticks(D(first), D(last))] == out


def test_segments_break_at_missing_days() -> None:
    points = [
        (D("2025-10-01"), 1),
        (D("2025-10-02"), 2),
        (D("2025-10-04"), 4),
        (D("2025-10-05"), 5),
    ]
    assert charts.segments(points) == [points[:2], points[2:]]
    assert charts.segments([]) == []


def test_line_chart_summary_rows_and_markup() -> None:
    chart = charts.line_chart(
        "Followers",
        [("2025-10-01", 600), ("2025-10-02", None), ("2025-10-30", 1000)],
        unit="followers",
        key="chart-followers",
    )
    assert chart is not None
    assert chart.summary == "Followers: 600 on Oct 1, 2025 to 1,000 on Oct 30, 2025 (+400)."
    assert chart.rows == [("Oct 1, 2025", "600"), ("Oct 30, 2025", "1,000")]
    assert chart.table_rows == (
        "<tr><td>Oct 1, 2025</td><td>600</td></tr><tr><td>Oct 30, 2025</td><td>1,000</td></tr>"
    )
    svg = chart.svg
    # An accessible name and description, axes, date ticks, value ticks, end labels, unit.
    assert 'role="img"' in svg and 'aria-labelledby="chart-followers-t"' in svg
    assert 'aria-describedby="chart-followers-d"' in svg
    assert '<desc id="chart-followers-d">Followers: 600 on Oct 1' in svg
    assert ">Oct 1</text>" in svg and ">Oct 30</text>" in svg
    assert svg.count('class="grid"') == 3 and ">800</text>" in svg
    assert '<text class="unit"' in svg and ">followers</text>" in svg
    assert svg.count('class="end"') == 2
    # The missing days between Oct 1 and Oct 30 are a gap: two lone points, no line.
    assert "<path" not in svg and svg.count('<circle class="line"') == 2
    assert len(chart.svg.split('data-xy="')[1].split('"')[0].split()) == 2
    assert charts.line_chart("x", [("2025-10-01", None)]) is None
    assert charts.line_chart("x", [("not a day", 5)]) is None


def test_line_chart_joins_consecutive_days_and_escapes_labels() -> None:
    chart = charts.line_chart(
        "<b>", [("2025-10-01", 1), ("2025-10-02", 3), ("2025-10-03", 2)], unit="<i>"
    )
    assert chart is not None
    assert chart.svg.count("<path") == 1 and "<circle" not in chart.svg
    assert "<b>" not in chart.svg and "&lt;b&gt;" in chart.svg and "&lt;i&gt;" in chart.svg


def test_chart_table_rows_are_the_template_loop_they_replace() -> None:
    """The data table's rows made in Python are the markup the template's loop made,
    autoescaping included (rows of any text)."""
    from jinja2 import Environment

    loop = Environment(autoescape=True).from_string(
        "{% for d, v in rows %}<tr><td>{{ d }}</td><td>{{ v }}</td></tr>{% endfor %}"
    )
    rows = [("Oct 1, 2025", "1,000"), ("<b>&'\"", "<i>")]
    chart = charts.Chart(svg="", summary="", rows=rows)
    assert chart.table_rows == loop.render(rows=rows)
    assert "<b>" not in chart.table_rows


def test_json_script_cannot_close_the_script() -> None:
    out = str(json_script({"a": "</script><script>alert(1)</script>&\u2028"}))
    assert "<" not in out and ">" not in out and "&" not in out and "\u2028" not in out


def test_xml_text_drops_control_characters() -> None:
    assert xml_text("a\x00b\x1bc\td\n") == "abc\td\n"


def test_ledger_finds_a_path_claimed_twice() -> None:
    ledger = Ledger(duckdb.connect())
    ledger.add([("p/x/index.html", "post.html", "1", True), ("a.css", "", "2", False)], "py")
    assert ledger.duplicate() is None
    ledger.add([("p/x/index.html", "creator.html", "3", True)], "py")
    assert ledger.duplicate() == ("p/x/index.html", "creator.html", "post.html")


def test_sitemap_digests_follow_the_sitemaps_urls() -> None:
    """Sitemaps are hashed in SQL, cut exactly as `sitemap_urls` cuts them: a URL added
    changes the digest of its own sitemap and of those after it, never of one before."""

    def digests(paths: list[str], max_urls: int = 3) -> tuple[list[str], list[list[str]]]:
        ledger = Ledger(duckdb.connect(), fetch_size=1)
        ledger.add([(p, "post.html", "d", True) for p in paths], "py")
        ledger.add([("feed.xml", "feed.xml", "d", False)], "py")  # not listed
        chunks = [u for chunk in ledger.sitemap_urls() for u in chunk]
        cut = [chunks[i : i + max_urls] for i in range(0, len(chunks), max_urls)]
        return ledger.sitemap_digests(max_urls), cut

    pages = [f"p/{c}/index.html" for c in "acegikm"]
    before, cut = digests(pages)
    assert len(before) == len(cut) == 3 and [len(c) for c in cut] == [3, 3, 1]
    assert digests(pages)[0] == before  # stable
    after, _ = digests([*pages, "p/h/index.html"])  # lands in the second sitemap
    assert after[0] == before[0] and after[1] != before[1] and after[2] != before[2]
    assert digests([])[0] == []


@pytest.mark.parametrize(
    ("rel", "sibs"),
    [
        ("a/index.html", ("a/index.html.gz", "a/index.html.br")),
        ("x.png", ()),
        ("f.xml", ("f.xml.gz", "f.xml.br")),
    ],
)
def test_siblings(rel: str, sibs: tuple[str, ...]) -> None:
    assert siblings(rel) == sibs


def test_manifest_round_trip(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None and manifest_file(tmp_path) is None
    ledger = Ledger(duckdb.connect(), fetch_size=1)  # several fetches
    ledger.add([("b/index.html", "x.html", "2", True), ("a.css", "", "1", False)], "py")
    ledger.write_manifest(tmp_path / ".manifest", {"pagefind/": "3"})
    expected = {"a.css": "1", "b/index.html": "2", "pagefind/": "3"}
    assert read_manifest(tmp_path) == expected
    assert list(expected) == [
        line.split("\t")[0] for line in (tmp_path / ".manifest").read_text().splitlines()[1:]
    ]
    assert ledger.load("live_m", manifest_file(tmp_path)) == 3
    assert ledger.folders("live_m") == {"pagefind/": "3"}
    assert ledger.load("live_m", None) == 0
    (tmp_path / ".manifest").write_text("garbage\n")
    assert read_manifest(tmp_path) is None and manifest_file(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("# no header", "must start"),
        ("---\ntitle: x", "not closed"),
        ("---\njunk\n---\n", "key: value"),
    ],
)
def test_front_matter_errors(text: str, error: str) -> None:
    with pytest.raises(ContentError, match=error):
        parse_front_matter(text, "x.md")


def test_content_url() -> None:
    assert content_url(Path("about/ranking.md")) == "/about/ranking/"


@pytest.mark.parametrize(
    ("value", "html"),
    [
        (None, '<span class="muted" title="not enough history">–</span>'),
        (0, '<span class="">0</span>'),
        (12, '<span class="up">+12</span>'),
        (-1500, '<span class="down">-1,500</span>'),
    ],
)
def test_gain_html(value: int | None, html: str) -> None:
    assert str(gain_html(value)) == html


@pytest.mark.parametrize(
    ("posts", "shards"),
    [(0, 1), (15_000, 1), (15_001, 2), (100_000, 8), (240_000, 16), (1_000_000, 64), (10**8, 64)],
)
def test_shard_count(posts: int, shards: int) -> None:
    assert search.shard_count(posts) == shards


def test_plan_bundles_cover_every_last_character_once() -> None:
    plan = search.plan_bundles(4)
    assert [b.key for b in plan] == [
        "pagefind/",
        "pagefind-1/",
        "pagefind-2/",
        "pagefind-3/",
        "pagefind-4/",
    ]
    assert plan[1].glob == "{p/*[0123],p/*[!0-9a-f]}/index.html"
    assert plan[4].glob == "p/*[cdef]/index.html"
    assert search.plan_bundles(16)[16].glob == "p/*[f]/index.html"


def _expand_braces(glob: str) -> list[str]:
    if "{" not in glob:
        return [glob]
    head, rest = glob.split("{", 1)
    inner, tail = rest.split("}", 1)
    return [head + part + tail for part in inner.split(",")]


def _glob_part_regex(glob: str) -> str:
    """One brace-free glob as a regex: `*` and `?` stay within a folder; classes
    `[...]`, `[!...]` with `\\x` escapes, as Pagefind's glob engine reads them."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.index("]", i)
            body = glob[i + 1 : end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            chars, j = [], 0
            while j < len(body):
                if body[j] == "\\":
                    j += 1
                    chars.append(re.escape(body[j]))
                elif j + 2 < len(body) and body[j + 1] == "-":
                    chars.append(f"{re.escape(body[j])}-{re.escape(body[j + 2])}")
                    j += 2
                else:
                    chars.append(re.escape(body[j]))
                j += 1
            out.append("[" + ("^/" if neg else "") + "".join(chars) + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@functools.cache
def _glob_regex(glob: str) -> re.Pattern[str]:
    return re.compile("|".join(_glob_part_regex(g) for g in _expand_braces(glob)))


def _glob_matches(path: str, glob: str) -> bool:
    """Pagefind's glob semantics for ours: braces, classes, and `*` within one folder."""
    return _glob_regex(glob).fullmatch(path) is not None


def _shards_in_sql(shard_expr: str, column: str, values: list[str]) -> dict[str, int]:
    """The shard the SQL expression gives each value, in one query (not one per value)."""
    rows = (
        duckdb.connect()
        .execute(f"SELECT {column}, {shard_expr} FROM (SELECT unnest(?) AS {column})", [values])
        .fetchall()
    )
    return {str(value): int(shard) for value, shard in rows}


POST_IDS = ["s_00", "s_0f", "s_a7", "s_9", "s_zz", "s_A", "x-_", "7", "z", "s_z3", "s_3z", "s_ff"]


@pytest.mark.parametrize("shards", [1, 2, 4, 16, 32, 64])
def test_every_post_id_is_in_exactly_the_shard_sql_computes(shards: int) -> None:
    plan = search.plan_bundles(shards)
    assert len(plan) == shards + 1 and len({b.key for b in plan}) == shards + 1
    post_ids = POST_IDS + [f"s_{a}{b}" for a in search.HEX for b in search.HEX]
    shard_of = _shards_in_sql(search.shard_sql(shards), "id", post_ids)
    for post_id in post_ids:
        path = f"p/{post_id}/index.html"
        hits = [n for n, bundle in enumerate(plan[1:]) if _glob_matches(path, bundle.glob)]
        assert hits == [shard_of[post_id]], post_id


def test_shards_split_evenly_on_the_last_two_characters() -> None:
    plan = search.plan_bundles(64)
    assert plan[2].glob == "p/*0[4567]/index.html"
    assert plan[64].glob == "p/*f[cdef]/index.html"
    assert search.plan_bundles(32)[32].glob == "p/*f[89abcdef]/index.html"


@pytest.mark.parametrize(
    ("n", "text"), [(None, ""), (0, "0 likes"), (1, "1 like"), (2, "2 likes"), (1500, "1.5K likes")]
)
def test_counted(n: int | None, text: str) -> None:
    assert stats.counted(n, "like") == text


def test_template_env_loads_each_template_once_per_build(tmp_path: Path) -> None:
    """A build's templates do not change under it: the environment must not re-check
    (stat) them on every page, so an edit after the first load is not picked up."""
    from sorastats.site.templating import make_env

    (tmp_path / "page.html").write_text("one {{ page }}", encoding="utf-8")
    env = make_env(tmp_path, "https://sorastats.example", {})
    first = env.get_template("page.html")
    assert first.render(page="<b>") == "one &lt;b&gt;"
    (tmp_path / "page.html").write_text("two {{ page }}", encoding="utf-8")
    assert env.get_template("page.html") is first
    assert env.get_template("page.html").render(page="x") == "one x"


@pytest.mark.parametrize(
    ("creators", "shards"), [(0, 1), (20_000, 1), (20_001, 2), (200_000, 16), (10**7, 16)]
)
def test_creator_shard_count(creators: int, shards: int) -> None:
    assert search.creator_shard_count(creators) == shards


@pytest.mark.parametrize("shards", [2, 4, 8, 16])
def test_every_creator_is_in_exactly_the_shard_sql_computes(shards: int) -> None:
    plan = search.plan_bundles(4, shards)
    assert plan[0].glob == "about/index.html"
    creator_bundles = plan[1 + 4 :]
    assert [b.key for b in creator_bundles] == [f"pagefind-c{i + 1}/" for i in range(shards)]
    slugs = [f"a{b}{c}" for b in search.SLUG_CHARS for c in search.SLUG_CHARS]
    slugs += [*search.SLUG_CHARS, "ab~", "a~b", "~", "u-user-b", "name_0", "name_99", "é9"]
    shard_of = _shards_in_sql(search.creator_shard_sql(shards), "slug", slugs)
    for slug in slugs:
        path = f"c/{slug}/index.html"
        hits = [n for n, bundle in enumerate(creator_bundles) if _glob_matches(path, bundle.glob)]
        assert hits == [shard_of[slug]], slug
        paged = f"c/{slug}/page/2/index.html"  # later pages are not searched
        assert not any(_glob_matches(paged, b.glob) for b in creator_bundles)


@pytest.mark.parametrize("style", ["creator_{}", "u-{:x}", "{}", "{}_{:o}", "x{}y{:x}"])
def test_creator_shards_are_even_for_any_username_style(style: str) -> None:
    """Pagefind's memory follows the biggest shard. Usernames that share an ending style
    (digits, as synthetic data and many real ones have) must still spread evenly."""
    slugs = [style.format(n, n * 7919 % 200_003) for n in range(200_000)]
    sizes = (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FROM (SELECT unnest(?) AS slug) "
            f"GROUP BY {search.creator_shard_sql(16)}",
            [slugs],
        )
        .fetchall()
    )
    assert len(sizes) == 16
    assert max(n for (n,) in sizes) <= 1.25 * len(slugs) / 16


def test_few_creators_stay_in_the_main_bundle() -> None:
    assert search.plan_bundles(2)[0].glob == "{c/*,about}/index.html"
    assert len(search.plan_bundles(2)) == 3


def test_hash_query_swaps_stand_ins_and_refuses_a_missing_expression() -> None:
    from sorastats.site.model import PAGE_SETS, PageSet

    post_set = next(ps for ps in PAGE_SETS if ps.kind == "post")
    ((expression, stand_in),) = post_set.hash_subs
    hashed = post_set.hash_query(0, 1)
    assert expression not in hashed and stand_in in hashed
    assert expression in post_set.query(None, 0, 1)  # the rendered documents keep it
    broken = PageSet("x", "x.html", False, "SELECT 1 AS key", hash_subs=(("nope", "1"),))
    with pytest.raises(ValueError, match="'nope' is not in the set's SQL"):
        broken.hash_query()
