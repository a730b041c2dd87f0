"""Run the real API on 127.0.0.1 (a free port) with uvicorn in a thread, against SQLite
or a private schema of the test PostgreSQL server."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from api.app import create_app
from api.config import Settings, load_settings
from api.endpoints import EndpointGroup
from api.serve import SiteAndApi
from api.services import Services
from tests.support.api_client import TEST_ITERATIONS, Client, Outbox

TEST_ENV = {
    "DEV_MODE": "1",
    "KDF_ITERATIONS": str(TEST_ITERATIONS),
    # Cheap argon2 keeps the suite fast; production costs are enforced outside dev mode.
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_KIB": "1024",
    "LOGIN_FREE_ATTEMPTS": "3",
}


def postgres_url_or_skip() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but TEST_DATABASE_URL is not set: .ci/run must start PostgreSQL")
    pytest.skip("TEST_DATABASE_URL not set (start PostgreSQL with .ci/start-postgres)")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema per test, dropped afterwards; the URL selects it via search_path."""
    import psycopg

    base = postgres_url_or_skip()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "postgres":
        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'accounts.sqlite3'}"


@dataclass
class RunningApi:
    base_url: str
    settings: Settings
    services: Services
    tmp_path: Path
    clients: list[Client] = field(default_factory=list)

    @property
    def outbox(self) -> Outbox:
        return Outbox(Path(self.settings.MAIL_OUTBOX))

    def client(self) -> Client:
        """A new browser-like client, closed when the server stops."""
        made = Client(self.base_url, self.outbox)
        self.clients.append(made)
        return made


@contextmanager
def run_api(
    db_url: str,
    tmp_path: Path,
    site: Path | None = None,
    groups: list[EndpointGroup] | None = None,
    **env: str,
) -> Iterator[RunningApi]:
    """With `site`, runs the dev server (site + API on one port) instead of the bare API."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = load_settings(
        {
            **TEST_ENV,
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": db_url,
            "BASE_URL": f"http://127.0.0.1:{port}",
            **env,
        }
    )
    services = Services.from_settings(settings)
    app: Any = create_app(settings, services, groups)
    if site is not None:
        app = SiteAndApi(app, site, https=settings.BASE_URL.startswith("https://"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    running = RunningApi(f"http://127.0.0.1:{port}", settings, services, tmp_path)
    try:
        yield running
    finally:
        for made in running.clients:
            made.close()
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
