"""The watchlist end to end in Debian's chromium against the real server (the hand-made
site and the API on one port, as `make run` serves them, the API reading the same stats
database): sign in, "Watch" a creator and a video from their pages, /watchlist/ with the
gains since the last look, looking resets them, remove; axe-core in light and dark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.support import sitedata
from tests.support.api_server import RunningApi, hand_made_site_and_api
from tests.support.vault_client import vault_user

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "watcher@example.com", "correct horse battery"
VIDEO = sitedata.pid(0)
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    tmp = tmp_path_factory.mktemp("watch")
    with hand_made_site_and_api(tmp, env={"STATS_DB_PATH": str(tmp / "h.duckdb")}) as api:
        yield api


def accessible(page: Page) -> None:
    results = Axe().run(page, options=WCAG).response
    assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in results["violations"]] == []


def sign_in(page: Page) -> None:
    page.goto("/account/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(EMAIL)


def watchlist(page: Page) -> dict[str, list[str]]:
    """The rows of /watchlist/: the item's cell -> its other cells."""
    page.goto("/watchlist/")
    page.locator("#watchlist-app[data-ready]").wait_for(state="attached")
    rows: dict[str, list[str]] = {}
    for row in page.locator("#watchlist-body tr").all():
        if row.locator("th").count():
            rows[row.locator("th").inner_text().strip()] = row.locator("td").all_inner_texts()
    return rows


def test_watch_from_the_pages_then_the_watchlist(server: RunningApi, chromium: Browser) -> None:
    vault_user(server.client(), EMAIL, PASSWORD, browser=True)
    context = chromium.new_context(base_url=server.base_url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # Signed out: no button, and the page says how to see a watchlist.
        page.goto("/c/alice/")
        expect(page.locator("#watch-box")).to_be_hidden()
        assert watchlist(page) == {}
        expect(page.locator("#watchlist-status")).to_have_text("Sign in to see your watchlist.")

        sign_in(page)
        page.goto("/c/alice/")
        button = page.locator("#watch-box button")
        expect(button).to_have_text("👁 Watch")
        button.click()
        expect(button).to_have_text("👁 Watching")
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(page.locator(".watch-status")).to_have_text("Added to your watchlist.")
        page.goto(f"/p/{VIDEO}/")
        page.locator("#watch-box button").click()
        expect(page.locator("#watch-box button")).to_have_text("👁 Watching")
        page.reload()  # the state comes back from the account
        expect(page.locator("#watch-box button")).to_have_text("👁 Watching")

        video_row = "A calm lake at dawn, take 0 by @alice"
        rows = watchlist(page)
        assert rows[video_row][:2] == [
            "100 views\n10 likes\n– remixes",
            "0 views\n0 likes\n– remixes\nsince Oct 30, 2025",
        ]
        assert rows["@alice"][0] == "1,000 followers\n5,000 likes"
        accessible(page)

        # As if last looked a week before the data day: the gains since then.
        week_ago = int(datetime(2025, 10, 24, 12, tzinfo=UTC).timestamp())
        server.services.db.call(
            lambda c: c.execute("UPDATE watchlist SET seen_at = ?", (week_ago,))
        )
        rows = watchlist(page)
        assert rows["@alice"][1] == "+100 followers\n+500 likes\nsince Oct 23, 2025"
        assert rows[video_row][1].startswith("+50 views\n+5 likes")
        expect(page.locator("#watchlist-caption")).to_have_text(
            "Gains since you last looked (Oct 24, 2025)"
        )
        # That look counted: the next visit counts from it.
        rows = watchlist(page)
        assert rows["@alice"][1] == "0 followers\n0 likes\nsince Oct 30, 2025"

        page.get_by_role("button", name="Stop watching @alice", exact=True).click()
        expect(page.locator("#watchlist-status")).to_have_text(
            "Removed @alice from your watchlist."
        )
        assert list(watchlist(page)) == [video_row]
        remove_video = f"Stop watching the video “{video_row.split(' by ')[0]}” by @alice"
        expect(page.get_by_role("button", name=remove_video, exact=True)).to_be_visible()
        page.goto("/c/alice/")
        expect(page.locator("#watch-box button")).to_have_text("👁 Watch")
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_watchlist_page_is_accessible_in_both_themes(
    server: RunningApi, chromium: Browser, scheme: str
) -> None:
    context = chromium.new_context(base_url=server.base_url, color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        watchlist(page)
        accessible(page)
        page.goto("/c/alice/")
        accessible(page)
    finally:
        context.close()
