"""One end-to-end check in Debian's chromium: copy a prompt, search, dark mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, expect

from tests.support import sitedata
from tests.support.browser import served_hand_made_site

pytestmark = pytest.mark.browser


@pytest.fixture
def served_site(tmp_path: Path) -> Iterator[str]:
    with served_hand_made_site(tmp_path) as base:
        yield base


def test_copy_search_and_dark_mode(served_site: str, chromium: Browser) -> None:
    context = chromium.new_context(color_scheme="light")
    try:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served_site)
        page = context.new_page()
        requests: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda r: requests.append(r.url))

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)

        page.goto(f"{served_site}/p/{sitedata.pid(100)}/")
        page.get_by_role("button", name="Copy prompt").click()
        expect(page.get_by_role("status")).to_have_text("Copied.")
        assert page.evaluate("navigator.clipboard.readText()") == sitedata.HOSTILE_PROMPT
        assert dialogs == []  # the hostile prompt's scripts never ran

        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (light, dark) == ("rgb(251, 251, 252)", "rgb(18, 19, 23)")

        page.goto(f"{served_site}/search/")
        page.locator(".pagefind-ui__search-input").fill("glacier")
        result = page.locator(".pagefind-ui__result-link").first
        expect(result).to_be_visible(timeout=15_000)
        hrefs = page.locator(".pagefind-ui__result-link").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        assert f"/p/{sitedata.pid(104)}/" in hrefs and f"/p/{sitedata.pid(105)}/" in hrefs
        assert all(u.startswith(served_site) for u in requests), "a request left the site"
    finally:
        context.close()
