"""The watchlist through the API (api/watchlist/), on SQLite in-process and PostgreSQL on a
real server: adding, listing with gains since the user last looked, marking seen,
removing, the tier limit, authorization on every item, hidden and unknown items, the
stats database missing, and every bad input's clear error (never a 500)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.creators import store as creators_store
from sorastats import db
from tests.support import sitedata
from tests.support.api_client import Account, Client, tier_limit_error
from tests.support.api_server import RunningApi

ALICE = "user-alice0000000000000000000"
BOB = "user-bob000000000000000000000"
VIDEO = sitedata.pid(0)  # alice's: 50 views a week before the data day, 100 on it
StartApi = Callable[..., RunningApi]
_count = itertools.count()


@pytest.fixture(scope="module")
def stats_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made sample and 20 more creators; the API only reads it."""
    dbp = sitedata.hand_made(tmp_path_factory.mktemp("stats") / "stats.duckdb")
    con = db.connect(dbp)
    for n in range(20):
        sitedata.add_creator(con, f"user-extra{n:019d}", f"extra{n}")
    con.close()
    return dbp


@pytest.fixture
def api(start_api: StartApi, stats_db: Path) -> RunningApi:
    return start_api(STATS_DB_PATH=str(stats_db))


def user(api: RunningApi) -> Client:
    return api.client().signed_up(Account(f"watch{next(_count)}@example.com", "correct horse"))


def put(client: Client, kind: str, target_id: str) -> Any:
    return client.request("PUT", f"/api/watchlist/{kind}/{target_id}")


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def look_back(api: RunningApi, client: Client, day: str) -> None:
    """As if the user last looked at noon UTC on `day` (YYYY-MM-DD)."""
    at = int(datetime.fromisoformat(day + "T12:00:00").replace(tzinfo=UTC).timestamp())
    api.services.db.call(lambda c: c.execute("UPDATE watchlist SET seen_at = ?", (at,)))


def by_id(listing: Any) -> dict[str, Any]:
    return {item["id"]: item for item in listing["items"]}


def test_watch_list_gains_since_last_look_mark_seen_and_remove(api: RunningApi) -> None:
    client = user(api)
    assert put(client, "creator", ALICE).status_code == 201
    assert put(client, "creator", ALICE).status_code == 200  # again: nothing changes
    assert put(client, "video", VIDEO).status_code == 201
    ids = client.get("/api/watchlist/ids").json()
    assert sorted((i["kind"], i["id"]) for i in ids["items"]) == [
        ("creator", ALICE),
        ("video", VIDEO),
    ]
    assert ids["limit"] == {"used": 2, "allowed": 20, "tier": "free"}

    # Just added: counted from now, so nothing gained yet.
    items = by_id(client.get("/api/watchlist").json())
    alice, video = items[ALICE], items[VIDEO]
    assert alice["available"] and alice["label"] == "@alice" and alice["url"] == "/c/alice/"
    assert alice["now"] == {"followers": 1000, "likes": 5000}
    assert alice["gains"] == {"followers": 0, "likes": 0}
    assert video["url"] == f"/p/{VIDEO}/" and video["creator_url"] == "/c/alice/"
    assert video["text"] == "A calm lake at dawn, take 0"
    assert video["now"] == {"views": 100, "likes": 10, "remixes": None}

    # Last looked a week before the data day: the gains since that day's capture.
    look_back(api, client, "2025-10-24")
    listing = client.get("/api/watchlist").json()
    assert listing["stats"] == "ok"
    items = by_id(listing)
    assert items[ALICE]["gains"] == {"followers": 100, "likes": 500}
    assert items[ALICE]["since"] == "2025-10-23T12:00:00Z"
    assert items[ALICE]["as_of"] == "2025-10-30T12:00:00Z"
    assert items[VIDEO]["gains"] == {"views": 50, "likes": 5, "remixes": None}

    seen = client.post("/api/watchlist/seen")
    assert seen.status_code == 200 and seen.json()["items"] == 2
    items = by_id(client.get("/api/watchlist").json())
    assert items[ALICE]["gains"] == {"followers": 0, "likes": 0}

    assert client.delete(f"/api/watchlist/creator/{ALICE}").status_code == 200
    assert error(client.delete(f"/api/watchlist/creator/{ALICE}"), 404) == "not_found"
    assert list(by_id(client.get("/api/watchlist").json())) == [VIDEO]


def test_every_item_is_the_owners_alone(api: RunningApi) -> None:
    owner, other = user(api), user(api)
    assert put(owner, "creator", ALICE).status_code == 201
    assert other.get("/api/watchlist").json()["items"] == []
    assert other.get("/api/watchlist/ids").json()["items"] == []
    assert error(other.delete(f"/api/watchlist/creator/{ALICE}"), 404) == "not_found"
    other.post("/api/watchlist/seen")
    assert [i["id"] for i in owner.get("/api/watchlist").json()["items"]] == [ALICE]
    anonymous = api.client()
    for method, path in (
        ("GET", "/api/watchlist"),
        ("GET", "/api/watchlist/ids"),
        ("POST", "/api/watchlist/seen"),
        ("PUT", f"/api/watchlist/creator/{ALICE}"),
        ("DELETE", f"/api/watchlist/creator/{ALICE}"),
    ):
        assert error(anonymous.request(method, path), 401) == "not_signed_in", path


