"""The fake Stripe server itself: it must answer like Stripe, or the gateway tests prove
nothing. Raw HTTP here, so the `stripe` package's own handling is not in the way."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from tests.support.fake_stripe import FakePrice, FakeStripe, StripeAPIError, decode_form

# End-to-end tier (make test): the fake Stripe server on 127.0.0.1.
pytestmark = pytest.mark.e2e

KEY = "sk_test_wire_abcdef"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe.running(KEY, {"price_m": FakePrice("price_m", "month", 500)}) as server:
        yield server


@pytest.fixture
def client(fake: FakeStripe) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", {}),
        (b"email=a%40b.example", {"email": "a@b.example"}),
        (b"metadata[user]=u1&metadata[x]=", {"metadata": {"user": "u1", "x": ""}}),
        (
            b"line_items[0][price]=p&line_items[0][quantity]=1&line_items[1][price]=q",
            {"line_items": [{"price": "p", "quantity": "1"}, {"price": "q"}]},
        ),
        (b"expand[0]=customer&expand[1]=items", {"expand": ["customer", "items"]}),
        (b"a[b][c]=d", {"a": {"b": {"c": "d"}}}),
        (b"expand[10]=k&expand[2]=j", {"expand": ["j", "k"]}),  # numeric order, not text
    ],
)
def test_decode_form(body: bytes, expected: dict[str, Any]) -> None:
    assert decode_form(body) == expected


@pytest.mark.parametrize("body", [b"a]b=1", b"a[b=1", b"a=1&a[b]=2"])
def test_decode_form_refuses_malformed_names(body: bytes) -> None:
    with pytest.raises(StripeAPIError):
        decode_form(body)


def test_missing_key_is_401(fake: FakeStripe) -> None:
    response = httpx.post(f"{fake.base_url}/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in response.json()["error"]["message"]


def test_wrong_key_is_401_with_the_key_masked(fake: FakeStripe) -> None:
    response = httpx.post(
        f"{fake.base_url}/v1/customers", headers={"Authorization": "Bearer sk_test_nope12345"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API Key provided: sk_test_****2345"


def test_basic_auth_with_the_key_as_user_is_accepted(fake: FakeStripe) -> None:
    token = base64.b64encode(f"{KEY}:".encode()).decode()
    response = httpx.post(
        f"{fake.base_url}/v1/customers", headers={"Authorization": f"Basic {token}"}
    )
    assert response.status_code == 200
    assert response.json()["object"] == "customer"
    assert response.json()["id"].startswith("cus_")


def test_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/v1/charges")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Unrecognized request URL (GET: /v1/charges)."


def test_unknown_parameter_is_refused(client: httpx.Client) -> None:
    response = client.post("/v1/customers", data={"emial": "typo@example.com"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "emial"


@pytest.mark.parametrize(
    ("data", "param", "message"),
    [
        ({"mode": "subscription", "line_items[0][price]": "price_m"}, "success_url", "Missing"),
        ({"mode": "subscription", "success_url": "https://x.example/"}, "line_items", "Missing"),
        (
            {
                "mode": "subscription",
                "success_url": "https://x.example/",
                "line_items[0][price]": "price_zzz",
            },
            "line_items[0][price]",
            "No such price: 'price_zzz'",
        ),
        (
            {
                "mode": "subscription",
                "success_url": "https://x.example/",
                "line_items[0][price]": "price_m",
                "customer": "cus_ghost",
            },
            "customer",
            "No such customer: 'cus_ghost'",
        ),
    ],
)
def test_checkout_errors(
    client: httpx.Client, data: dict[str, str], param: str, message: str
) -> None:
    response = client.post("/v1/checkout/sessions", data=data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]


def test_unknown_subscription_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/subscriptions/sub_nope")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "No such subscription: 'sub_nope'",
        "param": "id",
        "code": "resource_missing",
    }


def test_idempotency_key_replays_the_first_response(fake: FakeStripe, client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "same-key"}
    first = client.post("/v1/customers", data={"email": "a@x.example"}, headers=headers)
    second = client.post("/v1/customers", data={"email": "a@x.example"}, headers=headers)
    assert first.json() == second.json()
    assert sum(c.get("email") == "a@x.example" for c in fake.customers.values()) == 1


def test_event_shapes_and_real_signature(fake: FakeStripe, client: httpx.Client) -> None:
    customer = client.post("/v1/customers").json()
    session = client.post(
        "/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "customer": customer["id"],
            "success_url": "https://x.example/",
            "line_items[0][price]": "price_m",
        },
    ).json()
    assert session["object"] == "checkout.session"
    assert not any(key.startswith("_") for key in session)  # no fake internals leak
    start = len(fake.events)
    sub_id = fake.complete_checkout(session["id"])
    with pytest.raises(ValueError, match="is complete"):
        fake.complete_checkout(session["id"])
    fake.cancel_at_period_end(sub_id)
    fake.fail_payment(sub_id)
    fake.pay_invoice(sub_id)
    fake.delete_subscription(sub_id)
    events = fake.events[start:]
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "checkout.session.completed",
        "invoice.paid",
        "customer.subscription.updated",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.updated",
        "invoice.paid",
        "customer.subscription.deleted",
    ]
    for event in events:
        assert event["object"] == "event" and event["id"].startswith("evt_")
        # Stripe's own verifier accepts the fake's signature...
        body, header = FakeStripe.signed_delivery(event, "whsec_x")
        built = stripe.Webhook.construct_event(body, header, "whsec_x")
        assert built.id == event["id"]
        # ...in the documented format.
        t, v1 = header.split(",")
        assert t.startswith("t=") and abs(int(t[2:]) - time.time()) < 60
        assert v1.startswith("v1=") and len(v1) == 3 + 64
    assert events[3]["data"]["previous_attributes"] == {
        "cancel_at_period_end": False,
        "cancel_at": None,
    }
    assert events[4]["data"]["object"]["parent"]["subscription_details"]["subscription"] == sub_id
