"""Pure-ASGI middleware of the API: body size limit, security headers, and the session
and cross-site checks (Sec-Fetch-Site, Origin, X-CSRF-Token)."""

from __future__ import annotations

import time

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import service as auth_service
from api.errors import ApiError, error_response
from api.security import csrf_ok, sha256_hex
from api.services import Services
from sorastats.headers import headers_for, is_api_path

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Server-to-server callbacks that cannot carry a session or CSRF token (e.g. the Stripe
# webhook, which proves itself by its signature). Add paths here, never prefixes.
CSRF_EXEMPT_PATHS: frozenset[str] = frozenset({"/api/billing/webhook"})
# Confirmations of mailed links: the mailed token in the body is the proof, and the pages
# that send it (api/pages/confirm.js) hold no session's CSRF token. A signed-in browser
# sends its cookie all the same (an email change is confirmed while signed in), so these
# need no X-CSRF-Token; the cross-site checks still apply.
MAILED_TOKEN_PATHS: frozenset[str] = frozenset({"/api/auth/verify", "/api/auth/link/confirm"})
# Beacons (navigator.sendBeacon cannot set headers): they change nothing of an account, so
# they need no X-CSRF-Token; the cross-site checks still apply, and the session is still
# read (a signed-in user's objection to usage metrics is honoured).
BEACON_PATHS: frozenset[str] = frozenset({"/api/events"})


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, by Content-Length up front and by
    counting streamed chunks (no Content-Length or a lying one)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = HTTPConnection(scope).headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            if not declared.isdigit():
                await error_response(400, "bad_request", "Bad Content-Length.")(
                    scope, receive, send
                )
                return
            too_large = error_response(
                413, "body_too_large", f"The body is limited to {self.max_bytes} bytes."
            )
            await too_large(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ApiError(
                        413, "body_too_large", f"The body is limited to {self.max_bytes} bytes."
                    )
            return message

        await self.app(scope, limited_receive, send)


def _encoded(table: list[tuple[str, str, bool]]) -> list[tuple[bytes, bytes, bool]]:
    return [(n.lower().encode(), v.encode("latin-1"), d) for n, v, d in table]


class SecurityHeadersMiddleware:
    """Sets the headers of sorastats/headers.py on every response, by its path (site or API):
    they replace a response's own value, except `default_only` ones (Cache-Control)."""

    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.api_headers = _encoded(headers_for("/api/", https))
        self.site_headers = _encoded(headers_for("/", https))
        self.api_replaced = frozenset(
            n for n, _, default_only in self.api_headers if not default_only
        )
        self.site_replaced = frozenset(
            n for n, _, default_only in self.site_headers if not default_only
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_api_path(scope.get("path", "")):
            table, replaced = self.api_headers, self.api_replaced
        else:
            table, replaced = self.site_headers, self.site_replaced

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in replaced
                ]
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v, _ in table if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SessionMiddleware:
    """Loads the session named by the cookie into `scope["session_row"]` (one indexed
    query) and guards unsafe methods: cross-site requests and foreign origins are refused,
    and a signed-in request must carry the X-CSRF-Token bound to its session."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        settings = self.services.settings
        unsafe = scope["method"] in UNSAFE_METHODS and scope["path"] not in CSRF_EXEMPT_PATHS
        if unsafe:
            refusal = cross_site_refusal(
                conn.headers.get("sec-fetch-site"), conn.headers.get("origin"), settings.BASE_URL
            )
            if refusal:
                await error_response(403, "cross_site", refusal)(scope, receive, send)
                return
        token = conn.cookies.get(settings.session_cookie)
        row = None
        if token and len(token) <= 100:
            now = int(time.time())
            # One indexed read statement: `lookup` runs it without a transaction and, on
            # SQLite, without the hop to a worker thread (most of this request's cost).
            row = await self.services.db.lookup(*auth_service.session_query(sha256_hex(token), now))
            if (
                row is not None
                and now - int(row["last_seen_at"]) >= auth_service.TOUCH_EVERY_SECONDS
            ):
                # A separate write transaction: upgrading the read one could fail under load.
                await self.services.db.run(auth_service.touch_session, str(row["session_id"]), now)
        scope["session_row"] = row
        if (
            unsafe
            and row is not None
            and scope["path"] not in MAILED_TOKEN_PATHS
            and scope["path"] not in BEACON_PATHS
            and not csrf_ok(
                settings.SECRET_KEY, str(row["token_hash"]), conn.headers.get("x-csrf-token")
            )
        ):
            await error_response(403, "csrf_failed", "Missing or wrong X-CSRF-Token header.")(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


def cross_site_refusal(fetch_site: str | None, origin: str | None, base_url: str) -> str | None:
    """Why an unsafe request must be refused, or None. Pure, table-tested."""
    if fetch_site is not None and fetch_site.lower() == "cross-site":
        return "Cross-site requests are refused."
    if origin is not None and origin.rstrip("/") != base_url:
        return "Requests from another origin are refused."
    return None
