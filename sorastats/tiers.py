"""Access tiers: one declarative table, plus the pure rules that decide who gets which.

`TIERS` feeds the API's limit checks, the `/pricing/` page and `docs/billing.md`; a tier
is never described anywhere else. Prices shown here are for display: what a customer is
charged is the Stripe price whose id is in the server settings, so the two must agree.

Rules (pure, table-tested in tests/sorastats/test_tiers.py):
- `entitlement_for_status`: pro while Stripe says the subscription is `active` or
  `trialing`, and through `past_due` (with a warning) because Stripe is still retrying the
  payment; once it gives up it moves the subscription to `canceled` or `unpaid`, which are
  free like every other status. Billing disabled means everyone is free.
- `check_limit` / `check_feature`: creating one more thing past a limit raises
  `TierLimitError` (402, code `tier_limit`) naming the limit and the tier that lifts it.
  Nothing is ever deleted when a tier ends: limits only block creating more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class Interval(StrEnum):
    MONTH = "month"
    YEAR = "year"


class LimitKind(StrEnum):
    # COUNT: creating item number `value + 1` is refused; existing items stay editable.
    COUNT = "count"
    # WINDOW: everything is kept, but only the newest `value` items are listed.
    WINDOW = "window"


@dataclass(frozen=True)
class LimitSpec:
    key: str
    label: str  # names the limit in errors and on the pricing page
    kind: LimitKind
    unit: str  # "private prompts", "tags", ...


@dataclass(frozen=True)
class FeatureSpec:
    key: str
    label: str


@dataclass(frozen=True)
class Price:
    amount_cents: int
    currency: str = "usd"

    def display(self) -> str:
        symbol = "$" if self.currency == "usd" else f"{self.currency.upper()} "
        whole, cents = divmod(self.amount_cents, 100)
        return f"{symbol}{whole}" if cents == 0 else f"{symbol}{whole}.{cents:02d}"


@dataclass(frozen=True)
class Allowance:
    """A tier's value for one limit. `value=None` means unlimited."""

    value: int | None
    why: str


@dataclass(frozen=True)
class Tier:
    name: str
    title: str
    help: str
    rank: int  # higher ranks lift lower ranks' limits; used to name the tier to upgrade to
    prices: Mapping[Interval, Price]
    limits: Mapping[str, Allowance]
    features: Mapping[str, Allowance] = field(default_factory=dict)  # value 1 = included

    def limit(self, key: str) -> int | None:
        return self.limits[key].value

    def has_feature(self, key: str) -> bool:
        allowance = self.features.get(key)
        return allowance is not None and allowance.value != 0


LIMITS: Final[tuple[LimitSpec, ...]] = (
    LimitSpec("private_prompts", "Private prompts", LimitKind.COUNT, "private prompts"),
    LimitSpec("tags_per_prompt", "Tags per prompt", LimitKind.COUNT, "tags on one prompt"),
    LimitSpec(
        "versions_per_prompt", "Version history", LimitKind.WINDOW, "versions of each prompt"
    ),
    LimitSpec("watchlist", "Watchlist", LimitKind.COUNT, "creators and videos watched"),
)

FEATURES: Final[tuple[FeatureSpec, ...]] = (
    FeatureSpec("csv_export", "CSV export of any creator's stats"),
)

FREE: Final = Tier(
    name="free",
    title="Free",
    help="Keep a personal library of encrypted prompts and follow any creator's stats.",
    rank=0,
    prices={},
    limits={
        "private_prompts": Allowance(
            50,
            "Enough to keep the prompts of a few dozen of your own videos and find out whether "
            "the vault fits your workflow; heavy libraries are what Pro pays for.",
        ),
        "tags_per_prompt": Allowance(
            3,
            "Three tags (say subject, style, project) cover organising 50 prompts; "
            "richer taxonomies matter for large libraries.",
        ),
        "versions_per_prompt": Allowance(
            10,
            "The newest 10 versions undo a whole editing session. Older versions are kept, "
            "never deleted, and listed again with Pro.",
        ),
        "watchlist": Allowance(
            20,
            "Twenty creators or videos fit one screen of the watchlist: enough to follow "
            "your own work and a few rivals; tracking a market is what Pro pays for.",
        ),
    },
    features={
        "csv_export": Allowance(0, "Bulk export serves research and agency work: a Pro use."),
    },
)

