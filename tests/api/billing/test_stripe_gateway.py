"""api.billing.stripe_gateway with the real `stripe` package against the fake Stripe server.

Nothing of ours is mocked: requests go over HTTP on 127.0.0.1, webhooks are signed with
Stripe's scheme and verified by `stripe.Webhook.construct_event`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from urllib.parse import parse_qsl

import pytest
import stripe

from api.billing.config import StripeSettings, UnknownPlanError
from api.billing.stripe_gateway import (
    BillingDisabledError,
    GatewayError,
    StripeGateway,
    UnusableEventError,
    WebhookVerificationError,
)
from tests.support.fake_stripe import FakePrice, FakeStripe, sign_payload

# End-to-end tier (make test): the fake Stripe server on 127.0.0.1.
pytestmark = pytest.mark.e2e

SECRET_KEY = "sk_test_fake_0123456789"
WEBHOOK_SECRET = "whsec_test_fake_secret"
MONTHLY = "price_pro_month_test"
YEARLY = "price_pro_year_test"
PRICES = {
    MONTHLY: FakePrice(MONTHLY, "month", 500),
    YEARLY: FakePrice(YEARLY, "year", 4800),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe.running(SECRET_KEY, PRICES) as server:
        yield server


@pytest.fixture
def settings(fake: FakeStripe) -> StripeSettings:
    return StripeSettings.from_env(
        {
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_PRICE_PRO_MONTHLY": MONTHLY,
            "STRIPE_PRICE_PRO_YEARLY": YEARLY,
            "STRIPE_API_BASE": fake.base_url,
        }
    )


@pytest.fixture
def gateway(settings: StripeSettings) -> Iterator[StripeGateway]:
    gw = StripeGateway(settings)
    yield gw
    gw.close()


def checkout(gateway: StripeGateway, user_id: str, interval: str = "month") -> tuple[str, str]:
    customer_id = gateway.create_customer(user_id, f"{user_id}@example.com")
    session = gateway.create_checkout_session(
        customer_id=customer_id,
        user_id=user_id,
        plan="pro",
        interval=interval,
        success_url="https://sorastats.example/account/?checkout=done",
        cancel_url="https://sorastats.example/pricing/",
    )
    return customer_id, session.id


# ---- calls ----------------------------------------------------------------------------


def test_create_customer_sends_stripe_s_wire_format(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    customer_id = gateway.create_customer("user-7", "seven@example.com")
    assert customer_id.startswith("cus_")
    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/customers")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.headers["stripe-version"] == stripe.api_version
    assert request.headers["idempotency-key"] == "sorastats-customer-user-7"
    assert dict(parse_qsl(request.body.decode())) == {
        "email": "seven@example.com",
        "metadata[sorastats_user_id]": "user-7",
    }
    assert fake.customers[customer_id]["metadata"] == {"sorastats_user_id": "user-7"}


def test_create_customer_twice_for_one_user_gives_one_customer(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    first = gateway.create_customer("user-twice")
    second = gateway.create_customer("user-twice")
    assert first == second
    assert (
        sum(c["metadata"] == {"sorastats_user_id": "user-twice"} for c in fake.customers.values())
        == 1
    )


@pytest.mark.parametrize(("interval", "price"), [("month", MONTHLY), ("year", YEARLY)])
def test_checkout_session(
    fake: FakeStripe, gateway: StripeGateway, interval: str, price: str
) -> None:
    customer_id, session_id = checkout(gateway, "user-co", interval)
    assert session_id.startswith("cs_test_")
    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    form = dict(parse_qsl(request.body.decode()))
    assert form["mode"] == "subscription"
    assert form["customer"] == customer_id
    assert form["client_reference_id"] == "user-co"
    assert form["line_items[0][price]"] == price
    assert form["line_items[0][quantity]"] == "1"
    assert form["success_url"] == "https://sorastats.example/account/?checkout=done"
    assert form["subscription_data[metadata][sorastats_user_id]"] == "user-co"
    stored = fake.checkout_sessions[session_id]
    assert stored["status"] == "open"
    assert stored["url"].endswith(f"/c/pay/{session_id}")


def test_unknown_price_id_is_a_stripe_error(fake: FakeStripe, settings: StripeSettings) -> None:
    gw = StripeGateway(replace(settings, price_pro_monthly="price_deleted_in_dashboard"))
    customer_id = gw.create_customer("user-np")
    before = len(fake.requests)
    with pytest.raises(GatewayError) as caught:
        gw.create_checkout_session(
            customer_id=customer_id,
            user_id="user-np",
            plan="pro",
            interval="month",
            success_url="https://sorastats.example/ok",
            cancel_url="https://sorastats.example/no",
        )
    gw.close()
    error = caught.value
    assert error.kind == "invalid_request"
    assert error.param == "line_items[0][price]"
    assert "No such price: 'price_deleted_in_dashboard'" in error.detail
    assert (error.status_code, error.code) == (502, "payment_provider_error")
    assert "price_deleted" not in error.message  # the user-facing text stays generic
    assert len(fake.requests) == before + 1  # a 400 is not retried


def test_unknown_plan_sends_nothing(fake: FakeStripe, gateway: StripeGateway) -> None:
    before = len(fake.requests)
    with pytest.raises(UnknownPlanError):
        gateway.create_checkout_session(
            customer_id="cus_x",
            user_id="u",
            plan="enterprise",
            interval="month",
            success_url="https://sorastats.example/ok",
            cancel_url="https://sorastats.example/no",
        )
    assert len(fake.requests) == before


def test_checkout_for_unknown_customer(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayError) as caught:
        gateway.create_checkout_session(
            customer_id="cus_nobody",
            user_id="u",
            plan="pro",
            interval="year",
            success_url="https://sorastats.example/ok",
            cancel_url="https://sorastats.example/no",
        )
    assert (caught.value.kind, caught.value.param) == ("invalid_request", "customer")


def test_portal_session(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer_id = gateway.create_customer("user-portal")
    url = gateway.create_portal_session(
        customer_id=customer_id, return_url="https://sorastats.example/account/"
    )
    portal = next(iter(p for p in fake.portal_sessions.values() if p["url"] == url))
    assert portal["customer"] == customer_id
    assert portal["return_url"] == "https://sorastats.example/account/"
    with pytest.raises(GatewayError, match="No such customer"):
        gateway.create_portal_session(customer_id="cus_nobody", return_url="https://x.example/")


def test_retrieve_subscription(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer_id, session_id = checkout(gateway, "user-sub", "year")
    before = time.time()
    sub_id = fake.complete_checkout(session_id)
    state = gateway.retrieve_subscription(sub_id)
    assert state.id == sub_id
    assert state.customer_id == customer_id
    assert state.status == "active"
    assert state.price_id == YEARLY
    assert state.current_period_end is not None
    assert state.current_period_end >= before + 364 * 86_400
    assert state.cancel_at_period_end is False
    assert before <= state.as_of <= time.time()
    fake.cancel_at_period_end(sub_id)
    later = gateway.retrieve_subscription(sub_id)
    assert later.cancel_at_period_end is True
    assert later.cancel_at == state.current_period_end


def test_delete_customer_cancels_its_subscription(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer_id, session_id = checkout(gateway, "user-leaving")
    sub_id = fake.complete_checkout(session_id)
    gateway.delete_customer(customer_id)
    request = fake.requests[-1]
    assert (request.method, request.path) == ("DELETE", f"/v1/customers/{customer_id}")
    assert customer_id not in fake.customers
    assert gateway.retrieve_subscription(sub_id).status == "canceled"
    assert fake.events_of("customer.subscription.deleted")[-1]["data"]["object"]["id"] == sub_id
    gateway.delete_customer(customer_id)  # already gone: fine (account deletion may retry)


def test_retrieve_unknown_subscription_is_a_404_error(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayError) as caught:
        gateway.retrieve_subscription("sub_missing")
    assert caught.value.kind == "invalid_request"
    assert "No such subscription: 'sub_missing'" in caught.value.detail


def test_wrong_secret_key_is_an_authentication_error(settings: StripeSettings) -> None:
    gw = StripeGateway(replace(settings, secret_key="sk_test_wrong_key_9999"))
    with pytest.raises(GatewayError) as caught:
        gw.create_customer("user-auth")
    gw.close()
    assert caught.value.kind == "authentication"
    assert "sk_test_wrong_key_9999" not in str(caught.value)  # Stripe masks the key


def test_unreachable_stripe_is_a_connection_error(settings: StripeSettings) -> None:
    # Bound but not listening: connections are refused, and nobody else can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        gw = StripeGateway(
            replace(settings, api_base=f"http://127.0.0.1:{port}"), max_network_retries=0
        )
        with pytest.raises(GatewayError) as caught:
            gw.create_customer("user-offline")
        gw.close()
    assert caught.value.kind == "connection"
    assert caught.value.status_code == 502
    assert f"127.0.0.1:{port}/v1/customers" in caught.value.detail


def test_billing_disabled_refuses_to_build_a_gateway(settings: StripeSettings) -> None:
    with pytest.raises(BillingDisabledError) as caught:
        StripeGateway(replace(settings, webhook_secret=""))
    assert caught.value.missing == ("STRIPE_WEBHOOK_SECRET",)
    assert (caught.value.status_code, caught.value.code) == (503, "billing_disabled")


# ---- webhook signatures ---------------------------------------------------------------


@pytest.fixture
def event(fake: FakeStripe, gateway: StripeGateway) -> dict[str, object]:
    _, session_id = checkout(gateway, "user-hook")
    fake.complete_checkout(session_id)
    return fake.events_of("checkout.session.completed")[-1]


def test_signed_event_is_verified_and_parsed(
    gateway: StripeGateway, event: dict[str, object]
) -> None:
    body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
    verified = gateway.verify_webhook(body, header)
    assert verified.id == event["id"]
    assert verified.type == "checkout.session.completed"
    assert verified.handled
    assert verified.object["client_reference_id"] == "user-hook"


def test_timestamp_within_tolerance_is_accepted(
    gateway: StripeGateway, event: dict[str, object]
) -> None:
    body, header = FakeStripe.signed_delivery(
        event, WEBHOOK_SECRET, timestamp=int(time.time()) - 240
    )
    assert gateway.verify_webhook(body, header).id == event["id"]


def _forged(event: dict[str, object]) -> tuple[bytes, str | None]:
    return FakeStripe.signed_delivery(event, "whsec_attacker_guess")


def _stale(event: dict[str, object]) -> tuple[bytes, str | None]:
    return FakeStripe.signed_delivery(event, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)


def _unsigned(event: dict[str, object]) -> tuple[bytes, str | None]:
    return json.dumps(event).encode(), None


def _empty_header(event: dict[str, object]) -> tuple[bytes, str | None]:
    return json.dumps(event).encode(), ""


def _no_v1(event: dict[str, object]) -> tuple[bytes, str | None]:
    body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
    return body, header.split(",")[0]


def _body_changed(event: dict[str, object]) -> tuple[bytes, str | None]:
    body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
    return body.replace(b"user-hook", b"user-evil"), header


def _garbage_header(event: dict[str, object]) -> tuple[bytes, str | None]:
    return json.dumps(event).encode(), "not a signature"


@pytest.mark.parametrize(
    "make",
    [_forged, _stale, _unsigned, _empty_header, _no_v1, _body_changed, _garbage_header],
)
def test_bad_signatures_are_refused(
    gateway: StripeGateway,
    event: dict[str, object],
    make: Callable[[dict[str, object]], tuple[bytes, str | None]],
) -> None:
    body, header = make(event)
    with pytest.raises(WebhookVerificationError) as caught:
        gateway.verify_webhook(body, header)
    assert caught.value.status_code == 400
    assert caught.value.message


def test_wrong_endpoint_secret_refuses_genuine_events(
    settings: StripeSettings, event: dict[str, object]
) -> None:
    gw = StripeGateway(replace(settings, webhook_secret="whsec_other_endpoint"))
    body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
    with pytest.raises(WebhookVerificationError, match="Invalid signature"):
        gw.verify_webhook(body, header)
    gw.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON we accept"),
        (b'{"id": "evt_1"}', "not a Stripe event"),
        (b'{"object": "event", "id": "evt_1", "type": "invoice.paid"}', "without created"),
        (b"[1, 2]", "not a Stripe event"),
        (b'{"object": "event", "id": "evt_\\ud800"}', "lone surrogate"),
        (b'{"object": "event", "id": "evt_1", "created": 1e400}', "out of range"),
        (b'{"object": "event", "id": "evt_1", "type": 5, "created": 1}', "valid type"),
        (b'{"object": "event", "id": "evt_\\u0000", "type": "x", "created": 1}', "valid id"),
    ],
)
def test_signed_but_unusable_bodies_are_unusable_events(
    gateway: StripeGateway, body: bytes, reason: str
) -> None:
    """Signed, so not forged: the webhook acknowledges these (UnusableEventError)."""
    with pytest.raises(UnusableEventError, match=reason):
        gateway.verify_webhook(body, sign_payload(body, WEBHOOK_SECRET))


def test_a_signed_body_that_is_not_utf8_cannot_be_verified(gateway: StripeGateway) -> None:
    body = b"\xff\xfe\x00"
    with pytest.raises(WebhookVerificationError):
        gateway.verify_webhook(body, sign_payload(body, WEBHOOK_SECRET))


def test_an_event_naming_a_subscription_stripe_lacks_is_unusable(gateway: StripeGateway) -> None:
    event = {
        "id": "evt_missing_sub",
        "object": "event",
        "created": int(time.time()),
        "type": "customer.subscription.updated",
        "data": {"object": {"object": "subscription", "id": "sub_missing"}},
    }
    body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
    with pytest.raises(UnusableEventError, match="No such subscription"):
        gateway.read_event_facts(gateway.verify_webhook(body, header))


def test_read_event_facts_reads_the_subscription_back(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    customer_id, session_id = checkout(gateway, "user-facts")
    sub_id = fake.complete_checkout(session_id)
    created_event = fake.events_of("customer.subscription.created")[-1]
    fake.cancel_at_period_end(sub_id)  # happens before the old event is processed
    body, header = FakeStripe.signed_delivery(created_event, WEBHOOK_SECRET)
    facts = gateway.read_event_facts(gateway.verify_webhook(body, header))
    assert facts.subscription is not None
    assert facts.subscription.cancel_at_period_end is True  # Stripe's state now, not the event's
    assert facts.event.object["cancel_at_period_end"] is False
    assert facts.customer_id == customer_id


def test_unhandled_event_reads_nothing(fake: FakeStripe, gateway: StripeGateway) -> None:
    event = {
        "id": "evt_unhandled",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }
    before = len(fake.requests)
    body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
    facts = gateway.read_event_facts(gateway.verify_webhook(body, header))
    assert not facts.event.handled
    assert facts.subscription is None
    assert len(fake.requests) == before
