"""A signed-in user's site settings (`GET/PUT /api/me/settings`): defaults, validation
of every field, kept in the account (in the export, gone with it). On SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from api.account.service import SITE_SETTINGS
from tests.support.api_client import Account
from tests.support.api_server import RunningApi

GOOD = {"theme": "dark", "leaderboard_window": "30d", "metrics_objection": True}


def test_defaults_then_what_was_put(api: RunningApi) -> None:
    client = api.client().signed_up(Account("prefs@example.com", "pw"))
    first = client.get("/api/me/settings")
    assert first.status_code == 200
    assert first.json()["settings"] == {s.name: s.default for s in SITE_SETTINGS}
    assert first.json()["settings"] == {
        "theme": "system",
        "leaderboard_window": "7d",
        "metrics_objection": False,
    }
    put = client.request("PUT", "/api/me/settings", json=GOOD)
    assert put.status_code == 200 and put.json()["settings"] == GOOD
    assert client.get("/api/me/settings").json()["settings"] == GOOD
    exported = client.get("/api/me/export").json()
    assert {k: exported["profile"]["settings"][k] for k in GOOD} == GOOD


def test_other_stored_preferences_are_kept(api: RunningApi) -> None:
    client = api.client().signed_up(Account("keep@example.com", "pw"))
    patch = client.request("PATCH", "/api/me", json={"settings": {"compact": True}})
    assert patch.status_code == 200, patch.text
    assert client.request("PUT", "/api/me/settings", json=GOOD).status_code == 200
    exported = client.get("/api/me/export").json()["profile"]["settings"]
    assert exported == {**GOOD, "compact": True}


BAD: list[tuple[str, Any]] = [
    ("unknown theme", {**GOOD, "theme": "blue"}),
    ("theme not text", {**GOOD, "theme": 1}),
    ("unknown window", {**GOOD, "leaderboard_window": "1y"}),
    ("objection as text", {**GOOD, "metrics_objection": "yes"}),
    ("objection as number", {**GOOD, "metrics_objection": 1}),
    ("objection null", {**GOOD, "metrics_objection": None}),
    ("a field missing", {"theme": "dark", "leaderboard_window": "7d"}),
    ("an unknown field", {**GOOD, "font": "big"}),
    ("not an object", ["dark"]),
    ("empty", {}),
]


@pytest.mark.parametrize("body", [b for _, b in BAD], ids=[n for n, _ in BAD])
def test_bad_settings_are_refused_and_nothing_changes(api: RunningApi, body: Any) -> None:
    client = api.client().signed_up(Account("bad@example.com", "pw"))
    assert client.request("PUT", "/api/me/settings", json=GOOD).status_code == 200
    answer = client.request("PUT", "/api/me/settings", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"
    assert client.get("/api/me/settings").json()["settings"] == GOOD


def test_signed_out_and_restricted(api: RunningApi) -> None:
    with api.http() as http:
        assert http.get("/api/me/settings").status_code == 401
    client = api.client().signed_up(Account("frozen2@example.com", "pw"))
    assert client.post("/api/me/restriction", {}).status_code == 200
    answer = client.request("PUT", "/api/me/settings", json=GOOD)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "account_restricted"
