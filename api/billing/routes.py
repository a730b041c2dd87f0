"""Subscriptions: Stripe Checkout, the Customer Portal, the billing summary and the
webhook (the one route without CSRF: it proves itself by Stripe's signature).

Stripe calls are synchronous and slow, so they run in the thread pool and never inside a
database transaction. Access changes only through the webhook: reaching the Checkout
success URL grants nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from api.billing import service
from api.billing.config import UnknownPlanError
from api.billing.stripe_gateway import UnusableEventError, WebhookVerificationError
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError
from api.validation import obj
from sorastats.tiers import TIERS, Interval

log = logging.getLogger("api.billing")
group = EndpointGroup("billing")

PLANS = sorted(tier.name for tier in TIERS if tier.prices)
INTERVALS = [interval.value for interval in Interval]
DISABLED = {503: "Billing is not enabled on this server (`billing_disabled`)"}


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
    service.gateway(ctx.services)
    return await ctx.services.db.run(service.summary, ctx.user_id, ctx.services.stripe, write=False)


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
    gateway = service.gateway(ctx.services)
    plan, interval = ctx.body["plan"], ctx.body["interval"]
    if (plan, interval) not in ctx.services.stripe.prices():
        error = UnknownPlanError(plan, interval)
        raise ApiError(error.status_code, error.code, error.message)
    granted = await ctx.services.db.run(
        service.entitlement, ctx.user_id, ctx.services.stripe, write=False
    )
    if granted.tier.rank > 0:
        raise ApiError(
            409,
            "already_subscribed",
            "You already have a subscription; change or cancel it in Manage subscription.",
        )
    customer_id = await service.customer_for(
        ctx.services, gateway, ctx.user_id, str(ctx.user["email"]), ctx.now
    )
    base = ctx.services.settings.BASE_URL
    session = await service.call_stripe(
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
    gateway = service.gateway(ctx.services)
    customer_id = await ctx.services.db.run(service.stripe_customer_of, ctx.user_id, write=False)
    if customer_id is None:
        raise ApiError(409, "no_billing_account", "You have no subscription to manage yet.")
    url = await service.call_stripe(
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
    gateway = service.gateway(ctx.services)
    payload = await ctx.request.body()
    try:
        event = gateway.verify_webhook(payload, ctx.request.headers.get("stripe-signature"))
        db = ctx.services.db
        if await db.run(service.stripe_event_seen, event.id, write=False):
            return {"received": True, "applied": False, "reason": "duplicate event"}
        facts = await service.call_stripe(gateway.read_event_facts, event)
    except WebhookVerificationError as exc:
        raise ApiError(exc.status_code, exc.code, exc.message) from None
    except UnusableEventError as exc:
        # Signed, so Stripe sent it: a non-2xx answer would only make it redeliver the
        # same unusable body for days. Nothing changed; the log says why (no payload).
        log.warning("stripe webhook acknowledged but not used: %s", exc.reason)
        return {"received": True, "applied": False, "reason": f"unusable event: {exc.reason}"}
    outcome = await db.run(service.apply_event, facts, ctx.services.stripe, ctx.now)
    log.info("stripe event %s %s: %s", event.id, event.type, outcome.reason)
    return {"received": True, "applied": outcome.applied, "reason": outcome.reason}
