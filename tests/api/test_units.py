"""Table tests of the pure pieces: backoff, cross-site rules, validation, link tokens."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from api import strict_json
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


# --- strict JSON (api/strict_json.py) ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"a": 1, "b": [1.5, -0.0, "x", null, true]}',
            {"a": 1, "b": [1.5, -0.0, "x", None, True]},
        ),
        (b'{"k": 1e308}', {"k": 1e308}),
        (b'"\\ud83d\\ude00"', "\U0001f600"),  # an escaped surrogate *pair* is one character
        ('"\u00e9"'.encode(), "\u00e9"),
        (b"[" * 31 + b"]" * 31, [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    ],
)
def test_strict_loads_accepts(raw: bytes, expected: Any) -> None:
    assert strict_json.loads(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"k": NaN}', "NaN"),
        (b'{"k": Infinity}', "Infinity"),
        (b'{"k": -Infinity}', "-Infinity"),
        (b'{"k": 1e400}', "out of range"),
        (b'{"k": -1E+999}', "out of range"),
        (b'{"k": "a\\ud800b"}', "body.k: is not valid Unicode"),
        (b'{"k": "\\udc00"}', "body.k: is not valid Unicode"),
        (b'{"\\ud800": 1}', "key"),
        (b'{"a": {"b": [{"\\udfff": 1}]}}', "body.a.b[0] key"),
        (b'{"a": ["x", "\\ud800"]}', "body.a[1]"),
        (b'{"k": "a\\u0000b"}', "NUL"),
        (b'{"a\\u0000": 1}', "NUL"),
        (b"\xed\xa0\x80", "not UTF-8"),  # a surrogate encoded as UTF-8 bytes
        (b'"\xff"', "not UTF-8"),
        (b"[" * 33 + b"]" * 33, "nested more than 32"),
        (b"[" * 100_000, "nested"),
        (b"1" * 5000, "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_strict_loads_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(strict_json.JsonInputError, match=re.escape(message)):
        strict_json.loads(raw)


def test_strict_loads_nul_allowed_on_request() -> None:
    assert strict_json.loads(b'{"a": "x\\u0000"}', allow_nul=True) == {"a": "x\x00"}
    with pytest.raises(strict_json.JsonInputError, match="Unicode"):
        strict_json.loads(b'{"a": "\\ud800"}', allow_nul=True)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("plain", None),
        ("\u00e9\U0001f600", None),
        ("a\ud800", "lone surrogate"),
        ("\udc00", "lone surrogate"),
        ("a\x00", "NUL"),
    ],
)
def test_text_problem(value: str, problem: str | None) -> None:
    found = strict_json.text_problem(value)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ('{"theme": "dark", "n": 2.5}', {"theme": "dark", "n": 2.5}),
        ('{"k": Infinity, "j": NaN, "m": -Infinity}', {"k": None, "j": None, "m": None}),
        ('{"k": 1e400}', {"k": None}),
        ('{"k": "a\\ud800b", "\\udc00": 1}', {"k": "a\ufffdb", "\ufffd": 1}),
        ('{"k": [1, {"x": NaN}]}', {"k": [1, {"x": None}]}),
        ("not json", {}),
        ("", {}),
        (None, {}),
        ({"already": "decoded", "x": float("inf")}, {"already": "decoded", "x": None}),
    ],
)
def test_load_stored_never_raises_and_is_renderable(stored: Any, expected: Any) -> None:
    loaded = strict_json.load_stored(stored, {})
    assert loaded == expected
    json.dumps(loaded, allow_nan=False).encode("utf-8")  # what JSONResponse does


def test_validate_number_bounds_apply_to_floats() -> None:
    schema = {"type": "number", "minimum": 0, "maximum": 10}
    validate(schema, 9.5)
    with pytest.raises(ApiError):
        validate(schema, 1e300)
    with pytest.raises(ApiError):
        validate(schema, -0.5)


@pytest.mark.parametrize("bad", ["a\ud800", "a\x00"])
def test_validate_refuses_bad_text_outside_bodies(bad: str) -> None:
    with pytest.raises(ApiError) as caught:
        validate(string(100), bad, "query.email")
    assert caught.value.status == 400 and caught.value.message.startswith("query.email")


ARRAY = {"type": "array", "items": string(4, 1), "minItems": 1, "maxItems": 3}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a"], None),
        (["a", "bb", "ccc"], None),
        ([], "body: 1 to 3 items"),
        (["a", "b", "c", "d"], "body: 1 to 3 items"),
        (["a", 7], "body[1]: expected string"),
        (["a", "toolong"], "body[1]: at most 4 characters"),
        ("a", "body: expected array"),
    ],
)
def test_validate_arrays_by_length_and_item(value: Any, message: str | None) -> None:
    if message is None:
        validate(ARRAY, value)
        return
    with pytest.raises(ApiError) as caught:
        validate(ARRAY, value)
    assert caught.value.status == 400 and caught.value.message == message
    with pytest.raises(ApiError, match="body: at least 2 items"):
        validate({"type": "array", "minItems": 2}, ["x"])
    with pytest.raises(ApiError, match="body: at most 1 items"):
        validate({"type": "array", "maxItems": 1}, ["x", "y"])
