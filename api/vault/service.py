"""The vault's rules and transactions: ids handed out before encrypting, prompts with
append-only versions, tags, favorites, the tier limits, the export sections. Callable
without HTTP: every function takes an open transaction (`Conn`) or the `Services`.

The server never decrypts; it checks each envelope's shape and size (api/vault/rules.py)
and stores it. Every query is scoped to the user: another user's id is always 404.
"""

from __future__ import annotations

import re
from typing import Any

from api.auth import service as auth_service
from api.billing import service as billing_service
from api.billing.config import StripeSettings
from api.db import Conn, Row
from api.errors import ApiError, not_found
from api.services import Services
from api.strict_json import load_stored
from api.vault import store
from api.vault.rules import ID_PATTERN, envelope_problem
from sorastats import retention
from sorastats.tiers import Tier, check_limit, lifting_tier

RESERVATION_SECONDS = retention.seconds("vault reservations")
MAX_OPEN_RESERVATIONS = 200
MAX_BULK = 200
ID_RE = re.compile(ID_PATTERN.strip("^$"))


# --- tiers: the one place billing plugs in ----------------------------------------------


async def current_tier(services: Services, user_id: str) -> Tier:
    """The user's tier: the entitlement of their subscription as stored from Stripe's
    webhooks (free when billing is off)."""
    return await services.db.run(
        billing_service.current_tier, user_id, services.stripe, write=False
    )


def enforce_tier_limit(tier: Tier, key: str, existing: int, adding: int = 1) -> None:
    """Every creation path that a tier limits calls this once, inside its transaction.
    The TierLimitError becomes the one 402 `tier_limit` answer of api/errors.py, with the
    same fields (limit, tier, allowed, lifted_by) as every other tier refusal."""
    check_limit(tier, key, existing, adding)


# --- checks -----------------------------------------------------------------------------


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


def check_fields(fields: dict[str, str], where: str = "body.fields") -> dict[str, str]:
    for name in ("title", "body", "notes"):
        check_envelope(fields[name], name, f"{where}.{name}")
    return fields


def id_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BULK:
        raise ApiError(400, "invalid_request", f"body.prompt_ids: 1 to {MAX_BULK} ids")
    for item in value:
        if not isinstance(item, str) or not ID_RE.fullmatch(item):
            raise ApiError(400, "invalid_request", "body.prompt_ids: has a malformed id")
    return list(dict.fromkeys(value))


def _take_reservation(
    conn: Conn, user_id: str, kind: str, reserved_id: str, now: int, where: str = "body.id"
) -> None:
    if not store.take_reservation(conn, user_id, kind, reserved_id, now):
        raise ApiError(
            400, "id_not_reserved", f"{where}: use an unused id from POST /api/vault/ids."
        )


# --- JSON of stored rows ----------------------------------------------------------------


def version_json(row: Row) -> dict[str, Any]:
    return {
        "version": row["version"],
        "fields": {"title": row["title"], "body": row["body"], "notes": row["notes"]},
        "restored_from": row["restored_from"],
        "created_at": row["created_at"],
    }


def prompt_json(row: Row, tags: list[str]) -> dict[str, Any]:
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


def listed_prompt(row: Row, tags: list[str]) -> dict[str, Any]:
    latest = {**row, "created_at": row["version_created_at"]}
    return {**prompt_json(row, tags), "latest": version_json(latest)}


def tag_json(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "created_at", "updated_at") if k in row} | (
        {"prompts": row["prompts"]} if "prompts" in row else {}
    )


