"""Pure rules of the vault API: envelope shape and size, field limits, the `since` cursor.

The server never decrypts; it only checks that each envelope is well formed (the same
strict parsing as docs/encryption.md) and not larger than its field allows."""

from __future__ import annotations

import math
import re
from typing import Final

from api.validation import Schema, string

ENVELOPE_RE: Final = re.compile(r"pv1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})")
ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
TAG_BYTES: Final = 16


def envelope_length(plaintext_bytes: int) -> int:
    """Length of the envelope of `plaintext_bytes` bytes: 'pv1.' + 16 + '.' + b64(ct+tag)."""
    return 4 + 16 + 1 + math.ceil((plaintext_bytes + TAG_BYTES) * 4 / 3)


# Plaintext limits in UTF-8 bytes, and so the envelope lengths the server accepts.
FIELD_LIMITS: Final[dict[str, int]] = {"title": 1_000, "body": 30_000, "notes": 30_000}
TAG_NAME_LIMIT: Final = 200
ITEM_KEY_LENGTH: Final = envelope_length(32)
MAX_ENVELOPE: Final[dict[str, int]] = {
    **{name: envelope_length(size) for name, size in FIELD_LIMITS.items()},
    "tag": envelope_length(TAG_NAME_LIMIT),
    "item_key": ITEM_KEY_LENGTH,
}


def envelope_problem(value: str, kind: str) -> str | None:
    """None if `value` is a well-formed pv1 envelope no larger than `kind` allows;
    otherwise what is wrong, for the error message."""
    match = ENVELOPE_RE.fullmatch(value)
    if match is None:
        return "is not a pv1 envelope (pv1.<base64url IV>.<base64url ciphertext>)"
    sealed = match.group(2)
    if len(sealed) % 4 == 1:
        return "has an impossible base64url length"
    if kind == "item_key" and len(value) != ITEM_KEY_LENGTH:
        return "must wrap exactly one 256-bit key"
    if len(value) > MAX_ENVELOPE[kind]:
        limit = FIELD_LIMITS.get(kind, TAG_NAME_LIMIT)
        return f"is too large (at most {limit} bytes of text)"
    return None


def envelope_schema(kind: str, description: str) -> Schema:
    return string(
        MAX_ENVELOPE[kind] + 1000,  # the exact limit is checked by envelope_problem
        43,
        pattern=r"^pv1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$",
        description=f"{description} (pv1 envelope)",
    )


def parse_since(text: str) -> int:
    """`since` is a Unix time in seconds (the `server_time` of the previous answer)."""
    if not text.isdigit() or len(text) > 12:
        raise ValueError("since must be a Unix time in seconds")
    return int(text)
