"""The vault end to end in Debian's chromium against the real server (built site + API on
one port): register, create, edit twice, history and diff, restore, tag, favorite a public
prompt, sign out, sign in from a fresh browser and read everything; then no table cell of
the SQLite database (nor its file) holds a word of the prompt. A password change and a
recovery keep every prompt readable; a wrong password never unlocks."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect

from tests.support import sitedata
from tests.support.api_server import RunningApi, hand_made_site_and_api

pytestmark = pytest.mark.browser

EMAIL = "vault-e2e@example.com"
PASSWORDS = ["correct horse battery", "second staple password", "third recovered password"]
TITLE = "Zephyrquill heron"
BODIES = [
    "a marbled heron wading through luminous fogbanks at dawn",
    "a marbled heron wading through violet fogbanks at dusk",
    "a marbled heron gliding over violet fogbanks at dusk, cinematic",
]
NOTES = "shot list for the Quillmarsh project"
TAG = "Glimmerfen"
SECRET_WORDS = ["Zephyrquill", "marbled", "luminous", "fogbanks", "Quillmarsh", "Glimmerfen"]
PUBLIC_POST = sitedata.pid(1)


@dataclass
class Watch:
    """Every request the pages make: where it went and what it carried."""

    urls: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with hand_made_site_and_api(tmp_path_factory.mktemp("vault-e2e")) as api:
        yield api


def open_page(chromium: Browser, api: RunningApi, watch: Watch) -> tuple[BrowserContext, Page]:
    context = chromium.new_context(base_url=api.base_url)
    return context, new_tab(context, watch)


def new_tab(context: BrowserContext, watch: Watch) -> Page:
    page = context.new_page()

    def on_request(request: Request) -> None:
        watch.urls.append(request.url)
        watch.bodies.append(request.post_data or "")

    page.on("request", on_request)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    page.set_default_timeout(20_000)
    return page


def ready(page: Page, path: str) -> None:
    page.goto(path)
    page.locator("#vault-app[data-ready]").wait_for(state="attached")


def vault_sign_in(page: Page, password: str, stay: bool = False) -> None:
    ready(page, "/vault/")
    form = page.locator("#vault-signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(password)
    if stay:
        form.get_by_label("Stay unlocked on this device").check()
    form.get_by_role("button", name="Sign in").click()


def item(page: Page) -> Locator:
    return page.locator(".prompt-item", has_text=TITLE)


def register_and_verify(page: Page, api: RunningApi) -> str:
    ready(page, "/account/")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password (at least 10 characters)").fill(PASSWORDS[0])
    form.get_by_label("Password again").fill(PASSWORDS[0])
    form.get_by_role("button", name="Create account").click()
    code_box = page.locator("#recovery-code")
    expect(code_box).to_have_text(re.compile(r"^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$"), timeout=30_000)
    code = code_box.inner_text()
    expect(page.get_by_role("button", name="Continue")).to_be_disabled()
    page.get_by_label("I saved my recovery code somewhere safe").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#recovery-code-view")).to_be_hidden()
    assert code not in page.content()  # shown once
    _path, token = api.outbox.last_link(EMAIL)
    assert api.client().post("/api/auth/verify", {"token": token}).status_code == 200
    return code


def own_recovery_kdf(api: RunningApi) -> None:
    """The page registers a recovery_kdf of its own: a fresh salt, never kdf's (equal
    salts told browser accounts from made-up prelogin answers)."""
    row = api.services.db.call(
        lambda conn: conn.one("SELECT kdf, recovery_kdf FROM users WHERE email = ?", (EMAIL,)),
        write=False,
    )
    assert row is not None
    kdf, recovery = json.loads(row["kdf"]), json.loads(row["recovery_kdf"])
    assert recovery["salt"] != kdf["salt"] and len(recovery["salt"]) == 22
    assert recovery["name"] == kdf["name"] and recovery["iterations"] == kdf["iterations"]
    answer = api.client().get("/api/auth/prelogin", params={"email": EMAIL}).json()
    assert answer == {"kdf": kdf, "recovery_kdf": recovery}


def create_edit_history_restore(page: Page) -> None:
    # Keyboard only: the search box has focus once the vault opens.
    expect(page.locator("#vault-search")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#editor-form [name=title]")).to_be_focused()
    page.keyboard.type(TITLE)
    page.keyboard.press("Tab")
    page.keyboard.type(BODIES[0])
    page.keyboard.press("Tab")
    page.keyboard.type(NOTES)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(item(page)).to_contain_text(BODIES[0])
    for n, body in enumerate(BODIES[1:], start=2):
        page.get_by_role("button", name=f"Edit {TITLE}").click()
        page.locator("#editor-form [name=body]").fill(body)
        page.locator("#editor-form").get_by_role("button", name="Save").click()
        expect(page.locator("#vault-status")).to_have_text(f"Saved version {n}.")
    expect(item(page)).to_contain_text("Version 3")
    page.get_by_role("button", name=f"History of {TITLE}").click()
    expect(page.locator("#history-list li")).to_have_count(3)
    page.locator("#diff-from").select_option("1")
    page.locator("#diff-to").select_option("3")
    page.get_by_role("button", name="Show differences").click()
    body_diff = page.locator("#diff-output .diff").nth(1)
    expect(body_diff.locator("del")).to_contain_text(["wading through luminous"])
    expect(body_diff.locator("ins").first).to_contain_text("gliding over violet")
    assert "marbled heron" in body_diff.inner_text()  # unchanged words are shown as they are
    page.get_by_role("button", name="Restore version 1").click()
    expect(page.locator("#vault-status")).to_have_text("Restored version 1 as version 4.")
    expect(page.locator("#history-list li")).to_have_count(4)
    page.keyboard.press("Escape")
    expect(page.locator("#history")).to_be_hidden()
    expect(item(page)).to_contain_text(BODIES[0])
    expect(item(page)).to_contain_text("Version 4")


def tag_and_favorite(page: Page) -> None:
    page.locator("#tag-form").get_by_label("New tag").fill(TAG)
    page.get_by_role("button", name="Create tag").click()
    expect(page.locator("#tag-list")).to_contain_text(TAG)
    page.get_by_label(f"Select {TITLE}").check()
    page.locator("#bulk-tag").select_option(label=TAG)
    page.get_by_role("button", name="Add tag to selected").click()
    expect(page.locator("#vault-status")).to_have_text(f'Tagged 1 prompts with "{TAG}".')
    expect(item(page).locator(".tag-chip")).to_have_text(TAG)
    page.get_by_role("button", name=f"Favorite {TITLE}").click()
    expect(page.get_by_role("button", name=f"Favorite {TITLE}")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.goto(f"/p/{PUBLIC_POST}/")
    button = page.locator("#favorite-box button")
    expect(button).to_have_text("☆ Favorite")
    button.click()
    expect(button).to_have_text("★ Favorited")
    expect(button).to_have_attribute("aria-pressed", "true")


def two_tabs_never_overwrite_each_other(context: BrowserContext, tab: Page, watch: Watch) -> None:
    """Two tabs (or devices) edit the same version: the second save gets 409, keeps its
    text, and saves on top of the newer version once the user saves again."""
    ready(tab, "/vault/")
    other = new_tab(context, watch)
    ready(other, "/vault/")  # unlocked from IndexedDB ("stay unlocked")
    tab.get_by_role("button", name=f"Edit {TITLE}").click()
    tab.locator("#editor-form [name=notes]").fill(NOTES + " (tab one)")
    other.get_by_role("button", name=f"Edit {TITLE}").click()
    other.locator("#editor-form [name=notes]").fill("tab two was here")
    other.locator("#editor-form").get_by_role("button", name="Save").click()
    expect(other.locator("#vault-status")).to_have_text("Saved version 5.")
    other.close()
    tab.locator("#editor-form").get_by_role("button", name="Save").click()
    expect(tab.locator("#vault-status")).to_contain_text("another device saved first")
    expect(tab.locator("#editor-form [name=notes]")).to_have_value(NOTES + " (tab one)")
    tab.locator("#editor-form [name=notes]").fill(NOTES)
    tab.locator("#editor-form").get_by_role("button", name="Save").click()
    expect(tab.locator("#vault-status")).to_have_text("Saved version 6.")
    tab.get_by_role("button", name=f"History of {TITLE}").click()
    expect(tab.locator("#history-list li")).to_have_count(6)
    tab.keyboard.press("Escape")


def export_then_delete_account(page: Page) -> None:
    """The export downloads every version as ciphertext; deletion ends the account."""
    ready(page, "/account/")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download everything (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text("utf-8"))
    (prompt,) = data["prompts"]
    assert len(prompt["versions"]) == 6 and data["favorites"][0]["post_id"] == PUBLIC_POST
    assert not any(w in json.dumps(data) for w in SECRET_WORDS)
    form = page.locator("#delete-form")
    form.get_by_label("Type your email to confirm").fill("someone-else@example.com")
    form.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-status")).to_contain_text("Type your email address exactly")
    form.get_by_label("Type your email to confirm").fill(EMAIL)
    form.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#signin-status")).to_contain_text("were deleted")


def sees_everything(page: Page) -> None:
    expect(item(page)).to_contain_text(BODIES[0])
    expect(item(page)).to_contain_text(NOTES)
    expect(item(page).locator(".tag-chip")).to_have_text(TAG)
    page.locator("#vault-search").fill(TAG.lower())  # search covers tag names
    expect(page.locator(".prompt-item")).to_have_count(1)
    page.locator("#vault-search").fill("no such words here")
    expect(page.locator(".prompt-item")).to_have_count(0)
    page.locator("#vault-search").fill("")


def test_vault_end_to_end(server: RunningApi, chromium: Browser) -> None:
    watch = Watch()
    first, page = open_page(chromium, server, watch)
    page.goto(f"/p/{PUBLIC_POST}/")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#favorite-box")).to_be_hidden()  # signed out: no button
    code = register_and_verify(page, server)
    own_recovery_kdf(server)
    signin = page.locator("#signin-form")
    signin.get_by_label("Email").fill(EMAIL)
    signin.get_by_label("Password").fill(PASSWORDS[0])
    signin.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(EMAIL)
    # Keys live in memory: a new page load asks for the password again.
    ready(page, "/vault/")
    expect(page.locator("#vault-unlock")).to_be_visible()
    page.locator("#unlock-form").get_by_label("Password").fill("not the password")
    page.locator("#unlock-form").get_by_role("button", name="Unlock").click()
    expect(page.locator("#unlock-status")).to_have_text("Wrong password.")
    expect(page.locator("#vault-main")).to_be_hidden()
    page.locator("#unlock-form").get_by_label("Password").fill(PASSWORDS[0])
    page.locator("#unlock-form").get_by_role("button", name="Unlock").click()
    create_edit_history_restore(page)
    tag_and_favorite(page)
    ready(page, "/vault/")
    page.locator("#unlock-form").get_by_label("Password").fill(PASSWORDS[0])
    page.locator("#unlock-form").get_by_role("button", name="Unlock").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#vault-signin")).to_be_visible()
    first.close()

    # A fresh browser: everything decrypts there, and stays unlocked across reloads.
    second, page = open_page(chromium, server, watch)
    vault_sign_in(page, "wrong password entirely")
    expect(page.locator("#vault-signin-status")).to_have_text("Wrong email or password.")
    vault_sign_in(page, PASSWORDS[0], stay=True)
    sees_everything(page)
    ready(page, "/vault/")
    sees_everything(page)
    ready(page, "/vault/favorites/")
    expect(page.locator("#public-favorites")).to_contain_text(PUBLIC_POST)
    expect(page.locator("#private-favorites")).to_contain_text(TITLE)
    page.goto(f"/p/{PUBLIC_POST}/")
    expect(page.locator("#favorite-box button")).to_have_text("★ Favorited")

    no_secret_in_database(server)
    assert all(w not in body for body in watch.bodies for w in SECRET_WORDS)
    two_tabs_never_overwrite_each_other(second, page, watch)

    # Password change (this session is fresh): the same prompts under the new password.
    ready(page, "/account/")
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill(PASSWORDS[0])
    form.get_by_label("New password (at least 10 characters)").fill(PASSWORDS[1])
    form.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-status")).to_contain_text("Password changed")
    second.close()
    third, page = open_page(chromium, server, watch)
    vault_sign_in(page, PASSWORDS[0])
    expect(page.locator("#vault-signin-status")).to_have_text("Wrong email or password.")
    vault_sign_in(page, PASSWORDS[1])
    sees_everything(page)
    third.close()

    # Recovery with the code shown at registration: a new password, every prompt readable.
    fourth, page = open_page(chromium, server, watch)
    ready(page, "/account/")
    form = page.locator("#recover-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Recovery code").fill(code.lower().replace("-", " "))
    form.get_by_label("New password (at least 10 characters)").fill(PASSWORDS[2])
    form.get_by_label("Stay unlocked on this device").check()
    form.get_by_role("button", name="Recover").click()
    expect(page.locator("#account-status")).to_contain_text("Password reset")
    ready(page, "/vault/")
    sees_everything(page)
    export_then_delete_account(page)
    fourth.close()

    no_secret_in_database(server, deleted=True)
    secrets = [*SECRET_WORDS, *PASSWORDS, code, code.replace("-", "")]
    assert all(s not in body for body in watch.bodies for s in secrets)  # never sent
    outside = [u for u in watch.urls if not u.startswith((server.base_url, "blob:", "data:"))]
    assert outside == []  # no third-party request, ever
    assert watch.errors == []


def no_secret_in_database(api: RunningApi, deleted: bool = False) -> None:
    """Every column of every table, then the raw files: none of the prompt's words."""
    path = Path(api.settings.DATABASE_URL.removeprefix("sqlite:///"))
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"prompts", "prompt_versions", "tags", "prompt_tags", "favorites"} <= set(tables)
        cells = 0
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):  # names from sqlite_master
                for value in row:
                    cells += 1
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    lowered = text.lower()
                    assert not any(w.lower() in lowered for w in SECRET_WORDS), (table, text)
        versions = con.execute("SELECT count(*) FROM prompt_versions").fetchone()[0]
        assert (versions == 0) if deleted else (versions >= 4 and cells > 50)
    finally:
        con.close()
    for part in path.parent.glob(path.name + "*"):
        raw = part.read_bytes().lower()
        assert not any(w.lower().encode() in raw for w in SECRET_WORDS), part


