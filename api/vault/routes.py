"""The private prompts vault: prompts with append-only versions, tags, favorites.

Everything the user writes arrives as pv1 envelopes encrypted in the browser
(docs/encryption.md); the server checks their shape and size and stores them. Because the
associated data of every ciphertext contains the prompt or tag id, ids are handed out
first (`POST /api/vault/ids`), then used once by the create that carries the ciphertext.
Every query is scoped to the signed-in user: another user's id is always 404.
"""

from __future__ import annotations

from typing import Any

from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError
from api.security import new_id
from api.validation import Schema, integer, obj, optional, string
from api.vault import service
from api.vault.rules import (
    FIELD_LIMITS,
    ID_PATTERN,
    TAG_NAME_LIMIT,
    envelope_schema,
    parse_since,
)
from api.vault.service import MAX_BULK, MAX_OPEN_RESERVATIONS, RESERVATION_SECONDS, tag_json

group = EndpointGroup("vault")

POST_ID = string(64, 1, pattern=ID_PATTERN, description="A public Sora post id")
VAULT_ID = string(64, 1, pattern=ID_PATTERN, description="An id from POST /api/vault/ids")
FIELDS_SCHEMA = obj(
    {
        "title": envelope_schema("title", f"Title, at most {FIELD_LIMITS['title']} bytes"),
        "body": envelope_schema("body", f"Prompt text, at most {FIELD_LIMITS['body']} bytes"),
        "notes": envelope_schema("notes", f"Notes, at most {FIELD_LIMITS['notes']} bytes"),
    }
)
ID_LIST: Schema = {
    "type": "array",
    "items": VAULT_ID,
    "minItems": 1,
    "maxItems": MAX_BULK,
    "description": f"1 to {MAX_BULK} prompt ids",
}


# --- configuration and ids --------------------------------------------------------------


@group.route(
    "GET",
    "/api/vault/config",
    "Limits and key-derivation minimum for the vault pages",
    auth="public",
    responses={200: "{kdf_iterations, limits}"},
)
async def vault_config(ctx: Ctx) -> Any:
    s = ctx.services.settings
    return {
        "kdf_iterations": s.KDF_ITERATIONS,
        "limits": {
            "field_bytes": FIELD_LIMITS,
            "tag_name_bytes": TAG_NAME_LIMIT,
            "prompts": s.VAULT_MAX_PROMPTS,
            "versions": s.VAULT_MAX_VERSIONS,
            "tags": s.VAULT_MAX_TAGS,
            "bulk": MAX_BULK,
            "body_bytes": s.MAX_BODY_BYTES,
        },
    }


@group.route(
    "GET",
    "/api/vault/usage",
    "Your tier's vault limits and how many more prompts fit (for the import preview)",
    responses={
        200: "{tier, tier_title, prompts, limits, room, lifted_by}",
        401: "Not signed in",
    },
    description="The numbers the prompt creation checks use (the tier table of "
    "`sorastats/tiers.py` and `VAULT_MAX_PROMPTS`): `room` is how many more prompts fit "
    "now; `lifted_by` names the tier with more room, or null. A limit of null is none.",
)
async def vault_usage(ctx: Ctx) -> Any:
    tier = await service.current_tier(ctx.services, ctx.user_id)
    cap = ctx.services.settings.VAULT_MAX_PROMPTS
    return await ctx.services.db.run(service.usage, ctx.user_id, tier, cap, write=False)


@group.route(
    "GET",
    "/api/vault/keys",
    "Your wrapped user key and KDF parameters, to unlock the vault",
    responses={200: "{user_id, kdf, wrapped_user_key}", 401: "Not signed in"},
    description="For a signed-in browser that lost its keys (a reload): the password "
    "derives the kek in the browser, which unwraps the key. Nothing here decrypts alone.",
    while_restricted=True,  # unlocks the decrypted export (portability) of a frozen account
)
async def vault_keys(ctx: Ctx) -> Any:
    return await ctx.services.db.run(service.user_keys, ctx.user_id, write=False)