def test_writes_need_the_csrf_token(api: RunningApi) -> None:
    client = user(api)
    for method in ("PUT", "DELETE"):
        bare = client.http.request(method, f"/api/watchlist/creator/{ALICE}")
        assert bare.status_code == 403, bare.text
    assert client.http.post("/api/watchlist/seen").status_code == 403
    assert client.get("/api/watchlist/ids").json()["items"] == []


@pytest.mark.parametrize(
    ("kind", "target_id"),
    [
        ("prompt", sitedata.pid(0)),  # not a kind that can be watched
        ("creators", ALICE),
        ("creator", "user%20alice"),
        ("creator", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        ("creator", "a" * 65),
        ("creator", "user-nobody00000000000000000"),  # well formed, not in the stats
        ("video", "s_" + "f" * 32),
        ("video", "S_" + "0" * 32),
        ("video", ALICE),  # a creator's id is not a video
        ("creator", sitedata.pid(0)),  # nor the other way round
        ("creator", "%E2%80%AE" + "x"),
    ],
)
def test_bad_or_unknown_items_are_not_found(api: RunningApi, kind: str, target_id: str) -> None:
    client = user(api)
    assert error(put(client, kind, target_id), 404) == "not_found"
    assert error(client.delete(f"/api/watchlist/{kind}/{target_id}"), 404) == "not_found"
    assert client.get("/api/watchlist").json()["items"] == []


def test_a_body_or_query_is_refused_clearly(api: RunningApi) -> None:
    client = user(api)
    sent = client.request("PUT", f"/api/watchlist/creator/{ALICE}", content=b"x" * 10_000_000)
    assert sent.status_code in (400, 413), sent.text
    assert client.get("/api/watchlist/ids").json()["items"] == []


def test_the_tier_limit_refuses_growth_only(api: RunningApi) -> None:
    client = user(api)
    for n in range(20):
        assert put(client, "creator", f"user-extra{n:019d}").status_code == 201
    refused = tier_limit_error(put(client, "creator", ALICE), "watchlist")
    assert refused["tier"] == "free" and refused["allowed"] == 20 and refused["lifted_by"] == "pro"
    assert put(client, "creator", "user-extra0000000000000000000").status_code == 200
    assert client.delete("/api/watchlist/creator/user-extra0000000000000000000").status_code == 200
    assert put(client, "video", VIDEO).status_code == 201
    assert client.get("/api/watchlist/ids").json()["limit"]["used"] == 20


def test_hidden_items_cannot_be_added_and_lose_their_numbers(api: RunningApi) -> None:
    client = user(api)
    assert put(client, "creator", BOB).status_code == 201
    assert put(client, "video", sitedata.pid(102)).status_code == 201  # bob's
    assert put(client, "video", VIDEO).status_code == 201
    api.services.db.call(creators_store.hide, "creator", BOB, "bob", "owner", 0, False)
    items = by_id(client.get("/api/watchlist").json())
    for hidden in (BOB, sitedata.pid(102)):
        assert items[hidden] == {
            "kind": items[hidden]["kind"],
            "id": hidden,
            "added_at": items[hidden]["added_at"],
            "seen_at": items[hidden]["seen_at"],
            "available": False,
        }
    assert items[VIDEO]["available"]
    other = user(api)
    assert error(put(other, "creator", BOB), 404) == "not_found"
    assert error(put(other, "video", sitedata.pid(102)), 404) == "not_found"
    api.services.db.call(creators_store.hide, "post", VIDEO, "a video", "request", 0, False)
    assert not by_id(client.get("/api/watchlist").json())[VIDEO]["available"]
    assert client.delete(f"/api/watchlist/creator/{BOB}").status_code == 200  # still removable


def test_without_the_stats_database_the_list_answers_without_numbers(
    start_api: StartApi, tmp_path: Path
) -> None:
    api = start_api(STATS_DB_PATH=str(tmp_path / "missing.duckdb"))
    client = user(api)
    assert error(put(client, "creator", ALICE), 503) == "stats_unavailable"
    user_id = client.get("/api/me").json()["user"]["id"]
    api.services.db.call(
        lambda c: c.execute(
            "INSERT INTO watchlist (user_id, kind, target_id, created_at, seen_at) "
            "VALUES (?, 'creator', ?, 1, 1)",
            (user_id, ALICE),
        )
    )
    listing = client.get("/api/watchlist")
    assert listing.status_code == 200
    body = listing.json()
    assert body["stats"] == "unavailable" and "missing.duckdb" in body["message"]
    assert body["items"][0]["available"] is False
    assert client.delete(f"/api/watchlist/creator/{ALICE}").status_code == 200


def test_export_holds_the_watchlist_and_deletion_removes_it(api: RunningApi) -> None:
    account = Account(f"watch{next(_count)}@example.com", "correct horse")
    client = api.client().signed_up(account)
    assert put(client, "creator", ALICE).status_code == 201
    assert put(client, "video", VIDEO).status_code == 201
    exported = client.get("/api/me/export").json()["watchlist"]
    assert sorted((i["kind"], i["id"]) for i in exported) == [("creator", ALICE), ("video", VIDEO)]
    assert {"added_at", "seen_at"} <= set(exported[0])
    user_id = client.get("/api/me").json()["user"]["id"]
    assert client.request("DELETE", "/api/me").status_code == 200
    left = api.services.db.call(
        lambda c: c.one("SELECT count(*) AS n FROM watchlist WHERE user_id = ?", (user_id,))
    )
    assert left is not None and left["n"] == 0
