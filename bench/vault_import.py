"""How long /vault/import/ takes in Debian's chromium for one big Sora backup, encryption
included: a SoraVault archive of N prompts (drafts and posts, 200 to 900 characters each)
zipped, read and previewed, then imported into a Pro account through the real server
(built site + API on SQLite, 127.0.0.1); then the same file again, which must add
nothing. Prints the wall time of each step and the peak memory: the renderer's
JavaScript heap from the DevTools protocol, the anonymous resident memory of the tab's
renderer process (the largest renderer: the tab is the only one that works), and of all
renderer processes together (with chromium's spare renderer and an idle one), from /proc.
Run by hand:

    .venv/bin/python -m bench.vault_import --prompts 10000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, CDPSession, Page

from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata
from tests.support.api_server import run_api
from tests.support.browser import launch_chromium
from tests.support.vault_client import PRO_ENV, make_pro, vault_user

EMAIL = "bench-import@example.com"
PASSWORD = "bench import password"
VOCABULARY = (
    "cinematic drone shot over misty pine forest at dawn slow pan golden light reflections "
    "on a calm lake a fox walking through snow neon city rain at night handheld close-up "
    "of a clockmaker's hands tiny gears macro lens shallow depth of field volumetric fog"
)
WORDS = VOCABULARY.split()


def make_archive(folder: Path, prompts: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for n in range(prompts):
        published = n % 3 == 0
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(35, 150)))
        post_id = f"s_{n:032x}" if published else None
        items.append(
            {
                "source": "post" if published else "draft",
                "mode": "video",
                "genId": f"gen_bench{n:020d}",
                "taskId": f"task_bench{n:019d}",
                "postId": post_id,
                "date": f"2026-03-{1 + n % 28:02d}T12:00:00.000Z",
                "prompt": f"{text} #{n}",
                "width": 352,
                "height": 640,
                "ratio": "9:16",
                "duration": 10,
                "isLiked": False,
                "_raw": {"post": {"id": post_id, "is_owner": True, "text": f"caption {n}"}}
                if published
                else {},
                "replies": [],
            }
        )
    archive = folder / "soravault-backup.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("soravault/manifest.json", json.dumps({"items": items}))
    return archive


def renderer_rss_mb() -> dict[int, float]:
    """Resident anonymous memory (MB) of each chromium renderer process under this one."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    sizes: dict[int, float] = {}
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            cmdline = (Path(f"/proc/{pid}/cmdline")).read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"--type=renderer" in cmdline:
            # RssAnon: the renderer's own memory, without the shared libraries and fonts.
            rss = next(line for line in status.splitlines() if line.startswith("RssAnon:"))
            sizes[pid] = int(rss.split()[1]) / 1024
    return sizes


class Peak:
    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")
        self.heap = 0.0
        self.rss = 0.0  # all renderers
        self.tab = 0.0  # the largest renderer: the tab's

    def sample(self) -> None:
        metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        used = next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize")
        self.heap = max(self.heap, used / 2**20)
        sizes = renderer_rss_mb()
        self.rss = max(self.rss, sum(sizes.values()))
        self.tab = max(self.tab, max(sizes.values(), default=0.0))

    def __str__(self) -> str:
        return f"JS heap {self.heap:.0f} MB, tab {self.tab:.0f} MB, all renderers {self.rss:.0f} MB"


def wait_for(page: Page, peak: Peak, condition: str, timeout: float = 600) -> float:
    start = time.perf_counter()
    while not page.evaluate(condition):
        peak.sample()
        if time.perf_counter() - start > timeout:
            raise TimeoutError(condition)
        page.wait_for_timeout(100)
    peak.sample()
    return time.perf_counter() - start


def signed_in_tab(browser: Browser, base_url: str) -> Page:
    page = browser.new_context(base_url=base_url).new_page()
    page.set_default_timeout(600_000)
    page.goto("/vault/import/")
    page.locator("#vault-app[data-ready]").wait_for(state="attached")
    form = page.locator("#vault-signin-form")
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Stay unlocked on this device").check()  # survives the reload
    form.get_by_role("button", name="Sign in").click()
    page.locator("#import-main").wait_for(state="visible")
    return page


def run(prompts: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp_name:
        tmp = Path(tmp_name)
        archive = make_archive(tmp, prompts)
        print(f"archive: {prompts} prompts, {archive.stat().st_size / 2**20:.1f} MB zipped")
        site = tmp / "site"
        dbp = sitedata.hand_made(tmp / "h.duckdb")
        render_site(RenderConfig(db=dbp, out=site, jobs=1, search=False), log=lambda _m: None)
        env = {**PRO_ENV, "VAULT_MAX_PROMPTS": str(max(5000, 2 * prompts))}
        db_url = f"sqlite:///{tmp / 'accounts.sqlite3'}"
        with run_api(db_url, tmp, site=site, env=env) as api, launch_chromium() as browser:
            user = vault_user(api.client(), EMAIL, PASSWORD, browser=True)
            make_pro(api, user.uid)
            page = signed_in_tab(browser, api.base_url)
            peak = Peak(page)
            peak.sample()
            print(f"signed in: {peak}")

            start = time.perf_counter()
            page.locator("#import-files").set_input_files(archive)
            preview = wait_for(page, peak, "!document.getElementById('import-preview').hidden")
            button = page.locator("#import-start").inner_text()
            print(f"first preview: {preview:.1f} s ({button})")
            page.locator("#import-start").click()
            status = "document.getElementById('import-status').textContent"
            done = wait_for(page, peak, f"/Done\\.$|stopped/.test({status})")
            if "Done." not in page.evaluate(status):
                raise SystemExit(page.evaluate(status))
            total = time.perf_counter() - start
            stored = len(user.client.get("/api/prompts").json()["prompts"])
            print(f"import: {done:.1f} s; file to done {total:.1f} s; {stored} prompts stored")
            print(f"peak during the import: {peak}")

            page.reload()
            page.locator("#vault-app[data-ready]").wait_for(state="attached")
            page.locator("#import-main").wait_for(state="visible")
            second = Peak(page)
            second.sample()
            print(f"after the reload: {second}")
            page.locator("#import-files").set_input_files(archive)
            again = wait_for(page, second, "!document.getElementById('import-preview').hidden")
            button = page.locator("#import-start").inner_text()
            print(f"second import, preview against {stored} prompts: {again:.1f} s ({button})")
            print(f"peak then: {second}")
            if button != "Import 0 prompts":
                raise SystemExit("the second import would add prompts")

            # The same in a new tab (its own renderer), as after closing the browser.
            page.context.close()
            page = signed_in_tab(browser, api.base_url)
            fresh = Peak(page)
            fresh.sample()
            page.locator("#import-files").set_input_files(archive)
            again = wait_for(page, fresh, "!document.getElementById('import-preview').hidden")
            print(f"second import in a new tab: {again:.1f} s")
            print(f"peak then: {fresh}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    args = parser.parse_args()
    run(args.prompts)


if __name__ == "__main__":
    main()
