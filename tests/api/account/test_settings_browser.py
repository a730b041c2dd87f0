"""Site settings in Debian's chromium against the built site and the API on a real
server: saved on /account/ signed in, they are kept in the account and in this browser,
and applied on every page (the theme, the leaderboard window, the objection to usage
metrics, which then sends nothing); a second browser signing in gets them from the
account; the settings section passes axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.api_client import Account, Keys
from tests.support.api_server import RunningApi, hand_made_site_and_api

ACCOUNT = Account("settings@example.com", "settings password")
BROWSER_ITERATIONS = 100_000
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    # The browser refuses the tests' cheap key derivation: the lowest count it accepts.
    ACCOUNT.keys = Keys.new(ACCOUNT.password, BROWSER_ITERATIONS)
    ACCOUNT.recovery = Keys.new(ACCOUNT.recovery_code, BROWSER_ITERATIONS)
    with hand_made_site_and_api(tmp_path_factory.mktemp("settings")) as api:
        api.client().signed_up(ACCOUNT)
        yield api


def sign_in(context: BrowserContext) -> Page:
    page = context.new_page()
    page.goto("/account/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(ACCOUNT.email)
    form.get_by_label("Password").fill(ACCOUNT.password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(ACCOUNT.email)
    return page


def test_settings_are_kept_in_the_account_and_applied(
    chromium: Browser, server: RunningApi
) -> None:
    first = chromium.new_context(base_url=server.base_url, user_agent=UA)
    second = chromium.new_context(base_url=server.base_url, user_agent=UA)
    try:
        page = sign_in(first)
        form = page.locator("#settings-form")
        form.get_by_label("Theme").select_option("dark")
        form.get_by_label("Video leaderboards first list").select_option("30d")
        form.get_by_label("Do not count my visits").check()
        form.get_by_role("button", name="Save settings").click()
        expect(page.locator("#settings-status")).to_have_text(
            "Saved in your account and this browser."
        )
        options = {
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        }
        results = Axe().run(page, options=options).response
        assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in results["violations"]] == []

        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if "/api/events" in r.url else None)
        # The page the objection was saved on sends nothing more either (its web vitals
        # would go when it is hidden).
        page.evaluate("() => dispatchEvent(new Event('pagehide'))")
        page.wait_for_timeout(300)
        page.goto("/top/", wait_until="networkidle")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 19, 23)"
        first_board = page.locator("[data-board-windows] li").first
        expect(first_board).to_have_attribute("data-window", "30d")
        assert sent == []  # the objection: this browser sends no usage events

        # Another browser: signing in brings the account's settings.
        other = sign_in(second)
        expect(other.locator("#settings-form select[name=theme]")).to_have_value("dark")
        stored = other.evaluate("() => JSON.parse(localStorage.getItem('sorastats.settings'))")
        assert stored == {"theme": "dark", "leaderboard_window": "30d", "metrics_objection": True}
        other.goto("/about/")
        expect(other.locator("html")).to_have_attribute("data-theme", "dark")
    finally:
        first.close()
        second.close()
