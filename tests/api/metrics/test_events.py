"""`POST /api/events`: what is counted, what is dropped (still 204), and every bad input
(400/413/415 with a clear error, nothing stored, never a 500). In-process on SQLite (the
fast tier) and on a real server on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.db import Conn
from api.metrics import service
from api.metrics.rules import BURST, MAX_BATCH, MAX_BODY_BYTES, MAX_PATH
from tests.support.api_client import Account
from tests.support.api_server import RunningApi, run_api

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
HEADERS = {"User-Agent": BROWSER, "Content-Type": "application/json"}


def stored(api: RunningApi) -> list[dict[str, Any]]:
    """What the database holds once this process's queued events are written."""
    service.flush_pending_now(api.services.db, api.services.metrics)

    def rows(conn: Conn) -> list[dict[str, Any]]:
        return conn.all("SELECT day, at, visitor, name, path, value FROM metrics_events")

    return api.services.db.call(rows, write=False)


def send(http: httpx.Client, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/api/events", content=raw, headers={**HEADERS, **(headers or {})})


def test_an_event_is_counted_with_its_path_normalised_and_no_ip_or_browser(
    api: RunningApi,
) -> None:
    with api.http() as http:
        answer = send(http, {"events": [{"name": "page_view", "path": "/top//?q=1#x"}]})
    assert answer.status_code == 204 and answer.content == b""
    assert "set-cookie" not in answer.headers
    [row] = stored(api)
    assert (row["name"], row["path"], row["value"]) == ("page_view", "/top/", None)
    assert len(row["visitor"]) == 32 and BROWSER not in json.dumps(row)
    assert "127.0.0.1" not in json.dumps(row)


def test_a_batch_and_text_plain_as_sendbeacon_sends_it(api: RunningApi) -> None:
    events = [
        {"name": "page_view", "path": "/p/abc/index.html"},
        {"name": "lcp", "path": "/p/abc/", "value": 812.5},
        {"name": "cls", "path": "/p/abc/", "value": 0.02},
        {"name": "inp", "path": "/p/abc/", "value": 64},
        {"name": "copy_prompt", "path": "/p/abc/"},
    ]
    with api.http() as http:
        answer = send(http, {"events": events}, {"Content-Type": "text/plain;charset=UTF-8"})
    assert answer.status_code == 204
    rows = sorted((r["name"], r["path"], r["value"]) for r in stored(api))
    assert rows == sorted(
        [("page_view", "/p/abc/", None), ("lcp", "/p/abc/", 812.5), ("cls", "/p/abc/", 0.02),
         ("inp", "/p/abc/", 64.0), ("copy_prompt", "/p/abc/", None)]
    )  # fmt: skip
    assert len({r["visitor"] for r in stored(api)}) == 1


def ev(**fields: Any) -> dict[str, Any]:
    return {"events": [{"name": "page_view", "path": "/", **fields}]}


BAD: list[tuple[str, Any, str]] = [
    ("not JSON", b"{nope", "invalid_json"),
    ("NaN", b'{"events": [{"name": "lcp", "path": "/", "value": NaN}]}', "invalid_json"),
    ("not UTF-8", b'{"events": "\xff"}', "invalid_json"),
    ("a list", [], "invalid_request"),
    ("no events", {}, "invalid_request"),
    ("another field", {"events": [{"name": "page_view", "path": "/"}], "x": 1}, "invalid_request"),
    ("events not a list", {"events": {"name": "page_view"}}, "invalid_request"),
    ("no event", {"events": []}, "invalid_request"),
    ("too many", {"events": [{"name": "page_view", "path": "/"}] * (MAX_BATCH + 1)},
     "invalid_request"),
    ("an event not an object", {"events": ["page_view"]}, "invalid_request"),
    ("unknown name", {"events": [{"name": "keystroke", "path": "/"}]}, "invalid_request"),
    ("name not a string", {"events": [{"name": 1, "path": "/"}]}, "invalid_request"),
    ("no name", {"events": [{"path": "/"}]}, "invalid_request"),
    ("no path", {"events": [{"name": "page_view"}]}, "invalid_request"),
    ("path not a string", ev(path=3), "invalid_request"),
    ("relative path", ev(path="top/"), "invalid_request"),
    ("another site", ev(path="//evil.example/"), "invalid_request"),
    ("a URL", ev(path="https://evil.example/"), "invalid_request"),
    ("path too long", ev(path="/" + "a" * MAX_PATH), "invalid_request"),
    ("path far too long", ev(path="/" + "a" * 1000), "invalid_request"),
    ("a space in the path", ev(path="/a b/"), "invalid_request"),
    ("markup in the path", ev(path="/<script>/"), "invalid_request"),
    ("a value on a page view", ev(value=1), "invalid_request"),
    ("an unknown field", ev(text="my prompt"), "invalid_request"),
    ("a vital without value", {"events": [{"name": "lcp", "path": "/"}]}, "invalid_request"),
    ("a vital as text", {"events": [{"name": "lcp", "path": "/", "value": "9"}]},
     "invalid_request"),
    ("a vital as boolean", {"events": [{"name": "cls", "path": "/", "value": True}]},
     "invalid_request"),
    ("a negative vital", {"events": [{"name": "cls", "path": "/", "value": -0.1}]},
     "invalid_request"),
    ("an LCP of a day", {"events": [{"name": "lcp", "path": "/", "value": 86_400_000}]},
     "invalid_request"),
    ("a huge number", {"events": [{"name": "inp", "path": "/", "value": 1e300}]},
     "invalid_request"),
    ("one bad event spoils the batch",
     {"events": [{"name": "page_view", "path": "/"}, {"name": "nope", "path": "/"}]},
     "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "code"), [(b, c) for _, b, c in BAD], ids=[n for n, _, _ in BAD])
def test_bad_input_is_refused_clearly_and_nothing_is_counted(
    api: RunningApi, body: Any, code: str
) -> None:
    with api.http() as http:
        answer = send(http, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]
    assert stored(api) == []


def test_a_body_over_two_kilobytes_is_refused_with_413(api: RunningApi) -> None:
    padded = json.dumps({"events": [{"name": "page_view", "path": "/"}]}).encode()
    padded += b" " * (MAX_BODY_BYTES + 1 - len(padded))
    with api.http() as http:
        answer = send(http, padded)
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "body_too_large"
        # Streamed without a Content-Length: counted as it arrives.
        chunks = iter([padded[:1000], padded[1000:]])
        streamed = http.post("/api/events", content=chunks, headers=HEADERS)
        assert streamed.status_code == 413
        exactly = padded[: MAX_BODY_BYTES - 1] + b" "
        assert send(http, exactly).status_code == 204  # the limit itself passes
    assert len(stored(api)) == 1


@pytest.mark.parametrize("media", ["", "application/x-www-form-urlencoded", "text/html"])
def test_other_media_types_are_refused_with_415(api: RunningApi, media: str) -> None:
    with api.http() as http:
        answer = send(http, ev(), {"Content-Type": media})
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    assert stored(api) == []


@pytest.mark.parametrize(
    "headers",
    [{"DNT": "1"}, {"Sec-GPC": "1"}, {"User-Agent": "Googlebot/2.1"}, {"User-Agent": ""},
     {"User-Agent": "curl/8.5.0"}, {"User-Agent": "Mozilla/5.0 HeadlessChrome/131.0"}],
    ids=["dnt", "gpc", "googlebot", "no-user-agent", "curl", "headless"],
)  # fmt: skip
def test_opted_out_visitors_and_bots_get_204_and_are_not_counted(
    api: RunningApi, headers: dict[str, str]
) -> None:
    with api.http() as http:
        answer = send(http, ev(), headers)
    assert answer.status_code == 204 and answer.content == b""
    assert stored(api) == []


def test_dnt_zero_is_counted(api: RunningApi) -> None:
    with api.http() as http:
        assert send(http, ev(), {"DNT": "0", "Sec-GPC": "0"}).status_code == 204
    assert len(stored(api)) == 1


def _answer_shape(answer: httpx.Response) -> tuple[int, bytes, list[str]]:
    skip = {"date", "content-length"}
    return answer.status_code, answer.content, sorted(k for k in answer.headers if k not in skip)


def test_signed_in_is_counted_without_a_csrf_token_and_answered_the_same(
    api: RunningApi,
) -> None:
    client = api.client().signed_up(Account("counted@example.com", "pw"))
    signed_in = client.http.post(
        "/api/events", content=json.dumps(ev()).encode(), headers=HEADERS
    )  # no X-CSRF-Token: sendBeacon cannot send one
    with api.http() as http:
        signed_out = send(http, ev())
    assert _answer_shape(signed_in) == _answer_shape(signed_out)
    assert signed_in.status_code == 204
    assert len(stored(api)) == 2
    assert "counted@example.com" not in json.dumps(stored(api))


def test_a_signed_in_objection_drops_events_with_the_same_answer(api: RunningApi) -> None:
    client = api.client().signed_up(Account("objects@example.com", "pw"))
    put = client.request(
        "PUT",
        "/api/me/settings",
        json={"theme": "system", "leaderboard_window": "7d", "metrics_objection": True},
    )
    assert put.status_code == 200, put.text
    objected = client.http.post("/api/events", content=json.dumps(ev()).encode(), headers=HEADERS)
    with api.http() as http:
        counted = send(http, ev())
    assert _answer_shape(objected) == _answer_shape(counted)
    assert len(stored(api)) == 1  # only the signed-out one


def test_a_restricted_account_is_not_counted(api: RunningApi) -> None:
    client = api.client().signed_up(Account("frozen@example.com", "pw"))
    assert client.post("/api/me/restriction", {}).status_code == 200
    answer = client.http.post("/api/events", content=json.dumps(ev()).encode(), headers=HEADERS)
    assert answer.status_code == 204
    assert stored(api) == []


def test_a_cross_site_beacon_is_refused(api: RunningApi) -> None:
    with api.http() as http:
        answer = send(http, ev(), {"Sec-Fetch-Site": "cross-site"})
        other = send(http, ev(), {"Origin": "https://evil.example"})
    assert answer.status_code == 403 and other.status_code == 403
    assert stored(api) == []


def test_a_burst_is_dropped_past_the_bucket(api: RunningApi) -> None:
    """One visitor (IP and browser) sending far more than BURST events at once: the bucket
    lets BURST through (plus what refills meanwhile) and drops the rest, still with 204."""
    batch = {"events": [{"name": "page_view", "path": "/"}] * MAX_BATCH}
    with api.http() as http:
        answers = [send(http, batch).status_code for _ in range(3 * BURST // MAX_BATCH)]
        other = send(http, ev(), {"User-Agent": BROWSER + " Other"})
    assert set(answers) == {204} and other.status_code == 204
    counted = len(stored(api))
    assert BURST + 1 <= counted < BURST + 1 + 2 * MAX_BATCH  # another visitor still counts
    assert len({r["visitor"] for r in stored(api)}) == 2


def _rows_without_flush(db_url: str) -> int:
    from api.db import Database

    db = Database(db_url)
    try:
        row = db.call(lambda c: c.one("SELECT count(*) AS n FROM metrics_events"), write=False)
        return int(row["n"]) if row else 0
    finally:
        db.close()


@pytest.mark.slow  # waits for the periodic flush (FLUSH_SECONDS)
def test_queued_events_are_written_within_a_second_and_at_shutdown(
    db_url: str, tmp_path: Path
) -> None:
    import time

    with run_api(db_url, tmp_path) as api, api.http() as http:
        assert send(http, ev()).status_code == 204
        deadline = time.monotonic() + 5
        while _rows_without_flush(db_url) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _rows_without_flush(db_url) == 1  # the periodic flush wrote it
        assert send(http, ev()).status_code == 204
    assert _rows_without_flush(db_url) == 2  # written as the app stopped
