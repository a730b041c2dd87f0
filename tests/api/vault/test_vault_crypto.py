"""The Python reference of the vault scheme against the golden vectors, independent
re-implementations of the KDFs, strict parsing tables and tamper cases. The browser side of
the same vectors is tests/api/vault/test_vault_crypto_browser.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from tests.support import make_vault_vectors
from tests.support import vault_crypto as vc
from tests.support.paths import ROOT

VECTORS: dict[str, Any] = json.loads(make_vault_vectors.VECTORS_PATH.read_text("ascii"))
BROWSER_MODULE = ROOT / "templates" / "static" / "js" / "vault-crypto.js"


def by_name(group: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        "v", group, ids=[str(v.get("name", i)) for i, v in enumerate(group)]
    )


def rfc5869_hkdf_sha256(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF written out from RFC 5869 with hmac, to check `cryptography`'s independently."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def test_vectors_file_is_exactly_what_the_generator_writes() -> None:
    expected = make_vault_vectors.render(make_vault_vectors.build_vectors())
    assert make_vault_vectors.VECTORS_PATH.read_text("ascii") == expected


def test_vectors_cover_what_the_issue_asks() -> None:
    passwords = [v["password"] for v in VECTORS["derivation"]]
    assert any(not p.isascii() for p in passwords)
    assert 600_000 in {v["iterations"] for v in VECTORS["derivation"]}
    assert 600_000 in {v.get("iterations") for v in VECTORS["recovery"]}
    plaintexts = [v["plaintext"] for v in VECTORS["envelope"]]
    assert "" in plaintexts
    assert any(
        re.search("[\u4e00-\u9fff]", p) and re.search("[\U0001f300-\U0001faff]", p)
        for p in plaintexts
    )
    assert {v["kind"] for v in VECTORS["key_wrapping"]} == {"uk", "ik"}
    names = " ".join(v["name"] for v in VECTORS["tamper"])
    needed_cases = ["IV bit", "ciphertext bit", "tag bit", "other user", "other prompt"]
    needed_cases += ["other version", "other field", "other tag id", "wrong key", "unknown prefix"]
    for needed in needed_cases:
        assert needed in names


@by_name(VECTORS["derivation"])
def test_derivation_vector(v: dict[str, Any]) -> None:
    salt = bytes.fromhex(v["salt"])
    master = vc.derive_master(v["password"], salt, v["iterations"])
    assert master.hex() == v["master"]
    assert vc.derive_auth_key(master).hex() == v["auth_key"]
    assert vc.derive_kek(master).hex() == v["kek"]
    assert vc.derive_keys(v["password"], salt, v["iterations"]) == (
        bytes.fromhex(v["auth_key"]),
        bytes.fromhex(v["kek"]),
    )
    assert vc.b64url(bytes.fromhex(v["auth_key"])) == v["auth_key_b64url"]
    check = v["kek_check"]
    kek = bytes.fromhex(v["kek"])
    assert (
        vc.seal(
            kek, check["plaintext"].encode(), check["associated_data"], bytes.fromhex(check["iv"])
        )
        == check["envelope"]
    )


@by_name(VECTORS["derivation"])
def test_derivation_vector_matches_independent_implementations(v: dict[str, Any]) -> None:
    password = unicodedata.normalize("NFC", v["password"]).encode()
    master = hashlib.pbkdf2_hmac("sha256", password, bytes.fromhex(v["salt"]), v["iterations"])
    assert master.hex() == v["master"]
    assert rfc5869_hkdf_sha256(master, b"sorastats/auth").hex() == v["auth_key"]
    assert rfc5869_hkdf_sha256(master, b"sorastats/kek").hex() == v["kek"]


def test_decomposed_password_derives_the_same_keys() -> None:
    named = {v["name"]: v for v in VECTORS["derivation"]}
    nfc, nfd = named["non-ascii"], named["non-ascii decomposed (NFD)"]
    assert nfc["password"] != nfd["password"]
    assert (nfc["master"], nfc["auth_key"], nfc["kek"]) == (
        nfd["master"],
        nfd["auth_key"],
        nfd["kek"],
    )


def test_auth_key_and_kek_are_independent() -> None:
    for v in VECTORS["derivation"]:
        assert len({v["master"], v["auth_key"], v["kek"]}) == 3


@by_name(VECTORS["envelope"])
def test_envelope_vector(v: dict[str, Any]) -> None:
    key, iv = bytes.fromhex(v["key"]), bytes.fromhex(v["iv"])
    plaintext = v["plaintext"].encode("utf-8")
    assert vc.seal(key, plaintext, v["associated_data"], iv) == v["envelope"]
    assert vc.open_envelope(key, v["envelope"], v["associated_data"]) == plaintext
    assert vc.parse_envelope(v["envelope"]) == (iv, vc.unb64url(v["envelope"].split(".")[2]))


@by_name(VECTORS["key_wrapping"])
def test_key_wrapping_vector(v: dict[str, Any]) -> None:
    wrapping_key, key, iv = (bytes.fromhex(v[k]) for k in ("wrapping_key", "key", "iv"))
    if v["kind"] == "uk":
        assert vc.wrap_user_key(wrapping_key, key, v["user_id"], iv) == v["envelope"]
        assert vc.unwrap_user_key(wrapping_key, v["envelope"], v["user_id"]) == key
    else:
        assert (
            vc.wrap_item_key(wrapping_key, key, v["user_id"], v["prompt_id"], iv) == v["envelope"]
        )
        assert vc.unwrap_item_key(wrapping_key, v["envelope"], v["user_id"], v["prompt_id"]) == key
    if v["kind"] == "uk":
        assert v["associated_data"] == vc.ad_user_key(v["user_id"])
    else:
        assert v["associated_data"] == vc.ad_item_key(v["user_id"], v["prompt_id"])


def test_chain_decrypts_everything_from_the_password_alone() -> None:
    c = VECTORS["chain"]
    _, kek = vc.derive_keys(c["password"], vc.unb64url(c["salt_b64url"]), c["iterations"])
    user_key = vc.unwrap_user_key(kek, c["wrapped_user_key"], c["user_id"])
    assert user_key.hex() == c["user_key"]
    item_key = vc.unwrap_item_key(user_key, c["wrapped_item_key"], c["user_id"], c["prompt_id"])
    assert item_key.hex() == c["item_key"]
    for f in c["fields"]:
        text = vc.decrypt_field(
            item_key, f["envelope"], c["user_id"], c["prompt_id"], f["version"], f["field"]
        )
        assert text == f["text"]
    tag = c["tag"]
    assert (
        vc.decrypt_tag_name(user_key, tag["envelope"], c["user_id"], tag["tag_id"]) == tag["name"]
    )


@by_name(VECTORS["recovery"])
def test_recovery_vector(v: dict[str, Any]) -> None:
    assert vc.recovery_code_from_bytes(bytes.fromhex(v["code_bytes"])) == v["code"]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}", v["code"])
    if "master" not in v:
        return
    assert vc.normalize_recovery_code(v["code"]) == v["canonical"]
    master = vc.derive_recovery_master(v["code"], v["iterations"])
    assert master.hex() == v["master"]
    assert master == hashlib.pbkdf2_hmac(
        "sha256", v["canonical"].encode(), b"sorastats/recovery", v["iterations"]
    )
    assert vc.derive_auth_key(master).hex() == v["auth_key"]
    kek = vc.derive_kek(master)
    assert kek.hex() == v["kek"]
    iv = bytes.fromhex(v["iv"])
    assert (
        vc.wrap_user_key(kek, bytes.fromhex(v["user_key"]), v["user_id"], iv)
        == v["recovery_wrapped_user_key"]
    )
    assert (
        vc.unwrap_user_key(kek, v["recovery_wrapped_user_key"], v["user_id"]).hex() == v["user_key"]
    )


@pytest.mark.parametrize("case", VECTORS["recovery_code_inputs"], ids=repr)
def test_recovery_code_input(case: dict[str, Any]) -> None:
    if "canonical" in case:
        assert vc.normalize_recovery_code(case["input"]) == case["canonical"]
    else:
        with pytest.raises(
            vc.RecoveryCodeError, match="32 characters" if case["error"] == "length" else "has no"
        ):
            vc.normalize_recovery_code(case["input"])


def test_new_recovery_codes_are_random_and_round_trip() -> None:
    codes = {vc.new_recovery_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert vc.normalize_recovery_code(code.lower()) == code.replace("-", "")


@pytest.mark.parametrize(
    "case", VECTORS["b64url"]["valid"], ids=lambda c: c["text"][:12] or "empty"
)
def test_b64url_round_trip(case: dict[str, str]) -> None:
    assert vc.b64url(bytes.fromhex(case["hex"])) == case["text"]
    assert vc.unb64url(case["text"]).hex() == case["hex"]


@pytest.mark.parametrize("text", VECTORS["b64url"]["invalid"], ids=repr)
def test_b64url_refuses(text: str) -> None:
    with pytest.raises(vc.EnvelopeError, match="invalid base64url"):
        vc.unb64url(text)


@pytest.mark.parametrize("case", VECTORS["bad_envelopes"], ids=lambda c: repr(c["envelope"]))
def test_malformed_envelope_is_refused_before_decryption(case: dict[str, str]) -> None:
    with pytest.raises(vc.EnvelopeError):
        vc.parse_envelope(case["envelope"])
    with pytest.raises(vc.EnvelopeError):
        vc.open_envelope(bytes(32), case["envelope"], "pv1|test")


@by_name(VECTORS["tamper"])
def test_tampered_or_moved_ciphertext_fails(v: dict[str, Any]) -> None:
    expected = InvalidTag if v["code"] == "decrypt" else vc.EnvelopeError
    with pytest.raises(expected):
        vc.open_envelope(bytes.fromhex(v["key"]), v["envelope"], v["associated_data"])


@pytest.mark.parametrize(
    ("build", "args", "message"),
    [
        (vc.ad_user_key, ("a|p:b",), "user id"),
        (vc.ad_user_key, ("",), "user id"),
        (vc.ad_user_key, ("x" * 65,), "user id"),
        (vc.ad_user_key, ("é",), "user id"),
        (vc.ad_item_key, ("u1", "p 1"), "prompt id"),
        (vc.ad_tag, ("u1", "t:1"), "tag id"),
        (vc.ad_field, ("u1", "p1", 0, "body"), "version"),
        (vc.ad_field, ("u1", "p1", -1, "body"), "version"),
        (vc.ad_field, ("u1", "p1", True, "body"), "version"),
        (vc.ad_field, ("u1", "p1", "1", "body"), "version"),
        (vc.ad_field, ("u1", "p1", 1, "summary"), "field"),
        (vc.ad_field, ("u1", "p1", 1, "Body"), "field"),
    ],
)
def test_associated_data_refuses_ambiguous_parts(
    build: Any, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build(*args)


def test_every_seal_uses_a_fresh_iv() -> None:
    key = vc.generate_key()
    envelopes = [vc.seal(key, b"same", "pv1|test") for _ in range(100)]
    ivs = {vc.parse_envelope(e)[0] for e in envelopes}
    assert len(ivs) == 100
    assert all(vc.open_envelope(key, e, "pv1|test") == b"same" for e in envelopes)


def test_wrapped_key_of_the_wrong_size_is_refused() -> None:
    kek = vc.generate_key()
    short = vc.seal(kek, bytes(16), vc.ad_user_key("u1"))
    with pytest.raises(vc.EnvelopeError, match="256 bits"):
        vc.unwrap_user_key(kek, short, "u1")


def test_field_that_is_not_utf8_is_refused() -> None:
    key = vc.generate_key()
    envelope = vc.seal(key, b"\xff\xfe", vc.ad_field("u1", "p1", 1, "body"))
    with pytest.raises(UnicodeDecodeError):
        vc.decrypt_field(key, envelope, "u1", "p1", 1, "body")


def test_browser_module_is_self_contained() -> None:
    """No dependency, no network, no storage, no randomness but WebCrypto's."""
    source = BROWSER_MODULE.read_text("utf-8")
    forbidden_patterns = [r"^\s*import\b", r"\bimport\(", r"\bfetch\(", "XMLHttpRequest"]
    forbidden_patterns += [
        r"\beval\(",
        "new Function",
        "localStorage",
        r"Math\.random",
        r"console\.",
    ]
    for forbidden in forbidden_patterns:
        assert not re.search(forbidden, source, re.MULTILINE), forbidden