PRO: Final = Tier(
    name="pro",
    title="Pro",
    help="Unlimited private prompts, full version history and CSV export of creators' stats.",
    rank=1,
    prices={Interval.MONTH: Price(500), Interval.YEAR: Price(4800)},
    limits={
        "private_prompts": Allowance(None, "Pay for the service, not per prompt."),
        "tags_per_prompt": Allowance(
            20,
            "Plenty for any taxonomy; the cap only keeps one prompt's metadata small "
            "(tags are listed with every prompt).",
        ),
        "versions_per_prompt": Allowance(None, "Full history, back to the first version."),
        "watchlist": Allowance(
            500,
            "Room for an agency's roster; the cap keeps the watchlist's one read of the "
            "stats database (every item's snapshots) quick.",
        ),
    },
    features={
        "csv_export": Allowance(
            1, "Daily counters of any creator as CSV, read-only from the ingest database."
        ),
    },
)

TIERS: Final[tuple[Tier, ...]] = (FREE, PRO)
TIERS_BY_NAME: Final[Mapping[str, Tier]] = {tier.name: tier for tier in TIERS}
LIMITS_BY_KEY: Final[Mapping[str, LimitSpec]] = {spec.key: spec for spec in LIMITS}
FEATURES_BY_KEY: Final[Mapping[str, FeatureSpec]] = {spec.key: spec for spec in FEATURES}

# Stripe subscription statuses (https://docs.stripe.com/api/subscriptions/object#status).
ENTITLING_STATUSES: Final = frozenset({"active", "trialing"})
GRACE_STATUSES: Final = frozenset({"past_due"})  # Stripe is still retrying the payment
KNOWN_STATUSES: Final = frozenset(
    {"active", "trialing", "past_due", "canceled", "unpaid", "incomplete"}
    | {"incomplete_expired", "paused"}
)


def tier_named(name: str) -> Tier:
    try:
        return TIERS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown tier {name!r}; known: {', '.join(TIERS_BY_NAME)}") from None


@dataclass(frozen=True)
class Entitlement:
    tier: Tier
    status: str | None  # the Stripe subscription status it was derived from
    warning: str | None  # shown to the user, e.g. while a payment is being retried

    def as_json(self) -> dict[str, Any]:
        return {"tier": self.tier.name, "status": self.status, "warning": self.warning}


PAST_DUE_WARNING: Final = (
    "Your last payment failed. Stripe is retrying it; update your payment method in "
    "Manage subscription to keep Pro."
)


def entitlement_for_status(status: str | None, *, billing_enabled: bool) -> Entitlement:
    """The tier a Stripe subscription status grants. Unknown statuses grant nothing."""
    if not billing_enabled:
        return Entitlement(FREE, status, None)
    if status in ENTITLING_STATUSES:
        return Entitlement(PRO, status, None)
    if status in GRACE_STATUSES:
        return Entitlement(PRO, status, PAST_DUE_WARNING)
    return Entitlement(FREE, status, None)


def _by_rank() -> list[Tier]:
    return sorted(TIERS, key=lambda t: t.rank)


def lifting_tier(current: Tier, key: str, wanted: int) -> Tier | None:
    """The lowest-ranked tier above `current` that allows `wanted` of limit `key`."""
    for tier in _by_rank():
        if tier.rank <= current.rank:
            continue
        value = tier.limit(key)
        if value is None or value >= wanted:
            return tier
    return None


