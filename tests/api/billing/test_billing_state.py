"""Pure billing rules: parsing Stripe objects, event references, owner, newest state wins."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from api.billing.state import (
    EventReferences,
    StripeObjectError,
    SubscriptionState,
    billing_summary,
    event_references,
    parse_subscription,
    resolve_owner,
    should_replace,
)


def subscription_json(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_1",
        "status": "active",
        "cancel_at_period_end": False,
        "cancel_at": None,
        "created": 1_700_000_000,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "object": "subscription_item",
                    "current_period_end": 1_702_592_000,
                    "price": {"id": "price_month", "object": "price"},
                }
            ],
        },
    }
    obj.update(overrides)
    return obj


def state(**overrides: Any) -> SubscriptionState:
    base = SubscriptionState(
        id="sub_1",
        customer_id="cus_1",
        status="active",
        price_id="price_month",
        current_period_end=1_702_592_000,
        cancel_at_period_end=False,
        cancel_at=None,
        created=1_700_000_000,
        as_of=1_700_000_100.0,
    )
    return replace(base, **overrides)


def test_parse_current_api_version_subscription() -> None:
    assert parse_subscription(subscription_json(), as_of=1_700_000_100.0) == state()


def test_parse_legacy_period_and_expanded_customer() -> None:
    obj = subscription_json(
        customer={"id": "cus_1", "object": "customer"},
        items={"object": "list", "data": [{"price": "price_month"}]},
        current_period_end=1_702_592_000,
        cancel_at_period_end=True,
        cancel_at=1_702_592_000,
    )
    parsed = parse_subscription(obj, as_of=1_700_000_100.0)
    assert parsed == state(cancel_at_period_end=True, cancel_at=1_702_592_000)


def test_parse_tolerates_missing_optional_fields() -> None:
    obj = subscription_json()
    del obj["items"], obj["cancel_at_period_end"], obj["cancel_at"]
    parsed = parse_subscription(obj, as_of=1.0)
    assert parsed.price_id is None
    assert parsed.current_period_end is None
    assert parsed.cancel_at_period_end is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"object": "customer"}, "expected a subscription object"),
        ({"id": ""}, "without an id"),
        ({"id": None}, "without an id"),
        ({"customer": None}, "without a customer"),
        ({"customer": {"object": "customer"}}, "without a customer"),
        ({"status": None}, "without a status"),
        ({"created": "yesterday"}, "without a created time"),
        ({"created": True}, "without a created time"),
        # Text we could not store (PostgreSQL refuses NUL) or log is no id at all.
        ({"id": "sub_\x00"}, "without an id"),
        ({"id": "sub_\ud800"}, "without an id"),
        ({"id": "s" * 256}, "without an id"),
        ({"customer": "cus_\x00"}, "without a customer"),
        ({"customer": {"id": "\ud800"}}, "without a customer"),
        ({"customer": 5}, "without a customer"),
        ({"status": "active\x00"}, "without a status"),
        ({"status": 7}, "without a status"),
    ],
)
def test_parse_refuses_objects_missing_what_we_rely_on(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(StripeObjectError, match=message):
        parse_subscription(subscription_json(**overrides), as_of=1.0)


@pytest.mark.parametrize(
    ("event_type", "obj", "expected"),
    [
        (
            "checkout.session.completed",
            {
                "object": "checkout.session",
                "mode": "subscription",
                "customer": "cus_1",
                "subscription": "sub_1",
                "client_reference_id": "user-1",
            },
            EventReferences("cus_1", "sub_1", "user-1"),
        ),
        (
            "checkout.session.completed",
            {"mode": "payment", "customer": "cus_1", "subscription": None},
            EventReferences("cus_1", None, None),
        ),
        (
            "customer.subscription.updated",
            {"id": "sub_1", "object": "subscription", "customer": "cus_1"},
            EventReferences("cus_1", "sub_1", None),
        ),
        (
            "customer.subscription.deleted",
            {"id": "sub_1", "customer": {"id": "cus_1"}},
            EventReferences("cus_1", "sub_1", None),
        ),
        (
            "invoice.paid",
            {
                "customer": "cus_1",
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": "sub_1"},
                },
            },
            EventReferences("cus_1", "sub_1", None),
        ),
        (
            "invoice.payment_failed",
            {"customer": "cus_1", "subscription": "sub_1"},  # before API 2025-03-31
            EventReferences("cus_1", "sub_1", None),
        ),
        (
            "invoice.paid",
            {"customer": "cus_1", "parent": None},  # a one-off invoice
            EventReferences("cus_1", None, None),
        ),
        ("customer.created", {"id": "cus_1"}, EventReferences(None, None, None)),
    ],
)
def test_event_references(event_type: str, obj: dict[str, Any], expected: EventReferences) -> None:
    assert event_references(event_type, obj) == expected


@pytest.mark.parametrize(
    ("customer_owner", "client_reference_id", "user_id", "suspicious"),
    [
        ("user-1", "user-1", "user-1", False),
        ("user-1", None, "user-1", False),  # subscription events carry no reference
        # Tampered: the session names user-2, but user-1's customer pays. Pro stays with
        # user-1 (who pays); user-2 gets nothing.
        ("user-1", "user-2", "user-1", True),
        # A customer we never created: the reference alone proves nothing.
        (None, "user-2", None, True),
        (None, None, None, False),
    ],
)
def test_resolve_owner(
    customer_owner: str | None,
    client_reference_id: str | None,
    user_id: str | None,
    suspicious: bool,
) -> None:
    decision = resolve_owner(customer_owner, client_reference_id)
    assert decision.user_id == user_id
    assert decision.suspicious is suspicious
    assert decision.reason


T0 = 1_700_000_100.0


@pytest.mark.parametrize(
    ("stored", "incoming", "write"),
    [
        (None, state(), True),
        # Same subscription: the later read wins, whatever order the events came in.
        (state(as_of=T0), state(as_of=T0 + 5, cancel_at_period_end=True), True),
        (state(as_of=T0 + 5, cancel_at_period_end=True), state(as_of=T0), False),
        (state(as_of=T0), state(as_of=T0), True),  # redelivery: same data, harmless
        # Terminal states are final, even against a later marker...
        (state(status="canceled", as_of=T0), state(status="active", as_of=T0 + 60), False),
        (state(status="incomplete_expired"), state(status="active", as_of=T0 + 1), False),
        # ...and win against an earlier one (clock skew between app servers).
        (state(status="active", as_of=T0 + 60), state(status="canceled", as_of=T0), True),
        (state(status="canceled", as_of=T0), state(status="canceled", as_of=T0 + 1), True),
        # past_due after active, and back, follow the reads.
        (state(status="active", as_of=T0), state(status="past_due", as_of=T0 + 1), True),
        (state(status="past_due", as_of=T0), state(status="active", as_of=T0 + 1), True),
        # Another subscription: live beats ended...
        (
            state(id="sub_old", status="canceled", created=1),
            state(id="sub_new", status="active", created=2),
            True,
        ),
        (
            state(id="sub_new", status="active", created=2),
            state(id="sub_old", status="canceled", created=1, as_of=T0 + 99),
            False,
        ),
        (
            state(id="sub_new", status="trialing", created=1),
            state(id="sub_old", status="unpaid", created=2),
            False,
        ),
        # ...and between two of a kind, the newer subscription wins.
        (
            state(id="sub_a", status="active", created=1),
            state(id="sub_b", status="active", created=2),
            True,
        ),
        (
            state(id="sub_b", status="active", created=2),
            state(id="sub_a", status="active", created=1),
            False,
        ),
        (
            state(id="sub_a", status="canceled", created=5),
            state(id="sub_b", status="canceled", created=5),
            True,
        ),
    ],
)
def test_should_replace(
    stored: SubscriptionState | None, incoming: SubscriptionState, write: bool
) -> None:
    decision = should_replace(stored, incoming)
    assert decision.write is write, decision.reason
    assert decision.reason


def test_updated_before_created_ends_in_the_newest_state() -> None:
    """Apply reads in delivery order: whichever order, the stored state is the newest."""
    created_read = state(as_of=T0)
    updated_read = state(as_of=T0 + 3, cancel_at_period_end=True, cancel_at=1_702_592_000)
    for deliveries in ([updated_read, created_read], [created_read, updated_read]):
        stored: SubscriptionState | None = None
        for incoming in deliveries:
            if should_replace(stored, incoming).write:
                stored = incoming
        assert stored == updated_read


def test_billing_summary_of_a_cancelling_subscription() -> None:
    stored = state(cancel_at_period_end=True, cancel_at=1_702_592_000)
    assert billing_summary(stored, billing_enabled=True, interval="month") == {
        "billing_enabled": True,
        "tier": "pro",
        "status": "active",
        "warning": None,
        "interval": "month",
        "current_period_end": "2023-12-14T22:13:20Z",
        "cancel_at_period_end": True,
        "cancel_at": "2023-12-14T22:13:20Z",
    }


def test_billing_summary_past_due_warns() -> None:
    summary = billing_summary(state(status="past_due"), billing_enabled=True, interval=None)
    assert (summary["tier"], summary["status"]) == ("pro", "past_due")
    assert summary["warning"]


@pytest.mark.parametrize(("stored", "enabled"), [(None, True), (None, False), (state(), False)])
def test_billing_summary_free(stored: SubscriptionState | None, enabled: bool) -> None:
    assert billing_summary(stored, billing_enabled=enabled, interval="month") == {
        "billing_enabled": enabled,
        "tier": "free",
        "status": None,
        "warning": None,
        "interval": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "cancel_at": None,
    }