def js_constant(source: str, name: str) -> str:
    match = re.search(rf"^(?:export )?const {name} = (.+?);$", source, re.MULTILINE)
    assert match, f"{name} not found in vault-crypto.js"
    return match.group(1)


def test_browser_module_constants_match_the_python_reference() -> None:
    source = BROWSER_MODULE.read_text("utf-8")
    assert int(js_constant(source, "DEFAULT_ITERATIONS")) == vc.DEFAULT_ITERATIONS
    assert int(js_constant(source, "RECOVERY_ITERATIONS")) == vc.RECOVERY_ITERATIONS
    assert int(js_constant(source, "RECOVERY_CODE_BYTES")) == vc.RECOVERY_CODE_BYTES
    assert js_constant(source, "RECOVERY_ALPHABET") == f'"{vc.RECOVERY_ALPHABET}"'
    assert js_constant(source, "RECOVERY_SALT") == f'encoder.encode("{vc.RECOVERY_SALT.decode()}")'
    assert js_constant(source, "ENVELOPE_PREFIX") == f'"{vc.ENVELOPE_PREFIX}"'
    assert js_constant(source, "FIELDS") == f"Object.freeze({json.dumps(list(vc.FIELDS))})"


def test_docs_state_the_scheme_the_code_implements() -> None:
    docs = (ROOT / "docs" / "encryption.md").read_text("utf-8").replace("\\|", "|")
    source = BROWSER_MODULE.read_text("utf-8")
    for template in [
        vc.ad_user_key("U").replace("U", "<user id>"),
        vc.ad_item_key("U", "P").replace("U", "<user id>").replace("P", "<prompt id>"),
        "pv1|ct|u:<user id>|p:<prompt id>|v:<version>|f:<field>",
        vc.ad_tag("U", "T").replace("U", "<user id>").replace("T", "<tag id>"),
    ]:
        assert template in docs
    facts = ["sorastats/auth", "sorastats/kek", vc.RECOVERY_SALT.decode(), "600,000", "100,000"]
    facts += ["10,000,000", "NFC", "96-bit", "no padding", *vc.FIELDS]
    for fact in facts:
        assert fact in docs, fact
    assert int(js_constant(source, "MIN_ITERATIONS")) == 100_000
    assert int(js_constant(source, "MAX_ITERATIONS")) == 10_000_000
    assert f"`{VECTORS['recovery'][0]['code']}`" in docs  # the example code
