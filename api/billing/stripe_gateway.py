"""The only code that talks to Stripe: a thin typed wrapper over the `stripe` package.

Calls are synchronous (the `stripe` package's sync client); from async routes run them
with `starlette.concurrency.run_in_threadpool`. Each gateway owns its `StripeClient`
(no global `stripe.api_key`), pointed at `STRIPE_API_BASE`, with an httpx transport so
every request has a timeout. Stripe failures become `GatewayError` (the API answers 502
`payment_provider_error`); Stripe's own message stays in `detail`, for the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import httpx
import stripe

from api import strict_json
from api.billing.config import StripeSettings
from api.billing.state import (
    EventFacts,
    StripeObjectError,
    SubscriptionState,
    WebhookEvent,
    event_references,
    parse_event,
    parse_subscription,
)
from sorastats.tls import tls_context

WEBHOOK_TOLERANCE_SECONDS: Final = 300
REQUEST_TIMEOUT_SECONDS: Final = 20.0
USER_METADATA_KEY: Final = "sorastats_user_id"


class BillingDisabledError(Exception):
    status_code: Final = 503
    code: Final = "billing_disabled"

    def __init__(self, missing: tuple[str, ...]) -> None:
        self.missing = missing
        self.message = "Billing is not enabled on this server."
        super().__init__(f"{self.message} Unset: {', '.join(missing)}")


class GatewayError(Exception):
    """Stripe refused or could not be reached. `message` is safe to show; `detail` is
    Stripe's own text (for logs)."""

    status_code: Final = 502
    code: Final = "payment_provider_error"

    def __init__(
        self, kind: str, detail: str, *, param: str | None = None, http_status: int | None = None
    ) -> None:
        self.kind = kind  # invalid_request, authentication, connection, api
        self.detail = detail
        self.param = param
        self.http_status = http_status  # Stripe's answer, when it gave one
        self.message = "The payment provider could not complete the request; try again later."
        super().__init__(f"{kind}: {detail}" + (f" (param {param})" if param else ""))


class WebhookVerificationError(Exception):
    """Forged, stale, unsigned or malformed webhook: answer 400 and change nothing."""

    status_code: Final = 400
    code: Final = "invalid_webhook"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UnusableEventError(Exception):
    """A correctly signed event we cannot use: not a Stripe event, fields of the wrong
    type, text we cannot store, or a subscription Stripe does not have. Redelivery would
    not change it, so the webhook logs it and answers 2xx (Stripe retries anything else
    for days). The message names the problem, never the payload or a secret."""

    def __init__(self, reason: str) -> None:
        self.reason = strict_json.replace_surrogates(reason)[:300]
        super().__init__(self.reason)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


class _HttpxTransport(stripe.HTTPClient):
    """Sync httpx for the `stripe` package: pooled connections and a request timeout
    (its urllib fallback has none; its httpx client warns on sync form bodies)."""

    name = "sorastats-httpx"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._client = httpx.Client(timeout=timeout, verify=tls_context())

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        content = post_data.encode() if isinstance(post_data, str) else post_data
        try:
            response = self._client.request(method, url, headers=headers, content=content)
        except httpx.TransportError as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]  # stripe has no annotations here
                f"Could not reach Stripe at {url.split('?')[0]}: {type(exc).__name__}",
                should_retry=True,
            ) from exc
        return response.content.decode("utf-8", "replace"), response.status_code, response.headers

    def close(self) -> None:
        self._client.close()


def _as_dict(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict() if hasattr(obj, "to_dict") else dict(obj))


def _gateway_error(exc: stripe.StripeError) -> GatewayError:
    detail = str(getattr(exc, "user_message", None) or exc)
    param = getattr(exc, "param", None)
    if isinstance(exc, stripe.InvalidRequestError):
        return GatewayError("invalid_request", detail, param=param, http_status=exc.http_status)
    if isinstance(exc, stripe.AuthenticationError):
        return GatewayError("authentication", detail)
    if isinstance(exc, stripe.APIConnectionError):
        return GatewayError("connection", detail)
    return GatewayError("api", detail, param=param)


