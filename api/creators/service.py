"""Creators' rights (docs/creators.md, privacy policy sections 7, 8 and 11): claiming a
creator's profile, publishing one's own prompts, hiding or erasing one's page, removal
requests from anyone, and the export the site build reads.

Who a creator is comes from the ingest database (read-only); what they decided is kept
here and reaches the site only through `build_export` at the next build."""

from __future__ import annotations

import re
import secrets
import string
from pathlib import Path
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from api.creators import store
from api.creators.store import Creator, IngestUnavailableError
from api.db import Conn, Row
from api.errors import ApiError, not_found
from api.security import new_id
from api.services import Services
from sorastats import retention

CLAIM_SECONDS: Final = 30 * 86400  # a pending claim expires after 30 days
MAX_PENDING_CLAIMS: Final = 5
CODE_PREFIX: Final = "sorastats-"
CODE_CHARS: Final = string.ascii_lowercase + string.digits
CODE_LENGTH: Final = 12
MAX_PROMPT_CHARS: Final = 5_000
EXPORT_FORMAT: Final = "sorastats-contributions"
EXPORT_VERSION: Final = 1
MAX_MATCHES: Final = 1_000

USERNAME_RE: Final = re.compile(r"^@?([A-Za-z0-9._-]{1,64})$")
POST_ID_RE: Final = re.compile(r"^s_[A-Za-z0-9_-]{1,80}$")
CREATOR_URL_RE: Final = re.compile(r"^(?:https?://[^/\s]+)?/c/([A-Za-z0-9._-]{1,64})/?$")
POST_URL_RE: Final = re.compile(r"^(?:https?://[^/\s]+)?/p/(s_[A-Za-z0-9_-]{1,80})/?$")


def _unavailable(exc: IngestUnavailableError) -> ApiError:
    return ApiError(503, "stats_unavailable", str(exc), {"Retry-After": "60"})


async def lookup_creator(
    services: Services, username: str, *, allow_renamed: bool = False
) -> Creator:
    """The creator now called `username`: 404 for an unknown name, 409 `creator_renamed`
    (naming the current one) for a name the creator no longer uses, unless
    `allow_renamed` (a removal request may name a page by its old address)."""
    path = Path(services.settings.STATS_DB_PATH)
    try:
        match = await run_in_threadpool(store.find_creator, path, username)
    except IngestUnavailableError as exc:
        raise _unavailable(exc) from None
    if match is None:
        raise ApiError(404, "unknown_creator", f"No creator is called @{username} on SoraStats.")
    if match.renamed and not allow_renamed:
        raise ApiError(
            409,
            "creator_renamed",
            f"@{username} is now called @{match.creator.username}: use the current name.",
        )
    return match.creator


async def lookup_post_creator(services: Services, post_id: str) -> str:
    path = Path(services.settings.STATS_DB_PATH)
    try:
        creator_id = await run_in_threadpool(store.post_creator, path, post_id)
    except IngestUnavailableError as exc:
        raise _unavailable(exc) from None
    if creator_id is None:
        raise ApiError(404, "unknown_post", "No such video on SoraStats.")
    return creator_id


# --- claims -------------------------------------------------------------------------------


def claim_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "username": row["username"],
        "creator_id": row["creator_id"],
        "code": row["code"],
        "status": row["status"],
        "reason": row["reason"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "decided_at": row["decided_at"],
    }


def new_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(CODE_CHARS) for _ in range(CODE_LENGTH))


def create_claim(conn: Conn, user_id: str, creator: Creator, evidence: str, now: int) -> Row:
    store.expire_claims(conn, now)
    owner = store.verified_claim(conn, creator.id)
    if owner is not None:
        mine = owner["user_id"] == user_id
        raise ApiError(
            409,
            "already_owned",
            "You own this profile already." if mine else "Another account owns this profile.",
        )
    if store.pending_claim(conn, user_id, creator.id) is not None:
        raise ApiError(409, "claim_pending", "You have a pending claim on this profile already.")
    if store.count_pending(conn, user_id) >= MAX_PENDING_CLAIMS:
        raise ApiError(
            429, "too_many_claims", f"At most {MAX_PENDING_CLAIMS} pending claims per account."
        )
    claim_id = new_id()
    store.insert_claim(
        conn,
        {
            "id": claim_id,
            "user_id": user_id,
            "creator_id": creator.id,
            "username": creator.username,
            "code": new_code(),
            "evidence": evidence,
            "created_at": now,
            "expires_at": now + CLAIM_SECONDS,
        },
    )
    row = store.claim(conn, claim_id)
    assert row is not None
    return row


