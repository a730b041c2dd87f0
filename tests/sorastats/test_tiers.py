"""The tier table and the pure entitlement / limit rules of sorastats.tiers."""

from __future__ import annotations

import itertools

import pytest

from sorastats.tiers import (
    FEATURES,
    FREE,
    LIMITS,
    PAST_DUE_WARNING,
    PRO,
    TIERS,
    Interval,
    LimitKind,
    Price,
    Tier,
    TierLimitError,
    check_feature,
    check_limit,
    display_allowance,
    entitlement_for_status,
    lifting_tier,
    tier_named,
    visible_count,
)


def test_every_tier_sets_every_limit_and_feature_with_a_reason() -> None:
    for tier in TIERS:
        assert set(tier.limits) == {spec.key for spec in LIMITS}, tier.name
        assert set(tier.features) == {spec.key for spec in FEATURES}, tier.name
        for key, allowance in [*tier.limits.items(), *tier.features.items()]:
            assert len(allowance.why) >= 20, f"{tier.name}.{key} needs a real reason"
        assert tier.help and tier.title


def test_tier_names_and_ranks_are_unique() -> None:
    assert len({t.name for t in TIERS}) == len(TIERS)
    assert len({t.rank for t in TIERS}) == len(TIERS)


def test_the_issue_s_tiers() -> None:
    assert FREE.limit("private_prompts") == 50
    assert FREE.limit("tags_per_prompt") == 3
    assert FREE.limit("versions_per_prompt") == 10
    assert not FREE.has_feature("csv_export")
    assert FREE.prices == {}
    assert PRO.limit("private_prompts") is None
    assert PRO.limit("versions_per_prompt") is None
    assert PRO.has_feature("csv_export")
    assert set(PRO.prices) == {Interval.MONTH, Interval.YEAR}
    # Yearly must actually be a discount on twelve months.
    assert PRO.prices[Interval.YEAR].amount_cents < 12 * PRO.prices[Interval.MONTH].amount_cents


def test_higher_tiers_never_allow_less() -> None:
    ranked = sorted(TIERS, key=lambda t: t.rank)
    for lower, higher in itertools.pairwise(ranked):
        for spec in LIMITS:
            low, high = lower.limit(spec.key), higher.limit(spec.key)
            assert high is None or (low is not None and high >= low), spec.key
        for feature in FEATURES:
            assert higher.has_feature(feature.key) or not lower.has_feature(feature.key)


@pytest.mark.parametrize(("name", "expected"), [("free", FREE), ("pro", PRO)])
def test_tier_named(name: str, expected: Tier) -> None:
    assert tier_named(name) is expected


def test_tier_named_unknown_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown tier 'gold'; known: free, pro"):
        tier_named("gold")


@pytest.mark.parametrize(
    ("status", "billing_enabled", "tier", "warned"),
    [
        ("active", True, "pro", False),
        ("trialing", True, "pro", False),
        ("past_due", True, "pro", True),  # Stripe is still retrying the payment
        ("unpaid", True, "free", False),  # Stripe gave up (retries exhausted)
        ("canceled", True, "free", False),
        ("incomplete", True, "free", False),  # first payment not made yet
        ("incomplete_expired", True, "free", False),
        ("paused", True, "free", False),
        ("some_future_status", True, "free", False),
        ("", True, "free", False),
        (None, True, "free", False),
        ("active", False, "free", False),  # billing off: everyone is free
        ("past_due", False, "free", False),
        (None, False, "free", False),
    ],
)
def test_entitlement_for_status(
    status: str | None, billing_enabled: bool, tier: str, warned: bool
) -> None:
    entitlement = entitlement_for_status(status, billing_enabled=billing_enabled)
    assert entitlement.tier.name == tier
    assert entitlement.status == status
    assert (entitlement.warning == PAST_DUE_WARNING) is warned
    assert entitlement.as_json() == {
        "tier": tier,
        "status": status,
        "warning": PAST_DUE_WARNING if warned else None,
    }


