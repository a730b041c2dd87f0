"""httpx's synchronous client talking to an ASGI app in this process: the fast tier's way
to test handlers (no socket, no uvicorn). The app runs on one event loop in a helper thread
(an anyio blocking portal), with its lifespan, exactly as the server would run it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.from_thread
import httpx

# A loopback peer, so per-address throttles see the same kind of address as on a socket.
PEER = ("127.0.0.1", 50000)


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, app: Any, portal: anyio.from_thread.BlockingPortal) -> None:
        # An exception in the app answers 500, as uvicorn would: tests then see the 500.
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=PEER)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # ASGITransport needs an async body: hand it the bytes, headers as they were sent.
        body = request.read()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._asgi.handle_async_request(copy)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)


@contextmanager
def serve_in_process(app: Any) -> Iterator[InProcessTransport]:
    """The app's lifespan runs around the block (migrations on start, close on exit)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        lifespan = portal.wrap_async_context_manager(app.router.lifespan_context(app))
        with lifespan:
            yield InProcessTransport(app, portal)
