"""The account's own rules and transactions: the profile, deleting the account, and the
two things that span every domain: the export (privacy policy §8) and housekeeping.

The export is assembled from one section per domain. A domain that stores user data adds
its line to EXPORT_SECTIONS (a function of the transaction, the user id and the
`Services`, returning JSON-ready data), so the export stays complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.account import store
from api.auth import service as auth_service
from api.billing import service as billing_service
from api.creators import service as creators_service
from api.db import Conn, Row
from api.metrics import service as metrics_service
from api.services import Services
from api.strict_json import load_stored
from api.vault import service as vault_service
from api.watchlist import service as watchlist_service


def update_profile(
    conn: Conn,
    user_id: str,
    now: int,
    changes: dict[str, Any],
    pending_email: str | None,
) -> Row:
    """Change display name and settings (those in `changes`); a new email waits for its
    confirmation link as `pending_email`. The account as it is now."""
    store.update_profile(conn, user_id, now, changes.get("display_name"), changes.get("settings"))
    if pending_email is not None:
        auth_service.set_pending_email(conn, user_id, pending_email, now)
    user = auth_service.user_by_id(conn, user_id)
    assert user is not None
    return user


@dataclass(frozen=True)
class SiteSetting:
    name: str
    default: str | bool
    choices: tuple[str, ...]  # empty: a boolean
    meaning: str


# The site settings a signed-in user keeps in the account (`GET/PUT /api/me/settings`; in
# `users.settings`, so they are in the export and go with the account). Signed out, the
# browser keeps the same object in localStorage `sorastats.settings` (templates/static/
# site.js); the page script of the metrics reads `metrics_objection` from there.
SITE_SETTINGS: tuple[SiteSetting, ...] = (
    SiteSetting("theme", "system", ("system", "light", "dark"), "Colours of the site"),
    SiteSetting(
        "leaderboard_window",
        "7d",
        ("24h", "7d", "30d", "all"),
        "The window the video leaderboards open on",
    ),
    SiteSetting(
        "metrics_objection",
        False,
        (),
        "Object to the usage metrics: this browser sends none, and the server drops any "
        "event sent while signed in",
    ),
)


def site_settings(conn: Conn, user_id: str) -> dict[str, Any]:
    """The user's site settings, defaults filled in."""
    user = auth_service.user_by_id(conn, user_id)
    assert user is not None
    stored = load_stored(user["settings"], {})
    return {s.name: stored.get(s.name, s.default) for s in SITE_SETTINGS}


def put_site_settings(conn: Conn, user_id: str, now: int, values: dict[str, Any]) -> dict[str, Any]:
    """Replace the site settings (other keys of `users.settings` stay); the new ones."""
    user = auth_service.user_by_id(conn, user_id)
    assert user is not None
    stored = load_stored(user["settings"], {})
    stored.update({s.name: values[s.name] for s in SITE_SETTINGS})
    store.update_profile(conn, user_id, now, None, stored)
    return site_settings(conn, user_id)


def set_restriction(conn: Conn, user_id: str, now: int, restricted: bool) -> Row:
    """Freeze (restrict processing) or lift it; the account as it is now. Restricting an
    account already restricted keeps the first date."""
    user = auth_service.user_by_id(conn, user_id)
    assert user is not None
    if restricted and user["restricted_at"] is None:
        store.set_restricted(conn, user_id, now, now)
    elif not restricted and user["restricted_at"] is not None:
        store.set_restricted(conn, user_id, None, now)
    user = auth_service.user_by_id(conn, user_id)
    assert user is not None
    return user


def delete_account(conn: Conn, user_id: str, throttle_keys: list[str]) -> None:
    """Every user table cascades from users(id); `throttle_keys` (rows keyed on the
    email) go too."""
    store.delete_user(conn, user_id, throttle_keys)


# --- the export -------------------------------------------------------------------------

ExportSection = Callable[[Conn, str, Services], Any]


def export_profile(conn: Conn, user_id: str, services: Services) -> Any:
    user = auth_service.user_by_id(conn, user_id)
    assert user is not None
    user["settings"] = load_stored(user["settings"], {})
    user["kdf"] = load_stored(user["kdf"], {})
    user["recovery_kdf"] = load_stored(user["recovery_kdf"], {})
    return user


# Sections of GET /api/me/export, in this order: one line per domain's section.
EXPORT_SECTIONS: dict[str, ExportSection] = {
    "profile": export_profile,
    "sessions": auth_service.export_sessions,
    "email_links": auth_service.export_email_links,
    "subscription": billing_service.export_subscription,
    "prompts": vault_service.export_prompts,
    "tags": vault_service.export_tags,
    "favorites": vault_service.export_favorites,
    "creator_claims": creators_service.export_claims,
    "published_prompts": creators_service.export_published,
    "watchlist": watchlist_service.export_watchlist,
}


def export_account(conn: Conn, user_id: str, services: Services) -> dict[str, Any]:
    """Everything stored about the account, one transaction for all sections."""
    return {name: section(conn, user_id, services) for name, section in EXPORT_SECTIONS.items()}


# --- housekeeping -----------------------------------------------------------------------

# What each domain forgets once it expires: each returns the rows it removed, by the key of
# its row in the retention table (sorastats/retention.py). Run at API start (api/app.py)
# and by `python -m api maintenance` (api/maintenance.py, which checks every row is there).
PURGES: list[Callable[[Conn, int], dict[str, int]]] = [
    auth_service.purge_expired,
    vault_service.purge_expired,
    billing_service.purge_stripe_events,
    metrics_service.purge_expired,
    creators_service.purge_expired,
]


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    """Every domain's purge in one transaction; rows removed, by kind."""
    removed: dict[str, int] = {}
    for purge in PURGES:
        removed.update(purge(conn, now))
    return removed
