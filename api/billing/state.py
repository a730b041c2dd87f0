"""Pure rules of billing state: parsing Stripe objects, whose event it is, which write wins.

Stripe delivers webhooks at least once and in no particular order, so the webhook handler
never trusts an event's payload for state. It reads the subscription back from Stripe
(`StripeGateway.read_event_facts`), then, inside the transaction that also records the
event id, calls:

- `resolve_owner`: the user is the one whose stored Stripe customer id is the
  subscription's customer. `client_reference_id` only confirms it; a mismatching one is
  ignored and reported, so a tampered id can never grant someone else Pro.
- `should_replace`: "newest state wins" (rules in its docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sorastats.tiers import entitlement_for_status

# Statuses Stripe never leaves: a subscription in one of them is over for good.
TERMINAL_STATUSES: Final = frozenset({"canceled", "incomplete_expired"})
# Statuses that (may) grant Pro; see sorastats.tiers.entitlement_for_status.
LIVE_STATUSES: Final = frozenset({"active", "trialing", "past_due"})

HANDLED_EVENT_TYPES: Final = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)


class StripeObjectError(ValueError):
    """A Stripe object lacks a field we rely on (a wire-format change or a bad payload)."""


def storable_text(value: Any, max_length: int = 255) -> str | None:
    """`value` if it is text we can store and log (non-empty, printable: no NUL, no lone
    surrogate, no control characters), else None. Stripe's ids are ~30 ASCII characters."""
    if isinstance(value, str) and 0 < len(value) <= max_length and value.isprintable():
        return value
    return None


def _expandable_id(value: Any) -> str | None:
    # Stripe returns either the id or, when expanded, the object holding it.
    if isinstance(value, Mapping):
        value = value.get("id")
    return storable_text(value)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class SubscriptionState:
    """What we store about a user's subscription; `as_of` is when it was read from Stripe."""

    id: str
    customer_id: str
    status: str
    price_id: str | None
    current_period_end: int | None
    cancel_at_period_end: bool
    cancel_at: int | None
    created: int
    as_of: float

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


def parse_subscription(obj: Mapping[str, Any], *, as_of: float) -> SubscriptionState:
    """A Stripe `subscription` object (as JSON) to our state. Since API version
    2025-03-31 the period lives on the items; older objects carry it at the top."""
    if obj.get("object") != "subscription":
        raise StripeObjectError(f"expected a subscription object, got {obj.get('object')!r}")
    sub_id = storable_text(obj.get("id"))
    customer_id = _expandable_id(obj.get("customer"))
    status = storable_text(obj.get("status"), 40)
    created = _int_or_none(obj.get("created"))
    if sub_id is None:
        raise StripeObjectError("subscription without an id")
    if customer_id is None:
        raise StripeObjectError(f"subscription {sub_id} without a customer")
    if status is None:
        raise StripeObjectError(f"subscription {sub_id} without a status")
    if created is None:
        raise StripeObjectError(f"subscription {sub_id} without a created time")
    items = obj.get("items")
    first_item: Mapping[str, Any] = {}
    if isinstance(items, Mapping):
        data = items.get("data")
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            first_item = data[0]
    price = first_item.get("price")
    price_id = _expandable_id(price)
    period_end = _int_or_none(first_item.get("current_period_end"))
    if period_end is None:
        period_end = _int_or_none(obj.get("current_period_end"))
    return SubscriptionState(
        id=sub_id,
        customer_id=customer_id,
        status=status,
        price_id=price_id,
        current_period_end=period_end,
        cancel_at_period_end=obj.get("cancel_at_period_end") is True,
        cancel_at=_int_or_none(obj.get("cancel_at")),
        created=created,
        as_of=as_of,
    )


@dataclass(frozen=True)
class EventReferences:
    """The ids an event points at. Only hints: the subscription read back is authoritative."""

    customer_id: str | None
    subscription_id: str | None
    client_reference_id: str | None


def event_references(event_type: str, obj: Mapping[str, Any]) -> EventReferences:
    """Which customer and subscription an event of a handled type is about."""
    customer_id = _expandable_id(obj.get("customer"))
    if event_type == "checkout.session.completed":
        ref = obj.get("client_reference_id")
        subscription_id = (
            _expandable_id(obj.get("subscription")) if obj.get("mode") == "subscription" else None
        )
        return EventReferences(customer_id, subscription_id, ref if isinstance(ref, str) else None)
    if event_type.startswith("customer.subscription."):
        return EventReferences(customer_id, _expandable_id(obj.get("id")), None)
    if event_type.startswith("invoice."):
        # API 2025-03-31 moved it to parent.subscription_details; older versions had it on top.
        subscription_id = _expandable_id(obj.get("subscription"))
        parent = obj.get("parent")
        if subscription_id is None and isinstance(parent, Mapping):
            details = parent.get("subscription_details")
            if isinstance(details, Mapping):
                subscription_id = _expandable_id(details.get("subscription"))
        return EventReferences(customer_id, subscription_id, None)
    return EventReferences(customer_id, None, None)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: int
    livemode: bool
    object: Mapping[str, Any]

    @property
    def handled(self) -> bool:
        return self.type in HANDLED_EVENT_TYPES


