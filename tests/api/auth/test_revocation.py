"""A new password (change or recovery) ends every other way into the account: sessions
and every emailed link that is still outstanding (security review, class 9)."""

from __future__ import annotations

from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Client, Keys
from tests.support.api_server import RunningApi


def mailed_links(api: RunningApi, account: Account, client: Client) -> dict[str, str]:
    """A sign-in link and an email-change link, both issued and still unused."""
    before = len(api.outbox.to(account.email))
    assert client.post("/api/auth/link", {"email": account.email}).status_code == 202
    _, signin = api.outbox.last_link(account.email, count=before + 1)
    moved = f"moved-{account.email}"
    assert client.request("PATCH", "/api/me", json={"email": moved}).status_code == 200
    _, change = api.outbox.last_link(moved)
    return {"signin": signin, "email_change": change}


def assert_links_dead(api: RunningApi, account: Account, links: dict[str, str]) -> None:
    outsider = api.client()
    used = outsider.post("/api/auth/link/confirm", {"token": links["signin"]})
    assert used.status_code == 400, used.text
    assert used.json()["error"]["code"] == "link_used"
    assert "sid" not in outsider.http.cookies
    moved = outsider.post("/api/auth/verify", {"token": links["email_change"]})
    assert moved.status_code == 400, moved.text
    me = api.client()
    me.login(account)
    user = me.get("/api/me").json()["user"]
    assert user["email"] == account.email and user["pending_email"] is None


def test_password_change_ends_outstanding_links(api: RunningApi) -> None:
    account = Account("rev1@example.com", "old password")
    client = api.client().signed_up(account)
    links = mailed_links(api, account, client)
    keys = Keys.from_kdf(account.password, account.keys.kdf)
    body = {"current_auth_key": vc.b64url(keys.auth_key), **account.new_password_body("new")}
    changed = client.post("/api/auth/password", body)
    assert changed.status_code == 200, changed.text
    assert client.get("/api/me").status_code == 200  # the session that changed it stays
    assert_links_dead(api, account, links)


def test_recovery_ends_outstanding_links(api: RunningApi) -> None:
    account = Account("rev2@example.com", "forgotten")
    client = api.client().signed_up(account)
    links = mailed_links(api, account, client)
    proof = {"email": account.email, "recovery_auth_key": vc.b64url(account.recovery.auth_key)}
    recovered = api.client().post("/api/auth/recover", {**proof, **account.new_password_body("n")})
    assert recovered.status_code == 200, recovered.text
    assert client.get("/api/me").status_code == 401
    assert_links_dead(api, account, links)
