"""`build.py nightly` as a library: import or fetch each source, render with the check of
the staged tree before it goes live, then an optional deploy; one JSON report per run
beside the site and an alert when configured (docs/deploy.md, "Running the nightly
unattended").

`run_nightly` does the steps and returns a `NightlyReport` (it never raises for a failed
step: the failure is in the report). The caller picks the exit status from it, then
`conclude` sends the alert and writes the final report. The report file is also written
when the run starts and after every step, so a run killed half-way leaves one that says
`running` and how far it got."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import httpx

import sorastats
from sorastats import retention
from sorastats.client import public_url
from sorastats.config import SECRET_SETTINGS, AlertConfig, ConfigError, webhook_host
from sorastats.contributions import ContributionsError
from sorastats.run import Log, OnMessage, RunResult
from sorastats.runlock import RunLock, RunLockedError
from sorastats.site.config import RenderConfig

if TYPE_CHECKING:
    from sorastats.deploy.deploy import DeployOptions

REPORTS_KEEP = retention.keep("nightly reports")  # sorastats/retention.py
STEPS = ("sources", "render", "check", "deploy")  # `check` runs inside `render`
# Report files are named by their start time (UTC, microseconds), so names sort by time.
REPORT_NAME = re.compile(r"\d{4}-\d\d-\d\dT\d{6}\.\d{6}Z\.json")
ALERT_ERRORS = 10  # errors an alert lists (the report has them all)
REPORT_PROBLEMS = 50  # check problems a report lists (with their count)

_logger = logging.getLogger("sorastats.nightly")


@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy did; `target` is where to, without credentials (`s3://bucket/prefix`)."""

    target: str
    uploaded: int
    deleted: int = 0
    unchanged: int = 0


# The deploy slot: given the live site folder, upload it, or raise with a one-line
# message; a deploy that fails must leave what is live where it deploys as it was.
Deploy = Callable[[Path], DeployOutcome]


def bucket_deploy(options: DeployOptions) -> Deploy:
    """The deploy step of `nightly --deploy`: the live site to a bucket with
    `sorastats.deploy` (options.out is the site folder), under the site's lock so no render
    swaps the tree while it is read. A deploy that fails half-way leaves the bucket serving
    a consistent site, and the next one completes it (docs/deploy.md)."""

    def run(site: Path) -> DeployOutcome:
        from sorastats.deploy.deploy import deploy

        with RunLock(site, f"the site {site}"):
            result = deploy(replace(options, out=site))
        return DeployOutcome(
            target=str(options.target),
            uploaded=result.uploaded,
            deleted=result.deleted,
            unchanged=result.skipped,
        )

    return run


@dataclass(frozen=True)
class NightlyPlan:
    sources: Sequence[str | Path]  # paths are imported, http(s) URLs fetched
    render: RenderConfig
    reports: Path  # the reports folder (see `reports_dir`)
    # Values never written to a report or an alert (tokens, the webhook URL).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    captures: Path | None = None  # the capture archive (default: beside the database)
    # Creators' decisions: `none`, the API's export URL, or a file (sorastats.contributions).
    contributions: str = "none"


