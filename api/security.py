"""Cryptographic helpers of the server side: token hashing, argon2id of auth keys, CSRF
tokens, made-up prelogin answers, signed email-link tokens. No I/O here."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from sorastats import retention

KDF_NAME = "pbkdf2-sha256"
LINK_MAX_AGE = retention.seconds("email links")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url; ValueError on anything else."""
    if "=" in text:
        raise ValueError("padding is not allowed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url") from exc


def new_token() -> str:
    """A random 256-bit token (session cookies, email-link nonces)."""
    return b64url(secrets.token_bytes(32))


def new_id(nbytes: int = 16) -> str:
    return secrets.token_hex(nbytes)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def keyed(secret: str, purpose: str, message: str) -> bytes:
    return hmac.digest(secret.encode(), f"{purpose}|{message}".encode(), "sha256")


@functools.lru_cache(maxsize=4096)
def csrf_token(secret: str, session_token_hash: str) -> str:
    """Bound to the session: derived from its stored hash, so nothing extra is stored.
    Remembered for the 4,096 latest sessions (in memory only: a pure function of the
    secret and the hash), as every signed-in request needs it and the HMAC was a tenth
    of `GET /api/me`'s time."""
    return b64url(keyed(secret, "csrf", session_token_hash))


def csrf_ok(secret: str, session_token_hash: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, session_token_hash), presented)


def fake_kdf(secret: str, email: str, iterations: int, kind: str = "kdf") -> dict[str, Any]:
    """Stable made-up KDF parameters for an email without an account (random-looking
    16-byte salt, keyed on the email)."""
    salt = keyed(secret, f"prelogin-{kind}", email)[:16]
    return {"name": KDF_NAME, "iterations": iterations, "salt": b64url(salt)}


# What prelogin shows of an account besides its random salts: (kdf iterations, recovery
# iterations, whether the two salts are equal). Accounts made before recovery_kdf was
# required got a copy of kdf (equal salts); those cannot be moved to a fresh salt without
# the password or recovery code. So made-up answers copy the real distribution.
KdfShape = tuple[int, int, bool]


def fake_prelogin(
    secret: str, email: str, profile: list[tuple[KdfShape, int]]
) -> dict[str, dict[str, Any]]:
    """A made-up prelogin answer for an email without an account: stable per email, its
    shape drawn (keyed on the email) from `profile`, the real accounts' shapes with their
    counts, so every property an observer can compare (iterations, equal salts or not)
    is as likely as for a real account."""
    total = sum(count for _, count in profile)
    draw = int.from_bytes(keyed(secret, "prelogin-shape", email)[:8], "big") % total
    shape = profile[-1][0]
    for candidate, count in profile:
        if draw < count:
            shape = candidate
            break
        draw -= count
    iterations, recovery_iterations, same_salt = shape
    kdf = fake_kdf(secret, email, iterations)
    recovery = fake_kdf(secret, email, recovery_iterations, "recovery")
    if same_salt:
        recovery["salt"] = kdf["salt"]
    return {"kdf": kdf, "recovery_kdf": recovery}


def kdf_answer(kdf: dict[str, Any]) -> dict[str, Any]:
    """Stored KDF parameters in the one order and form every prelogin answer has."""
    return {"name": str(kdf["name"]), "iterations": int(kdf["iterations"]), "salt": kdf["salt"]}


def email_throttle_key(secret: str, email: str) -> str:
    # Keyed hash: the throttle table never holds an email address.
    return "acct:" + b64url(keyed(secret, "throttle", email)[:18])


def backoff_seconds(failures: int, free_attempts: int, max_seconds: int) -> int:
    """Wait imposed after `failures` consecutive failures: none for the first
    `free_attempts`, then 1, 2, 4 ... seconds, capped (never a permanent lockout)."""
    if failures < free_attempts:
        return 0
    return int(min(2 ** min(failures - free_attempts, 30), max_seconds))


@dataclass(frozen=True)
class KeyHasher:
    """argon2id over the client's auth key; the auth key itself is never stored."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def _hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )

    def hash(self, key: bytes) -> str:
        return str(self._hasher().hash(key))

    def verify(self, stored: str | None, key: bytes) -> bool:
        """Constant work whether or not an account exists: pass `stored=None` for an
        unknown email and a dummy hash of the same cost is checked instead."""
        hasher = self._hasher()
        target = stored if stored is not None else self.dummy_hash()
        try:
            ok = bool(hasher.verify(target, key))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        return ok and stored is not None

    def dummy_hash(self) -> str:
        cached: str | None = getattr(self, "_dummy", None)
        if cached is None:
            cached = self.hash(secrets.token_bytes(32))
            object.__setattr__(self, "_dummy", cached)
        return cached


class LinkError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LinkSigner:
    """Email-link tokens: itsdangerous-signed {purpose, nonce}; only sha256(nonce) is
    stored, so a database leak does not yield usable links."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="sorastats-email-link")

    def issue(self, purpose: str) -> tuple[str, str]:
        nonce = new_token()
        token = self._serializer.dumps({"p": purpose, "n": nonce})
        return token, sha256_hex(nonce)

    def read(self, token: str, max_age: int = LINK_MAX_AGE) -> tuple[str, str]:
        try:
            data = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise LinkError("link_expired", "This link has expired; ask for a new one.") from None
        except BadSignature:
            raise LinkError("link_invalid", "This link is not valid.") from None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            raise LinkError("link_invalid", "This link is not valid.")
        return str(data.get("p")), sha256_hex(data["n"])
