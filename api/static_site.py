"""The dev server's static side: a built site folder served the way the bucket serves it.

Paths resolve as on the bucket and CDN: `/x/` is `x/index.html`, `/x` a redirect to `/x/`
when `x/` is a folder, a missing file the site's `404.html` with status 404. Content-Type
and Cache-Control come from the shared table (`sorastats/serving.py`), so the dev server
answers with the headers the deploy writes. Compressible files are answered from their
precompressed `.br`/`.gz` siblings when the client accepts one (`choose_encoding`), with
`Content-Encoding` and `Vary: Accept-Encoding`; a sibling's own URL (`/x.html.gz`) is not
a page and answers 404, as on the bucket, where siblings are never objects of their own.

Refused (404): `..` and `.` segments, dot files (the build's `.manifest`, the writer's
temporary files), empty segments (`//`), NUL and backslashes, and anything whose real
path (after symlinks) leaves the site folder. Only GET and HEAD (others: 405).
ETag / Last-Modified with If-None-Match / If-Modified-Since give 304s.

Range requests (RFC 9110 §14), as the bucket and CDN answer them, so DuckDB-WASM and other
Parquet readers fetch only the bytes a query needs (`/data/*.parquet`, docs/data.md): one
`bytes=` range (first-last, first-, or -suffix) of a file sent as it is gives 206 with
Content-Range; a range past the end gives 416 with `Content-Range: bytes */size`; several
ranges, a malformed header, an If-Range that does not match the current ETag, or an
answer from a compressed sibling give the whole file (200), as RFC 9110 allows. Files sent
as they are say `Accept-Ranges: bytes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from sorastats import serving

CHUNK = 64 * 1024
NOT_FOUND_PAGE = "404.html"


@dataclass
class Answer:
    """What to send: status, headers, and the open file whose bytes are the body (opened
    before its size went into Content-Length, so a build replacing the file meanwhile
    cannot make the two disagree); None: `body`."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    fd: int | None = None
    body: bytes = b""
    offset: int = 0  # where the body starts in the file (a range)
    length: int | None = None  # bytes of the file to send (None: to its end)


class Unsatisfiable(Exception):
    """A byte range that starts past the end of the file (answered 416)."""


MAX_RANGE_HEADER = 200  # longer: not the single range a reader sends; the whole file


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte, inclusive, that a Range header asks of a file of `size`
    bytes; None to send the whole file (no header, a malformed one, several ranges, a unit
    other than bytes). Raises `Unsatisfiable` for a range starting at or past the end."""
    if header is None or len(header) > MAX_RANGE_HEADER:
        return None
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    numbers = (first_text, last_text)
    if not dash or not all(t == "" or (t.isascii() and t.isdigit()) for t in numbers):
        return None
    if not first_text:  # the last N bytes
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None
    if first >= size:
        raise Unsatisfiable
    return first, min(last, size - 1)


def site_rel(path: str) -> tuple[str, bool] | None:
    """A request path as a site-relative file path and whether it named a folder (`/x/`);
    None for paths no site file can have (see the module's list of refusals)."""
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        return None
    folder = path.endswith("/")
    parts = path[1:-1].split("/") if folder else path[1:].split("/")
    if parts == [""]:
        return ("", True)  # the root
    if any(not part or part.startswith(".") for part in parts):
        return None
    return ("/".join(parts), folder)


def _inside(root_real: str, rel: str) -> bool:
    """`rel`'s real path (symlinks followed) is in the site folder."""
    real = os.path.realpath(os.path.join(root_real, rel))
    return real == root_real or real.startswith(root_real + os.sep)


def _etag(st: os.stat_result, encoding: str | None) -> str:
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}{"-" + encoding if encoding else ""}"'


def _not_modified(request: Headers, etag: str, mtime: float) -> bool:
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.get("if-modified-since")
    if since:
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False  # an unreadable date: send the file
    return False


