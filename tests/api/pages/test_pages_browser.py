"""The pages mailed links open, in Debian's chromium: confirming is a button press (POST);
merely loading the page (as a link scanner would) uses nothing up."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.api_client import Account
from tests.support.api_server import run_api

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(chromium: Browser) -> Browser:
    """The run's shared chromium (tests/conftest.py): Playwright's sync API allows one
    instance per process, and other modules' browser tests share it."""
    return chromium


def test_verify_page_confirms_by_post(browser: Browser, tmp_path: Path) -> None:
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, real_server=True) as api:
        account = Account("page@example.com", "pw")
        client = api.client()
        client.register(account, verify=False)
        page_path, token = api.outbox.last_link(account.email)
        page = browser.new_page()
        page.goto(f"{api.base_url}{page_path}#token={token}")
        page.reload()  # a prefetch or second load changes nothing
        client.login(account, expect=403)
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("Done.").wait_for()
        client.login(account)
        page = browser.new_page()
        page.goto(f"{api.base_url}{page_path}#token={token}")
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("already used").wait_for()  # single use, shown clearly
        page.goto(f"{api.base_url}{page_path}")
        assert "incomplete" in page.locator("#result").inner_text()