@group.route(
    "POST",
    "/api/vault/ids",
    "Reserve ids for new prompts or tags (before encrypting)",
    body=obj(
        {
            "kind": {"type": "string", "enum": ["prompt", "tag"]},
            "count": integer(1, MAX_BULK, "How many ids (default 1)"),
        },
        required=["kind"],
    ),
    responses={
        201: "{ids, expires_at}",
        401: "Not signed in",
        429: f"More than {MAX_OPEN_RESERVATIONS} unused ids",
    },
    description="The associated data of every ciphertext contains its prompt or tag id, so "
    "the browser asks for ids first, encrypts, then creates with one of them. An id is "
    "good for one create, for 24 hours.",
)
async def reserve_ids(ctx: Ctx) -> Any:
    count = int(ctx.body.get("count", 1))
    ids = [new_id() for _ in range(count)]
    await ctx.services.db.run(service.reserve_ids, ctx.user_id, ctx.body["kind"], ids, ctx.now)
    return 201, {"ids": ids, "expires_at": ctx.now + RESERVATION_SECONDS}


# --- prompts ----------------------------------------------------------------------------

# A new prompt, as `POST /api/prompts` takes it and each item of `POST /api/prompts/bulk`.
NEW_PROMPT = obj(
    {
        "id": VAULT_ID,
        "wrapped_item_key": envelope_schema("item_key", "The item key wrapped by the user key"),
        "fields": FIELDS_SCHEMA,
        "post_id": POST_ID,
        "favorite": {"type": "boolean"},
    },
    required=["id", "wrapped_item_key", "fields"],
)


@group.route(
    "POST",
    "/api/prompts",
    "Create a private prompt at version 1",
    body=NEW_PROMPT,
    responses={
        201: "The prompt",
        400: "Invalid input, or an id not reserved by you",
        402: "Tier limit",
        409: "Account limit reached",
        413: "A field is too large",
    },
)
async def create_prompt(ctx: Ctx) -> Any:
    b = ctx.body
    service.check_envelope(b["wrapped_item_key"], "item_key", "body.wrapped_item_key")
    fields = service.check_fields(b["fields"])
    tier = await service.current_tier(ctx.services, ctx.user_id)
    prompt = {
        "id": b["id"],
        "user_id": ctx.user_id,
        "wrapped_item_key": b["wrapped_item_key"],
        "post_id": b.get("post_id"),
        "favorite": bool(b.get("favorite", False)),
        "now": ctx.now,
    }
    created = await ctx.services.db.run(
        service.create_prompt,
        prompt,
        fields,
        tier,
        ctx.services.settings.VAULT_MAX_PROMPTS,
        ctx.services.stripe,
    )
    return 201, {"prompt": created}


MAX_IMPORT_TAGS = 20


@group.route(
    "POST",
    "/api/prompts/bulk",
    f"Create up to {MAX_BULK} private prompts at once (an import)",
    body=obj(
        {
            "prompts": {
                "type": "array",
                "items": NEW_PROMPT,
                "minItems": 1,
                "maxItems": MAX_BULK,
                "description": f"1 to {MAX_BULK} prompts, each as POST /api/prompts takes it",
            },
            "tag_ids": {
                "type": "array",
                "items": VAULT_ID,
                "maxItems": MAX_IMPORT_TAGS,
                "description": f"Up to {MAX_IMPORT_TAGS} of your tags to put on every prompt",
            },
        },
        required=["prompts"],
    ),
    responses={
        201: "{created, ids}",
        400: "Invalid input, or an id not reserved by you",
        402: "Tier limit (prompts, or tags per prompt)",
        404: "A tag not yours",
        409: "Account limit reached",
        413: "A field is too large",
    },
    description="All or nothing, with the checks, limits and tier rules of `POST "
    "/api/prompts` counted for the whole batch; the request body must also fit "
    "`MAX_BODY_BYTES`. Published Sora prompts carry their `post_id`.",
)
async def create_prompts(ctx: Ctx) -> Any:
    b = ctx.body  # the schema checked the lists, their lengths and every item
    tag_ids = b.get("tag_ids", [])
    prompts: list[tuple[dict[str, Any], dict[str, str]]] = []
    for index, item in enumerate(b["prompts"]):
        where = f"body.prompts[{index}]"
        service.check_envelope(item["wrapped_item_key"], "item_key", f"{where}.wrapped_item_key")
        fields = service.check_fields(item["fields"], f"{where}.fields")
        prompt = {
            "id": item["id"],
            "wrapped_item_key": item["wrapped_item_key"],
            "post_id": item.get("post_id"),
            "favorite": bool(item.get("favorite", False)),
        }
        prompts.append((prompt, fields))
    if len({p["id"] for p, _ in prompts}) != len(prompts):
        raise ApiError(400, "invalid_request", "body.prompts: the same id twice")
    tier = await service.current_tier(ctx.services, ctx.user_id)
    ids = await ctx.services.db.run(
        service.create_prompts,
        ctx.user_id,
        prompts,
        list(dict.fromkeys(tag_ids)),
        tier,
        ctx.services.settings.VAULT_MAX_PROMPTS,
        ctx.now,
    )
    return 201, {"created": len(ids), "ids": ids}


