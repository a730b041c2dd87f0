"""The watchlist: creators and videos a signed-in user follows (`/watchlist/`), with their
gains since the user last looked. Public ids only; every query is scoped to the user."""

from __future__ import annotations

from typing import Any

from api.endpoints import Ctx, EndpointGroup
from api.watchlist import service
from api.watchlist.rules import KINDS

group = EndpointGroup("watchlist")

ITEM_RESPONSES = {401: "Not signed in", 404: "No such creator or video (or malformed)"}


@group.route(
    "GET",
    "/api/watchlist",
    "Your watchlist with each item's counters and gains since you last looked",
    responses={200: "{items, stats, message, limit}", 401: "Not signed in"},
    description="Each item: `kind` (creator or video), `id`, `added_at`, `seen_at` and, "
    "while the site shows it, `label`, `url`, `now` (its counters), `gains` (since the "
    "newest capture at or before `seen_at`), `since` and `as_of`. An item the site no "
    "longer shows (deleted, hidden, banned) has `available: false` and no numbers. The "
    "counters come from the stats database (`STATS_DB_PATH`), read-only; while it is "
    'missing or busy the list answers with `stats: "unavailable"` and no numbers.',
)
async def list_watchlist(ctx: Ctx) -> Any:
    return await service.listing(ctx.services, ctx.user_id)


@group.route(
    "GET",
    "/api/watchlist/ids",
    "What you watch, without numbers (for the creator and video pages' buttons)",
    responses={200: "{items: [{kind, id}], limit: {used, allowed, tier}}", 401: "Not signed in"},
)
async def watchlist_ids(ctx: Ctx) -> Any:
    return await ctx.services.db.run(service.ids, ctx.user_id, ctx.services.stripe, write=False)


@group.route(
    "POST",
    "/api/watchlist/seen",
    "Mark the watchlist as looked at now: the next gains count from here",
    responses={200: "{status, seen_at, items}", 401: "Not signed in"},
)
async def mark_seen(ctx: Ctx) -> Any:
    n = await ctx.services.db.run(service.mark_seen, ctx.user_id, ctx.now)
    return {"status": "seen", "seen_at": ctx.now, "items": n}


@group.route(
    "PUT",
    "/api/watchlist/{kind}/{target_id}",
    f"Watch a creator or a video (`kind`: {' or '.join(KINDS)}; idempotent)",
    responses={
        200: "Already watched",
        201: "Added",
        402: "Tier limit (`tier_limit`, limit `watchlist`)",
        503: "The stats database is missing or being updated (`stats_unavailable`)",
        **ITEM_RESPONSES,
    },
    description="Only an item the site shows can be added: its id is looked up in the "
    "stats database, and hidden ones are not found.",
)
async def watch(ctx: Ctx) -> Any:
    kind, target_id = service.checked(ctx.params["kind"], ctx.params["target_id"])
    added = await service.watch(ctx.services, ctx.user_id, kind, target_id, ctx.now)
    body = {"status": "watching", "kind": kind, "id": target_id}
    return (201, body) if added else body


@group.route(
    "DELETE",
    "/api/watchlist/{kind}/{target_id}",
    "Stop watching a creator or a video",
    responses={200: "Removed", **ITEM_RESPONSES},
)
async def unwatch(ctx: Ctx) -> Any:
    kind, target_id = service.checked(ctx.params["kind"], ctx.params["target_id"])
    await ctx.services.db.run(service.unwatch, ctx.user_id, kind, target_id)
    return {"status": "removed", "kind": kind, "id": target_id}
