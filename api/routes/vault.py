"""The private prompts vault: prompts with append-only versions, tags, favorites.

Everything the user writes arrives as pv1 envelopes encrypted in the browser
(docs/encryption.md); the server checks their shape and size and stores them. Because the
associated data of every ciphertext contains the prompt or tag id, ids are handed out
first (`POST /api/vault/ids`), then used once by the create that carries the ciphertext.
Every query is scoped to the signed-in user: another user's id is always 404.
"""

from __future__ import annotations

import re
from typing import Any

from api import billing, store
from api.billing_config import StripeSettings
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError, not_found
from api.security import new_id
from api.strict_json import load_stored
from api.validation import Schema, integer, obj, optional, string
from api.vault_rules import (
    FIELD_LIMITS,
    ID_PATTERN,
    MAX_ENVELOPE,
    TAG_NAME_LIMIT,
    envelope_problem,
    envelope_schema,
    parse_since,
)
from sorastats.tiers import Tier, check_limit

group = EndpointGroup("vault")

RESERVATION_SECONDS = 24 * 3600
MAX_OPEN_RESERVATIONS = 200
MAX_BULK = 200
ID_RE = re.compile(ID_PATTERN.strip("^$"))
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


# --- tiers: the one place billing plugs in ----------------------------------------------


async def current_tier(ctx: Ctx) -> Tier:
    """The signed-in user's tier: the entitlement of their subscription as stored from
    Stripe's webhooks (free when billing is off)."""
    return await ctx.services.db.run(
        billing.current_tier, ctx.user_id, ctx.services.stripe, write=False
    )


def enforce_tier_limit(tier: Tier, key: str, existing: int, adding: int = 1) -> None:
    """Every creation path that a tier limits calls this once, inside its transaction.
    The TierLimitError becomes the one 402 `tier_limit` answer of api/errors.py, with the
    same fields (limit, tier, allowed, lifted_by) as every other tier refusal."""
    check_limit(tier, key, existing, adding)


# --- helpers ----------------------------------------------------------------------------


def checked_id(value: str) -> str:
    """A path id: anything malformed cannot exist, so it is simply not found."""
    if not ID_RE.fullmatch(value):
        raise not_found("No such item.")
    return value


def check_envelope(value: str, kind: str, where: str) -> None:
    problem = envelope_problem(value, kind)
    if problem is not None:
        code = "too_large" if "too large" in problem else "invalid_request"
        raise ApiError(413 if code == "too_large" else 400, code, f"{where} {problem}")


def check_fields(fields: dict[str, str]) -> dict[str, str]:
    for name in ("title", "body", "notes"):
        check_envelope(fields[name], name, f"body.fields.{name}")
    return fields


def id_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BULK:
        raise ApiError(400, "invalid_request", f"body.prompt_ids: 1 to {MAX_BULK} ids")
    for item in value:
        if not isinstance(item, str) or not ID_RE.fullmatch(item):
            raise ApiError(400, "invalid_request", "body.prompt_ids: has a malformed id")
    return list(dict.fromkeys(value))


def version_json(row: store.Row) -> dict[str, Any]:
    return {
        "version": row["version"],
        "fields": {"title": row["title"], "body": row["body"], "notes": row["notes"]},
        "restored_from": row["restored_from"],
        "created_at": row["created_at"],
    }


def prompt_json(row: store.Row, tags: list[str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "wrapped_item_key": row["wrapped_item_key"],
        "post_id": row["post_id"],
        "favorite": bool(row["favorite"]),
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "tags": tags,
    }


def listed_prompt(row: store.Row, tags: list[str]) -> dict[str, Any]:
    latest = {**row, "created_at": row["version_created_at"]}
    return {**prompt_json(row, tags), "latest": version_json(latest)}


def full_prompt(
    conn: store.Conn, user_id: str, prompt_id: str, stripe: StripeSettings
) -> dict[str, Any] | None:
    row = store.prompt_row(conn, user_id, prompt_id)
    if row is None:
        return None
    tags = store.tag_ids_by_prompt(conn, user_id).get(prompt_id, [])
    versions = [version_json(v) for v in store.prompt_versions(conn, user_id, prompt_id)]
    # The tier's history window lists the newest versions; older ones are kept (and are in
    # the export) and listed again when the tier allows.
    shown = billing.visible_versions(conn, user_id, stripe, len(versions))
    return {
        **prompt_json(row, tags),
        "latest": versions[-1],
        "versions": versions[len(versions) - shown :],
        "hidden_versions": len(versions) - shown,
    }


def tag_json(row: store.Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "created_at", "updated_at") if k in row} | (
        {"prompts": row["prompts"]} if "prompts" in row else {}
    )


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
        },
    }


