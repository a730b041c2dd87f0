"""Creators' rights through the API (api/creators/, docs/creators.md), on SQLite in-process
and PostgreSQL on a real server: claims and their verification, published prompts, hiding
and erasing, removal requests, the build's export, and every bad input's clear error."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.__main__ import main as api_main
from api.creators import service
from sorastats import db
from tests.support import sitedata
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi

ALICE = "user-alice0000000000000000000"
BOB = "user-bob000000000000000000000"
TOKEN = "build-token-" + "0123456789abcdef" * 2
ALICE_POST = sitedata.pid(1)
BOB_POST = sitedata.pid(102)
StartApi = Callable[..., RunningApi]
_count = itertools.count()


@pytest.fixture(scope="module")
def stats_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made sample and six more creators; the API only reads it."""
    dbp = sitedata.hand_made(tmp_path_factory.mktemp("stats") / "stats.duckdb")
    con = db.connect(dbp)
    for n in range(6):
        sitedata.add_creator(con, f"user-extra{n:019d}", f"extra{n}")
    con.close()
    return dbp


@pytest.fixture
def api(start_api: StartApi, stats_db: Path) -> RunningApi:
    return start_api(
        STATS_DB_PATH=str(stats_db), BUILD_TOKEN=TOKEN, SUPPORT_EMAIL="help@example.com"
    )


def user(api: RunningApi) -> Client:
    return api.client().signed_up(Account(f"creator{next(_count)}@example.com", "correct horse"))


def put(client: Client, path: str, body: Any) -> Any:
    return client.request("PUT", path, json=body)