class TierLimitError(Exception):
    """Creating more than a tier allows. The API answers 402 with `as_json()`."""

    status_code: Final = 402
    code: Final = "tier_limit"

    def __init__(self, *, key: str, tier: Tier, allowed: int, lifted_by: Tier | None, what: str):
        self.key = key
        self.tier = tier
        self.allowed = allowed
        self.lifted_by = lifted_by
        if lifted_by is not None:
            self.message = f"{what}; upgrade to {lifted_by.title} to lift this limit."
        else:
            self.message = f"{what}; no plan allows more."
        super().__init__(self.message)

    def as_json(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "limit": self.key,
                "tier": self.tier.name,
                "allowed": self.allowed,
                "lifted_by": self.lifted_by.name if self.lifted_by else None,
            }
        }


def check_limit(tier: Tier, key: str, existing: int, adding: int = 1) -> None:
    """Raise TierLimitError if `existing + adding` exceeds a COUNT limit of `tier`.

    Over-limit data left from a previous tier stays: only growth is refused, so removing
    or editing items is always allowed (call this only when something is added).
    """
    spec = LIMITS_BY_KEY[key]
    if spec.kind is not LimitKind.COUNT:
        raise ValueError(f"{key} is a {spec.kind} limit; use visible_count()")
    allowed = tier.limit(key)
    wanted = existing + adding
    if allowed is None or wanted <= allowed:
        return
    raise TierLimitError(
        key=key,
        tier=tier,
        allowed=allowed,
        lifted_by=lifting_tier(tier, key, wanted),
        what=f"{spec.label}: the {tier.title} plan allows {allowed} {spec.unit}",
    )


def visible_count(tier: Tier, key: str, total: int) -> int:
    """How many of `total` items (newest first) a WINDOW limit lists; the rest are kept."""
    spec = LIMITS_BY_KEY[key]
    if spec.kind is not LimitKind.WINDOW:
        raise ValueError(f"{key} is a {spec.kind} limit; use check_limit()")
    allowed = tier.limit(key)
    return total if allowed is None else min(total, allowed)


def check_feature(tier: Tier, key: str) -> None:
    """Raise TierLimitError unless `tier` includes feature `key` (e.g. `csv_export`)."""
    spec = FEATURES_BY_KEY[key]
    if tier.has_feature(key):
        return
    lifted_by = next((t for t in _by_rank() if t.rank > tier.rank and t.has_feature(key)), None)
    raise TierLimitError(
        key=key,
        tier=tier,
        allowed=0,
        lifted_by=lifted_by,
        what=f"{spec.label} is not included in the {tier.title} plan",
    )


def display_allowance(value: int | None, kind: LimitKind = LimitKind.COUNT) -> str:
    if kind is LimitKind.WINDOW:
        return "Full" if value is None else f"Newest {value:,}"
    return "Unlimited" if value is None else f"{value:,}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def tier_table_markdown() -> str:
    """The tier table as Markdown, for docs/billing.md (a test keeps the two in step)."""
    header = "| | " + " | ".join(tier.title for tier in TIERS) + " | why |"
    rows = [header, "|---|" + "---|" * len(TIERS) + "---|"]

    def price_cell(tier: Tier, interval: Interval) -> str:
        price = tier.prices.get(interval)
        if price is not None:
            return f"{price.display()} / {interval.value}"
        return "free" if not tier.prices else "-"

    for interval in Interval:
        cells = [price_cell(tier, interval) for tier in TIERS]
        rows.append(f"| Price per {interval.value} | " + " | ".join(cells) + " | |")
    for spec in LIMITS:
        cells = [display_allowance(tier.limit(spec.key), spec.kind) for tier in TIERS]
        why = " ".join(f"{tier.title}: {tier.limits[spec.key].why}" for tier in TIERS)
        rows.append(f"| {spec.label} | " + " | ".join(cells) + f" | {_cell(why)} |")
    for feature in FEATURES:
        cells = ["yes" if tier.has_feature(feature.key) else "no" for tier in TIERS]
        why = " ".join(f"{tier.title}: {tier.features[feature.key].why}" for tier in TIERS)
        rows.append(f"| {feature.label} | " + " | ".join(cells) + f" | {_cell(why)} |")
    return "\n".join(rows) + "\n"