@group.route(
    "GET",
    "/api/vault/keys",
    "Your wrapped user key and KDF parameters, to unlock the vault",
    responses={200: "{user_id, kdf, wrapped_user_key}", 401: "Not signed in"},
    description="For a signed-in browser that lost its keys (a reload): the password "
    "derives the kek in the browser, which unwraps the key. Nothing here decrypts alone.",
)
async def vault_keys(ctx: Ctx) -> Any:
    user = await ctx.services.db.run(store.user_by_id, ctx.user_id, write=False)
    if user is None:
        raise not_found("No such user.")
    return {
        "user_id": user["id"],
        "kdf": load_stored(user["kdf"], {}),
        "wrapped_user_key": user["wrapped_user_key"],
    }


@group.route(
    "POST",
    "/api/vault/ids",
    "Reserve ids for new prompts or tags (before encrypting)",
    body=obj(
        {
            "kind": {"type": "string", "enum": ["prompt", "tag"]},
            "count": integer(1, 20, "How many ids (default 1)"),
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

    def write(conn: store.Conn) -> None:
        if store.open_reservations(conn, ctx.user_id, ctx.now) + count > MAX_OPEN_RESERVATIONS:
            raise ApiError(
                429,
                "too_many_reservations",
                f"More than {MAX_OPEN_RESERVATIONS} unused ids: use them or wait a day.",
            )
        store.reserve_ids(conn, ctx.user_id, ctx.body["kind"], ids, ctx.now, RESERVATION_SECONDS)

    await ctx.services.db.run(write)
    return 201, {"ids": ids, "expires_at": ctx.now + RESERVATION_SECONDS}


# --- prompts ----------------------------------------------------------------------------


@group.route(
    "POST",
    "/api/prompts",
    "Create a private prompt at version 1",
    body=obj(
        {
            "id": VAULT_ID,
            "wrapped_item_key": envelope_schema("item_key", "The item key wrapped by the user key"),
            "fields": FIELDS_SCHEMA,
            "post_id": POST_ID,
            "favorite": {"type": "boolean"},
        },
        required=["id", "wrapped_item_key", "fields"],
    ),
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
    check_envelope(b["wrapped_item_key"], "item_key", "body.wrapped_item_key")
    fields = check_fields(b["fields"])
    tier = await current_tier(ctx)
    cap = ctx.services.settings.VAULT_MAX_PROMPTS
    prompt = {
        "id": b["id"],
        "user_id": ctx.user_id,
        "wrapped_item_key": b["wrapped_item_key"],
        "post_id": b.get("post_id"),
        "favorite": bool(b.get("favorite", False)),
        "now": ctx.now,
    }

    def write(conn: store.Conn) -> dict[str, Any] | None:
        existing = store.count_prompts(conn, ctx.user_id)
        enforce_tier_limit(tier, "private_prompts", existing)
        if existing >= cap:
            raise ApiError(409, "limit_reached", f"An account holds at most {cap} prompts.")
        if not store.take_reservation(conn, ctx.user_id, "prompt", b["id"], ctx.now):
            raise ApiError(
                400, "id_not_reserved", "body.id: use an unused id from POST /api/vault/ids."
            )
        store.insert_prompt(conn, prompt, fields)
        return full_prompt(conn, ctx.user_id, b["id"], ctx.services.stripe)

    return 201, {"prompt": await ctx.services.db.run(write)}


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

    def read(conn: store.Conn) -> dict[str, Any]:
        tags_by_prompt = store.tag_ids_by_prompt(conn, ctx.user_id)
        rows = store.list_prompts(conn, ctx.user_id, since)
        return {
            "prompts": [listed_prompt(r, tags_by_prompt.get(str(r["id"]), [])) for r in rows],
            "tags": [tag_json(t) for t in store.list_tags(conn, ctx.user_id)],
            "deleted": [] if since is None else store.deleted_since(conn, ctx.user_id, since),
            "server_time": ctx.now,
            "full": since is None,
        }

    return await ctx.services.db.run(read, write=False)


@group.route(
    "GET",
    "/api/prompts/{prompt_id}",
    "One prompt with its whole version history",
    responses={200: "The prompt", 401: "Not signed in", 404: "No such prompt of yours"},
)
async def get_prompt(ctx: Ctx) -> Any:
    prompt_id = checked_id(ctx.params["prompt_id"])
    found = await ctx.services.db.run(
        full_prompt, ctx.user_id, prompt_id, ctx.services.stripe, write=False
    )
    if found is None:
        raise not_found("No such prompt.")
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
    prompt_id = checked_id(ctx.params["prompt_id"])
    b = ctx.body
    fields = check_fields(b["fields"])
    restored_from = b.get("restored_from")
    cap = ctx.services.settings.VAULT_MAX_VERSIONS

    def write(conn: store.Conn) -> dict[str, Any]:
        row = store.prompt_row(conn, ctx.user_id, prompt_id)
        if row is None:
            raise not_found("No such prompt.")
        latest = int(row["version"])
        if b["base_version"] != latest:
            raise ApiError(
                409,
                "stale_version",
                f"This prompt is at version {latest}, not {b['base_version']}: another "
                "device saved first. Reload it and apply your change again.",
            )
        if latest >= cap:
            raise ApiError(409, "limit_reached", f"A prompt keeps at most {cap} versions.")
        if restored_from is not None and not store.version_exists(
            conn, ctx.user_id, prompt_id, restored_from
        ):
            raise ApiError(400, "invalid_request", "body.restored_from: no such version")
        added = store.add_version(
            conn, ctx.user_id, prompt_id, latest, fields, restored_from, ctx.now
        )
        if added is None:  # lost a race inside the same instant
            raise ApiError(409, "stale_version", "Another device saved first; reload.")
        found = full_prompt(conn, ctx.user_id, prompt_id, ctx.services.stripe)
        assert found is not None
        return found

    return 201, {"prompt": await ctx.services.db.run(write)}


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
    prompt_id = checked_id(ctx.params["prompt_id"])
    b = ctx.body
    if not b:
        raise ApiError(400, "invalid_request", "body: nothing to change")

    def write(conn: store.Conn) -> dict[str, Any]:
        if store.prompt_row(conn, ctx.user_id, prompt_id) is None:
            raise not_found("No such prompt.")
        if "favorite" in b:
            store.set_prompt_favorite(conn, ctx.user_id, prompt_id, b["favorite"], ctx.now)
        if "post_id" in b:
            store.set_prompt_post(conn, ctx.user_id, prompt_id, b["post_id"], ctx.now)
        found = full_prompt(conn, ctx.user_id, prompt_id, ctx.services.stripe)
        assert found is not None
        return found

    return {"prompt": await ctx.services.db.run(write)}


@group.route(
    "DELETE",
    "/api/prompts/{prompt_id}",
    "Delete a prompt with all its versions",
    responses={200: "Deleted", 404: "No such prompt of yours"},
)
async def delete_prompt(ctx: Ctx) -> Any:
    prompt_id = checked_id(ctx.params["prompt_id"])
    if not await ctx.services.db.run(store.delete_prompt, ctx.user_id, prompt_id, ctx.now):
        raise not_found("No such prompt.")
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
    check_envelope(b["name"], "tag", "body.name")
    cap = ctx.services.settings.VAULT_MAX_TAGS

    def write(conn: store.Conn) -> store.Row:
        if store.count_tags(conn, ctx.user_id) >= cap:
            raise ApiError(409, "limit_reached", f"An account holds at most {cap} tags.")
        if not store.take_reservation(conn, ctx.user_id, "tag", b["id"], ctx.now):
            raise ApiError(
                400, "id_not_reserved", "body.id: use an unused id from POST /api/vault/ids."
            )
        store.insert_tag(conn, ctx.user_id, b["id"], b["name"], ctx.now)
        row = store.tag_row(conn, ctx.user_id, b["id"])
        assert row is not None
        return row

    return 201, {"tag": tag_json(await ctx.services.db.run(write))}


@group.route("GET", "/api/tags", "Your tags", responses={200: "{tags}"})
async def list_tags(ctx: Ctx) -> Any:
    rows = await ctx.services.db.run(store.list_tags, ctx.user_id, write=False)
    return {"tags": [tag_json(r) for r in rows]}


@group.route(
    "PATCH",
    "/api/tags/{tag_id}",
    "Rename a tag",
    body=obj({"name": TAG_NAME}),
    responses={200: "The tag", 404: "No such tag of yours"},
)
async def rename_tag(ctx: Ctx) -> Any:
    tag_id = checked_id(ctx.params["tag_id"])
    check_envelope(ctx.body["name"], "tag", "body.name")

    def write(conn: store.Conn) -> store.Row:
        if not store.rename_tag(conn, ctx.user_id, tag_id, ctx.body["name"], ctx.now):
            raise not_found("No such tag.")
        row = store.tag_row(conn, ctx.user_id, tag_id)
        assert row is not None
        return row

    return {"tag": tag_json(await ctx.services.db.run(write))}


@group.route(
    "DELETE",
    "/api/tags/{tag_id}",
    "Delete a tag (prompts keep everything else)",
    responses={200: "Deleted", 404: "No such tag of yours"},
)
async def delete_tag(ctx: Ctx) -> Any:
    tag_id = checked_id(ctx.params["tag_id"])
    if not await ctx.services.db.run(store.delete_tag, ctx.user_id, tag_id, ctx.now):
        raise not_found("No such tag.")
    return {"status": "deleted", "id": tag_id}


async def _change_tagging(ctx: Ctx, assign: bool) -> Any:
    tag_id = checked_id(ctx.params["tag_id"])
    prompt_ids = id_list(ctx.body.get("prompt_ids"))
    tier = await current_tier(ctx)

    def write(conn: store.Conn) -> int:
        if store.tag_row(conn, ctx.user_id, tag_id) is None:
            raise not_found("No such tag.")
        owned = store.owned_prompt_ids(conn, ctx.user_id, prompt_ids)
        if len(owned) != len(prompt_ids):
            raise not_found("No such prompt.")  # nothing changed
        changed = 0
        for prompt_id in prompt_ids:
            if not assign:
                changed += store.unassign_tag(conn, ctx.user_id, tag_id, prompt_id, ctx.now)
                continue
            if store.has_tag(conn, ctx.user_id, tag_id, prompt_id):
                continue
            existing = store.tags_on_prompt(conn, ctx.user_id, prompt_id)
            enforce_tier_limit(tier, "tags_per_prompt", existing)
            changed += store.assign_tag(conn, ctx.user_id, tag_id, prompt_id, ctx.now)
        return changed

    changed = await ctx.services.db.run(write)
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
    post_id = checked_id(ctx.params["post_id"])
    cap = ctx.services.settings.VAULT_MAX_PROMPTS

    def write(conn: store.Conn) -> None:
        if store.count_favorites(conn, ctx.user_id) >= cap:
            raise ApiError(409, "limit_reached", f"An account keeps at most {cap} favorites.")
        store.add_favorite(conn, ctx.user_id, post_id, ctx.now)

    await ctx.services.db.run(write)
    return {"status": "favorited", "post_id": post_id}


@group.route(
    "DELETE",
    "/api/favorites/{post_id}",
    "Unfavorite a public prompt",
    responses={200: "Removed", 404: "Not a favorite of yours"},
)
async def remove_favorite(ctx: Ctx) -> Any:
    post_id = checked_id(ctx.params["post_id"])
    if not await ctx.services.db.run(store.remove_favorite, ctx.user_id, post_id):
        raise not_found("Not among your favorites.")
    return {"status": "removed", "post_id": post_id}


@group.route(
    "GET",
    "/api/favorites",
    "Your favorite public prompts and favorite private prompt ids",
    responses={200: "{favorites, prompts}"},
)
async def list_favorites(ctx: Ctx) -> Any:
    def read(conn: store.Conn) -> dict[str, Any]:
        private = [
            str(r["id"]) for r in store.list_prompts(conn, ctx.user_id, None) if r["favorite"]
        ]
        return {"favorites": store.list_favorites(conn, ctx.user_id), "prompts": private}

    return await ctx.services.db.run(read, write=False)


__all__ = ["MAX_ENVELOPE", "group"]