def export(api: RunningApi, token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with api.http() as http:
        return http.get("/api/build/public-contributions", headers=headers)


def build_posts(api: RunningApi, matches: list[dict[str, str]], token: str = TOKEN) -> Any:
    with api.http() as http:
        return http.post(
            "/api/build/claim-matches",
            json={"matches": matches},
            headers={"Authorization": f"Bearer {token}"},
        )


def owner_of(api: RunningApi, username: str, creator_id: str) -> Client:
    """A user whose claim on `username` the build verified from a captured bio."""
    client = user(api)
    made = client.post("/api/claims", {"username": username})
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    assert build_posts(api, [{"creator_id": creator_id, "code": code}]).json() == {"verified": 1}
    return client


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def test_claims_are_made_listed_verified_once_and_refused_clearly(api: RunningApi) -> None:
    client = user(api)
    assert error(client.post("/api/claims", {"username": "nobody"}), 404) == "unknown_creator"
    renamed = client.post("/api/claims", {"username": "old_bob"})
    assert error(renamed, 409) == "creator_renamed" and "@bob" in renamed.json()["error"]["message"]
    assert error(client.post("/api/claims", {"username": "a b"}), 400) == "invalid_request"
    made = client.post("/api/claims", {"username": "@Alice", "evidence": "my site says so"})
    assert made.status_code == 201, made.text
    claim = made.json()
    assert claim["status"] == "pending" and claim["creator_id"] == ALICE
    assert claim["code"].startswith("sorastats-") and claim["username"] == "alice"
    assert error(client.post("/api/claims", {"username": "alice"}), 409) == "claim_pending"
    assert [c["id"] for c in client.get("/api/claims").json()["claims"]] == [claim["id"]]

    # the export lists the pending code; the build reports it found in the bio
    listed = export(api).json()["pending_claims"]
    assert {"creator_id": ALICE, "username": "alice", "code": claim["code"]} in listed
    wrong = [{"creator_id": BOB, "code": claim["code"]}]
    assert build_posts(api, wrong).json() == {"verified": 0}  # a code is for its creator
    right = [{"creator_id": ALICE, "code": claim["code"]}]
    assert build_posts(api, right).json() == {"verified": 1}
    assert build_posts(api, right).json() == {"verified": 0}  # single use
    assert client.get("/api/claims").json()["claims"][0]["status"] == "verified"
    assert export(api).json()["pending_claims"] == []

    other = user(api)
    taken = other.post("/api/claims", {"username": "alice"})
    assert error(taken, 409) == "already_owned"
    assert error(client.post("/api/claims", {"username": "alice"}), 409) == "already_owned"
    assert error(api.client().post("/api/claims", {"username": "bob"}), 401) == "not_signed_in"


def test_at_most_five_pending_claims(api: RunningApi) -> None:
    client = user(api)
    for n in range(5):
        assert client.post("/api/claims", {"username": f"extra{n}"}).status_code == 201
    assert error(client.post("/api/claims", {"username": "extra5"}), 429) == "too_many_claims"


def test_a_claim_expires_after_30_days(api: RunningApi) -> None:
    client = user(api)
    made = client.post("/api/claims", {"username": "carol"}).json()
    later = made["created_at"] + service.CLAIM_SECONDS + 1
    matches = [("user-carol00000000000000000000", made["code"])]
    assert api.services.db.call(service.verify_matches, matches, later) == 0
    assert client.get("/api/claims").json()["claims"][0]["status"] == "expired"
    assert client.post("/api/claims", {"username": "carol"}).status_code == 201  # anew


def test_the_build_endpoints_need_the_token(api: RunningApi, start_api: StartApi) -> None:
    assert error(export(api, None), 401) == "invalid_token"
    assert error(export(api, "x" * 40), 401) == "invalid_token"
    assert error(build_posts(api, [], token="nope"), 401) == "invalid_token"
    body = export(api).json()
    assert (body["format"], body["version"]) == ("sorastats-contributions", 1)
    assert body["support_email"] == "help@example.com"  # the build's contact address
    bad = build_posts(api, [{"creator_id": ALICE, "code": "not a code"}])
    assert error(bad, 400) == "invalid_request"
    too_many = [{"creator_id": ALICE, "code": "sorastats-aaaaaa"}] * (service.MAX_MATCHES + 1)
    assert error(build_posts(api, too_many), 400) == "invalid_request"


def test_without_a_build_token_the_export_does_not_exist(start_api: StartApi) -> None:
    bare = start_api()
    assert error(export(bare), 404) == "not_found"


def test_publishing_a_prompt_needs_the_verified_owner(api: RunningApi) -> None:
    stranger = user(api)
    body = {"post_id": ALICE_POST, "prompt": "<b>my</b> real prompt"}
    assert error(stranger.post("/api/published-prompts", body), 403) == "not_owner"
    alice = owner_of(api, "alice", ALICE)
    unknown = {"post_id": "s_doesnotexist", "prompt": "x"}
    assert error(alice.post("/api/published-prompts", unknown), 404) == "unknown_post"
    theirs = {"post_id": BOB_POST, "prompt": "not mine"}
    assert error(alice.post("/api/published-prompts", theirs), 403) == "not_owner"
    long = {"post_id": ALICE_POST, "prompt": "x" * (service.MAX_PROMPT_CHARS + 1)}
    assert error(alice.post("/api/published-prompts", long), 400) == "invalid_request"
    blank = {"post_id": ALICE_POST, "prompt": "   "}
    assert error(alice.post("/api/published-prompts", blank), 400) == "invalid_request"
    assert alice.post("/api/published-prompts", body).status_code == 201
    again = {**body, "prompt": "x" * service.MAX_PROMPT_CHARS}
    assert alice.post("/api/published-prompts", again).status_code == 200
    shared = export(api).json()["published_prompts"]
    assert shared == [{"post_id": ALICE_POST, "creator_id": ALICE, "prompt": again["prompt"]}]
    mine = alice.get("/api/me/export").json()
    assert mine["published_prompts"][0]["post_id"] == ALICE_POST
    assert mine["creator_claims"][0]["username"] == "alice"
    assert error(stranger.delete(f"/api/published-prompts/{ALICE_POST}"), 404) == "not_found"
    assert alice.delete(f"/api/published-prompts/{ALICE_POST}").status_code == 200
    assert error(alice.delete(f"/api/published-prompts/{ALICE_POST}"), 404) == "not_found"
    assert export(api).json()["published_prompts"] == []

    # published prompts go with the account
    assert alice.post("/api/published-prompts", body).status_code == 201
    assert alice.delete("/api/me").status_code == 200
    assert export(api).json()["published_prompts"] == []


def test_hide_show_and_erase_a_creator_page(api: RunningApi) -> None:
    stranger = user(api)
    assert error(put(stranger, "/api/creators/alice/visibility", {"hidden": True}), 403) == (
        "not_owner"
    )
    assert error(put(stranger, "/api/creators/nobody/visibility", {"hidden": True}), 404) == (
        "unknown_creator"
    )
    bad = put(stranger, "/api/creators/alice/visibility", {"hidden": "yes"})
    assert error(bad, 400) == "invalid_request"
    alice = owner_of(api, "alice", ALICE)
    assert put(alice, "/api/creators/alice/visibility", {"hidden": True}).json()["hidden"]
    assert export(api).json()["hidden_creators"] == [{"creator_id": ALICE, "username": "alice"}]
    assert put(alice, "/api/creators/alice/visibility", {"hidden": False}).status_code == 200
    assert export(api).json()["hidden_creators"] == []

    assert alice.post("/api/published-prompts", {"post_id": ALICE_POST, "prompt": "p"}).is_success
    assert error(stranger.delete("/api/creators/alice"), 403) == "not_owner"
    api.services.db.call(lambda c: c.execute("UPDATE sessions SET auth_at = auth_at - 601"))
    assert error(alice.delete("/api/creators/alice"), 403) == "reauthentication_required"
    api.services.db.call(lambda c: c.execute("UPDATE sessions SET auth_at = auth_at + 601"))
    erased = alice.delete("/api/creators/alice")
    assert erased.status_code == 202 and erased.json()["status"] == "erasure_scheduled"
    body = export(api).json()
    assert body["erased_creators"] == [{"creator_id": ALICE, "username": "alice"}]
    assert body["hidden_creators"] == [] and body["published_prompts"] == []
    refused = put(alice, "/api/creators/alice/visibility", {"hidden": False})
    assert error(refused, 409) == "creator_erased"


def test_removal_requests_are_received_mailed_and_decided_by_the_operator(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    anyone = api.client()
    ask = {"reason": "It is me and I object\x1b[2J\r", "email": "Someone@Example.com"}
    bad = anyone.post("/api/removal-requests", {**ask, "target": "https://x/../etc"})
    assert error(bad, 400) == "invalid_target"
    unknown = anyone.post("/api/removal-requests", {**ask, "target": "/p/s_nope/"})
    assert error(unknown, 404) == "unknown_post"
    missing = anyone.post("/api/removal-requests", {"target": "@bob", "email": "a@example.com"})
    assert error(missing, 400) == "invalid_request"
    sent = anyone.post("/api/removal-requests", {**ask, "target": f"/p/{BOB_POST}/"})
    assert sent.status_code == 202, sent.text
    mail = api.outbox.wait_for("someone@example.com", 1)[0]
    assert sent.json()["id"] in str(mail.get_body()) and "help@example.com" in str(mail)
    assert anyone.post("/api/removal-requests", {**ask, "target": "@old_bob"}).status_code == 202

    # the operator decides with `python -m api removals`
    env = {
        "DATABASE_URL": api.settings.DATABASE_URL,
        "MAIL_OUTBOX": api.settings.MAIL_OUTBOX,
        "DEV_MODE": "1",
        "DATA_DIR": str(api.tmp_path / "data"),
        "SUPPORT_EMAIL": "help@example.com",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert api_main(["removals", "list"]) == 0
    listed = capsys.readouterr().out
    assert BOB_POST in listed and "someone@example.com" in listed and "I object" in listed
    assert "\x1b" not in listed and "\r" not in listed  # nothing reaches the terminal raw
    heads = [line.split() for line in listed.splitlines() if not line[0].isspace()]
    first = next(words[0] for words in heads if words[1] == "post")  # the video
    second = next(words[0] for words in heads if words[1] == "creator")  # @old_bob
    assert api_main(["removals", "approve", first]) == 0
    assert api_main(["removals", "reject", second]) == 0
    assert api_main(["removals", "approve", first]) == 1  # decided already
    assert api_main(["removals", "approve"]) == 2
    assert "approved" in capsys.readouterr().out
    told = api.outbox.wait_for("someone@example.com", 3)
    assert any("will no longer be shown" in str(m.get_body()) for m in told)
    body = export(api).json()
    assert body["hidden_posts"] == [{"post_id": BOB_POST}] and body["hidden_creators"] == []


def test_removal_requests_are_throttled(api: RunningApi) -> None:
    anyone = api.client()
    ask = {"target": "@carol", "reason": "r", "email": "flood@example.com"}
    # Mail-sending requests get 3x LOGIN_FREE_ATTEMPTS free per address, then wait.
    free = 3 * api.settings.LOGIN_FREE_ATTEMPTS
    answers = [anyone.post("/api/removal-requests", ask).status_code for _ in range(free + 1)]
    assert answers == [202] * free + [429]


def test_the_operator_decides_claims_by_hand(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = user(api), user(api)
    one = first.post("/api/claims", {"username": "carol", "evidence": "see my site"}).json()
    two = second.post("/api/claims", {"username": "carol"}).json()
    monkeypatch.setenv("DATABASE_URL", api.settings.DATABASE_URL)
    monkeypatch.setenv("DEV_MODE", "1")
    monkeypatch.setenv("DATA_DIR", str(api.tmp_path / "data"))
    assert api_main(["claims", "list"]) == 0
    listed = capsys.readouterr().out
    assert one["id"] in listed and "see my site" in listed and two["id"] in listed
    assert api_main(["claims", "reject", "no-such-id", "--reason", "x"]) == 1
    assert api_main(["claims", "approve", one["id"]]) == 0
    assert api_main(["claims", "approve", two["id"]]) == 1  # one verified owner at most
    assert api_main(["claims", "reject", one["id"], "--reason", "late"]) == 1  # decided
    assert "verified" in capsys.readouterr().out
    assert first.get("/api/claims").json()["claims"][0]["status"] == "verified"
    assert second.get("/api/claims").json()["claims"][0]["status"] == "rejected"
