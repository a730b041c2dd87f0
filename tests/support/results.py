"""The last line of `make test`: the tests' counts (from pytest's JUnit XML) and whether
lint and types passed, since their output is printed after the tests'.

    python -m tests.support.results RESULTS.xml CHECKS_EXIT_STATUS
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence


def summary(xml_text: str, checks_status: int) -> str:
    suite = ET.fromstring(xml_text)
    if suite.tag == "testsuites":
        suite = suite[0]
    total = int(suite.get("tests", "0"))
    failed = int(suite.get("failures", "0")) + int(suite.get("errors", "0"))
    skipped = int(suite.get("skipped", "0"))
    passed = total - failed - skipped
    seconds = float(suite.get("time", "0"))
    checks = "passed" if checks_status == 0 else "FAILED (above)"
    return (
        f"make test: {passed:,} passed, {failed:,} failed, {skipped:,} skipped in "
        f"{seconds:.0f} s; lint and types {checks}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    path, status = (sys.argv[1:] if argv is None else argv)[:2]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        print("make test: no test results (pytest did not finish)")
        return 0
    print(summary(text, int(status)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
