"""The whole creator flow in Debian's chromium against the real server (built site + API
on one port, as `make run` serves them): claim on /account/ -> a capture whose bio holds
the code -> the build verifies it -> "Publish on my video's page" in the vault -> the
build shows the prompt -> "Hide my page" -> the build removes every trace. The new page
parts pass axe-core."""

from __future__ import annotations

import gzip
import re
from datetime import UTC
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from sorastats import importer
from sorastats.contributions import prepare_render
from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.api_server import RunningApi, run_api
from tests.support.ingest import page as feed_page
from tests.support.ingest import post, profile, write
from tests.support.vault_client import vault_user

pytestmark = pytest.mark.browser

ALICE = "user-alice0000000000000000000"
ALICE_POST = sitedata.pid(1)
TOKEN = "browser-build-token-" + "0123456789abcdef" * 2
EMAIL, PASSWORD = "alice-creator@example.com", "correct horse battery"
PROMPT = "Quillmere lake at dawn <em>mist</em> & herons, slow dolly"
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def build(stats: Path, site: Path, contributions: str = "none") -> None:
    cfg = RenderConfig(db=stats, out=site, jobs=1, search=False)
    cfg = prepare_render(cfg, contributions, {"SORASTATS_BUILD_TOKEN": TOKEN}, lambda _m: None)
    render_site(cfg, log=lambda _m: None)


def accessible(page: Page) -> None:
    results = Axe().run(page, options=WCAG).response
    assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in results["violations"]] == []


def naming_alice(site: Path) -> list[str]:
    marks = (ALICE.encode(), b"/c/alice/", b"@alice", ALICE_POST.encode())
    found = []
    for path in site.rglob("*"):
        if path.is_file() and path.suffix not in (".gz", ".br"):
            data = path.read_bytes()
            data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            if any(m in data for m in marks):
                found.append(str(path.relative_to(site)))
    return found


def capture_bio(stats: Path, folder: Path, bio: str) -> None:
    """A later capture of alice's first video whose profile's bio holds `bio`."""
    later = sitedata.NOW.replace(tzinfo=UTC).timestamp() + 3600
    wrapper = {
        "post": post(ALICE_POST, ALICE, text="A calm lake at dawn, take 1"),
        "profile": profile(ALICE, username="alice", description=bio),
    }
    write(folder / "capture.json", feed_page(wrapper, captured_at=later))
    assert importer.import_paths(stats, [folder]).ok


def test_claim_capture_publish_build_hide_build(chromium: Browser, tmp_path: Path) -> None:
    stats, site = sitedata.hand_made(tmp_path / "stats.duckdb"), tmp_path / "site"
    build(stats, site)
    env = {"STATS_DB_PATH": str(stats), "BUILD_TOKEN": TOKEN}
    with run_api(f"sqlite:///{tmp_path / 'accounts.sqlite3'}", tmp_path, site=site, env=env) as api:
        flow(chromium, api, stats, site, tmp_path)


def flow(chromium: Browser, api: RunningApi, stats: Path, site: Path, tmp: Path) -> None:
    creator = vault_user(api.client(), EMAIL, PASSWORD, browser=True)
    creator.create_id(title="Quillmere", body=PROMPT)  # written by hand: no video yet

    context = chromium.new_context(base_url=api.base_url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. claim on /account/
    page.goto("/account/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(EMAIL)
    panel = page.locator("#creator-panel")
    panel.get_by_label("Your Sora username").fill("nobody-at-all")
    panel.get_by_role("button", name="Claim this profile").click()
    expect(page.locator("#claim-status")).to_contain_text("No creator is called @nobody-at-all")
    panel.get_by_label("Your Sora username").fill("alice")
    panel.get_by_role("button", name="Claim this profile").click()
    code_box = panel.locator(".claim-code")
    expect(code_box).to_have_text(re.compile(r"^sorastats-[a-z0-9]{12}$"))
    code = code_box.inner_text()
    accessible(page)

    # 2. a capture with the code in the bio, 3. the build verifies the claim
    capture_bio(stats, tmp / "capture", f"Filmmaker. {code.upper()}")
    build(stats, site, api.base_url)
    page.reload()
    expect(panel.locator('[data-status="verified"]')).to_contain_text("@alice: yours. Page shown")

    # 4. publish from the vault: the page says plainly that the text becomes public
    page.goto("/vault/")
    page.locator("#unlock-form").get_by_label("Password").fill(PASSWORD)
    page.locator("#unlock-form").get_by_role("button", name="Unlock").click()
    item = page.locator(".prompt-item", has_text="Quillmere")
    # a prompt written by hand is linked to the creator's video first
    item.get_by_role("button", name="Link Quillmere to my video").click()
    item.get_by_label("Your video's link or id").fill("my best one")
    item.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#vault-status")).to_contain_text("Paste your video's link")
    accessible(page)
    item.get_by_label("Your video's link or id").fill(
        f"https://sora.chatgpt.com/p/{ALICE_POST}?utm=x"
    )
    item.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#vault-status")).to_contain_text(f"Linked to video {ALICE_POST}")
    item.get_by_role("button", name="Publish Quillmere on the video's page").click()
    expect(item.locator(".publish-confirm")).to_contain_text("This text will become public")
    item.get_by_role("button", name="Publish it").click()
    expect(page.locator("#vault-status")).to_contain_text("Published")
    expect(
        item.get_by_role("button", name="Unpublish Quillmere from the video's page")
    ).to_be_visible()

    # 5. the build shows it, escaped, beside the caption
    build(stats, site, api.base_url)
    page.goto(f"/p/{ALICE_POST}/")
    expect(page.get_by_role("heading", name="Prompt shared by the creator")).to_be_visible()
    expect(page.locator("#shared-prompt")).to_have_text(PROMPT)
    expect(page.locator("#prompt")).to_have_text("A calm lake at dawn, take 1")
    assert naming_alice(site)

    # 6. hide the page; 7. the build removes every trace of alice
    page.goto("/account/")
    panel.get_by_role("button", name="Hide my page").click()
    expect(page.locator("#claim-status")).to_contain_text("Hidden from the next update")
    build(stats, site, api.base_url)
    assert naming_alice(site) == []
    with api.http() as http:  # as any visitor sees them (not this tab's cache)
        assert http.get("/c/alice/").status_code == 404
        assert http.get(f"/p/{ALICE_POST}/").status_code == 404
    page.goto("/c/alice/")
    expect(page.locator("h1")).not_to_contain_text("alice")

    page.goto("/contact/")
    page.locator("#removal-form[data-ready]").wait_for(state="attached")
    accessible(page)
    assert errors == []
    context.close()
