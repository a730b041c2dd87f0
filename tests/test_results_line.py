"""The last line of `make test` says what pytest's JUnit XML says."""

from __future__ import annotations

import pytest

from tests.support.results import summary

XML = (
    '<testsuites><testsuite name="pytest" errors="{e}" failures="{f}" skipped="{s}" '
    'tests="{t}" time="283.4"></testsuite></testsuites>'
)


@pytest.mark.parametrize(
    ("counts", "checks", "line"),
    [
        ((0, 0, 0, 1655), 0, "1,655 passed, 0 failed, 0 skipped in 283 s; lint and types passed"),
        ((1, 2, 3, 10), 0, "4 passed, 3 failed, 3 skipped in 283 s; lint and types passed"),
        ((0, 0, 0, 5), 2, "5 passed, 0 failed, 0 skipped in 283 s; lint and types FAILED"),
    ],
)
def test_summary(counts: tuple[int, int, int, int], checks: int, line: str) -> None:
    e, f, s, t = counts
    assert line in summary(XML.format(e=e, f=f, s=s, t=t), checks)
