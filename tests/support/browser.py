"""Debian's chromium driven by Playwright, launched the way the team's standards say, and a
tiny static HTTP server on 127.0.0.1 (a secure context, so WebCrypto is available)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from tests.support import sitedata

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Strict like production pages should be: only same-origin scripts, no inline code, no eval.
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """A browser of its own, for scripts (bench/). Tests use the `chromium` fixture."""
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


# Playwright's sync API cannot run two instances at once in one process ("using Playwright
# Sync API inside the asyncio loop"), so every test module shares this one browser through
# the session-scoped `chromium` fixture of tests/conftest.py.
_shared: tuple[Playwright, Browser] | None = None


def shared_chromium() -> Browser:
    global _shared
    if _shared is None:
        playwright = sync_playwright().start()
        try:
            _shared = (playwright, _launch(playwright))
        except BaseException:
            playwright.stop()
            raise
    return _shared[1]


def close_shared_chromium() -> None:
    global _shared
    if _shared is not None:
        playwright, browser = _shared
        _shared = None
        browser.close()
        playwright.stop()


Routes = dict[str, tuple[Path, str]]


@contextmanager
def serve_files(routes: Routes) -> Iterator[str]:
    """Serve exactly `routes` (URL path -> file, content type) on 127.0.0.1 at a free port;
    yields the base URL. Files are read at each request, so edits show on reload."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
                return
            body = route[0].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", route[1])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", STRICT_CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as base:
        yield base


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve a built site folder as a plain file server (a CDN's view of it) on 127.0.0.1
    at a free port; yields the base URL."""
    handler = functools.partial(_QuietFiles, directory=str(root))
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as base:
        yield base


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Run `server` on a thread; yields its base URL; shuts it down after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def served_hand_made_site(tmp: Path) -> Iterator[str]:
    """The hand-made test set (tests/support/sitedata.py) rendered into `tmp/site`, its
    canonical links on the server's own address, and served; yields the base URL."""
    with serve_directory(tmp / "site") as base:
        cfg = RenderConfig(db=sitedata.hand_made(tmp / "h.duckdb"), out=tmp / "site",
                           base_url=base, jobs=1)  # fmt: skip
        render_site(cfg, log=lambda _m: None)
        yield base
