"""Sessions, CSRF and cross-site refusal, password change, recovery, sign-in links."""

from __future__ import annotations

import pytest

from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Client, Keys
from tests.support.api_server import RunningApi


def two_devices(api: RunningApi, account: Account) -> tuple[Client, Client]:
    laptop = api.client().signed_up(account)
    phone = api.client()
    phone.login(account)
    return laptop, phone


def test_list_and_revoke_sessions(api: RunningApi) -> None:
    account = Account("s1@example.com", "pw")
    laptop, phone = two_devices(api, account)
    listed = laptop.get("/api/sessions").json()["sessions"]
    assert len(listed) == 2
    assert sorted(s["current"] for s in listed) == [False, True]
    assert {"id", "device", "created_at", "last_seen_at", "method"} <= set(listed[0])
    other = next(s for s in listed if not s["current"])
    assert laptop.request("DELETE", f"/api/sessions/{other['id']}").status_code == 200
    assert phone.get("/api/me").status_code == 401
    assert laptop.get("/api/me").status_code == 200


def test_other_users_sessions_are_404(api: RunningApi) -> None:
    alice = api.client().signed_up(Account("alice@example.com", "a"))
    mallory = api.client().signed_up(Account("mallory@example.com", "m"))
    alice_session = alice.get("/api/sessions").json()["sessions"][0]["id"]
    attempt = mallory.request("DELETE", f"/api/sessions/{alice_session}")
    assert attempt.status_code == 404
    assert attempt.json()["error"]["code"] == "not_found"
    assert mallory.request("DELETE", "/api/sessions/does-not-exist").status_code == 404
    assert alice.get("/api/me").status_code == 200
    # Mallory's own views never include Alice's data.
    assert alice_session not in mallory.get("/api/sessions").text
    assert "alice@example.com" not in mallory.get("/api/me/export").text


def test_csrf_token_required_for_unsafe_methods(api: RunningApi) -> None:
    client = api.client().signed_up(Account("c1@example.com", "pw"))
    token, client.csrf = client.csrf, ""
    missing = client.post("/api/auth/logout")
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
    wrong = client.post(
        "/api/auth/logout",
        headers={"X-CSRF-Token": token[:-1] + ("A" if token[-1] != "A" else "B")},
    )
    assert wrong.status_code == 403
    assert client.get("/api/me").status_code == 200  # still signed in
    client.csrf = token
    assert client.post("/api/auth/logout").status_code == 200


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({}, True),
    ],
)
def test_cross_site_requests_refused(
    api: RunningApi, headers: dict[str, str], allowed: bool
) -> None:
    account = Account("x@example.com", "pw")
    client = api.client().signed_up(account)
    response = client.post("/api/auth/logout", headers=headers)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "cross_site"
        assert client.get("/api/me").status_code == 200


