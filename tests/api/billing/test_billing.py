"""Subscriptions end to end: the real API (uvicorn on 127.0.0.1, SQLite and PostgreSQL),
the real `stripe` package talking to the fake Stripe server in tests/support, webhooks
signed with Stripe's real scheme. Nothing of ours is mocked."""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from api.billing import service as billing_service
from api.billing import store as billing_store
from api.config import ConfigError, load_settings
from api.db import Conn, Row
from sorastats.db import connect as connect_ingest
from sorastats.tiers import PAST_DUE_WARNING, TierLimitError
from tests.support.api_client import Account, Client, tier_limit_error
from tests.support.api_server import RunningApi
from tests.support.fake_stripe import FakePrice, FakeStripe, sign_payload
from tests.support.vault_client import VaultUser

# End-to-end tier (make test): the API against the fake Stripe server on 127.0.0.1.
pytestmark = pytest.mark.e2e

SECRET_KEY = "sk_test_billing_api_0123"
WEBHOOK_SECRET = "whsec_test_billing_api"
MONTHLY, YEARLY, FOREIGN = "price_api_month", "price_api_year", "price_not_ours"
CREATOR = "user-bbbbbbbbbbbbbbbbbbbbbbbb"

StartApi = Callable[..., RunningApi]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    prices = {
        MONTHLY: FakePrice(MONTHLY, "month", 500),
        YEARLY: FakePrice(YEARLY, "year", 4800),
        FOREIGN: FakePrice(FOREIGN, "month", 100, product="prod_someone_else"),
    }
    with FakeStripe.running(SECRET_KEY, prices) as server:
        yield server


def stats_db(folder: Path) -> Path:
    """A real ingest DuckDB file with one creator and three days of counters."""
    path = folder / "sorastats.duckdb"
    con = connect_ingest(path)
    seen = datetime(2026, 11, 1, 6, 30)
    con.execute(
        "INSERT INTO creators (id, username, first_seen_at, last_seen_at) VALUES (?, 'bee', ?, ?)",
        [CREATOR, seen, seen],
    )
    for day, followers in ((1, 10), (2, 25), (3, None)):
        con.execute(
            "INSERT INTO creator_snapshots (creator_id, captured_on, captured_at, "
            "follower_count, post_count) VALUES (?, ?, ?, ?, 4)",
            [CREATOR, date(2026, 11, day), datetime(2026, 11, day, 6, 30), followers],
        )
    con.close()
    return path


@pytest.fixture
def api(start_api: StartApi, fake: FakeStripe, tmp_path: Path) -> RunningApi:
    return start_api(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_PRICE_PRO_MONTHLY=MONTHLY,
        STRIPE_PRICE_PRO_YEARLY=YEARLY,
        STRIPE_API_BASE=fake.base_url,
        STATS_DB_PATH=str(stats_db(tmp_path)),
    )


_count = iter(range(1_000_000))


def user(api: RunningApi) -> tuple[Client, str]:
    client = api.client()
    client.signed_up(Account(f"payer{next(_count)}@example.com", "correct horse"))
    return client, str(client.get("/api/me").json()["user"]["id"])


def deliver(
    api: RunningApi, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, **kw: Any
) -> httpx.Response:
    """POST a signed event as Stripe would: no cookie, no CSRF token, no Origin."""
    body, header = FakeStripe.signed_delivery(event, secret, **kw)
    return raw_delivery(api, body, {"Stripe-Signature": header})


