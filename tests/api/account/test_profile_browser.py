"""Correction of every profile field from the account page, in chromium against the built
site and the API on a real server: the display name is saved and shown after a reload;
a new email address waits for the link mailed to it, and the account moves once the link
is opened; nothing changed is said so, and a refused change leaves the account as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.api_server import RunningApi, run_api

pytestmark = pytest.mark.browser

EMAIL = "profile-walk@example.com"
NEW_EMAIL = "profile-moved@example.com"
PASSWORD = "profile walk password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    tmp = tmp_path_factory.mktemp("profile")
    site = tmp / "site"
    dbp = sitedata.hand_made(tmp / "h.duckdb")
    render_site(RenderConfig(db=dbp, out=site, jobs=1, search=False), log=lambda _m: None)
    with run_api(f"sqlite:///{tmp / 'accounts.sqlite3'}", tmp, site=site) as api:
        yield api


def open_link(page: Page, api: RunningApi, address: str, count: int = 1) -> None:
    path, token = api.outbox.last_link(address, count)
    page.goto(f"{path}#token={token}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#result")).to_contain_text("Done.")


def signed_in(page: Page, api: RunningApi) -> None:
    page.goto("/account/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#recovery-code")).not_to_be_empty(timeout=30_000)
    page.get_by_label("I saved my recovery code somewhere safe").check()
    page.get_by_role("button", name="Continue").click()
    open_link(page, api, EMAIL)
    page.goto("/account/")
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(EMAIL)


def stored(api: RunningApi) -> dict[str, object]:
    row = api.services.db.call(
        lambda conn: conn.one(
            "SELECT email, pending_email, display_name FROM users WHERE email IN (?, ?)",
            (EMAIL, NEW_EMAIL),
        ),
        write=False,
    )
    assert row is not None
    return dict(row)


def test_every_profile_field_is_corrected_from_the_account_page(
    server: RunningApi, chromium: Browser
) -> None:
    context = chromium.new_context(base_url=server.base_url)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        signed_in(page, server)
        profile = page.locator("#profile-form")
        name, email = profile.get_by_label("Display name"), profile.get_by_label("Email")
        expect(email).to_have_value(EMAIL)
        expect(name).to_have_value("")

        profile.get_by_role("button", name="Save profile").click()
        expect(page.locator("#profile-status")).to_have_text("Nothing to change.")

        name.fill("Héron <b>marbré</b>")  # stored and shown as text, never as markup
        profile.get_by_role("button", name="Save profile").click()
        expect(page.locator("#profile-status")).to_have_text("Saved.")
        page.reload()
        expect(page.locator("#profile-form").get_by_label("Display name")).to_have_value(
            "Héron <b>marbré</b>"
        )
        assert stored(server)["display_name"] == "Héron <b>marbré</b>"

        # A name the server refuses (over 100 characters, past the input's own limit).
        page.evaluate("document.querySelector('#profile-form [name=display_name]').maxLength = 500")
        page.locator("#profile-form").get_by_label("Display name").fill("x" * 101)
        page.locator("#profile-form").get_by_role("button", name="Save profile").click()
        expect(page.locator("#profile-status")).to_contain_text("display_name")
        assert stored(server)["display_name"] == "Héron <b>marbré</b>"  # nothing changed

        page.reload()
        profile = page.locator("#profile-form")
        profile.get_by_label("Email").fill(NEW_EMAIL.upper())
        profile.get_by_role("button", name="Save profile").click()
        expect(page.locator("#profile-status")).to_contain_text(f"link we sent to {NEW_EMAIL}")
        expect(page.locator("#pending-email")).to_contain_text(NEW_EMAIL)
        assert stored(server)["email"] == EMAIL and stored(server)["pending_email"] == NEW_EMAIL

        open_link(page, server, NEW_EMAIL)
        page.goto("/account/")
        expect(page.locator("#account-email")).to_have_text(NEW_EMAIL)
        expect(page.locator("#profile-form").get_by_label("Email")).to_have_value(NEW_EMAIL)
        expect(page.locator("#pending-email")).to_be_hidden()
        assert stored(server)["email"] == NEW_EMAIL
        assert errors == []
    finally:
        context.close()
