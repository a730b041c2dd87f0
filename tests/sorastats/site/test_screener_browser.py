"""The screener (/screener/) end to end in Debian's chromium, on a built site served by the
dev server (Range requests, the site's CSP): a multi-condition screen returns exactly the
rows the same screen returns in DuckDB on the server; the URL restores it (page and form);
the CSV holds the same rows; hostile URL states are left out or bound as values, never
SQL; other pages load no DuckDB-WASM; axe-core finds nothing in light and dark mode, on a
desktop and a 390 px phone."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import duckdb
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from sorastats import db
from sorastats.site import opendata
from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.api_server import run_api
from tests.support.browser import served_hand_made_site

pytestmark = pytest.mark.browser

HOSTILE_ID = sitedata.pid(999_999)
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
# Views of at least 1,000, "dragon" in the prompt, portrait, posted on or after Oct 10,
# sorted by likes gained in 7 days, lowest first: more than one page of rows.
SCREEN = (
    "t=posts&f=view_count.gte.1000&f=prompt.has.Dragon&f=orientation.is.portrait"
    "&f=posted_at.from.2025-10-10&s=likes_7d&d=asc"
)
SERVER_SQL = """
    SELECT {cols} FROM read_parquet('{path}')
    WHERE view_count >= 1000 AND contains(lower(prompt), 'dragon')
      AND orientation = 'portrait' AND posted_at >= DATE '2025-10-10'
    ORDER BY likes_7d ASC NULLS LAST, id"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """3,000 synthetic posts plus one with a hostile prompt, most viewed of all."""
    tmp = tmp_path_factory.mktemp("screener")
    dbp = sitedata.synth(tmp / "s.duckdb", posts=3000, creators=300)
    con = db.connect(dbp)
    sitedata.add_post(con, HOSTILE_ID, "user-" + "0" * 23 + "1", sitedata.HOSTILE_PROMPT,
                      view_count=10**9, width=640, height=352)  # fmt: skip
    con.close()
    site = tmp / "site"
    render_site(RenderConfig(db=dbp, out=site, jobs=1, search=False), log=lambda _m: None)
    with run_api(f"sqlite:///{tmp / 'accounts.sqlite3'}", tmp, site=site) as api:
        yield api.base_url, site


def server(site: Path, cols: str, sql: str = SERVER_SQL) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    return con.execute(sql.format(cols=cols, path=site / "data" / "posts.parquet")).fetchall()


def ready(page: Page, queries: int = 2) -> None:
    """Until the screener has run `queries` queries (its rows, then their count); polled
    without eval, which the site's CSP forbids."""
    for _ in range(600):
        state = page.evaluate(
            "() => [window.__screener ? window.__screener.queries.length : 0,"
            " document.getElementById('screen-status').dataset.kind || '',"
            " document.getElementById('screen-status').textContent]"
        )
        assert state[1] != "error", state[2]
        if state[0] >= queries:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the screener did not answer")


def shown_ids(page: Page) -> list[str]:
    hrefs = page.locator("#results tbody tr").evaluate_all(
        "rows => rows.map(r => r.querySelector('a[href^=\"/p/\"]').getAttribute('href'))"
    )
    return [h.split("/")[2] for h in hrefs]


