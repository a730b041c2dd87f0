"""POST /api/prompts/bulk on SQLite and PostgreSQL: the import's endpoint. Up to 200
prompts at once with tags and linked posts, all or nothing, with the checks, limits and
tier rules of the single create (the same 402), and every bad input a clear 4xx that
leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.api_client import Client, tier_limit_error
from tests.support.api_server import RunningApi
from tests.support.vault_client import PRO_ENV, VaultUser, make_pro, vault_user


@pytest.fixture
def alice(client: Client) -> VaultUser:
    return vault_user(client, "alice@example.com")


def prompt_count(user: VaultUser) -> int:
    return len(user.client.get("/api/prompts").json()["prompts"])


def refused(user: VaultUser, body: Any, status: int, says: str) -> dict[str, Any]:
    """The request is refused with `status`, names what is wrong, and adds nothing."""
    before = prompt_count(user)
    response = user.client.post("/api/prompts/bulk", body)
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert says in error["message"], error
    assert prompt_count(user) == before
    return error


def test_bulk_creates_prompts_with_posts_and_tags(alice: VaultUser) -> None:
    tag = alice.tag("sora-import-2026-04")
    body = alice.bulk_body(["a lantern at dusk", "frost ferns", "a paper crane"], tag_ids=[tag])
    body["prompts"][0]["post_id"] = "s_0000000000000000000000000000aa01"
    response = alice.client.post("/api/prompts/bulk", body)
    assert response.status_code == 201, response.text
    ids = [p["id"] for p in body["prompts"]]
    assert response.json() == {"created": 3, "ids": ids}
    listed = {p["id"]: p for p in alice.client.get("/api/prompts").json()["prompts"]}
    assert set(listed) == set(ids)
    assert listed[ids[0]]["post_id"] == "s_0000000000000000000000000000aa01"
    assert listed[ids[1]]["post_id"] is None
    texts = {alice.decrypt(p, p["latest"])["body"] for p in listed.values()}
    assert texts == {"a lantern at dusk", "frost ferns", "a paper crane"}
    assert all(p["tags"] == [tag] and p["version"] == 1 for p in listed.values())
    tags = alice.client.get("/api/tags").json()["tags"]
    assert [(t["id"], t["prompts"]) for t in tags] == [(tag, 3)]
    # A linked post works like one linked by hand: favorites list the private prompt.
    patched = alice.client.request("PATCH", f"/api/prompts/{ids[0]}", json={"favorite": True})
    assert patched.status_code == 200
    assert alice.client.get("/api/favorites").json()["prompts"] == [ids[0]]


def test_200_at_once_on_pro(start_api: Callable[..., RunningApi]) -> None:
    api = start_api(**PRO_ENV)
    user = vault_user(api.client(), "pro@example.com")
    make_pro(api, user.uid)
    body = user.bulk_body([f"prompt number {i}" for i in range(200)])
    response = user.client.post("/api/prompts/bulk", body)
    assert response.status_code == 201 and response.json()["created"] == 200
    assert prompt_count(user) == 200
    # 201 at once is refused before anything is looked at; so is reserving 201 ids.
    body = user.bulk_body(["x"] * 200)
    body["prompts"].append(body["prompts"][0])
    refused(user, body, 400, "1 to 200")
    assert user.client.post("/api/vault/ids", {"kind": "prompt", "count": 201}).status_code == 400
    body["prompts"].pop()
    assert user.client.post("/api/prompts/bulk", body).status_code == 201
    assert prompt_count(user) == 400


def test_one_bad_prompt_refuses_the_batch(alice: VaultUser) -> None:
    body = alice.bulk_body(["one", "two", "three"])
    (stale,) = alice.reserve()
    alice.client.post("/api/prompts", alice.create_body(stale, body="used"))
    body["prompts"][1] = alice.create_body(stale, body="reuses a spent id")
    error = refused(alice, body, 400, "body.prompts[1].id")
    assert error["code"] == "id_not_reserved"
    # Nothing was taken: the other two ids still work, in a batch of their own.
    body["prompts"].pop(1)
    assert alice.client.post("/api/prompts/bulk", body).status_code == 201
    assert prompt_count(alice) == 3


BAD_BODIES: list[tuple[str, Callable[[dict[str, Any]], Any], int, str]] = [
    ("no prompts", lambda b: {"prompts": []}, 400, "1 to 200"),
    ("prompts not a list", lambda b: {"prompts": b["prompts"][0]}, 400, "body.prompts"),
    ("no body field", lambda b: {"tag_ids": []}, 400, "body.prompts: is required"),
    ("unknown field", lambda b: {**b, "extra": 1}, 400, "body.extra"),
    ("item not an object", lambda b: {"prompts": ["x"]}, 400, "body.prompts[0]"),
    (
        "plain text body",
        lambda b: b["prompts"][1]["fields"].__setitem__("body", "the prompt in clear") or b,
        400,
        "body.prompts[1].fields.body",
    ),
    (
        "item unknown field",
        lambda b: b["prompts"][0].__setitem__("tags", ["x"]) or b,
        400,
        "body.prompts[0].tags",
    ),
    (
        "bad post id",
        lambda b: b["prompts"][0].__setitem__("post_id", "../etc/passwd") or b,
        400,
        "body.prompts[0].post_id",
    ),
    (
        "wrong item key",
        lambda b: (
            b["prompts"][0].__setitem__("wrapped_item_key", b["prompts"][0]["fields"]["title"]) or b
        ),
        400,
        "body.prompts[0].wrapped_item_key",
    ),
    (
        "same id twice",
        lambda b: b["prompts"].__setitem__(1, b["prompts"][0]) or b,
        400,
        "the same id twice",
    ),
    ("tag ids not a list", lambda b: {**b, "tag_ids": "t"}, 400, "body.tag_ids"),
    ("malformed tag id", lambda b: {**b, "tag_ids": ["no spaces"]}, 400, "body.tag_ids[0]"),
    ("21 tags", lambda b: {**b, "tag_ids": [f"t{i}" for i in range(21)]}, 400, "at most 20"),
    ("unknown tag", lambda b: {**b, "tag_ids": ["nosuchtag"]}, 404, "No such tag"),
]


def test_bad_bodies_are_refused_and_add_nothing(alice: VaultUser) -> None:
    # One batch of reserved ids for every case: a refused request leaves them unused.
    good = alice.bulk_body(["first", "second"])
    for case, mutate, status, says in BAD_BODIES:
        body = json.loads(json.dumps(good))
        error = refused(alice, mutate(body), status, says)
        assert error["code"] != "internal_error", case


def test_oversize_fields_and_bodies(alice: VaultUser) -> None:
    big = alice.bulk_body(["fine", "x" * 30_001])
    assert refused(alice, big, 413, "body.prompts[1].fields.body")["code"] == "too_large"
    # The whole request is bounded too (MAX_BODY_BYTES, 256 KiB by default).
    huge = alice.bulk_body(["y" * 29_000] * 10)
    assert refused(alice, huge, 413, "limited to")["code"] == "body_too_large"
    assert alice.client.post("/api/prompts/bulk", alice.bulk_body(["x" * 30_000])).is_success


def test_another_users_ids_and_tags(api: RunningApi, alice: VaultUser) -> None:
    mallory = vault_user(api.client(), "mallory@example.com")
    (mallorys_id,) = mallory.reserve()
    mallorys_tag = mallory.tag("hers")
    body = alice.bulk_body(["mine"])
    body["prompts"].append(alice.create_body(mallorys_id, body="in her id"))
    assert refused(alice, body, 400, "body.prompts[1].id")["code"] == "id_not_reserved"
    tagged = alice.bulk_body(["mine"], tag_ids=[mallorys_tag])
    assert refused(alice, tagged, 404, "No such tag")["code"] == "not_found"
    assert prompt_count(mallory) == 0
    # Mallory's id is still hers to use.
    assert mallory.client.post(
        "/api/prompts", mallory.create_body(mallorys_id, body="h")
    ).is_success


def test_tier_limits_are_the_single_create_402(alice: VaultUser) -> None:
    """Free allows 50 prompts and 3 tags per prompt: a batch past either is the same 402
    (same fields) as everywhere else, and nothing of it is stored."""
    over = refused(alice, alice.bulk_body(["p"] * 51), 402, "Free")
    assert over == tier_limit_error(
        alice.client.post("/api/prompts/bulk", alice.bulk_body(["q"] * 51)), "private_prompts"
    )
    assert (over["tier"], over["allowed"], over["lifted_by"]) == ("free", 50, "pro")
    tags = [alice.tag(f"t{i}") for i in range(4)]
    body = alice.bulk_body(["tagged"], tag_ids=tags)
    response = alice.client.post("/api/prompts/bulk", body)
    assert tier_limit_error(response, "tags_per_prompt")["allowed"] == 3
    assert prompt_count(alice) == 0
    assert alice.client.post("/api/prompts/bulk", alice.bulk_body(["p"] * 50)).is_success
    single = alice.create(expect=402, body="one more")
    assert tier_limit_error(single, "private_prompts")["allowed"] == 50


def test_account_cap(start_api: Callable[..., RunningApi]) -> None:
    api = start_api(VAULT_MAX_PROMPTS="3")
    user = vault_user(api.client(), "cap@example.com")
    user.create_id(body="one")
    error = refused(user, user.bulk_body(["a", "b", "c"]), 409, "2 more fit")
    assert error["code"] == "limit_reached"
    assert user.client.post("/api/prompts/bulk", user.bulk_body(["a", "b"])).is_success


def test_usage_gives_the_numbers_the_402_uses(alice: VaultUser) -> None:
    """GET /api/vault/usage (the import preview's numbers) says exactly where the bulk
    create starts refusing: `room` more fit, one more is the 402 naming the same tier."""
    empty = alice.client.get("/api/vault/usage")
    assert empty.status_code == 200
    assert empty.json() == {
        "tier": "free",
        "tier_title": "Free",
        "prompts": 0,
        "limits": {"private_prompts": 50, "tags_per_prompt": 3, "account_prompts": 5000},
        "room": 50,
        "lifted_by": {"tier": "pro", "title": "Pro"},
    }
    assert alice.client.post("/api/prompts/bulk", alice.bulk_body(["p"] * 48)).is_success
    usage = alice.client.get("/api/vault/usage").json()
    assert (usage["prompts"], usage["room"]) == (48, 2)
    over = refused(alice, alice.bulk_body(["q"] * (usage["room"] + 1)), 402, "Free")
    assert (over["allowed"], over["lifted_by"]) == (usage["limits"]["private_prompts"], "pro")
    assert alice.client.post("/api/prompts/bulk", alice.bulk_body(["q"] * usage["room"])).is_success
    assert alice.client.get("/api/vault/usage").json()["room"] == 0


def test_usage_on_pro_is_bounded_by_the_account_cap(start_api: Callable[..., RunningApi]) -> None:
    api = start_api(**PRO_ENV, VAULT_MAX_PROMPTS="3")
    user = vault_user(api.client(), "pro-usage@example.com")
    make_pro(api, user.uid)
    user.create_id(body="one")
    usage = user.client.get("/api/vault/usage").json()
    assert usage["tier"] == "pro" and usage["lifted_by"] is None
    assert usage["limits"]["private_prompts"] is None  # unlimited on Pro
    assert (usage["prompts"], usage["room"], usage["limits"]["account_prompts"]) == (1, 2, 3)
    refused(user, user.bulk_body(["a", "b", "c"]), 409, "2 more fit")


def test_usage_needs_a_session(client: Client) -> None:
    response = client.get("/api/vault/usage")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_signed_in"
