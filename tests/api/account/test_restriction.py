"""Privacy policy §8, restriction: an account frozen by its owner is kept (storage) but
not processed. Every signed-in endpoint not declared `while_restricted` answers 403
`account_restricted` before it reads its input; sign-in, reading and exporting the
account, lifting the restriction and deleting the account still work; lifting it gives
everything back unchanged. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from api.app import all_endpoints
from api.endpoints import Endpoint
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi

ALLOWED = {
    ("GET", "/api/me"),
    ("DELETE", "/api/me"),
    ("GET", "/api/me/export"),
    ("POST", "/api/me/restriction"),
    ("DELETE", "/api/me/restriction"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/vault/keys"),
}
SIGNED_IN = [ep for ep in all_endpoints() if ep.auth != "public"]
REFUSED = [ep for ep in SIGNED_IN if (ep.method, ep.path) not in ALLOWED]


def test_the_allowed_endpoints_are_exactly_the_declared_ones() -> None:
    declared = {(ep.method, ep.path) for ep in all_endpoints() if ep.while_restricted}
    assert declared == ALLOWED
    assert len(REFUSED) > 20  # the vault, tags, favorites, billing, profile, password, ...


def restricted_client(api: RunningApi, account: Account) -> Client:
    client = api.client().signed_up(account)
    created = client.request("PUT", "/api/favorites/s_kept")
    assert created.status_code in (200, 201), created.text
    answer = client.post("/api/me/restriction", {})
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json()["user"]["restricted_at"], int)
    return client


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.mark.parametrize("endpoint", REFUSED, ids=lambda ep: f"{ep.method} {ep.path}")
def test_every_other_signed_in_endpoint_is_refused(api: RunningApi, endpoint: Endpoint) -> None:
    client = restricted_client(api, Account("frozen@example.com", "pw"))
    answer = client.request(endpoint.method, concrete(endpoint.path), json={})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "account_restricted"


def test_restriction_keeps_everything_and_lifting_gives_it_back(api: RunningApi) -> None:
    keeper = Account("keeper@example.com", "pw")
    client = restricted_client(api, keeper)
    assert client.request("PUT", "/api/favorites/s_new").status_code == 403
    assert client.request("PATCH", "/api/me", json={"display_name": "x"}).status_code == 403
    me = client.get("/api/me").json()["user"]
    assert me["restricted_at"] is not None
    export = client.get("/api/me/export")
    assert export.status_code == 200
    assert [f["post_id"] for f in export.json()["favorites"]] == ["s_kept"]  # still stored
    again = client.post("/api/me/restriction", {})  # restricting twice keeps the first date
    assert again.json()["user"]["restricted_at"] == me["restricted_at"]

    # Sign-in still works (to lift or delete): a fresh client signs in, is restricted too.
    other = api.client()
    other.login(keeper)
    assert other.get("/api/favorites").json()["error"]["code"] == "account_restricted"

    lifted = client.delete("/api/me/restriction")
    assert lifted.status_code == 200 and lifted.json()["user"]["restricted_at"] is None
    assert client.get("/api/me").json()["user"]["restricted_at"] is None
    favorites = client.get("/api/favorites")
    assert favorites.status_code == 200
    assert "s_kept" in favorites.text
    assert client.request("PUT", "/api/favorites/s_new").status_code in (200, 201)
    assert client.delete("/api/me/restriction").status_code == 200  # not restricted: no-op


def test_a_restricted_account_can_be_deleted_and_signed_out(api: RunningApi) -> None:
    leaver = Account("leaver@example.com", "pw")
    client = restricted_client(api, leaver)
    assert client.post("/api/auth/logout", {}).status_code == 200
    client = api.client()
    client.login(leaver)
    assert client.delete("/api/me").status_code == 200
    assert api.client().login(leaver, expect=401).json()["error"]["code"] == "invalid_credentials"


def test_restriction_needs_a_session(api: RunningApi) -> None:
    anonymous = api.client()
    assert anonymous.post("/api/me/restriction", {}).status_code == 401
    assert anonymous.delete("/api/me/restriction").status_code == 401