def list_claims(conn: Conn, user_id: str, now: int) -> list[dict[str, Any]]:
    """The user's claims; a verified one says whether the page is shown, hidden or erased
    (as the next build will make it)."""
    store.expire_claims(conn, now)
    claims = []
    for row in store.claims_of(conn, user_id):
        item = claim_json(row)
        if row["status"] == "verified":
            found = store.hidden(conn, "creator", str(row["creator_id"]))
            page = "shown" if found is None else "erased" if found["erased"] else "hidden"
            item["page"] = page
        claims.append(item)
    return claims


def _verify(conn: Conn, row: Row, now: int, reason: str) -> bool:
    if store.verified_claim(conn, str(row["creator_id"])) is not None:
        store.decide_claim(conn, str(row["id"]), "rejected", "another account owns it", now)
        return False
    return store.decide_claim(conn, str(row["id"]), "verified", reason, now) == 1


def verify_matches(conn: Conn, matches: list[tuple[str, str]], now: int) -> int:
    """The build found these codes in these creators' bios: each pending, unexpired claim
    with that code for that creator is verified (codes are single use). How many were."""
    store.expire_claims(conn, now)
    verified = 0
    for creator_id, code in matches:
        row = store.pending_by_code(conn, code)
        if row is None or row["creator_id"] != creator_id:
            continue
        verified += _verify(conn, row, now, "code found in the profile's bio")
    return verified


def pending_for_review(conn: Conn, now: int) -> list[Row]:
    store.expire_claims(conn, now)
    return store.claims_with_status(conn, "pending")


def decide_claim(conn: Conn, claim_id: str, approve: bool, reason: str, now: int) -> Row:
    """The operator's decision (`python -m api claims approve|reject`)."""
    store.expire_claims(conn, now)
    row = store.claim(conn, claim_id)
    if row is None:
        raise not_found("No such claim.")
    if row["status"] != "pending":
        raise ApiError(409, "claim_decided", f"The claim is {row['status']} already.")
    if approve:
        # Another verified owner: the claim is rejected instead (the caller sees it).
        _verify(conn, row, now, reason or "approved by the operator")
    else:
        store.decide_claim(conn, claim_id, "rejected", reason, now)
    found = store.claim(conn, claim_id)
    assert found is not None
    return found


def require_owner(conn: Conn, user_id: str, creator_id: str) -> None:
    owner = store.verified_claim(conn, creator_id)
    if owner is None or owner["user_id"] != user_id:
        raise ApiError(
            403, "not_owner", "Only the verified owner of this profile may do this: claim it first."
        )


# --- published prompts -------------------------------------------------------------------


def check_prompt(text: str) -> str:
    if not text.strip():
        raise ApiError(400, "invalid_request", "body.prompt: is empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise ApiError(
            400, "invalid_request", f"body.prompt: longer than {MAX_PROMPT_CHARS} characters"
        )
    return text


def publish(conn: Conn, user_id: str, post_id: str, creator_id: str, prompt: str, now: int) -> bool:
    require_owner(conn, user_id, creator_id)
    found = store.hidden(conn, "creator", creator_id)
    if found is not None and found["erased"]:
        raise ApiError(409, "creator_erased", "This profile is erased.")
    return store.upsert_published(conn, user_id, post_id, creator_id, check_prompt(prompt), now)


def unpublish(conn: Conn, user_id: str, post_id: str) -> None:
    if not store.delete_published(conn, user_id, post_id):
        raise not_found("You have not published a prompt for this video.")


def list_published(conn: Conn, user_id: str) -> list[Row]:
    return store.published_of(conn, user_id)


# --- hiding and erasing --------------------------------------------------------------------


def set_visibility(conn: Conn, user_id: str, creator: Creator, hidden: bool, now: int) -> None:
    require_owner(conn, user_id, creator.id)
    found = store.hidden(conn, "creator", creator.id)
    if found is not None and found["erased"]:
        raise ApiError(409, "creator_erased", "This profile is erased; it cannot come back.")
    if hidden:
        store.hide(conn, "creator", creator.id, creator.username, "owner", now, erased=False)
    else:
        store.show(conn, "creator", creator.id)


def erase(conn: Conn, user_id: str, creator: Creator, now: int) -> None:
    """For good: the build purges the creator's rows and captures and never stores them
    again; their published prompts go now."""
    require_owner(conn, user_id, creator.id)
    store.hide(conn, "creator", creator.id, creator.username, "owner", now, erased=True)
    store.delete_published_of_creator(conn, creator.id)


