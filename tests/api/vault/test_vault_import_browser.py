"""/vault/import/ end to end in Debian's chromium against the real server (built site +
API): a mixed archive (a ZIP of three formats plus loose files, one of an unknown format)
is previewed with its counts, imported with tags, published prompts linked to their
posts; the vault search finds an imported prompt; an import whose answer is lost after
the server stored it resumes after a reload without adding anything twice; no request
ever carried a word of a prompt, a caption or a tag name; axe-core finds nothing. Cancel
stops after the batch on its way and the same file finishes the rest. A free account's
preview says how many of the chosen its tier leaves room for, with a link to upgrade; a
402 in the middle of an import stops it cleanly with what went in and why."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.support.api_server import RunningApi, hand_made_site_and_api
from tests.support.paths import ROOT
from tests.support.vault_client import PRO_ENV, VaultUser, make_pro, vault_user

pytestmark = pytest.mark.browser

SAMPLES = ROOT / "tests" / "fixtures" / "sora_import"
EMAIL = "importer@example.com"
PASSWORD = "correct horse battery"
TAGS = ["sora-import-2026-04", "Quillmarsh"]
ALREADY = "Lighthouse beam sweeping over a sea of clouds"  # in the vault before the import
# Words of every prompt, caption and title in the samples (and the tag names): none may
# appear in any request.
SECRET_WORDS = [
    "lantern", "ferns", "origami", "tin roof", "diving bell", "Chalk drawings", "snow globe",
    "Lighthouse", "bonsai", "bridges", "folded a whole town", "caption standing in",
    "Crane map", "Quillmarsh", "sora-import-2026-04", "gen_01sample",
]  # fmt: skip
PUBLISHED = {
    "s_0000000000000000000000000000aa01",
    "s_0000000000000000000000000000cc01",
    "s_0000000000000000000000000000cc05",
    "s_0000000000000000000000000000dd02",
    "s_0000000000000000000000000000ee01",
    "s_0000000000000000000000000000ee02",
}
# source/kind -> found, already in the vault, repeated, new
EXPECTED_ROWS = {
    "soravault/draft": ["1", "0", "0", "1"],
    "soravault/published": ["1", "0", "0", "1"],
    "creator-tools/draft": ["2", "0", "0", "2"],
    "creator-tools/published": ["3", "0", "0", "3"],
    "sora-api/draft": ["2", "1", "0", "1"],
    "sora-api/published": ["2", "0", "0", "2"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    # billing on: Pro exists
    with hand_made_site_and_api(tmp_path_factory.mktemp("vault-import"), env=PRO_ENV) as api:
        yield api


def archive(folder: Path) -> list[Path]:
    """The mixed backup: a ZIP (deflated and stored entries, a folder, a README) of three
    formats, and two loose files, one of them of no known format."""
    zipped = folder / "sora-backup.zip"
    with zipfile.ZipFile(zipped, "w") as out:
        out.writestr("sora-backup/", b"")
        out.writestr("sora-backup/README.txt", b"backup made before the shutdown")
        out.write(SAMPLES / "soravault-manifest.json", "sora-backup/soravault/manifest.json",
                  compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
        out.write(SAMPLES / "creator-tools.jsonl", "sora-backup/harvest.jsonl",
                  compress_type=zipfile.ZIP_STORED)  # fmt: skip
        for name in ("sora-api-drafts.json", "sora-api-profile.jsonl"):
            out.write(SAMPLES / name, f"sora-backup/api/{name}", compress_type=zipfile.ZIP_DEFLATED)
    return [zipped, SAMPLES / "creator-tools-array.json", SAMPLES / "unknown-format.json"]


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now (WCAG 2.1 A and AA rules)."""
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    results = Axe().run(page, options=options).response
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in results["violations"]]


def sign_in(page: Page, path: str) -> None:
    page.goto(path)
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#vault-signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Stay unlocked on this device").check()
    form.get_by_role("button", name="Sign in").click()


def preview_rows(page: Page) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for row in page.locator("#preview-table tbody tr").all():
        key = row.get_attribute("data-key") or ""
        rows[key] = [c.inner_text() for c in row.locator("td").all()][2:]
    return rows


