"""The account's own rules and transactions: the profile, deleting the account, and the
two things that span every domain: the export (privacy policy §8) and housekeeping.

The export is assembled from one section per domain. A domain that stores user data adds
its line to EXPORT_SECTIONS (a function of the transaction, the user id and the
`Services`, returning JSON-ready data), so the export stays complete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.account import store
from api.auth import service as auth_service
from api.billing import service as billing_service
from api.db import Conn, Row
from api.services import Services
from api.strict_json import load_stored
from api.vault import service as vault_service


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
]


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    """Every domain's purge in one transaction; rows removed, by kind."""
    removed: dict[str, int] = {}
    for purge in PURGES:
        removed.update(purge(conn, now))
    return removed
