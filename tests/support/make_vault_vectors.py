"""Write tests/fixtures/vault_vectors.json: golden vectors of the vault scheme, computed by
the Python reference (tests/support/vault_crypto.py). The browser module must reproduce
every one of them exactly; tests/api/vault/test_vault_crypto.py checks that this script still
produces the file byte for byte.

    .venv/bin/python -m tests.support.make_vault_vectors

Every "random" value (salts, keys, IVs, code bytes) is fixed: SHA-256 of a label, so the
file is reproducible and nothing in it is secret. Bytes are hex; envelopes and codes are
as they travel.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

from tests.support import vault_crypto as vc

VECTORS_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "vault_vectors.json"
LOW_ITERATIONS = 1000
KEK_CHECK_AD = "pv1|test|kek-check"
KEK_CHECK_PLAINTEXT = "the kek is the same key"

Vector = dict[str, Any]


def fixed(label: str, length: int) -> bytes:
    """Deterministic stand-in for random bytes (never use outside vectors)."""
    return hashlib.sha256(f"sorastats vault vectors: {label}".encode()).digest()[:length]


def flip_bit(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _derivation(name: str, password: str, salt: bytes, iterations: int) -> Vector:
    master = vc.derive_master(password, salt, iterations)
    kek = vc.derive_kek(master)
    iv = fixed(f"kek check {name}", 12)
    return {
        "name": name,
        "password": password,
        "salt": salt.hex(),
        "iterations": iterations,
        "master": master.hex(),
        "auth_key": vc.derive_auth_key(master).hex(),
        "kek": kek.hex(),
        "auth_key_b64url": vc.b64url(vc.derive_auth_key(master)),
        # The browser's kek is non-extractable: it proves it is this key by sealing this.
        "kek_check": {
            "iv": iv.hex(),
            "associated_data": KEK_CHECK_AD,
            "plaintext": KEK_CHECK_PLAINTEXT,
            "envelope": vc.seal(kek, KEK_CHECK_PLAINTEXT.encode(), KEK_CHECK_AD, iv),
        },
    }


def derivations() -> list[Vector]:
    accented = "pässwörd 密码 🔑 ñ"
    return [
        _derivation("ascii", "correct horse battery staple", fixed("salt ascii", 16), 1000),
        _derivation("non-ascii", accented, fixed("salt non-ascii", 16), LOW_ITERATIONS),
        # Same password typed with decomposed accents: NFC makes it derive the same keys.
        _derivation(
            "non-ascii decomposed (NFD)",
            unicodedata.normalize("NFD", accented),
            fixed("salt non-ascii", 16),
            LOW_ITERATIONS,
        ),
        _derivation("long password, 1 iteration", "x" * 300 + "末尾", fixed("salt long", 16), 1),
        _derivation("default iterations", "Tr0ub4dor&3 ☕", fixed("salt default", 16), 600_000),
    ]


def _envelope(name: str, key: bytes, ad: str, plaintext: str) -> Vector:
    iv = fixed(f"iv {name}", 12)
    return {
        "name": name,
        "key": key.hex(),
        "iv": iv.hex(),
        "associated_data": ad,
        "plaintext": plaintext,
        "envelope": vc.seal(key, plaintext.encode("utf-8"), ad, iv),
    }


def envelopes() -> list[Vector]:
    key = fixed("envelope key", 32)
    other = fixed("envelope key 2", 32)
    return [
        _envelope("empty plaintext", key, vc.ad_field("u1", "p1", 1, "notes"), ""),
        _envelope("ascii title", key, vc.ad_field("u1", "p1", 1, "title"), "A cat on a skateboard"),
        _envelope(
            "emoji and CJK body",
            key,
            vc.ad_field("u1", "p1", 2, "body"),
            "東京の夜景、ネオンが雨に映る 🌃🐈‍⬛ — cinematic, 35mm, 夜",
        ),
        _envelope(
            "long multi-line body",
            other,
            vc.ad_field("user_42", "prompt-7", 12, "body"),
            ("Line with tabs\tand quotes \"'` and <tags> & amp\n" * 60) + "end ✓",
        ),
        _envelope("tag name", other, vc.ad_tag("user_42", "tag-3"), "landscapes 風景"),
        _envelope("arbitrary associated data", key, "pv1|test|ä", "plain"),
    ]


def key_wrappings() -> list[Vector]:
    kek = bytes.fromhex(derivations()[0]["kek"])
    user_key = fixed("user key", 32)
    item_key = fixed("item key", 32)
    uk_iv, ik_iv = fixed("iv wrap uk", 12), fixed("iv wrap ik", 12)
    return [
        {
            "name": "user key wrapped by the kek of derivation 'ascii'",
            "kind": "uk",
            "wrapping_key": kek.hex(),
            "key": user_key.hex(),
            "iv": uk_iv.hex(),
            "user_id": "u1",
            "associated_data": vc.ad_user_key("u1"),
            "envelope": vc.wrap_user_key(kek, user_key, "u1", uk_iv),
        },
        {
            "name": "item key wrapped by the user key",
            "kind": "ik",
            "wrapping_key": user_key.hex(),
            "key": item_key.hex(),
            "iv": ik_iv.hex(),
            "user_id": "u1",
            "prompt_id": "p1",
            "associated_data": vc.ad_item_key("u1", "p1"),
            "envelope": vc.wrap_item_key(user_key, item_key, "u1", "p1", ik_iv),
        },
    ]


def chain() -> Vector:
    """Everything an account stores, decryptable from the password alone."""
    user_id, prompt_id, tag_id = "U7f3a", "P-19c", "T_4"
    password, salt = "vault chain ✓ пароль", fixed("salt chain", 16)
    kek = vc.derive_kek(vc.derive_master(password, salt, LOW_ITERATIONS))
    user_key, item_key = fixed("chain user key", 32), fixed("chain item key", 32)
    texts = {
        (1, "title"): "Neon city",
        (1, "body"): "A rainy neon city at night, reflections",
        (1, "notes"): "",
        (2, "title"): "Neon city (v2)",
        (2, "body"): "A rainy neon city at night, reflections, 雨",
        (2, "notes"): "use 16:9 🎬",
    }
    fields = [
        {
            "version": version,
            "field": field,
            "text": text,
            "envelope": vc.encrypt_field(
                item_key,
                user_id,
                prompt_id,
                version,
                field,
                text,
                fixed(f"chain {version}{field}", 12),
            ),
        }
        for (version, field), text in texts.items()
    ]
    return {
        "password": password,
        "salt": salt.hex(),
        "salt_b64url": vc.b64url(salt),
        "iterations": LOW_ITERATIONS,
        "user_id": user_id,
        "prompt_id": prompt_id,
        "user_key": user_key.hex(),
        "item_key": item_key.hex(),
        "wrapped_user_key": vc.wrap_user_key(kek, user_key, user_id, fixed("chain uk", 12)),
        "wrapped_item_key": vc.wrap_item_key(
            user_key, item_key, user_id, prompt_id, fixed("chain ik", 12)
        ),
        "fields": fields,
        "tag": {
            "tag_id": tag_id,
            "name": "cities 都市",
            "envelope": vc.encrypt_tag_name(
                user_key, user_id, tag_id, "cities 都市", fixed("chain tag", 12)
            ),
        },
    }


def _recovery(name: str, iterations: int) -> Vector:
    raw = fixed(f"recovery code {name}", vc.RECOVERY_CODE_BYTES)
    code = vc.recovery_code_from_bytes(raw)
    master = vc.derive_recovery_master(code, iterations)
    kek = vc.derive_kek(master)
    user_key = fixed(f"recovery user key {name}", 32)
    iv = fixed(f"recovery iv {name}", 12)
    return {
        "name": name,
        "code_bytes": raw.hex(),
        "code": code,
        "canonical": vc.normalize_recovery_code(code),
        "iterations": iterations,
        "master": master.hex(),
        "auth_key": vc.derive_auth_key(master).hex(),
        "kek": kek.hex(),
        "user_id": "u1",
        "user_key": user_key.hex(),
        "iv": iv.hex(),
        "recovery_wrapped_user_key": vc.wrap_user_key(kek, user_key, "u1", iv),
    }


def recoveries() -> list[Vector]:
    edge = [bytes(20), b"\xff" * 20]
    return [
        _recovery("low iterations", LOW_ITERATIONS),
        _recovery("default iterations", vc.RECOVERY_ITERATIONS),
        *({"name": f"code of {raw.hex()[:4]}...", "code_bytes": raw.hex(),
           "code": vc.recovery_code_from_bytes(raw)} for raw in edge),
    ]  # fmt: skip


def recovery_code_inputs() -> list[Vector]:
    code = vc.recovery_code_from_bytes(fixed("recovery code low iterations", 20))
    canonical = code.replace("-", "")
    with_aliases = canonical.replace("0", "o").replace("1", "l")
    cases: list[Vector] = [
        {"input": code, "canonical": canonical},
        {"input": code.lower(), "canonical": canonical},
        {"input": " ".join(code.split("-")) + "\n", "canonical": canonical},
        {"input": with_aliases, "canonical": canonical},
        {"input": canonical.replace("1", "I"), "canonical": canonical},
        {"input": code[:-1], "error": "length"},
        {"input": code + "A", "error": "length"},
        {"input": "", "error": "length"},
        {"input": code[:-1] + "U", "error": "character"},
        {"input": code[:-1] + "!", "error": "character"},
        {"input": code[:-1] + "é", "error": "character"},
    ]
    for case in cases:
        if "canonical" in case:
            assert vc.normalize_recovery_code(case["input"]) == case["canonical"]
    return cases


def b64url_cases() -> Vector:
    valid = [b"", b"\x00", b"\x01\x02", b"\xfb\xff", b"\xff\xfe\xfd", bytes(range(256))]
    return {
        "valid": [{"hex": data.hex(), "text": vc.b64url(data)} for data in valid],
        # padding, standard-alphabet characters, whitespace, impossible length, unused bits
        "invalid": ["AQ==", "AQ=", "+/8", "A/8", "AQ ", " AQ", "A", "AQID\n", "AR", "_w_", "%41"],
    }


def bad_envelopes() -> list[Vector]:
    iv, sealed = vc.b64url(bytes(12)), vc.b64url(bytes(16))
    return [
        {"envelope": "", "code": "envelope"},
        {"envelope": "pv1", "code": "envelope"},
        {"envelope": f"pv1.{iv}", "code": "envelope"},
        {"envelope": f"pv1.{iv}.{sealed}.", "code": "envelope"},
        {"envelope": f"pv2.{iv}.{sealed}", "code": "envelope"},
        {"envelope": f"PV1.{iv}.{sealed}", "code": "envelope"},
        {"envelope": f"pv0.{iv}.{sealed}", "code": "envelope"},
        {"envelope": f".{iv}.{sealed}", "code": "envelope"},
        {"envelope": f"pv1.{vc.b64url(bytes(8))}.{sealed}", "code": "envelope"},
        {"envelope": f"pv1.{vc.b64url(bytes(16))}.{sealed}", "code": "envelope"},
        {"envelope": f"pv1..{sealed}", "code": "envelope"},
        {"envelope": f"pv1.{iv}.{vc.b64url(bytes(15))}", "code": "envelope"},
        {"envelope": f"pv1.{iv}.", "code": "envelope"},
        {"envelope": f"pv1.{iv}=.{sealed}", "code": "encoding"},
        {"envelope": f"pv1.{iv}.{sealed}==", "code": "encoding"},
        {"envelope": f"pv1.{iv}.+{sealed[1:]}", "code": "encoding"},
        {"envelope": f"pv1.{iv}.{sealed} ", "code": "encoding"},
        {"envelope": f"pv1.{iv}.{sealed[:-1]}B", "code": "encoding"},
    ]


def tampered() -> list[Vector]:
    """Every way a stored ciphertext could be altered or moved; none may decrypt."""
    c = chain()
    user_id, prompt_id = c["user_id"], c["prompt_id"]
    user_key, item_key = c["user_key"], c["item_key"]
    body = next(f for f in c["fields"] if f["version"] == 2 and f["field"] == "body")
    body_ad = vc.ad_field(user_id, prompt_id, 2, "body")
    _, iv_text, sealed_text = body["envelope"].split(".")
    iv, sealed = vc.unb64url(iv_text), vc.unb64url(sealed_text)
    kek = vc.derive_kek(vc.derive_master(c["password"], bytes.fromhex(c["salt"]), c["iterations"]))

    def env(iv_bytes: bytes, sealed_bytes: bytes, prefix: str = "pv1") -> str:
        return f"{prefix}.{vc.b64url(iv_bytes)}.{vc.b64url(sealed_bytes)}"

    def case(name: str, key: str, envelope: str, ad: str, code: str = "decrypt") -> Vector:
        return {"name": name, "key": key, "envelope": envelope, "associated_data": ad, "code": code}

    tag, tag_id, body_env = c["tag"], c["tag"]["tag_id"], body["envelope"]
    wrapped_ik, wrapped_uk = c["wrapped_item_key"], c["wrapped_user_key"]
    other_user, other_prompt = "U7f3b", "P-19d"
    field_ad = vc.ad_field
    return [
        case("field: IV bit flipped", item_key, env(flip_bit(iv, 0), sealed), body_ad),
        case("field: ciphertext bit flipped", item_key, env(iv, flip_bit(sealed, 0)), body_ad),
        case("field: tag bit flipped", item_key, env(iv, flip_bit(sealed, -1)), body_ad),
        case("field: truncated tag", item_key, env(iv, sealed[:-1]), body_ad),
        case("field: other user", item_key, body_env, field_ad(other_user, prompt_id, 2, "body")),
        case("field: other prompt", item_key, body_env, field_ad(user_id, other_prompt, 2, "body")),
        case("field: other version", item_key, body_env, field_ad(user_id, prompt_id, 1, "body")),
        case("field: other field", item_key, body_env, field_ad(user_id, prompt_id, 2, "notes")),
        case("field: as an item key", item_key, body_env, vc.ad_item_key(user_id, prompt_id)),
        case("field: wrong key (user key)", user_key, body_env, body_ad),
        case("field: wrong key (random)", fixed("wrong key", 32).hex(), body_env, body_ad),
        case("field: unknown prefix pv2", item_key, env(iv, sealed, "pv2"), body_ad, "envelope"),
        case("field: unknown prefix PV1", item_key, env(iv, sealed, "PV1"), body_ad, "envelope"),
        case("field: 128-bit IV", item_key, env(iv + bytes(4), sealed), body_ad, "envelope"),
        case("tag: other tag id", user_key, tag["envelope"], vc.ad_tag(user_id, "T_5")),
        case("tag: other user", user_key, tag["envelope"], vc.ad_tag(other_user, tag_id)),
        case("tag: wrong key (item key)", item_key, tag["envelope"], vc.ad_tag(user_id, tag_id)),
        case("item key: other prompt", user_key, wrapped_ik, vc.ad_item_key(user_id, other_prompt)),
        case("item key: other user", user_key, wrapped_ik, vc.ad_item_key(other_user, prompt_id)),
        case("user key: other user", kek.hex(), wrapped_uk, vc.ad_user_key(other_user)),
        case("user key: wrong kek", derivations()[0]["kek"], wrapped_uk, vc.ad_user_key(user_id)),
    ]  # fmt: skip


def build_vectors() -> Vector:
    return {
        "about": "Golden vectors of the SoraStats vault scheme (docs/encryption.md). Generated "
        "by tests/support/make_vault_vectors.py; do not edit by hand. Bytes are hex.",
        "b64url": b64url_cases(),
        "derivation": derivations(),
        "envelope": envelopes(),
        "bad_envelopes": bad_envelopes(),
        "key_wrapping": key_wrappings(),
        "chain": chain(),
        "recovery": recoveries(),
        "recovery_code_inputs": recovery_code_inputs(),
        "tamper": tampered(),
    }


def render(vectors: Vector) -> str:
    # ASCII-only JSON: non-ASCII passwords (NFC vs NFD) stay exact whatever edits the file.
    return json.dumps(vectors, indent=1, ensure_ascii=True) + "\n"


def main() -> None:
    VECTORS_PATH.parent.mkdir(parents=True, exist_ok=True)
    VECTORS_PATH.write_text(render(build_vectors()), encoding="ascii")
    print(f"wrote {VECTORS_PATH}")


if __name__ == "__main__":
    main()
