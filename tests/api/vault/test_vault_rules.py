"""Pure rules of the vault API (api/vault/rules.py), table-tested."""

from __future__ import annotations

import os

import pytest

from api.vault.rules import (
    FIELD_LIMITS,
    ITEM_KEY_LENGTH,
    envelope_length,
    envelope_problem,
    parse_since,
)
from tests.support import vault_crypto as vc

KEY = bytes(32)


def sealed(size: int) -> str:
    return vc.seal(KEY, b"x" * size, "ad")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 31, 32, 1000, 30_000])
def test_envelope_length_matches_real_envelopes(size: int) -> None:
    assert len(sealed(size)) == envelope_length(size)


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        (sealed(0), "title", None),
        (sealed(FIELD_LIMITS["title"]), "title", None),
        (sealed(FIELD_LIMITS["title"] + 1), "title", "too large"),
        (sealed(FIELD_LIMITS["body"]), "body", None),
        (sealed(FIELD_LIMITS["body"] + 1), "body", "too large"),
        (sealed(200), "tag", None),
        (sealed(201), "tag", "too large"),
        (vc.seal(KEY, os.urandom(32), "ad"), "item_key", None),
        (sealed(31), "item_key", "256-bit"),
        ("pv2" + sealed(3)[3:], "title", "not a pv1 envelope"),
        ("PV1" + sealed(3)[3:], "title", "not a pv1 envelope"),
        (sealed(3) + "=", "title", "not a pv1 envelope"),
        (sealed(3) + ".x", "title", "not a pv1 envelope"),
        ("pv1." + "A" * 16 + "." + "A" * 23, "title", None),
        ("pv1." + "A" * 16 + "." + "A" * 25, "title", "impossible base64url length"),
        ("pv1." + "A" * 15 + "." + "A" * 24, "title", "not a pv1 envelope"),
        ("a red fox at dusk", "body", "not a pv1 envelope"),
    ],
    # Sealed values are random: name them by length so every run (and every xdist
    # worker) collects the same test ids.
    ids=lambda v: f"{len(v)}-chars" if isinstance(v, str) and v.startswith(("pv", "PV")) else None,
)
def test_envelope_problem(value: str, kind: str, problem: str | None) -> None:
    found = envelope_problem(value, kind)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_item_key_length() -> None:
    assert ITEM_KEY_LENGTH == len(vc.seal(KEY, bytes(32), "ad"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1700000000", 1700000000),
        ("x", None),
        ("-1", None),
        ("1" * 13, None),
        ("", None),
        ("1.5", None),
    ],
)
def test_parse_since(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="Unix time"):
            parse_since(text)
    else:
        assert parse_since(text) == expected
