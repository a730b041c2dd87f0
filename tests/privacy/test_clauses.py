"""Every clause of the privacy policy (§1 to §11 and the seven bullets of §7) is mapped to
tests that exist, or to a gap said out loud (tests/privacy/clauses.py)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.privacy.clauses import CLAUSES, Clause
from tests.support.paths import ROOT


def policy_clauses() -> list[str]:
    text = (ROOT / "content" / "privacy.md").read_text(encoding="utf-8")
    sections = [f"§{n}" for n in re.findall(r"^## (\d+)\. ", text, re.M)]
    seven = text[text.index("## 7. ") : text.index("## 8. ")]
    bullets = [f"§7.{i}" for i in range(1, len(re.findall(r"^- ", seven, re.M)) + 1)]
    return sections + bullets


def test_every_clause_of_the_policy_is_mapped() -> None:
    clauses = policy_clauses()
    assert len(clauses) == 11 + 7  # the sections, and the bullets of section 7
    assert sorted(c.key for c in CLAUSES) == sorted(clauses)


def _functions(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("clause", CLAUSES, ids=lambda c: c.key)
def test_each_clause_names_tests_that_exist_or_a_gap(clause: Clause) -> None:
    assert bool(clause.tests) != bool(clause.gap), "tests, or a gap said out loud"
    for test in clause.tests:
        path, _, name = test.partition("::")
        assert name.startswith("test_") and name in _functions(path), test