@pytest.mark.parametrize(
    ("tier", "key", "existing", "adding", "refused"),
    [
        (FREE, "private_prompts", 0, 1, False),
        (FREE, "private_prompts", 49, 1, False),  # the 50th is allowed
        (FREE, "private_prompts", 50, 1, True),  # the 51st is not
        (FREE, "private_prompts", 48, 3, True),  # a batch that would cross the limit
        (FREE, "private_prompts", 120, 1, True),  # left over from Pro: kept, no growth
        (FREE, "tags_per_prompt", 2, 1, False),
        (FREE, "tags_per_prompt", 3, 1, True),
        (PRO, "private_prompts", 1_000_000, 1, False),
        (PRO, "tags_per_prompt", 19, 1, False),
        (PRO, "tags_per_prompt", 20, 1, True),
    ],
)
def test_check_limit(tier: Tier, key: str, existing: int, adding: int, refused: bool) -> None:
    if not refused:
        check_limit(tier, key, existing, adding)
        return
    with pytest.raises(TierLimitError) as caught:
        check_limit(tier, key, existing, adding)
    assert caught.value.key == key
    assert caught.value.tier is tier
    assert caught.value.allowed == tier.limit(key)


def test_limit_error_names_the_limit_and_the_tier_that_lifts_it() -> None:
    with pytest.raises(TierLimitError) as caught:
        check_limit(FREE, "private_prompts", 50)
    error = caught.value
    assert error.status_code == 402
    assert error.message == (
        "Private prompts: the Free plan allows 50 private prompts; "
        "upgrade to Pro to lift this limit."
    )
    assert error.as_json() == {
        "error": {
            "code": "tier_limit",
            "message": error.message,
            "limit": "private_prompts",
            "tier": "free",
            "allowed": 50,
            "lifted_by": "pro",
        }
    }


def test_limit_no_tier_lifts_says_so() -> None:
    with pytest.raises(TierLimitError) as caught:
        check_limit(PRO, "tags_per_prompt", 20)
    assert caught.value.lifted_by is None
    assert caught.value.message.endswith("no plan allows more.")
    assert caught.value.as_json()["error"]["lifted_by"] is None


@pytest.mark.parametrize(
    ("current", "key", "wanted", "expected"),
    [
        (FREE, "private_prompts", 51, PRO),
        (FREE, "tags_per_prompt", 4, PRO),
        (FREE, "tags_per_prompt", 21, None),  # even Pro allows only 20
        (PRO, "private_prompts", 10**9, None),  # nothing above Pro
    ],
)
def test_lifting_tier(current: Tier, key: str, wanted: int, expected: Tier | None) -> None:
    assert lifting_tier(current, key, wanted) is expected


@pytest.mark.parametrize(
    ("tier", "total", "visible"),
    [(FREE, 0, 0), (FREE, 7, 7), (FREE, 10, 10), (FREE, 250, 10), (PRO, 250, 250)],
)
def test_version_history_window(tier: Tier, total: int, visible: int) -> None:
    assert visible_count(tier, "versions_per_prompt", total) == visible


def test_limit_kinds_are_not_mixed_up() -> None:
    assert {spec.key: spec.kind for spec in LIMITS}["versions_per_prompt"] is LimitKind.WINDOW
    with pytest.raises(ValueError, match="window limit; use visible_count"):
        check_limit(FREE, "versions_per_prompt", 10)
    with pytest.raises(ValueError, match="count limit; use check_limit"):
        visible_count(FREE, "private_prompts", 10)


def test_csv_export_is_a_pro_feature() -> None:
    check_feature(PRO, "csv_export")
    with pytest.raises(TierLimitError) as caught:
        check_feature(FREE, "csv_export")
    assert caught.value.message == (
        "CSV export of any creator's stats is not included in the Free plan; "
        "upgrade to Pro to lift this limit."
    )
    assert caught.value.as_json()["error"] | {"message": ""} == {
        "code": "tier_limit",
        "message": "",
        "limit": "csv_export",
        "tier": "free",
        "allowed": 0,
        "lifted_by": "pro",
    }


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        (Price(500), "$5"),
        (Price(4800), "$48"),
        (Price(499), "$4.99"),
        (Price(5, "eur"), "EUR 0.05"),
    ],
)
def test_price_display(price: Price, shown: str) -> None:
    assert price.display() == shown


@pytest.mark.parametrize(("value", "shown"), [(None, "Unlimited"), (50, "50"), (5000, "5,000")])
def test_display_allowance(value: int | None, shown: str) -> None:
    assert display_allowance(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(None, "Full"), (10, "Newest 10")])
def test_display_window_allowance(value: int | None, shown: str) -> None:
    assert display_allowance(value, LimitKind.WINDOW) == shown
