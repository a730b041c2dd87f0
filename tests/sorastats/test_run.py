"""The run context shared by import and fetch (`sorastats.run`), the library's results and
messages, and the command line's mapping of results and errors to exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorastats import db, importer
from sorastats.cli import error_exit, main, run_exit_code
from sorastats.fetch import FetchOptions, fetch
from sorastats.ingest import Counts
from sorastats.run import IngestRun, Level, Message, RunResult, failure_status
from sorastats.runlock import RunLock, RunLockedError
from tests.support.ingest import count, page, wrapper, write
from tests.support.sora_server import Backend, fast_fetch_env, running

ERROR = Message(Level.ERROR, "a.json: not JSON")
NOTE = Message(Level.NOTE, "stopped after 2 requests (--max-requests)")
INFO = Message(Level.INFO, "resuming fetch run #3 from its checkpoint")


@pytest.mark.parametrize(
    ("messages", "ok", "code"),
    [
        ([], True, 0),
        ([INFO], True, 0),
        ([NOTE], True, 0),
        ([INFO, NOTE], True, 0),
        ([ERROR], False, 1),
        ([NOTE, ERROR], False, 1),
        ([ERROR, ERROR], False, 1),
    ],
)
def test_a_result_maps_to_its_exit_status(messages: list[Message], ok: bool, code: int) -> None:
    result = RunResult("import", 1, Counts(), 0.0, messages)
    assert result.ok is ok
    assert result.status == ("ok" if ok else "failed")
    assert run_exit_code(result) == code


def test_a_result_splits_errors_from_warnings() -> None:
    result = RunResult("fetch", 1, Counts(), 0.0, [INFO, ERROR, NOTE])
    assert result.errors == [ERROR.text]
    assert result.warnings == [INFO.text, NOTE.text]


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (ERROR, "error: a.json: not JSON"),
        (NOTE, "note: stopped after 2 requests (--max-requests)"),
        (INFO, "resuming fetch run #3 from its checkpoint"),
    ],
)
def test_a_message_is_shown_with_its_level(message: Message, line: str) -> None:
    assert message.line() == line


@pytest.mark.parametrize(
    ("exc", "resumable", "expected"),
    [
        (KeyboardInterrupt(), True, ("interrupted", "interrupted; the next start resumes")),
        (RuntimeError("disk full"), True, ("interrupted", "RuntimeError: disk full")),
        (KeyboardInterrupt(), False, ("failed", "KeyboardInterrupt: ")),
        (OSError("disk full"), False, ("failed", "OSError: disk full")),
        (RuntimeError("x" * 600), False, ("failed", ("RuntimeError: " + "x" * 600)[:500])),
    ],
)
def test_the_status_a_run_ends_with_on_an_exception(
    exc: BaseException, resumable: bool, expected: tuple[str, str]
) -> None:
    assert failure_status(exc, resumable=resumable) == expected


def _runs(db_path: Path) -> list[tuple[object, ...]]:
    con = db.connect(db_path, read_only=True)
    rows = con.execute(
        "SELECT id, command, source, status, message, checkpoint, pages, ended_at IS NOT NULL "
        "FROM runs ORDER BY id"
    ).fetchall()
    con.close()
    return rows


def test_a_run_records_its_row_checkpoints_and_finishes(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    with IngestRun(path, "fetch", "src", resumable=True) as run:
        assert not run.resumed and run.state == {}
        run.checkpoint(state={"phase": "feed", "cursor": "c1"})
        with pytest.raises(RunLockedError):  # the run holds the database
            RunLock(path).__enter__()
        run.finish("ok", "done")
    [row] = _runs(path)
    assert row[1:] == ("fetch", "src", "ok", "done", '{"cursor": "c1", "phase": "feed"}', 0, True)
    with RunLock(path):  # released
        pass


def test_an_exception_fails_the_run_and_releases_the_database(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    with pytest.raises(ValueError, match="boom"), IngestRun(path, "import", "a b"):
        raise ValueError("boom")
    assert [r[3:5] for r in _runs(path)] == [("failed", "ValueError: boom")]
    with IngestRun(path, "import", "c") as run:  # the lock and database were released
        run.finish("ok")
    assert [r[3] for r in _runs(path)] == ["failed", "ok"]


def test_an_interrupted_resumable_run_is_resumed_from_its_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    with pytest.raises(KeyboardInterrupt), IngestRun(path, "fetch", "src", resumable=True) as run:
        first = run.run_id
        run.checkpoint(state={"phase": "creators", "after": "user-b"})
        raise KeyboardInterrupt
    assert [r[3:5] for r in _runs(path)] == [("interrupted", "interrupted; the next start resumes")]
    with IngestRun(path, "fetch", "other", resumable=True) as other:  # other options: new run
        assert not other.resumed and other.run_id != first
        other.finish("ok")
    with IngestRun(path, "fetch", "src", resumable=True) as again:
        assert again.resumed and again.run_id == first
        assert again.state == {"phase": "creators", "after": "user-b"}
        again.finish("ok")
    assert [r[3] for r in _runs(path)] == ["ok", "ok"]


def test_the_library_import_prints_nothing_and_returns_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "in"
    write(files / "good.json", page(wrapper("s_good")))
    (files / "broken.json").write_text('{"items": [ {"post": ')
    write(files / "odd.json", {"hello": "world"})
    db_path = tmp_path / "s.duckdb"
    seen: list[Message] = []
    result = importer.import_paths(db_path, [files, tmp_path / "missing"], on_message=seen.append)
    assert capsys.readouterr() == ("", "")
    assert not result.ok and run_exit_code(result) == 1
    assert result.files == 3 and result.counts.new_posts == 1
    assert [e.split(":")[0] for e in result.errors] == [
        str(tmp_path / "missing"),
        str(files / "broken.json"),
        str(files / "odd.json"),
    ]
    assert seen == result.messages  # the callback saw each message as it came
    assert all(m.level is Level.ERROR for m in seen)
    con = db.connect(db_path, read_only=True)
    status, message = con.execute("SELECT status, message FROM runs").fetchone() or ()
    assert (status, message.split(";")[0]) == ("failed", "3 file error(s)")
    assert result.run_id == 1


@pytest.mark.e2e  # the Sora mirror server
def test_the_library_fetch_prints_nothing_and_returns_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_fetch_env(monkeypatch, retries=1)
    from sorastats import synth

    capture = tmp_path / "synth"
    synth.write(synth.SynthSpec(posts=40, creators=4, days=1, seed=5), capture)
    backend = Backend(capture, always="500", always_from=2)
    db_path = tmp_path / "f.duckdb"
    with running(backend) as url:
        result = fetch(db_path, FetchOptions(base_url=url))
    assert capsys.readouterr() == ("", "")
    assert result.errors == ["fetch failed: feed: gave up after 2 attempts; last: HTTP 500"]
    assert not result.ok and run_exit_code(result) == 1 and not result.resumed
    assert result.counts.pages == 1
    con = db.connect(db_path, read_only=True)
    assert count(con, "SELECT count(*) FROM posts") == result.counts.new_posts > 0


def test_an_invalid_setting_is_raised_by_the_library_and_exits_2_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sorastats.config import ConfigError

    monkeypatch.setenv("SORASTATS_RETRIES", "many")
    db_path = tmp_path / "f.duckdb"
    with pytest.raises(ConfigError, match="SORASTATS_RETRIES"):
        fetch(db_path, FetchOptions(base_url="http://127.0.0.1:9/x"))
    assert capsys.readouterr() == ("", "")
    assert main(["fetch", "--url", "http://127.0.0.1:9/x", "--db", str(db_path)]) == 2
    assert capsys.readouterr().err.startswith("error: SORASTATS_RETRIES=")
    out = tmp_path / "site"
    nightly = ["nightly", "--db", str(db_path), "--out", str(out), "http://127.0.0.1:9/x"]
    assert main(nightly) == 2
    err = capsys.readouterr().err
    assert "nightly: error: sources: SORASTATS_RETRIES='many' is invalid" in err
    assert "nightly: http://127.0.0.1:9/x failed; not rendering" in err
    assert not db_path.exists() and not out.exists()
    (report,) = (tmp_path / "site.reports").glob("*.json")
    assert '"failure": "config"' in report.read_text()


def test_the_command_line_prints_the_messages_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad.json", {"hello": "world"})
    good = write(tmp_path / "good.json", page(wrapper("s_1")))
    assert main(["import", str(good), str(bad), "--db", str(tmp_path / "s.duckdb")]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"error: {bad}: no 'post' or 'items' key: not a Sora feed document"]
    assert out.startswith("import: 1 new, 0 updated posts;") and out.count("\n") == 1
    con = db.connect(tmp_path / "s.duckdb", read_only=True)
    checkpoint = con.execute("SELECT checkpoint FROM runs").fetchone()
    assert checkpoint == (None,)  # an import has no resume state


def _render_error() -> BaseException:
    from sorastats.site.builder import RenderError

    return RenderError("no database at x")


def _publish_error() -> BaseException:
    from sorastats.site.publish import PublishError

    return PublishError("no previous site")


@pytest.mark.parametrize(
    ("command", "exc", "expected"),
    [
        ("render", _render_error(), (2, "render: error: no database at x")),
        ("rollback", _publish_error(), (2, "rollback: error: no previous site")),
        ("nightly", ValueError("bad --jobs"), (2, "nightly: error: bad --jobs")),
        ("import", ValueError("a bug"), None),  # not a site command: shown as a bug
        ("fetch", RunLockedError("another run"), (3, "error: another run")),
        ("import", KeyboardInterrupt(), (130, "interrupted")),
        ("stats", RuntimeError("a bug"), None),
    ],
)
def test_an_error_maps_to_its_exit_status_and_line(
    command: str, exc: BaseException, expected: tuple[int, str] | None
) -> None:
    assert error_exit(command, exc) == expected