def full_prompt(
    conn: Conn, user_id: str, prompt_id: str, stripe: StripeSettings
) -> dict[str, Any] | None:
    row = store.prompt_row(conn, user_id, prompt_id)
    if row is None:
        return None
    tags = store.tag_ids_by_prompt(conn, user_id).get(prompt_id, [])
    versions = [version_json(v) for v in store.prompt_versions(conn, user_id, prompt_id)]
    # The tier's history window lists the newest versions; older ones are kept (and are in
    # the export) and listed again when the tier allows.
    shown = billing_service.visible_versions(conn, user_id, stripe, len(versions))
    return {
        **prompt_json(row, tags),
        "latest": versions[-1],
        "versions": versions[len(versions) - shown :],
        "hidden_versions": len(versions) - shown,
    }


def _existing_prompt(
    conn: Conn, user_id: str, prompt_id: str, stripe: StripeSettings
) -> dict[str, Any]:
    found = full_prompt(conn, user_id, prompt_id, stripe)
    assert found is not None
    return found


# --- keys and ids -----------------------------------------------------------------------


def user_keys(conn: Conn, user_id: str) -> dict[str, Any]:
    """The wrapped user key and KDF parameters that unlock the vault in the browser."""
    user = auth_service.user_by_id(conn, user_id)
    if user is None:
        raise not_found("No such user.")
    return {
        "user_id": user["id"],
        "kdf": load_stored(user["kdf"], {}),
        "wrapped_user_key": user["wrapped_user_key"],
    }


def reserve_ids(conn: Conn, user_id: str, kind: str, ids: list[str], now: int) -> None:
    if store.open_reservations(conn, user_id, now) + len(ids) > MAX_OPEN_RESERVATIONS:
        raise ApiError(
            429,
            "too_many_reservations",
            f"More than {MAX_OPEN_RESERVATIONS} unused ids: use them or wait a day.",
        )
    store.reserve_ids(conn, user_id, kind, ids, now, RESERVATION_SECONDS)


# --- prompts ----------------------------------------------------------------------------


def create_prompt(
    conn: Conn,
    prompt: dict[str, Any],
    fields: dict[str, str],
    tier: Tier,
    cap: int,
    stripe: StripeSettings,
) -> dict[str, Any]:
    """`prompt`: id, user_id, wrapped_item_key, post_id, favorite, now."""
    user_id, now = prompt["user_id"], prompt["now"]
    existing = store.count_prompts(conn, user_id)
    enforce_tier_limit(tier, "private_prompts", existing)
    if existing >= cap:
        raise ApiError(409, "limit_reached", f"An account holds at most {cap} prompts.")
    _take_reservation(conn, user_id, "prompt", prompt["id"], now)
    store.insert_prompt(conn, prompt, fields)
    return _existing_prompt(conn, user_id, prompt["id"], stripe)


def usage(conn: Conn, user_id: str, tier: Tier, cap: int) -> dict[str, Any]:
    """The body of GET /api/vault/usage: the numbers `create_prompts` checks, from the same
    tier table, so a page can say before an import how much of it fits. `room`: how many
    more prompts fit now (the tier's count and the account cap); a limit of None is none."""
    prompts = store.count_prompts(conn, user_id)
    allowed = tier.limit("private_prompts")
    ceiling = cap if allowed is None else min(allowed, cap)
    upgrade = None if allowed is None else lifting_tier(tier, "private_prompts", allowed + 1)
    return {
        "tier": tier.name,
        "tier_title": tier.title,
        "prompts": prompts,
        "limits": {
            "private_prompts": allowed,
            "tags_per_prompt": tier.limit("tags_per_prompt"),
            "account_prompts": cap,
        },
        "room": max(0, ceiling - prompts),
        "lifted_by": None if upgrade is None else {"tier": upgrade.name, "title": upgrade.title},
    }


