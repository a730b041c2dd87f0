"""Creators' rights over HTTP (docs/creators.md): claims, published prompts, hiding and
erasing a creator's page, removal requests from anyone, and the build's hand-over."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.responses import JSONResponse

from api.creators import service
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError, not_found
from api.http import after_answer, norm_email, throttle_mail
from api.validation import Schema, email, obj, string

group = EndpointGroup("creators")

USERNAME = string(65, 1, pattern=r"^@?[A-Za-z0-9._-]{1,64}$", description="A creator's username")
POST_ID = string(82, 3, pattern=r"^s_[A-Za-z0-9_-]{1,80}$", description="A public Sora post id")
CODE = string(60, 1, pattern=r"^sorastats-[a-z0-9]{6,40}$", description="A claim code")
CREATOR_ID = string(100, 1, pattern=r"^[A-Za-z0-9_-]{1,100}$", description="A creator id")
MATCHES: Schema = {
    "type": "array",
    "items": obj({"creator_id": CREATOR_ID, "code": CODE}),
    "maxItems": service.MAX_MATCHES,
    "description": f"At most {service.MAX_MATCHES} (creator id, code) pairs",
}
AFTER_BUILD = "next build"


def _username(ctx: Ctx) -> str:
    name = ctx.params["username"].removeprefix("@")
    if not service.USERNAME_RE.match(name):
        raise not_found("No such creator.")
    return name


def _require_build_token(ctx: Ctx) -> None:
    """The build's bearer token (BUILD_TOKEN); unset, these endpoints do not exist."""
    expected = ctx.services.settings.BUILD_TOKEN
    if not expected:
        raise not_found("Not found.")
    given = ctx.request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise ApiError(401, "invalid_token", "Send the build token as `Authorization: Bearer`.")


# --- claims -------------------------------------------------------------------------------


@group.route(
    "POST",
    "/api/claims",
    "Claim a creator's profile",
    body=obj(
        {
            "username": USERNAME,
            "evidence": string(2000, 0, description="For a manual review: how to check it"),
        },
        required=["username"],
    ),
    responses={
        201: "{id, code, status: pending, username, creator_id, expires_at, ...}",
        401: "Not signed in",
        404: "No creator of that name (`unknown_creator`)",
        409: "A past name (`creator_renamed`), owned (`already_owned`) or yours pending "
        "(`claim_pending`)",
        429: f"{service.MAX_PENDING_CLAIMS} pending claims already (`too_many_claims`)",
        503: "The stats database is unavailable (`stats_unavailable`)",
    },
    description="Put the code anywhere in the profile's bio on Sora: the next import or "
    "fetch that captures the profile verifies the claim. Codes are single use and expire "
    "after 30 days. Without a new capture, an operator reviews `evidence` by hand.",
)
async def create_claim(ctx: Ctx) -> Any:
    creator = await service.lookup_creator(ctx.services, ctx.body["username"].removeprefix("@"))
    row = await ctx.services.db.run(
        service.create_claim, ctx.user_id, creator, ctx.body.get("evidence", ""), ctx.now
    )
    return 201, service.claim_json(row)


@group.route(
    "GET",
    "/api/claims",
    "Your claims and their status",
    responses={
        200: "{claims: [...]}; a verified claim's `page` is shown, hidden or erased",
        401: "Not signed in",
    },
)
async def list_claims(ctx: Ctx) -> Any:
    claims = await ctx.services.db.run(service.list_claims, ctx.user_id, ctx.now)
    return {"claims": claims}


# --- published prompts -------------------------------------------------------------------


@group.route(
    "POST",
    "/api/published-prompts",
    "Publish your prompt on your video's page",
    body=obj(
        {
            "post_id": POST_ID,
            "prompt": string(service.MAX_PROMPT_CHARS, 1, description="Plain text, shown escaped"),
        }
    ),
    responses={
        200: "Replaced the published text",
        201: "Published (shown from the next build)",
        401: "Not signed in",
        403: "Not the verified owner of the video's creator (`not_owner`)",
        404: "No such video (`unknown_post`)",
        409: "The creator is erased (`creator_erased`)",
        503: "The stats database is unavailable (`stats_unavailable`)",
    },
    description='The text becomes public: the post page shows it as "Prompt shared by '
    'the creator" and search indexes it, from the next build on.',
)
async def publish(ctx: Ctx) -> Any:
    post_id = ctx.body["post_id"]
    creator_id = await service.lookup_post_creator(ctx.services, post_id)
    new = await ctx.services.db.run(
        service.publish, ctx.user_id, post_id, creator_id, ctx.body["prompt"], ctx.now
    )
    answer = {"post_id": post_id, "status": "published", "takes_effect": AFTER_BUILD}
    return (201 if new else 200), answer


@group.route(
    "GET",
    "/api/published-prompts",
    "The prompts you published",
    responses={200: "{published: [{post_id, creator_id, prompt, ...}]}", 401: "Not signed in"},
)
async def list_published(ctx: Ctx) -> Any:
    return {"published": await ctx.services.db.run(service.list_published, ctx.user_id)}


