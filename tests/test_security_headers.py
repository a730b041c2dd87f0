"""Every answer of the real dev server (`python -m api serve --site`, started as a process
on the sample data's built site) carries the security headers of sorastats/headers.py: one page
of every page type, feeds, sitemaps, static and search files, redirects, 404s, and API
answers (200, 400, 401, 404, 413, 500). In chromium, the pages work under that CSP without
a single violation, and /account/ cannot be framed. docs/security.md shows the table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage

from api.endpoints import Ctx, EndpointGroup
from sorastats import headers
from tests.support.api_server import TEST_ENV, run_api
from tests.support.paths import ROOT
from tests.support.threaded_server import free_port

DOC = ROOT / "docs" / "security.md"


@dataclass
class Served:
    base_url: str
    site: Path

    def first(self, folder: str) -> str:
        """URL of the first page below site/<folder>/ (e.g. a creator's page)."""
        top = self.site / folder
        found = sorted(p.parent for p in top.rglob("index.html") if p.parent != top)
        assert found, folder
        return f"/{found[0].relative_to(self.site).as_posix()}/"


def run(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, *args], cwd=cwd, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("headers")
    dbp, site = tmp / "sample.duckdb", tmp / "site"
    run("build.py", "import", "--db", str(dbp), str(ROOT / "data" / "sample"), cwd=ROOT)
    run("build.py", "render", "--db", str(dbp), "--out", str(site), "--jobs", "1", cwd=ROOT)
    port = free_port()
    env = {
        **os.environ,
        **TEST_ENV,
        "DATA_DIR": str(tmp / "data"),
        "DATABASE_URL": f"sqlite:///{tmp / 'accounts.sqlite3'}",
        "MAX_BODY_BYTES": "4096",
    }
    env.pop("BASE_URL", None)
    with (tmp / "server.log").open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--site", str(site), "--port", str(port)],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = (tmp / "server.log").read_text()
                    raise RuntimeError(f"the server did not start: {log}") from None
                time.sleep(0.1)
        yield Served(base, site)
    finally:
        server.terminate()
        server.wait(timeout=30)


def assert_policy(response: httpx.Response, https: bool = False) -> None:
    """The table's headers, once each, plus what any strict policy must say, whatever
    the table becomes."""
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    path = response.request.url.path
    for name, value, default_only in headers.headers_for(path, https):
        got = response.headers.get_list(name)
        if default_only:
            assert got, (where, name)
        else:
            assert got == [value], (where, name, got)
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["frame-ancestors"] == ["'none'"], where
    assert directives["base-uri"] == ["'none'"], where
    assert "object-src" in directives or directives["default-src"] == ["'none'"], where
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(
        directives["script-src"]
    ), where
    assert response.headers["x-frame-options"] == "DENY", where
    assert response.headers["x-content-type-options"] == "nosniff", where
    assert response.headers["referrer-policy"] in {"no-referrer", "same-origin"}, where
    assert response.headers["cross-origin-opener-policy"] == "same-origin", where
    assert ("strict-transport-security" in response.headers) == https, where
    if headers.is_api_path(path):
        assert response.headers["cache-control"] == "no-store", where
    else:  # site files revalidate; never stored-nowhere
        assert "no-store" not in response.headers.get("cache-control", ""), where


@pytest.mark.e2e
def test_every_site_response_carries_the_policy(served: Served) -> None:
    static = next(p for p in (served.site / "static").iterdir() if p.suffix == ".js")
    wasm = next((served.site / "pagefind").glob("wasm.*.pagefind"))
    pages = {
        "/": 200,
        served.first("c"): 200,  # creator
        served.first("p"): 200,  # post
        "/top/": 200,  # leaderboards
        served.first("top"): 200,  # a board
        "/search/": 200,
        "/account/": 200,
        "/vault/": 200,
        "/vault/favorites/": 200,
        "/vault/import/": 200,
        "/pricing/": 200,
        "/about/": 200,  # content pages
        "/privacy/": 200,
        "/nope/": 404,
        "/feed.xml": 200,
        "/sitemap.xml": 200,
        "/robots.txt": 200,
        f"/static/{static.name}": 200,
        f"/pagefind/{wasm.name}": 200,
        "/pagefind/pagefind-ui.js": 200,
        "/about": 307,  # the folder redirect
    }
    with httpx.Client(base_url=served.base_url, follow_redirects=False) as http:
        for path, status in pages.items():
            response = http.get(path)
            assert response.status_code == status, (path, response.status_code)
            assert_policy(response)
        page = http.get("/")
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers.get("etag") or page.headers.get("last-modified")


@pytest.mark.e2e
def test_every_api_response_carries_the_policy(served: Served) -> None:
    with httpx.Client(base_url=served.base_url) as http:
        responses = {
            200: http.get("/api/openapi.json"),
            401: http.get("/api/me"),
            400: http.post(
                "/api/auth/login", content=b"{", headers={"Content-Type": "application/json"}
            ),
            404: http.get("/api/nope"),
            413: http.post(
                "/api/auth/login",
                content=b"x" * 5000,
                headers={"Content-Type": "application/json"},
            ),
            405: http.request("PUT", "/api/me"),
        }
        for status, response in responses.items():
            assert response.status_code == status, (status, response.text)
            assert_policy(response)
        for name in ("verify", "sign-in", "confirm.js"):  # the API's own pages
            page = http.get(f"/api/pages/{name}")
            assert page.status_code == 200
            assert_policy(page)
        # A streamed body (no Content-Length) over the limit: 413 from inside the app.
        chunks = iter([b"x" * 3000, b"x" * 3000])
        streamed = http.post(
            "/api/auth/login", content=chunks, headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert_policy(streamed)


boom = EndpointGroup("boom")


@boom.route("GET", "/api/boom", "Fails", auth="public")
async def fails(ctx: Ctx) -> Any:
    raise RuntimeError("boom")


@pytest.mark.e2e
def test_errors_and_https_get_the_policy(tmp_path: Path) -> None:
    """A 500 (sent by Starlette's outermost error middleware) carries the headers too;
    with an https:// BASE_URL, every answer, site or API, also carries HSTS."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>x</title>")
    db = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    with run_api(db, tmp_path, site=site, groups=[boom]) as api:
        with httpx.Client(base_url=api.base_url) as http:
            failed = http.get("/api/boom")
            assert failed.status_code == 500
            assert_policy(failed)
    https_url = "https://sorastats.example"
    with run_api(db, tmp_path, site=site, groups=[boom], env={"BASE_URL": https_url}) as api:
        for path in ("/", "/missing", "/api/me", "/api/boom"):  # uvicorn drops after a 500
            assert_policy(httpx.get(api.base_url + path), https=True)


def test_docs_have_a_threat_model_line_for_every_class() -> None:
    """The tables themselves are generated blocks (tests/test_docs.py checks them)."""
    text = DOC.read_text()
    assert "<!-- generated: security-headers -->" in text
    assert "<!-- generated: cdn-headers -->" in text
    for heading in (
        "Input validation",
        "Account enumeration",
        "Security headers",
        "Build processes",
    ):
        section = re.search(rf"^### {heading}\n(.*?)(?=^#|\Z)", text, re.M | re.S)
        assert section, heading
        assert "\n- " in "\n" + section.group(1).strip(), f"no threat listed under {heading}"
        assert "Test" in section.group(1), f"no test named under {heading}"


@pytest.mark.e2e
def test_meta_csp_of_vault_pages_is_the_header_policy(served: Served) -> None:
    html = httpx.get(served.base_url + "/account/").text
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert meta and meta.group(1).replace("&#39;", "'") == headers.meta_csp()
    assert "frame-ancestors" not in headers.meta_csp()
    assert set(headers.meta_csp().split("; ")) < set(headers.SITE_CSP.split("; "))


# In chromium -----------------------------------------------------------------------------


def csp_watch(page: Any, seen: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            seen.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: seen.append(str(e)))


@pytest.mark.browser
def test_pages_work_under_the_csp(served: Served, chromium: Browser) -> None:
    context = chromium.new_context(base_url=served.base_url)
    try:
        page = context.new_page()
        seen: list[str] = []
        csp_watch(page, seen)
        violations: list[str] = []
        page.expose_binding("reportViolation", lambda _source, text: violations.append(text))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));"
        )
        paths = [
            "/",
            served.first("c"),
            served.first("p"),
            served.first("top"),
            "/pricing/",
            "/about/",
            "/nope/",
            "/account/",
            "/vault/",
            "/vault/favorites/",
            "/vault/import/",
        ]
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
        page.goto(served.first("c"))
        creator = page.locator("h1").first.inner_text()
        word = creator.strip().lstrip("@").split()[0]
        page.goto("/search/")
        page.locator(".pagefind-ui__search-input").fill(word[:4])
        page.locator(".pagefind-ui__result").first.wait_for(timeout=20_000)
        page.goto("/account/")
        page.locator("#vault-app[data-ready]").wait_for(state="attached", timeout=20_000)
        assert not violations, violations
        assert not [s for s in seen if "Content Security Policy" in s or "Refused" in s], seen
    finally:
        context.close()


@pytest.mark.browser
def test_account_page_cannot_be_framed(served: Served, chromium: Browser, tmp_path: Path) -> None:
    """A page of another origin (localhost, not 127.0.0.1) frames /account/: the browser
    refuses to show it."""
    attacker = tmp_path / "frame.html"
    port = served.base_url.rsplit(":", 1)[1]
    attacker.write_text(
        f'<!doctype html><iframe id="f" src="http://127.0.0.1:{port}/account/"></iframe>'
    )
    context = chromium.new_context()
    try:
        page = context.new_page()
        seen: list[str] = []
        csp_watch(page, seen)
        page.goto(attacker.as_uri())
        (framed,) = page.frames[1:]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            framed.url and any("frame-ancestors" in s for s in seen)
        ):
            page.wait_for_timeout(100)
        assert any("frame-ancestors" in s for s in seen), seen
        assert framed.url.startswith("chrome-error://"), framed.url  # shown: an error page
        assert framed.locator("#vault-app").count() == 0
    finally:
        context.close()
