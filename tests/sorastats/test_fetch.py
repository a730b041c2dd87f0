"""`build.py fetch` against a real HTTP server on 127.0.0.1 serving synthetic pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sorastats import db, synth
from sorastats.archive import CaptureArchive
from sorastats.cli import run_exit_code
from sorastats.fetch import FetchOptions, fetch
from sorastats.importer import import_paths
from sorastats.run import default_captures_dir
from sorastats.runlock import RunLock
from tests.support.ingest import count, dump
from tests.support.paths import ROOT
from tests.support.sora_server import DAY1_CLOCK, Backend, fast_fetch_env, running

# End-to-end tier (make test): the Sora mirror server on 127.0.0.1.
pytestmark = pytest.mark.e2e

TOKEN = "sekret-token-Zq81xT"
DAY2_CLOCK = "2025-10-02T23:50:00Z"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synth.write(synth.SynthSpec(posts=240, creators=24, days=3, seed=7), out)
    return out


@pytest.fixture(autouse=True)
def fast_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_fetch_env(monkeypatch, retries=4)


def run_fetch(
    db_path: Path,
    url: str,
    *,
    cut: str = FetchOptions.cut,
    refresh_creators: bool = FetchOptions.refresh_creators,
    max_requests: int | None = FetchOptions.max_requests,
) -> tuple[int, list[str]]:
    """The library's fetch: the exit status the command line maps its result to, and
    the result's messages as users see them."""
    options = FetchOptions(
        base_url=url, cut=cut, refresh_creators=refresh_creators, max_requests=max_requests
    )
    result = fetch(db_path, options)
    return run_exit_code(result), [m.line() for m in result.messages]


def day_pages(capture: Path, day: int) -> int:
    return len(list((capture / f"day-{day:02d}").glob("latest-*.json")))


def test_fetch_walks_every_page_like_an_import(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture)
    with running(backend) as url:
        status, messages = run_fetch(tmp_path / "f.duckdb", url)
    assert status == 0, messages
    assert backend.requests == day_pages(capture, 1)
    assert backend.auth == [None] * backend.requests  # no token configured, none sent
    # the same pages imported from files give the same posts and counters
    pages = sorted((capture / "day-01").glob("latest-*.json"))
    import_paths(tmp_path / "i.duckdb", pages)
    fetched = db.connect(tmp_path / "f.duckdb", read_only=True)
    imported = db.connect(tmp_path / "i.duckdb", read_only=True)
    sql = "SELECT id, view_count, like_count, text FROM posts ORDER BY id"
    assert fetched.execute(sql).fetchall() == imported.execute(sql).fetchall()
    assert count(fetched, "SELECT count(*) FROM posts") > 50
    run = fetched.execute("SELECT status, pages, source FROM runs").fetchone()
    assert run == ("ok", day_pages(capture, 1), f"{url} cut=nf2_latest")


def test_faults_are_retried_and_change_nothing(capture: Path, tmp_path: Path) -> None:
    clean = Backend(capture)
    with running(clean) as url:
        assert run_fetch(tmp_path / "clean.duckdb", url)[0] == 0
    faulty = Backend(
        capture,
        faults={
            1: "429",
            2: "429",
            3: "429-retry-after",
            5: "500",
            6: "503",
            8: "slow",
            10: "truncated",
        },
    )
    with running(faulty) as url:
        status, messages = run_fetch(tmp_path / "faulty.duckdb", url)
    assert status == 0, messages
    assert faulty.requests == clean.requests + 7
    a = db.connect(tmp_path / "clean.duckdb", read_only=True)
    b = db.connect(tmp_path / "faulty.duckdb", read_only=True)
    # `raw.source` names the server, whose port differs
    assert dump(a, drop=frozenset({"source"})) == dump(b, drop=frozenset({"source"}))


