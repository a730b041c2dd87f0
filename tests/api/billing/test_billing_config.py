"""Stripe settings: when billing is on, strict values, secrets kept out of repr."""

from __future__ import annotations

import pytest

from api.billing.config import (
    BILLING_SETTINGS,
    DEFAULT_API_BASE,
    REQUIRED_FOR_BILLING,
    BillingConfigError,
    StripeSettings,
    UnknownPlanError,
)

FULL = {
    "STRIPE_SECRET_KEY": "sk_test_secret123",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc",
    "STRIPE_PRICE_PRO_MONTHLY": "price_month",
    "STRIPE_PRICE_PRO_YEARLY": "price_year",
}


def test_all_set_enables_billing_with_stripe_s_own_base() -> None:
    settings = StripeSettings.from_env(FULL)
    assert settings.billing_enabled
    assert settings.missing == ()
    assert settings.api_base == DEFAULT_API_BASE


def test_nothing_set_disables_billing() -> None:
    settings = StripeSettings.from_env({})
    assert not settings.billing_enabled
    assert settings.missing == REQUIRED_FOR_BILLING


@pytest.mark.parametrize("unset", REQUIRED_FOR_BILLING)
def test_any_one_missing_disables_billing_and_is_named(unset: str) -> None:
    for value in ("", "   "):
        settings = StripeSettings.from_env({**FULL, unset: value})
        assert not settings.billing_enabled
        assert settings.missing == (unset,)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRIPE_SECRET_KEY", "pk_test_publishable"),  # the publishable key, a common mix-up
        ("STRIPE_SECRET_KEY", "whsec_abc"),
        ("STRIPE_WEBHOOK_SECRET", "sk_test_secret123"),
        ("STRIPE_PRICE_PRO_MONTHLY", "prod_123"),  # a product id instead of a price id
        ("STRIPE_PRICE_PRO_YEARLY", "price_a b"),
    ],
)
def test_malformed_value_is_refused_naming_the_setting_not_the_value(name: str, value: str) -> None:
    with pytest.raises(BillingConfigError) as caught:
        StripeSettings.from_env({**FULL, name: value})
    assert str(caught.value).startswith(f"{name}:")
    assert value not in str(caught.value)


def test_restricted_key_is_accepted() -> None:
    assert StripeSettings.from_env({**FULL, "STRIPE_SECRET_KEY": "rk_live_x"}).billing_enabled


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://127.0.0.1:8123/", "http://127.0.0.1:8123"),
        ("https://api.stripe.com", "https://api.stripe.com"),
        ("", DEFAULT_API_BASE),
    ],
)
def test_api_base(value: str, expected: str) -> None:
    assert StripeSettings.from_env({**FULL, "STRIPE_API_BASE": value}).api_base == expected


@pytest.mark.parametrize(
    "value", ["api.stripe.com", "ftp://x", "https://api.stripe.com/v1", "https://x?y=1"]
)
def test_bad_api_base_is_refused(value: str) -> None:
    with pytest.raises(BillingConfigError, match=r"^STRIPE_API_BASE:"):
        StripeSettings.from_env({**FULL, "STRIPE_API_BASE": value})


def test_repr_hides_secrets() -> None:
    shown = repr(StripeSettings.from_env(FULL))
    assert "sk_test_secret123" not in shown
    assert "whsec_abc" not in shown
    assert "price_month" in shown


@pytest.mark.parametrize(
    ("plan", "interval", "price"),
    [("pro", "month", "price_month"), ("pro", "year", "price_year")],
)
def test_price_ids_come_from_settings(plan: str, interval: str, price: str) -> None:
    settings = StripeSettings.from_env(FULL)
    assert settings.price_id(plan, interval) == price
    assert settings.plan_for_price(price) == (plan, interval)


@pytest.mark.parametrize(
    ("plan", "interval"),
    [("free", "month"), ("pro", "week"), ("PRO", "month"), ("price_month", "month"), ("", "")],
)
def test_unknown_plan(plan: str, interval: str) -> None:
    with pytest.raises(UnknownPlanError) as caught:
        StripeSettings.from_env(FULL).price_id(plan, interval)
    assert caught.value.status_code == 400
    assert caught.value.code == "unknown_plan"
    assert "choose plan 'pro' with interval 'month' or 'year'" in caught.value.message


def test_plan_for_unknown_price_is_none() -> None:
    settings = StripeSettings.from_env(FULL)
    assert settings.plan_for_price("price_other") is None
    assert settings.plan_for_price(None) is None
    # With billing off, empty price ids must not match an empty price.
    assert StripeSettings.from_env({}).plan_for_price("") is None


def test_every_setting_has_help() -> None:
    names = [setting.name for setting in BILLING_SETTINGS]
    assert len(names) == len(set(names))
    assert set(REQUIRED_FOR_BILLING) | {"STRIPE_API_BASE"} == set(names)
    for setting in BILLING_SETTINGS:
        assert len(setting.help) > 20