WORD_DIFFS = [
    ("a b c", "a b c", [("same", "a b c")]),
    ("", "new words", [("add", "new words")]),
    ("old words", "", [("del", "old words")]),
    (
        "red fox at dusk",
        "red fox at dawn",
        [("same", "red fox at "), ("del", "dusk"), ("add", "dawn")],
    ),
    ("one two three", "one three", [("same", "one "), ("del", "two "), ("same", "three")]),
    # A word carries its following whitespace: changed spacing changes that word.
    ("x  y", "x y", [("del", "x  "), ("add", "x "), ("same", "y")]),
    (
        "héron 🎬 <b>",
        "héron 🎥 <b>",
        [("same", "héron "), ("del", "🎬 "), ("add", "🎥 "), ("same", "<b>")],
    ),
]


@pytest.mark.parametrize(("before", "after", "parts"), WORD_DIFFS)
def test_word_diff(
    server: RunningApi, chromium: Browser, before: str, after: str, parts: list[tuple[str, str]]
) -> None:
    """word-diff.js as served: the exact parts, and both texts rebuilt from them."""
    context = chromium.new_context(base_url=server.base_url)
    try:
        page = context.new_page()
        page.goto("/vault/")
        src = page.locator("#vault-app").get_attribute("data-diff")
        got = page.evaluate(
            "async ([src, a, b]) => (await import(src)).diffWords(a, b)", [src, before, after]
        )
    finally:
        context.close()
    assert [(p["op"], p["text"]) for p in got] == parts
    assert "".join(p["text"] for p in got if p["op"] != "add") == before
    assert "".join(p["text"] for p in got if p["op"] != "del") == after


def test_vault_pages_run_only_this_sites_code(server: RunningApi) -> None:
    import httpx

    for path in ("/account/", "/vault/", "/vault/favorites/", "/vault/import/"):
        html = httpx.get(server.base_url + path).text
        assert "script-src 'self'" in html and "connect-src 'self'" in html, path
        assert 'content="noindex"' in html
        scripts = re.findall(r"<script([^>]*)>", html)
        assert scripts and all('src="/static/' in attrs for attrs in scripts), path
    doc = httpx.get(server.base_url + "/about/encryption/").text
    assert "pv1|ct|u:&lt;user id&gt;|p:&lt;prompt id&gt;" in doc
    assert "How SoraStats encrypts private prompts" in doc
