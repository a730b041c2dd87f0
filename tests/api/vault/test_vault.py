"""The vault API on a real server, SQLite and PostgreSQL: prompts with append-only
versions (409 on a stale base), since-sync with deletions, tags, favorites, limits, and
another user's ids always 404. The client encrypts like the browser."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from api.db import Conn
from tests.support import vault_crypto as vc
from tests.support.api_client import Client, tier_limit_error
from tests.support.api_server import RunningApi
from tests.support.vault_client import VaultUser, vault_user


@pytest.fixture
def alice(client: Client) -> VaultUser:
    return vault_user(client, "alice@example.com")


def test_create_edit_history_restore(alice: VaultUser) -> None:
    created = alice.create(title="Sunset", body="a red fox at dusk", notes="first").json()
    prompt = created["prompt"]
    assert prompt["version"] == 1 and len(prompt["versions"]) == 1
    pid = prompt["id"]
    alice.edit(pid, 1, title="Sunset", body="a red fox at dawn")
    alice.edit(pid, 2, title="Sunrise", body="a red fox at dawn, fog")
    full = alice.client.get(f"/api/prompts/{pid}").json()["prompt"]
    assert [v["version"] for v in full["versions"]] == [1, 2, 3]
    texts = [alice.decrypt(full, v)["body"] for v in full["versions"]]
    assert texts == ["a red fox at dusk", "a red fox at dawn", "a red fox at dawn, fog"]
    # Restore version 1: its text comes back as version 4; nothing is rewritten.
    old = alice.decrypt(full, full["versions"][0])
    body = {"base_version": 3, "fields": alice.fields(pid, 4, **old), "restored_from": 1}
    restored = alice.client.post(f"/api/prompts/{pid}/versions", body)
    assert restored.status_code == 201, restored.text
    latest = restored.json()["prompt"]
    assert latest["version"] == 4 and latest["latest"]["restored_from"] == 1
    assert alice.decrypt(latest, latest["latest"])["notes"] == "first"
    assert latest["versions"][:3] == full["versions"]  # earlier versions unchanged
    bad = {"base_version": 4, "fields": alice.fields(pid, 5, body="x"), "restored_from": 9}
    assert alice.client.post(f"/api/prompts/{pid}/versions", bad).status_code == 400


def test_stale_base_version_is_409_and_changes_nothing(alice: VaultUser) -> None:
    pid = alice.create_id(body="one")
    alice.edit(pid, 1, body="two from laptop")
    stale = alice.edit(pid, 1, expect=409, body="two from phone")
    assert stale.json()["error"]["code"] == "stale_version"
    assert "version 2" in stale.json()["error"]["message"]
    full = alice.client.get(f"/api/prompts/{pid}").json()["prompt"]
    assert full["version"] == 2
    assert alice.decrypt(full, full["latest"])["body"] == "two from laptop"


def test_list_and_since_sync(alice: VaultUser) -> None:
    first = alice.create_id(body="first")
    second = alice.create_id(body="second")
    listing = alice.client.get("/api/prompts").json()
    assert {p["id"] for p in listing["prompts"]} == {first, second} and listing["full"]
    for p in listing["prompts"]:
        assert alice.decrypt(p, p["latest"])["body"] in {"first", "second"}
    cursor = listing["server_time"]
    time.sleep(1.1)  # the cursor has one-second resolution
    later = alice.client.get("/api/prompts", params={"since": cursor + 1}).json()
    assert later["prompts"] == [] and later["deleted"] == []
    alice.edit(first, 1, body="first, edited")
    assert alice.client.delete(f"/api/prompts/{second}").status_code == 200
    changed = alice.client.get("/api/prompts", params={"since": cursor + 1}).json()
    assert [p["id"] for p in changed["prompts"]] == [first]
    assert changed["deleted"] == [second] and not changed["full"]
    assert alice.client.get(f"/api/prompts/{second}").status_code == 404
    for bad in ("yesterday", "-1", "1" * 13):
        response = alice.client.get("/api/prompts", params={"since": bad})
        assert response.status_code == 400, bad


def test_tags_assign_unassign_rename_delete(alice: VaultUser) -> None:
    a, b = alice.create_id(body="a"), alice.create_id(body="b")
    tag = alice.tag("landscape")
    assign = alice.client.post(f"/api/tags/{tag}/assign", {"prompt_ids": [a, b, a]})
    assert assign.json()["changed"] == 2
    again = alice.client.post(f"/api/tags/{tag}/assign", {"prompt_ids": [a]})
    assert again.json()["changed"] == 0
    listing = alice.client.get("/api/prompts").json()
    assert all(p["tags"] == [tag] for p in listing["prompts"])
    (listed_tag,) = listing["tags"]
    assert vc.decrypt_tag_name(alice.account.user_key, listed_tag["name"], alice.uid, tag) == (
        "landscape"
    )
    renamed = vc.encrypt_tag_name(alice.account.user_key, alice.uid, tag, "nature")
    assert alice.client.request("PATCH", f"/api/tags/{tag}", json={"name": renamed}).is_success
    unassign = alice.client.post(f"/api/tags/{tag}/unassign", {"prompt_ids": [b]})
    assert unassign.json()["changed"] == 1
    assert alice.client.get("/api/tags").json()["tags"][0]["prompts"] == 1
    cursor = alice.client.get("/api/prompts").json()["server_time"]
    assert alice.client.delete(f"/api/tags/{tag}").status_code == 200
    synced = alice.client.get("/api/prompts", params={"since": cursor}).json()
    # `since` is inclusive (one-second resolution): a must be there, with no tags now.
    by_id = {p["id"]: p for p in synced["prompts"]}
    assert by_id[a]["tags"] == [] and synced["tags"] == []
    assert alice.client.get("/api/tags").json()["tags"] == []


def test_tier_limit_on_tags_per_prompt(alice: VaultUser) -> None:
    pid = alice.create_id(body="x")
    tags = [alice.tag(f"t{i}") for i in range(4)]
    for tag in tags[:3]:
        assert alice.client.post(f"/api/tags/{tag}/assign", {"prompt_ids": [pid]}).is_success
    refused = alice.client.post(f"/api/tags/{tags[3]}/assign", {"prompt_ids": [pid]})
    error = tier_limit_error(refused, "tags_per_prompt")
    assert (error["tier"], error["allowed"], error["lifted_by"]) == ("free", 3, "pro")
    assert "Pro" in error["message"]
    assert len(alice.client.get(f"/api/prompts/{pid}").json()["prompt"]["tags"]) == 3


def test_favorites_public_and_private(alice: VaultUser) -> None:
    assert alice.client.request("PUT", "/api/favorites/s_abc123").status_code == 200
    assert alice.client.request("PUT", "/api/favorites/s_abc123").status_code == 200
    pid = alice.create_id(body="mine")
    flag = alice.client.request("PATCH", f"/api/prompts/{pid}", json={"favorite": True})
    assert flag.json()["prompt"]["favorite"] is True
    favorites = alice.client.get("/api/favorites").json()
    assert [f["post_id"] for f in favorites["favorites"]] == ["s_abc123"]
    assert favorites["prompts"] == [pid]
    assert alice.client.delete("/api/favorites/s_abc123").status_code == 200
    assert alice.client.delete("/api/favorites/s_abc123").status_code == 404
    assert alice.client.request("PUT", "/api/favorites/bad%7Cid").status_code == 404


def test_another_users_ids_are_always_404(api: RunningApi, alice: VaultUser) -> None:
    pid = alice.create_id(body="private")
    tag = alice.tag("secret")
    mallory = vault_user(api.client(), "mallory@example.com")
    own = mallory.create_id(body="mine")
    own_tag = mallory.tag("mine")
    m = mallory.client
    fields = mallory.fields(own, 2, body="x")
    name = vc.encrypt_tag_name(mallory.account.user_key, mallory.uid, own_tag, "x")
    attempts = [
        m.get(f"/api/prompts/{pid}"),
        m.post(f"/api/prompts/{pid}/versions", {"base_version": 1, "fields": fields}),
        m.request("PATCH", f"/api/prompts/{pid}", json={"favorite": True}),
        m.delete(f"/api/prompts/{pid}"),
        m.request("PATCH", f"/api/tags/{tag}", json={"name": name}),
        m.delete(f"/api/tags/{tag}"),
        m.post(f"/api/tags/{tag}/assign", {"prompt_ids": [own]}),
        m.post(f"/api/tags/{own_tag}/assign", {"prompt_ids": [pid]}),
        m.post(f"/api/tags/{own_tag}/assign", {"prompt_ids": [own, pid]}),
        m.post(f"/api/tags/{own_tag}/unassign", {"prompt_ids": [pid]}),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert m.get("/api/prompts/nope").status_code == 404
    # Nothing of mallory's tag landed on her own prompt either (all or nothing).
    assert m.get(f"/api/prompts/{own}").json()["prompt"]["tags"] == []
    # Alice's reserved ids cannot be used by mallory.
    stolen = alice.reserve()[0]
    response = m.post("/api/prompts", mallory.create_body(stolen, body="x"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "id_not_reserved"
    full = alice.client.get(f"/api/prompts/{pid}").json()["prompt"]
    assert full["version"] == 1 and not full["favorite"]
    assert [p["id"] for p in m.get("/api/prompts").json()["prompts"]] == [own]


def test_reserved_ids_are_single_use_and_kind_bound(alice: VaultUser) -> None:
    (pid,) = alice.reserve()
    body = alice.create_body(pid, body="x")
    assert alice.client.post("/api/prompts", body).status_code == 201
    again = alice.client.post("/api/prompts", body)
    assert again.status_code == 400 and again.json()["error"]["code"] == "id_not_reserved"
    (tag_id,) = alice.reserve("tag")
    wrong_kind = alice.client.post("/api/prompts", alice.create_body(tag_id, body="x"))
    assert wrong_kind.status_code == 400
    ids = alice.reserve(count=20)
    assert len(set(ids)) == 20


def test_bad_envelopes_and_sizes(alice: VaultUser) -> None:
    (pid,) = alice.reserve()
    good = alice.create_body(pid, body="ok")
    cases: list[tuple[Callable[[dict[str, Any]], object], int]] = [  # mutate a JSON body
        (lambda b: b["fields"].__setitem__("body", "plain text, not encrypted"), 400),
        (lambda b: b["fields"].__setitem__("title", "pv2" + good["fields"]["title"][3:]), 400),
        (lambda b: b.__setitem__("wrapped_item_key", good["fields"]["title"]), 400),
        (lambda b: b["fields"].pop("notes"), 400),
        (lambda b: b.__setitem__("post_id", "../etc"), 400),
        (lambda b: b.__setitem__("extra", 1), 400),
    ]
    for mutate, status in cases:
        body = {**good, "fields": dict(good["fields"])}
        mutate(body)
        response = alice.client.post("/api/prompts", body)
        assert response.status_code == status, (body, response.text)
    big = alice.create_body(pid, body="x" * 30_001)
    too_large = alice.client.post("/api/prompts", big)
    assert too_large.status_code == 413 and "30000 bytes" in too_large.json()["error"]["message"]
    assert alice.client.post("/api/prompts", alice.create_body(pid, body="x" * 30_000)).is_success


def test_account_limits(start_api: Callable[..., RunningApi]) -> None:
    api = start_api(VAULT_MAX_PROMPTS="2", VAULT_MAX_VERSIONS="2", VAULT_MAX_TAGS="1")
    user = vault_user(api.client(), "limits@example.com")
    pid = user.create_id(body="1")
    user.create_id(body="2")
    third = user.create(expect=409, body="3")
    assert third.json()["error"]["code"] == "limit_reached"
    assert "at most 2 prompts" in third.json()["error"]["message"]
    user.edit(pid, 1, body="v2")
    assert user.edit(pid, 2, expect=409, body="v3").json()["error"]["code"] == "limit_reached"
    user.tag("one")
    (tag_id,) = user.reserve("tag")
    name = vc.encrypt_tag_name(user.account.user_key, user.uid, tag_id, "two")
    assert user.client.post("/api/tags", {"id": tag_id, "name": name}).status_code == 409
    # Deleting makes room again; nothing else was lost.
    assert user.client.delete(f"/api/prompts/{pid}").status_code == 200
    user.create_id(body="3")
    assert len(user.client.get("/api/prompts").json()["prompts"]) == 2


def test_export_holds_the_vault_and_deletion_removes_it(api: RunningApi, alice: VaultUser) -> None:
    pid = alice.create_id(body="exported")
    alice.edit(pid, 1, body="exported v2")
    tag = alice.tag("t")
    alice.client.post(f"/api/tags/{tag}/assign", {"prompt_ids": [pid]})
    alice.client.request("PUT", "/api/favorites/s_fav")
    data = alice.client.get("/api/me/export").json()
    (prompt,) = data["prompts"]
    assert [v["version"] for v in prompt["versions"]] == [1, 2] and prompt["tags"] == [tag]
    assert alice.decrypt(prompt, prompt["versions"][1])["body"] == "exported v2"
    assert [t["id"] for t in data["tags"]] == [tag]
    assert [f["post_id"] for f in data["favorites"]] == ["s_fav"]
    assert alice.client.delete("/api/me").status_code == 200

    def leftovers(conn: Conn) -> int:
        total = 0
        for table in ("prompts", "prompt_versions", "tags", "prompt_tags", "favorites"):
            row = conn.one(f"SELECT count(*) AS n FROM {table}")
            assert row is not None
            total += int(row["n"])
        return total

    assert api.services.db.call(leftovers) == 0


def test_vault_needs_a_session_and_csrf(api: RunningApi, alice: VaultUser) -> None:
    anonymous = api.client()
    assert anonymous.get("/api/prompts").status_code == 401
    assert anonymous.post("/api/vault/ids", {"kind": "prompt"}).status_code in {401, 403}
    token, alice.client.csrf = alice.client.csrf, ""
    assert alice.client.post("/api/vault/ids", {"kind": "prompt"}).status_code == 403
    alice.client.csrf = token
    config = anonymous.get("/api/vault/config").json()
    assert config["kdf_iterations"] == api.settings.KDF_ITERATIONS
    assert config["limits"]["field_bytes"]["body"] == 30_000


def test_vault_keys_unlock_a_signed_in_browser(alice: VaultUser) -> None:
    keys = alice.client.get("/api/vault/keys").json()
    assert keys["user_id"] == alice.uid
    derived = vc.derive_kek(
        vc.derive_master("pw", vc.unb64url(keys["kdf"]["salt"]), keys["kdf"]["iterations"])
    )
    assert alice.account.unwrap(derived, keys["wrapped_user_key"]) == alice.account.user_key


@pytest.mark.parametrize("bad_id", ["%00", "a%7Cb", "x" * 65, "%C3%A9"])
def test_malformed_ids_are_not_found(alice: VaultUser, bad_id: str) -> None:
    """PostgreSQL refuses NUL bytes in text: a malformed id must never reach the query."""
    c = alice.client
    fields = {"base_version": 1, "fields": alice.fields(alice.create_id(body="x"), 2)}
    attempts = [
        c.get(f"/api/prompts/{bad_id}"),
        c.delete(f"/api/prompts/{bad_id}"),
        c.request("PATCH", f"/api/prompts/{bad_id}", json={"favorite": True}),
        c.post(f"/api/prompts/{bad_id}/versions", fields),
        c.delete(f"/api/tags/{bad_id}"),
        c.post(f"/api/tags/{bad_id}/assign", {"prompt_ids": ["x"]}),
        c.request("PUT", f"/api/favorites/{bad_id}"),
        c.delete(f"/api/favorites/{bad_id}"),
        c.delete(f"/api/sessions/{bad_id}"),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert c.get("/api/me").status_code == 200
