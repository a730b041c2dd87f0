"""docs/billing.md (and docs/api.md) stay in step with the code they describe."""

from __future__ import annotations

import re

import pytest

from api.billing.config import BILLING_SETTINGS
from api.billing.state import HANDLED_EVENT_TYPES
from sorastats.tiers import FEATURES, LIMITS, TIERS, tier_table_markdown
from tests.support.paths import ROOT

DOC = (ROOT / "docs" / "billing.md").read_text(encoding="utf-8")
API_DOC = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def test_tier_table_in_docs_is_the_one_in_code() -> None:
    match = re.search(r"<!-- generated: tiers -->\n(.*?)<!-- /generated -->", DOC, re.S)
    assert match, "docs/billing.md lost its generated tier table"
    assert match.group(1) == tier_table_markdown(), (
        "docs/billing.md is stale: run .venv/bin/python -m tests.support.docgen"
    )


def test_tier_table_names_every_tier_limit_and_feature() -> None:
    table = tier_table_markdown()
    for tier in TIERS:
        assert f" {tier.title} " in table.splitlines()[0]
    for spec in LIMITS:
        assert f"| {spec.label} |" in table
    for feature in FEATURES:
        assert f"| {feature.label} |" in table


@pytest.mark.parametrize("name", [s.name for s in BILLING_SETTINGS])
def test_every_setting_is_documented(name: str) -> None:
    assert f"| `{name}` |" in DOC
    assert f"| `{name}` |" in API_DOC


@pytest.mark.parametrize("event_type", sorted(HANDLED_EVENT_TYPES))
def test_every_handled_event_is_documented(event_type: str) -> None:
    assert f"- `{event_type}`" in DOC
