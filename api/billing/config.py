"""Stripe settings: a declarative table (same shape as the API's settings table, so the
wiring can append it there) and the `StripeSettings` value read from the environment.

Billing is on only when the secret key, the webhook secret and both price ids are set;
otherwise the billing endpoints answer 503 `billing_disabled` and everyone is free.
A value that is set but malformed stops the start with `BillingConfigError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sorastats.tiers import Interval

DEFAULT_API_BASE: Final = "https://api.stripe.com"


class BillingConfigError(ValueError):
    """A Stripe setting is malformed; the message names it."""


@dataclass(frozen=True)
class BillingSetting:
    name: str
    default: str
    help: str
    prefixes: tuple[str, ...] = ()  # accepted value prefixes, checked when set


BILLING_SETTINGS: Final[tuple[BillingSetting, ...]] = (
    BillingSetting(
        "STRIPE_SECRET_KEY",
        "",
        "Stripe secret key (`sk_...`) or restricted key (`rk_...`). Empty: billing is off.",
        ("sk_", "rk_"),
    ),
    BillingSetting(
        "STRIPE_WEBHOOK_SECRET",
        "",
        "Signing secret of the webhook endpoint `/api/billing/webhook` (`whsec_...`).",
        ("whsec_",),
    ),
    BillingSetting(
        "STRIPE_PRICE_PRO_MONTHLY",
        "",
        "Stripe price id (`price_...`) of Pro billed monthly. Checkout only ever uses these ids.",
        ("price_",),
    ),
    BillingSetting(
        "STRIPE_PRICE_PRO_YEARLY",
        "",
        "Stripe price id (`price_...`) of Pro billed yearly.",
        ("price_",),
    ),
    BillingSetting(
        "STRIPE_API_BASE",
        DEFAULT_API_BASE,
        "Base URL of the Stripe API; set it to use a Stripe-compatible server (the tests do).",
    ),
)

REQUIRED_FOR_BILLING: Final = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_PRICE_PRO_MONTHLY",
    "STRIPE_PRICE_PRO_YEARLY",
)


def _check_api_base(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise BillingConfigError(
            f"STRIPE_API_BASE: expected an absolute http(s) URL, got {value!r}"
        )
    if parts.query or parts.fragment or parts.path not in {"", "/"}:
        raise BillingConfigError(
            "STRIPE_API_BASE: expected an origin such as https://api.stripe.com"
        )
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class StripeSettings:
    secret_key: str = ""
    webhook_secret: str = ""
    price_pro_monthly: str = ""
    price_pro_yearly: str = ""
    api_base: str = DEFAULT_API_BASE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StripeSettings:
        values: dict[str, str] = {}
        for setting in BILLING_SETTINGS:
            value = env.get(setting.name, setting.default).strip()
            if value and setting.prefixes and not value.startswith(setting.prefixes):
                # Never echo the value: it may be a secret pasted into the wrong setting.
                raise BillingConfigError(
                    f"{setting.name}: expected a value starting with "
                    f"{' or '.join(setting.prefixes)}"
                )
            if value and any(ch.isspace() for ch in value):
                raise BillingConfigError(f"{setting.name}: must not contain whitespace")
            values[setting.name] = value
        return cls(
            secret_key=values["STRIPE_SECRET_KEY"],
            webhook_secret=values["STRIPE_WEBHOOK_SECRET"],
            price_pro_monthly=values["STRIPE_PRICE_PRO_MONTHLY"],
            price_pro_yearly=values["STRIPE_PRICE_PRO_YEARLY"],
            api_base=_check_api_base(values["STRIPE_API_BASE"] or DEFAULT_API_BASE),
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the unset settings that keep billing off (for the start-up log)."""
        present = {
            "STRIPE_SECRET_KEY": self.secret_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_PRICE_PRO_MONTHLY": self.price_pro_monthly,
            "STRIPE_PRICE_PRO_YEARLY": self.price_pro_yearly,
        }
        return tuple(name for name in REQUIRED_FOR_BILLING if not present[name])

    @property
    def billing_enabled(self) -> bool:
        return not self.missing

    def price_id(self, plan: str, interval: str) -> str:
        """The configured price id for a plan and interval; the client never supplies one."""
        price = self.prices().get((plan, interval))
        if price is None:
            raise UnknownPlanError(plan, interval)
        return price

    def prices(self) -> dict[tuple[str, str], str]:
        return {
            ("pro", Interval.MONTH.value): self.price_pro_monthly,
            ("pro", Interval.YEAR.value): self.price_pro_yearly,
        }

    def plan_for_price(self, price_id: str | None) -> tuple[str, str] | None:
        """(plan, interval) of a configured price id, for display; None if not ours."""
        for key, value in self.prices().items():
            if price_id and value == price_id:
                return key
        return None

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks.
        return (
            f"StripeSettings(api_base={self.api_base!r}, billing_enabled={self.billing_enabled},"
            f" price_pro_monthly={self.price_pro_monthly!r},"
            f" price_pro_yearly={self.price_pro_yearly!r})"
        )


class UnknownPlanError(ValueError):
    """The client asked for a plan or interval we do not sell (400 `unknown_plan`)."""

    status_code: Final = 400
    code: Final = "unknown_plan"

    def __init__(self, plan: str, interval: str) -> None:
        self.message = (
            f"Unknown plan {plan[:40]!r} with interval {interval[:40]!r}; "
            "choose plan 'pro' with interval 'month' or 'year'."
        )
        super().__init__(self.message)
