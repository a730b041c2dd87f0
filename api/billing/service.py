"""Billing wired to the accounts database: who is on which tier, the limit checks other
domains call, the webhook's transaction, the Stripe calls of the routes and the export
section. Pure rules live in sorastats/tiers.py and api/billing/state.py; Stripe calls in
api/billing/stripe_gateway.py; SQL in api/billing/store.py.

Limit checks for other domains (the vault), inside the transaction that adds the item,
so two concurrent creations cannot both slip under the limit:

    def create(conn):
        existing = count_prompts(conn, user_id)
        billing_service.check_room(conn, user_id, stripe, "private_prompts", existing)
        ...insert...

`TierLimitError` becomes `402 tier_limit` (api/errors.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from api.billing import store
from api.billing.config import StripeSettings, UnknownPlanError
from api.billing.state import (
    EventFacts,
    SubscriptionState,
    billing_summary,
    resolve_owner,
    should_replace,
)
from api.billing.stripe_gateway import BillingDisabledError, GatewayError, StripeGateway
from api.db import Conn, Row
from api.errors import ApiError
from api.services import Services
from sorastats.tiers import (
    FREE,
    Entitlement,
    Tier,
    check_feature,
    check_limit,
    entitlement_for_status,
    visible_count,
)

log = logging.getLogger("api.billing")
T = TypeVar("T")

UNKNOWN_PRICE_WARNING = (
    "Your subscription is for a price SoraStats does not sell; it grants nothing. Contact support."
)


def state_from_row(row: Row | None) -> SubscriptionState | None:
    if row is None:
        return None
    return SubscriptionState(
        id=str(row["subscription_id"]),
        customer_id=str(row["customer_id"]),
        status=str(row["status"]),
        price_id=row["price_id"],
        current_period_end=row["current_period_end"],
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        cancel_at=row["cancel_at"],
        created=int(row["created"]),
        as_of=float(row["as_of"]),
    )


def row_from_state(state: SubscriptionState) -> dict[str, Any]:
    return {
        "subscription_id": state.id,
        "customer_id": state.customer_id,
        "status": state.status,
        "price_id": state.price_id,
        "current_period_end": state.current_period_end,
        "cancel_at_period_end": state.cancel_at_period_end,
        "cancel_at": state.cancel_at,
        "created": state.created,
        "as_of": state.as_of,
    }


def entitlement_of_state(state: SubscriptionState | None, stripe: StripeSettings) -> Entitlement:
    """Pro only for a subscription to a price in our settings; everyone free when billing
    is off. (The webhook never stores other prices; this guards a changed setting.)"""
    entitlement = entitlement_for_status(
        state.status if state else None, billing_enabled=stripe.billing_enabled
    )
    enabled = stripe.billing_enabled
    if enabled and state is not None and stripe.plan_for_price(state.price_id) is None:
        return Entitlement(FREE, state.status, UNKNOWN_PRICE_WARNING)
    return entitlement


def entitlement(conn: Conn, user_id: str, stripe: StripeSettings) -> Entitlement:
    if not stripe.billing_enabled:
        return entitlement_for_status(None, billing_enabled=False)
    return entitlement_of_state(state_from_row(store.subscription_of(conn, user_id)), stripe)


def current_tier(conn: Conn, user_id: str, stripe: StripeSettings) -> Tier:
    """The tier the user is on now, as stored from Stripe's webhooks."""
    return entitlement(conn, user_id, stripe).tier


def check_room(
    conn: Conn,
    user_id: str,
    stripe: StripeSettings,
    key: str,
    existing: int,
    adding: int = 1,
) -> None:
    """Raise TierLimitError (402) if adding `adding` to `existing` items passes the user's
    limit `key` (`private_prompts`, `tags_per_prompt`). Call only when adding."""
    check_limit(current_tier(conn, user_id, stripe), key, existing, adding)


def visible_versions(conn: Conn, user_id: str, stripe: StripeSettings, total: int) -> int:
    """How many of a prompt's `total` versions (newest first) to list; the rest are kept
    and listed again with Pro (the `versions_per_prompt` window)."""
    return visible_count(current_tier(conn, user_id, stripe), "versions_per_prompt", total)


def require_feature(conn: Conn, user_id: str, stripe: StripeSettings, key: str) -> None:
    """Raise TierLimitError (402) unless the user's tier includes feature `key`."""
    check_feature(current_tier(conn, user_id, stripe), key)


def summary(conn: Conn, user_id: str, stripe: StripeSettings) -> dict[str, Any]:
    """The body of GET /api/billing."""
    state = state_from_row(store.subscription_of(conn, user_id))
    plan = stripe.plan_for_price(state.price_id) if state else None
    body = billing_summary(
        state, billing_enabled=stripe.billing_enabled, interval=plan[1] if plan else None
    )
    granted = entitlement_of_state(state, stripe)
    body["tier"] = granted.tier.name
    body["warning"] = granted.warning
    body["plan"] = plan[0] if plan else None
    body["has_customer"] = store.stripe_customer_of(conn, user_id) is not None
    return body


