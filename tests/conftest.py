"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.browser import close_shared_chromium, shared_chromium


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium, launched once per test run and shared by all browser tests
    (Playwright's sync API allows one instance per process). Give each test or module its
    own `chromium.new_context()` so cookies and storage never leak between tests."""
    yield shared_chromium()
    close_shared_chromium()
