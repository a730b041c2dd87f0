"""Sign-in without the password ever reaching the server: register, verify, prelogin,
login, logout, sign-in links. See README (Accounts API) for the key derivation."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import JSONResponse, Response

from api.auth import service
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError
from api.http import (
    EMAIL,
    KDF_SCHEMA,
    TOKEN,
    WRAPPED_KEY,
    after_answer,
    check_kdf,
    clear_cookie,
    hash_work,
    invalid_credentials,
    issue_link,
    key_bytes,
    link_url,
    norm_email,
    record_failure,
    refuse_if_throttled,
    start_session,
    throttle_keys,
    throttle_mail,
)
from api.security import LinkError, fake_prelogin, kdf_answer, new_id
from api.strict_json import load_stored
from api.validation import key32, obj, string

group = EndpointGroup("auth")
log = logging.getLogger("api")

ACCEPTED = {"status": "check_your_email"}


@group.route(
    "POST",
    "/api/auth/register",
    "Create an account (then verify the email)",
    auth="public",
    body=obj(
        {
            "email": EMAIL,
            "auth_key": key32("HKDF(master, 'sorastats/auth')"),
            "kdf": KDF_SCHEMA,
            "wrapped_user_key": WRAPPED_KEY,
            "recovery_auth_key": key32("Auth key derived the same way from the recovery code"),
            "recovery_kdf": KDF_SCHEMA,
            "recovery_wrapped_user_key": WRAPPED_KEY,
            "user_id": string(
                32,
                32,
                pattern=r"^[0-9a-f]{32}$",
                description="Optional client-chosen id (128 random bits, hex), "
                "so the client can bind the wrapped key to it",
            ),
        },
        required=[
            "email",
            "auth_key",
            "kdf",
            "wrapped_user_key",
            "recovery_auth_key",
            "recovery_kdf",
            "recovery_wrapped_user_key",
        ],
    ),
    responses={
        202: "Verification mail sent (same answer if the email has an account)",
        400: "Invalid input",
        409: "user_id taken (by any account, whatever the email)",
        429: "Too many requests",
    },
    description="`recovery_kdf` is required and must be the client's own (fresh salt): "
    "the server never copies `kdf`, so prelogin answers do not tell accounts apart. "
    "Whether the email has an account only decides, after the answer, which mail is sent.",
)
async def register(ctx: Ctx) -> Any:
    b = ctx.body
    email_addr = norm_email(b["email"])
    check_kdf(ctx, b["kdf"])
    check_kdf(ctx, b["recovery_kdf"], "recovery_kdf")
    await throttle_mail(ctx, email_addr)
    hasher = ctx.services.hasher
    auth_hash = await hash_work(hasher.hash, key_bytes(b["auth_key"]))
    recovery_hash = await hash_work(hasher.hash, key_bytes(b["recovery_auth_key"]))
    user = {
        "id": b.get("user_id") or new_id(),
        "email": email_addr,
        "auth_hash": auth_hash,
        "kdf": json.dumps(b["kdf"]),
        "wrapped_user_key": b["wrapped_user_key"],
        "recovery_hash": recovery_hash,
        "recovery_kdf": json.dumps(b["recovery_kdf"]),
        "recovery_wrapped_user_key": b["recovery_wrapped_user_key"],
        "created_at": ctx.now,
        "updated_at": ctx.now,
        "password_changed_at": ctx.now,
    }
    # The id is checked on its own, never together with the email: a taken id is refused
    # whoever has it and whatever its email, so the answer tells nothing about the email.
    # (The browser wrapped its key under this id, so silently picking another would make
    # the account undecryptable; it retries with a fresh id instead.)
    if await ctx.services.db.run(service.user_id_taken, user["id"], write=False):
        raise ApiError(409, "user_id_taken", "That user_id is taken; pick another random id.")
    # Everything that depends on the email (does it have an account?) happens after the
    # answer, so status, body and the work before the answer are the same either way.
    return JSONResponse(ACCEPTED, 202, background=after_answer(_finish_registration, ctx, user))


async def _finish_registration(ctx: Ctx, user: dict[str, Any]) -> None:
    email_addr = user["email"]
    # A pending (unverified) registration is replaced by the newest one, whose link
    # supersedes the old: whoever reads the mailbox decides which keys get verified, so
    # nobody can pre-register someone else's address with keys of their own.
    outcome = await ctx.services.db.run(service.create_or_replace_pending_user, user)
    if outcome == "created":
        token = await issue_link(ctx, user["id"], "verify", email_addr)
        text = (
            f"Confirm your email address for SoraStats:\n\n{link_url(ctx, 'verify', token)}\n\n"
            "The link works once, for 15 minutes. If you did not sign up, ignore this mail."
        )
        await ctx.services.mailer.send(email_addr, "Confirm your email", text)
    elif outcome == "exists":
        text = (
            "Someone (maybe you) tried to create a SoraStats account with this address, "
            "which already has one. Sign in instead, or ask for a sign-in link."
        )
        await ctx.services.mailer.send(email_addr, "Your account", text)
    else:  # the id was taken since the check (only a deliberate race can do that)
        log.warning("registration dropped: its user_id was taken after the check")


@group.route(
    "POST",
    "/api/auth/verify",
    "Confirm an email address (verification or email change)",
    auth="public",
    body=obj({"token": TOKEN}),
    responses={200: "Confirmed", 400: "Link invalid, expired or used", 409: "Email taken"},
)
async def verify(ctx: Ctx) -> Any:
    purpose, nonce_hash = _read_link(ctx)
    if purpose not in {"verify", "email_change"}:
        raise ApiError(400, "link_invalid", "This link is not valid.")
    return await ctx.services.db.run(service.confirm_email, nonce_hash, purpose, ctx.now)


def _read_link(ctx: Ctx) -> tuple[str, str]:
    try:
        return ctx.services.links.read(ctx.body["token"])
    except LinkError as exc:
        raise ApiError(400, exc.code, exc.message) from None


@group.route(
    "GET",
    "/api/auth/prelogin",
    "KDF parameters for an email",
    auth="public",
    query={"email": EMAIL},
    description="For an email without an account the answer is made up, stable, and "
    "indistinguishable from a real one: its iterations, and whether its two salts are "
    "equal, are drawn per email from the real accounts' distribution.",
)
async def prelogin(ctx: Ctx) -> Any:
    email_addr = norm_email(ctx.query["email"])
    user = await ctx.services.db.run(service.user_by_email, email_addr, write=False)
    services = ctx.services
    s = services.settings
    profile = services.kdf_profile or [((s.KDF_ITERATIONS, s.KDF_ITERATIONS, False), 1)]
    answer = fake_prelogin(s.SECRET_KEY, email_addr, profile)
    if user is not None:
        answer = {
            "kdf": kdf_answer(load_stored(user["kdf"], {})),
            "recovery_kdf": kdf_answer(load_stored(user["recovery_kdf"], {})),
        }
    recount = None
    if ctx.now - services.kdf_profile_at > PROFILE_MAX_AGE:
        services.kdf_profile_at = ctx.now  # one recount at a time
        recount = after_answer(_recount_profile, ctx)
    return JSONResponse(answer, background=recount)


PROFILE_MAX_AGE = 24 * 3600


async def _recount_profile(ctx: Ctx) -> None:
    ctx.services.kdf_profile = await ctx.services.db.run(service.kdf_profile, write=False)


@group.route(
    "POST",
    "/api/auth/login",
    "Sign in with the derived auth key",
    auth="public",
    body=obj({"email": EMAIL, "auth_key": key32("HKDF(master, 'sorastats/auth')")}),
    responses={
        200: "Signed in: user, wrapped_user_key, csrf_token; sets the session cookie",
        401: "Wrong email or key",
        403: "Email not verified",
        429: "Backing off",
    },
)
async def login(ctx: Ctx) -> Any:
    email_addr = norm_email(ctx.body["email"])
    keys = throttle_keys(ctx, "login", email_addr)
    await refuse_if_throttled(ctx, keys)
    user = await ctx.services.db.run(service.user_by_email, email_addr, write=False)
    stored = None if user is None else str(user["auth_hash"])
    ok = await hash_work(ctx.services.hasher.verify, stored, key_bytes(ctx.body["auth_key"]))
    if not ok or user is None:
        await record_failure(ctx, keys)
        raise invalid_credentials()
    if user["email_verified_at"] is None:
        raise ApiError(403, "email_not_verified", "Confirm your email address first.")
    await ctx.services.db.run(service.clear_failures, keys[0])
    return await start_session(ctx, user, "password")


@group.route(
    "POST",
    "/api/auth/logout",
    "Sign out (ends this session)",
    responses={200: "Signed out", 401: "Not signed in"},
    while_restricted=True,
)
async def logout(ctx: Ctx) -> Any:
    await ctx.services.db.run(service.delete_session, ctx.user_id, str(ctx.user["session_id"]))
    return clear_cookie(ctx, JSONResponse({"status": "signed_out"}))


@group.route(
    "POST",
    "/api/auth/link",
    "Mail a sign-in link",
    auth="public",
    body=obj({"email": EMAIL}),
    responses={202: "Sent if the email has an account", 429: "Too many requests"},
    description="A sign-in link restores access to the account, never to encrypted prompts: "
    "those need the password (or the recovery code).",
)
async def request_link(ctx: Ctx) -> Any:
    email_addr = norm_email(ctx.body["email"])
    await throttle_mail(ctx, email_addr)
    # Looking the account up, issuing and mailing all happen after the answer: the same
    # answer and the same work before it whether or not the email has an account.
    return JSONResponse(ACCEPTED, 202, background=after_answer(_mail_link, ctx, email_addr))


async def _mail_link(ctx: Ctx, email_addr: str) -> None:
    user = await ctx.services.db.run(service.user_by_email, email_addr, write=False)
    if user is None:
        return
    token = await issue_link(ctx, user["id"], "signin", email_addr)
    text = (
        f"Sign in to SoraStats:\n\n{link_url(ctx, 'sign-in', token)}\n\nThe link works once, "
        "for 15 minutes. It opens your account; your private prompts still need your "
        "password. If you did not ask for it, ignore this mail."
    )
    await ctx.services.mailer.send(email_addr, "Sign-in link", text)


@group.route(
    "POST",
    "/api/auth/link/confirm",
    "Sign in with a mailed link",
    auth="public",
    body=obj({"token": TOKEN}),
    responses={200: "Signed in", 400: "Link invalid, expired or used"},
)
async def confirm_link(ctx: Ctx) -> Response:
    purpose, nonce_hash = _read_link(ctx)
    if purpose != "signin":
        raise ApiError(400, "link_invalid", "This link is not valid.")
    user = await ctx.services.db.run(service.take_signin_link, nonce_hash, ctx.now)
    return await start_session(ctx, user, "link")
