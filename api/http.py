"""HTTP pieces shared by the domains' route modules: request schemas, session cookies,
throttling, bounded argon2 work, emailed links and the signed-in user's JSON. The
transactions behind them are api/auth/service.py's."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from api.auth import service as auth_service
from api.db import Row
from api.endpoints import Ctx
from api.errors import ApiError
from api.security import (
    KDF_NAME,
    csrf_token,
    email_throttle_key,
    new_id,
    new_token,
    sha256_hex,
    unb64url,
)
from api.strict_json import load_stored
from api.validation import B64_16, Schema, email, envelope, integer, key32, obj, string

T = TypeVar("T")
log = logging.getLogger("api")

KDF_SCHEMA: Schema = obj(
    {
        "name": {"type": "string", "enum": [KDF_NAME]},
        "iterations": integer(1000, 10_000_000, "PBKDF2 iterations"),
        "salt": string(22, 22, pattern=B64_16, description="16 random bytes, base64url"),
    }
)
EMAIL = email()
TOKEN = string(1000, 10, pattern=r"^[A-Za-z0-9_.\-]+$", description="Token from the mailed link")
WRAPPED_KEY = envelope("The user key wrapped by the key-encryption key")
SESSION_COOKIE_MAX_AGE = auth_service.SESSION_MAX_SECONDS


# One limiter per event loop (tests run several servers, each on its own loop).
_hash_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def hash_work(fn: Callable[..., T], *args: Any) -> T:
    """Run argon2 work on a worker thread, at most 2 per CPU at once: each call holds
    ARGON2_MEMORY_KIB of memory, so unbounded concurrency would be a memory DoS."""
    loop = asyncio.get_running_loop()
    limiter = _hash_limiters.get(loop)
    if limiter is None:
        limiter = _hash_limiters[loop] = anyio.CapacityLimiter(2 * (os.cpu_count() or 1))
    return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=limiter)


def norm_email(value: str) -> str:
    return value.strip().lower()


def key_bytes(value: str) -> bytes:
    return unb64url(value)  # already checked against the 43-character pattern


def check_kdf(ctx: Ctx, kdf: dict[str, Any], field: str = "kdf") -> None:
    minimum = ctx.services.settings.KDF_ITERATIONS
    if int(kdf["iterations"]) < minimum:
        raise ApiError(400, "kdf_too_weak", f"{field}.iterations must be at least {minimum}.")


def new_password_fields() -> dict[str, Schema]:
    return {
        "auth_key": key32("New auth key"),
        "kdf": KDF_SCHEMA,
        "wrapped_user_key": WRAPPED_KEY,
    }


# --- throttling -------------------------------------------------------------------------


def throttle_keys(ctx: Ctx, scope: str, email_addr: str) -> tuple[str, str]:
    client = ctx.request.client
    ip = client.host if client else "unknown"
    account = email_throttle_key(ctx.services.settings.SECRET_KEY, email_addr)
    return f"{scope}:{account}", f"{scope}-ip:{ip}"


async def refuse_if_throttled(ctx: Ctx, keys: tuple[str, ...]) -> None:
    until = await ctx.services.db.run(auth_service.blocked_until, list(keys), write=False)
    # Times are whole seconds: `until` = the failure's second + the backoff. Counting that
    # last second too makes an N-second backoff last at least N seconds (N to N + 1),
    # never less (a 1 s block could lapse at once when the next second began).
    wait = until + 1 - int(time.time()) if until else 0
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            f"Too many attempts; try again in {wait} seconds.",
            {"Retry-After": str(wait)},
        )


async def record_failure(ctx: Ctx, keys: tuple[str, str], factor: int = 1) -> None:
    """Count a failure against the account and the IP (the IP gets 4x the free attempts)."""
    s = ctx.services.settings
    account_key, ip_key = keys
    free, cap = s.LOGIN_FREE_ATTEMPTS * factor, s.LOGIN_MAX_BACKOFF_SECONDS

    counted = [(account_key, free), (ip_key, 4 * free)]
    await ctx.services.db.run(auth_service.count_failures, counted, ctx.now, cap)


MAIL_FACTOR = 3  # mail-sending requests get 3x the free attempts of sign-in


async def throttle_mail(ctx: Ctx, *addresses: str) -> None:
    """Every mail-sending request counts, whatever its outcome (no mail bombs): refuse it
    (429) while any of `addresses` or the client's IP is blocked, else count it against
    each address and the IP. The same work whether or not an address has an account."""
    s = ctx.services.settings
    free, cap = s.LOGIN_FREE_ATTEMPTS * MAIL_FACTOR, s.LOGIN_MAX_BACKOFF_SECONDS
    account_keys = [throttle_keys(ctx, "mail", address)[0] for address in addresses]
    ip_key = throttle_keys(ctx, "mail", addresses[0])[1]
    await refuse_if_throttled(ctx, (*account_keys, ip_key))

    counted = [(key, free) for key in dict.fromkeys(account_keys)] + [(ip_key, 4 * free)]
    await ctx.services.db.run(auth_service.count_failures, counted, ctx.now, cap)


def invalid_credentials() -> ApiError:
    return ApiError(401, "invalid_credentials", "Wrong email or password.")


# --- sessions ---------------------------------------------------------------------------


def user_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "email_verified": row["email_verified_at"] is not None,
        "pending_email": row["pending_email"],
        "display_name": row["display_name"],
        # Tolerant: a value stored before the parser refused it must not lock anyone out.
        "settings": load_stored(row["settings"], {}),
        "created_at": row["created_at"],
        "restricted_at": row["restricted_at"],  # set while processing is restricted (§8)
    }


async def start_session(ctx: Ctx, user: Row, method: str) -> Response:
    """A fresh 256-bit token per sign-in; only its SHA-256 is stored. Any session the
    request already carried is ended (no session fixation)."""
    token = new_token()
    token_hash = sha256_hex(token)
    device = ctx.request.headers.get("user-agent", "")[:200]
    old = None if ctx.session is None else str(ctx.session["token_hash"])
    session = {
        "id": new_id(),
        "token_hash": token_hash,
        "user_id": user["id"],
        "method": method,
        "device": device,
        "created_at": ctx.now,
        "last_seen_at": ctx.now,
        "auth_at": ctx.now,
    }
    await ctx.services.db.run(auth_service.replace_session, old, session)
    settings = ctx.services.settings
    response = JSONResponse(
        {
            "user": user_json(user),
            "wrapped_user_key": user["wrapped_user_key"],
            "csrf_token": csrf_token(settings.SECRET_KEY, token_hash),
        }
    )
    response.set_cookie(
        settings.session_cookie,
        token,
        max_age=SESSION_COOKIE_MAX_AGE,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


def clear_cookie(ctx: Ctx, response: Response) -> Response:
    settings = ctx.services.settings
    response.delete_cookie(
        settings.session_cookie,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


def after_answer(fn: Callable[..., Awaitable[None]], *args: Any) -> BackgroundTask:
    """Work that runs once the answer is sent (what depends on whether an account exists:
    storing, mailing), so the answer and the work before it are the same either way. A
    failure is logged and goes no further: the client already has its answer, and an
    exception here would drop the connection its next request rides on."""

    async def run() -> None:
        try:
            await fn(*args)
        except Exception:
            log.exception("work after the answer failed (%s)", getattr(fn, "__name__", fn))

    return BackgroundTask(run)


def link_url(ctx: Ctx, page: str, token: str) -> str:
    # The token rides in the fragment: browsers never send it, so it stays out of server
    # and proxy access logs; the page's script reads it and POSTs it.
    return f"{ctx.services.settings.BASE_URL}/api/pages/{page}#token={token}"


async def issue_link(ctx: Ctx, user_id: str, purpose: str, email_addr: str) -> str:
    token, nonce_hash = ctx.services.links.issue(purpose)
    await ctx.services.db.run(
        auth_service.save_link, nonce_hash, user_id, purpose, email_addr, ctx.now
    )
    return token
