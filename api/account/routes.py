"""The signed-in account: profile, the rights of privacy policy §8 (access/export,
correction, deletion), sessions, password change and recovery."""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
from starlette.responses import JSONResponse, Response

from api.account import service
from api.auth import service as auth_service
from api.billing import service as billing_service
from api.db import Row
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError, not_found
from api.http import (
    EMAIL,
    after_answer,
    check_kdf,
    clear_cookie,
    hash_work,
    invalid_credentials,
    issue_link,
    key_bytes,
    link_url,
    new_password_fields,
    norm_email,
    record_failure,
    refuse_if_throttled,
    start_session,
    throttle_keys,
    throttle_mail,
    user_json,
)
from api.security import csrf_token, email_throttle_key
from api.validation import key32, obj, string

group = EndpointGroup("account")
SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

SETTINGS_SCHEMA = {
    "type": "object",
    "maxProperties": 50,
    "propertyNames": string(64, 1, pattern=r"^[A-Za-z0-9_.-]+$"),
    "additionalProperties": {
        "type": ["string", "integer", "number", "boolean", "null"],
        "maxLength": 1000,
        "minimum": -(2**53),
        "maximum": 2**53,
    },
    "description": "Free-form preferences: up to 50 scalar values.",
}


@group.route(
    "GET",
    "/api/me",
    "The signed-in user and the CSRF token",
    responses={200: "The user", 401: "Not signed in"},
    while_restricted=True,
)
async def me(ctx: Ctx) -> Any:
    session = ctx.user
    return {
        "user": user_json(session),
        "session": {
            "id": session["session_id"],
            "method": session["method"],
            "auth_at": session["auth_at"],
        },
        "csrf_token": csrf_token(ctx.services.settings.SECRET_KEY, str(session["token_hash"])),
    }


@group.route(
    "PATCH",
    "/api/me",
    "Change display name, settings or email",
    body=obj(
        {
            "display_name": string(100, description="Shown on your account"),
            "settings": SETTINGS_SCHEMA,
            "email": EMAIL,
        },
        required=[],
    ),
    responses={
        200: "Updated (a new email waits for its confirmation link; the same answer when "
        "the address already has an account, whose owner gets a notice instead)",
        400: "Invalid input",
        401: "Not signed in",
        429: "Too many email changes (throttled on the account and the address)",
    },
)
async def update_me(ctx: Ctx) -> Any:
    b = ctx.body
    if not b:
        raise ApiError(400, "invalid_request", "body: nothing to change")
    if "display_name" in b and any(ord(c) < 32 for c in b["display_name"]):
        raise ApiError(400, "invalid_request", "body.display_name: no control characters")
    new_email = norm_email(b["email"]) if "email" in b else None
    moving = new_email is not None and new_email != ctx.user["email"]
    if moving:
        assert new_email is not None
        # Mails go to an address the caller names: throttled on the account and on the
        # target, before anything is written, so a refused request changes nothing.
        await throttle_mail(ctx, str(ctx.user["email"]), new_email)
    user = await ctx.services.db.run(
        service.update_profile, ctx.user_id, ctx.now, b, new_email if moving else None
    )
    background = None
    if moving:
        assert new_email is not None
        background = after_answer(_mail_email_change, ctx, str(ctx.user["email"]), new_email)
    return JSONResponse({"user": user_json(user)}, background=background)


async def _mail_email_change(ctx: Ctx, old_email: str, new_email: str) -> None:
    """After the answer: whether the address is taken decides what is mailed, so the
    answer (status, body, work before it) is the same either way."""
    mailer = ctx.services.mailer
    if await ctx.services.db.run(auth_service.email_taken, new_email, write=False):
        # Only the owner of the address learns about it.
        await mailer.send(
            new_email,
            "Email change",
            "Someone tried to move a SoraStats account "
            "to this address, which already has an account. Nothing changed.",
        )
        return
    token = await issue_link(ctx, ctx.user_id, "email_change", new_email)
    await mailer.send(
        new_email,
        "Confirm your new email",
        f"Confirm this address for your SoraStats account:\n\n"
        f"{link_url(ctx, 'verify', token)}\n\nThe link works once, for 15 minutes.",
    )
    await mailer.send(
        old_email,
        "Email change requested",
        f"Your SoraStats account asked to move to {new_email}. If this was not "
        "you, sign in and change your password.",
    )


