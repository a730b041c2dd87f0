"""Subscriptions: Stripe Checkout, the Customer Portal, the billing summary and the
webhook (the one route without CSRF: it proves itself by Stripe's signature).

Stripe calls are synchronous and slow, so they run in the thread pool and never inside a
database transaction. Access changes only through the webhook: reaching the Checkout
success URL grants nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from api import billing, store
from api.billing_config import UnknownPlanError
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError
from api.stripe_gateway import (
    BillingDisabledError,
    GatewayError,
    StripeGateway,
    UnusableEventError,
    WebhookVerificationError,
)
from api.validation import obj
from sorastats.tiers import TIERS, Interval

log = logging.getLogger("api.billing")
group = EndpointGroup("billing")
T = TypeVar("T")

PLANS = sorted(tier.name for tier in TIERS if tier.prices)
INTERVALS = [interval.value for interval in Interval]
DISABLED = {503: "Billing is not enabled on this server (`billing_disabled`)"}


def _gateway(ctx: Ctx) -> StripeGateway:
    try:
        return ctx.services.gateway
    except BillingDisabledError as exc:
        raise ApiError(exc.status_code, exc.code, exc.message) from None


async def _stripe(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the gateway on a worker thread; Stripe's failures become 502 (logged)."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except GatewayError as exc:
        log.warning("stripe call %s failed: %s", getattr(fn, "__name__", fn), exc)
        raise ApiError(exc.status_code, exc.code, exc.message) from None
    except UnknownPlanError as exc:
        raise ApiError(exc.status_code, exc.code, exc.message) from None


async def customer_for(ctx: Ctx, gateway: StripeGateway) -> str:
    """The user's Stripe customer, created (and stored) on first use."""
    db = ctx.services.db
    existing = await db.run(store.stripe_customer_of, ctx.user_id, write=False)
    if existing is not None:
        return existing
    created = await _stripe(gateway.create_customer, ctx.user_id, str(ctx.user["email"]))
    return await db.run(store.save_stripe_customer, ctx.user_id, created, ctx.now)


@group.route(
    "GET",
    "/api/billing",
    "Your tier and subscription (status, period end, cancel at period end)",
    auth="public",
    responses={200: "The billing summary", 401: "Not signed in", **DISABLED},
    description="Answers 503 `billing_disabled` (to anyone) when billing is off, so pages "
    "can hide their upgrade buttons; otherwise needs a session.",
)
async def billing_summary(ctx: Ctx) -> Any:
    _gateway(ctx)
    return await ctx.services.db.run(billing.summary, ctx.user_id, ctx.services.stripe, write=False)


@group.route(
    "POST",
    "/api/billing/checkout",
    "Start a Stripe Checkout for a plan; answers the URL to send the browser to",
    body=obj(
        {
            "plan": {"type": "string", "maxLength": 40, "description": f"one of {PLANS}"},
            "interval": {"type": "string", "maxLength": 40, "description": f"one of {INTERVALS}"},
        }
    ),
    responses={
        200: "{url} of the Checkout page",
        400: "Unknown plan or interval (`unknown_plan`)",
        401: "Not signed in",
        409: "Already subscribed (`already_subscribed`): use the portal",
        502: "Stripe failed (`payment_provider_error`)",
        **DISABLED,
    },
)
async def checkout(ctx: Ctx) -> Any:
    gateway = _gateway(ctx)
    plan, interval = ctx.body["plan"], ctx.body["interval"]
    if (plan, interval) not in ctx.services.stripe.prices():
        error = UnknownPlanError(plan, interval)
        raise ApiError(error.status_code, error.code, error.message)
    granted = await ctx.services.db.run(
        billing.entitlement, ctx.user_id, ctx.services.stripe, write=False
    )
    if granted.tier.rank > 0:
        raise ApiError(
            409,
            "already_subscribed",
            "You already have a subscription; change or cancel it in Manage subscription.",
        )
    customer_id = await customer_for(ctx, gateway)
    base = ctx.services.settings.BASE_URL
    session = await _stripe(
        gateway.create_checkout_session,
        customer_id=customer_id,
        user_id=ctx.user_id,
        plan=plan,
        interval=interval,
        success_url=f"{base}/account/?billing=success",
        cancel_url=f"{base}/pricing/?billing=cancelled",
    )
    return {"url": session.url}