def test_exhausted_retries_fail_with_one_line_and_keep_committed_pages(
    capture: Path, tmp_path: Path
) -> None:
    backend = Backend(capture, always="500", always_from=3)
    with running(backend) as url:
        status, messages = run_fetch(tmp_path / "f.duckdb", url)
    assert status == 1
    errors = [m for m in messages if m.startswith("error:")]
    assert errors == ["error: fetch failed: feed: gave up after 5 attempts; last: HTTP 500"]
    assert backend.requests == 2 + 5
    con = db.connect(tmp_path / "f.duckdb", read_only=True)
    assert con.execute("SELECT status, pages FROM runs").fetchall() == [("failed", 2)]
    assert count(con, "SELECT count(*) FROM posts") > 0


def test_client_errors_are_not_retried(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture, faults={1: "404"})
    with running(backend) as url:
        status, messages = run_fetch(tmp_path / "f.duckdb", url)
    assert status == 1 and backend.requests == 1
    assert "error: fetch failed: feed: HTTP 404 (not retried)" in messages


def test_bad_records_in_a_page_are_quarantined_with_the_url(capture: Path, tmp_path: Path) -> None:
    bad = {"post": {"id": "s_bad", "shared_by": "user-x", "like_count": "many"}, "profile": None}
    private = {"post": {"id": "s_private", "shared_by": "user-x", "posted_to_public": False}}
    backend = Backend(capture, inject=[bad, private, 17])
    with running(backend) as url:
        status, messages = run_fetch(tmp_path / "f.duckdb", url)
    assert status == 0, messages
    con = db.connect(tmp_path / "f.duckdb", read_only=True)
    rows = con.execute("SELECT source, reason FROM quarantine ORDER BY reason").fetchall()
    assert rows == [
        (f"{url}/feed?cut=nf2_latest", "not a {post, profile} wrapper"),
        (f"{url}/feed?cut=nf2_latest", "post.like_count is a string, expected an integer"),
    ]
    assert con.execute("SELECT quarantined FROM runs").fetchone() == (2,)
    assert count(con, "SELECT count(*) FROM posts WHERE id IN ('s_bad', 's_private')") == 0


def test_a_cursor_that_does_not_advance_ends_the_run(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture, stuck_cursor=True)
    with running(backend) as url:
        status, messages = run_fetch(tmp_path / "f.duckdb", url)
    assert status == 1 and backend.requests == 2
    assert "error: fetch failed: feed: the cursor did not advance; stopping" in messages


