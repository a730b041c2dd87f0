"""Whole subscription stories: fake Stripe emits events, the gateway verifies them and
reads the subscription back, the pure rules decide, and `Ledger` (a dict standing in for
the accounts database until the API lands) applies exactly what the webhook route will:

    event = gateway.verify_webhook(body, header)          # 400 if forged/stale/unsigned
    facts = gateway.read_event_facts(event)               # network: outside the transaction
    with transaction:
        if not record_event_id(event.id): return          # redelivery: nothing to do
        owner = resolve_owner(user_for_customer(facts.customer_id),
                              facts.references.client_reference_id)
        if owner.user_id and facts.subscription:
            if should_replace(stored_for(owner.user_id), facts.subscription).write:
                store(owner.user_id, facts.subscription)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from api.billing.config import StripeSettings
from api.billing.state import SubscriptionState, resolve_owner, should_replace
from api.billing.stripe_gateway import StripeGateway, WebhookVerificationError
from sorastats.tiers import PAST_DUE_WARNING, Entitlement, entitlement_for_status
from tests.support.fake_stripe import FakePrice, FakeStripe

# End-to-end tier (make test): the fake Stripe server on 127.0.0.1.
pytestmark = pytest.mark.e2e

SECRET_KEY = "sk_test_flow_0123456789"
WEBHOOK_SECRET = "whsec_test_flow"
MONTHLY, YEARLY = "price_flow_month", "price_flow_year"


@dataclass
class Ledger:
    billing_enabled: bool = True
    customers: dict[str, str] = field(default_factory=dict)  # customer id -> user id
    subscriptions: dict[str, SubscriptionState] = field(default_factory=dict)  # by user
    seen_events: set[str] = field(default_factory=set)
    suspicious: list[str] = field(default_factory=list)

    def customer_for(self, gateway: StripeGateway, user_id: str) -> str:
        for customer_id, owner in self.customers.items():
            if owner == user_id:
                return customer_id
        customer_id = gateway.create_customer(user_id, f"{user_id}@example.com")
        self.customers[customer_id] = user_id
        return customer_id

    def deliver(self, gateway: StripeGateway, event: dict[str, Any]) -> str:
        body, header = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
        return self.receive(gateway, body, header)

    def receive(self, gateway: StripeGateway, body: bytes, header: str | None) -> str:
        event = gateway.verify_webhook(body, header)
        facts = gateway.read_event_facts(event)
        if event.id in self.seen_events:
            return "duplicate"
        self.seen_events.add(event.id)
        if facts.subscription is None:
            return "nothing to apply"
        owner = resolve_owner(
            self.customers.get(facts.customer_id or ""), facts.references.client_reference_id
        )
        if owner.suspicious:
            self.suspicious.append(f"{event.id}: {owner.reason}")
        if owner.user_id is None:
            return "no owner"
        decision = should_replace(self.subscriptions.get(owner.user_id), facts.subscription)
        if decision.write:
            self.subscriptions[owner.user_id] = facts.subscription
        return decision.reason

    def entitlement(self, user_id: str) -> Entitlement:
        stored = self.subscriptions.get(user_id)
        return entitlement_for_status(
            stored.status if stored else None, billing_enabled=self.billing_enabled
        )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    prices = {MONTHLY: FakePrice(MONTHLY, "month", 500), YEARLY: FakePrice(YEARLY, "year", 4800)}
    with FakeStripe.running(SECRET_KEY, prices) as server:
        yield server


@pytest.fixture
def gateway(fake: FakeStripe) -> Iterator[StripeGateway]:
    gw = StripeGateway(
        StripeSettings(SECRET_KEY, WEBHOOK_SECRET, MONTHLY, YEARLY, api_base=fake.base_url)
    )
    yield gw
    gw.close()


def subscribe(
    fake: FakeStripe, gateway: StripeGateway, ledger: Ledger, user_id: str, **kw: Any
) -> tuple[str, list[dict[str, Any]]]:
    """Checkout for `user_id` and pay; returns the subscription id and the new events."""
    session = gateway.create_checkout_session(
        customer_id=ledger.customer_for(gateway, user_id),
        user_id=user_id,
        plan="pro",
        interval="month",
        success_url="https://sorastats.example/account/",
        cancel_url="https://sorastats.example/pricing/",
    )
    start = len(fake.events)
    sub_id = fake.complete_checkout(session.id, **kw)
    return sub_id, fake.events[start:]


def deliver_all(gateway: StripeGateway, ledger: Ledger, events: list[dict[str, Any]]) -> None:
    for event in events:
        ledger.deliver(gateway, event)


def new_events(fake: FakeStripe, start: int) -> list[dict[str, Any]]:
    return fake.events[start:]


def test_checkout_alone_grants_nothing_then_the_webhook_makes_the_user_pro(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    ledger = Ledger()
    sub_id, events = subscribe(fake, gateway, ledger, "alice")
    # Paid at Stripe, success URL reached, but no webhook yet: still free.
    assert ledger.entitlement("alice").tier.name == "free"
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "checkout.session.completed",
        "invoice.paid",
    ]
    deliver_all(gateway, ledger, events)
    assert ledger.entitlement("alice").tier.name == "pro"
    assert ledger.subscriptions["alice"].id == sub_id
    assert ledger.suspicious == []


@pytest.mark.parametrize("only", ["customer.subscription.created", "checkout.session.completed"])
def test_any_one_event_is_enough(fake: FakeStripe, gateway: StripeGateway, only: str) -> None:
    ledger = Ledger()
    _, events = subscribe(fake, gateway, ledger, f"solo-{only}")
    deliver_all(gateway, ledger, [e for e in events if e["type"] == only])
    assert ledger.entitlement(f"solo-{only}").tier.name == "pro"


def test_trial_is_pro(fake: FakeStripe, gateway: StripeGateway) -> None:
    ledger = Ledger()
    _, events = subscribe(fake, gateway, ledger, "trial", trial_days=14)
    deliver_all(gateway, ledger, events)
    assert ledger.entitlement("trial").as_json() == {
        "tier": "pro",
        "status": "trialing",
        "warning": None,
    }


def test_cancel_at_period_end_then_deletion_makes_the_user_free(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    ledger = Ledger()
    sub_id, events = subscribe(fake, gateway, ledger, "bob")
    deliver_all(gateway, ledger, events)
    ledger.deliver(gateway, fake.cancel_at_period_end(sub_id))
    stored = ledger.subscriptions["bob"]
    assert stored.cancel_at_period_end is True
    assert stored.cancel_at == stored.current_period_end
    assert ledger.entitlement("bob").tier.name == "pro"  # paid until the period ends
    ledger.deliver(gateway, fake.delete_subscription(sub_id))
    assert ledger.subscriptions["bob"].status == "canceled"
    assert ledger.entitlement("bob").tier.name == "free"


def test_payment_failure_keeps_pro_with_a_warning_until_stripe_gives_up(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    ledger = Ledger()
    sub_id, events = subscribe(fake, gateway, ledger, "carol")
    deliver_all(gateway, ledger, events)
    start = len(fake.events)
    fake.fail_payment(sub_id)
    failed = new_events(fake, start)
    assert [e["type"] for e in failed] == [
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    ledger.deliver(gateway, failed[0])  # the invoice event alone: the read-back says past_due
    entitlement = ledger.entitlement("carol")
    assert (entitlement.tier.name, entitlement.warning) == ("pro", PAST_DUE_WARNING)
    # Retries exhausted: Stripe marks the subscription unpaid.
    ledger.deliver(gateway, fake.update_subscription(sub_id, status="unpaid"))
    assert ledger.entitlement("carol").tier.name == "free"
    # The customer fixes the card; the invoice is paid.
    start = len(fake.events)
    fake.pay_invoice(sub_id)
    deliver_all(gateway, ledger, new_events(fake, start))
    assert ledger.entitlement("carol").as_json()["warning"] is None
    assert ledger.entitlement("carol").tier.name == "pro"


def test_the_same_event_twice_changes_nothing(fake: FakeStripe, gateway: StripeGateway) -> None:
    ledger = Ledger()
    sub_id, events = subscribe(fake, gateway, ledger, "dave")
    deliver_all(gateway, ledger, events)
    cancel = fake.delete_subscription(sub_id)
    assert ledger.deliver(gateway, cancel) != "duplicate"
    snapshot = dict(ledger.subscriptions)
    assert ledger.deliver(gateway, cancel) == "duplicate"
    assert ledger.subscriptions == snapshot
    assert ledger.entitlement("dave").tier.name == "free"


def test_updated_arriving_before_created(fake: FakeStripe, gateway: StripeGateway) -> None:
    ledger = Ledger()
    sub_id, events = subscribe(fake, gateway, ledger, "erin")
    updated = fake.cancel_at_period_end(sub_id)
    created = next(e for e in events if e["type"] == "customer.subscription.created")
    ledger.deliver(gateway, updated)
    after_updated = ledger.subscriptions["erin"]
    ledger.deliver(gateway, created)  # late and stale: its payload says not cancelling
    assert ledger.subscriptions["erin"].cancel_at_period_end is True
    assert ledger.subscriptions["erin"].as_of >= after_updated.as_of
    assert ledger.entitlement("erin").tier.name == "pro"


def test_late_events_of_a_deleted_subscription_do_not_revive_it(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    ledger = Ledger()
    sub_id, events = subscribe(fake, gateway, ledger, "frank")
    ledger.deliver(gateway, fake.delete_subscription(sub_id))
    deliver_all(gateway, ledger, events)  # created/completed/paid, delivered very late
    assert ledger.subscriptions["frank"].status == "canceled"
    assert ledger.entitlement("frank").tier.name == "free"


def test_resubscribing_after_cancellation(fake: FakeStripe, gateway: StripeGateway) -> None:
    ledger = Ledger()
    old_id, old_events = subscribe(fake, gateway, ledger, "gina")
    deleted = fake.delete_subscription(old_id)
    new_id, new_events = subscribe(fake, gateway, ledger, "gina")
    deliver_all(gateway, ledger, new_events)
    deliver_all(gateway, ledger, [*old_events, deleted])  # the old story arrives last
    assert ledger.subscriptions["gina"].id == new_id
    assert ledger.entitlement("gina").tier.name == "pro"


def test_tampered_client_reference_id_does_not_grant_another_user_pro(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    ledger = Ledger()
    mallory_customer = ledger.customer_for(gateway, "mallory")
    ledger.customer_for(gateway, "victim")
    # A session paid by mallory's customer, carrying another user's id as the reference.
    session = gateway.create_checkout_session(
        customer_id=mallory_customer,
        user_id="victim",
        plan="pro",
        interval="year",
        success_url="https://sorastats.example/account/",
        cancel_url="https://sorastats.example/pricing/",
    )
    start = len(fake.events)
    fake.complete_checkout(session.id)
    deliver_all(gateway, ledger, new_events(fake, start))
    assert ledger.entitlement("victim").tier.name == "free"
    assert "victim" not in ledger.subscriptions
    assert ledger.entitlement("mallory").tier.name == "pro"  # the payer's customer
    assert len(ledger.suspicious) == 1
    assert "client_reference_id does not match" in ledger.suspicious[0]


def test_customer_we_never_created_grants_nothing(fake: FakeStripe, gateway: StripeGateway) -> None:
    ledger = Ledger()
    stranger = gateway.create_customer("stranger")  # made, but not recorded by us
    session = gateway.create_checkout_session(
        customer_id=stranger,
        user_id="hopeful",
        plan="pro",
        interval="month",
        success_url="https://sorastats.example/account/",
        cancel_url="https://sorastats.example/pricing/",
    )
    start = len(fake.events)
    fake.complete_checkout(session.id)
    deliver_all(gateway, ledger, new_events(fake, start))
    assert ledger.subscriptions == {}
    assert ledger.entitlement("hopeful").tier.name == "free"
    assert any("not trusted" in line for line in ledger.suspicious)


def test_forged_and_stale_webhooks_change_nothing(fake: FakeStripe, gateway: StripeGateway) -> None:
    ledger = Ledger()
    _, events = subscribe(fake, gateway, ledger, "hank")
    created = events[0]
    forged = FakeStripe.signed_delivery(created, "whsec_guess")
    stale = FakeStripe.signed_delivery(created, WEBHOOK_SECRET, timestamp=int(time.time()) - 600)
    for body, header in (forged, stale, (forged[0], None)):
        with pytest.raises(WebhookVerificationError):
            ledger.receive(gateway, body, header)
    assert ledger.subscriptions == {}
    assert ledger.seen_events == set()
    assert ledger.entitlement("hank").tier.name == "free"


def test_billing_disabled_means_free_even_with_a_subscription(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    ledger = Ledger()
    _, events = subscribe(fake, gateway, ledger, "ivan")
    deliver_all(gateway, ledger, events)
    assert ledger.entitlement("ivan").tier.name == "pro"
    ledger.billing_enabled = False
    assert ledger.entitlement("ivan").tier.name == "free"


def test_hosted_checkout_page_completes_and_redirects(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    import httpx

    ledger = Ledger()
    session = gateway.create_checkout_session(
        customer_id=ledger.customer_for(gateway, "judy"),
        user_id="judy",
        plan="pro",
        interval="month",
        success_url="https://sorastats.example/account/?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://sorastats.example/pricing/",
    )
    page = httpx.get(session.url)
    assert page.status_code == 200 and "<form" in page.text
    start = len(fake.events)
    paid = httpx.post(session.url)
    assert paid.status_code == 303
    assert paid.headers["location"] == (f"https://sorastats.example/account/?session={session.id}")
    deliver_all(gateway, ledger, new_events(fake, start))
    assert ledger.entitlement("judy").tier.name == "pro"