@dataclass(frozen=True)
class EventFacts:
    """An event plus the subscription as Stripe has it now (None if it names none)."""

    event: WebhookEvent
    references: EventReferences
    subscription: SubscriptionState | None

    @property
    def customer_id(self) -> str | None:
        # The read-back is authoritative; the event's own field is only a fallback.
        if self.subscription is not None:
            return self.subscription.customer_id
        return self.references.customer_id


def parse_event(data: Any) -> WebhookEvent:
    """A verified webhook body (parsed JSON) to a WebhookEvent."""
    if not isinstance(data, Mapping) or data.get("object") != "event":
        raise StripeObjectError("webhook body is not a Stripe event")
    # Both are stored (idempotency); Stripe's ids are ~30 characters, so 255 is generous.
    event_id, event_type = storable_text(data.get("id")), storable_text(data.get("type"))
    created = data.get("created")
    body = data.get("data")
    obj = body.get("object") if isinstance(body, Mapping) else None
    if event_id is None:
        raise StripeObjectError("webhook event without a valid id")
    if event_type is None:
        raise StripeObjectError(f"webhook event {event_id} without a valid type")
    if not isinstance(created, int) or not isinstance(obj, Mapping):
        raise StripeObjectError(f"webhook event {event_id} without created or data")
    return WebhookEvent(
        id=event_id,
        type=event_type,
        created=created,
        livemode=data.get("livemode") is True,
        object=obj,
    )


@dataclass(frozen=True)
class OwnerDecision:
    user_id: str | None  # None: apply nothing (but still record the event id)
    reason: str
    suspicious: bool  # log it: someone tampered, or our records disagree with Stripe


def resolve_owner(customer_owner: str | None, client_reference_id: str | None) -> OwnerDecision:
    """Whose subscription this is.

    `customer_owner` is the user whose stored Stripe customer id is the subscription's
    customer (we create one customer per user before any checkout, so that mapping is
    ours). `client_reference_id` travels through the browser's checkout flow and is only
    a cross-check: alone it proves nothing, and a mismatch never moves Pro to its user.
    """
    if customer_owner is None:
        if client_reference_id:
            return OwnerDecision(
                None,
                "unknown customer; client_reference_id alone is not trusted",
                suspicious=True,
            )
        return OwnerDecision(None, "unknown customer", suspicious=False)
    if client_reference_id and client_reference_id != customer_owner:
        return OwnerDecision(
            customer_owner,
            "client_reference_id does not match the customer's user; it was ignored",
            suspicious=True,
        )
    return OwnerDecision(customer_owner, "customer belongs to this user", suspicious=False)


@dataclass(frozen=True)
class WriteDecision:
    write: bool
    reason: str


def should_replace(stored: SubscriptionState | None, incoming: SubscriptionState) -> WriteDecision:
    """Newest state wins. Applied per user, in the transaction that writes.

    Same subscription:
    1. A terminal status (`canceled`, `incomplete_expired`) is final: Stripe never
       revives such a subscription, so a terminal read beats any non-terminal one
       whatever the markers say, and a stale read cannot undo a cancellation.
    2. Otherwise the later read wins: `as_of` is taken just before the read-back request,
       so a handler that read earlier (and commits later) cannot overwrite newer state.
       Equal markers write again (same data: harmless).
    Different subscription (a user who re-subscribed, or a late event about an old one):
    3. A live subscription (active, trialing, past_due) beats one that is not.
    4. Otherwise the subscription created later wins (ties: the greater id, to be stable).
    """
    if stored is None:
        return WriteDecision(True, "nothing stored yet")
    if stored.id == incoming.id:
        if stored.is_terminal and not incoming.is_terminal:
            return WriteDecision(False, f"subscription already {stored.status}; that is final")
        if incoming.is_terminal and not stored.is_terminal:
            return WriteDecision(True, f"subscription is {incoming.status}; that is final")
        if incoming.as_of < stored.as_of:
            return WriteDecision(False, "stored state was read from Stripe more recently")
        return WriteDecision(True, "newer read of the same subscription")
    if incoming.is_live != stored.is_live:
        if incoming.is_live:
            return WriteDecision(True, "a live subscription replaces one that ended")
        return WriteDecision(False, "keeps the live subscription over one that is not")
    if (incoming.created, incoming.id) > (stored.created, stored.id):
        return WriteDecision(True, "a newer subscription replaces an older one")
    return WriteDecision(False, "an older subscription does not replace a newer one")


def _iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def billing_summary(
    stored: SubscriptionState | None, *, billing_enabled: bool, interval: str | None
) -> dict[str, Any]:
    """The body of `GET /api/billing`. `interval` comes from
    `StripeSettings.plan_for_price(stored.price_id)`; with billing off only the tier shows."""
    entitlement = entitlement_for_status(
        stored.status if stored else None, billing_enabled=billing_enabled
    )
    shown = stored if billing_enabled else None
    return {
        "billing_enabled": billing_enabled,
        "tier": entitlement.tier.name,
        "status": shown.status if shown else None,
        "warning": entitlement.warning,
        "interval": interval if shown else None,
        "current_period_end": _iso(shown.current_period_end) if shown else None,
        "cancel_at_period_end": shown.cancel_at_period_end if shown else False,
        "cancel_at": _iso(shown.cancel_at) if shown else None,
    }
