"""A real uvicorn server on a free loopback port, in a thread of the test process: the API,
the fake Stripe and the Sora mirror all start and stop through `serve_in_thread`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


class _PromptServer(uvicorn.Server):
    """uvicorn looks at `should_exit` every 0.1 s; `stop` wakes it at once. A test suite
    stops a few hundred servers: those ticks were about 15 s of `make test`'s wall time."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def stop(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(wake.set)


def loopback_socket() -> socket.socket:
    """A socket bound to a free 127.0.0.1 port chosen by the kernel (its port is known
    before the app is made, for apps whose settings hold their own URL)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A loopback port that was free a moment ago: for servers started in another process
    (which bind it themselves), and for a URL where nothing listens."""
    with loopback_socket() as sock:
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, name: str, lifespan: str = "off", sock: socket.socket | None = None
) -> Iterator[str]:
    """Serve `app` on `sock` (default: a new loopback socket) until the block ends; yields
    its base URL."""
    sock = loopback_socket() if sock is None else sock
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _PromptServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.stop()
        thread.join(timeout=30)
        sock.close()
