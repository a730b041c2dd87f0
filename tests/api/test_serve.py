"""The dev server: the static site and the API on one port."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api_server import run_api


@pytest.mark.e2e
def test_site_and_api_on_one_port(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "creators" / "ada").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "creators" / "ada" / "index.html").write_text("<h1>ada</h1>")
    (site / "404.html").write_text("<h1>lost</h1>")
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, site=site) as api:
        with api.http() as http:
            assert http.get("/").text == "<h1>home</h1>"
            assert http.get("/creators/ada/").text == "<h1>ada</h1>"
            missing = http.get("/creators/nobody/")
            assert missing.status_code == 404 and missing.text == "<h1>lost</h1>"
            me = http.get("/api/me")
            assert me.status_code == 401 and me.json()["error"]["code"] == "not_signed_in"
            assert http.get("/api/nope").json()["error"]["code"] == "not_found"
            assert http.get("/api/openapi.json").status_code == 200