def create_prompts(
    conn: Conn,
    user_id: str,
    prompts: list[tuple[dict[str, Any], dict[str, str]]],
    tag_ids: list[str],
    tier: Tier,
    cap: int,
    now: int,
) -> list[str]:
    """Bulk create (an import): every (prompt, fields) at version 1 with the tags `tag_ids`,
    all of them or, on any refusal, none. The same rules as create_prompt, counted for the
    whole batch: the tier's prompt count (402), the account cap (409), one reserved id
    each (400), and the tier's tags per prompt (402); a tag not yours is 404."""
    existing = store.count_prompts(conn, user_id)
    enforce_tier_limit(tier, "private_prompts", existing, len(prompts))
    if existing + len(prompts) > cap:
        raise ApiError(
            409,
            "limit_reached",
            f"An account holds at most {cap} prompts; this one holds {existing}, "
            f"so {max(0, cap - existing)} more fit.",
        )
    for tag_id in tag_ids:
        if store.tag_row(conn, user_id, tag_id) is None:
            raise not_found("No such tag.")
    if tag_ids:
        enforce_tier_limit(tier, "tags_per_prompt", 0, len(tag_ids))
    for index, (prompt, fields) in enumerate(prompts):
        where = f"body.prompts[{index}].id"
        _take_reservation(conn, user_id, "prompt", prompt["id"], now, where)
        store.insert_prompt(conn, {**prompt, "user_id": user_id, "now": now}, fields)
        for tag_id in tag_ids:
            store.assign_tag(conn, user_id, tag_id, prompt["id"], now)
    return [prompt["id"] for prompt, _ in prompts]


def list_prompts(conn: Conn, user_id: str, since: int | None, now: int) -> dict[str, Any]:
    tags_by_prompt = store.tag_ids_by_prompt(conn, user_id)
    rows = store.list_prompts(conn, user_id, since)
    return {
        "prompts": [listed_prompt(r, tags_by_prompt.get(str(r["id"]), [])) for r in rows],
        "tags": [tag_json(t) for t in store.list_tags(conn, user_id)],
        "deleted": [] if since is None else store.deleted_since(conn, user_id, since),
        "server_time": now,
        "full": since is None,
    }


def get_prompt(conn: Conn, user_id: str, prompt_id: str, stripe: StripeSettings) -> dict[str, Any]:
    found = full_prompt(conn, user_id, prompt_id, stripe)
    if found is None:
        raise not_found("No such prompt.")
    return found


def add_version(
    conn: Conn,
    user_id: str,
    prompt_id: str,
    edit: dict[str, Any],
    cap: int,
    now: int,
    stripe: StripeSettings,
) -> dict[str, Any]:
    """`edit`: base_version, fields (checked), restored_from (or absent)."""
    restored_from = edit.get("restored_from")
    row = store.prompt_row(conn, user_id, prompt_id)
    if row is None:
        raise not_found("No such prompt.")
    latest = int(row["version"])
    if edit["base_version"] != latest:
        raise ApiError(
            409,
            "stale_version",
            f"This prompt is at version {latest}, not {edit['base_version']}: another "
            "device saved first. Reload it and apply your change again.",
        )
    if latest >= cap:
        raise ApiError(409, "limit_reached", f"A prompt keeps at most {cap} versions.")
    if restored_from is not None and not store.version_exists(
        conn, user_id, prompt_id, restored_from
    ):
        raise ApiError(400, "invalid_request", "body.restored_from: no such version")
    added = store.add_version(conn, user_id, prompt_id, latest, edit["fields"], restored_from, now)
    if added is None:  # lost a race inside the same instant
        raise ApiError(409, "stale_version", "Another device saved first; reload.")
    return _existing_prompt(conn, user_id, prompt_id, stripe)


def update_prompt(
    conn: Conn,
    user_id: str,
    prompt_id: str,
    changes: dict[str, Any],
    now: int,
    stripe: StripeSettings,
) -> dict[str, Any]:
    """`changes`: favorite and/or post_id."""
    if store.prompt_row(conn, user_id, prompt_id) is None:
        raise not_found("No such prompt.")
    if "favorite" in changes:
        store.set_prompt_favorite(conn, user_id, prompt_id, changes["favorite"], now)
    if "post_id" in changes:
        store.set_prompt_post(conn, user_id, prompt_id, changes["post_id"], now)
    return _existing_prompt(conn, user_id, prompt_id, stripe)