def reports_dir(out: Path) -> Path:
    """`<out>.reports`: beside the site, never inside the tree that is published or
    deployed (like `<out>.cache`)."""
    return out.with_name(out.name + ".reports")


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the secret settings that are set (see `redact`)."""
    return tuple(v for k in sorted(SECRET_SETTINGS) if (v := env.get(k, "")))


@dataclass
class SourceReport:
    source: str  # a path, or a URL without userinfo or query
    action: str  # "import" or "fetch"
    status: str = "running"  # "ok" or "failed"
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class StepReport:
    name: str  # "sources", "render", "check", "deploy"
    status: str  # "ok", "failed" or "skipped"
    seconds: float = 0.0
    detail: str = ""


@dataclass
class AlertReport:
    channel: str  # "webhook"
    target: str  # the host only: the URL may hold a token
    delivered: bool
    attempts: int
    error: str | None = None


@dataclass
class NightlyReport:
    run_id: str
    started_at: str
    site: str
    report_file: str
    status: str = "running"  # then "ok", "failed" or "interrupted"
    finished_at: str | None = None
    seconds: float = 0.0
    failed_step: str | None = None
    # Why it failed: "source", "config", "locked", "contributions", "render", "check", "deploy",
    # "interrupted" or "error" (an unexpected exception); the caller maps it to an exit.
    failure: str | None = None
    exit_status: int | None = None
    sources: list[SourceReport] = field(default_factory=list)
    steps: list[StepReport] = field(default_factory=list)
    pages: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    deploy: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    alerts: list[AlertReport] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fail(self, step: str, failure: str, error: str) -> None:
        self.status = "interrupted" if failure == "interrupted" else "failed"
        if self.failed_step is None:
            self.failed_step, self.failure = step, failure
        self.errors.append(f"{step}: {error}")


# -- pure parts ------------------------------------------------------------------------


def run_id(started: datetime) -> str:
    return started.astimezone(UTC).strftime("%Y-%m-%dT%H%M%S.%fZ")


def failure_kind(exc: BaseException) -> str:
    """How a step's exception is reported (and, through the caller, its exit status)."""
    from sorastats.site.builder import RenderError
    from sorastats.site.publish import PublishError

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, RunLockedError):
        return "locked"
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, ContributionsError):
        return "contributions"
    if isinstance(exc, RenderError | PublishError | ValueError):
        return "render"
    return "error"


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (JSON-like) with every secret value replaced by `(hidden)`, in any string
    at any depth: an error message may quote a URL with its token."""
    hidden = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
    if not hidden:
        return value

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            for secret in hidden:
                v = v.replace(secret, "(hidden)")
            return v
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return clean(value)


def prune_names(names: Iterable[str], keep: int = REPORTS_KEEP) -> list[str]:
    """The report files to delete so that the newest `keep` stay (other names untouched)."""
    reports = sorted(n for n in names if REPORT_NAME.fullmatch(n))
    return reports[: max(0, len(reports) - keep)]


def alert_due(report: NightlyReport, alert: AlertConfig) -> bool:
    return alert.webhook is not None and (alert.on == "always" or not report.ok)


def summary(report: NightlyReport) -> dict[str, Any]:
    """The alert's JSON: what happened, in a few lines (`text` for chat webhooks); the
    whole story is in the report file it names."""
    if report.ok:
        text = f"SoraStats nightly ok on {socket.gethostname()}"
    else:
        text = (
            f"SoraStats nightly {report.status} at {report.failed_step} "
            f"({report.failure}) on {socket.gethostname()}: "
            + (report.errors[0] if report.errors else "no error message")
        )
    return {
        "text": text,
        "status": report.status,
        "failed_step": report.failed_step,
        "failure": report.failure,
        "exit_status": report.exit_status,
        "run_id": report.run_id,
        "started_at": report.started_at,
        "seconds": round(report.seconds, 3),
        "host": socket.gethostname(),
        "site": report.site,
        "report_file": report.report_file,
        "errors": report.errors[:ALERT_ERRORS],
        "sources": [{"source": s.source, "status": s.status} for s in report.sources],
        "pages": report.pages,
        "check": {k: v for k, v in report.check.items() if k != "first_problems"},
        "deploy": report.deploy,
    }


def report_json(report: NightlyReport, secrets: Iterable[str]) -> dict[str, Any]:
    return dict(redact(asdict(report), secrets))


# -- the report file -------------------------------------------------------------------


def save_report(report: NightlyReport, secrets: Iterable[str], keep: int = REPORTS_KEEP) -> Path:
    """Write the report atomically (temporary file, fsync, rename), then delete all but
    the newest `keep` reports of the folder."""
    path = Path(report.report_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(report_json(report, secrets), indent=2, sort_keys=True) + "\n"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for name in prune_names(os.listdir(path.parent), keep):
        (path.parent / name).unlink(missing_ok=True)
    return path


# -- the steps -------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    return {
        "sorastats": sorastats.__version__,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


class _Nightly:
    def __init__(
        self,
        plan: NightlyPlan,
        deploy: Deploy | None,
        log: Log,
        on_message: OnMessage | None,
        now: datetime,
    ) -> None:
        self.plan, self.deploy, self.log, self.on_message = plan, deploy, log, on_message
        started = now.astimezone(UTC)
        name = run_id(started)
        while (plan.reports / f"{name}.json").exists():  # same microsecond: next one
            started += timedelta(microseconds=1)
            name = run_id(started)
        self.report = NightlyReport(
            run_id=name,
            started_at=started.isoformat().replace("+00:00", "Z"),
            site=str(plan.render.out),
            report_file=str(plan.reports / f"{name}.json"),
            versions=_versions(),
        )
        self.t0 = time.perf_counter()

    def save(self) -> None:
        self.report.seconds = time.perf_counter() - self.t0
        save_report(self.report, self.plan.secrets)

    def step(self, name: str, body: Callable[[StepReport], bool]) -> bool:
        """Run one step; True when the run goes on. Any exception is the step's failure."""
        step = StepReport(name, "running")
        self.report.steps.append(step)
        t0 = time.perf_counter()
        try:
            ok = body(step)
        except (Exception, KeyboardInterrupt) as exc:
            kind = failure_kind(exc)
            message = "interrupted" if kind == "interrupted" else str(exc) or type(exc).__name__
            if kind == "error":  # a bug: its traceback helps, on stderr and in the report
                self.log(f"nightly: {name} failed:\n{traceback.format_exc().rstrip()}")
                message = f"{type(exc).__name__}: {message}"
            self.report.fail(name, kind, message)
            ok = False
        step.seconds = time.perf_counter() - t0
        if step.status == "running":
            step.status = "ok" if ok else "failed"
        self.save()
        return ok

    def sources(self, step: StepReport) -> bool:
        from sorastats.fetch import FetchOptions, fetch
        from sorastats.importer import import_paths

        db_path = self.plan.render.db
        for source in self.plan.sources:
            is_path = isinstance(source, Path)
            item = SourceReport(
                str(source) if is_path else public_url(str(source)),
                "import" if is_path else "fetch",
            )
            self.report.sources.append(item)
            t0 = time.perf_counter()
            result: RunResult | None = None
            try:
                if isinstance(source, Path):
                    result = import_paths(
                        db_path,
                        [source],
                        on_message=self.on_message,
                        log=self.log,
                        captures=self.plan.captures,
                    )
                else:
                    options = FetchOptions(base_url=source, refresh_creators=True)
                    result = fetch(
                        db_path,
                        options,
                        on_message=self.on_message,
                        log=self.log,
                        captures=self.plan.captures,
                    )
            except (Exception, KeyboardInterrupt):
                self.log(
                    f"nightly: {item.source} failed; not rendering, the live site is unchanged"
                )
                raise
            finally:
                item.seconds = time.perf_counter() - t0
                item.status = "ok" if result is not None and result.ok else "failed"
                if result is not None:
                    item.counts = asdict(result.counts)
                    item.errors = result.errors
            if result is None or not result.ok:
                self.log(
                    f"nightly: {item.source} failed; not rendering, the live site is unchanged"
                )
                self.report.fail("sources", "source", f"{item.source}: " + "; ".join(item.errors))
                return False
        step.detail = f"{len(self.plan.sources)} source(s)"
        return True

    def render(self, step: StepReport) -> bool:
        from sorastats.site.builder import render_site
        from sorastats.site.check import check_site

        cfg = self.contributions()
        check_seconds = 0.0

        def check(tree: Path) -> tuple[int, list[str]]:
            nonlocal check_seconds
            t0 = time.perf_counter()
            try:
                return check_site(tree, cfg.base_url)
            finally:
                check_seconds = time.perf_counter() - t0

        built = render_site(cfg, self.log, check=check)
        checked, problems = built.checked, built.check_problems
        tree = f"the staged site {cfg.out.name}.new"
        if not built.check_problems and not built.published:
            # Nothing changed, so nothing was staged: the live site is what goes out.
            tree = f"the live site {cfg.out.name}"
            t0 = time.perf_counter()
            checked, problems = check_site(cfg.out, cfg.base_url)
            check_seconds = time.perf_counter() - t0
        if checked == 0 and not problems:
            problems = [f"{tree}: no pages to check"]
        self.report.pages = {
            "total": built.pages,
            "written": built.written,
            "unchanged": built.unchanged,
            "deleted": built.deleted,
            "published": built.published,
            "render_seconds": round(built.total_seconds, 3),
        }
        self.report.check = {
            "tree": tree,
            "checked": checked,
            "problems": len(problems),
            "first_problems": problems[:REPORT_PROBLEMS],
        }
        check_step = StepReport("check", "failed" if problems else "ok", check_seconds)
        self.report.steps.append(check_step)
        step.detail = f"{built.written:,} written, {built.unchanged:,} unchanged" + (
            "" if built.published else "; not published"
        )
        if problems:
            step.status = "ok"  # the render did its work; the check is what failed
            check_step.detail = f"{len(problems):,} problem(s) in {tree}; live site unchanged"
            self.report.fail("check", "check", f"{len(problems):,} problem(s): {problems[0]}")
            return False
        check_step.detail = f"{checked:,} files"
        return True

    def contributions(self) -> RenderConfig:
        """The render's settings with the API's export applied (a failure stops the
        render: nothing is published)."""
        from sorastats.contributions import prepare_render

        plan = self.plan
        return prepare_render(plan.render, plan.contributions, os.environ, self.log, plan.captures)

    def deploy_site(self, step: StepReport) -> bool:
        if self.deploy is None:
            step.status, step.detail = "skipped", "no deploy configured"
            return True
        try:
            outcome = self.deploy(self.plan.render.out)
        except Exception as exc:  # whatever the deploy library raises is the deploy's failure
            self.report.fail("deploy", "deploy", str(exc) or type(exc).__name__)
            return False
        self.report.deploy = asdict(outcome)
        step.detail = f"{outcome.uploaded:,} uploaded to {outcome.target}"
        return True

    def run(self) -> NightlyReport:
        self.save()  # a run killed from here on leaves a report that says "running"
        steps: list[tuple[str, Callable[[StepReport], bool]]] = [
            ("sources", self.sources),
            ("render", self.render),
            ("deploy", self.deploy_site),
        ]
        for name, body in steps:
            if not self.step(name, body):
                break
        if self.report.status == "running":
            self.report.status = "ok"
        for name in STEPS:  # those a failure stopped: in order, as skipped
            if not any(s.name == name for s in self.report.steps):
                self.report.steps.append(StepReport(name, "skipped"))
        self.save()
        return self.report


