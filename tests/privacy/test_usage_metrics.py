"""The policy's promises about usage information (§1: "which pages you view, which
features you use, and data about your session"), measuring how the service performs (§2
"understand how the product is used and how reliable the platform is", §4 "measure how
well the service performs") and objecting to it (§8), against the real API in-process
on SQLite: what a beacon leaves in the database is a page, a feature's name or a web
vital, a time and a hash that changes daily; never an IP address, a browser, an account
or any content; performance is measured as the 75th percentile of LCP, INP and CLS; an
objection, Do Not Track or Global Privacy Control leave nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.db import Conn
from api.maintenance import maintain
from api.metrics import service
from api.metrics.rules import day_start
from sorastats.retention import DAY
from tests.support.api_client import Account
from tests.support.api_server import RunningApi, run_api

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
HEADERS = {"User-Agent": UA, "Content-Type": "text/plain;charset=UTF-8"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[RunningApi]:
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, real_server=False) as running:
        yield running


def _everything_stored(api: RunningApi) -> str:
    service.flush_pending_now(api.services.db, api.services.metrics)

    def dump(conn: Conn) -> str:
        tables = [r["name"] for r in conn.all("SELECT name FROM sqlite_master WHERE type='table'")]
        return json.dumps({t: conn.all(f"SELECT * FROM {t}") for t in tables}, default=str)

    return api.services.db.call(dump, write=False)


def test_usage_information_is_pages_features_and_vitals_never_who(api: RunningApi) -> None:
    client = api.client().signed_up(Account("reader@example.com", "pw"))
    events = [
        {"name": "page_view", "path": "/search/?q=my+secret+query"},
        {"name": "vault_save", "path": "/vault/"},
        {"name": "lcp", "path": "/", "value": 900},
    ]
    answer = client.http.post(
        "/api/events", content=json.dumps({"events": events}), headers=HEADERS
    )
    assert answer.status_code == 204
    service.flush_pending_now(api.services.db, api.services.metrics)
    rows = api.services.db.call(lambda c: c.all("SELECT * FROM metrics_events"), write=False)
    assert sorted((r["name"], r["path"]) for r in rows) == [
        ("lcp", "/"),
        ("page_view", "/search/"),
        ("vault_save", "/vault/"),
    ]
    assert set(rows[0]) == {"day", "at", "visitor", "name", "path", "value"}
    user_id = client.get("/api/me").json()["user"]["id"]
    metrics = json.dumps(rows)
    for secret in ("secret", UA, "127.0.0.1", "reader@example.com", user_id):
        assert secret not in metrics


def test_service_performance_is_measured_as_the_75th_percentile(api: RunningApi) -> None:
    with api.http() as http:
        for i, lcp in enumerate((1000, 2000, 3000, 4000)):
            body = {"events": [{"name": "lcp", "path": "/", "value": lcp}]}
            headers = {**HEADERS, "User-Agent": f"{UA} {i}"}
            assert (
                http.post("/api/events", content=json.dumps(body), headers=headers).status_code
                == 204
            )
    service.flush_pending_now(api.services.db, api.services.metrics)
    now = api.services.db.call(lambda c: int(c.all("SELECT at FROM metrics_events")[0]["at"]))
    tomorrow = day_start(api.services.metrics.day) + DAY + 3600
    maintain(api.services.db, tomorrow)
    report = api.services.db.call(service.report, tomorrow, 2, write=False)
    assert [(v.name, v.samples, v.p75) for v in report.vitals] == [("lcp", 4, 3000.0)]
    assert report.days[0].visitors == 4 and now < tomorrow


@pytest.mark.parametrize("how", ["objection", "dnt", "gpc"])
def test_an_objection_leaves_nothing(api: RunningApi, how: str) -> None:
    client = api.client().signed_up(Account("objector@example.com", "pw"))
    headers = dict(HEADERS)
    if how == "objection":
        body = {"theme": "system", "leaderboard_window": "7d", "metrics_objection": True}
        assert client.request("PUT", "/api/me/settings", json=body).status_code == 200
    else:
        headers["DNT" if how == "dnt" else "Sec-GPC"] = "1"
    before = _everything_stored(api)
    event = {"events": [{"name": "page_view", "path": "/"}]}
    answer = client.http.post("/api/events", content=json.dumps(event), headers=headers)
    assert answer.status_code == 204
    assert _everything_stored(api) == before  # not even a salt