@group.route(
    "DELETE",
    "/api/published-prompts/{post_id}",
    "Take back a published prompt",
    responses={200: "Removed (gone from the site at the next build)", 404: "Not yours"},
)
async def unpublish(ctx: Ctx) -> Any:
    post_id = ctx.params["post_id"]
    if not service.POST_ID_RE.match(post_id):
        raise not_found("You have not published a prompt for this video.")
    await ctx.services.db.run(service.unpublish, ctx.user_id, post_id)
    return {"post_id": post_id, "status": "unpublished", "takes_effect": AFTER_BUILD}


# --- hiding and erasing --------------------------------------------------------------------


@group.route(
    "PUT",
    "/api/creators/{username}/visibility",
    "Hide or show your creator page",
    body=obj({"hidden": {"type": "boolean"}}),
    responses={
        200: "{username, hidden, takes_effect}",
        403: "Not the verified owner (`not_owner`)",
        404: "No such creator",
        409: "Erased, or a past name (`creator_erased`, `creator_renamed`)",
    },
    description="Hidden: the next build leaves out the page, the posts, cards in other "
    "pages, leaderboard rows, search records, sitemap and feed entries.",
)
async def set_visibility(ctx: Ctx) -> Any:
    creator = await service.lookup_creator(ctx.services, _username(ctx))
    hidden = bool(ctx.body["hidden"])
    await ctx.services.db.run(service.set_visibility, ctx.user_id, creator, hidden, ctx.now)
    return {"username": creator.username, "hidden": hidden, "takes_effect": AFTER_BUILD}


@group.route(
    "DELETE",
    "/api/creators/{username}",
    "Erase your creator page for good",
    auth="recent",
    responses={
        202: "Erasure scheduled for the next build",
        403: "Not the verified owner (`not_owner`), or signed in too long ago",
        404: "No such creator",
    },
    description="The next build purges the creator's rows and archived captures and never "
    "stores them again; published prompts go now. It cannot be undone.",
)
async def erase(ctx: Ctx) -> Any:
    creator = await service.lookup_creator(ctx.services, _username(ctx))
    await ctx.services.db.run(service.erase, ctx.user_id, creator, ctx.now)
    return 202, {"username": creator.username, "status": "erasure_scheduled"}


# --- removal requests ---------------------------------------------------------------------


@group.route(
    "POST",
    "/api/removal-requests",
    "Ask for a creator page or a video to be removed",
    auth="public",
    body=obj(
        {
            "target": string(300, 1, description="/c/name/, @name, /p/s_.../ or s_..."),
            "reason": string(2000, 1, description="Why (removal or objection)"),
            "email": email(),
        }
    ),
    responses={
        202: "Received; a confirmation is mailed",
        400: "Not a page of the site (`invalid_target`)",
        404: "No such creator or video",
        429: "Too many requests (`too_many_attempts`)",
    },
    description="Anyone may ask. An operator decides (`python -m api removals`); an "
    "approved request hides the page at the next build and the sender is told by mail.",
)
async def removal_request(ctx: Ctx) -> Any:
    address = norm_email(ctx.body["email"])
    await throttle_mail(ctx, address)
    kind, name = service.parse_target(ctx.body["target"])
    if kind == "creator":
        target_id = (await service.lookup_creator(ctx.services, name, allow_renamed=True)).id
    else:
        await service.lookup_post_creator(ctx.services, name)
        target_id = name
    request_id = await ctx.services.db.run(
        service.create_request,
        kind,
        target_id,
        ctx.body["target"].strip(),
        ctx.body["reason"],
        address,
        ctx.now,
    )
    mail = after_answer(_confirm_request, ctx, address, request_id)
    return JSONResponse({"status": "received", "id": request_id}, 202, background=mail)


async def _confirm_request(ctx: Ctx, address: str, request_id: str) -> None:
    support = ctx.services.settings.SUPPORT_EMAIL
    await ctx.services.mailer.send(
        address,
        "SoraStats: we received your request",
        service.request_received_text(request_id, support),
    )


# --- the build's hand-over ----------------------------------------------------------------


@group.route(
    "GET",
    "/api/build/public-contributions",
    "The export the site build reads (bearer BUILD_TOKEN)",
    auth="public",
    responses={
        200: "{format, version, support_email, published_prompts, hidden_creators, "
        "hidden_posts, erased_creators, pending_claims}",
        401: "Wrong or missing token (`invalid_token`)",
        404: "BUILD_TOKEN is not set",
    },
    description="Read by `build.py render|nightly --contributions URL` (docs/creators.md).",
)
async def public_contributions(ctx: Ctx) -> Any:
    _require_build_token(ctx)
    support = ctx.services.settings.SUPPORT_EMAIL
    return await ctx.services.db.run(service.build_export, ctx.now, support, write=False)


@group.route(
    "POST",
    "/api/build/claim-matches",
    "Claim codes the build found in captured bios (bearer BUILD_TOKEN)",
    auth="public",
    body=obj({"matches": MATCHES}),
    responses={
        200: "{verified}: how many claims this verified",
        401: "Wrong or missing token (`invalid_token`)",
        404: "BUILD_TOKEN is not set",
    },
)
async def claim_matches(ctx: Ctx) -> Any:
    _require_build_token(ctx)
    pairs = [(m["creator_id"], m["code"]) for m in ctx.body["matches"]]
    verified = await ctx.services.db.run(service.verify_matches, pairs, ctx.now)
    return {"verified": verified}