@pytest.fixture
def page(served: tuple[str, Path], chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(base_url=served[0], viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    try:
        yield opened
        assert problems == []
    finally:
        context.close()


def test_a_multi_condition_screen_matches_the_server_and_the_url_restores_it(
    page: Page, served: tuple[str, Path]
) -> None:
    base, site = served
    expected = [r[0] for r in server(site, "id")]
    assert len(expected) > 50  # two pages at least
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"/screener/?{SCREEN}")
    ready(page)
    assert shown_ids(page) == expected[:50]
    expect(page.locator("#screen-status")).to_have_text(f"Rows 1–50 of {len(expected):,}.")
    page.get_by_role("button", name="Next page").click()
    ready(page, 4)
    assert shown_ids(page) == expected[50:100]
    assert "p=2" in page.url
    page.go_back()  # page 1 again, from the history
    ready(page, 6)
    assert shown_ids(page) == expected[:50]
    page.go_forward()
    ready(page, 8)
    # The link alone brings it back: rows, form and page.
    page.reload()
    ready(page)
    assert shown_ids(page) == expected[50:100]
    expect(page.get_by_label("Condition 2: column")).to_have_value("prompt")
    expect(page.get_by_label("Condition 2: value")).to_have_value("Dragon")
    expect(page.get_by_label("Condition 4: value")).to_have_value("2025-10-10")
    expect(page.get_by_label("Sort by", exact=True)).to_have_value("likes_7d")
    # Only this site was asked, and the data with range requests.
    assert [u for u in requests if not u.startswith(base)] == []
    assert any("/data/posts.parquet" in u for u in requests)


def test_a_screen_made_with_the_form_goes_into_the_url(
    page: Page, served: tuple[str, Path]
) -> None:
    _, site = served
    page.goto("/screener/")
    ready(page)
    page.get_by_role("radio", name="Videos").check()
    page.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Condition 1: column").select_option("remixes_30d")
    page.get_by_label("Condition 1: test").select_option("gte")
    page.get_by_label("Condition 1: value").fill("200")
    page.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Condition 2: column").select_option("has_prompt")
    page.get_by_label("Condition 2: value").select_option("false")
    page.get_by_label("Sort by", exact=True).select_option("remix_count")
    page.get_by_label("Order", exact=True).select_option("asc")
    page.get_by_role("button", name="Show results").click()
    ready(page, 4)
    sql = """SELECT {cols} FROM read_parquet('{path}')
             WHERE remixes_30d >= 200 AND NOT has_prompt ORDER BY remix_count ASC NULLS LAST, id"""
    expected = [r[0] for r in server(site, "id", sql)]
    assert expected and shown_ids(page) == expected[:50]
    assert "f=remixes_30d.gte.200" in page.url and "f=has_prompt.is.false" in page.url
    # Sorting by a column's header: highest first, then lowest first.
    page.get_by_role("button", name="Sort by views 7d").click()
    ready(page, 6)
    sql_7d = sql.replace("remix_count ASC", "views_7d DESC")
    assert shown_ids(page) == [r[0] for r in server(site, "id", sql_7d)][:50]
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")


def test_the_csv_holds_the_screens_rows(page: Page, served: tuple[str, Path]) -> None:
    _, site = served
    page.goto(f"/screener/?{SCREEN}")
    ready(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    got = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    columns = opendata.POSTS.columns
    assert got[0] == [c.name for c in columns]
    text = ", ".join(f"CAST({c.name} AS VARCHAR)" for c in columns)
    rows = server(site, text)

    def field(value: str | None, column: opendata.Column) -> str:
        if value is None:
            return ""
        formula = column.type == "VARCHAR" and value[:1] in ("=", "+", "-", "@", "\t", "\r")
        return "'" + value if formula else value

    assert got[1:] == [[field(v, c) for v, c in zip(r, columns, strict=True)] for r in rows]
    assert len(got) - 1 == len(rows) > 50  # every row, not one page


HOSTILE_STATES = [
    # (query string, parts left out, rows expected: None = those of a screen without them)
    (
        "t=posts&f=view_count.gte.1;DROP TABLE posts&f=nope.eq.1&f=id.eq.x"
        "&f=view_count.between.1&s=view_count DESC; --&d=sideways&p=-1",
        7,
        None,
    ),
    ("t=posts&f=prompt.has.x') OR 1=1 --", 0, 0),
    ("t=posts&f=prompt.has.'", 0, 0),
    ('t=posts&f=username.has."; SELECT 1; --', 0, 0),
    ("t=posts&f=posted_at.from.2025-02-30&f=posted_at.to.'2025-01-01'", 2, None),
    ("t=posts&f=orientation.is.sideways&f=has_prompt.is.1", 2, None),
    ("t=posts&f=view_count.gte.1e308&f=view_count.gte.NaN&f=view_count.gte.0x10", 3, None),
    ("t=posts" + "&f=view_count.gte.0" * 20, 8, None),  # at most 12 conditions
    ("t=<script>alert(1)</script>&s=__proto__&f=constructor.is.x", 3, None),
]


@pytest.mark.parametrize(("query", "dropped", "rows"), HOSTILE_STATES)
def test_hostile_url_states_are_left_out_or_bound_never_sql(
    page: Page, served: tuple[str, Path], query: str, dropped: int, rows: int | None
) -> None:
    page.goto("/screener/?" + query.replace("#", "%23"))
    ready(page)
    notice = page.locator("#screen-notice")
    if dropped:
        expect(notice).to_contain_text(f"{dropped} part")
    else:
        expect(notice).to_be_hidden()
    status = page.locator("#screen-status").text_content() or ""
    if rows == 0:
        assert status == "No rows match."
    else:
        assert status.startswith("Rows 1–50 of")
    sql = " ".join(page.evaluate("() => window.__screener.queries.map(q => q.sql)"))
    for fragment in ("DROP", "OR 1=1", "SELECT 1", "sideways", "script", "__proto__", "1e308"):
        assert fragment not in sql


def test_hostile_text_in_results_is_text(page: Page) -> None:
    page.goto("/screener/?t=posts")
    ready(page)
    first = page.locator("#results tbody tr").first
    link = first.locator(f'a[href="/p/{HOSTILE_ID}/"]').first
    expect(link).to_contain_text('<script>alert("x")</script> <img src=x onerror=alert(1)>')
    assert page.locator("#results img, #results script").count() == 0


PAGES_WITHOUT_THE_ENGINE = ["/", "/c/alice/", f"/p/{sitedata.pid(1)}/", "/top/", "/data/",
                            "/search/", "/about/"]  # fmt: skip


def test_other_pages_load_no_duckdb_wasm(tmp_path: Path, chromium: Browser) -> None:
    with served_hand_made_site(tmp_path) as base:
        context = chromium.new_context(base_url=base)
        try:
            page = context.new_page()
            urls: list[str] = []
            page.on("request", lambda r: urls.append(r.url))
            for path in PAGES_WITHOUT_THE_ENGINE:
                page.goto(path, wait_until="networkidle")
            assert urls and not [
                u for u in urls if "duckdb" in u or "screener" in u or u.endswith(".parquet")
            ]
        finally:
            context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_screener_and_data_pages_pass_axe(
    served: tuple[str, Path], chromium: Browser, scheme: Literal["light", "dark"], width: int
) -> None:
    context = chromium.new_context(
        base_url=served[0], viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    try:
        page = context.new_page()
        page.goto(f"/screener/?{SCREEN}&f=bogus.eq.1")  # rows, conditions and a notice
        ready(page)
        found = {"screener": Axe().run(page, options=WCAG).response["violations"]}
        page.goto("/data/")
        found["data"] = Axe().run(page, options=WCAG).response["violations"]
        assert {k: [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in vs]
                for k, vs in found.items()} == {"screener": [], "data": []}  # fmt: skip
    finally:
        context.close()


def test_nothing_scrolls_sideways_on_a_360_px_phone(
    served: tuple[str, Path], chromium: Browser
) -> None:
    context = chromium.new_context(base_url=served[0], viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        wide = {}
        for url in (f"/screener/?{SCREEN}", "/data/"):
            page.goto(url)
            if url.startswith("/screener/"):
                ready(page)
            over = page.evaluate(
                """() => [document.documentElement.scrollWidth,
                          [...document.querySelectorAll('body *')]
                            .filter(e => !e.closest('.table-wrap, pre'))
                            .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
                            .map(e => e.tagName + '.' + e.className).slice(0, 3)]"""
            )
            if over[0] > 360 or over[1]:
                wide[url] = over
        assert wide == {}
    finally:
        context.close()
