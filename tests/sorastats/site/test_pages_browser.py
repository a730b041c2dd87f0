"""Every page type in Debian's chromium, as visitors see it: axe-core finds no WCAG 2.1 A/AA
violation in light and dark mode, on a desktop and a 390 px phone; nothing scrolls
sideways on a 360 px screen; charts answer the mouse and the arrow keys; a signed-out
visitor's prompt page loads one script and no account code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.support import sitedata
from tests.support.browser import served_hand_made_site

pytestmark = pytest.mark.browser

# One URL per page type the build writes (the vault and account pages are shells that the
# browser fills in; signed out, they show their sign-in gate).
PAGE_TYPES = {
    "home": "/",
    "creator": "/c/alice/",
    "creator without numbers": "/c/carol/",
    "prompt": f"/p/{sitedata.pid(1)}/",
    "prompt with hostile text": f"/p/{sitedata.pid(100)}/",
    "leaderboards": "/top/",
    "leaderboard": "/top/creators/followers/",
    "video leaderboard": "/top/videos/views-7d/",
    "search": "/search/",
    "content": "/about/",
    "privacy": "/privacy/",
    "contact": "/contact/",
    "pricing": "/pricing/",
    "not found": "/404.html",
    "vault": "/vault/",
    "vault import": "/vault/import/",
    "favorites": "/vault/favorites/",
    "account": "/account/",
}
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_hand_made_site(tmp_path_factory.mktemp("pages")) as base:
        yield base


def _settle(page: Page, url: str) -> None:
    # Account pages ask the API (absent here) and then show a status: wait for it.
    page.goto(url, wait_until="networkidle" if url.startswith(("/vault", "/account")) else "load")
    if url.endswith("/search/"):  # with results on the page, as a visitor sees it
        page.get_by_label("Search prompts and creators").fill("glacier")
        expect(page.locator(".pagefind-ui__result-link").first).to_be_visible(timeout=15_000)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_type_passes_axe(
    served: str, chromium: Browser, scheme: Literal["light", "dark"], width: int
) -> None:
    context = chromium.new_context(
        base_url=served, viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    try:
        page = context.new_page()
        found = {}
        for name, url in PAGE_TYPES.items():
            _settle(page, url)
            violations = Axe().run(page, options=WCAG).response["violations"]
            if violations:
                found[name] = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in violations]
        assert found == {}
    finally:
        context.close()


def test_nothing_scrolls_sideways_on_a_360_px_screen(served: str, chromium: Browser) -> None:
    context = chromium.new_context(base_url=served, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        wide = {}
        for name, url in PAGE_TYPES.items():
            _settle(page, url)
            # Boxes that stick out of the page, not scrollable regions inside it.
            over = page.evaluate(
                """() => [document.documentElement.scrollWidth,
                          [...document.querySelectorAll('body *')]
                            .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
                            .filter(e => !e.closest('details:not([open])'))
                            .map(e => e.tagName + '.' + e.className).slice(0, 3)]"""
            )
            if over[0] > 360 or over[1]:
                wide[name] = over
        assert wide == {}
    finally:
        context.close()


def test_a_chart_shows_values_on_hover_and_arrow_keys(served: str, chromium: Browser) -> None:
    context = chromium.new_context(base_url=served, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto("/c/alice/", wait_until="networkidle")
        chart = page.get_by_role("img", name="Followers")
        expect(chart).to_have_accessible_description(
            "Followers: 600 on Sep 30, 2025 to 1,000 on Oct 30, 2025 (+400)."
        )
        readout = chart.locator("xpath=following-sibling::output")
        chart.focus()
        expect(readout).to_have_text("Oct 30, 2025: 1,000 followers")
        chart.press("ArrowLeft")
        expect(readout).to_have_text("Oct 29, 2025: 990 followers")
        chart.press("Home")
        expect(readout).to_have_text("Sep 30, 2025: 600 followers")
        chart.press("ArrowLeft")  # stays on the first point
        expect(readout).to_have_text("Sep 30, 2025: 600 followers")
        box = chart.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        expect(readout).to_have_text("Oct 23, 2025: 900 followers")
        # Days without a capture are gaps: Sep 30 and Oct 23 stand alone, Oct 29-30 is a line.
        assert chart.locator("circle.line").count() == 2 and chart.locator("path.line").count() == 1
    finally:
        context.close()


def test_a_signed_out_prompt_page_loads_no_account_code(served: str, chromium: Browser) -> None:
    context = chromium.new_context(base_url=served)
    try:
        page = context.new_page()
        scripts: list[str] = []
        page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
        page.goto(f"/p/{sitedata.pid(1)}/", wait_until="networkidle")
        assert scripts and not [u for u in scripts if "/js/" in u], scripts
        # Signed in (the hint set at sign-in), the favorite button's code comes.
        page.evaluate("() => localStorage.setItem('sorastats.signedIn', '1')")
        scripts.clear()
        page.reload(wait_until="networkidle")
        assert [u for u in scripts if "favorite-button" in u], scripts
    finally:
        context.close()
