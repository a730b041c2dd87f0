"""Table tests of the pure pieces: backoff, cross-site rules, validation, link tokens."""

from __future__ import annotations

from typing import Any

import pytest

from api.errors import ApiError
from api.middleware import cross_site_refusal
from api.security import LinkError, LinkSigner, backoff_seconds, fake_kdf, unb64url
from api.validation import EMAIL_RE, integer, key32, obj, string, validate

BASE = "https://sorastats.example"


@pytest.mark.parametrize(
    ("failures", "free", "cap", "wait"),
    [
        (0, 5, 900, 0),
        (4, 5, 900, 0),
        (5, 5, 900, 1),
        (6, 5, 900, 2),
        (8, 5, 900, 8),
        (15, 5, 900, 900),
        (10_000, 5, 900, 900),
        (1, 1, 60, 1),
    ],
)
def test_backoff(failures: int, free: int, cap: int, wait: int) -> None:
    assert backoff_seconds(failures, free, cap) == wait


@pytest.mark.parametrize(
    ("fetch_site", "origin", "refused"),
    [
        (None, None, False),
        ("same-origin", BASE, False),
        ("none", None, False),
        ("cross-site", None, True),
        ("CROSS-SITE", BASE, True),
        (None, "https://evil.example", True),
        (None, "null", True),
        (None, BASE + "/", False),
        ("same-site", "https://sub.sorastats.example", True),
        (None, "http://sorastats.example", True),
    ],
)
def test_cross_site_rules(fetch_site: str | None, origin: str | None, refused: bool) -> None:
    assert (cross_site_refusal(fetch_site, origin, BASE) is not None) == refused


SCHEMA = obj(
    {"n": integer(1, 10), "s": string(5, 1, pattern=r"^[a-z]+$"), "k": key32("k")}, required=["n"]
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"n": 1}, True),
        ({"n": 10, "s": "abc", "k": "A" * 43}, True),
        ({"n": 0}, False),
        ({"n": True}, False),
        ({"n": 1.5}, False),
        ({"n": "1"}, False),
        ({}, False),
        ({"n": 1, "s": ""}, False),
        ({"n": 1, "s": "abcdef"}, False),
        ({"n": 1, "s": "ABC"}, False),
        ({"n": 1, "s": "ab\n"}, False),
        ({"n": 1, "k": "A" * 42}, False),
        ({"n": 1, "k": "A" * 42 + "="}, False),
        ({"n": 1, "extra": 1}, False),
        ([], False),
        (None, False),
    ],
)
def test_validate(value: Any, ok: bool) -> None:
    if ok:
        validate(SCHEMA, value)
    else:
        with pytest.raises(ApiError) as caught:
            validate(SCHEMA, value)
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("a@b.co", True),
        ("first.last+tag@sub.example.org", True),
        ("a@b", False),
        ("a b@c.de", False),
        ("@c.de", False),
        ("a@-c.de", False),
        ("a@c..de", False),
        ("a" * 65 + "@c.de", False),
        ("ü@c.de", False),
        ("a@c.de\n", False),
    ],
)
def test_email_syntax(address: str, ok: bool) -> None:
    assert bool(EMAIL_RE.fullmatch(address)) == ok


def test_link_tokens() -> None:
    signer = LinkSigner("s" * 40)
    token, nonce_hash = signer.issue("verify")
    assert signer.read(token) == ("verify", nonce_hash)
    assert len(nonce_hash) == 64
    with pytest.raises(LinkError) as expired:
        signer.read(token, max_age=-1)
    assert expired.value.code == "link_expired"
    with pytest.raises(LinkError):
        LinkSigner("other-secret" * 4).read(token)
    with pytest.raises(LinkError):
        signer.read("garbage")


def test_fake_kdf_is_stable_and_secret_dependent() -> None:
    a = fake_kdf("secret-1" * 5, "x@y.z", 600_000)
    assert a == fake_kdf("secret-1" * 5, "x@y.z", 600_000)
    assert a["salt"] != fake_kdf("secret-2" * 5, "x@y.z", 600_000)["salt"]
    assert len(unb64url(a["salt"])) == 16


@pytest.mark.parametrize("text", ["AA=", "A*", "A A"])
def test_unb64url_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        unb64url(text)
