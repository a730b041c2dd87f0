"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from playwright.sync_api import Browser

from tests.support.browser import close_shared_chromium, shared_chromium
from tests.support.tiers import fast_tier, refuse_in_fast_tier

# Property tests draw few examples in the fast loop (`make check`) and more in `make test`,
# which sets HYPOTHESIS_PROFILE=full; `thorough` is for a long hunt by hand. No per-example
# deadline (some talk to a server), no example database in the work tree.
settings.register_profile("dev", max_examples=20, deadline=None, database=None)
settings.register_profile("full", max_examples=60, deadline=None, database=None)
settings.register_profile("thorough", max_examples=2000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium, launched once per test run and shared by all browser tests
    (Playwright's sync API allows one instance per process). Give each test or module its
    own `chromium.new_context()` so cookies and storage never leak between tests."""
    yield shared_chromium()
    close_shared_chromium()


# Markers that put a test in the end-to-end tier (`make test`, not `make check`).
E2E_MARKERS = frozenset({"browser", "postgres", "slow"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()) or any(
            item.get_closest_marker(name) for name in E2E_MARKERS
        ):
            item.add_marker(pytest.mark.e2e)
    items[:] = _heaviest_modules_first(items)


def _weight(item: pytest.Item) -> float:
    if item.get_closest_marker("slow"):
        return 10.0
    return 2.0 if item.get_closest_marker("e2e") else 0.1


def _heaviest_modules_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """Modules with whole builds, kills and browsers first, each kept in one piece (its
    module fixtures are made once): pytest-xdist hands tests out in this order, so the run
    ends on many short tests that fill both cores, not on one long test that leaves a core
    idle (about 20 s of `make test`'s wall time)."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    ordered = sorted(modules.values(), key=lambda its: -sum(map(_weight, its)))
    return [item for its in ordered for item in its]


@pytest.fixture(autouse=True)
def _no_python_subprocess_in_the_fast_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """In `make check`, a test that runs Python in a subprocess (a CLI run, a whole build,
    a server) fails at once and names the `e2e` marker it needs."""
    if not fast_tier():
        return
    start = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
        program = args[0] if isinstance(args, list | tuple) else str(args).split()[0]
        if str(program) == sys.executable:
            refuse_in_fast_tier("runs Python in a subprocess (a CLI run or a whole build)")
        start(self, args, *rest, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """With SORASTATS_TEST_CPU=FILE, append each test's CPU seconds (this process and its
    finished children) to FILE: where `make test`'s time goes, as durations cannot say on a
    loaded machine."""
    report = os.environ.get("SORASTATS_TEST_CPU")
    if not report:
        return (yield)
    before = _cpu_seconds()
    try:
        return (yield)
    finally:
        with open(report, "a", encoding="utf-8") as out:
            out.write(f"{_cpu_seconds() - before:.3f}\t{item.nodeid}\n")
