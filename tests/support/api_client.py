"""A real API client for tests: derives keys in Python exactly as the browser will
(tests/support/vault_crypto.py), talks HTTP to the API (a real uvicorn server, or the app
in this process for the fast tier), reads mail from the dev-mode outbox. The vault and
billing tests reuse it."""

from __future__ import annotations

import email
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any

import httpx

from sorastats.tls import tls_context
from tests.support import vault_crypto as vc

TEST_ITERATIONS = 1000  # KDF_ITERATIONS in the test settings; the browser default is 600,000


@dataclass
class Keys:
    """Everything the browser derives from a password (or a recovery code)."""

    secret: str
    salt: bytes
    iterations: int
    master: bytes = b""
    auth_key: bytes = b""
    kek: bytes = b""

    def __post_init__(self) -> None:
        self.master = vc.derive_master(self.secret, self.salt, self.iterations)
        self.auth_key = vc.derive_auth_key(self.master)
        self.kek = vc.derive_kek(self.master)

    @property
    def kdf(self) -> dict[str, Any]:
        return {
            "name": "pbkdf2-sha256",
            "iterations": self.iterations,
            "salt": vc.b64url(self.salt),
        }

    @classmethod
    def new(cls, secret: str, iterations: int = TEST_ITERATIONS) -> Keys:
        return cls(secret, os.urandom(16), iterations)

    @classmethod
    def from_kdf(cls, secret: str, kdf: dict[str, Any]) -> Keys:
        return cls(secret, vc.unb64url(kdf["salt"]), int(kdf["iterations"]))


@dataclass
class Account:
    email: str
    password: str
    user_id: str = field(default_factory=lambda: secrets.token_hex(16))
    user_key: bytes = field(default_factory=lambda: os.urandom(32))
    recovery_code: str = field(default_factory=lambda: secrets.token_urlsafe(20))
    keys: Keys = field(init=False)
    recovery: Keys = field(init=False)

    def __post_init__(self) -> None:
        self.keys = Keys.new(self.password)
        self.recovery = Keys.new(self.recovery_code)

    def wrap(self, kek: bytes) -> str:
        return vc.seal(kek, self.user_key, vc.ad_user_key(self.user_id))

    def unwrap(self, kek: bytes, wrapped: str) -> bytes:
        return vc.open_envelope(kek, wrapped, vc.ad_user_key(self.user_id))

    def register_body(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "user_id": self.user_id,
            "auth_key": vc.b64url(self.keys.auth_key),
            "kdf": self.keys.kdf,
            "wrapped_user_key": self.wrap(self.keys.kek),
            "recovery_auth_key": vc.b64url(self.recovery.auth_key),
            "recovery_kdf": self.recovery.kdf,
            "recovery_wrapped_user_key": self.wrap(self.recovery.kek),
        }

    def new_password_body(self, password: str) -> dict[str, Any]:
        """Switch to `password`: new salt, new auth key, the same user key re-wrapped."""
        self.password = password
        self.keys = Keys.new(password)
        return {
            "auth_key": vc.b64url(self.keys.auth_key),
            "kdf": self.keys.kdf,
            "wrapped_user_key": self.wrap(self.keys.kek),
        }


def plain_text(message: email.message.EmailMessage) -> str:
    """The text/plain body of a mail (every mail the API sends has one)."""
    body = message.get_body(("plain",))
    assert body is not None, "no text/plain part"
    text: str = body.get_content()
    return text


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[email.message.EmailMessage]:
        if not self.folder.exists():
            return []
        found: list[email.message.EmailMessage] = []
        for path in sorted(self.folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            found.append(parsed)
        return found

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages() if m["To"].lower() == address.lower()]

    def wait_for(
        self, address: str, count: int = 1, timeout: float = 10
    ) -> list[email.message.EmailMessage]:
        """Mail is sent after the response (so timing hides account existence): poll."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(address)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def last_link(self, address: str, count: int = 1) -> tuple[str, str]:
        """(page path, token) of the newest link mailed to `address`, once `count`
        messages have arrived for it."""
        for message in reversed(self.wait_for(address, count)):
            match = re.search(
                r"https?://[^/\s]+(/api/pages/[\w-]+)#token=([\w.\-]+)", plain_text(message)
            )
            if match:
                return match.group(1), match.group(2)
        raise AssertionError(f"no link mailed to {address}")


class Client:
    """One browser-like client: its own cookie jar and CSRF token."""

    def __init__(
        self, base_url: str, outbox: Outbox, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, timeout=30, transport=transport, verify=tls_context()
        )
        self.outbox = outbox
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.csrf and method not in {"GET", "HEAD"}:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def register(self, account: Account, verify: bool = True) -> httpx.Response:
        mailed = len(self.outbox.to(account.email))
        response = self.post("/api/auth/register", account.register_body())
        assert response.status_code == 202, response.text
        # The account is stored after the answer, then mailed: once the mail is here, so is
        # the account.
        assert len(self.outbox.wait_for(account.email, mailed + 1)) > mailed
        if verify:
            page, token = self.outbox.last_link(account.email)
            assert page == "/api/pages/verify"
            confirmed = self.post("/api/auth/verify", {"token": token})
            assert confirmed.status_code == 200, confirmed.text
        return response

    def login(self, account: Account, expect: int = 200) -> httpx.Response:
        pre = self.get("/api/auth/prelogin", params={"email": account.email}).json()
        keys = Keys.from_kdf(account.password, pre["kdf"])
        response = self.post(
            "/api/auth/login", {"email": account.email, "auth_key": vc.b64url(keys.auth_key)}
        )
        assert response.status_code == expect, response.text
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
            # The browser's proof that it can open its vault: the user key unwraps.
            assert account.unwrap(keys.kek, response.json()["wrapped_user_key"]) == account.user_key
        return response

    def signed_up(self, account: Account) -> Client:
        self.register(account)
        self.login(account)
        return self


TIER_LIMIT_FIELDS = {"code", "message", "limit", "tier", "allowed", "lifted_by"}


def tier_limit_error(response: httpx.Response, limit: str) -> dict[str, Any]:
    """The 402 body every tier refusal shares, whichever domain refused (one path:
    sorastats.tiers.TierLimitError -> api/errors.py)."""
    assert response.status_code == 402, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == TIER_LIMIT_FIELDS, error
    assert error["code"] == "tier_limit" and error["limit"] == limit, error
    return error
