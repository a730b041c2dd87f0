"""Privacy policy §8: access (export), correction (PATCH), deletion that leaves no trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.security import email_throttle_key
from tests.support import vault_crypto as vc
from tests.support.api_client import Account, plain_text
from tests.support.api_server import RunningApi


def test_patch_profile_and_settings(api: RunningApi) -> None:
    client = api.client().signed_up(Account("m1@example.com", "pw"))
    changed = client.request(
        "PATCH",
        "/api/me",
        json={"display_name": "Mia <b>", "settings": {"theme": "dark", "digest": False, "n": 3}},
    )
    assert changed.status_code == 200, changed.text
    user = client.get("/api/me").json()["user"]
    assert user["display_name"] == "Mia <b>"
    assert user["settings"] == {"theme": "dark", "digest": False, "n": 3}
    for bad in (
        {},
        {"display_name": "x" * 101},
        {"display_name": "a\nb"},
        {"settings": {"nested": {"a": 1}}},
        {"settings": {f"k{i}": 1 for i in range(51)}},
        {"email": "not an email"},
        {"unknown": 1},
    ):
        refused = client.request("PATCH", "/api/me", json=bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "invalid_request"
    assert client.get("/api/me").json()["user"]["display_name"] == "Mia <b>"  # nothing lost


def test_email_change_needs_confirmation(api: RunningApi) -> None:
    account = Account("old@example.com", "pw")
    client = api.client().signed_up(account)
    pending = client.request("PATCH", "/api/me", json={"email": "new@example.com"})
    assert pending.status_code == 200
    assert pending.json()["user"]["email"] == "old@example.com"
    assert pending.json()["user"]["pending_email"] == "new@example.com"
    assert "new@example.com" in plain_text(api.outbox.wait_for("old@example.com", 2)[-1])
    _, token = api.outbox.last_link("new@example.com")
    confirmed = client.post("/api/auth/verify", {"token": token})
    assert confirmed.json() == {"status": "email_changed", "email": "new@example.com"}
    assert client.get("/api/me").json()["user"]["email"] == "new@example.com"
    fresh = api.client()
    assert (
        fresh.post(
            "/api/auth/login",
            {"email": "old@example.com", "auth_key": vc.b64url(account.keys.auth_key)},
        ).status_code
        == 401
    )
    account.email = "new@example.com"
    fresh.login(account)


def test_export_contains_everything(api: RunningApi) -> None:
    account = Account("exp@example.com", "pw")
    client = api.client().signed_up(account)
    api.client().login(account)
    client.request("PATCH", "/api/me", json={"display_name": "Exa", "settings": {"a": "b"}})
    export = client.get("/api/me/export")
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert {"profile", "sessions", "subscription", "prompts", "exported_at"} <= set(data)
    profile = data["profile"]
    assert profile["email"] == account.email and profile["display_name"] == "Exa"
    assert profile["settings"] == {"a": "b"}
    assert profile["kdf"] == account.keys.kdf
    assert (
        profile["wrapped_user_key"]
        == account.register_body()["wrapped_user_key"][:0] + profile["wrapped_user_key"]
    )
    assert account.unwrap(account.keys.kek, profile["wrapped_user_key"]) == account.user_key
    assert len(data["sessions"]) == 2
    assert data["subscription"]["tier"] == "free"
    assert "auth_hash" not in export.text  # credential hashes are never handed out


def test_delete_requires_recent_sign_in(api: RunningApi) -> None:
    client = api.client().signed_up(Account("late@example.com", "pw"))
    api.services.db.call(lambda c: c.execute("UPDATE sessions SET auth_at = auth_at - 601"))
    refused = client.request("DELETE", "/api/me")
    assert refused.status_code == 403
    assert client.get("/api/me").status_code == 200


def _traces(api: RunningApi, account: Account) -> tuple[list[str], dict[str, Any]]:
    """Strings that would betray the account if found anywhere after deletion."""
    row = api.services.db.call(
        lambda c: c.one("SELECT * FROM users WHERE id = ?", (account.user_id,))
    )
    sessions = api.services.db.call(
        lambda c: c.all("SELECT id, token_hash FROM sessions WHERE user_id = ?", (account.user_id,))
    )
    mine = email_throttle_key(api.settings.SECRET_KEY, account.email)
    throttle = api.services.db.call(
        lambda c: c.all("SELECT key FROM throttle WHERE key LIKE ?", (f"%{mine}",))
    )
    assert row is not None and sessions and throttle
    needles = [
        account.email,
        account.user_id,
        "Deletable Dora",
        "dora-setting-value",
        "dora-new@example.com",
        row["auth_hash"],
        row["recovery_hash"],
        row["wrapped_user_key"],
        row["recovery_wrapped_user_key"],
        account.keys.kdf["salt"],
        *[s["id"] for s in sessions],
        *[s["token_hash"] for s in sessions],
        *[t["key"] for t in throttle],
    ]
    return needles, row


def test_delete_account_leaves_no_trace(api: RunningApi, backend: str) -> None:
    bystander = api.client().signed_up(Account("bystander@example.com", "pw"))
    account = Account("dora@example.com", "pw")
    client = api.client().signed_up(account)
    second = api.client()
    second.post("/api/auth/login", {"email": account.email, "auth_key": vc.b64url(b"\x09" * 32)})
    second.login(account)
    client.request(
        "PATCH",
        "/api/me",
        json={"display_name": "Deletable Dora", "settings": {"x": "dora-setting-value"}},
    )
    client.request("PATCH", "/api/me", json={"email": "dora-new@example.com"})
    needles, _ = _traces(api, account)
    deleted = client.request("DELETE", "/api/me")
    assert deleted.status_code == 200, deleted.text
    assert client.get("/api/me").status_code == 401
    assert second.get("/api/me").status_code == 401
    assert bystander.get("/api/me").status_code == 200
    assert (
        api.client()
        .post(
            "/api/auth/login",
            {"email": account.email, "auth_key": vc.b64url(account.keys.auth_key)},
        )
        .status_code
        == 401
    )
    if backend == "sqlite":
        path = Path(api.settings.DATABASE_URL.removeprefix("sqlite:///"))
        blobs = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert b"bystander@example.com" in blobs  # the scan does see live data
        found = [n for n in needles if n.encode() in blobs]
        assert found == []
    tables = api.services.db.call(
        lambda c: c.all(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if c.dialect == "sqlite"
            else "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
    )
    for table in tables:
        rows = api.services.db.call(lambda c, t=table["name"]: c.all(f"SELECT * FROM {t}"))
        text = repr(rows)
        assert [n for n in needles if n in text] == [], table["name"]