def _site_settings_schema() -> dict[str, Any]:
    fields = {
        s.name: (
            {"type": "string", "enum": list(s.choices), "description": s.meaning}
            if s.choices
            else {"type": "boolean", "description": s.meaning}
        )
        for s in service.SITE_SETTINGS
    }
    return obj(fields)


@group.route(
    "GET",
    "/api/me/settings",
    "Your site settings (theme, leaderboard window, objection to usage metrics)",
    responses={200: "The settings, defaults filled in", 401: "Not signed in"},
)
async def get_settings(ctx: Ctx) -> Any:
    values = await ctx.services.db.run(service.site_settings, ctx.user_id, write=False)
    return {"settings": values}


@group.route(
    "PUT",
    "/api/me/settings",
    "Replace your site settings",
    body=_site_settings_schema(),
    responses={200: "The settings as stored", 400: "Invalid input", 401: "Not signed in"},
)
async def put_settings(ctx: Ctx) -> Any:
    values = await ctx.services.db.run(service.put_site_settings, ctx.user_id, ctx.now, ctx.body)
    return {"settings": values}


@group.route(
    "DELETE",
    "/api/me",
    "Delete the account and everything stored about it",
    auth="recent",
    responses={
        200: "Deleted",
        401: "Not signed in",
        403: "Sign in again first",
        502: "Stripe could not delete the billing customer; nothing was deleted, try again",
    },
    while_restricted=True,
)
async def delete_me(ctx: Ctx) -> Any:
    db = ctx.services.db
    account_key = email_throttle_key(ctx.services.settings.SECRET_KEY, str(ctx.user["email"]))
    keys = [f"{scope}:{account_key}" for scope in ("login", "mail", "recover")]
    await billing_service.delete_customer(ctx.services, ctx.user_id)
    await db.run(service.delete_account, ctx.user_id, keys)
    await anyio.to_thread.run_sync(db.checkpoint)  # no copy left in the SQLite WAL
    return clear_cookie(ctx, JSONResponse({"status": "deleted"}))


@group.route(
    "GET",
    "/api/me/export",
    "Everything stored about the account, as JSON",
    responses={200: "The export", 401: "Not signed in"},
    while_restricted=True,
)
async def export_me(ctx: Ctx) -> Response:
    data = await ctx.services.db.run(service.export_account, ctx.user_id, ctx.services, write=False)
    data["exported_at"] = ctx.now
    return JSONResponse(
        data, headers={"Content-Disposition": 'attachment; filename="sorastats-account.json"'}
    )


@group.route(
    "POST",
    "/api/me/restriction",
    "Restrict processing: freeze the account",
    responses={200: "Restricted (or already)", 401: "Not signed in"},
    description="Privacy policy section 8. Everything stays stored; until the restriction "
    "is lifted, signed-in requests other than lifting it, deleting the account, reading "
    "or exporting it, unlocking the export and signing out answer 403 "
    "`account_restricted`. Sign-in still works.",
    while_restricted=True,
)
async def restrict_me(ctx: Ctx) -> Any:
    user = await ctx.services.db.run(service.set_restriction, ctx.user_id, ctx.now, True)
    return {"user": user_json(user)}


@group.route(
    "DELETE",
    "/api/me/restriction",
    "Lift the restriction",
    auth="recent",
    responses={
        200: "Lifted (or was not restricted)",
        401: "Not signed in",
        403: "Sign in again first",
    },
    while_restricted=True,
)
async def lift_restriction(ctx: Ctx) -> Any:
    user = await ctx.services.db.run(service.set_restriction, ctx.user_id, ctx.now, False)
    return {"user": user_json(user)}


@group.route(
    "GET",
    "/api/sessions",
    "Your sessions (device, created, last seen)",
    responses={200: "Sessions", 401: "Not signed in"},
)
async def list_sessions(ctx: Ctx) -> Any:
    rows = await ctx.services.db.run(auth_service.list_sessions, ctx.user_id, ctx.now, write=False)
    current = ctx.user["session_id"]
    return {"sessions": [{**row, "current": row["id"] == current} for row in rows]}