def _representation(
    root: str, rel: str, status: int, request: Headers, conditional: bool
) -> Answer:
    """The answer for an existing site file `rel`: the best sibling or the file itself."""
    plain = os.path.join(root, rel)
    headers = [
        ("content-type", serving.content_type(rel)),
        ("cache-control", serving.cache_control(rel)),
    ]
    path, encoding = plain, None
    if serving.is_compressible(rel):
        headers.append(("vary", "Accept-Encoding"))
        available = [
            coding for coding, suffix in serving.ENCODINGS.items() if os.path.isfile(plain + suffix)
        ]
        encoding = serving.choose_encoding(request.get("accept-encoding"), available)
        if encoding is not None:
            path = plain + serving.ENCODINGS[encoding]
            headers.append(("content-encoding", encoding))
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    st = os.fstat(fd)
    etag = _etag(st, encoding)
    headers += [("etag", etag), ("last-modified", formatdate(st.st_mtime, usegmt=True))]
    if conditional and _not_modified(request, etag, st.st_mtime):
        os.close(fd)
        return Answer(304, [h for h in headers if h[0] != "content-type"])
    if status == 200 and encoding is None:
        headers.append(("accept-ranges", "bytes"))
        if_range = request.get("if-range")
        try:
            wanted = byte_range(request.get("range"), st.st_size)
        except Unsatisfiable:
            wanted = None
            if if_range is None or if_range == etag:
                os.close(fd)
                return Answer(
                    416,
                    [
                        ("content-range", f"bytes */{st.st_size}"),
                        ("content-type", "text/plain; charset=utf-8"),
                        ("content-length", "0"),
                    ],
                )
        if wanted is not None and (if_range is None or if_range == etag):
            first, last = wanted
            headers += [
                ("content-range", f"bytes {first}-{last}/{st.st_size}"),
                ("content-length", str(last - first + 1)),
            ]
            return Answer(206, headers, fd=fd, offset=first, length=last - first + 1)
    headers.append(("content-length", str(st.st_size)))
    return Answer(status, headers, fd=fd)


def plan(root: Path, path: str, query: str, request: Headers) -> Answer:
    """What the site answers to GET `path` (blocking: stats files; run it in a thread)."""
    root_real = os.path.realpath(root)
    parsed = site_rel(path)
    if parsed is not None and not serving.is_sibling(parsed[0]):
        rel, folder = parsed
        index_rel = f"{rel}/index.html" if rel else "index.html"
        found = index_rel if folder else rel
        if os.path.isfile(os.path.join(root_real, found)) and _inside(root_real, found):
            return _representation(root_real, found, 200, request, conditional=True)
        index = os.path.join(root_real, index_rel)
        if not folder and os.path.isfile(index) and _inside(root_real, index_rel):
            # Built from the checked rel, never from the raw path: no `//host` open redirect.
            location = f"/{rel}/" + (f"?{query}" if query else "")
            return Answer(307, [("location", location), ("content-length", "0")])
    return _not_found(root_real, request)


def _not_found(root_real: str, request: Headers) -> Answer:
    if os.path.isfile(os.path.join(root_real, NOT_FOUND_PAGE)):
        return _representation(root_real, NOT_FOUND_PAGE, 404, request, conditional=False)
    body = b"Not Found"
    headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", "9")]
    return Answer(404, headers, body=body)


class StaticSite:
    """Pure-ASGI app serving the built site at `root` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a websocket (lifespan goes to the API): none here
            await send({"type": "websocket.close", "code": 1000})
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            answer = Answer(
                405,
                [
                    ("allow", "GET, HEAD"),
                    ("content-type", "text/plain; charset=utf-8"),
                    ("content-length", "18"),
                ],
                body=b"Method Not Allowed",
            )
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            answer = await anyio.to_thread.run_sync(
                plan, self.root, scope["path"], query, Headers(scope=scope)
            )
        try:
            await self._send(answer, method == "HEAD", send)
        finally:
            if answer.fd is not None:
                os.close(answer.fd)

    @staticmethod
    async def _send(answer: Answer, head: bool, send: Send) -> None:
        headers = [(k.encode(), v.encode("latin-1")) for k, v in answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        fd = answer.fd
        if head or fd is None:
            await send({"type": "http.response.body", "body": b"" if head else answer.body})
            return
        offset, left = answer.offset, answer.length
        while True:
            want = CHUNK if left is None else min(CHUNK, left)
            chunk = await anyio.to_thread.run_sync(os.pread, fd, want, offset)
            offset += len(chunk)
            if left is not None:
                left -= len(chunk)
            more = len(chunk) == want and (left is None or left > 0)
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return
