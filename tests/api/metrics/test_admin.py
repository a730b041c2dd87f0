"""/admin/metrics/ and `python -m api metrics report`: the maintainers' two views of the
usage metrics. The page is for verified, unrestricted accounts named in ADMIN_EMAILS;
everyone else gets exactly the 404 of an unknown page. It is autoescaped, has no
script, and carries the site's CSP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from api.__main__ import main
from tests.api.metrics.test_events import HEADERS
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi, run_api

ADMIN = Account("boss@example.com", "pw")


def _seed(api: RunningApi) -> None:
    events = [{"name": "page_view", "path": "/top/"}, {"name": "page_view", "path": "/a&b'/"},
              {"name": "page_view", "path": "/%3Cscript%3E/"}, {"name": "lcp", "path": "/top/",
              "value": 1234.5}, {"name": "vault_save", "path": "/vault/"}]  # fmt: skip
    with api.http() as http:
        answer = http.post("/api/events", content=json.dumps({"events": events}), headers=HEADERS)
    assert answer.status_code == 204


@pytest.fixture
def admin_api(start_api: Callable[..., RunningApi]) -> RunningApi:
    return start_api(ADMIN_EMAILS="someone@example.com, Boss@Example.com")


def test_an_admin_reads_the_page(admin_api: RunningApi) -> None:
    _seed(admin_api)
    admin = admin_api.client().signed_up(ADMIN)
    page = admin.get("/admin/metrics/")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "<script" not in html.lower().replace("%3cscript%3e", "")
    assert "<code>/top/</code>" in html and "Largest Contentful Paint" in html
    assert "<code>/a&amp;b&#39;/</code>" in html  # autoescaped
    assert "vault_save" in html and "(so far)" in html
    week = admin.get("/admin/metrics/", params={"days": "30"})
    assert week.status_code == 200 and 'aria-current="page">30 days' in week.text
    for bad in ("0", "401", "x", "²", "-1", "1e3"):
        answer = admin.get("/admin/metrics/", params={"days": bad})
        assert answer.status_code == 400 and "query.days" in answer.json()["error"]["message"]


def _same_as_unknown(client: Client | httpx.Client, query: str = "") -> None:
    http = client.http if isinstance(client, Client) else client
    page = http.get("/admin/metrics/" + query)
    unknown = http.get("/admin/nothing-here/" + query)
    assert page.status_code == unknown.status_code == 404
    assert page.content == unknown.content


def test_everyone_else_gets_the_404_of_an_unknown_page(admin_api: RunningApi) -> None:
    _seed(admin_api)
    with admin_api.http() as anonymous:
        _same_as_unknown(anonymous)
        _same_as_unknown(anonymous, "?days=x")
    _same_as_unknown(admin_api.client().signed_up(Account("user@example.com", "pw")))
    restricted = admin_api.client().signed_up(ADMIN)
    assert restricted.post("/api/me/restriction", {}).status_code == 200
    _same_as_unknown(restricted)


def test_nobody_is_an_admin_by_default(api: RunningApi) -> None:
    assert api.settings.ADMIN_EMAILS == ()
    _same_as_unknown(api.client().signed_up(ADMIN))


@pytest.mark.e2e
def test_the_dev_server_answers_the_sites_404_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "404.html").write_text("<h1>lost</h1>")
    env = {"ADMIN_EMAILS": ADMIN.email}
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, site=site, env=env) as api:
        with api.http() as http:
            page = http.get("/admin/metrics/")
            assert page.status_code == 404 and page.text == "<h1>lost</h1>"
            assert http.get("/nope/").content == page.content
        admin = api.client().signed_up(ADMIN)
        assert admin.get("/admin/metrics/").status_code == 200


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setenv("DEV_MODE", "1")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return main(list(args))


def test_the_report_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(tmp_path, monkeypatch, "migrate") == 0
    from api.db import Database
    from api.metrics import service
    from api.metrics.rules import Event, day_of

    db = Database(f"sqlite:///{tmp_path / 'data' / 'accounts.sqlite3'}")
    import time

    now = int(time.time())
    db.call(service.record, day_of(now), now, "v" * 32, [Event("page_view", "/top/", None)])
    db.close()
    capsys.readouterr()
    assert _cli(tmp_path, monkeypatch, "metrics", "report", "--days", "3", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"] == {"events": 1, "page_views": 1, "visitor_days": 1}
    assert data["pages"] == [{"path": "/top/", "views": 1, "visitor_days": 1}]
    assert data["days"][0]["live"] is True
    assert _cli(tmp_path, monkeypatch, "metrics", "report") == 0
    text = capsys.readouterr().out
    assert "1 page views, 1 visitor-days, 1 events" in text and "/top/" in text
    assert _cli(tmp_path, monkeypatch, "metrics", "report", "--days", "0") == 2
    assert "--days must be between 1 and 400" in capsys.readouterr().err