@group.route(
    "GET",
    "/api/prompts",
    "Your prompts with their latest version (or what changed since a time)",
    query={"since": optional(string(12, 1, pattern=r"^[0-9]{1,12}$"))},
    responses={200: "{prompts, tags, deleted, server_time}", 401: "Not signed in"},
    description="Without `since`: every prompt. With `since` (the `server_time` of an "
    "earlier answer): prompts changed at or after it and the ids deleted since. Tags are "
    "always listed in full.",
)
async def list_prompts(ctx: Ctx) -> Any:
    since = parse_since(ctx.query["since"]) if "since" in ctx.query else None
    return await ctx.services.db.run(service.list_prompts, ctx.user_id, since, ctx.now, write=False)


@group.route(
    "GET",
    "/api/prompts/{prompt_id}",
    "One prompt with its whole version history",
    responses={200: "The prompt", 401: "Not signed in", 404: "No such prompt of yours"},
)
async def get_prompt(ctx: Ctx) -> Any:
    prompt_id = service.checked_id(ctx.params["prompt_id"])
    found = await ctx.services.db.run(
        service.get_prompt, ctx.user_id, prompt_id, ctx.services.stripe, write=False
    )
    return {"prompt": found}


@group.route(
    "POST",
    "/api/prompts/{prompt_id}/versions",
    "Add a version (edit or restore); never rewrites one",
    body=obj(
        {
            "base_version": integer(1, 10**9, "The latest version this edit started from"),
            "fields": FIELDS_SCHEMA,
            "restored_from": integer(1, 10**9, "The older version this one restores"),
        },
        required=["base_version", "fields"],
    ),
    responses={
        201: "The prompt with the new version",
        404: "No such prompt of yours",
        409: "base_version is stale (another device saved first) or the version limit",
        413: "A field is too large",
    },
)
async def add_version(ctx: Ctx) -> Any:
    prompt_id = service.checked_id(ctx.params["prompt_id"])
    b = ctx.body
    edit = {**b, "fields": service.check_fields(b["fields"])}
    cap = ctx.services.settings.VAULT_MAX_VERSIONS
    added = await ctx.services.db.run(
        service.add_version, ctx.user_id, prompt_id, edit, cap, ctx.now, ctx.services.stripe
    )
    return 201, {"prompt": added}


@group.route(
    "PATCH",
    "/api/prompts/{prompt_id}",
    "Change a prompt's metadata: favorite flag, linked post id",
    body=obj(
        {"favorite": {"type": "boolean"}, "post_id": {**POST_ID, "type": ["string", "null"]}},
        required=[],
    ),
    responses={200: "The prompt", 404: "No such prompt of yours"},
)
async def update_prompt(ctx: Ctx) -> Any:
    prompt_id = service.checked_id(ctx.params["prompt_id"])
    b = ctx.body
    if not b:
        raise ApiError(400, "invalid_request", "body: nothing to change")
    updated = await ctx.services.db.run(
        service.update_prompt, ctx.user_id, prompt_id, b, ctx.now, ctx.services.stripe
    )
    return {"prompt": updated}


@group.route(
    "DELETE",
    "/api/prompts/{prompt_id}",
    "Delete a prompt with all its versions",
    responses={200: "Deleted", 404: "No such prompt of yours"},
)
async def delete_prompt(ctx: Ctx) -> Any:
    prompt_id = service.checked_id(ctx.params["prompt_id"])
    await ctx.services.db.run(service.delete_prompt, ctx.user_id, prompt_id, ctx.now)
    return {"status": "deleted", "id": prompt_id}


# --- tags -------------------------------------------------------------------------------

TAG_NAME = envelope_schema("tag", f"Tag name, at most {TAG_NAME_LIMIT} bytes")


