"""The nightly as a library (sorastats/nightly.py), in-process: its report file (written
atomically beside the site, the last 30 kept, written when a step fails), the check of the
staged tree before it goes live, the deploy slot, secrets kept out, the alert settings."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sorastats import nightly
from sorastats.cli import (
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    nightly_exit_code,
)
from sorastats.config import AlertConfig, ConfigError, load_alert, webhook_url
from sorastats.nightly import DeployOutcome, NightlyPlan, NightlyReport
from sorastats.site.config import RenderConfig
from sorastats.site.manifest import MANIFEST_NAME
from tests.support import sitedata

BASE = "https://sorastats.example"
T0 = datetime(2026, 12, 7, 3, 15, tzinfo=UTC)


def _report(reports: Path, started: datetime = T0) -> NightlyReport:
    rid = nightly.run_id(started)
    return NightlyReport(rid, started.isoformat(), "site", str(reports / f"{rid}.json"))


# -- pure parts ------------------------------------------------------------------------


def test_report_names_sort_by_start_time_and_match_the_pattern() -> None:
    names = [nightly.run_id(T0 + timedelta(seconds=s, microseconds=m)) for s, m in
             [(0, 0), (0, 1), (1, 0), (3600 * 30, 999_999)]]  # fmt: skip
    assert names[0] == "2026-12-07T031500.000000Z"
    assert sorted(names) == names
    assert all(nightly.REPORT_NAME.fullmatch(n + ".json") for n in names)


@pytest.mark.parametrize(
    ("count", "keep", "deleted"),
    [(0, 30, 0), (30, 30, 0), (31, 30, 1), (40, 30, 10), (3, 0, 3)],
)
def test_pruning_keeps_the_newest_and_touches_nothing_else(
    count: int, keep: int, deleted: int
) -> None:
    names = [f"{nightly.run_id(T0 + timedelta(minutes=i))}.json" for i in range(count)]
    others = ["notes.txt", ".2026-12-07T031500.000000Z.json.12.tmp", "2026.json"]
    gone = nightly.prune_names(list(reversed(names)) + others, keep)
    assert gone == names[:deleted]


@pytest.mark.parametrize(
    ("value", "secrets", "expected"),
    [
        ("token abcd1234 in text", ["abcd1234"], "token (hidden) in text"),
        ({"a": ["x https://h/hook/SeCrEt y"]}, ["https://h/hook/SeCrEt"], {"a": ["x (hidden) y"]}),
        ({"n": 3, "b": None, "s": "abc"}, ["abc"], {"n": 3, "b": None, "s": "abc"}),  # too short
        ("long-secret and long", ["long", "long-secret"], "(hidden) and (hidden)"),
        ("nothing", [], "nothing"),
    ],
)
def test_redact_hides_every_secret_value_at_any_depth(
    value: object, secrets: list[str], expected: object
) -> None:
    assert nightly.redact(value, secrets) == expected


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example/T0/B1/abc", True),
        ("http://127.0.0.1:8123/hook", True),
        ("http://localhost/hook", True),
        ("http://hooks.example/hook", False),  # clear text over the network
        ("ftp://127.0.0.1/x", False),
        ("https://", False),
        ("127.0.0.1:80/hook", False),
    ],
)
def test_webhook_urls_are_https_or_loopback_http(url: str, ok: bool) -> None:
    if ok:
        assert webhook_url(url) == url
    else:
        with pytest.raises(ValueError, match="https URL"):
            webhook_url(url)


def test_alert_settings_load_and_a_bad_webhook_is_named_without_its_value() -> None:
    cfg = load_alert({"SORASTATS_ALERT_WEBHOOK": "https://hooks.example:8443/T/secret-token"})
    assert (cfg.on, cfg.timeout_s, cfg.retries, cfg.backoff_s) == ("failure", 10.0, 2, 2.0)
    assert "secret-token" not in repr(cfg) and "hooks.example:8443" in repr(cfg)
    with pytest.raises(ConfigError) as bad:
        load_alert({"SORASTATS_ALERT_WEBHOOK": "http://hooks.example/secret-token"})
    assert "SORASTATS_ALERT_WEBHOOK=(hidden) is invalid" in str(bad.value)
    assert "secret-token" not in str(bad.value)
    with pytest.raises(ConfigError, match="SORASTATS_ALERT_ON='sometimes' is invalid"):
        load_alert({"SORASTATS_ALERT_ON": "sometimes"})
    with pytest.raises(ConfigError, match="SORASTATS_ALERT_RETRIES='-1' is invalid"):
        load_alert({"SORASTATS_ALERT_RETRIES": "-1"})


ALERT = AlertConfig(webhook="https://h/x", on="failure", timeout_s=1, retries=0, backoff_s=0)


@pytest.mark.parametrize(
    ("status", "on", "webhook", "due"),
    [
        ("ok", "failure", "https://h/x", False),
        ("ok", "always", "https://h/x", True),
        ("failed", "failure", "https://h/x", True),
        ("interrupted", "failure", "https://h/x", True),
        ("failed", "always", None, False),
    ],
)
def test_when_an_alert_is_due(status: str, on: str, webhook: str | None, due: bool) -> None:
    report = _report(Path("r"))
    report.status = status
    alert = AlertConfig(webhook=webhook, on=on, timeout_s=1, retries=0, backoff_s=0)
    assert nightly.alert_due(report, alert) is due


@pytest.mark.parametrize(
    ("failure", "code"),
    [(None, 0), ("source", EXIT_RUN_FAILED), ("check", EXIT_RUN_FAILED),
     ("deploy", EXIT_RUN_FAILED), ("error", EXIT_RUN_FAILED), ("config", EXIT_USAGE),
     ("render", EXIT_USAGE), ("locked", EXIT_LOCKED), ("interrupted", EXIT_INTERRUPTED)],
)  # fmt: skip
def test_exit_status_per_failure(failure: str | None, code: int) -> None:
    report = _report(Path("r"))
    report.status = "ok"
    if failure is not None:
        report.fail("render", failure, "why")
    assert nightly_exit_code(report) == code


# -- the report file -------------------------------------------------------------------


def test_31_reports_keep_the_newest_30_written_atomically(tmp_path: Path) -> None:
    reports = tmp_path / "site.reports"
    reports.mkdir()
    (reports / "notes.txt").write_text("mine")
    written = []
    for i in range(31):
        report = _report(reports, T0 + timedelta(hours=i))
        report.exit_status = i
        written.append(nightly.save_report(report, ()))
    left = sorted(p.name for p in reports.iterdir())
    assert left == sorted([p.name for p in written[1:]] + ["notes.txt"])
    assert json.loads(written[-1].read_text())["exit_status"] == 30
    assert not any(name.endswith(".tmp") for name in left)


# -- whole runs on small data ----------------------------------------------------------


def _plan(tmp_path: Path, **render: object) -> NightlyPlan:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    cfg = RenderConfig(db=dbp, out=out, base_url=BASE, jobs=1, search=False, **render)  # type: ignore[arg-type]
    return NightlyPlan([], cfg, nightly.reports_dir(out), secrets=("s3cr3t-token",))


def _quiet(_line: str) -> None:
    pass


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.e2e  # two whole runs each (about 3 s): make test
def test_a_run_reports_beside_the_site_and_plugs_in_a_deploy(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    deployed: list[Path] = []

    def deploy(site: Path) -> DeployOutcome:
        deployed.append(site)
        assert (site / MANIFEST_NAME).is_file()  # the published tree, after the check
        return DeployOutcome("s3://bucket/site", uploaded=12, unchanged=3)

    report = nightly.run_nightly(plan, deploy=deploy, log=_quiet)
    assert report.ok and report.failure is None and deployed == [plan.render.out]
    assert [(s.name, s.status) for s in report.steps] == [
        ("sources", "ok"), ("render", "ok"), ("check", "ok"), ("deploy", "ok")]  # fmt: skip
    assert report.pages["published"] and report.pages["written"] == report.pages["total"] > 0
    assert report.check["checked"] > 0 and report.check["problems"] == 0
    assert report.deploy == {"target": "s3://bucket/site", "uploaded": 12, "deleted": 0,
                             "unchanged": 3}  # fmt: skip
    saved = json.loads(Path(report.report_file).read_text())
    assert saved["status"] == "ok" and saved["versions"]["sorastats"]
    assert Path(report.report_file).parent == tmp_path / "site.reports"
    assert not any("report" in p.name for p in plan.render.out.rglob("*"))  # never deployed
    # Nothing changed: nothing staged, so the live tree is what is checked (and deployed).
    again = nightly.run_nightly(plan, deploy=deploy, log=_quiet)
    assert again.ok and not again.pages["published"] and again.pages["written"] == 0
    assert again.check["tree"] == "the live site site" and again.check["checked"] > 0
    assert len(deployed) == 2 and len(list(nightly.reports_dir(plan.render.out).iterdir())) == 2


@pytest.mark.e2e  # two whole runs each (about 3 s): make test
def test_a_failing_check_leaves_the_live_site_and_skips_the_deploy(tmp_path: Path) -> None:
    good = _plan(tmp_path)
    assert nightly.run_nightly(good, log=_quiet).ok
    live = _tree(good.render.out)
    bad = _plan(tmp_path, templates=sitedata.broken_link_templates(tmp_path))

    def deploy(site: Path) -> DeployOutcome:
        raise AssertionError("a site that failed its check is never deployed")

    report = nightly.run_nightly(bad, deploy=deploy, log=_quiet)
    assert (report.status, report.failed_step, report.failure) == ("failed", "check", "check")
    assert nightly_exit_code(report) == EXIT_RUN_FAILED
    assert [(s.name, s.status) for s in report.steps] == [
        ("sources", "ok"), ("render", "ok"), ("check", "failed"), ("deploy", "skipped"),
    ]  # fmt: skip
    assert report.check["problems"] > 0 and "no-such-page" in report.check["first_problems"][0]
    assert not report.pages["published"]
    assert _tree(good.render.out) == live  # not one byte changed
    saved = json.loads(Path(report.report_file).read_text())
    assert saved["failed_step"] == "check" and "broken link" in saved["errors"][0]


def test_a_failing_deploy_or_render_is_reported_with_its_step(tmp_path: Path) -> None:
    plan = _plan(tmp_path)

    def deploy(site: Path) -> DeployOutcome:
        raise RuntimeError("bucket s3://b refused the upload")

    report = nightly.run_nightly(plan, deploy=deploy, log=_quiet)
    assert (report.failed_step, report.failure) == ("deploy", "deploy")
    assert report.errors == ["deploy: bucket s3://b refused the upload"]
    assert json.loads(Path(report.report_file).read_text())["status"] == "failed"
    cfg = RenderConfig(db=tmp_path / "none.duckdb", out=tmp_path / "s2", base_url=BASE, jobs=1)
    gone = NightlyPlan([], cfg, tmp_path / "s2.reports")
    failed = nightly.run_nightly(gone, log=_quiet)
    assert (failed.failed_step, failed.failure) == ("render", "render")
    assert "no database at" in failed.errors[0]
    assert [(s.name, s.status) for s in failed.steps][1:] == [
        ("render", "failed"), ("check", "skipped"), ("deploy", "skipped")]  # fmt: skip
    assert nightly_exit_code(failed) == EXIT_USAGE


def test_a_killed_or_interrupted_run_leaves_a_report_and_secrets_stay_out(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path)
    seen: list[dict[str, object]] = []

    def deploy(site: Path) -> DeployOutcome:
        files = sorted(plan.reports.iterdir())
        seen.append(json.loads(files[-1].read_text()))  # as a SIGKILL here would leave it
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM through the command line

    report = nightly.run_nightly(plan, deploy=deploy, log=_quiet)
    assert seen[0]["status"] == "running" and seen[0]["finished_at"] is None
    steps = seen[0]["steps"]
    assert isinstance(steps, list) and [s["name"] for s in steps] == ["sources", "render", "check"]
    assert (report.status, report.failure) == ("interrupted", "interrupted")
    report.errors.append("source https://h/?token=s3cr3t-token failed")
    report.exit_status = nightly_exit_code(report)
    nightly.conclude(report, plan, AlertConfig(None, "failure", 1, 0, 0))
    assert len(os.listdir(plan.reports)) == 1  # the same file, rewritten after each step
    text = Path(report.report_file).read_text()
    assert json.loads(text)["exit_status"] == EXIT_INTERRUPTED
    assert "s3cr3t-token" not in text and "(hidden)" in text
    summary = json.dumps(nightly.redact(nightly.summary(report), plan.secrets))
    assert "s3cr3t-token" not in summary and "interrupted" in summary
