"""Rights exercised from the account page, in chromium against the built site and the API
on a real server.

Correction of every profile field: the display name is saved and shown after a reload; a
new email address waits for the link mailed to it, and the account moves once the link is
opened; nothing changed is said so, and a refused change leaves the account as it was.

Portability: the vault decrypted in the browser, as JSON and as Markdown, every version
and tag name in plain text; a locked tab asks for the password (a wrong one is refused);
no request ever carries a word of the plain text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.api_server import RunningApi, hand_made_site_and_api

pytestmark = pytest.mark.browser

EMAIL = "profile-walk@example.com"
NEW_EMAIL = "profile-moved@example.com"
PASSWORD = "profile walk password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with hand_made_site_and_api(tmp_path_factory.mktemp("profile")) as api:
        yield api


def open_link(page: Page, api: RunningApi, address: str, count: int = 1) -> None:
    path, token = api.outbox.last_link(address, count)
    page.goto(f"{path}#token={token}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#result")).to_contain_text("Done.")


def register(page: Page, api: RunningApi, email: str) -> None:
    page.goto("/account/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#recovery-code")).not_to_be_empty(timeout=30_000)
    page.get_by_label("I saved my recovery code somewhere safe").check()
    page.get_by_role("button", name="Continue").click()
    open_link(page, api, email)


def signed_in(page: Page, api: RunningApi) -> None:
    register(page, api, EMAIL)
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


EXPORTER = "export-walk@example.com"
TITLE = "Velvetmoth lantern"
BODIES = ["a velvet moth circling a paper lantern", "a velvet moth ``` landing on a lantern"]
NOTES = "# not a heading, *not emphasis*"
TAG = "Duskwren"
PLAIN_WORDS = ["Velvetmoth", "velvet moth", "paper lantern", "Duskwren", "not emphasis"]


def vault_prompt_with_two_versions_and_a_tag(page: Page) -> None:
    page.goto("/vault/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#vault-signin-form")
    form.get_by_label("Email").fill(EXPORTER)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="New prompt").click()
    editor = page.locator("#editor-form")
    editor.locator("[name=title]").fill(TITLE)
    editor.locator("[name=body]").fill(BODIES[0])
    editor.locator("[name=notes]").fill(NOTES)
    editor.get_by_role("button", name="Save").click()
    item = page.locator(".prompt-item", has_text=TITLE)
    expect(item).to_be_visible()
    page.get_by_role("button", name=f"Edit {TITLE}").click()
    page.locator("#editor-form [name=body]").fill(BODIES[1])
    page.locator("#editor-form").get_by_role("button", name="Save").click()
    expect(page.locator("#vault-status")).to_have_text("Saved version 2.")
    page.locator("#tag-form").get_by_label("New tag").fill(TAG)
    page.get_by_role("button", name="Create tag").click()
    page.get_by_label(f"Select {TITLE}").check()
    page.locator("#bulk-tag").select_option(label=TAG)
    page.get_by_role("button", name="Add tag to selected").click()
    expect(item.locator(".tag-chip")).to_have_text(TAG)


def download(page: Page, button: str) -> str:
    with page.expect_download() as download:
        page.get_by_role("button", name=button).click()
    return Path(download.value.path()).read_text("utf-8")


def test_the_vault_is_exported_decrypted_in_the_browser(
    server: RunningApi, chromium: Browser
) -> None:
    context = chromium.new_context(base_url=server.base_url)
    bodies: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("request", lambda request: bodies.append(request.post_data or ""))
        register(page, server, EXPORTER)
        vault_prompt_with_two_versions_and_a_tag(page)

        page.goto("/account/")  # a new page load: signed in, the vault locked
        expect(page.locator("#account-email")).to_have_text(EXPORTER)
        status = page.locator("#export-plain-status")
        page.get_by_role("button", name="Download decrypted copy (JSON)").click()
        expect(status).to_have_text("Enter your password to decrypt your prompts in this browser.")
        password = page.get_by_label("Password (to decrypt your prompts here)")
        password.fill("not the password at all")
        page.get_by_role("button", name="Download decrypted copy (JSON)").click()
        expect(status).to_have_text("Wrong password.")
        password.fill(PASSWORD)
        doc = json.loads(download(page, "Download decrypted copy (JSON)"))
        expect(status).to_contain_text("1 prompts, decrypted in this browser")

        assert doc["format"] == "sorastats-decrypted-export-1"
        assert doc["profile"]["email"] == EXPORTER and doc["tags"] == [TAG]
        (prompt,) = doc["prompts"]
        assert prompt["tags"] == [TAG]
        assert [(v["version"], v["title"], v["body"], v["notes"]) for v in prompt["versions"]] == [
            (1, TITLE, BODIES[0], NOTES),
            (2, TITLE, BODIES[1], NOTES),
        ]
        text = json.dumps(doc)
        for secret in ("pv1.", "wrapped", "kdf", "auth_hash"):
            assert secret not in text  # no ciphertext, no key material: plain data only

        markdown = download(page, "Download decrypted copy (Markdown)")  # unlocked now
        assert markdown.startswith("# SoraStats vault export\n")
        assert f"## {TITLE}\n" in markdown and f"- Tags: {TAG}\n" in markdown
        assert "### Version 2," in markdown and "### Version 1," in markdown
        # The body with three backticks sits in a longer fence, so it cannot end it early.
        assert f"````text\n{BODIES[1]}\n````" in markdown
        assert f"```text\n{NOTES}\n```" in markdown  # the notes' Markdown stays literal
        assert markdown.index("### Version 2,") < markdown.index("### Version 1,")
    finally:
        context.close()
    sent = [body for body in bodies if any(word in body for word in PLAIN_WORDS)]
    assert sent == []  # the plain text never left the browser


RESTRICTED = "restrict-walk@example.com"


def test_the_account_is_restricted_and_lifted_from_the_account_page(
    server: RunningApi, chromium: Browser
) -> None:
    context = chromium.new_context(base_url=server.base_url)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        register(page, server, RESTRICTED)
        page.goto("/account/")
        form = page.locator("#signin-form")
        form.get_by_label("Email").fill(RESTRICTED)
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        expect(page.locator("#account-email")).to_have_text(RESTRICTED)

        page.get_by_role("button", name="Restrict my account").click()
        expect(page.locator("#account-status")).to_have_text("Your account is restricted.")
        page.reload()  # the state is the server's, not the page's
        expect(page.locator("#restrict-status")).to_contain_text("restricted since")
        expect(page.get_by_role("button", name="Restrict my account")).to_be_hidden()
        expect(page.locator("#sessions")).to_have_text("Hidden while your account is restricted.")
        profile = page.locator("#profile-form")
        profile.get_by_label("Display name").fill("Not while restricted")
        profile.get_by_role("button", name="Save profile").click()
        expect(page.locator("#profile-status")).to_contain_text("Your account is restricted")
        row = server.services.db.call(
            lambda c: c.one("SELECT display_name FROM users WHERE email = ?", (RESTRICTED,)),
            write=False,
        )
        assert row is not None and row["display_name"] == ""  # nothing processed

        page.get_by_role("button", name="Lift the restriction").click()
        expect(page.locator("#account-status")).to_have_text("The restriction is lifted.")
        expect(page.get_by_role("button", name="Restrict my account")).to_be_visible()
        expect(page.locator("#sessions li")).to_have_count(1)  # listed again
        assert errors == []
    finally:
        context.close()
