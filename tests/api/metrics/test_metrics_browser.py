"""The metrics script in Debian's chromium against the built site and the API on a real
server: a page view arrives by sendBeacon and is counted, web vitals follow when the
page is hidden, a copied prompt is counted by name; under Global Privacy Control, Do Not
Track or a stored objection nothing is sent at all. The maintainers' page passes
axe-core."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Request

from api.db import Conn
from tests.support import sitedata
from tests.support.api_client import Account
from tests.support.api_server import RunningApi, hand_made_site_and_api

# Headless chromium says "HeadlessChrome", which the server drops as a bot.
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
ADMIN = Account("metrics-admin@example.com", "pw")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    env = {"ADMIN_EMAILS": ADMIN.email}
    with hand_made_site_and_api(tmp_path_factory.mktemp("metrics"), env=env) as api:
        yield api


def events(api: RunningApi) -> list[dict[str, Any]]:
    def rows(conn: Conn) -> list[dict[str, Any]]:
        return conn.all("SELECT name, path, value FROM metrics_events")

    return api.services.db.call(rows, write=False)


def wait_for(api: RunningApi, name: str, path: str, seconds: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for row in events(api):
            if row["name"] == name and row["path"] == path:
                return row
        time.sleep(0.1)
    raise AssertionError(f"no {name} on {path}; stored: {events(api)}")


def _context(chromium: Browser, server: RunningApi, init: str = "") -> BrowserContext:
    context = chromium.new_context(base_url=server.base_url, user_agent=UA)
    if init:
        context.add_init_script(init)
    return context


def test_a_page_view_and_web_vitals_arrive_and_are_counted(
    chromium: Browser, server: RunningApi
) -> None:
    context = _context(chromium, server)
    try:
        page = context.new_page()
        with page.expect_request(lambda r: r.url.endswith("/api/events")) as beacon:
            page.goto("/top/?ref=x#here")
        assert beacon.value.method == "POST"
        assert "page_view" in (beacon.value.post_data or "")
        assert wait_for(server, "page_view", "/top/")["value"] is None
        post = f"/p/{sitedata.pid(1)}/"
        page.goto(post)
        page.get_by_role("button", name="Copy prompt").first.click()
        wait_for(server, "copy_prompt", post)
        assert context.cookies() == []
        held = page.evaluate("() => [Object.keys(localStorage), Object.keys(sessionStorage)]")
        assert held == [[], []]  # the script stores nothing
        # Closing the tab hides the page: the vitals go then, in one beacon. (Headless
        # chromium drops beacons sent while a tab navigates away, so the test closes it.)
        page.close(run_before_unload=True)
        lcp = wait_for(server, "lcp", post)
        assert 0 < float(lcp["value"]) < 60_000
    finally:
        context.close()
    with server.http() as http:
        report = http.get("/api/openapi.json")  # the server is still fine
    assert report.status_code == 200


GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"
OBJECTION = "localStorage.setItem('sorastats.settings', JSON.stringify({metrics_objection: true}))"


@pytest.mark.parametrize("init", [GPC, DNT, OBJECTION], ids=["gpc", "dnt", "objection"])
def test_nothing_is_sent_under_gpc_dnt_or_an_objection(
    chromium: Browser, server: RunningApi, init: str
) -> None:
    context = _context(chromium, server, init)
    sent: list[Request] = []
    try:
        page = context.new_page()
        page.on("request", lambda r: sent.append(r) if "/api/events" in r.url else None)
        page.goto("/about/", wait_until="networkidle")
        page.goto("/terms/", wait_until="networkidle")
        page.close(run_before_unload=True)  # hidden: vitals would go now
        time.sleep(1)
    finally:
        context.close()
    assert sent == []
    assert [e for e in events(server) if e["path"] in ("/about/", "/terms/")] == []


def test_the_admin_page_is_accessible(chromium: Browser, server: RunningApi) -> None:
    client = server.client().signed_up(ADMIN)
    cookie = client.http.cookies.get("sid")
    assert cookie
    context = _context(chromium, server)
    try:
        context.add_cookies([{"name": "sid", "value": cookie, "url": server.base_url}])
        page: Page = context.new_page()
        answer = page.goto("/admin/metrics/")
        assert answer is not None and answer.status == 200
        assert page.get_by_role("heading", name="Usage metrics").is_visible()
        options = {
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        }
        results = Axe().run(page, options=options).response
        assert [v["id"] for v in results["violations"]] == []
    finally:
        context.close()
