"""Hostile JSON cannot brick an account: non-finite numbers, lone surrogates and NUL are
refused at parse time with 400 on every endpoint (nothing stored), and a bad value stored
before the parser refused it still lets its owner sign in, read /api/me and export.
Real API on both backends; the bodies are sent as raw text, as an attacker would."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from api.db import Conn
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi

JSON = {"Content-Type": "application/json"}
_n = itertools.count()


def account(api: RunningApi) -> tuple[Client, Account]:
    acct = Account(f"hostile{next(_n)}@example.com", "pw")
    return api.client().signed_up(acct), acct


def raw_patch(client: Client, text: str) -> httpx.Response:
    return client.request("PATCH", "/api/me", content=text.encode(), headers=JSON)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body


def assert_usable(api: RunningApi, acct: Account) -> dict[str, Any]:
    """A fresh browser signs in, reads /api/me and the export: the account is not bricked."""
    fresh = api.client()
    fresh.login(acct)
    me = fresh.get("/api/me")
    assert me.status_code == 200, me.text
    export = fresh.get("/api/me/export")
    assert export.status_code == 200, export.text
    assert export.json()["profile"]["settings"] == me.json()["user"]["settings"]
    user: dict[str, Any] = me.json()["user"]
    return user


@pytest.mark.parametrize("token", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_settings_are_refused_and_nothing_is_stored(api: RunningApi, token: str) -> None:
    client, acct = account(api)
    assert client.request("PATCH", "/api/me", json={"settings": {"k": 1}}).status_code == 200
    body = assert_error(raw_patch(client, f'{{"settings": {{"k": {token}}}}}'), 400, "invalid_json")
    assert "finite" in body["error"]["message"] or "range" in body["error"]["message"]
    assert assert_usable(api, acct)["settings"] == {"k": 1}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"display_name": "a\\ud800b"}', "body.display_name"),
        ('{"settings": {"k": "\\udc00"}}', "body.settings.k"),
        ('{"settings": {"\\ud800": "v"}}', "body.settings key"),
        ('{"display_name": "ok", "settings": {"k": "\\ud83d"}}', "body.settings.k"),
        ('{"settings": {"k": "a\\u0000b"}}', "body.settings.k"),
        ('{"display_name": "a\\u0000"}', "body.display_name"),
    ],
)
def test_bad_strings_are_refused_and_nothing_is_stored(
    api: RunningApi, text: str, where: str
) -> None:
    client, acct = account(api)
    body = assert_error(raw_patch(client, text), 400, "invalid_json")
    assert where in body["error"]["message"]
    user = assert_usable(api, acct)
    assert user["display_name"] == "" and user["settings"] == {}


def test_surrogates_and_nul_in_query_strings_are_a_clear_400(client: Client) -> None:
    # Percent-decoding turns invalid UTF-8 into U+FFFD, so only NUL can arrive this way.
    response = client.get("/api/auth/prelogin", params={"email": "a\x00@example.com"})
    assert_error(response, 400, "invalid_request")
    response = client.get("/api/auth/prelogin?email=%ED%A0%80%40example.com")
    assert_error(response, 400, "invalid_request")


def test_float_settings_outside_the_documented_bounds_are_refused(api: RunningApi) -> None:
    client, acct = account(api)
    assert_error(raw_patch(client, '{"settings": {"k": 1e300}}'), 400, "invalid_request")
    assert client.request("PATCH", "/api/me", json={"settings": {"k": 0.5}}).status_code == 200
    assert assert_usable(api, acct)["settings"] == {"k": 0.5}


def test_a_bad_value_stored_before_the_fix_does_not_brick_the_account(api: RunningApi) -> None:
    """Rows written by the old parser: `Infinity` and an escaped lone surrogate in the
    stored settings JSON. Sign-in, /api/me and export answer, and the owner can repair."""
    client, acct = account(api)
    user_id = str(client.get("/api/me").json()["user"]["id"])

    def corrupt(conn: Conn) -> None:
        conn.execute(
            "UPDATE users SET settings = ? WHERE id = ?",
            ('{"big": Infinity, "nan": NaN, "s": "a\\ud800", "ok": 1}', user_id),
        )

    api.services.db.call(corrupt)
    settings = assert_usable(api, acct)["settings"]
    assert settings == {"big": None, "nan": None, "s": "a\ufffd", "ok": 1}
    assert client.get("/api/me").status_code == 200  # the session that was already open
    repaired = client.request("PATCH", "/api/me", json={"settings": {"ok": 2}})
    assert repaired.status_code == 200, repaired.text
    assert assert_usable(api, acct)["settings"] == {"ok": 2}