def choose(page: Page, files: list[Path]) -> None:
    page.locator("#import-files").set_input_files(files)
    expect(page.locator("#import-preview")).to_be_visible(timeout=30_000)


def listed(user: VaultUser) -> list[dict[str, object]]:
    prompts: list[dict[str, object]] = user.client.get("/api/prompts").json()["prompts"]
    return prompts


def test_import_a_mixed_archive(server: RunningApi, chromium: Browser, tmp_path: Path) -> None:
    user = vault_user(server.client(), EMAIL, PASSWORD, browser=True)
    user.create_id(title="typed by hand", body=ALREADY)
    files = archive(tmp_path)
    bodies: list[str] = []
    urls: list[str] = []
    errors: list[str] = []

    def on_request(request: Request) -> None:
        urls.append(request.url)
        bodies.append(request.post_data or "")

    context = chromium.new_context(base_url=server.base_url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("request", on_request)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, "/vault/import/")
    expect(page.locator("#import-main")).to_be_visible()
    expect(page.locator("#import-resume")).to_be_hidden()
    assert accessibility_problems(page) == []

    # The preview: counts per source and kind, what the vault has, what was not read.
    choose(page, files)
    assert preview_rows(page) == EXPECTED_ROWS
    problems = page.locator("#preview-problems")
    expect(problems).to_contain_text(
        "unknown-format.json: not a format this page reads. Supported:"
    )
    expect(problems).to_contain_text("1 skipped: someone else's post.")
    expect(problems).to_contain_text("3 skipped: no prompt text.")
    expect(problems).to_contain_text("2 broken lines skipped (not valid JSON).")
    start = page.locator("#import-start")
    expect(start).to_have_text("Import 10 prompts")
    page.get_by_label("Drafts only").check()
    expect(start).to_have_text("Import 4 prompts")
    page.get_by_label("Published only").check()
    expect(start).to_have_text("Import 6 prompts")
    assert accessibility_problems(page) == []  # the preview, its table and form

    # Import the published ones, with two tags (one new name with a comma-separated twin).
    page.get_by_label("Tags for the imported prompts").fill(f"{TAGS[0]}, {TAGS[1]}, {TAGS[0]}")
    start.click()
    expect(page.locator("#import-status")).to_have_text("6 of 6 imported. Done.")
    expect(page.locator("#import-summary")).to_have_text(
        f"6 prompts imported (6 published prompts linked to their posts), tagged “{TAGS[0]}”, "
        f"“{TAGS[1]}”."
    )
    expect(page.locator("#import-open-vault")).to_be_visible()
    expect(page.locator("#import-open-vault")).to_have_attribute(
        "href", f"/vault/#search={TAGS[0]}"
    )
    expect(start).to_have_text("Import 0 prompts")  # the preview now knows they are in
    expect(start).to_be_disabled()
    assert accessibility_problems(page) == []  # progress and the finished state
    prompts = listed(user)
    assert len(prompts) == 7
    linked = {str(p["post_id"]) for p in prompts if p["post_id"]}
    assert linked == PUBLISHED
    tag_ids = {t["id"] for t in user.client.get("/api/tags").json()["tags"]}
    assert len(tag_ids) == 2
    assert all(set(p["tags"]) == tag_ids for p in prompts if p["post_id"])  # type: ignore[call-overload]
    opened = {
        user.decrypt(p, p["latest"])["body"]: user.decrypt(p, p["latest"])  # type: ignore[arg-type]
        for p in prompts
    }
    crane = opened["An origami crane unfolding into a map of a coastal town, top-down"]
    assert crane["title"] == "Crane map"
    assert crane["notes"] == (
        "Imported from Sora (sora-creator-tools records, published)\n"
        "Date: 2026-02-10T15:30:00Z\nGeneration: gen_01sample0tools0post0000001\n"
        "Post: s_0000000000000000000000000000cc01\nVideo: 640×352 · 8 s\n"
        "Caption as posted: folded a whole town"
    )

    # Now everything: the server stores the next batch but its answer is lost on the way.
    page.get_by_label("Everything new").check()
    expect(start).to_have_text("Import 4 prompts")

    def store_then_fail(route: Route) -> None:
        route.fetch()
        route.abort("connectionreset")

    page.route("**/api/prompts/bulk", store_then_fail)
    start.click()
    expect(page.locator("#import-status")).to_contain_text("0 of 4 imported; stopped:")
    page.unroute("**/api/prompts/bulk")
    assert len(listed(user)) == 11  # stored, though the page could not know

    # After a reload the page says what happened; the same files add nothing twice.
    page.reload()
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    expect(page.locator("#import-resume")).to_contain_text("stopped after 0 of 4 prompts")
    choose(page, files)
    again = preview_rows(page)
    assert {k: v[1] for k, v in again.items()} == {k: v[0] for k, v in EXPECTED_ROWS.items()}
    assert all(v[3] == "0" for v in again.values())
    expect(start).to_have_text("Import 0 prompts")
    assert len(listed(user)) == 11

    # The vault finds an imported prompt by a word of its caption (kept in the notes).
    page.goto("/vault/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    page.locator("#vault-search").fill("folded")
    expect(page.locator(".prompt-item")).to_have_count(1)
    expect(page.locator(".prompt-item h3")).to_have_text("Crane map")
    page.locator("#vault-search").fill("bonsai")
    expect(page.locator(".prompt-item .body")).to_have_text(
        "A tiny robot watering bonsai trees on a windowsill, soft morning light"
    )
    context.close()

    sent = [b for b in bodies if b]
    assert any('"prompts"' in b for b in sent)  # the bulk requests were seen
    leaked = [(w, b[:200]) for b in sent for w in SECRET_WORDS if w.lower() in b.lower()]
    assert leaked == []
    assert all(json.loads(b) is not None for b in sent)
    assert [u for u in urls if not u.startswith((server.base_url, "blob:", "data:"))] == []
    assert errors == []


def test_import_page_signed_out(server: RunningApi, chromium: Browser) -> None:
    context = chromium.new_context(base_url=server.base_url)
    page = context.new_page()
    page.goto("/vault/import/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    expect(page.locator("#vault-signin")).to_be_visible()
    expect(page.locator("#import-main")).to_be_hidden()
    assert accessibility_problems(page) == []
    context.close()


def test_sample_zip_is_read_like_the_files(tmp_path: Path) -> None:
    """The archive the test builds holds what it says (guards the helper itself)."""
    zipped = archive(tmp_path)[0]
    with zipfile.ZipFile(io.BytesIO(zipped.read_bytes())) as opened:
        names = opened.namelist()
    assert "sora-backup/harvest.jsonl" in names and len(names) == 6


def drafts_file(folder: Path, count: int, name: str = "drafts.jsonl") -> Path:
    path = folder / name
    lines = [
        json.dumps({"id": f"gen_many{n:08d}", "kind": "draft", "prompt": f"draft number {n}",
                    "generation_id": f"gen_many{n:08d}", "created_at": "2026-03-01T00:00:00Z"})
        for n in range(count)
    ]  # fmt: skip
    path.write_text("\n".join(lines), "utf-8")
    return path


def signed_in_page(
    chromium: Browser, server: RunningApi, email: str, pro: bool = False, stay: bool = False
) -> tuple[Page, VaultUser]:
    user = vault_user(server.client(), email, PASSWORD, browser=True)
    if pro:
        make_pro(server, user.uid)
    page = chromium.new_context(base_url=server.base_url).new_page()
    page.set_default_timeout(20_000)
    page.goto("/vault/import/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#vault-signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    if stay:  # the key survives a reload or another page of the vault
        form.get_by_label("Stay unlocked on this device").check()
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#import-main")).to_be_visible()
    return page, user


def test_cancel_then_finish(server: RunningApi, chromium: Browser, tmp_path: Path) -> None:
    """Cancel while the first batch (100 prompts) is on its way: it lands, nothing after
    it is sent; importing the same file again adds exactly the other 150."""
    page, user = signed_in_page(chromium, server, "cancel@example.com", pro=True)
    file = drafts_file(tmp_path, 250)
    held: list[Route] = []
    page.route("**/api/prompts/bulk", lambda route: held.append(route))  # held, not sent
    choose(page, [file])
    start = page.locator("#import-start")
    expect(start).to_have_text("Import 250 prompts")
    start.click()
    page.wait_for_function("() => document.getElementById('import-cancel').offsetParent !== null")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.locator("#import-cancel").click()
    held[0].continue_()
    expect(page.locator("#import-status")).to_have_text(
        "100 of 250 imported: cancelled. Choose the same files again to import the other "
        "150; nothing is added twice."
    )
    page.unroute("**/api/prompts/bulk")
    assert len(held) == 1 and len(listed(user)) == 100
    expect(start).to_have_text("Import 150 prompts")  # the preview knows the first 100
    choose(page, [file])
    assert preview_rows(page) == {"creator-tools/draft": ["250", "100", "0", "150"]}
    start.click()
    expect(page.locator("#import-status")).to_have_text("150 of 150 imported. Done.")
    prompts = listed(user)
    bodies = {user.decrypt(p, p["latest"])["body"] for p in prompts}  # type: ignore[arg-type]
    assert len(prompts) == 250 and bodies == {f"draft number {n}" for n in range(250)}
    page.context.close()


def record_statuses(page: Page) -> None:
    """Keep every text #import-status shows (window.statuses), to check the progress."""
    page.evaluate(
        """() => {
            window.statuses = [];
            const status = document.getElementById("import-status");
            new MutationObserver(() => window.statuses.push(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true});
        }"""
    )


def test_the_preview_says_what_the_free_tier_leaves_out(
    server: RunningApi, chromium: Browser, tmp_path: Path
) -> None:
    """A free account (50 private prompts, 5 already in its vault) picks a file of 60 new
    drafts: the preview says 45 will be imported and 15 not, with a link to upgrade, from
    the server's own numbers; the import sends 45 and the summary says why it stopped."""
    page, user = signed_in_page(chromium, server, "free@example.com", stay=True)
    for n in range(5):
        user.create_id(title=f"by hand {n}", body=f"typed by hand {n}")
    choose(page, [drafts_file(tmp_path, 60)])
    limit = page.locator("#import-limit")
    expect(limit).to_have_text(
        "Your Free plan keeps up to 50 private prompts and your vault holds 5: 45 of the 60 "
        "chosen will be imported, 15 will not (the first ones in the files go first). "
        "Upgrade to Pro to import them all."
    )
    expect(limit.get_by_role("link", name="Upgrade to Pro")).to_have_attribute("href", "/pricing/")
    start = page.locator("#import-start")
    expect(start).to_have_text("Import 45 of 60 prompts")
    assert accessibility_problems(page) == []  # the preview with its limit notice

    # More tags than the tier puts on one prompt: said, and the import cannot start.
    tags = page.get_by_label("Tags for the imported prompts")
    tags.fill("one, two, three, four")
    expect(limit).to_contain_text("Your Free plan allows 3 tags on one prompt")
    expect(start).to_be_disabled()
    tags.fill("free-import")
    expect(start).to_be_enabled()

    start.click()
    status = page.locator("#import-status")
    expect(status).to_have_text("45 of 45 imported. Done.")
    summary = page.locator("#import-summary")
    expect(summary).to_contain_text(
        "45 prompts imported (45 drafts), tagged "
        "“free-import”. 15 of the 60 chosen were not imported: your plan has no room for more."
    )
    expect(summary.get_by_role("link", name="Upgrade to Pro")).to_have_attribute(
        "href", "/pricing/"
    )
    link = page.locator("#import-open-vault")
    expect(link).to_have_attribute("href", "/vault/#search=free-import")
    assert accessibility_problems(page) == []  # the summary
    bodies = {user.decrypt(p, p["latest"])["body"] for p in listed(user)}  # type: ignore[arg-type]
    assert bodies == {f"typed by hand {n}" for n in range(5)} | {
        f"draft number {n}" for n in range(45)
    }
    # Nothing more fits: the preview says so and offers nothing.
    expect(start).to_have_text("Import 0 of 15 prompts")
    expect(start).to_be_disabled()

    # The link opens the vault searching for the tag: the 45 imported, not the others.
    link.click()
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    expect(page.locator("#vault-search")).to_have_value("free-import")
    expect(page.locator(".prompt-item")).to_have_count(45)
    page.context.close()


def test_a_tier_limit_reached_mid_import_stops_it_cleanly(
    server: RunningApi, chromium: Browser, tmp_path: Path
) -> None:
    """The preview counted on 50 free places, but another device adds 25 prompts while the
    import runs (in batches of 10 here): the server answers 402 on the third batch and the
    page stops there, says what went in and why, stores nothing of the refused batch, and
    the progress said counts and time left on the way."""
    page, user = signed_in_page(chromium, server, "midway@example.com", stay=True)

    def small_batches(route: Route) -> None:
        answer = route.fetch()
        config = answer.json()
        config["limits"]["bulk"] = 20  # chunks of 10 prompts
        route.fulfill(response=answer, json=config)

    page.route("**/api/vault/config", small_batches)
    page.reload()
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    expect(page.locator("#import-main")).to_be_visible()
    choose(page, [drafts_file(tmp_path, 60)])
    start = page.locator("#import-start")
    expect(start).to_have_text("Import 50 of 60 prompts")
    sent: list[int] = []

    def other_device_meanwhile(route: Route) -> None:
        sent.append(len(json.loads(route.request.post_data or "{}")["prompts"]))
        if len(sent) == 3:
            for n in range(25):
                user.create_id(title=f"elsewhere {n}", body=f"from another device {n}")
        route.continue_()

    page.route("**/api/prompts/bulk", other_device_meanwhile)
    record_statuses(page)
    start.click()
    status = page.locator("#import-status")
    expect(status).to_have_text(
        "20 of 50 imported; stopped: Private prompts: the Free plan allows 50 private "
        "prompts; upgrade to Pro to lift this limit."
    )
    expect(status).to_have_attribute("data-kind", "error")
    summary = page.locator("#import-summary")
    expect(summary).to_contain_text(
        "20 prompts imported (20 drafts). 40 of the "
        "60 chosen were not imported: Private prompts: the Free plan allows 50"
    )
    expect(summary.get_by_role("link", name="Upgrade to Pro")).to_be_visible()
    expect(page.locator("#import-cancel")).to_be_hidden()
    assert sent == [10, 10, 10]  # the third was refused, and the page sent nothing after it
    assert len(listed(user)) == 45  # 20 imported + 25 from the other device, none refused
    statuses: list[str] = page.evaluate("window.statuses")
    assert "0 of 50 prompts imported" in statuses
    assert any(
        s.startswith("10 of 50 prompts imported · about ") and s.endswith(" left") for s in statuses
    ), statuses
    # The preview now knows the 20 and the room left (5): the numbers come from the server.
    expect(start).to_have_text("Import 5 of 40 prompts")
    assert accessibility_problems(page) == []
    page.context.close()


def test_files_dropped_on_the_zone_are_previewed_like_picked_ones(
    server: RunningApi, chromium: Browser, tmp_path: Path
) -> None:
    """Drag and drop: a DataTransfer holding two files, dropped on the drop zone with the
    browser's own dragover and drop events, gives the same preview as picking them."""
    page, _user = signed_in_page(chromium, server, "dropper@example.com")
    first = drafts_file(tmp_path, 3, "first.jsonl")
    second = drafts_file(tmp_path, 2, "second.jsonl")
    text = second.read_text("utf-8").replace("gen_many", "gen_more")
    second.write_text(text.replace("draft number", "another draft"), "utf-8")
    files = [{"name": p.name, "text": p.read_text("utf-8")} for p in (first, second)]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                transfer.items.add(new File([f.text], f.name, {type: "application/json"}));
            }
            return transfer;
        }""",
        files,
    )
    zone = page.locator("#drop-zone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    assert zone.get_attribute("data-over") == "1"  # the zone shows it will take the files
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#import-preview")).to_be_visible(timeout=30_000)
    assert zone.get_attribute("data-over") is None
    assert preview_rows(page) == {"creator-tools/draft": ["5", "0", "0", "5"]}
    expect(page.locator("#import-start")).to_have_text("Import 5 prompts")
    page.context.close()