def test_cross_site_refused_on_login_too(api: RunningApi) -> None:
    account = Account("x2@example.com", "pw")
    client = api.client()
    client.register(account)
    refused = client.post(
        "/api/auth/login",
        {"email": account.email, "auth_key": vc.b64url(account.keys.auth_key)},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


def test_password_change_ends_other_sessions(api: RunningApi) -> None:
    account = Account("p1@example.com", "old password")
    laptop, phone = two_devices(api, account)
    current = vc.b64url(account.keys.auth_key)
    body = {"current_auth_key": current, **account.new_password_body("new password")}
    changed = laptop.post("/api/auth/password", body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["sessions_revoked"] == 1
    assert phone.get("/api/me").status_code == 401
    assert laptop.get("/api/me").status_code == 200
    fresh = api.client()
    fresh.login(account)  # new password works and still unwraps the same user key
    old = Account(account.email, "old password")
    old.keys = Keys.from_kdf(
        "old password",
        fresh.get("/api/auth/prelogin", params={"email": account.email}).json()["kdf"],
    )
    bad = fresh.post(
        "/api/auth/login", {"email": account.email, "auth_key": vc.b64url(old.keys.auth_key)}
    )
    assert bad.status_code == 401


def test_password_change_needs_current_key_and_recent_sign_in(api: RunningApi) -> None:
    account = Account("p2@example.com", "pw")
    client = api.client().signed_up(account)
    wrong = {"current_auth_key": vc.b64url(b"\x00" * 32), **account.new_password_body("x")}
    refused = client.post("/api/auth/password", wrong)
    assert refused.status_code == 401
    api.services.db.call(lambda conn: conn.execute("UPDATE sessions SET auth_at = auth_at - 601"))
    stale = client.post("/api/auth/password", wrong)
    assert stale.status_code == 403
    assert stale.json()["error"]["code"] == "reauthentication_required"


def test_recovery_code_sets_new_password(api: RunningApi) -> None:
    account = Account("r1@example.com", "forgotten")
    laptop, _ = two_devices(api, account)
    stranger = api.client()
    pre = stranger.get("/api/auth/prelogin", params={"email": account.email}).json()
    recovery = Keys.from_kdf(account.recovery_code, pre["recovery_kdf"])
    proof = {"email": account.email, "recovery_auth_key": vc.b64url(recovery.auth_key)}
    keys = stranger.post("/api/auth/recover/keys", proof)
    assert keys.status_code == 200
    assert keys.json()["user_id"] == account.user_id
    user_key = account.unwrap(recovery.kek, keys.json()["recovery_wrapped_user_key"])
    assert user_key == account.user_key
    recovered = stranger.post("/api/auth/recover", {**proof, **account.new_password_body("new")})
    assert recovered.status_code == 200, recovered.text
    assert laptop.get("/api/me").status_code == 401  # every old session ended
    stranger.csrf = recovered.json()["csrf_token"]
    assert stranger.get("/api/me").status_code == 200
    api.client().login(account)


def test_wrong_recovery_proof_is_refused(api: RunningApi) -> None:
    account = Account("r2@example.com", "pw")
    client = api.client()
    client.register(account)
    proof = {"email": account.email, "recovery_auth_key": vc.b64url(b"\x01" * 32)}
    unknown = {"email": "nobody@example.com", "recovery_auth_key": vc.b64url(b"\x01" * 32)}
    first = client.post("/api/auth/recover/keys", proof)
    second = client.post("/api/auth/recover/keys", unknown)
    assert first.status_code == second.status_code == 401
    assert first.json() == second.json()


def test_sign_in_link(api: RunningApi) -> None:
    account = Account("l1@example.com", "pw")
    api.client().register(account)
    client = api.client()
    assert client.post("/api/auth/link", {"email": account.email}).status_code == 202
    page, token = api.outbox.last_link(account.email, count=2)
    assert page == "/api/pages/sign-in"
    signed_in = client.post("/api/auth/link/confirm", {"token": token})
    assert signed_in.status_code == 200
    client.csrf = signed_in.json()["csrf_token"]
    me = client.get("/api/me").json()
    assert me["session"]["method"] == "link"
    # Single use; and a verification token cannot be replayed as a sign-in link.
    assert client.post("/api/auth/link/confirm", {"token": token}).status_code == 400
    # The link opened the account, not the vault: changing the password still needs it.
    body = {"current_auth_key": vc.b64url(b"\x02" * 32), **Account("z@z.io", "q").register_body()}
    body = {k: body[k] for k in ("current_auth_key", "auth_key", "kdf", "wrapped_user_key")}
    assert client.post("/api/auth/password", body).status_code == 401


def test_link_request_answers_the_same_for_unknown_email(api: RunningApi) -> None:
    client = api.client()
    client.register(Account("known@example.com", "pw"))
    known = client.post("/api/auth/link", {"email": "known@example.com"})
    unknown = client.post("/api/auth/link", {"email": "unknown@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert api.outbox.wait_for("unknown@example.com", timeout=0.5) == []


def test_a_mailed_link_is_confirmed_from_a_signed_in_browser(api: RunningApi) -> None:
    """The email-change link opens in the browser that asked for it, signed in: its page
    posts the mailed token with the session cookie but no CSRF token (it has none)."""
    client = api.client().signed_up(Account("mover@example.com", "pw"))
    token, client.csrf = client.csrf, ""
    moved = client.request("PATCH", "/api/me", json={"email": "moved@example.com"},
                           headers={"X-CSRF-Token": token})  # fmt: skip
    assert moved.status_code == 200
    _page, link = api.outbox.last_link("moved@example.com")
    cross = client.post(
        "/api/auth/verify", {"token": link}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_site"
    confirmed = client.post("/api/auth/verify", {"token": link})  # no X-CSRF-Token
    assert confirmed.status_code == 200, confirmed.text
    assert client.get("/api/me").json()["user"]["email"] == "moved@example.com"
    assert client.post("/api/auth/logout").status_code == 403  # elsewhere, still required