def raw_delivery(api: RunningApi, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with api.http() as http:
        return http.post(
            "/api/billing/webhook",
            content=body,
            headers={"Content-Type": "application/json", "User-Agent": "Stripe/1.0", **headers},
        )


def start_checkout(client: Client, interval: str = "month") -> str:
    """POST /api/billing/checkout; returns the Checkout Session id from the URL."""
    response = client.post("/api/billing/checkout", {"plan": "pro", "interval": interval})
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert "/c/pay/cs_test_" in url
    return str(url.rsplit("/", 1)[1])


def pay(fake: FakeStripe, session_id: str) -> tuple[str, list[dict[str, Any]]]:
    start = len(fake.events)
    sub_id = fake.complete_checkout(session_id)
    return sub_id, fake.events[start:]


def subscribe(api: RunningApi, fake: FakeStripe, client: Client) -> str:
    sub_id, events = pay(fake, start_checkout(client))
    for event in events:
        assert deliver(api, event).status_code == 200
    return sub_id


def summary(client: Client) -> dict[str, Any]:
    response = client.get("/api/billing")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def event_count(api: RunningApi) -> int:
    def count(conn: Conn) -> int:
        row = conn.one("SELECT count(*) AS n FROM stripe_events")
        return int(row["n"]) if row else 0

    return api.services.db.call(count, write=False)


def stored_subscription(api: RunningApi, user_id: str) -> Row | None:
    return api.services.db.call(billing_store.subscription_of, user_id, write=False)


def test_checkout_grants_nothing_until_the_webhook_then_pro(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, user_id = user(api)
    assert summary(client)["tier"] == "free"
    session_id = start_checkout(client, "year")
    created = fake.checkout_sessions[session_id]
    assert created["client_reference_id"] == user_id
    assert created["_line_items"][0]["price"] == YEARLY  # from the settings, never the client
    assert fake.customers[created["customer"]]["metadata"]["sorastats_user_id"] == user_id
    assert created["success_url"] == f"{api.base_url}/account/?billing=success"
    sub_id, events = pay(fake, session_id)
    # Paid and back on the success URL, but no webhook yet: still free.
    assert summary(client)["tier"] == "free"
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "checkout.session.completed",
        "invoice.paid",
    ]
    first = deliver(api, events[0])
    assert first.status_code == 200 and first.json()["applied"] is True
    for event in events[1:]:
        assert deliver(api, event).status_code == 200
    body = summary(client)
    period_end = fake.subscriptions[sub_id]["items"]["data"][0]["current_period_end"]
    assert body == {
        "billing_enabled": True,
        "tier": "pro",
        "plan": "pro",
        "status": "active",
        "warning": None,
        "interval": "year",
        "current_period_end": datetime.fromtimestamp(period_end, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "cancel_at_period_end": False,
        "cancel_at": None,
        "has_customer": True,
    }
    # A second checkout would charge twice: refused, pointing at the portal.
    again = client.post("/api/billing/checkout", {"plan": "pro", "interval": "month"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_subscribed"


def test_one_customer_per_user_across_checkouts(api: RunningApi, fake: FakeStripe) -> None:
    client, user_id = user(api)
    first, second = start_checkout(client), start_checkout(client, "year")
    customers = {fake.checkout_sessions[s]["customer"] for s in (first, second)}
    assert len(customers) == 1
    stored = api.services.db.call(billing_store.stripe_customer_of, user_id, write=False)
    assert customers == {stored}


def test_cancel_at_period_end_then_deletion_makes_the_user_free(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, _ = user(api)
    sub_id = subscribe(api, fake, client)
    assert deliver(api, fake.cancel_at_period_end(sub_id)).status_code == 200
    body = summary(client)
    assert body["tier"] == "pro" and body["cancel_at_period_end"] is True
    assert body["cancel_at"] == body["current_period_end"]  # paid until the period ends
    assert deliver(api, fake.delete_subscription(sub_id)).status_code == 200
    body = summary(client)
    assert (body["tier"], body["status"]) == ("free", "canceled")


def test_payment_failure_warns_then_ends_pro_when_stripe_gives_up(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, _ = user(api)
    sub_id = subscribe(api, fake, client)
    start = len(fake.events)
    fake.fail_payment(sub_id)
    failed = fake.events[start:]
    assert failed[0]["type"] == "invoice.payment_failed"
    assert deliver(api, failed[0]).json()["applied"] is True  # read back: past_due
    body = summary(client)
    assert (body["tier"], body["status"], body["warning"]) == ("pro", "past_due", PAST_DUE_WARNING)
    assert deliver(api, fake.update_subscription(sub_id, status="unpaid")).status_code == 200
    assert summary(client)["tier"] == "free"
    start = len(fake.events)
    fake.pay_invoice(sub_id)  # the customer fixed the card
    for event in fake.events[start:]:
        deliver(api, event)
    assert (summary(client)["tier"], summary(client)["warning"]) == ("pro", None)


def test_the_same_event_twice_is_applied_once(api: RunningApi, fake: FakeStripe) -> None:
    client, user_id = user(api)
    sub_id, events = pay(fake, start_checkout(client))
    created = events[0]
    assert deliver(api, created).json()["applied"] is True
    recorded = event_count(api)
    row = stored_subscription(api, user_id)
    reads = len([r for r in fake.requests if r.path == f"/v1/subscriptions/{sub_id}"])
    again = deliver(api, created)
    assert again.status_code == 200
    assert again.json() == {"received": True, "applied": False, "reason": "duplicate event"}
    assert event_count(api) == recorded
    assert stored_subscription(api, user_id) == row  # not even updated_at moved
    assert len([r for r in fake.requests if r.path == f"/v1/subscriptions/{sub_id}"]) == reads


def test_updated_before_created_keeps_the_newest_state(api: RunningApi, fake: FakeStripe) -> None:
    client, _ = user(api)
    sub_id, events = pay(fake, start_checkout(client))
    updated = fake.cancel_at_period_end(sub_id)
    assert deliver(api, updated).status_code == 200  # arrives first
    assert deliver(api, events[0]).status_code == 200  # the older `created`, late
    body = summary(client)
    assert (body["tier"], body["cancel_at_period_end"]) == ("pro", True)


def test_deleted_before_created_stays_free(api: RunningApi, fake: FakeStripe) -> None:
    client, _ = user(api)
    sub_id, events = pay(fake, start_checkout(client))
    deleted = fake.delete_subscription(sub_id)
    assert deliver(api, deleted).json()["applied"] is True
    late = deliver(api, events[0])
    assert late.status_code == 200 and late.json()["applied"] is True  # same state again
    assert summary(client)["tier"] == "free"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("forged", "Invalid signature"),
        ("stale", "Invalid signature"),
        ("unsigned", "Missing Stripe-Signature"),
        ("garbage_header", "Invalid signature"),
    ],
)
def test_bad_webhooks_get_400_and_change_nothing(
    api: RunningApi, fake: FakeStripe, case: str, expected: str
) -> None:
    client, user_id = user(api)
    _, events = pay(fake, start_checkout(client))
    event = events[0]
    before = event_count(api)
    if case == "forged":
        response = deliver(api, event, secret="whsec_attacker")
    elif case == "stale":
        response = deliver(api, event, timestamp=int(time.time()) - 301)
    elif case == "unsigned":
        body, _ = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
        response = raw_delivery(api, body, {})
    else:
        body, _ = FakeStripe.signed_delivery(event, WEBHOOK_SECRET)
        response = raw_delivery(api, body, {"Stripe-Signature": "t=abc,v1=zz"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert expected in response.json()["error"]["message"]
    assert event_count(api) == before
    assert stored_subscription(api, user_id) is None
    assert summary(client)["tier"] == "free"
    # The genuine delivery still works afterwards: nothing was used up.
    assert deliver(api, event).json()["applied"] is True


def _odd_event(event: dict[str, Any], case: str) -> bytes:
    """The signed body of `event` with one field made odd (as raw JSON text)."""
    odd = copy.deepcopy(event)
    obj = odd["data"]["object"]
    if case == "surrogate_customer":
        obj["customer"] = "\ud800"  # json.dumps writes the escape "\ud800"
    elif case == "surrogate_key":
        obj["\udc00"] = 1
    elif case == "type_not_a_string":
        odd["type"] = 5
    elif case == "created_a_string":
        odd["created"] = "yesterday"
    elif case == "data_a_list":
        odd["data"] = []
    elif case == "nul_in_id":
        odd["id"] = "evt_\x00"
    elif case == "nul_in_type":
        odd["type"] = "customer.subscription.created\x00"
    elif case == "nul_in_subscription_id":
        obj["id"] = "sub_\x00"
    elif case == "unknown_subscription":
        obj["id"] = "sub_that_stripe_does_not_have"
    elif case == "subscription_id_an_object":
        obj["id"] = {"nested": ["deep"]}
    body, _ = FakeStripe.signed_delivery(odd, WEBHOOK_SECRET)
    if case == "created_nan":
        body = re.sub(rb'"created": \d+', b'"created": NaN', body, count=1)
    elif case == "created_1e400":
        body = re.sub(rb'"created": \d+', b'"created": 1e400', body, count=1)
    elif case == "not_json":
        body = b"{not json"
    elif case == "not_an_event":
        body = b'{"object": "list", "data": []}'
    return body


NAMES_NO_SUBSCRIPTION = {"nul_in_subscription_id", "subscription_id_an_object"}


@pytest.mark.parametrize(
    "case",
    [
        "surrogate_customer",
        "surrogate_key",
        "type_not_a_string",
        "created_a_string",
        "created_nan",
        "created_1e400",
        "data_a_list",
        "nul_in_id",
        "nul_in_type",
        "nul_in_subscription_id",
        "unknown_subscription",
        "subscription_id_an_object",
        "not_json",
        "not_an_event",
    ],
)
def test_signed_events_we_cannot_use_are_acknowledged_logged_and_change_nothing(
    api: RunningApi, fake: FakeStripe, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Stripe redelivers anything but a 2xx for days: a signed event we cannot use is
    answered 200 (`applied` false), logged without payload or secret, and changes nothing."""
    caplog.set_level(logging.INFO, logger="api.billing")
    client, user_id = user(api)
    _, events = pay(fake, start_checkout(client))
    created = events[0]
    assert created["type"] == "customer.subscription.created"
    before = event_count(api)
    body = _odd_event(created, case)
    signature = sign_payload(body, WEBHOOK_SECRET)
    response = raw_delivery(api, body, {"Stripe-Signature": signature})
    assert response.status_code == 200, response.text
    answer = response.json()
    if case in NAMES_NO_SUBSCRIPTION:  # an id we could not use is no id: the usual no-op
        assert answer == {"received": True, "applied": False, "reason": "names no subscription"}
        assert stored_subscription(api, user_id) is None
        return  # (its event id is recorded as processed, as for any such event)
    assert answer["applied"] is False and answer["reason"].startswith("unusable event: ")
    logged = [r for r in caplog.records if "acknowledged but not used" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelname == "WARNING"
    assert event_count(api) == before
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert WEBHOOK_SECRET not in text and signature not in text
    assert stored_subscription(api, user_id) is None
    assert summary(client)["tier"] == "free"
    # The genuine delivery still works afterwards: nothing was used up.
    assert deliver(api, created).json()["applied"] is True


@pytest.mark.parametrize(
    "changes",
    [{"status": "active\x00"}, {"status": 7}, {"customer": {"id": 5}}, {"created": None}],
)
def test_a_subscription_stripe_answers_oddly_is_acknowledged_and_keeps_the_stored_state(
    api: RunningApi, fake: FakeStripe, changes: dict[str, Any]
) -> None:
    """The read-back, not the event, carries the odd value (a Stripe change or bug)."""
    client, user_id = user(api)
    sub_id = subscribe(api, fake, client)
    assert summary(client)["tier"] == "pro"
    kept = stored_subscription(api, user_id)
    fake.subscriptions[sub_id].update(changes)
    event = fake.update_subscription(sub_id, cancel_at_period_end=True)
    response = deliver(api, event)
    assert response.status_code == 200, response.text
    assert response.json()["applied"] is False
    assert response.json()["reason"].startswith("unusable event: ")
    assert stored_subscription(api, user_id) == kept
    assert summary(client)["tier"] == "pro"


def test_a_signed_body_changed_in_transit_is_refused(api: RunningApi, fake: FakeStripe) -> None:
    client, _ = user(api)
    _, events = pay(fake, start_checkout(client))
    body, header = FakeStripe.signed_delivery(events[0], WEBHOOK_SECRET)
    tampered = body.replace(b'"active"', b'"trialing"')
    assert tampered != body
    assert raw_delivery(api, tampered, {"Stripe-Signature": header}).status_code == 400


def test_subscription_to_a_price_we_do_not_sell_grants_nothing(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, user_id = user(api)
    session_id = start_checkout(client)
    fake.checkout_sessions[session_id]["_line_items"][0]["price"] = FOREIGN
    _, events = pay(fake, session_id)
    reasons = set()
    for event in events:
        response = deliver(api, event)
        assert response.status_code == 200
        assert response.json()["applied"] is False
        reasons.add(response.json()["reason"])
    assert reasons == {"subscription price is not a configured plan; ignored"}
    assert stored_subscription(api, user_id) is None
    assert summary(client)["tier"] == "free"


@pytest.mark.parametrize(
    "body",
    [
        {"plan": "pro", "interval": "week"},
        {"plan": "enterprise", "interval": "month"},
        {"plan": "free", "interval": "month"},
    ],
)
def test_checkout_of_an_unknown_plan_is_refused(api: RunningApi, body: dict[str, str]) -> None:
    client, user_id = user(api)
    response = client.post("/api/billing/checkout", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_plan"
    assert api.services.db.call(billing_store.stripe_customer_of, user_id, write=False) is None


def test_checkout_rejects_a_price_id_from_the_client(api: RunningApi) -> None:
    client, _ = user(api)
    response = client.post(
        "/api/billing/checkout", {"plan": "pro", "interval": "month", "price": FOREIGN}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_tampered_client_reference_id_never_moves_pro_to_another_user(
    api: RunningApi, fake: FakeStripe
) -> None:
    payer, payer_id = user(api)
    other, other_id = user(api)
    session_id = start_checkout(payer)
    fake.checkout_sessions[session_id]["client_reference_id"] = other_id
    _, events = pay(fake, session_id)
    for event in events:
        assert deliver(api, event).status_code == 200
    assert summary(payer)["tier"] == "pro"  # the customer's owner paid and gets Pro
    assert summary(other)["tier"] == "free"
    assert stored_subscription(api, other_id) is None
    assert stored_subscription(api, payer_id) is not None


def test_a_customer_we_did_not_create_grants_nothing(api: RunningApi, fake: FakeStripe) -> None:
    client, user_id = user(api)
    session_id = start_checkout(client)
    fake.checkout_sessions[session_id]["customer"] = None  # Stripe makes a new customer
    _, events = pay(fake, session_id)
    for event in events:
        assert deliver(api, event).json()["applied"] is False
    assert summary(client)["tier"] == "free"
    assert stored_subscription(api, user_id) is None


def test_checkout_needs_a_session_and_the_csrf_token(api: RunningApi) -> None:
    anonymous = api.client().post("/api/billing/checkout", {"plan": "pro", "interval": "month"})
    assert anonymous.status_code == 401
    assert api.client().get("/api/billing").status_code == 401
    client, _ = user(api)
    client.csrf = ""
    forged = client.post("/api/billing/checkout", {"plan": "pro", "interval": "month"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"


def test_portal_for_subscribers(api: RunningApi, fake: FakeStripe) -> None:
    client, _ = user(api)
    none_yet = client.post("/api/billing/portal")
    assert none_yet.status_code == 409
    assert none_yet.json()["error"]["code"] == "no_billing_account"
    subscribe(api, fake, client)
    response = client.post("/api/billing/portal")
    assert response.status_code == 200
    portal_id = response.json()["url"].rsplit("/", 1)[1]
    assert fake.portal_sessions[portal_id]["return_url"] == f"{api.base_url}/account/"


def test_stripe_down_is_a_clear_502_and_nothing_stored(start_api: StartApi, tmp_path: Path) -> None:
    api = start_api(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_PRICE_PRO_MONTHLY=MONTHLY,
        STRIPE_PRICE_PRO_YEARLY=YEARLY,
        STRIPE_API_BASE="http://127.0.0.1:9",  # discard port: nothing listens
    )
    client, user_id = user(api)
    response = client.post("/api/billing/checkout", {"plan": "pro", "interval": "month"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert api.services.db.call(billing_store.stripe_customer_of, user_id, write=False) is None
    # Deleting an account whose Stripe customer cannot be deleted stops, losing nothing:
    # deleting it anyway would leave a subscription that keeps charging.
    api.services.db.call(billing_store.save_stripe_customer, user_id, "cus_unreachable", 1)
    refused = client.request("DELETE", "/api/me")
    assert refused.status_code == 502
    assert client.get("/api/me").status_code == 200
    assert api.services.db.call(billing_store.user_of_stripe_customer, "cus_unreachable") == user_id


def test_export_and_deletion_cover_billing(api: RunningApi, fake: FakeStripe) -> None:
    client, user_id = user(api)
    sub_id = subscribe(api, fake, client)
    exported = client.get("/api/me/export").json()["subscription"]
    customer_id = fake.subscriptions[sub_id]["customer"]
    assert exported["tier"] == "pro" and exported["status"] == "active"
    assert exported["stripe_customer_id"] == customer_id
    assert exported["subscription"]["subscription_id"] == sub_id
    assert exported["subscription"]["cancel_at_period_end"] is False
    deleted = client.request("DELETE", "/api/me")
    assert deleted.status_code == 200, deleted.text
    # Stripe deleted the customer and cancelled the subscription: never charged again.
    assert customer_id not in fake.customers
    assert fake.subscriptions[sub_id]["status"] == "canceled"
    assert stored_subscription(api, user_id) is None
    assert (
        api.services.db.call(billing_store.user_of_stripe_customer, customer_id, write=False)
        is None
    )
    # Stripe's own `.deleted` event for the gone user changes nothing and is not an error.
    late = deliver(api, fake.events_of("customer.subscription.deleted")[-1])
    assert late.status_code == 200 and late.json()["applied"] is False


def test_csv_export_is_pro_only_and_lifted_by_subscribing(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, _ = user(api)
    path = f"/api/stats/creators/{CREATOR}.csv"
    error = tier_limit_error(client.get(path), "csv_export")
    assert (error["tier"], error["lifted_by"]) == ("free", "pro")
    assert "upgrade to Pro" in error["message"]
    sub_id = subscribe(api, fake, client)
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="sorastats-{CREATOR}.csv"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("captured_on,captured_at,follower_count,following_count,post_count")
    assert lines[1].startswith("2026-11-01,2026-11-01T06:30:00Z,10,,4,")
    assert lines[3].startswith("2026-11-03,2026-11-03T06:30:00Z,,,4,")
    assert len(lines) == 4
    assert client.get("/api/stats/creators/user-nobody.csv").status_code == 404
    assert client.get("/api/stats/creators/a%20b.csv").status_code == 400
    # Pro ends: the export is refused again.
    deliver(api, fake.delete_subscription(sub_id))
    assert client.get(path).status_code == 402


def test_csv_export_without_the_stats_database_is_a_clear_503(
    start_api: StartApi, fake: FakeStripe, tmp_path: Path
) -> None:
    api = start_api(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_PRICE_PRO_MONTHLY=MONTHLY,
        STRIPE_PRICE_PRO_YEARLY=YEARLY,
        STRIPE_API_BASE=fake.base_url,
        STATS_DB_PATH=str(tmp_path / "missing.duckdb"),
    )
    client, _ = user(api)
    subscribe(api, fake, client)
    response = client.get(f"/api/stats/creators/{CREATOR}.csv")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stats_unavailable"
    assert "missing.duckdb is missing" in response.json()["error"]["message"]


def test_limit_checks_on_real_rows_follow_the_subscription(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, user_id = user(api)
    db, stripe = api.services.db, api.services.stripe
    db.call(billing_service.check_room, user_id, stripe, "private_prompts", 49, write=False)
    with pytest.raises(TierLimitError) as refused:
        db.call(billing_service.check_room, user_id, stripe, "private_prompts", 50, write=False)
    assert refused.value.as_json()["error"]["lifted_by"] == "pro"
    with pytest.raises(TierLimitError):
        db.call(billing_service.check_room, user_id, stripe, "tags_per_prompt", 3, write=False)
    assert db.call(billing_service.visible_versions, user_id, stripe, 25, write=False) == 10
    sub_id = subscribe(api, fake, client)
    assert db.call(billing_service.visible_versions, user_id, stripe, 25, write=False) == 25
    assert db.call(billing_service.current_tier, user_id, stripe, write=False).name == "pro"
    db.call(billing_service.check_room, user_id, stripe, "private_prompts", 5000, write=False)
    db.call(billing_service.check_room, user_id, stripe, "tags_per_prompt", 19, write=False)
    with pytest.raises(TierLimitError) as capped:
        db.call(billing_service.check_room, user_id, stripe, "tags_per_prompt", 20, write=False)
    assert capped.value.as_json()["error"]["lifted_by"] is None  # no plan allows more
    deliver(api, fake.delete_subscription(sub_id))
    with pytest.raises(TierLimitError):
        db.call(billing_service.check_room, user_id, stripe, "private_prompts", 50, write=False)


def test_billing_disabled_everyone_free_and_endpoints_503(
    start_api: StartApi, fake: FakeStripe, tmp_path: Path
) -> None:
    api = start_api(STATS_DB_PATH=str(stats_db(tmp_path)))  # no STRIPE_* settings
    client, user_id = user(api)
    for method, path in [
        ("GET", "/api/billing"),
        ("POST", "/api/billing/checkout"),
        ("POST", "/api/billing/portal"),
    ]:
        body = {"plan": "pro", "interval": "month"} if path.endswith("checkout") else None
        response = client.request(method, path, json=body)
        assert response.status_code == 503, path
        assert response.json()["error"]["code"] == "billing_disabled"
    # Anonymous pages learn it too (they hide the upgrade buttons).
    assert api.client().get("/api/billing").status_code == 503
    payload, header = FakeStripe.signed_delivery({"id": "evt_1", "object": "event"}, WEBHOOK_SECRET)
    assert raw_delivery(api, payload, {"Stripe-Signature": header}).status_code == 503
    # Even a stored Pro subscription (billing switched off later) grants nothing.
    api.services.db.call(billing_store.save_stripe_customer, user_id, "cus_old", 1)
    api.services.db.call(
        billing_store.save_subscription,
        user_id,
        {
            "subscription_id": "sub_old",
            "customer_id": "cus_old",
            "status": "active",
            "price_id": MONTHLY,
            "current_period_end": None,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "created": 1,
            "as_of": 1.0,
        },
        1,
    )
    assert client.get(f"/api/stats/creators/{CREATOR}.csv").status_code == 402
    assert client.get("/api/me/export").json()["subscription"]["tier"] == "free"
    # Deleting that account still works (the Stripe customer is logged for manual cleanup).
    assert client.request("DELETE", "/api/me").status_code == 200


def test_concurrent_redeliveries_apply_once(api: RunningApi, fake: FakeStripe) -> None:
    client, _ = user(api)
    _, events = pay(fake, start_checkout(client))
    created = events[0]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: deliver(api, created), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert sum(r.json()["applied"] for r in responses) == 1
    assert event_count(api) == 1
    assert summary(client)["tier"] == "pro"


def test_csv_export_while_the_nightly_build_writes_is_a_clear_503(
    api: RunningApi, fake: FakeStripe
) -> None:
    client, _ = user(api)
    subscribe(api, fake, client)
    writer = duckdb.connect(api.settings.STATS_DB_PATH)  # holds the write lock
    try:
        response = client.get(f"/api/stats/creators/{CREATOR}.csv")
    finally:
        writer.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert "being updated" in response.json()["error"]["message"]
    assert client.get(f"/api/stats/creators/{CREATOR}.csv").status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRIPE_SECRET_KEY", "pk_live_publishable_not_secret"),
        ("STRIPE_WEBHOOK_SECRET", "sk_test_pasted_in_the_wrong_box"),
        ("STRIPE_PRICE_PRO_MONTHLY", "prod_123"),
        ("STRIPE_API_BASE", "ftp://stripe.example"),
    ],
)
def test_malformed_stripe_setting_stops_the_start_naming_it(name: str, value: str) -> None:
    env = {"DEV_MODE": "1", "SECRET_KEY": "x" * 40, name: value}
    with pytest.raises(ConfigError, match=name) as refused:
        load_settings(env)
    if name != "STRIPE_API_BASE":
        assert value not in str(refused.value)  # a secret in the wrong box is never echoed


def test_vault_limits_are_enforced_lifted_by_pro_and_nothing_is_lost_when_pro_ends(
    api: RunningApi, fake: FakeStripe
) -> None:
    client = api.client()
    account = Account(f"limits{next(_count)}@example.com", "correct horse")
    client.signed_up(account)
    vault = VaultUser(client, account)
    ids = [vault.create_id(title=f"t{i}", body="b") for i in range(50)]
    refused = tier_limit_error(vault.create(expect=402), "private_prompts")
    assert (refused["tier"], refused["allowed"], refused["lifted_by"]) == ("free", 50, "pro")
    assert "Pro" in refused["message"]

    # A prompt with 12 versions: free lists the newest 10, keeps all.
    for base in range(1, 12):
        vault.edit(ids[0], base=base, body=f"v{base + 1}")
    shown = client.get(f"/api/prompts/{ids[0]}").json()["prompt"]
    assert [v["version"] for v in shown["versions"]] == list(range(3, 13))
    assert shown["hidden_versions"] == 2

    sub_id = subscribe(api, fake, client)
    vault.create_id(title="the 51st")  # lifted
    shown = client.get(f"/api/prompts/{ids[0]}").json()["prompt"]
    assert len(shown["versions"]) == 12 and shown["hidden_versions"] == 0

    assert deliver(api, fake.delete_subscription(sub_id)).status_code == 200
    assert summary(client)["tier"] == "free"
    assert vault.create(expect=402).json()["error"]["code"] == "tier_limit"
    # Over the limit, everything stays readable and editable; only creating is blocked.
    assert len(client.get("/api/prompts").json()["prompts"]) == 51
    vault.edit(ids[1], base=1, body="still editable")
    latest = client.get(f"/api/prompts/{ids[1]}").json()["prompt"]["latest"]
    assert vault.decrypt({"id": ids[1], **_prompt(client, ids[1])}, latest)["body"] == (
        "still editable"
    )


def _prompt(client: Client, prompt_id: str) -> dict[str, Any]:
    prompt: dict[str, Any] = client.get(f"/api/prompts/{prompt_id}").json()["prompt"]
    return prompt
