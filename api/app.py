"""The Starlette application. `create_app(settings)` builds it; `api.app:app` builds it
from the environment on first use (so importing this module never reads settings).

Each domain's `routes` module (api/<domain>/routes.py) exposes `group` (an EndpointGroup);
add new ones to ROUTE_GROUPS.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.account import routes as account
from api.account import service as account_service
from api.auth import routes as auth
from api.auth import service as auth_service
from api.billing import routes as billing
from api.config import Settings, load_settings
from api.creators import routes as creators
from api.endpoints import Endpoint, EndpointGroup, openapi, starlette_route
from api.errors import EXCEPTION_HANDLERS
from api.metrics import routes as metrics
from api.metrics import service as metrics_service
from api.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware, SessionMiddleware
from api.pages import routes as pages
from api.services import Services
from api.stats import routes as stats
from api.vault import routes as vault
from api.watchlist import routes as watchlist

log = logging.getLogger("api")

# Starlette tries routes in order: the metrics' beacon, the most frequent request, first.
ROUTE_GROUPS: list[EndpointGroup] = [
    metrics.group,
    auth.group,
    account.group,
    pages.group,
    vault.group,
    billing.group,
    stats.group,
    creators.group,
    watchlist.group,
]


# Tried first by Starlette's router (which matches routes one by one, in order): the
# requests every signed-in page makes. Only the routing order changes, not the OpenAPI's.
HOT_ROUTES: frozenset[tuple[str, str]] = frozenset({("POST", "/api/events"), ("GET", "/api/me")})


def all_endpoints() -> list[Endpoint]:
    return [ep for group in ROUTE_GROUPS for ep in group.endpoints]


def prepare_database(services: Services) -> None:
    """Dev mode applies pending migrations; otherwise a stale schema stops the start."""
    db = services.db
    if services.settings.DEV_MODE:
        db.migrate(log=log.info)
    db.check_schema()
    db.call(account_service.purge_expired, int(time.time()))
    services.kdf_profile = db.call(auth_service.kdf_profile, write=False)
    services.kdf_profile_at = int(time.time())
    stripe = services.stripe
    if not stripe.billing_enabled:
        unset = ", ".join(stripe.missing)
        log.info("billing is off (unset: %s); everyone is on the free tier", unset)


class _App(Starlette):
    """Starlette with the security headers outside its error middleware, so that 500s
    (sent by ServerErrorMiddleware, outside every user middleware) carry them too."""

    def __init__(self, *, https: bool, **kwargs: Any) -> None:
        self.https = https
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), https=self.https)


def create_app(
    settings: Settings,
    services: Services | None = None,
    groups: list[EndpointGroup] | None = None,
) -> Starlette:
    """The API app; `groups` (default ROUTE_GROUPS) lets tests build tiny apps."""
    services = services or Services.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(prepare_database, services)
        # Computed once now, so the first unknown-email login is not the slow one.
        await anyio.to_thread.run_sync(services.hasher.dummy_hash)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(metrics_service.flush_periodically, services.db, services.metrics)
            yield
            tasks.cancel_scope.cancel()
        await anyio.to_thread.run_sync(
            metrics_service.flush_pending_now, services.db, services.metrics
        )
        services.close()

    endpoints = [ep for group in (groups or ROUTE_GROUPS) for ep in group.endpoints]
    app = _App(
        https=settings.BASE_URL.startswith("https://"),
        routes=[
            starlette_route(ep)
            for ep in sorted(endpoints, key=lambda ep: (ep.method, ep.path) not in HOT_ROUTES)
        ],
        middleware=[
            Middleware(BodyLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES),
            Middleware(SessionMiddleware, services=services),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.openapi = openapi(endpoints)
    return app


class _AppFromEnvironment:
    """ASGI app that reads the settings from the environment at its first event."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = create_app(load_settings())
        await self._app(scope, receive, send)


app = _AppFromEnvironment()
