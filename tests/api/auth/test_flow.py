"""Register, verify, sign in, sign out: the happy path and its refusals."""

from __future__ import annotations

from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi


def test_register_verify_login_me_logout(api: RunningApi, client: Client) -> None:
    account = Account("Alice@Example.com", "correct horse battery staple")
    client.register(account)
    account.email = "alice@example.com"  # stored lowercased
    response = client.login(account)
    body = response.json()
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["id"] == account.user_id
    assert body["user"]["email_verified"] is True
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("sid=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["csrf_token"] == client.csrf
    assert client.post("/api/auth/logout").status_code == 200
    after = client.get("/api/me")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "not_signed_in"


def test_login_refused_until_email_verified(api: RunningApi, client: Client) -> None:
    account = Account("bob@example.com", "pw-bob")
    client.register(account, verify=False)
    refused = client.login(account, expect=403)
    assert refused.json()["error"]["code"] == "email_not_verified"
    page, token = api.outbox.last_link(account.email)
    # Opening the page (as a mail scanner would) does not use the link up.
    html = client.get(page, params={"token": token})
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert client.post("/api/auth/verify", {"token": token}).status_code == 200
    client.login(account)


def test_verification_link_is_single_use_and_tamper_proof(api: RunningApi, client: Client) -> None:
    account = Account("carol@example.com", "pw")
    client.register(account, verify=False)
    _, token = api.outbox.last_link(account.email)
    assert client.post("/api/auth/verify", {"token": token}).status_code == 200
    again = client.post("/api/auth/verify", {"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "link_used"
    forged = client.post(
        "/api/auth/verify", {"token": token[:-2] + ("yy" if token.endswith("xx") else "xx")}
    )
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "link_invalid"


def test_expired_link_is_refused(api: RunningApi, client: Client) -> None:
    account = Account("dave@example.com", "pw")
    client.register(account, verify=False)
    _, token = api.outbox.last_link(account.email)
    # Age the stored nonce past its 15 minutes.
    api.services.db.call(lambda conn: conn.execute("UPDATE email_tokens SET expires_at = 0"))
    expired = client.post("/api/auth/verify", {"token": token})
    assert expired.status_code == 400
    client.login(account, expect=403)


def test_server_stores_argon2id_never_the_auth_key(api: RunningApi, client: Client) -> None:
    account = Account("erin@example.com", "pw-erin")
    client.register(account)
    row = api.services.db.call(
        lambda conn: conn.one("SELECT * FROM users WHERE id = ?", (account.user_id,))
    )
    assert row is not None
    assert row["auth_hash"].startswith("$argon2id$")
    assert row["recovery_hash"].startswith("$argon2id$")
    dump = repr(row)
    for secret in (
        account.keys.auth_key,
        account.keys.kek,
        account.keys.master,
        account.recovery.auth_key,
        account.user_key,
    ):
        assert vc.b64url(secret) not in dump
        assert secret.hex() not in dump


def test_wrong_key_and_unknown_email_get_the_same_answer(api: RunningApi, client: Client) -> None:
    account = Account("frank@example.com", "right")
    client.register(account)
    wrong = Account("frank@example.com", "wrong")
    wrong.keys = account.keys.from_kdf("wrong", account.keys.kdf)
    bad = client.post(
        "/api/auth/login", {"email": account.email, "auth_key": vc.b64url(wrong.keys.auth_key)}
    )
    unknown = client.post(
        "/api/auth/login",
        {"email": "nobody@example.com", "auth_key": vc.b64url(wrong.keys.auth_key)},
    )
    assert bad.status_code == unknown.status_code == 401
    assert bad.json() == unknown.json()
    assert "set-cookie" not in bad.headers


def test_each_login_gets_a_new_session_token(api: RunningApi, client: Client) -> None:
    account = Account("gina@example.com", "pw")
    client.signed_up(account)
    first = client.http.cookies.get("sid")
    client.login(account)
    second = client.http.cookies.get("sid")
    assert first and second and first != second
    sessions = client.get("/api/sessions").json()["sessions"]
    assert len(sessions) == 1  # the old session was ended by the new sign-in


def test_pending_registration_is_replaced_by_the_newest(api: RunningApi, client: Client) -> None:
    """Someone who pre-registers your address with their keys gets nothing: your later
    registration replaces theirs and their link stops working."""
    attacker = Account("victim@example.com", "attacker password")
    client.register(attacker, verify=False)
    _, attacker_token = api.outbox.last_link(attacker.email)
    victim = Account("victim@example.com", "victim password")
    client.register(victim, verify=False)
    _, victim_token = api.outbox.last_link(victim.email, count=2)
    assert victim_token != attacker_token
    dead = client.post("/api/auth/verify", {"token": attacker_token})
    assert dead.status_code == 400
    assert client.post("/api/auth/verify", {"token": victim_token}).status_code == 200
    api.client().login(victim)
    api.client().login(attacker, expect=401)


def test_register_with_taken_user_id(api: RunningApi, client: Client) -> None:
    first = Account("id1@example.com", "pw")
    client.register(first)
    second = Account("id2@example.com", "pw")
    second.user_id = first.user_id
    taken = client.post("/api/auth/register", second.register_body())
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "user_id_taken"
    api.client().login(first)
