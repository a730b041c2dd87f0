"""A real HTTP webhook receiver on 127.0.0.1 (stdlib `http.server` in a thread), for the
nightly's alert: it records every POST and answers with the statuses it is given, then 200."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.threaded_server import free_port


@dataclass
class Received:
    path: str
    content_type: str
    body: bytes

    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    received: list[Received] = field(default_factory=list)


@contextlib.contextmanager
def webhook_receiver(path: str = "/hook", statuses: tuple[int, ...] = ()) -> Iterator[Receiver]:
    """Serve until the block ends; `receiver.url` is `http://127.0.0.1:PORT{path}`."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append(
                Received(self.path, self.headers.get("Content-Type", ""), body)
            )
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    holder.append(Receiver(f"http://127.0.0.1:{port}{path}", list(statuses)))
    # A short poll: `shutdown` waits for it (the default 0.5 s, per test).
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="webhook", daemon=True
    )
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url(path: str = "/hook") -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}{path}"