@group.route(
    "DELETE",
    "/api/sessions/{session_id}",
    "Revoke one of your sessions",
    responses={200: "Revoked", 401: "Not signed in", 404: "No such session of yours"},
)
async def revoke_session(ctx: Ctx) -> Any:
    session_id = ctx.params["session_id"]
    # A malformed id cannot exist (and PostgreSQL refuses NUL bytes in text): not found.
    if not SESSION_ID_RE.fullmatch(session_id) or not await ctx.services.db.run(
        auth_service.delete_session, ctx.user_id, session_id
    ):
        raise not_found("No such session.")
    response = JSONResponse({"status": "revoked"})
    return clear_cookie(ctx, response) if session_id == ctx.user["session_id"] else response


@group.route(
    "POST",
    "/api/auth/password",
    "Change the password (ends every other session)",
    auth="recent",
    body=obj(
        {"current_auth_key": key32("Auth key of the current password"), **new_password_fields()}
    ),
    responses={200: "Changed", 401: "Wrong current key", 403: "Sign in again first"},
)
async def change_password(ctx: Ctx) -> Any:
    check_kdf(ctx, ctx.body["kdf"])
    keys = throttle_keys(ctx, "login", str(ctx.user["email"]))
    await refuse_if_throttled(ctx, keys)
    hasher = ctx.services.hasher
    stored = await ctx.services.db.run(auth_service.auth_hash_of, ctx.user_id, write=False)
    if not await hash_work(hasher.verify, stored, key_bytes(ctx.body["current_auth_key"])):
        await record_failure(ctx, keys)
        raise invalid_credentials()
    new_hash = await hash_work(hasher.hash, key_bytes(ctx.body["auth_key"]))
    session_id = str(ctx.user["session_id"])
    revoked = await ctx.services.db.run(
        auth_service.set_password,
        ctx.user_id,
        new_hash,
        ctx.body["kdf"],
        ctx.body["wrapped_user_key"],
        ctx.now,
        session_id,
    )
    return {"status": "password_changed", "sessions_revoked": revoked}


RECOVERY_PROOF = {"email": EMAIL, "recovery_auth_key": key32("Auth key from the recovery code")}


async def _recovery_user(ctx: Ctx) -> Row:
    """The account, if the recovery proof holds; throttled like sign-in."""
    email_addr = norm_email(ctx.body["email"])
    keys = throttle_keys(ctx, "recover", email_addr)
    await refuse_if_throttled(ctx, keys)
    user = await ctx.services.db.run(auth_service.user_by_email, email_addr, write=False)
    stored = None if user is None else str(user["recovery_hash"])
    key = key_bytes(ctx.body["recovery_auth_key"])
    if not await hash_work(ctx.services.hasher.verify, stored, key) or not user:
        await record_failure(ctx, keys)
        raise invalid_credentials()
    return user


@group.route(
    "POST",
    "/api/auth/recover/keys",
    "Prove the recovery code; get the recovery-wrapped key",
    auth="public",
    body=obj(RECOVERY_PROOF),
    responses={
        200: "user_id and recovery_wrapped_user_key",
        401: "Wrong proof",
        429: "Backing off",
    },
)
async def recovery_keys(ctx: Ctx) -> Any:
    user = await _recovery_user(ctx)
    return {"user_id": user["id"], "recovery_wrapped_user_key": user["recovery_wrapped_user_key"]}


@group.route(
    "POST",
    "/api/auth/recover",
    "Set a new password with the recovery code (signs in)",
    auth="public",
    body=obj({**RECOVERY_PROOF, **new_password_fields()}),
    responses={
        200: "Password set, signed in; every other session ended",
        401: "Wrong proof",
        403: "Email not verified",
        429: "Backing off",
    },
)
async def recover(ctx: Ctx) -> Response:
    check_kdf(ctx, ctx.body["kdf"])
    user = await _recovery_user(ctx)
    if user["email_verified_at"] is None:
        raise ApiError(403, "email_not_verified", "Confirm your email address first.")
    new_hash = await hash_work(ctx.services.hasher.hash, key_bytes(ctx.body["auth_key"]))
    fresh = await ctx.services.db.run(
        auth_service.recover_password,
        user["id"],
        new_hash,
        ctx.body["kdf"],
        ctx.body["wrapped_user_key"],
        ctx.now,
    )
    return await start_session(ctx, fresh, "recovery")