@dataclass(frozen=True)
class WebhookOutcome:
    applied: bool
    reason: str


def apply_event(conn: Conn, facts: EventFacts, stripe: StripeSettings, now: int) -> WebhookOutcome:
    """The webhook's one transaction: record the event id first (a redelivery stops
    here), then find the owner and let the newest state win."""
    event = facts.event
    if not store.record_stripe_event(conn, event.id, event.type, "received", now):
        return WebhookOutcome(False, "duplicate event: already processed")
    outcome = _decide_and_write(conn, facts, stripe, now)
    store.set_stripe_event_outcome(conn, event.id, outcome.reason)
    return outcome


def _decide_and_write(
    conn: Conn, facts: EventFacts, stripe: StripeSettings, now: int
) -> WebhookOutcome:
    event, incoming = facts.event, facts.subscription
    if not event.handled:
        return WebhookOutcome(False, f"ignored event type {event.type}")
    if incoming is None:
        return WebhookOutcome(False, "names no subscription")
    customer_owner = store.user_of_stripe_customer(conn, incoming.customer_id)
    owner = resolve_owner(customer_owner, facts.references.client_reference_id)
    if owner.suspicious:
        log.warning("stripe event %s (%s): %s", event.id, event.type, owner.reason)
    if owner.user_id is None:
        return WebhookOutcome(False, owner.reason)
    if stripe.plan_for_price(incoming.price_id) is None:
        log.warning(
            "stripe event %s: subscription %s has price %r, not one of ours; ignored",
            event.id,
            incoming.id,
            incoming.price_id,
        )
        return WebhookOutcome(False, "subscription price is not a configured plan; ignored")
    if not store.lock_user_billing(conn, owner.user_id):
        return WebhookOutcome(False, "user is gone")
    stored = state_from_row(store.subscription_of(conn, owner.user_id))
    decision = should_replace(stored, incoming)
    if decision.write:
        store.save_subscription(conn, owner.user_id, row_from_state(incoming), now)
    return WebhookOutcome(decision.write, decision.reason)


# --- Stripe calls (never inside a transaction) ------------------------------------------


def gateway(services: Services) -> StripeGateway:
    """The Stripe client; 503 `billing_disabled` when billing is off."""
    try:
        return services.gateway
    except BillingDisabledError as exc:
        raise ApiError(exc.status_code, exc.code, exc.message) from None


async def call_stripe(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the gateway on a worker thread; Stripe's failures become 502 (logged)."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except GatewayError as exc:
        log.warning("stripe call %s failed: %s", getattr(fn, "__name__", fn), exc)
        raise ApiError(exc.status_code, exc.code, exc.message) from None
    except UnknownPlanError as exc:
        raise ApiError(exc.status_code, exc.code, exc.message) from None


async def customer_for(
    services: Services, client: StripeGateway, user_id: str, email: str, now: int
) -> str:
    """The user's Stripe customer, created (and stored) on first use."""
    db = services.db
    existing = await db.run(store.stripe_customer_of, user_id, write=False)
    if existing is not None:
        return existing
    created = await call_stripe(client.create_customer, user_id, email)
    return await db.run(store.save_stripe_customer, user_id, created, now)


def stripe_customer_of(conn: Conn, user_id: str) -> str | None:
    return store.stripe_customer_of(conn, user_id)


def stripe_event_seen(conn: Conn, event_id: str) -> bool:
    return store.stripe_event_seen(conn, event_id)


async def delete_customer(services: Services, user_id: str) -> None:
    """For account deletion: delete the Stripe customer first (Stripe cancels its
    subscriptions at once), so a deleted account is never charged again. A Stripe failure
    stops the deletion with 502 and nothing deleted; the user can try again."""
    customer_id = await services.db.run(store.stripe_customer_of, user_id, write=False)
    if customer_id is None:
        return
    if not services.stripe.billing_enabled:
        log.warning(
            "deleting user %s with Stripe customer %s while billing is off: "
            "delete the customer in the Stripe dashboard",
            user_id,
            customer_id,
        )
        return
    await call_stripe(services.gateway.delete_customer, customer_id)


# --- export and housekeeping ------------------------------------------------------------


def export_subscription(conn: Conn, user_id: str, services: Services) -> Any:
    """The export's `subscription` section: the stored billing facts, then the tier they
    grant under the settings."""
    section: dict[str, Any] = store.export_subscription(conn, user_id)
    section.update(entitlement(conn, user_id, services.stripe).as_json())
    return section


def purge_stripe_events(conn: Conn, now: int) -> dict[str, int]:
    return store.purge_stripe_events(conn, now)