class StripeGateway:
    def __init__(
        self,
        settings: StripeSettings,
        *,
        max_network_retries: int = 2,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.billing_enabled:
            raise BillingDisabledError(settings.missing)
        self.settings = settings
        self._clock = clock
        self._transport = _HttpxTransport(timeout)
        self._client = stripe.StripeClient(
            settings.secret_key,
            base_addresses={"api": settings.api_base},
            max_network_retries=max_network_retries,
            http_client=self._transport,
        )

    def close(self) -> None:
        self._transport.close()

    def create_customer(self, user_id: str, email: str | None = None) -> str:
        """A Stripe customer for a user; the caller stores its id before any checkout.
        The idempotency key makes a retried or concurrent first call return the same one."""
        params: dict[str, Any] = {"metadata": {USER_METADATA_KEY: user_id}}
        if email:
            params["email"] = email
        try:
            customer = self._client.v1.customers.create(
                params=cast(Any, params),
                options={"idempotency_key": f"sorastats-customer-{user_id}"},
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        return str(customer.id)

    def delete_customer(self, customer_id: str) -> None:
        """For account deletion: Stripe deletes the customer and cancels its subscriptions
        at once, so a deleted account is never charged again. Already gone is fine."""
        try:
            self._client.v1.customers.delete(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return
            raise _gateway_error(exc) from exc
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        user_id: str,
        plan: str,
        interval: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession:
        """A subscription Checkout Session; the price id comes only from the settings
        (raises UnknownPlanError for a plan we do not sell)."""
        price_id = self.settings.price_id(plan, interval)
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": user_id,
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {USER_METADATA_KEY: user_id},
            "subscription_data": {"metadata": {USER_METADATA_KEY: user_id}},
        }
        try:
            session = self._client.v1.checkout.sessions.create(params=cast(Any, params))
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        if not session.url:
            raise GatewayError("api", f"checkout session {session.id} has no url")
        return CheckoutSession(id=str(session.id), url=str(session.url))

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """URL of a Customer Portal session (manage card, cancel, switch interval)."""
        params = {"customer": customer_id, "return_url": return_url}
        try:
            session = self._client.v1.billing_portal.sessions.create(params=cast(Any, params))
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        return str(session.url)

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionState:
        # The marker is taken before the request: the state returned is at least that new.
        as_of = self._clock()
        try:
            subscription = self._client.v1.subscriptions.retrieve(subscription_id)
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        try:
            return parse_subscription(_as_dict(subscription), as_of=as_of)
        except StripeObjectError as exc:
            raise GatewayError("malformed", str(exc)) from exc

    def verify_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Check `Stripe-Signature` on the raw body (300 s tolerance) and parse the event.
        Raises WebhookVerificationError if the signature does not hold, UnusableEventError
        if it does but the body is no event we can use."""
        if not signature_header:
            raise WebhookVerificationError("Missing Stripe-Signature header.")
        # The verification half of `stripe.Webhook.construct_event`; its other half builds a
        # StripeObject and fails with AttributeError on a signed body that is not an object.
        try:
            stripe.WebhookSignature.verify_header(
                payload,
                signature_header,
                self.settings.webhook_secret,
                tolerance=WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookVerificationError(f"Invalid signature: {exc.user_message}") from exc
        except UnicodeDecodeError as exc:
            raise WebhookVerificationError("Webhook body is not UTF-8 JSON.") from exc
        try:
            # The request parser's rules (no NaN/1e400, no lone surrogates), but NUL may
            # appear in text Stripe relays; parse_event refuses it where we store text.
            data = strict_json.loads(payload, where="event", allow_nul=True, max_depth=64)
        except strict_json.JsonInputError as exc:
            raise UnusableEventError(f"webhook body is not JSON we accept: {exc}") from exc
        try:
            return parse_event(data)
        except StripeObjectError as exc:
            raise UnusableEventError(str(exc)) from exc

    def read_event_facts(self, event: WebhookEvent) -> EventFacts:
        """Read back, outside any transaction, the subscription an event is about.
        UnusableEventError if Stripe has no such subscription or answers one we cannot
        parse; other GatewayErrors (Stripe down) are worth Stripe's redelivery."""
        references = event_references(event.type, event.object)
        subscription = None
        if event.handled and references.subscription_id:
            try:
                subscription = self.retrieve_subscription(references.subscription_id)
            except GatewayError as exc:
                if exc.kind == "malformed" or exc.http_status == 404:
                    raise UnusableEventError(
                        f"event {event.id}: subscription not usable ({exc.kind}: {exc.detail})"
                    ) from exc
                raise
        return EventFacts(event=event, references=references, subscription=subscription)
