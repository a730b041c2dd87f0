"""A vault user for API tests: encrypts exactly as the browser does (tests/support/
vault_crypto.py) and talks to the real API through tests.support.api_client.Client."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.billing import store as billing_store
from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Client, Keys
from tests.support.api_server import RunningApi


@dataclass
class VaultUser:
    client: Client
    account: Account
    item_keys: dict[str, bytes] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return self.account.user_id

    def reserve(self, kind: str = "prompt", count: int = 1) -> list[str]:
        response = self.client.post("/api/vault/ids", {"kind": kind, "count": count})
        assert response.status_code == 201, response.text
        ids: list[str] = response.json()["ids"]
        return ids

    def fields(
        self, prompt_id: str, version: int, *, title: str = "", body: str = "", notes: str = ""
    ) -> dict[str, str]:
        """The three encrypted fields of one version; a field not given is empty."""
        key = self.item_keys[prompt_id]
        plain = {"title": title, "body": body, "notes": notes}
        return {
            name: vc.encrypt_field(key, self.uid, prompt_id, version, name, text)
            for name, text in plain.items()
        }

    def create_body(
        self, prompt_id: str, *, title: str = "", body: str = "", notes: str = ""
    ) -> dict[str, Any]:
        item_key = self.item_keys.setdefault(prompt_id, os.urandom(32))
        return {
            "id": prompt_id,
            "wrapped_item_key": vc.wrap_item_key(
                self.account.user_key, item_key, self.uid, prompt_id
            ),
            "fields": self.fields(prompt_id, 1, title=title, body=body, notes=notes),
        }

    def create(
        self, expect: int = 201, *, title: str = "", body: str = "", notes: str = ""
    ) -> httpx.Response:
        prompt_id = self.reserve()[0]
        created = self.create_body(prompt_id, title=title, body=body, notes=notes)
        response = self.client.post("/api/prompts", created)
        assert response.status_code == expect, response.text
        return response

    def bulk_body(self, bodies: list[str], **extra: Any) -> dict[str, Any]:
        """A POST /api/prompts/bulk body: one reserved prompt per text (`extra`: tag_ids...)."""
        ids = self.reserve(count=len(bodies)) if bodies else []
        prompts = [self.create_body(pid, body=text) for pid, text in zip(ids, bodies, strict=True)]
        return {"prompts": prompts, **extra}

    def create_id(self, *, title: str = "", body: str = "", notes: str = "") -> str:
        created = self.create(title=title, body=body, notes=notes)
        prompt_id: str = created.json()["prompt"]["id"]
        return prompt_id

    def edit(
        self,
        prompt_id: str,
        base: int,
        expect: int = 201,
        *,
        title: str = "",
        body: str = "",
        notes: str = "",
    ) -> httpx.Response:
        fields = self.fields(prompt_id, base + 1, title=title, body=body, notes=notes)
        request = {"base_version": base, "fields": fields}
        response = self.client.post(f"/api/prompts/{prompt_id}/versions", request)
        assert response.status_code == expect, response.text
        return response

    def decrypt(self, prompt: dict[str, Any], version: dict[str, Any]) -> dict[str, str]:
        key = vc.unwrap_item_key(
            self.account.user_key, prompt["wrapped_item_key"], self.uid, prompt["id"]
        )
        return {
            name: vc.decrypt_field(
                key, version["fields"][name], self.uid, prompt["id"], version["version"], name
            )
            for name in ("title", "body", "notes")
        }

    def tag(self, name: str) -> str:
        tag_id = self.reserve("tag")[0]
        envelope = vc.encrypt_tag_name(self.account.user_key, self.uid, tag_id, name)
        response = self.client.post("/api/tags", {"id": tag_id, "name": envelope})
        assert response.status_code == 201, response.text
        return tag_id


# Billing on without a Stripe server: nothing here calls Stripe; `make_pro` stores the
# subscription row its webhook would have stored, so the user is on Pro (no 50 cap).
PRO_ENV = {
    "STRIPE_SECRET_KEY": "sk_test_vault_import",
    "STRIPE_WEBHOOK_SECRET": "whsec_vault_import",
    "STRIPE_PRICE_PRO_MONTHLY": "price_vault_pro_monthly",
    "STRIPE_PRICE_PRO_YEARLY": "price_vault_pro_yearly",
}


def make_pro(api: RunningApi, user_id: str) -> None:
    """Put `user_id` on Pro, as an active subscription to PRO_ENV's monthly price."""
    now = int(time.time())
    sub = {
        "subscription_id": f"sub_{user_id[:12]}",
        "customer_id": f"cus_{user_id[:12]}",
        "status": "active",
        "price_id": PRO_ENV["STRIPE_PRICE_PRO_MONTHLY"],
        "current_period_end": now + 30 * 86400,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "created": now,
        "as_of": now,
    }
    api.services.db.call(lambda conn: billing_store.save_subscription(conn, user_id, sub, now))


BROWSER_ITERATIONS = 100_000  # the least vault-crypto.js accepts (MIN_ITERATIONS)


def vault_user(
    client: Client, email: str, password: str = "pw", *, browser: bool = False
) -> VaultUser:
    """A signed-up vault user; `browser=True` derives its keys with the iterations a
    browser accepts, so the pages can sign in as this user too."""
    account = Account(email, password)
    if browser:
        account.keys = Keys.new(password, BROWSER_ITERATIONS)
    client.signed_up(account)
    return VaultUser(client, account)
