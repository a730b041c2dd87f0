"""`build.py nightly`: sources (paths imported, URLs fetched from a real server on
127.0.0.1, or `SORASTATS_SOURCES`), then render; a failing source leaves the site as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorastats import db, synth
from sorastats.cli import main, nightly_sources
from sorastats.site.check import check_site
from tests.support.sora_server import Backend, fast_fetch_env, running

# End-to-end tier (make test): whole nightly runs against the Sora mirror server.
pytestmark = pytest.mark.e2e

BASE = "https://sorastats.example"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synth.write(synth.SynthSpec(posts=120, creators=12, days=2, seed=3), out)
    return out


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_fetch_env(monkeypatch, retries=1)
    monkeypatch.delenv("SORASTATS_SOURCES", raising=False)


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        ([], {}, []),
        (["a/b", "http://h/x"], {"SORASTATS_SOURCES": "ignored"}, [Path("a/b"), "http://h/x"]),
        (
            [],
            {"SORASTATS_SOURCES": " data/x  https://h:1/api "},
            [Path("data/x"), "https://h:1/api"],
        ),
    ],
)
def test_sources_come_from_arguments_else_the_environment(
    given: list[str], env: dict[str, str], expected: list[object]
) -> None:
    assert nightly_sources(given, env) == expected


@pytest.mark.parametrize("bad", ["ftp://h/x", "http://", "file:///etc/passwd"])
def test_a_source_url_that_is_not_http_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        nightly_sources([bad], {})


def _args(tmp_path: Path) -> list[str]:
    dbp, out = tmp_path / "n.duckdb", tmp_path / "site"
    return ["nightly", "--db", str(dbp), "--out", str(out), "--base-url", BASE, "--jobs", "1",
            "--no-search"]  # fmt: skip


def test_url_source_from_the_environment_is_fetched_then_rendered(
    capture: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend = Backend(capture)
    with running(backend) as url:
        monkeypatch.setenv("SORASTATS_SOURCES", url)
        assert main(_args(tmp_path)) == 0
    assert any("/feed" in p for p in backend.paths) and any(
        "/profile_feed/" in p for p in backend.paths
    )
    con = db.connect(tmp_path / "n.duckdb", read_only=True)
    posts = [r[0] for r in con.execute("SELECT id FROM posts").fetchall()]
    con.close()
    assert posts
    assert all((tmp_path / "site" / "p" / pid / "index.html").exists() for pid in posts)
    assert "published" in capsys.readouterr().out
    _, problems = check_site(tmp_path / "site", BASE)
    assert problems == []


def test_a_failing_source_stops_before_rendering(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day1 = capture / "day-01"
    assert main([*_args(tmp_path), str(day1)]) == 0
    live = sorted(p.name for p in (tmp_path / "site" / "p").iterdir())
    manifest = (tmp_path / "site" / ".manifest").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    backend = Backend(capture, always="500")
    with running(backend) as url:
        # the second day's pages import, then the server fails: nothing is rendered
        assert main([*_args(tmp_path), str(capture / "day-02"), url]) != 0
    err = capsys.readouterr().err
    assert f"{url} failed; not rendering, the live site is unchanged" in err
    assert sorted(p.name for p in (tmp_path / "site" / "p").iterdir()) == live
    assert (tmp_path / "site" / ".manifest").read_bytes() == manifest
    assert main([*_args(tmp_path), str(bad)]) != 0
    assert "bad.json failed" in capsys.readouterr().err
    assert (tmp_path / "site" / ".manifest").read_bytes() == manifest
