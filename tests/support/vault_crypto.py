"""The client side of SoraStats' zero-knowledge scheme, in Python, exactly as the browser
does it with WebCrypto (templates/static/js/vault-crypto.js). Tests use it to act as a real
client and to check the browser's output against golden vectors. Never imported by the
server. docs/encryption.md is the specification; this module and the browser module must
both match it.

- master   = PBKDF2-HMAC-SHA256(NFC(password) as UTF-8, salt, iterations), 32 bytes
- auth_key = HKDF-SHA256(master, salt=b"", info=b"sorastats/auth", 32 bytes)  (sent)
- kek      = HKDF-SHA256(master, salt=b"", info=b"sorastats/kek", 32 bytes)   (kept)
- envelope = "pv1." + b64url(iv) + "." + b64url(ciphertext || tag), AES-256-GCM,
  fresh 96-bit IV, associated data rebuilt from ids (see ad_*).
- kek wraps the user key, the user key wraps one item key per prompt and encrypts tag
  names, the item key encrypts the fields of every version of its prompt.
- recovery code: 160 random bits shown as 32 Crockford base32 characters in groups of 4;
  its keys are derived like a password's with the fixed salt RECOVERY_SALT.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

ENVELOPE_PREFIX = "pv1"
DEFAULT_ITERATIONS = 600_000
IV_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
SALT_BYTES = 16
FIELDS = ("title", "body", "notes")
RECOVERY_SALT = b"sorastats/recovery"
RECOVERY_ITERATIONS = 600_000
RECOVERY_CODE_BYTES = 20
# Crockford's base32: no I, L, O, U, so a code read aloud or copied by hand stays unambiguous.
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RECOVERY_ALIASES = {"O": "0", "I": "1", "L": "1"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class EnvelopeError(ValueError):
    """An envelope or encoded value that is malformed (decryption was not even tried)."""


class RecoveryCodeError(ValueError):
    """A recovery code that cannot be one (wrong length or characters)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict base64url without padding: other characters, padding, an impossible length
    or non-zero unused bits are refused, so every value has exactly one spelling."""
    if not _B64URL.fullmatch(text):
        raise EnvelopeError("invalid base64url: only A-Z a-z 0-9 - _ and no padding")
    if len(text) % 4 == 1:
        raise EnvelopeError("invalid base64url: impossible length")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the checks above catch every case
        raise EnvelopeError(f"invalid base64url: {exc}") from exc
    if b64url(data) != text:
        raise EnvelopeError("invalid base64url: non-canonical (unused bits set)")
    return data


def derive_master(password: str, salt: bytes, iterations: int) -> bytes:
    # NFC so that the same password typed on systems that compose accents differently
    # (e.g. "é" as one code point or as "e" + combining accent) gives the same keys.
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(secret)


def hkdf(master: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info.encode()).derive(master)


def derive_auth_key(master: bytes) -> bytes:
    return hkdf(master, "sorastats/auth")


def derive_kek(master: bytes) -> bytes:
    return hkdf(master, "sorastats/kek")


def derive_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(auth_key, kek) from a password, as the browser's deriveKeys."""
    master = derive_master(password, salt, iterations)
    return derive_auth_key(master), derive_kek(master)


def _check_id(kind: str, value: str) -> str:
    # Ids are joined with "|": an id holding "|" could forge another place's AD.
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{kind} must be 1-64 characters of A-Z a-z 0-9 - _, got {value!r}")
    return value


def ad_user_key(user_id: str) -> str:
    return f"pv1|uk|u:{_check_id('user id', user_id)}"


def ad_item_key(user_id: str, prompt_id: str) -> str:
    return f"pv1|ik|u:{_check_id('user id', user_id)}|p:{_check_id('prompt id', prompt_id)}"


def ad_field(user_id: str, prompt_id: str, version: int, field: str) -> str:
    if type(version) is not int or not 1 <= version <= 2**53 - 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    if field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
    user = _check_id("user id", user_id)
    prompt = _check_id("prompt id", prompt_id)
    return f"pv1|ct|u:{user}|p:{prompt}|v:{version}|f:{field}"


def ad_tag(user_id: str, tag_id: str) -> str:
    return f"pv1|tag|u:{_check_id('user id', user_id)}|t:{_check_id('tag id', tag_id)}"


def parse_envelope(envelope: str) -> tuple[bytes, bytes]:
    """(iv, ciphertext || tag) of a well-formed envelope; EnvelopeError otherwise."""
    if not isinstance(envelope, str):
        raise EnvelopeError("envelope must be a string")
    parts = envelope.split(".")
    if len(parts) != 3:
        raise EnvelopeError("envelope must have 3 dot-separated parts")
    if parts[0] != ENVELOPE_PREFIX:
        raise EnvelopeError(f"unknown envelope prefix {parts[0][:16]!r} (expected 'pv1')")
    iv = unb64url(parts[1])
    if len(iv) != IV_BYTES:
        raise EnvelopeError(f"IV must be 96 bits, got {len(iv) * 8}")
    sealed = unb64url(parts[2])
    if len(sealed) < TAG_BYTES:
        raise EnvelopeError("ciphertext shorter than the 128-bit tag")
    return iv, sealed