def delete_prompt(conn: Conn, user_id: str, prompt_id: str, now: int) -> None:
    if not store.delete_prompt(conn, user_id, prompt_id, now):
        raise not_found("No such prompt.")


# --- tags -------------------------------------------------------------------------------


def create_tag(conn: Conn, user_id: str, tag_id: str, name: str, cap: int, now: int) -> Row:
    if store.count_tags(conn, user_id) >= cap:
        raise ApiError(409, "limit_reached", f"An account holds at most {cap} tags.")
    _take_reservation(conn, user_id, "tag", tag_id, now)
    store.insert_tag(conn, user_id, tag_id, name, now)
    row = store.tag_row(conn, user_id, tag_id)
    assert row is not None
    return row


def list_tags(conn: Conn, user_id: str) -> list[Row]:
    return store.list_tags(conn, user_id)


def rename_tag(conn: Conn, user_id: str, tag_id: str, name: str, now: int) -> Row:
    if not store.rename_tag(conn, user_id, tag_id, name, now):
        raise not_found("No such tag.")
    row = store.tag_row(conn, user_id, tag_id)
    assert row is not None
    return row


def delete_tag(conn: Conn, user_id: str, tag_id: str, now: int) -> None:
    if not store.delete_tag(conn, user_id, tag_id, now):
        raise not_found("No such tag.")


def change_tagging(
    conn: Conn,
    user_id: str,
    tag_id: str,
    prompt_ids: list[str],
    assign: bool,
    tier: Tier,
    now: int,
) -> int:
    """Put the tag on (or take it off) every prompt; all of them or, on a 404, none.
    Returns how many changed."""
    if store.tag_row(conn, user_id, tag_id) is None:
        raise not_found("No such tag.")
    owned = store.owned_prompt_ids(conn, user_id, prompt_ids)
    if len(owned) != len(prompt_ids):
        raise not_found("No such prompt.")  # nothing changed
    changed = 0
    for prompt_id in prompt_ids:
        if not assign:
            changed += store.unassign_tag(conn, user_id, tag_id, prompt_id, now)
            continue
        if store.has_tag(conn, user_id, tag_id, prompt_id):
            continue
        existing = store.tags_on_prompt(conn, user_id, prompt_id)
        enforce_tier_limit(tier, "tags_per_prompt", existing)
        changed += store.assign_tag(conn, user_id, tag_id, prompt_id, now)
    return changed


# --- favorites of public prompts --------------------------------------------------------


def add_favorite(conn: Conn, user_id: str, post_id: str, cap: int, now: int) -> None:
    if store.count_favorites(conn, user_id) >= cap:
        raise ApiError(409, "limit_reached", f"An account keeps at most {cap} favorites.")
    store.add_favorite(conn, user_id, post_id, now)


def remove_favorite(conn: Conn, user_id: str, post_id: str) -> None:
    if not store.remove_favorite(conn, user_id, post_id):
        raise not_found("Not among your favorites.")


def list_favorites(conn: Conn, user_id: str) -> dict[str, Any]:
    private = [str(r["id"]) for r in store.list_prompts(conn, user_id, None) if r["favorite"]]
    return {"favorites": store.list_favorites(conn, user_id), "prompts": private}


# --- export and housekeeping ------------------------------------------------------------


def export_prompts(conn: Conn, user_id: str, services: Services) -> Any:
    """Every private prompt as ciphertext with its metadata, all versions and tag ids."""
    return store.export_prompts(conn, user_id)


def export_tags(conn: Conn, user_id: str, services: Services) -> Any:
    return store.export_tags(conn, user_id)


def export_favorites(conn: Conn, user_id: str, services: Services) -> Any:
    return store.list_favorites(conn, user_id)


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    return store.purge_vault(conn, now)