def test_later_run_stops_at_a_page_of_known_posts(
    capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = Backend(capture)
    with running(backend) as url:
        assert run_fetch(tmp_path / "f.duckdb", url)[0] == 0
        backend.day, backend.requests = 2, 0
        monkeypatch.setenv("SORASTATS_NOW", DAY2_CLOCK)
        assert run_fetch(tmp_path / "f.duckdb", url)[0] == 0
    assert 1 < backend.requests < day_pages(capture, 2)
    con = db.connect(tmp_path / "f.duckdb", read_only=True)
    days = con.execute(
        "SELECT captured_on, count(*) FROM post_snapshots GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [str(d) for d, _ in days] == ["2025-10-01", "2025-10-02"]


def test_refresh_creators_walks_every_profile_feed(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture)
    with running(backend) as url:
        status, _ = run_fetch(tmp_path / "f.duckdb", url, refresh_creators=True)
    assert status == 0
    con = db.connect(tmp_path / "f.duckdb", read_only=True)
    creators = {r[0] for r in con.execute("SELECT id FROM creators").fetchall()}
    walked = {p.split("/")[-1] for p in backend.paths if p.startswith("/profile_feed/")}
    assert walked == creators


def test_top_cut_is_requested_and_recorded(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture)
    with running(backend) as url:
        status, _ = run_fetch(tmp_path / "f.duckdb", url, cut="nf2_top", max_requests=1)
    assert status == 0
    assert backend.queries[0] == {"limit": "16", "cut": "nf2_top"}
    con = db.connect(tmp_path / "f.duckdb", read_only=True)
    assert con.execute("SELECT source FROM runs").fetchone() == (f"{url} cut=nf2_top",)


def test_max_requests_stops_early(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture)
    with running(backend) as url:
        status, messages = run_fetch(tmp_path / "f.duckdb", url, max_requests=2)
    assert status == 0 and backend.requests == 2
    assert any("stopped after 2 requests" in m for m in messages)
    con = db.connect(tmp_path / "f.duckdb", read_only=True)
    assert con.execute("SELECT status, pages FROM runs").fetchall() == [("ok", 2)]


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORA")}
    env.update(
        SORASTATS_BACKOFF_S="0.01",
        SORASTATS_TIMEOUT_S="2",
        SORASTATS_RETRIES="3",
        SORASTATS_NOW=DAY1_CLOCK,
    )
    env.update(extra)
    return env


def _fetch_cmd(url: str, db_path: Path) -> list[str]:
    return [sys.executable, str(ROOT / "build.py"), "fetch", "--url", url, "--db", str(db_path)]


def test_token_is_sent_but_never_printed_logged_or_stored(capture: Path, tmp_path: Path) -> None:
    backend = Backend(capture, always="500", always_from=4)
    db_path = tmp_path / "f.duckdb"
    with running(backend) as url:
        proc = subprocess.run(
            _fetch_cmd(url, db_path),
            env=_subprocess_env(SORA_TOKEN=TOKEN),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert backend.auth[0] == f"Bearer {TOKEN}"
    assert TOKEN not in proc.stdout + proc.stderr
    assert "fetch failed" in proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_second_concurrent_run_exits_at_once(capture: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "f.duckdb"
    with RunLock(db_path):
        proc = subprocess.run(
            _fetch_cmd("http://127.0.0.1:9/unused", db_path),
            env=_subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        imp = subprocess.run(
            [sys.executable, str(ROOT / "build.py"), "import", str(capture), "--db", str(db_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    for result in (proc, imp):
        assert result.returncode == 3
        assert "another run" in result.stderr and "is using this database" in result.stderr


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(
    capture: Path, tmp_path: Path
) -> None:
    backend = Backend(capture, day=2)
    with running(backend) as url:
        reference = tmp_path / "reference.duckdb"
        proc = subprocess.run(
            [*_fetch_cmd(url, reference), "--refresh-creators"],
            env=_subprocess_env(),
            capture_output=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        total = backend.requests

        killed = tmp_path / "killed.duckdb"
        backend.delay_s = 0.02
        kills = 0
        for divisor in (5, 4, 3):  # each attempt gets this much further, then dies
            backend.requests = 0
            target = max(1, total // divisor)
            child = subprocess.Popen(
                [*_fetch_cmd(url, killed), "--refresh-creators"],
                env=_subprocess_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while backend.requests < target and child.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.wait(timeout=60)
        assert kills >= 2
        backend.delay_s = 0.0
        final = subprocess.run(
            [*_fetch_cmd(url, killed), "--refresh-creators"],
            env=_subprocess_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert final.returncode == 0, final.stderr
        assert "resuming fetch run" in final.stderr
    a = db.connect(reference, read_only=True)
    b = db.connect(killed, read_only=True)
    assert dump(a) == dump(b)
    assert b.execute("SELECT count(*), min(status) FROM runs").fetchone() == (1, "ok")
    counts = "SELECT pages, items, new_posts, updated_posts, snapshots, removed_posts FROM runs"
    assert a.execute(counts).fetchall() == b.execute(counts).fetchall()
    # and the same capture archive: every page kept once, nothing a kill left behind
    index = "SELECT sha256, input_sha256, documents FROM captures ORDER BY ALL"
    assert a.execute(index).fetchall() == b.execute(index).fetchall()
    archived = [
        set(CaptureArchive(default_captures_dir(p)).json_keys()) for p in (reference, killed)
    ]
    assert archived[0] == archived[1] == {r[0] for r in a.execute(index).fetchall()}


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/backend", "http://"])
def test_fetch_refuses_a_url_that_is_not_http(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sorastats.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["fetch", "--url", url, "--db", str(tmp_path / "f.duckdb")])
    assert exit_info.value.code == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    assert not (tmp_path / "f.duckdb").exists()
