"""The watchlist's rules and transactions: what can be watched (an item the site shows),
the tier's limit (through billing's one check, `check_room`), and the list with each
item's gains since the user last looked.

Why the API counts the gains, not the page: the gains need each item's counters at the
moment the user last looked, which may be any day back; the site publishes only the last
30 days per page, and a file per video would be a million more files. The API already
reads the ingest database read-only through STATS_DB_PATH (api/stats/), so the watchlist
reads it the same way, for the few hundred ids of one account at most. When it is missing
or busy the list still answers, without numbers (`stats: "unavailable"`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.billing import service as billing_service
from api.billing.config import StripeSettings
from api.db import Conn, Row
from api.errors import ApiError, not_found
from api.services import Services
from api.watchlist import store
from api.watchlist.rules import KINDS, gains_since, well_formed
from api.watchlist.store import StatsUnavailableError, Target
from sorastats.site.urls import creator_slug
from sorastats.tiers import Tier

LIMIT_KEY = "watchlist"
TEXT_EXCERPT = 120  # characters of a video's caption in the list
# `hidden_targets` names videos 'post' (api/creators).
_HIDDEN_KIND = {"creator": "creator", "video": "post"}


def checked(kind: str, target_id: str) -> tuple[str, str]:
    """A path's kind and id: anything malformed cannot be watched, so it is not found."""
    if kind not in KINDS:
        raise not_found("Only creators and videos can be watched.")
    if not well_formed(kind, target_id):
        raise not_found(f"No such {kind}.")
    return kind, target_id


def _stats_path(services: Services) -> Path:
    return Path(services.settings.STATS_DB_PATH)


async def _read(services: Services, wanted: dict[str, list[str]]) -> dict[tuple[str, str], Target]:
    return await run_in_threadpool(store.read_targets, _stats_path(services), wanted)


def _visible(conn: Conn, targets: dict[tuple[str, str], Target]) -> set[tuple[str, str]]:
    """The keys of `targets` the site shows: neither the item nor its creator hidden."""
    by_kind: dict[str, list[str]] = {}
    for kind, tid in targets:
        by_kind.setdefault(kind, []).append(tid)
    hidden_creators = store.hidden_ids(
        conn, "creator", sorted({t.creator_id for t in targets.values()})
    )
    hidden_posts = store.hidden_ids(conn, "post", by_kind.get("video", []))
    return {
        key
        for key, t in targets.items()
        if t.creator_id not in hidden_creators
        and not (key[0] == "video" and key[1] in hidden_posts)
    }


# --- adding and removing ------------------------------------------------------------------


async def watch(services: Services, user_id: str, kind: str, target_id: str, now: int) -> bool:
    """Watch an item the site shows (404 otherwise; 503 while the stats database is
    unavailable). True if newly added; watching it again changes nothing."""
    try:
        targets = await _read(services, {kind: [target_id]})
    except StatsUnavailableError as exc:
        raise ApiError(503, "stats_unavailable", str(exc), {"Retry-After": "60"}) from None
    return await services.db.run(_add, user_id, kind, target_id, targets, services.stripe, now)


def _add(
    conn: Conn,
    user_id: str,
    kind: str,
    target_id: str,
    targets: dict[tuple[str, str], Target],
    stripe: StripeSettings,
    now: int,
) -> bool:
    if (kind, target_id) not in _visible(conn, targets):
        raise not_found(f"No such {kind}.")
    if store.has(conn, user_id, kind, target_id):
        return False
    billing_service.check_room(conn, user_id, stripe, LIMIT_KEY, store.count(conn, user_id))
    return store.add(conn, user_id, kind, target_id, now)


def unwatch(conn: Conn, user_id: str, kind: str, target_id: str) -> None:
    if not store.remove(conn, user_id, kind, target_id):
        raise not_found("Not on your watchlist.")


def mark_seen(conn: Conn, user_id: str, now: int) -> int:
    return store.mark_seen(conn, user_id, now)


# --- listing ------------------------------------------------------------------------------


def usage(tier: Tier, used: int) -> dict[str, Any]:
    return {"used": used, "allowed": tier.limit(LIMIT_KEY), "tier": tier.name}


def ids(conn: Conn, user_id: str, stripe: StripeSettings) -> dict[str, Any]:
    """What is watched, without numbers (for the pages' buttons)."""
    rows = store.items(conn, user_id)
    tier = billing_service.current_tier(conn, user_id, stripe)
    return {
        "items": [{"kind": r["kind"], "id": r["target_id"]} for r in rows],
        "limit": usage(tier, len(rows)),
    }


def item_json(row: Row, target: Target | None) -> dict[str, Any]:
    """One item of the list; `target` None when the site no longer shows it (gone,
    hidden, banned) or the stats are unavailable: then only what the account holds."""
    kind, tid = str(row["kind"]), str(row["target_id"])
    out: dict[str, Any] = {
        "kind": kind,
        "id": tid,
        "added_at": row["created_at"],
        "seen_at": row["seen_at"],
        "available": target is not None,
    }
    if target is None:
        return out
    seen = datetime.fromtimestamp(int(row["seen_at"]), UTC).replace(tzinfo=None)
    stats = gains_since(target.snapshots, seen)
    url = f"/c/{creator_slug(target.username, target.creator_id)}/"
    out.update(label=target.label, creator_url=url)
    if kind == "video":
        text = (target.text or "").strip()
        out.update(
            url=f"/p/{tid}/",
            text=text[:TEXT_EXCERPT] + ("…" if len(text) > TEXT_EXCERPT else ""),
        )
    else:
        out["url"] = url
    out.update(stats or {"now": None, "gains": None, "since": None, "as_of": None})
    return out


async def listing(services: Services, user_id: str) -> dict[str, Any]:
    rows, tier = await services.db.run(_rows_and_tier, user_id, services.stripe, write=False)
    wanted: dict[str, list[str]] = {}
    for r in rows:
        wanted.setdefault(str(r["kind"]), []).append(str(r["target_id"]))
    stats, message = "ok", None
    try:
        targets = await _read(services, wanted) if rows else {}
    except StatsUnavailableError as exc:
        targets, stats, message = {}, "unavailable", str(exc)
    shown = await services.db.run(_visible, targets, write=False)
    items = [
        item_json(r, targets.get(key) if key in shown else None)
        for r in rows
        for key in [(str(r["kind"]), str(r["target_id"]))]
    ]
    return {"items": items, "stats": stats, "message": message, "limit": usage(tier, len(rows))}


def _rows_and_tier(conn: Conn, user_id: str, stripe: StripeSettings) -> tuple[list[Row], Tier]:
    return store.items(conn, user_id), billing_service.current_tier(conn, user_id, stripe)


# --- export -------------------------------------------------------------------------------


def export_watchlist(conn: Conn, user_id: str, services: Services) -> Any:
    return [
        {
            "kind": r["kind"],
            "id": r["target_id"],
            "added_at": r["created_at"],
            "seen_at": r["seen_at"],
        }
        for r in store.items(conn, user_id)
    ]