@group.route(
    "POST",
    "/api/billing/portal",
    "Open the Stripe Customer Portal (card, invoices, cancel, switch interval)",
    responses={
        200: "{url} of the portal session",
        401: "Not signed in",
        409: "No billing account yet (`no_billing_account`): subscribe first",
        502: "Stripe failed (`payment_provider_error`)",
        **DISABLED,
    },
)
async def portal(ctx: Ctx) -> Any:
    gateway = _gateway(ctx)
    customer_id = await ctx.services.db.run(store.stripe_customer_of, ctx.user_id, write=False)
    if customer_id is None:
        raise ApiError(409, "no_billing_account", "You have no subscription to manage yet.")
    url = await _stripe(
        gateway.create_portal_session,
        customer_id=customer_id,
        return_url=f"{ctx.services.settings.BASE_URL}/account/",
    )
    return {"url": url}


@group.route(
    "POST",
    "/api/billing/webhook",
    "Stripe webhook (signed; no session or CSRF)",
    auth="public",
    responses={
        200: "Processed, a redelivery, an event type we ignore, or a signed event we "
        "cannot use (logged; `applied` false): nothing changed",
        400: "Forged, stale or unsigned (`invalid_webhook`): nothing changed",
        502: "Stripe could not be read back; nothing changed, Stripe will retry",
        **DISABLED,
    },
    description="Verifies `Stripe-Signature` on the raw body (300 s tolerance), reads the "
    "subscription back from Stripe, then in one transaction records the event id and "
    "applies the newest state.",
)
async def webhook(ctx: Ctx) -> Any:
    gateway = _gateway(ctx)
    payload = await ctx.request.body()
    try:
        event = gateway.verify_webhook(payload, ctx.request.headers.get("stripe-signature"))
        db = ctx.services.db
        if await db.run(store.stripe_event_seen, event.id, write=False):
            return {"received": True, "applied": False, "reason": "duplicate event"}
        facts = await _stripe(gateway.read_event_facts, event)
    except WebhookVerificationError as exc:
        raise ApiError(exc.status_code, exc.code, exc.message) from None
    except UnusableEventError as exc:
        # Signed, so Stripe sent it: a non-2xx answer would only make it redeliver the
        # same unusable body for days. Nothing changed; the log says why (no payload).
        log.warning("stripe webhook acknowledged but not used: %s", exc.reason)
        return {"received": True, "applied": False, "reason": f"unusable event: {exc.reason}"}
    outcome = await db.run(billing.apply_event, facts, ctx.services.stripe, ctx.now)
    log.info("stripe event %s %s: %s", event.id, event.type, outcome.reason)
    return {"received": True, "applied": outcome.applied, "reason": outcome.reason}


async def delete_stripe_customer(ctx: Ctx) -> None:
    """For account deletion: delete the Stripe customer first (Stripe cancels its
    subscriptions at once), so a deleted account is never charged again. A Stripe failure
    stops the deletion with 502 and nothing deleted; the user can try again."""
    customer_id = await ctx.services.db.run(store.stripe_customer_of, ctx.user_id, write=False)
    if customer_id is None:
        return
    if not ctx.services.stripe.billing_enabled:
        log.warning(
            "deleting user %s with Stripe customer %s while billing is off: "
            "delete the customer in the Stripe dashboard",
            ctx.user_id,
            customer_id,
        )
        return
    await _stripe(ctx.services.gateway.delete_customer, customer_id)
