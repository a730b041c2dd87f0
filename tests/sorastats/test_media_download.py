"""Media downloads against a real HTTP server on 127.0.0.1 (uvicorn in a thread): every
bound of sorastats/media.py's Downloader, then `collect` keeping what succeeds."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from sorastats import db, media
from sorastats.archive import CaptureArchive
from sorastats.run import default_captures_dir
from tests.support.threaded_server import serve_in_thread

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 10, 10, 12, 0, 0)
LIMITS = media.MediaLimits(
    max_bytes=64 * 1024,
    timeout_s=2.0,
    total_s=0.6,
    retries=2,
    backoff_s=0.01,
    max_wait_s=0.05,
    allow_private=True,  # the test server is on 127.0.0.1
)


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 40), (30, 90, 200)).save(out, "WEBP")
    return out.getvalue()


WEBP = _webp()


class Server:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def app(self) -> Starlette:
        def count(request: Request) -> int:
            path = request.url.path
            self.hits[path] = self.hits.get(path, 0) + 1
            return self.hits[path]

        async def ok(request: Request) -> Response:
            count(request)
            return Response(WEBP, media_type="text/plain")  # the type is sniffed, not taken

        async def big_declared(request: Request) -> Response:
            count(request)
            return Response(WEBP + b"\0" * 70_000, media_type="image/webp")

        async def big_streamed(request: Request) -> Response:
            count(request)

            async def body() -> AsyncIterator[bytes]:
                yield WEBP
                for _ in range(100):  # 800 KB with no Content-Length
                    yield b"\0" * 8192

            return StreamingResponse(body(), media_type="image/webp")

        async def html(request: Request) -> Response:
            count(request)
            return Response(b"<!doctype html><p>" + b"x" * 50_000, media_type="image/webp")

        async def slow(request: Request) -> Response:
            count(request)

            async def body() -> AsyncIterator[bytes]:
                yield WEBP[:40]
                for _ in range(20):
                    await asyncio.sleep(0.1)
                    yield b"\0"

            return StreamingResponse(body(), media_type="image/webp")

        async def flaky(request: Request) -> Response:
            if count(request) < 3:
                return Response(b"busy", status_code=503, headers={"Retry-After": "0"})
            return Response(WEBP, media_type="image/webp")

        async def missing(request: Request) -> Response:
            count(request)
            return Response(b"no", status_code=404)

        def redirect_to(target: str) -> object:
            async def endpoint(request: Request) -> Response:
                count(request)
                return RedirectResponse(target, status_code=302)

            return endpoint

        return Starlette(
            routes=[
                Route("/ok.webp", ok),
                Route("/big-declared", big_declared),
                Route("/big-streamed", big_streamed),
                Route("/html", html),
                Route("/slow", slow),
                Route("/flaky", flaky),
                Route("/missing", missing),
                Route("/to-file", redirect_to("file:///etc/passwd")),  # type: ignore[arg-type]
                Route("/to-ftp", redirect_to("ftp://127.0.0.1/x.webp")),  # type: ignore[arg-type]
                Route("/to-ok", redirect_to("/ok.webp")),  # type: ignore[arg-type]
                Route("/loop", redirect_to("/loop")),  # type: ignore[arg-type]
            ]
        )


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Server]]:
    state = Server()
    with serve_in_thread(state.app(), name="media") as base:
        yield base, state


@pytest.fixture
def downloader() -> Iterator[media.Downloader]:
    slept: list[float] = []
    with media.Downloader(LIMITS, sleep=slept.append) as d:
        yield d


@pytest.mark.parametrize(
    ("path", "message", "requests"),
    [
        ("/big-declared", "larger than 65,536 bytes (Content-Length", 1),
        ("/big-streamed", "larger than 65,536 bytes", 1),
        ("/html", "not a JPEG, PNG, GIF, WebP or AVIF image", 1),
        ("/missing", "HTTP 404 (not retried)", 1),
        ("/to-file", "redirect to a file: URL refused", 1),
        ("/to-ftp", "redirect to a ftp: URL refused", 1),
        ("/loop", "more than 3 redirects", 4),
    ],
)
def test_a_download_that_breaks_a_bound_is_refused_and_not_retried(
    server: tuple[str, Server], downloader: media.Downloader, path: str, message: str, requests: int
) -> None:
    base, _ = server
    with pytest.raises(media.MediaError, match=re.escape(message)) as caught:
        downloader.get(base + path)
    assert not caught.value.retry
    assert downloader.requests == requests


def test_a_slow_server_is_dropped_at_the_deadline_and_retried(
    server: tuple[str, Server], downloader: media.Downloader
) -> None:
    base, _ = server
    with pytest.raises(media.MediaError, match=r"slower than 0\.6 s"):
        downloader.get(base + "/slow")
    assert downloader.requests == LIMITS.retries + 1


def test_a_busy_server_is_retried_then_the_image_comes(
    server: tuple[str, Server], downloader: media.Downloader
) -> None:
    base, state = server
    assert downloader.get(base + "/flaky") == WEBP
    assert state.hits["/flaky"] == 3


def test_a_redirect_to_http_is_followed_and_a_non_http_url_is_never_asked(
    server: tuple[str, Server], downloader: media.Downloader
) -> None:
    base, _ = server
    assert downloader.get(base + "/to-ok") == WEBP
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/a.webp", "javascript:alert(1)"):
        with pytest.raises(media.MediaError, match="URL refused"):
            downloader.get(url)
    assert downloader.requests == 2


def test_collect_keeps_valid_urls_once_and_skips_expired_ones(
    server: tuple[str, Server], tmp_path: Path
) -> None:
    base, state = server
    dbp = tmp_path / "s.duckdb"
    con = db.connect(dbp)
    archive = CaptureArchive(default_captures_dir(dbp))
    later, earlier = NOW + timedelta(days=1), NOW - timedelta(days=1)
    con.execute(
        "INSERT INTO creators (id, username, first_seen_at, last_seen_at, profile_picture_url, "
        "profile_picture_expires_at, is_default_profile_picture) VALUES "
        "('user-a', 'a', $t, $t, $ok, $later, false), ('user-b', 'b', $t, $t, $ok, $later, true)",
        {"t": NOW, "ok": base + "/ok.webp?sig=secret", "later": later},
    )
    for post, url, expires in (
        ("s_valid", base + "/ok.webp?se=x&sig=secret", later),
        ("s_expired", base + "/ok.webp", earlier),
        ("s_missing", base + "/missing", later),
    ):
        con.execute(
            "INSERT INTO posts (id, creator_id, first_seen_at, last_seen_at, thumbnail_url, "
            "media_expires_at) VALUES (?, 'user-a', ?, ?, ?, ?)",
            [post, NOW, NOW, url, expires],
        )
    before = state.hits.get("/ok.webp", 0)
    with media.Downloader(LIMITS, sleep=lambda _s: None) as downloader:
        counts = media.collect(con, archive, downloader, NOW)
        again = media.collect(con, archive, downloader, NOW)
    assert (counts.stored, counts.failed) == (2, 1)
    assert counts.errors is not None and "s_missing" in counts.errors[0]
    assert (again.stored, again.failed) == (0, 1)  # kept ones are not fetched again
    assert state.hits["/ok.webp"] - before == 2
    rows = con.execute("SELECT owner_kind, owner_id, source FROM media ORDER BY 2").fetchall()
    assert rows == [
        ("post", "s_valid", base + "/ok.webp"),  # no query: no signature kept
        ("creator", "user-a", base + "/ok.webp"),
    ]
