"""The client side of SoraStats' zero-knowledge scheme, in Python, exactly as the browser
does it with WebCrypto. Tests use it to act as a real client and to check the browser's
output against golden vectors. Never imported by the server.

- master   = PBKDF2-HMAC-SHA256(password, salt, iterations), 32 bytes
- auth_key = HKDF-SHA256(master, salt=b"", info=b"sorastats/auth", 32 bytes)  (sent)
- kek      = HKDF-SHA256(master, salt=b"", info=b"sorastats/kek", 32 bytes)   (kept)
- envelope = "pv1." + b64url(iv) + "." + b64url(ciphertext || tag), AES-256-GCM,
  fresh 96-bit IV, associated data rebuilt from ids (see associated_data_*).
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

ENVELOPE_PREFIX = "pv1"
DEFAULT_ITERATIONS = 600_000


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_master(password: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(password.encode("utf-8"))


def hkdf(master: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info.encode()).derive(master)


def derive_auth_key(master: bytes) -> bytes:
    return hkdf(master, "sorastats/auth")


def derive_kek(master: bytes) -> bytes:
    return hkdf(master, "sorastats/kek")


def ad_user_key(user_id: str) -> str:
    return f"pv1|uk|u:{user_id}"


def ad_item_key(user_id: str, prompt_id: str) -> str:
    return f"pv1|ik|u:{user_id}|p:{prompt_id}"


def ad_field(user_id: str, prompt_id: str, version: int, field: str) -> str:
    return f"pv1|ct|u:{user_id}|p:{prompt_id}|v:{version}|f:{field}"


def ad_tag(user_id: str, tag_id: str) -> str:
    return f"pv1|tag|u:{user_id}|t:{tag_id}"


def seal(key: bytes, plaintext: bytes, associated_data: str, iv: bytes | None = None) -> str:
    """Encrypt into an envelope. `iv` is only given by golden-vector tests."""
    iv = os.urandom(12) if iv is None else iv
    ct = AESGCM(key).encrypt(iv, plaintext, associated_data.encode("utf-8"))
    return f"{ENVELOPE_PREFIX}.{b64url(iv)}.{b64url(ct)}"


def open_envelope(key: bytes, envelope: str, associated_data: str) -> bytes:
    """Decrypt an envelope; raises ValueError on any shape error and InvalidTag on tamper."""
    parts = envelope.split(".")
    if len(parts) != 3 or parts[0] != ENVELOPE_PREFIX:
        raise ValueError("not a pv1 envelope")
    iv = unb64url(parts[1])
    if len(iv) != 12:
        raise ValueError("IV must be 96 bits")
    return AESGCM(key).decrypt(iv, unb64url(parts[2]), associated_data.encode("utf-8"))
