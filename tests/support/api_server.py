"""Run the real API against SQLite or a private schema of the test PostgreSQL server: in
this process through an ASGI transport (SQLite: the fast tier), or with uvicorn in a thread
on 127.0.0.1, a free port (PostgreSQL, a served site, or when asked: the end-to-end tier)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from api.app import create_app
from api.config import Settings, load_settings
from api.endpoints import EndpointGroup
from api.serve import SiteAndApi
from api.services import Services
from sorastats.tls import tls_context
from tests.support.api_client import TEST_ITERATIONS, Client, Outbox
from tests.support.asgi_transport import serve_in_process
from tests.support.threaded_server import loopback_socket, serve_in_thread
from tests.support.tiers import refuse_in_fast_tier

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
    if os.environ.get("CI") == "true" or os.environ.get("SORASTATS_TEST_ALL") == "1":
        pytest.fail("TEST_DATABASE_URL is not set: `make test` starts PostgreSQL and sets it")
    pytest.skip("TEST_DATABASE_URL not set (`make test` starts PostgreSQL and sets it)")


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
    transport: httpx.BaseTransport | None = None  # None: a real server at base_url
    clients: list[Client] = field(default_factory=list)

    @property
    def outbox(self) -> Outbox:
        return Outbox(Path(self.settings.MAIL_OUTBOX))

    def client(self) -> Client:
        """A new browser-like client, closed when the server stops."""
        made = Client(self.base_url, self.outbox, self.transport)
        self.clients.append(made)
        return made

    def http(self, **options: Any) -> httpx.Client:
        """A bare HTTP client (no cookies set, no CSRF token) for raw requests."""
        options.setdefault("verify", tls_context())
        return httpx.Client(base_url=self.base_url, transport=self.transport, **options)


@contextmanager
def run_api(
    db_url: str,
    tmp_path: Path,
    *,
    site: Path | None = None,
    groups: list[EndpointGroup] | None = None,
    real_server: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningApi]:
    """With `site`, runs the dev server (site + API on one port) instead of the bare API.
    `real_server` (default: for PostgreSQL or a site) puts uvicorn on a socket; otherwise
    the app runs in this process and clients reach it through an ASGI transport. `env`
    overrides settings (over TEST_ENV): `env={"LOGIN_FREE_ATTEMPTS": "2"}`."""
    env = {} if env is None else env
    if real_server is None:
        real_server = site is not None or not db_url.startswith("sqlite")
    if not real_server:
        with _run_in_process(db_url, tmp_path, groups, env) as running:
            yield running
        return
    refuse_in_fast_tier("starts a real uvicorn server")
    sock = loopback_socket()  # the server's URL is a setting: its port comes first
    port = sock.getsockname()[1]
    settings = _settings(db_url, tmp_path, f"http://127.0.0.1:{port}", env)
    services = Services.from_settings(settings)
    app: Any = create_app(settings, services, groups)
    if site is not None:
        app = SiteAndApi(app, site, https=settings.BASE_URL.startswith("https://"))
    with serve_in_thread(app, name="API", lifespan="on", sock=sock) as base_url:
        running = RunningApi(base_url, settings, services, tmp_path)
        try:
            yield running
        finally:
            for made in running.clients:
                made.close()


@contextmanager
def _run_in_process(
    db_url: str, tmp_path: Path, groups: list[EndpointGroup] | None, env: Mapping[str, str]
) -> Iterator[RunningApi]:
    base_url = "http://127.0.0.1:8000"  # nothing listens: the transport carries requests
    settings = _settings(db_url, tmp_path, base_url, env)
    services = Services.from_settings(settings)
    app = create_app(settings, services, groups)
    with serve_in_process(app) as transport:
        running = RunningApi(base_url, settings, services, tmp_path, transport)
        try:
            yield running
        finally:
            for made in running.clients:
                made.close()


def _settings(db_url: str, tmp_path: Path, base_url: str, env: Mapping[str, str]) -> Settings:
    return load_settings(
        {
            **TEST_ENV,
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": db_url,
            "BASE_URL": base_url,
            **env,
        }
    )


@contextmanager
def hand_made_site_and_api(
    tmp: Path, *, search: bool = False, env: Mapping[str, str] | None = None
) -> Iterator[RunningApi]:
    """The browser tests' server: the hand-made sample rendered into `tmp/site` and served
    with the API (SQLite in `tmp`) on one port, as `make run` serves them."""
    from sorastats.site.builder import render_site
    from sorastats.site.config import RenderConfig
    from tests.support import sitedata

    site = tmp / "site"
    cfg = RenderConfig(db=sitedata.hand_made(tmp / "h.duckdb"), out=site, jobs=1, search=search)
    render_site(cfg, log=lambda _m: None)
    with run_api(f"sqlite:///{tmp / 'accounts.sqlite3'}", tmp, site=site, env=env) as api:
        yield api
