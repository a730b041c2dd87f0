"""`build.py nightly`: sources (paths imported, URLs fetched from a real server on
127.0.0.1, or `SORASTATS_SOURCES`), then render; a failing source leaves the site as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sorastats import db, synth
from sorastats.cli import EXIT_RUN_FAILED, main, nightly_sources
from sorastats.files import site_file
from sorastats.site.check import check_site
from tests.support import sitedata
from tests.support.sora_server import Backend, fast_fetch_env, running
from tests.support.webhook import closed_port_url, webhook_receiver

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
    for key in ("SORASTATS_ALERT_WEBHOOK", "SORASTATS_ALERT_ON", "SORA_TOKEN"):
        monkeypatch.delenv(key, raising=False)


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


# -- the alert: a real webhook receiver on 127.0.0.1 -----------------------------------

HOOK_SECRET = "hook-secret-T0K3N"
SORA_SECRET = "sora-secret-b34r3r"


def _reports(tmp_path: Path) -> list[dict[str, Any]]:
    folder = tmp_path / "site.reports"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _alert_env(monkeypatch: pytest.MonkeyPatch, url: str, **extra: str) -> None:
    monkeypatch.setenv("SORASTATS_ALERT_WEBHOOK", url)
    monkeypatch.setenv("SORASTATS_ALERT_BACKOFF_S", "0")
    monkeypatch.setenv("SORA_TOKEN", SORA_SECRET)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def test_a_failure_alert_reaches_the_webhook_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with webhook_receiver(f"/hook/{HOOK_SECRET}") as hook:
        _alert_env(monkeypatch, hook.url)
        assert main([*_args(tmp_path), str(bad)]) == EXIT_RUN_FAILED
    out, err = capsys.readouterr()
    assert len(hook.received) == 1
    sent = hook.received[0]
    assert sent.path == f"/hook/{HOOK_SECRET}" and sent.content_type == "application/json"
    body = sent.json()
    assert (body["status"], body["failed_step"], body["failure"]) == ("failed", "sources", "source")
    assert body["exit_status"] == EXIT_RUN_FAILED and "bad.json" in body["text"]
    (report,) = _reports(tmp_path)
    assert body["report_file"].endswith(f"{report['run_id']}.json")
    assert report["alerts"] == [{"channel": "webhook", "target": hook.url.split("/")[2],
                                 "delivered": True, "attempts": 1, "error": None}]  # fmt: skip
    assert f"alert sent to {hook.url.split('/')[2]} (webhook)" in err
    assert not (tmp_path / "site").exists()  # nothing rendered
    everything = sent.body.decode() + out + err + json.dumps(report)
    assert HOOK_SECRET not in everything and SORA_SECRET not in everything


def test_an_unreachable_webhook_does_not_change_the_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _alert_env(monkeypatch, closed_port_url(f"/hook/{HOOK_SECRET}"),
               SORASTATS_ALERT_RETRIES="1", SORASTATS_ALERT_TIMEOUT_S="2")  # fmt: skip
    assert main([*_args(tmp_path), str(bad)]) == EXIT_RUN_FAILED  # as without an alert
    out, err = capsys.readouterr()
    (report,) = _reports(tmp_path)
    (alert,) = report["alerts"]
    assert (alert["delivered"], alert["attempts"]) == (False, 2)
    assert "ConnectError" in alert["error"]
    assert "not delivered after 2 attempt(s)" in err
    assert report["exit_status"] == EXIT_RUN_FAILED and report["failed_step"] == "sources"
    assert HOOK_SECRET not in out + err + json.dumps(report)


def test_a_failing_check_keeps_the_live_site_and_alerts(
    capture: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with webhook_receiver(statuses=(503,)) as hook:
        # Success alerts too, and the first POST is answered 503: sent again.
        _alert_env(monkeypatch, hook.url, SORASTATS_ALERT_ON="always")
        assert main([*_args(tmp_path), str(capture / "day-01")]) == 0
        live = {p: p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()}
        templates = sitedata.broken_link_templates(tmp_path)
        # Where the renderer finds its templates by default: a bad template change.
        monkeypatch.setattr(
            "sorastats.site.config.site_file",
            lambda name: templates if name == "templates" else site_file(name),
        )
        assert main(_args(tmp_path)) == EXIT_RUN_FAILED
    err = capsys.readouterr().err
    assert [r.json()["status"] for r in hook.received] == ["ok", "ok", "failed"]
    first, second = _reports(tmp_path)
    assert first["alerts"][0]["attempts"] == 2 and first["alerts"][0]["delivered"]
    assert (second["failed_step"], second["exit_status"]) == ("check", EXIT_RUN_FAILED)
    assert hook.received[-1].json()["failed_step"] == "check"
    assert "broken link" in err and "not published" in err
    now = {p: p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()}
    assert now == live  # the live site as it was
    assert not any("report" in p.name for p in (tmp_path / "site").rglob("*"))


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("SORASTATS_ALERT_WEBHOOK", f"http://hooks.example/{HOOK_SECRET}", "(hidden)"),
        ("SORASTATS_ALERT_ON", "sometimes", "'sometimes'"),
    ],
)
def test_a_bad_alert_setting_stops_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
    shown: str,
) -> None:
    monkeypatch.setenv(key, value)
    assert main(_args(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert err == f"nightly: error: {key}={shown} is invalid: " + err.split(": ", 3)[3]
    assert err.count("\n") == 1 and HOOK_SECRET not in out + err
    assert not (tmp_path / "site.reports").exists() and not (tmp_path / "n.duckdb").exists()
