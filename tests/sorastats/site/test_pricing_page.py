"""The /pricing/ page comes from the one tier table, and ships with its buttons hidden
(billing.js reveals them only when the API says billing is on)."""

from __future__ import annotations

import pytest

from sorastats.files import site_file
from sorastats.site.pricing import pricing_doc
from sorastats.site.templating import asset_map, make_env
from sorastats.tiers import FEATURES, LIMITS, TIERS, LimitSpec, display_allowance
from tests.support.html import parse

TEMPLATES = site_file("templates")


def rendered() -> str:
    env = make_env(TEMPLATES, "https://sorastats.example", asset_map(TEMPLATES / "static"))
    return env.get_template("pricing.html").render(page=pricing_doc())


def test_doc_has_every_tier_limit_and_feature() -> None:
    doc = pricing_doc()
    assert [t["name"] for t in doc["tiers"]] == [t.name for t in TIERS]
    labels = [s.label for s in LIMITS] + [s.label for s in FEATURES]
    assert [r["label"] for r in doc["rows"]] == labels
    pro = next(t for t in doc["tiers"] if t["name"] == "pro")
    assert pro["prices"] == [
        {"interval": "month", "display": "$5"},
        {"interval": "year", "display": "$48"},
    ]


@pytest.mark.parametrize("spec", LIMITS, ids=lambda s: s.key)
def test_page_shows_each_limit_with_its_reason(spec: LimitSpec) -> None:
    html = rendered()
    assert spec.label in html
    for tier in TIERS:
        allowance = tier.limits[spec.key]
        assert display_allowance(allowance.value, spec.kind) in html


def test_buttons_ship_hidden_and_the_page_loads_billing_js() -> None:
    html = rendered()
    assert 'data-checkout-interval="month"' in html and 'data-checkout-interval="year"' in html
    tree = parse(html)
    shown_by_js = [n for n in tree.iter() if "data-billing-when" in n.attrs]
    assert len(shown_by_js) >= 3 and all("hidden" in n.attrs for n in shown_by_js)
    buttons = [n for n in tree.find_all("button") if "data-checkout-interval" in n.attrs]
    assert buttons and all(b.attrs["data-checkout-plan"] == "pro" for b in buttons)
    scripts = [n.attrs.get("src", "") for n in tree.find_all("script")]
    assert any(src.startswith("/static/js/billing.") for src in scripts)


def test_with_billing_off_the_page_promises_nothing_the_api_refuses() -> None:
    """Billing off means everyone is on the free tier (sorastats.tiers): the notice must
    name every feature the free tier lacks, and never call everything free."""
    free = TIERS[0]
    lacking = [f.label for f in FEATURES if not free.has_feature(f.key)]
    assert lacking, "the tier table has no paid-only feature: this test would prove nothing"
    (notice,) = [n for n in parse(rendered()).iter() if n.attrs.get("data-billing-when") == "off"]
    text = " ".join(notice.text.split())
    assert f"everyone is on the {free.title} plan" in text
    for label in lacking:
        assert label in text
    assert "free for everyone" not in text and "everything" not in text
