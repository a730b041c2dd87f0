"""The test tiers. `make check` runs the fast tier (`-m "not e2e"`) with
SORASTATS_TEST_TIER=fast: no browser, no real server, no PostgreSQL, no subprocess builds.
A test that reaches for one of those there fails at once, naming the marker it needs, so
the fast tier stays fast and nothing is silently left out of it."""

from __future__ import annotations

import os

import pytest


def fast_tier() -> bool:
    return os.environ.get("SORASTATS_TEST_TIER") == "fast"


def refuse_in_fast_tier(what: str) -> None:
    if fast_tier():
        pytest.fail(f"this test {what}: mark it `e2e` (pytest.mark.e2e), or keep it in-process")