@group.route(
    "POST",
    "/api/tags",
    "Create a tag (encrypted name)",
    body=obj({"id": VAULT_ID, "name": TAG_NAME}),
    responses={201: "The tag", 400: "Invalid input or id not reserved", 409: "Tag limit"},
)
async def create_tag(ctx: Ctx) -> Any:
    b = ctx.body
    service.check_envelope(b["name"], "tag", "body.name")
    cap = ctx.services.settings.VAULT_MAX_TAGS
    row = await ctx.services.db.run(
        service.create_tag, ctx.user_id, b["id"], b["name"], cap, ctx.now
    )
    return 201, {"tag": tag_json(row)}


@group.route("GET", "/api/tags", "Your tags", responses={200: "{tags}"})
async def list_tags(ctx: Ctx) -> Any:
    rows = await ctx.services.db.run(service.list_tags, ctx.user_id, write=False)
    return {"tags": [tag_json(r) for r in rows]}


@group.route(
    "PATCH",
    "/api/tags/{tag_id}",
    "Rename a tag",
    body=obj({"name": TAG_NAME}),
    responses={200: "The tag", 404: "No such tag of yours"},
)
async def rename_tag(ctx: Ctx) -> Any:
    tag_id = service.checked_id(ctx.params["tag_id"])
    name = ctx.body["name"]
    service.check_envelope(name, "tag", "body.name")
    row = await ctx.services.db.run(service.rename_tag, ctx.user_id, tag_id, name, ctx.now)
    return {"tag": tag_json(row)}


@group.route(
    "DELETE",
    "/api/tags/{tag_id}",
    "Delete a tag (prompts keep everything else)",
    responses={200: "Deleted", 404: "No such tag of yours"},
)
async def delete_tag(ctx: Ctx) -> Any:
    tag_id = service.checked_id(ctx.params["tag_id"])
    await ctx.services.db.run(service.delete_tag, ctx.user_id, tag_id, ctx.now)
    return {"status": "deleted", "id": tag_id}


async def _change_tagging(ctx: Ctx, assign: bool) -> Any:
    tag_id = service.checked_id(ctx.params["tag_id"])
    prompt_ids = service.id_list(ctx.body.get("prompt_ids"))
    tier = await service.current_tier(ctx.services, ctx.user_id)
    changed = await ctx.services.db.run(
        service.change_tagging, ctx.user_id, tag_id, prompt_ids, assign, tier, ctx.now
    )
    return {"status": "assigned" if assign else "unassigned", "changed": changed}


TAGGING_BODY = obj({"prompt_ids": ID_LIST})


@group.route(
    "POST",
    "/api/tags/{tag_id}/assign",
    "Put a tag on prompts (bulk)",
    body=TAGGING_BODY,
    responses={200: "{changed}", 402: "Tier limit (tags per prompt)", 404: "Not yours"},
)
async def assign_tag(ctx: Ctx) -> Any:
    return await _change_tagging(ctx, assign=True)


@group.route(
    "POST",
    "/api/tags/{tag_id}/unassign",
    "Take a tag off prompts (bulk)",
    body=TAGGING_BODY,
    responses={200: "{changed}", 404: "Not yours"},
)
async def unassign_tag(ctx: Ctx) -> Any:
    return await _change_tagging(ctx, assign=False)


# --- favorites of public prompts --------------------------------------------------------


@group.route(
    "PUT",
    "/api/favorites/{post_id}",
    "Favorite a public prompt",
    responses={200: "Favorited (idempotent)", 409: "Favorites limit"},
)
async def add_favorite(ctx: Ctx) -> Any:
    post_id = service.checked_id(ctx.params["post_id"])
    cap = ctx.services.settings.VAULT_MAX_PROMPTS
    await ctx.services.db.run(service.add_favorite, ctx.user_id, post_id, cap, ctx.now)
    return {"status": "favorited", "post_id": post_id}


@group.route(
    "DELETE",
    "/api/favorites/{post_id}",
    "Unfavorite a public prompt",
    responses={200: "Removed", 404: "Not a favorite of yours"},
)
async def remove_favorite(ctx: Ctx) -> Any:
    post_id = service.checked_id(ctx.params["post_id"])
    await ctx.services.db.run(service.remove_favorite, ctx.user_id, post_id)
    return {"status": "removed", "post_id": post_id}


@group.route(
    "GET",
    "/api/favorites",
    "Your favorite public prompts and favorite private prompt ids",
    responses={200: "{favorites, prompts}"},
)
async def list_favorites(ctx: Ctx) -> Any:
    return await ctx.services.db.run(service.list_favorites, ctx.user_id, write=False)
