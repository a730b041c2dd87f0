"""The dev server's static side (`api/static_site.py`) in this process: paths, refusals,
precompressed siblings by Accept-Encoding, the shared cache headers, 304s. The same answers
through a real uvicorn are in tests/api/test_serve.py."""

from __future__ import annotations

import gzip
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import anyio
import brotli
import httpx
import pytest
from starlette.datastructures import Headers

from api.middleware import SecurityHeadersMiddleware
from api.static_site import StaticSite, Unsatisfiable, byte_range, plan, site_rel
from sorastats import serving
from sorastats.headers import headers_for
from sorastats.site.writer import write_output

PAGE = b"<!doctype html><h1>home</h1>" + b" padding" * 200
FILES = {
    "index.html": PAGE,
    "c/ada/index.html": b"<h1>ada</h1>",
    "404.html": b"<h1>lost</h1>",
    "static/site.0123456789.css": b"body{color:red}" * 50,
    "feed.xml": b"<feed/>",
    "img/logo.png": b"\x89PNG not really",
    "only-gzip/index.html": b"<p>gz</p>",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static") / "site"
    for rel, data in FILES.items():
        write_output(root, rel, data)  # the renderer's writer: real .gz/.br siblings
    (root / "only-gzip" / "index.html.br").unlink()
    (root / ".manifest").write_text("private bookkeeping")
    outside = root.parent / "outside.html"
    outside.write_text("secret")
    (root / "leak.html").symlink_to(outside)
    return root


T = TypeVar("T")


def run(call: Callable[[], Awaitable[T]]) -> T:
    """`anyio.run` on a thread of its own: in a test process that drove chromium earlier,
    Playwright's sync API keeps an event loop in the main thread, where a second one
    cannot start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, call).result()


def get(site: Path, path: str, **headers: str) -> httpx.Response:
    return request(site, "GET", path, headers)


def request(site: Path, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """One request through httpx's ASGI transport to the site app, wrapped like the dev
    server wraps it (security headers). httpx decodes br/gzip bodies as a browser does."""
    app = SecurityHeadersMiddleware(StaticSite(site), https=False)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as http:
            response = await http.request(method, path, headers=headers)
            await response.aread()
            return response

    return run(call)


ENCODED = [
    # path, Accept-Encoding, Content-Encoding sent, the site file it is
    ("/", "gzip, deflate, br", "br", "index.html"),
    ("/", "gzip", "gzip", "index.html"),
    ("/", "identity", None, "index.html"),
    ("/", "br;q=0, gzip", "gzip", "index.html"),
    ("/c/ada/", "br", "br", "c/ada/index.html"),
    ("/static/site.0123456789.css", "br", "br", "static/site.0123456789.css"),
    ("/feed.xml", "gzip", "gzip", "feed.xml"),
    ("/only-gzip/", "br, gzip", "gzip", "only-gzip/index.html"),  # its .br is gone
    ("/only-gzip/", "br", None, "only-gzip/index.html"),
    ("/img/logo.png", "br, gzip", None, "img/logo.png"),  # not compressible
]


@pytest.mark.parametrize(("path", "accept", "encoding", "rel"), ENCODED)
def test_precompressed_siblings_by_accept_encoding(
    site: Path, path: str, accept: str, encoding: str | None, rel: str
) -> None:
    response = get(site, path, **{"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == encoding
    assert response.content == FILES[rel]  # decoded, it is the plain file
    assert response.headers["content-type"] == serving.content_type(rel)
    assert response.headers["cache-control"] == serving.cache_control(rel)
    # Vary on every compressible file's answer, identity ones too; never on the others.
    assert response.headers.get("vary") == ("Accept-Encoding" if rel != "img/logo.png" else None)
    sent = (site / rel).with_name(
        rel.rsplit("/", 1)[-1] + serving.ENCODINGS.get(encoding or "", "")
    )
    assert int(response.headers["content-length"]) == sent.stat().st_size
    assert (
        response.headers["content-security-policy"]
        == dict((n, v) for n, v, _ in headers_for("/", False))["Content-Security-Policy"]
    )


def test_the_bytes_on_the_wire_are_the_sibling(site: Path) -> None:
    """httpx decodes; the raw stream must be the .br file itself, byte for byte."""
    app = StaticSite(site)

    async def call() -> bytes:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as http:
            async with http.stream("GET", "/", headers={"Accept-Encoding": "br"}) as response:
                return b"".join([chunk async for chunk in response.aiter_raw()])

    raw = run(call)
    assert raw == (site / "index.html.br").read_bytes()
    assert brotli.decompress(raw) == PAGE
    assert gzip.decompress((site / "index.html.gz").read_bytes()) == PAGE


REFUSED = [
    "/index.html.gz",  # a sibling's own URL is not a page (the bucket has no such object)
    "/index.html.br",
    "/c/ada/index.html.br",
    "/.manifest",  # dot files: the build's bookkeeping, the writer's temporary files
    "/c/.hidden/",
    "/../outside.html",
    "/c/../index.html",
    "/./index.html",
    "//evil.example/",
    "/c//ada/",
    "/c\\ada/",
    "/index.html\x00",
    "/leak.html",  # a symlink out of the site
    "/nope/",
    "/nope",
    "/c/ada/index.htm",
]


@pytest.mark.parametrize("path", REFUSED)
def test_refused_paths_answer_the_sites_404(site: Path, path: str) -> None:
    answer = plan(site, path, "", Headers({"accept-encoding": "identity"}))
    assert answer.status == 404
    assert answer.fd is not None
    try:
        assert os.read(answer.fd, 1000) == FILES["404.html"]
    finally:
        os.close(answer.fd)


def test_404_over_http_is_the_page_compressed_too(site: Path) -> None:
    response = get(site, "/index.html.gz", **{"Accept-Encoding": "gzip"})
    assert response.status_code == 404
    assert response.content == FILES["404.html"]
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_without_a_404_page_a_plain_404(tmp_path: Path) -> None:
    write_output(tmp_path, "index.html", b"<p>x</p>")
    response = get(tmp_path, "/nope/")
    assert (response.status_code, response.text) == (404, "Not Found")
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    ("path", "query", "location"),
    [("/c/ada", "", "/c/ada/"), ("/c/ada", "a=1&b=%2F", "/c/ada/?a=1&b=%2F"), ("/c", "", None)],
)
def test_a_folder_without_its_slash_redirects(
    site: Path, path: str, query: str, location: str | None
) -> None:
    answer = plan(site, path, query, Headers({}))
    if location is None:  # c/ has no index.html: not a page
        assert answer.status == 404
        assert answer.fd is not None
        os.close(answer.fd)
    else:
        assert (answer.status, dict(answer.headers)["location"]) == (307, location)


def test_site_rel() -> None:
    assert site_rel("/") == ("", True)
    assert site_rel("/a/b/") == ("a/b", True)
    assert site_rel("/a/b.html") == ("a/b.html", False)
    assert site_rel("a") is None
    assert site_rel("/a/../b") is None


def test_head_has_the_headers_and_no_body(site: Path) -> None:
    got = get(site, "/", **{"Accept-Encoding": "br"})
    head = request(site, "HEAD", "/", {"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.content == b""
    for name in ("content-length", "content-encoding", "etag", "vary", "cache-control"):
        assert head.headers[name] == got.headers[name]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_and_head(site: Path, method: str) -> None:
    response = request(site, method, "/", {})
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert "content-security-policy" in response.headers


def test_conditional_requests(site: Path) -> None:
    br = get(site, "/", **{"Accept-Encoding": "br"})
    plain = get(site, "/", **{"Accept-Encoding": "identity"})
    assert br.headers["etag"] != plain.headers["etag"]  # one tag per representation
    same = get(site, "/", **{"Accept-Encoding": "br", "If-None-Match": br.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == br.headers["etag"]
    assert same.headers["cache-control"] == serving.PAGE and same.headers["vary"]
    other = get(site, "/", **{"Accept-Encoding": "gzip", "If-None-Match": br.headers["etag"]})
    assert other.status_code == 200 and other.content == PAGE
    since = get(site, "/", **{"If-Modified-Since": plain.headers["last-modified"]})
    assert since.status_code == 304
    for bad in ("yesterday", "Mon, 99 Foo 2020 00:00:00 GMT"):
        assert get(site, "/", **{"If-Modified-Since": bad}).status_code == 200
    assert get(site, "/nope/", **{"If-None-Match": "*"}).status_code == 404


def test_a_file_larger_than_one_chunk(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    (tmp_path / "blob.wasm").write_bytes(data)
    response = get(tmp_path, "/blob.wasm")
    assert response.content == data
    assert response.headers["content-type"] == "application/wasm"


# Range requests: what Parquet readers (DuckDB, DuckDB-WASM on /screener/) send.
RANGES = [
    # header, size, (first, last) or None (the whole file) or "416"
    ("bytes=0-99", 1000, (0, 99)),
    ("bytes=10-", 1000, (10, 999)),
    ("bytes=-100", 1000, (900, 999)),
    ("bytes=-5000", 1000, (0, 999)),  # a suffix longer than the file: all of it
    ("bytes=990-5000", 1000, (990, 999)),  # the end clipped to the file
    ("bytes=999-999", 1000, (999, 999)),
    (" bytes = 5-6 ", 1000, (5, 6)),
    ("BYTES=5-6", 1000, (5, 6)),
    ("bytes=1000-", 1000, "416"),
    ("bytes=5000-6000", 1000, "416"),
    ("bytes=-0", 1000, "416"),
    ("bytes=0-", 0, "416"),
    ("bytes=0-1,5-6", 1000, None),  # several ranges: the whole file (RFC 9110 allows it)
    ("bytes=9-5", 1000, None),  # last before first: invalid, ignored
    ("bytes=-", 1000, None),
    ("bytes=a-b", 1000, None),
    ("bytes=²-3", 1000, None),  # a digit to str.isdigit, not to int()
    ("items=0-5", 1000, None),
    ("bytes", 1000, None),
    ("bytes=0-" + "9" * 300, 1000, None),  # over MAX_RANGE_HEADER
    ("", 1000, None),
]


@pytest.mark.parametrize(("header", "size", "expected"), RANGES)
def test_byte_range(header: str, size: int, expected: tuple[int, int] | str | None) -> None:
    if expected == "416":
        with pytest.raises(Unsatisfiable):
            byte_range(header, size)
    else:
        assert byte_range(header, size) == expected


def test_range_requests(tmp_path: Path) -> None:
    data = os.urandom(200_000)  # more than one chunk
    write_output(tmp_path, "data/posts.parquet", data)
    whole = get(tmp_path, "/data/posts.parquet")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    for header, (first, last) in (
        ("bytes=0-3", (0, 3)),
        ("bytes=70000-140000", (70000, 140000)),  # across chunk boundaries
        ("bytes=-8", (199_992, 199_999)),  # Parquet's footer length and magic
        ("bytes=150000-", (150_000, 199_999)),
    ):
        part = get(tmp_path, "/data/posts.parquet", Range=header)
        assert part.status_code == 206, header
        assert part.content == data[first : last + 1]
        assert part.headers["content-range"] == f"bytes {first}-{last}/200000"
        assert int(part.headers["content-length"]) == last - first + 1
        assert part.headers["etag"] == etag and part.headers["x-content-type-options"]
    head = request(tmp_path, "HEAD", "/data/posts.parquet", {"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["content-length"] == "10"
    past = get(tmp_path, "/data/posts.parquet", Range="bytes=200000-")
    assert past.status_code == 416 and past.content == b""
    assert past.headers["content-range"] == "bytes */200000"
    # If-Range: the range only while the file is the one the reader saw; else all of it.
    same = get(tmp_path, "/data/posts.parquet", Range="bytes=0-3", **{"If-Range": etag})
    assert same.status_code == 206 and same.content == data[:4]
    changed = get(tmp_path, "/data/posts.parquet", Range="bytes=0-3", **{"If-Range": '"old"'})
    assert changed.status_code == 200 and changed.content == data
    stale_past = get(tmp_path, "/data/posts.parquet", Range="bytes=999999-", **{"If-Range": '"x"'})
    assert stale_past.status_code == 200 and stale_past.content == data
    several = get(tmp_path, "/data/posts.parquet", Range="bytes=0-1,4-5")
    assert several.status_code == 200 and several.content == data
    # A conditional request that matches is still a 304, whatever the range.
    cached = get(tmp_path, "/data/posts.parquet", Range="bytes=0-3", **{"If-None-Match": etag})
    assert cached.status_code == 304


def test_no_ranges_of_compressed_answers_nor_of_404s(site: Path) -> None:
    br = get(site, "/", **{"Accept-Encoding": "br", "Range": "bytes=0-3"})
    assert br.status_code == 200 and br.content == PAGE  # the whole (decoded) page
    assert "accept-ranges" not in br.headers
    plain = get(site, "/", **{"Accept-Encoding": "identity", "Range": "bytes=0-3"})
    assert plain.status_code == 206 and plain.content == PAGE[:4]
    missing = get(site, "/nope/", Range="bytes=0-3")
    assert missing.status_code == 404 and missing.content == FILES["404.html"]
