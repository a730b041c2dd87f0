"""The dev server: the static site and the API on one port, through a real uvicorn."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorastats import serving
from sorastats.site.writer import write_output
from tests.support.api_server import run_api

PAGES = {
    "index.html": b"<h1>home</h1>" + b" and more" * 100,
    "creators/ada/index.html": b"<h1>ada</h1>",
    "404.html": b"<h1>lost</h1>",
    "static/site.0123456789.css": b"body{color:red}" * 40,
}


def written_site(tmp_path: Path) -> Path:
    """PAGES written as the renderer writes them (with .gz/.br siblings)."""
    site = tmp_path / "site"
    for rel, data in PAGES.items():
        write_output(site, rel, data)
    return site


@pytest.mark.e2e
def test_site_and_api_on_one_port(tmp_path: Path) -> None:
    site = written_site(tmp_path)
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, site=site) as api:
        with api.http() as http:
            assert http.get("/").content == PAGES["index.html"]
            assert http.get("/creators/ada/").content == PAGES["creators/ada/index.html"]
            missing = http.get("/creators/nobody/")
            assert missing.status_code == 404 and missing.content == PAGES["404.html"]
            me = http.get("/api/me")
            assert me.status_code == 401 and me.json()["error"]["code"] == "not_signed_in"
            assert http.get("/api/nope").json()["error"]["code"] == "not_found"
            assert http.get("/api/openapi.json").status_code == 200
            assert "vary" not in me.headers  # the API's answers are not the site's


ACCEPTS = [
    # Accept-Encoding, Content-Encoding answered
    ("gzip, deflate, br", "br"),
    ("gzip", "gzip"),
    ("br;q=0, gzip;q=0.5", "gzip"),
    ("identity", None),
    ("", None),
]


@pytest.mark.e2e
def test_precompressed_answers_over_http(tmp_path: Path) -> None:
    site = written_site(tmp_path)
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, site=site) as api:
        for accept, encoding in ACCEPTS:
            with api.http(headers={"Accept-Encoding": accept}) as http:
                for rel in ("index.html", "static/site.0123456789.css"):
                    path = "/" if rel == "index.html" else f"/{rel}"
                    response = http.get(path)
                    where = (accept, path)
                    assert response.headers.get("content-encoding") == encoding, where
                    assert response.headers["vary"] == "Accept-Encoding", where
                    assert response.content == PAGES[rel], where  # decoded: the plain file
                    assert response.headers["cache-control"] == serving.cache_control(rel)
                    assert response.headers["content-type"] == serving.content_type(rel)
                    assert response.headers["x-content-type-options"] == "nosniff"
                # The wire carries the sibling's bytes as they are on disk.
                suffix = serving.ENCODINGS[encoding] if encoding else ""
                with http.stream("GET", "/") as streamed:
                    raw = b"".join(streamed.iter_raw())
                assert raw == (site / f"index.html{suffix}").read_bytes()
        # A sibling's own URL, and a percent-encoded climb out: the site's 404.
        with api.http() as http:
            for path in ("/index.html.br", "/index.html.gz", "/creators/%2e%2e/%2e%2e/a.sqlite3"):
                refused = http.get(path)
                assert refused.status_code == 404, path
                assert refused.content == PAGES["404.html"], path
