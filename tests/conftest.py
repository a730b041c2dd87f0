"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from playwright.sync_api import Browser

from tests.support.browser import close_shared_chromium, shared_chromium

# Property tests talk to a real server: no per-example deadline, no example database in
# the work tree. `make test` uses the quick profile (a few seconds per backend, on top of
# the explicit examples); HYPOTHESIS_PROFILE=thorough runs many more examples.
settings.register_profile("quick", max_examples=60, deadline=None, database=None)
settings.register_profile("thorough", max_examples=2000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium, launched once per test run and shared by all browser tests
    (Playwright's sync API allows one instance per process). Give each test or module its
    own `chromium.new_context()` so cookies and storage never leak between tests."""
    yield shared_chromium()
    close_shared_chromium()
