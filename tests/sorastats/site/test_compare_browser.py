"""/compare/ in Debian's chromium over a built site served as plain files (a CDN's view):
creators side by side from their series files, the overlaid chart's accessibility (axe-core
in light and dark), values on the arrow keys, every kind of bad `?c=` answered in words,
the pure logic of compare-logic.js table-tested against sorastats/site/charts.py and
stats.py, and the "Compare" link of every creator page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from sorastats.site import charts, stats
from tests.support.browser import served_hand_made_site
from tests.support.html import load

pytestmark = pytest.mark.browser

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("compare")
    with served_hand_made_site(tmp) as base:
        yield base, tmp / "site"


def open_compare(chromium: Browser, base: str, query: str, scheme: str = "light") -> Page:
    context = chromium.new_context(base_url=base, color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/compare/" + query)
    page.locator("#compare-app[data-ready]").wait_for(state="attached")
    assert errors == []
    return page


def accessible(page: Page) -> None:
    results = Axe().run(page, options=WCAG).response
    assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in results["violations"]] == []


def problems(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#compare-problems li").all_inner_texts()]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_two_creators_side_by_side(site: tuple[str, Path], chromium: Browser, scheme: str) -> None:
    base, _ = site
    page = open_compare(chromium, base, "?c=alice,bob", scheme)
    try:
        assert problems(page) == []
        expect(page.locator("#compare-heading")).to_have_text("Comparing @alice, @bob")
        table = page.locator("#compare-table")
        heads = table.locator("thead th").all_inner_texts()
        assert [h.strip() for h in heads][:2] == ["Counter", "@alice Alice 🎥"]
        rows = {
            r.locator("th").inner_text(): r.locator("td").all_inner_texts()
            for r in table.locator("tbody tr").all()
        }
        assert rows["Followers, now"] == ["1,000", "5"]
        assert rows["Followers, 7 days"][0] == "+100"
        assert rows["Followers, 30 days"][0] == "+400"
        assert rows["Likes received, 7 days"][0] == "+500"
        svg = page.locator("#compare-figure svg.compare-chart")
        assert svg.get_attribute("role") == "img"
        assert page.locator("#compare-chart-t").text_content() == "Followers, creators compared"
        desc = page.locator("#compare-chart-d").text_content() or ""
        assert "@alice: 600 on Sep 30, 2025 to 1,000 on Oct 30, 2025 (+400)" in desc
        assert page.locator("#compare-figure figcaption").inner_text() == desc
        assert page.locator(".legend li").count() == 2
        data_rows = page.locator("#compare-figure details tbody tr")
        assert data_rows.count() == 4  # the days either creator was captured
        # values on the keys: the first day, then the next
        svg.focus()
        page.keyboard.press("Home")
        expect(page.locator(".chart-readout")).to_have_text("Sep 30, 2025: @alice 600 · @bob –")
        page.keyboard.press("ArrowRight")
        expect(page.locator(".chart-readout")).to_have_text("Oct 23, 2025: @alice 900 · @bob –")
        page.get_by_label("Likes received").check()
        expect(page.locator("#compare-chart-t")).to_have_text("Likes received, creators compared")
        accessible(page)
    finally:
        page.context.close()


def test_bad_input_is_explained_never_a_broken_page(
    site: tuple[str, Path], chromium: Browser
) -> None:
    base, _ = site
    query = (
        "?c=alice,ALICE,@bob,nobody,%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E,carol,"
        "old_bob,extra1,extra2,,%20,"
    )
    page = open_compare(chromium, base, query)
    try:
        said = problems(page)
        assert "@alice is listed twice: shown once." in said
        hostile = "“<img src=x onerror=alert(1)>” is not a creator's name"
        assert any(p.startswith(hostile) for p in said)
        assert "At most 5 creators side by side: @extra1, @extra2 left out." in said
        assert "No creator @nobody on SoraStats (or their page is hidden)." in said
        # old_bob is a redirect page, not a creator: it has no series file
        assert "No creator @old_bob on SoraStats (or their page is hidden)." in said
        assert page.locator("#compare-problems img").count() == 0
        expect(page.locator("#compare-heading")).to_have_text("Comparing @alice, @bob, @carol")
        assert page.locator(".legend li").count() == 3
        accessible(page)
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("", []),
        ("?c=", []),
        ("?c=%00%01", ["“\x00\x01” is not a creator's name: use the name in their page's "
                       "address."]),
        ("?c=" + "a" * 2000, ["The list is too long: only its first 1000 characters were read.",
                              f"“{'a' * 40}…” is not a creator's name: use the name in their "
                              "page's address."]),
        ("?c=nobody", ["No creator @nobody on SoraStats (or their page is hidden)."]),
    ],
)  # fmt: skip
def test_nothing_to_compare(
    site: tuple[str, Path], chromium: Browser, query: str, said: list[str]
) -> None:
    base, _ = site
    page = open_compare(chromium, base, query)
    try:
        assert problems(page) == said
        assert page.locator("#compare-results").is_hidden()
        expect(page.locator("#compare-heading")).to_have_text("Compare creators")
        accessible(page)
    finally:
        page.context.close()


def test_every_creator_page_links_to_compare(site: tuple[str, Path]) -> None:
    _, root = site
    pages = [p for p in (root / "c").glob("*/index.html") if "http-equiv" not in p.read_text()]
    assert len(pages) >= 3
    for path in pages:
        slug = path.parent.name
        links = load(path).find_all("a", class_="compare-link")
        assert [a.attrs["href"] for a in links] == [f"/compare/?c={slug}"], path


# --- compare-logic.js, table-tested in the browser --------------------------------------

PARSES: list[tuple[Any, list[str], int]] = [
    (None, [], 0),
    ("alice", ["alice"], 0),
    (" @Alice , bob ", ["alice", "bob"], 0),
    ("a,b,c,d,e", ["a", "b", "c", "d", "e"], 0),
    ("a,b,c,d,e,f", ["a", "b", "c", "d", "e"], 1),
    ("a,a,A,@a", ["a"], 3),
    ("..,.,u-user-x", ["u-user-x"], 2),
    ("a/b,a b,a%2Fb", [], 3),
    ("x" * 64 + "," + "y" * 65, ["x" * 64], 1),
]


def logic(page: Page, call: str, *args: Any) -> Any:
    src = page.locator("#compare-app").get_attribute("data-logic")
    script = f"async ([src, args]) => (await import(src)).{call}(...args)"
    return page.evaluate(script, [src, list(args)])


def test_compare_logic_tables(site: tuple[str, Path], chromium: Browser) -> None:
    base, _ = site
    page = open_compare(chromium, base, "")
    try:
        for raw, slugs, n_problems in PARSES:
            got = logic(page, "parseCompare", raw)
            assert (got["slugs"], len(got["problems"])) == (slugs, n_problems), raw
        for lo, hi in [(0, 1), (5, 5), (0, 0), (600, 1000), (3, 97), (-20, 40), (1234, 987654),
                       (1_000_000, 1_000_100), (17, 18), (0, 2_500_000_000)]:  # fmt: skip
            assert logic(page, "niceTicks", lo, hi) == charts.nice_ticks(lo, hi), (lo, hi)
        for first, last in [("2025-10-01", "2025-10-01"), ("2025-10-01", "2025-10-02"),
                            ("2025-09-30", "2025-10-30"), ("2025-10-01", "2025-10-08"),
                            ("2024-02-20", "2024-03-05")]:  # fmt: skip
            days = charts.date_ticks(date.fromisoformat(first), date.fromisoformat(last))
            want = [d.isoformat() for d in days]
            assert logic(page, "dateTicks", first, last) == want, (first, last)
        for n in [0, 7, -3, 999, 1000, 1234, 15_000, 999_999, 1_500_000, 2_000_000_000, -4321]:
            assert logic(page, "compact", n) == stats.compact(n), n
            assert logic(page, "grouped", n) == stats.grouped(n), n
            assert logic(page, "signed", n) == stats.signed(n), n
        assert logic(page, "dayLabel", "2025-10-03") == stats.day_label("2025-10-03")
        assert logic(page, "queryFor", ["a", "b.c"]) == "/compare/?c=a,b.c"
        assert re.fullmatch(r"\d+", str(logic(page, "runs", ["2025-10-01"], [5])[0][0]))
    finally:
        page.context.close()