def run_nightly(
    plan: NightlyPlan,
    *,
    deploy: Deploy | None = None,
    log: Log | None = None,
    on_message: OnMessage | None = None,
    now: datetime | None = None,
) -> NightlyReport:
    """Sources, render (its staged tree checked before it goes live), deploy. Stops at
    the first failed step; the live site (and what `deploy` uploads to) is then as it
    was. Progress goes to `log` (default: the `sorastats.nightly` logger)."""
    now = datetime.now(UTC) if now is None else now
    return _Nightly(plan, deploy, log or _logger.info, on_message, now).run()


# -- the alert -------------------------------------------------------------------------


def post_webhook(
    url: str, payload: dict[str, Any], alert: AlertConfig, sleep: Callable[[float], None]
) -> AlertReport:
    """POST `payload` with a timeout; retry on a connection error, a timeout, 429 or 5xx.
    Never raises: what went wrong is in the result (without the URL)."""
    from sorastats.tls import tls_context

    outcome = AlertReport("webhook", webhook_host(url), delivered=False, attempts=0)
    with httpx.Client(verify=tls_context(), timeout=alert.timeout_s) as client:
        for attempt in range(alert.retries + 1):
            if attempt:
                sleep(alert.backoff_s * 2 ** (attempt - 1))
            outcome.attempts += 1
            try:
                response = client.post(url, json=payload)
            except httpx.HTTPError as exc:
                outcome.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if 200 <= response.status_code < 300:
                outcome.delivered, outcome.error = True, None
                return outcome
            outcome.error = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                return outcome  # the receiver refuses it: sending again will not help
    return outcome


def conclude(
    report: NightlyReport,
    plan: NightlyPlan,
    alert: AlertConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> NightlyReport:
    """After the caller has set `report.exit_status`: send the alert when due, then write
    the final report (with the alert's outcome). An alert that is not delivered is in the
    report; it changes nothing else."""
    report.finished_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if alert_due(report, alert) and alert.webhook is not None:
        payload = redact(summary(report), plan.secrets)
        sent = post_webhook(alert.webhook, payload, alert, sleep)
        sent.error = redact(sent.error, plan.secrets)
        report.alerts.append(sent)
    save_report(report, plan.secrets)
    return report
