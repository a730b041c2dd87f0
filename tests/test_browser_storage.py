"""Everything the browser stores is in the table (sorastats/browser_storage.py) that
`/privacy/cookies/` shows: chromium walks every page type signed out, then registration,
sign-in, the vault ("stay unlocked", a prompt saved), an import from a Sora backup, a
favorite, pricing and sign-out
against the built site and the API on a real server; after every page it collects every
cookie, localStorage and sessionStorage key and IndexedDB database. Anything missing
from the table fails, so does a row never seen, and so does any storage on a public page
signed out (the cookies page promises none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from api.config import Settings
from sorastats.browser_storage import BROWSER_STORAGE, Kind, entry_for
from tests.support import sitedata
from tests.support.api_server import RunningApi, hand_made_site_and_api

EMAIL = "storage-walk@example.com"
PASSWORD = "storage walk password"
POST = sitedata.pid(1)
# Every kind of public page the build makes (a missing one gets the site's 404 page).
PUBLIC_PAGES = [
    "/",
    "/c/alice/",
    f"/p/{POST}/",
    "/top/",
    "/top/creators/followers/",
    "/about/",
    "/about/ranking/",
    "/privacy/",
    "/privacy/cookies/",
    "/terms/",
    "/pricing/",
    "/no-such-page/",
]
ACCOUNT_PAGES = ["/account/", "/vault/", "/vault/favorites/", "/vault/import/"]
SORA_BACKUP = Path(__file__).parent / "fixtures" / "sora_import" / "creator-tools-array.json"

Found = set[tuple[Kind, str]]

COLLECT = """async () => ({
    local: Object.keys(localStorage),
    session: Object.keys(sessionStorage),
    idb: (await indexedDB.databases()).map((db) => db.name),
})"""


def collect(context: BrowserContext, page: Page) -> Found:
    """What the browser holds for the site now."""
    held = page.evaluate(COLLECT)
    found: Found = {(Kind.COOKIE, c["name"]) for c in context.cookies()}
    found |= {(Kind.LOCAL_STORAGE, name) for name in held["local"]}
    found |= {(Kind.SESSION_STORAGE, name) for name in held["session"]}
    found |= {(Kind.INDEXED_DB, name) for name in held["idb"]}
    return found


class Walk:
    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page = context.new_page()
        self.page.set_default_timeout(20_000)
        self.found: Found = set()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def visit(self, path: str) -> Found:
        """Open a page and collect once its scripts settled (no request for 500 ms)."""
        self.page.goto(path, wait_until="networkidle")
        return self.note()

    def note(self) -> Found:
        """Collect now: after an action whose outcome the test already waited for."""
        now = collect(self.context, self.page)
        self.found |= now
        return now


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with hand_made_site_and_api(tmp_path_factory.mktemp("storage-walk"), search=True) as api:
        yield api


def walk_signed_out(walk: Walk) -> None:
    for path in PUBLIC_PAGES:
        assert walk.visit(path) == set(), f"{path} stored something while signed out"
    page = walk.page
    page.goto("/privacy/cookies/")
    expect(page.get_by_role("heading", name="Cookies and browser storage")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("sorastats.signedIn")
    page.goto("/search/")
    page.locator(".pagefind-ui__search-input").fill("glacier")
    expect(page.locator(".pagefind-ui__result-link").first).to_be_visible(timeout=15_000)
    assert walk.note() == set(), "search stored something while signed out"
    for path in ACCOUNT_PAGES:
        walk.visit(path)
    # The site settings, saved signed out: kept in this browser only, applied everywhere.
    page.goto("/account/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#settings-form")
    form.get_by_label("Theme").select_option("dark")
    form.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-status")).to_have_text("Saved in this browser.")
    assert walk.note() == {(Kind.LOCAL_STORAGE, "sorastats.settings")}
    walk.visit("/about/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")


def register_and_verify(walk: Walk, api: RunningApi) -> None:
    page = walk.page
    page.goto("/account/")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#recovery-code")).not_to_be_empty(timeout=30_000)
    page.get_by_label("I saved my recovery code somewhere safe").check()
    page.get_by_role("button", name="Continue").click()
    walk.note()
    path, token = api.outbox.last_link(EMAIL)
    page.goto(f"{path}#token={token}")  # the emailed link, as the user opens it
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Done.").wait_for()
    walk.note()


def vault_with_a_prompt(walk: Walk) -> None:
    page = walk.page
    page.goto("/vault/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#vault-signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Stay unlocked on this device").check()
    form.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="New prompt").click()
    editor = page.locator("#editor-form")
    editor.locator("[name=title]").fill("Walk")
    editor.locator("[name=body]").fill("a heron at dawn")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator(".prompt-item", has_text="Walk")).to_be_visible()
    walk.note()


def import_a_backup(walk: Walk) -> None:
    """An import, noted while its batch is held on the way (what a reload would find)."""
    page = walk.page
    page.goto("/vault/import/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    page.locator("#import-files").set_input_files(SORA_BACKUP)
    start = page.locator("#import-start")
    expect(start).to_have_text("Import 2 prompts")
    held: list[Route] = []
    page.route("**/api/prompts/bulk", lambda route: held.append(route))
    start.click()
    page.wait_for_function("() => localStorage.getItem('sorastats.import.run') !== null")
    while not held:
        page.wait_for_timeout(50)
    walk.note()
    held[0].continue_()
    expect(page.locator("#import-status")).to_have_text("2 of 2 imported. Done.")
    page.unroute("**/api/prompts/bulk")
    walk.note()


def walk_signed_in(walk: Walk) -> None:
    page = walk.page
    for path in [*PUBLIC_PAGES, *ACCOUNT_PAGES]:
        walk.visit(path)
    page.goto(f"/p/{POST}/")
    button = page.locator("#favorite-box button")
    button.click()
    expect(button).to_have_text("★ Favorited")
    walk.note()
    page.goto("/account/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-form")).to_be_visible()
    left = walk.note()
    assert not {name for _kind, name in left if name.startswith("sorastats.import.")}


@pytest.mark.browser
def test_everything_the_browser_stores_is_in_the_table(
    server: RunningApi, chromium: Browser
) -> None:
    context = chromium.new_context(base_url=server.base_url)
    try:
        walk = Walk(context)
        walk_signed_out(walk)
        register_and_verify(walk, server)
        vault_with_a_prompt(walk)
        import_a_backup(walk)
        walk_signed_in(walk)
        assert walk.errors == []
    finally:
        context.close()

    missing = sorted(f"{kind} {name}" for kind, name in walk.found if not entry_for(kind, name))
    assert missing == [], f"stored but not in sorastats/browser_storage.py: {missing}"
    never_seen = [
        entry.names
        for entry in BROWSER_STORAGE
        if not any((entry.kind, name) in walk.found for name in entry.names)
    ]
    assert never_seen == [], f"rows of the table the walk never met: {never_seen}"


def test_the_apis_session_cookie_names_are_in_the_table(tmp_path: Path) -> None:
    """Production (`__Host-sid`, https) and the plain-http dev server (`sid`)."""
    from api.config import load_settings
    from tests.support.api_server import TEST_ENV

    names = set()
    for base in ("https://sorastats.example", "http://127.0.0.1:8000"):
        env = {**TEST_ENV, "BASE_URL": base, "DATA_DIR": str(tmp_path)}
        settings: Settings = load_settings(env)
        names.add(settings.session_cookie)
        assert entry_for(Kind.COOKIE, settings.session_cookie) is not None
    assert names == {"__Host-sid", "sid"}


def test_the_cookies_page_shows_every_row() -> None:
    from sorastats.site.content import load_content
    from tests.support.paths import ROOT

    pages = {page.url: page for page in load_content(ROOT / "content")}
    html = pages["/privacy/cookies/"].html
    assert "generated" not in html
    for entry in BROWSER_STORAGE:
        for name in entry.names:
            assert f"<code>{name}</code>" in html
        assert entry.lifetime in html
    assert '<a href="/privacy/cookies/">' in pages["/privacy/"].html  # linked from §4
