"""Bad input gets a clear JSON error, never a 500; /api/openapi.json describes every route."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from api.app import all_endpoints
from tests.support.api_client import Client
from tests.support.api_server import RunningApi, run_api


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code


def test_unknown_route_and_method(client: Client) -> None:
    assert_error(client.get("/api/nope"), 404, "not_found")
    assert_error(client.request("PUT", "/api/me"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"email": NaN}', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b"[" * 100_000, {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b"[]", {"Content-Type": "application/json"}, 400, "invalid_request"),
        (b'{"email": "a@b.co"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b'{"email": "a@b.co"}', {}, 415, "unsupported_media_type"),
        (
            b'{"email": "a@b.co", "auth_key": "short"}',
            {"Content-Type": "application/json"},
            400,
            "invalid_request",
        ),
        (
            b'{"email": "no-at-sign", "auth_key": "' + b"A" * 43 + b'"}',
            {"Content-Type": "application/json"},
            400,
            "invalid_request",
        ),
        (
            b'{"email": "a@b.co", "auth_key": "' + b"A" * 43 + b'", "x": 1}',
            {"Content-Type": "application/json"},
            400,
            "invalid_request",
        ),
        (
            b'{"email": 5, "auth_key": true}',
            {"Content-Type": "application/json"},
            400,
            "invalid_request",
        ),
    ],
)
def test_bad_bodies(
    client: Client, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    assert_error(
        client.request("POST", "/api/auth/login", content=content, headers=headers), status, code
    )


def test_error_names_the_field(client: Client) -> None:
    response = client.post("/api/auth/login", {"email": "a@b.co", "auth_key": "x"})
    assert "body.auth_key" in response.json()["error"]["message"]


def test_body_limit(api: RunningApi, client: Client) -> None:
    big = b'{"email": "' + b"a" * api.settings.MAX_BODY_BYTES + b'"}'
    assert_error(
        client.request(
            "POST", "/api/auth/login", content=big, headers={"Content-Type": "application/json"}
        ),
        413,
        "body_too_large",
    )


@pytest.mark.e2e
def test_body_limit_without_content_length(db_url: str, tmp_path: Path) -> None:
    """A chunked body that grows past the limit is cut off too (on a real socket)."""
    with run_api(db_url, tmp_path, real_server=True) as api:
        _send_chunked_past_the_limit(api)


def _send_chunked_past_the_limit(api: RunningApi) -> None:
    host, port = api.base_url.removeprefix("http://").split(":")
    chunk = b"a" * 65536
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(api.settings.MAX_BODY_BYTES // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close early
        head = sock.recv(200)
    assert head.startswith(b"HTTP/1.1 413")


def test_query_validation(client: Client) -> None:
    assert_error(client.get("/api/auth/prelogin"), 400, "invalid_request")
    assert_error(client.get("/api/auth/prelogin", params={"email": "x"}), 400, "invalid_request")
    assert_error(client.get("/api/auth/prelogin?email=a@b.co&email=c@d.co"), 400)


def test_session_endpoints_need_sign_in(client: Client) -> None:
    for ep in all_endpoints():
        if ep.auth != "public":
            path = ep.path.replace("{session_id}", "abc")
            assert_error(client.request(ep.method, path), 401, "not_signed_in")


def test_bogus_session_cookie_is_ignored(api: RunningApi, client: Client) -> None:
    client.http.cookies.set("sid", "x" * 5000)
    assert_error(client.get("/api/me"), 401)
    client.http.cookies.set("sid", "forged")
    assert_error(client.get("/api/me"), 401)


def test_openapi_describes_every_endpoint(api: RunningApi, client: Client) -> None:
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    declared = {(ep.method, ep.path) for ep in all_endpoints()}
    assert described == declared
    routes = client.get("/api/openapi.json")  # stable
    assert json.loads(routes.text) == doc
    login = doc["paths"]["/api/auth/login"]["post"]
    schema = login["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["email", "auth_key"]
    assert schema["properties"]["auth_key"]["pattern"]


def test_security_headers(client: Client) -> None:
    response = client.get("/api/auth/prelogin", params={"email": "a@b.co"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    page = client.get("/api/pages/verify")
    assert "script-src 'self'" in page.headers["content-security-policy"]
