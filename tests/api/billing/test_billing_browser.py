"""The pricing page and the account page's billing panel in Debian's chromium, served by
the dev server (built static site + API on one port) with billing on against the fake
Stripe, and off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from sorastats.files import site_file
from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from sorastats.site.templating import asset_map, make_env
from tests.api.billing.test_billing import (
    MONTHLY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    YEARLY,
    deliver,
    user,
)
from tests.support import sitedata
from tests.support.api_server import RunningApi, run_api
from tests.support.fake_stripe import FakePrice, FakeStripe

pytestmark = pytest.mark.browser

# What the vault's account page does: include the panel (it lands with the vault branch).
ACCOUNT_STANDIN = """{% extends "base.html" %}
{% block title %}Account{% endblock %}
{% block main %}<h1>Account</h1>{% include "partials/billing_panel.html" ignore missing %}
{% endblock %}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("billing-site")
    out = tmp / "site"
    render_site(
        RenderConfig(db=sitedata.hand_made(tmp / "h.duckdb"), out=out, jobs=1, search=False),
        log=lambda _m: None,
    )
    templates = site_file("templates")
    env = make_env(templates, "http://127.0.0.1:8000", asset_map(templates / "static"))
    account = out / "account" / "index.html"
    account.parent.mkdir(parents=True, exist_ok=True)
    account.write_text(env.from_string(ACCOUNT_STANDIN).render(page={"url": "/account/"}))
    return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    prices = {MONTHLY: FakePrice(MONTHLY, "month", 500), YEARLY: FakePrice(YEARLY, "year", 4800)}
    with FakeStripe.running(SECRET_KEY, prices) as server:
        yield server


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    made = chromium.new_context()
    yield made
    made.close()


def signed_in_context(context: BrowserContext, api: RunningApi) -> None:
    """Hand the API client's session cookie to the browser (the sign-in page is the
    vault's; signing in itself is tested there and in tests/api)."""
    client, _ = user(api)
    token = client.http.cookies.get(api.settings.session_cookie)
    assert token
    context.add_cookies(
        [{"name": api.settings.session_cookie, "value": token, "url": api.base_url}]
    )


def test_upgrade_pay_and_manage_in_the_browser(
    site: Path, fake: FakeStripe, context: BrowserContext, tmp_path: Path
) -> None:
    env = {
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_PRICE_PRO_MONTHLY": MONTHLY,
        "STRIPE_PRICE_PRO_YEARLY": YEARLY,
        "STRIPE_API_BASE": fake.base_url,
    }
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, site=site, env=env) as api:
        page = context.new_page()
        page.goto(f"{api.base_url}/pricing/")
        expect(page.get_by_role("link", name="Sign in or create an account")).to_be_visible()
        expect(page.get_by_role("link", name="Sign in or create an account")).to_have_attribute(
            "href", "/account/"
        )
        expect(page.get_by_role("button", name="Upgrade: $5 per month")).to_be_hidden()
        expect(page.get_by_role("row", name="Private prompts")).to_contain_text("50")

        signed_in_context(context, api)
        page.goto(f"{api.base_url}/pricing/")
        start = len(fake.events)
        page.get_by_role("button", name="Upgrade: $5 per month").click()
        page.wait_for_url(f"{fake.base_url}/c/pay/*")
        page.get_by_role("button", name="Pay").click()
        page.wait_for_url(f"{api.base_url}/account/?billing=success")
        panel = page.get_by_role("region", name="Subscription")
        expect(panel).to_contain_text("Confirming your subscription")
        for event in fake.events[start:]:  # Stripe's webhooks arrive
            assert deliver(api, event).status_code == 200
        expect(panel).to_contain_text("Your Pro subscription is active.", timeout=15_000)
        expect(panel).to_contain_text("Renews monthly on")
        expect(page.get_by_role("button", name="Upgrade to Pro, monthly")).to_be_hidden()
        page.get_by_role("button", name="Manage subscription").click()
        page.wait_for_url(f"{fake.base_url}/p/session/*")

        page.goto(f"{api.base_url}/pricing/")
        expect(page.get_by_text("You are on Pro.")).to_be_visible()
        expect(page.get_by_role("button", name="Upgrade: $5 per month")).to_be_hidden()


def test_billing_off_hides_every_button(
    site: Path, context: BrowserContext, tmp_path: Path
) -> None:
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, site=site) as api:
        signed_in_context(context, api)
        page = context.new_page()
        page.goto(f"{api.base_url}/pricing/")
        expect(page.get_by_text("Subscriptions are not available right now")).to_be_visible()
        for name in ("Upgrade: $5 per month", "Upgrade: $48 per year", "Manage subscription"):
            expect(page.get_by_role("button", name=name)).to_be_hidden()
        page.goto(f"{api.base_url}/account/")
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.locator("[data-billing]")).to_have_attribute("data-billing-state", "off")
        expect(page.get_by_role("region", name="Subscription")).to_be_hidden()