# --- removal requests ---------------------------------------------------------------------


def parse_target(target: str) -> tuple[str, str]:
    """(kind, name): a creator's page (`/c/name/`, `@name`, `name`) or a video's
    (`/p/s_.../`, `s_...`)."""
    text = target.strip()
    if m := POST_URL_RE.match(text):
        return "post", m.group(1)
    if POST_ID_RE.match(text):
        return "post", text
    if m := CREATOR_URL_RE.match(text):
        return "creator", m.group(1)
    if m := USERNAME_RE.match(text):
        return "creator", m.group(1)
    raise ApiError(
        400,
        "invalid_target",
        "body.target: give a creator's page (/c/name/ or @name) or a video's (/p/s_.../)",
    )


def create_request(
    conn: Conn, kind: str, target_id: str, target: str, reason: str, email: str, now: int
) -> str:
    request_id = new_id()
    store.insert_request(
        conn,
        {
            "id": request_id,
            "kind": kind,
            "target_id": target_id,
            "target": target,
            "reason": reason,
            "email": email,
            "status": "pending",
            "created_at": now,
            "decided_at": None,
        },
    )
    return request_id


def request_received_text(request_id: str, support: str) -> str:
    write = f"\nTo add anything, write to {support}.\n" if support else ""
    return (
        "We received your request to remove or stop showing a page of SoraStats "
        f"(reference {request_id}).\nSomeone will look at it and write to you when it is "
        f"decided.\n{write}\nIf you did not send it, ignore this message.\n"
    )


def request_decided_text(row: Row, support: str) -> str:
    if row["status"] == "approved":
        outcome = (
            f"We approved it: {row['target']} will no longer be shown after the next "
            "update of the site (within a day)."
        )
    else:
        outcome = f"We decided not to remove {row['target']}."
    write = f"\nQuestions: {support}\n" if support else ""
    return f"About your request {row['id']}:\n\n{outcome}\n{write}"


def pending_requests(conn: Conn) -> list[Row]:
    return store.requests_with_status(conn, "pending")


def decide_request(conn: Conn, request_id: str, approve: bool, now: int) -> Row:
    row = store.request(conn, request_id)
    if row is None:
        raise not_found("No such request.")
    if row["status"] != "pending":
        raise ApiError(409, "request_decided", f"The request is {row['status']} already.")
    store.decide_request(conn, request_id, "approved" if approve else "rejected", now)
    if approve:
        kind, target_id = str(row["kind"]), str(row["target_id"])
        store.hide(conn, kind, target_id, str(row["target"]), "removal", now, erased=False)
    found = store.request(conn, request_id)
    assert found is not None
    return found


# --- the build's export -----------------------------------------------------------------


def build_export(conn: Conn, now: int, support_email: str = "") -> dict[str, Any]:
    """The document `build.py render|nightly --contributions` reads
    (sorastats/contributions.py parses it; docs/creators.md). `support_email` is the
    address the site's Contact link names, the one the API's mails give."""
    hidden = store.all_hidden(conn)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": now,
        "support_email": support_email or None,
        "published_prompts": [
            {"post_id": r["post_id"], "creator_id": r["creator_id"], "prompt": r["prompt"]}
            for r in store.all_published(conn)
        ],
        "hidden_creators": [
            {"creator_id": r["target_id"], "username": r["label"]}
            for r in hidden
            if r["kind"] == "creator" and not r["erased"]
        ],
        "hidden_posts": [{"post_id": r["target_id"]} for r in hidden if r["kind"] == "post"],
        "erased_creators": [
            {"creator_id": r["target_id"], "username": r["label"]}
            for r in hidden
            if r["kind"] == "creator" and r["erased"]
        ],
        "pending_claims": [
            {"creator_id": r["creator_id"], "username": r["username"], "code": r["code"]}
            for r in store.pending_claims(conn, now)
        ],
    }


# --- export and housekeeping ------------------------------------------------------------


def export_claims(conn: Conn, user_id: str, services: Services) -> Any:
    return [{**claim_json(r), "evidence": r["evidence"]} for r in store.claims_of(conn, user_id)]


def export_published(conn: Conn, user_id: str, services: Services) -> Any:
    return store.published_of(conn, user_id)


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    return {
        "unverified claims": store.purge_claims(conn, now - retention.seconds("unverified claims")),
        "removal requests": store.purge_requests(conn, now - retention.seconds("removal requests")),
    }
