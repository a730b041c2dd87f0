"""A local stand-in for the Stripe API, speaking its wire format for the calls SoraStats
makes, so the real `stripe` package can be tested against it on 127.0.0.1.

- Requests: form-encoded bodies with Stripe's nested keys (`line_items[0][price]=...`),
  the secret key as `Authorization: Bearer` (or basic auth), `Idempotency-Key` replayed.
- Responses: JSON objects with `object` fields and Stripe-shaped ids (`cus_`, `cs_test_`,
  `bps_`, `sub_`, `si_`, `in_`, `evt_`), API version 2025-03-31+ shapes (the billing
  period on subscription items, an invoice's subscription under `parent`).
- Errors: `{"error": {"type": "invalid_request_error", "code", "message", "param"}}` with
  400 (bad or unknown parameter), 401 (key), 404 (unknown object or route).

Tests drive the world through methods (complete a checkout, cancel, fail a payment);
each change appends Stripe-shaped events to `events`, which `signed_delivery` turns into a
body and a `Stripe-Signature` header made with Stripe's real scheme.

    with FakeStripe.running(secret_key="sk_test_x", prices={...}) as fake:
        settings = StripeSettings(..., api_base=fake.base_url)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.threaded_server import serve_in_thread
from tests.support.tiers import refuse_in_fast_tier

API_VERSION = "2026-10-28.endive"
DAY = 86_400
CHECKOUT_PARAMS = {
    "mode",
    "customer",
    "customer_email",
    "client_reference_id",
    "line_items",
    "success_url",
    "cancel_url",
    "metadata",
    "subscription_data",
    "allow_promotion_codes",
    "expand",
}


@dataclass(frozen=True)
class FakePrice:
    id: str
    interval: str  # "month" or "year"
    unit_amount: int
    currency: str = "usd"
    product: str = "prod_test_pro"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes


class StripeAPIError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"type": "invalid_request_error", "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
        return JSONResponse({"error": error}, status_code=self.status)


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding to nested data: `a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}.
    Lists arrive as `[0]`, `[1]`...; they are rebuilt in index order."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False):
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            raise StripeAPIError(400, f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: dict[str, Any] = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise StripeAPIError(400, f"Invalid parameter: {key}", param=key)
        node[parts[-1]] = value
    # The top level holds parameter names, never list indexes: only its values convert.
    return {name: _lists_from_index_dicts(node) for name, node in root.items()}


def _lists_from_index_dicts(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _lists_from_index_dicts(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


class FakeStripe:
    def __init__(self, secret_key: str, prices: Mapping[str, FakePrice]) -> None:
        self.secret_key = secret_key
        self.prices = dict(prices)
        self.customers: dict[str, dict[str, Any]] = {}
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[RecordedRequest] = []  # every authorized API request
        self.base_url = ""
        self._idempotent: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/customers", self._create_customer, methods=["POST"]),
                Route("/v1/customers/{id}", self._delete_customer, methods=["DELETE"]),
                Route("/v1/checkout/sessions", self._create_checkout_session, methods=["POST"]),
                Route(
                    "/v1/checkout/sessions/{id}", self._retrieve_checkout_session, methods=["GET"]
                ),
                Route("/v1/billing_portal/sessions", self._create_portal, methods=["POST"]),
                Route("/v1/subscriptions/{id}", self._retrieve_subscription, methods=["GET"]),
                Route("/c/pay/{id}", self._hosted_checkout, methods=["GET", "POST"]),
            ],
            exception_handlers={404: _unrecognized, 405: _unrecognized},
        )

    # ---- server lifecycle -------------------------------------------------------------

    @classmethod
    @contextmanager
    def running(cls, secret_key: str, prices: Mapping[str, FakePrice]) -> Iterator[FakeStripe]:
        refuse_in_fast_tier("starts the fake Stripe server")
        fake = cls(secret_key, prices)
        with serve_in_thread(fake.app, name="fake Stripe") as base_url:
            fake.base_url = base_url
            yield fake

    # ---- ids, auth, plumbing ----------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):04d}{secrets.token_hex(8)}"

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        key = ""
        if header.startswith("Bearer "):
            key = header[len("Bearer ") :]
        elif header.startswith("Basic "):
            key = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
        if not key:
            raise StripeAPIError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth "
                "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not hmac.compare_digest(key, self.secret_key):
            raise StripeAPIError(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")

    async def _handle(self, request: Request, create: Any) -> Response:
        body = await request.body()
        try:
            self._authorize(request)
            params = decode_form(body) if request.method == "POST" else {}
            with self._lock:
                self.requests.append(
                    RecordedRequest(
                        request.method, request.url.path, params, dict(request.headers), body
                    )
                )
                key = request.headers.get("idempotency-key")
                replay_key = f"{request.url.path}:{key}" if key else None
                if replay_key and replay_key in self._idempotent:
                    status, content = self._idempotent[replay_key]
                    return Response(content, status, media_type="application/json")
                result = create(params, request)
                content = json.dumps(result).encode()
                if replay_key:
                    self._idempotent[replay_key] = (200, content)
            return Response(content, 200, media_type="application/json")
        except StripeAPIError as exc:
            return exc.response()

    @staticmethod
    def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
        for name in params:
            if name not in allowed:
                raise StripeAPIError(400, f"Received unknown parameter: {name}", param=name)

    @staticmethod
    def _require(params: Mapping[str, Any], name: str) -> str:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise StripeAPIError(
                400, f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
        return value

    def _customer(self, customer_id: str, param: str = "customer") -> dict[str, Any]:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise StripeAPIError(
                400, f"No such customer: '{customer_id}'", param=param, code="resource_missing"
            )
        return customer

    # ---- API routes -------------------------------------------------------------------

    async def _create_customer(self, request: Request) -> Response:
        def create(params: dict[str, Any], _: Request) -> dict[str, Any]:
            self._only(params, {"email", "name", "metadata", "expand"})
            customer = {
                "id": self._id("cus"),
                "object": "customer",
                "created": int(time.time()),
                "email": params.get("email"),
                "livemode": False,
                "metadata": params.get("metadata", {}),
            }
            self.customers[customer["id"]] = customer
            return customer

        return await self._handle(request, create)

    async def _delete_customer(self, request: Request) -> Response:
        def delete(_: dict[str, Any], req: Request) -> dict[str, Any]:
            customer_id = req.path_params["id"]
            if customer_id not in self.customers:
                raise _missing("customer", customer_id)
            # Stripe cancels the customer's subscriptions immediately.
            for subscription in self.subscriptions.values():
                if subscription["customer"] == customer_id and subscription["status"] not in {
                    "canceled",
                    "incomplete_expired",
                }:
                    now = int(time.time())
                    subscription.update(status="canceled", canceled_at=now, ended_at=now)
                    self._emit("customer.subscription.deleted", subscription)
            customer = self.customers.pop(customer_id)
            self._emit("customer.deleted", customer)
            return {"id": customer_id, "object": "customer", "deleted": True}

        return await self._handle(request, delete)

    async def _create_checkout_session(self, request: Request) -> Response:
        def create(params: dict[str, Any], _: Request) -> dict[str, Any]:
            self._only(params, CHECKOUT_PARAMS)
            mode = self._require(params, "mode")
            if mode != "subscription":
                raise StripeAPIError(
                    400, "This fake supports mode=subscription only.", param="mode"
                )
            success_url = self._require(params, "success_url")
            line_items = params.get("line_items")
            if not isinstance(line_items, list) or not line_items:
                raise StripeAPIError(
                    400,
                    "Missing required param: line_items.",
                    param="line_items",
                    code="parameter_missing",
                )
            price_id = line_items[0].get("price") if isinstance(line_items[0], dict) else None
            if price_id not in self.prices:
                raise StripeAPIError(
                    400,
                    f"No such price: '{price_id}'",
                    param="line_items[0][price]",
                    code="resource_missing",
                )
            customer_id = params.get("customer")
            if customer_id is not None:
                self._customer(customer_id)
            session_id = self._id("cs_test")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": mode,
                "status": "open",
                "payment_status": "unpaid",
                "customer": customer_id,
                "client_reference_id": params.get("client_reference_id"),
                "success_url": success_url,
                "cancel_url": params.get("cancel_url"),
                "subscription": None,
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
                "expires_at": int(time.time()) + DAY,
                "livemode": False,
                "url": f"{self.base_url}/c/pay/{session_id}",
                # Not part of Stripe's object; kept to build the subscription at completion.
                "_line_items": line_items,
                "_subscription_data": params.get("subscription_data", {}),
            }
            self.checkout_sessions[session_id] = session
            return _public(session)

        return await self._handle(request, create)

    async def _retrieve_checkout_session(self, request: Request) -> Response:
        def retrieve(_: dict[str, Any], req: Request) -> dict[str, Any]:
            session = self.checkout_sessions.get(req.path_params["id"])
            if session is None:
                raise _missing("checkout.session", req.path_params["id"])
            return _public(session)

        return await self._handle(request, retrieve)

    async def _create_portal(self, request: Request) -> Response:
        def create(params: dict[str, Any], _: Request) -> dict[str, Any]:
            self._only(params, {"customer", "return_url", "configuration", "expand"})
            customer = self._customer(self._require(params, "customer"))
            portal_id = self._id("bps")
            portal = {
                "id": portal_id,
                "object": "billing_portal.session",
                "customer": customer["id"],
                "return_url": params.get("return_url"),
                "created": int(time.time()),
                "livemode": False,
                "url": f"{self.base_url}/p/session/{portal_id}",
            }
            self.portal_sessions[portal_id] = portal
            return portal

        return await self._handle(request, create)

    async def _retrieve_subscription(self, request: Request) -> Response:
        def retrieve(_: dict[str, Any], req: Request) -> dict[str, Any]:
            subscription = self.subscriptions.get(req.path_params["id"])
            if subscription is None:
                raise _missing("subscription", req.path_params["id"])
            snapshot: dict[str, Any] = json.loads(json.dumps(subscription))  # not the live dict
            return snapshot

        return await self._handle(request, retrieve)

    async def _hosted_checkout(self, request: Request) -> Response:
        """Stands in for Stripe's hosted page: a button that pays, then the success URL."""
        session_id = request.path_params["id"]
        session = self.checkout_sessions.get(session_id)
        if session is None:
            return HTMLResponse("<h1>No such checkout session</h1>", 404)
        if request.method == "POST":
            self.complete_checkout(session_id)
            target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
            return RedirectResponse(target, 303)
        return HTMLResponse(
            "<!doctype html><title>Fake Stripe Checkout</title>"
            f"<p>Subscribe with {html.escape(str(session['_line_items'][0]['price']))}</p>"
            f'<form method="post"><button type="submit">Pay</button></form>'
            f'<a href="{html.escape(str(session["cancel_url"]))}">Cancel</a>'
        )

    # ---- test controls: change the world, emit events ---------------------------------

    def _emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": json.loads(json.dumps(_public(obj)))}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events.append(event)
        return event

    def _invoice(self, subscription: dict[str, Any], status: str) -> dict[str, Any]:
        item = subscription["items"]["data"][0]
        amount = item["price"]["unit_amount"]
        return {
            "id": self._id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": status,
            "amount_due": amount,
            "amount_paid": amount if status == "paid" else 0,
            "currency": item["price"]["currency"],
            "created": int(time.time()),
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": subscription["metadata"],
                },
            },
            "livemode": False,
        }

    def complete_checkout(self, session_id: str, *, trial_days: int = 0) -> str:
        """The customer paid: create the subscription, emit what Stripe emits. Returns the
        subscription id."""
        with self._lock:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            customer_id = session["customer"]
            if customer_id is None:
                customer_id = self._id("cus")
                self.customers[customer_id] = {"id": customer_id, "object": "customer"}
                session["customer"] = customer_id
            price = self.prices[session["_line_items"][0]["price"]]
            now = int(time.time())
            period_end = now + (trial_days * DAY or (365 if price.interval == "year" else 30) * DAY)
            sub_id = self._id("sub")
            subscription = {
                "id": sub_id,
                "object": "subscription",
                "customer": customer_id,
                "status": "trialing" if trial_days else "active",
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "created": now,
                "start_date": now,
                "currency": price.currency,
                "collection_method": "charge_automatically",
                "metadata": session["_subscription_data"].get("metadata", {}),
                "trial_end": period_end if trial_days else None,
                "livemode": False,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._id("si"),
                            "object": "subscription_item",
                            "subscription": sub_id,
                            "quantity": 1,
                            "created": now,
                            "current_period_start": now,
                            "current_period_end": period_end,
                            "price": {
                                "id": price.id,
                                "object": "price",
                                "currency": price.currency,
                                "unit_amount": price.unit_amount,
                                "product": price.product,
                                "recurring": {"interval": price.interval, "interval_count": 1},
                            },
                        }
                    ],
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
            }
            self.subscriptions[sub_id] = subscription
            session.update(status="complete", payment_status="paid", subscription=sub_id)
            self._emit("customer.subscription.created", subscription)
            self._emit("checkout.session.completed", session)
            if not trial_days:
                self._emit("invoice.paid", self._invoice(subscription, "paid"))
            return sub_id

    def update_subscription(self, sub_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields (status, cancel_at_period_end, ...); emits `.updated`."""
        with self._lock:
            subscription = self.subscriptions[sub_id]
            previous = {key: subscription.get(key) for key in changes}
            subscription.update(changes)
            return self._emit("customer.subscription.updated", subscription, previous)

    def cancel_at_period_end(self, sub_id: str) -> dict[str, Any]:
        period_end = self.subscriptions[sub_id]["items"]["data"][0]["current_period_end"]
        return self.update_subscription(sub_id, cancel_at_period_end=True, cancel_at=period_end)

    def delete_subscription(self, sub_id: str) -> dict[str, Any]:
        """The subscription ended (period over, or cancelled now); emits `.deleted`."""
        with self._lock:
            subscription = self.subscriptions[sub_id]
            now = int(time.time())
            subscription.update(status="canceled", canceled_at=now, ended_at=now)
            return self._emit("customer.subscription.deleted", subscription)

    def fail_payment(self, sub_id: str) -> None:
        """A renewal charge failed: Stripe retries, the subscription is `past_due`."""
        with self._lock:
            subscription = self.subscriptions[sub_id]
            self._emit("invoice.payment_failed", self._invoice(subscription, "open"))
            self.update_subscription(sub_id, status="past_due")

    def pay_invoice(self, sub_id: str) -> None:
        with self._lock:
            subscription = self.subscriptions[sub_id]
            if subscription["status"] != "active":
                self.update_subscription(sub_id, status="active")
            self._emit("invoice.paid", self._invoice(subscription, "paid"))

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]

    @staticmethod
    def signed_delivery(
        event: Mapping[str, Any], secret: str, *, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """The body and `Stripe-Signature` header Stripe would POST for `event`."""
        payload = json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON
        return payload, sign_payload(payload, secret, timestamp)


def _public(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if not key.startswith("_")}


def _missing(kind: str, object_id: str) -> StripeAPIError:
    return StripeAPIError(
        404, f"No such {kind}: '{object_id}'", param="id", code="resource_missing"
    )


async def _unrecognized(request: Request, exc: Exception) -> Response:
    return StripeAPIError(
        404, f"Unrecognized request URL ({request.method}: {request.url.path})."
    ).response()