def seal(key: bytes, plaintext: bytes, associated_data: str, iv: bytes | None = None) -> str:
    """Encrypt into an envelope. `iv` is only given by golden-vector tests."""
    iv = os.urandom(IV_BYTES) if iv is None else iv
    if len(iv) != IV_BYTES:
        raise ValueError("IV must be 96 bits")
    ct = AESGCM(key).encrypt(iv, plaintext, associated_data.encode("utf-8"))
    return f"{ENVELOPE_PREFIX}.{b64url(iv)}.{b64url(ct)}"


def open_envelope(key: bytes, envelope: str, associated_data: str) -> bytes:
    """Decrypt an envelope; raises EnvelopeError (a ValueError) on any shape error and
    cryptography's InvalidTag on a wrong key, tampering or a different place (AD)."""
    iv, sealed = parse_envelope(envelope)
    return AESGCM(key).decrypt(iv, sealed, associated_data.encode("utf-8"))


def generate_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _open_key(key: bytes, envelope: str, associated_data: str) -> bytes:
    raw = open_envelope(key, envelope, associated_data)
    if len(raw) != KEY_BYTES:
        raise EnvelopeError("wrapped key is not 256 bits")
    return raw


def wrap_user_key(kek: bytes, user_key: bytes, user_id: str, iv: bytes | None = None) -> str:
    """Also used with the recovery kek for `recovery_wrapped_user_key` (same AD)."""
    return seal(kek, user_key, ad_user_key(user_id), iv)


def unwrap_user_key(kek: bytes, envelope: str, user_id: str) -> bytes:
    return _open_key(kek, envelope, ad_user_key(user_id))


def wrap_item_key(
    user_key: bytes, item_key: bytes, user_id: str, prompt_id: str, iv: bytes | None = None
) -> str:
    return seal(user_key, item_key, ad_item_key(user_id, prompt_id), iv)


def unwrap_item_key(user_key: bytes, envelope: str, user_id: str, prompt_id: str) -> bytes:
    return _open_key(user_key, envelope, ad_item_key(user_id, prompt_id))


def encrypt_field(
    item_key: bytes,
    user_id: str,
    prompt_id: str,
    version: int,
    field: str,
    text: str,
    iv: bytes | None = None,
) -> str:
    return seal(item_key, text.encode("utf-8"), ad_field(user_id, prompt_id, version, field), iv)


def decrypt_field(
    item_key: bytes, envelope: str, user_id: str, prompt_id: str, version: int, field: str
) -> str:
    return open_envelope(item_key, envelope, ad_field(user_id, prompt_id, version, field)).decode(
        "utf-8"
    )


def encrypt_tag_name(
    user_key: bytes, user_id: str, tag_id: str, name: str, iv: bytes | None = None
) -> str:
    return seal(user_key, name.encode("utf-8"), ad_tag(user_id, tag_id), iv)


def decrypt_tag_name(user_key: bytes, envelope: str, user_id: str, tag_id: str) -> str:
    return open_envelope(user_key, envelope, ad_tag(user_id, tag_id)).decode("utf-8")


def recovery_code_from_bytes(raw: bytes) -> str:
    """The human form of 160 random bits: 8 groups of 4 Crockford base32 characters."""
    if len(raw) != RECOVERY_CODE_BYTES:
        raise ValueError("a recovery code holds exactly 160 bits")
    number = int.from_bytes(raw, "big")
    chars = [RECOVERY_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(32))]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, 32, 4))


def new_recovery_code() -> str:
    return recovery_code_from_bytes(os.urandom(RECOVERY_CODE_BYTES))


def normalize_recovery_code(text: str) -> str:
    """The 32 canonical characters of a code as a person may type it: any case, spaces and
    hyphens anywhere, O for 0 and I or L for 1."""
    cleaned = re.sub(r"[\s-]", "", text).upper()
    chars = [_RECOVERY_ALIASES.get(c, c) for c in cleaned]
    bad = sorted({c for c in chars if c not in RECOVERY_ALPHABET})
    if bad:
        raise RecoveryCodeError(f"a recovery code has no {', '.join(map(repr, bad))}")
    if len(chars) != 32:
        raise RecoveryCodeError(f"a recovery code has 32 characters, got {len(chars)}")
    return "".join(chars)


def derive_recovery_master(code: str, iterations: int = RECOVERY_ITERATIONS) -> bytes:
    """The recovery code's master key; auth key and kek follow as for a password."""
    return derive_master(normalize_recovery_code(code), RECOVERY_SALT, iterations)
