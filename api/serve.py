"""The dev server: the API under /api and a built static site everywhere else, on one
port; the site is served as the bucket serves it (`api/static_site.py`: index.html
resolution, the site's 404.html, precompressed siblings, the shared cache headers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import uvicorn
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.app import create_app
from api.config import Settings
from api.middleware import SecurityHeadersMiddleware
from api.static_site import StaticSite

ADMIN_PREFIX = "/admin/"


class SiteAndApi:
    """Dispatches /api and /api/... to the API and the rest to the static site; the site's
    answers (pages, files, redirects, 404s) get the security headers as the API's do.
    /admin/... goes to the API too, and when the API answers 404 there (not an admin, or
    no such page) the site answers instead: the same 404 page as any unknown URL
    (deploy/nginx/sorastats.conf does the same with `error_page`)."""

    def __init__(self, api: ASGIApp, site: Path | None, https: bool) -> None:
        self.api = api
        self.site: ASGIApp | None = None
        if site is not None:
            # Errors (a failed read) become answers inside the headers middleware instead
            # of uvicorn's bare 500.
            files = ExceptionMiddleware(StaticSite(site))
            self.site = SecurityHeadersMiddleware(ServerErrorMiddleware(files), https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "lifespan" or path == "/api" or path.startswith("/api/"):
            await self.api(scope, receive, send)
        elif path.startswith(ADMIN_PREFIX) and self.site is not None:
            if not await _answered_unless_404(self.api, scope, receive, send):
                await self.site(scope, receive, send)
        elif self.site is not None:
            await self.site(scope, receive, send)
        else:
            await self.api(scope, receive, send)


async def _answered_unless_404(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
    """Runs `app`; a 404 it answers is swallowed (False) so that another app may answer."""
    swallowed = False

    async def send_unless_404(message: Message) -> None:
        nonlocal swallowed
        if message["type"] == "http.response.start" and message["status"] == 404:
            swallowed = True
        if not swallowed:
            await send(message)

    await app(scope, receive, send_unless_404)
    return not swallowed


def build(settings: Settings, site: Path | None) -> SiteAndApi:
    return SiteAndApi(create_app(settings), site, https=settings.BASE_URL.startswith("https://"))


def _factory() -> SiteAndApi:
    """For uvicorn workers (each a fresh process): settings from the environment."""
    from api.config import load_settings

    site = os.environ.get("API_SERVE_SITE") or None
    return build(load_settings(), Path(site) if site else None)


def uvicorn_options(workers: int) -> dict[str, Any]:
    """uvicorn's settings for `workers` processes: one worker (`make run`) logs each
    request; several (production-like) log warnings only. bench/api.py runs its bare
    Starlette floor with the same."""
    return {"workers": workers, "log_level": "warning" if workers > 1 else "info"}


def serve(settings: Settings, host: str, port: int, site: Path | None, workers: int = 1) -> int:
    if site is not None and not site.is_dir():
        # `make run` may start before anything rendered the site: serve the API anyway.
        print(f"warning: --site {site} is not a folder (build the site first); API only")
        site = None
    where = f"http://{host}:{port}"
    print(f"serving the API at {where}/api" + (f" and {site}/ at {where}/" if site else ""))
    if workers > 1:
        if site is not None:
            os.environ["API_SERVE_SITE"] = str(site)
        uvicorn.run(
            "api.serve:_factory",
            factory=True,
            host=host,
            port=port,
            **uvicorn_options(workers),
        )
    else:
        uvicorn.run(build(settings, site), host=host, port=port, **uvicorn_options(workers))
    return 0
