"""Argument parsing for `build.py`: each subcommand parses its options and calls one typed
function of the package. Every command and option is documented in docs/ingest.md and
docs/site.md (a test checks it).

The package's functions return results and never print; this module alone writes to
stdout and stderr and maps results and errors to exit statuses."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb

from sorastats import db, stats, synth
from sorastats.archive import ArchiveError
from sorastats.config import FETCH_SETTINGS, ConfigError
from sorastats.contributions import ContributionsError
from sorastats.ingest import Counts
from sorastats.progress import Progress, summary
from sorastats.run import Message, OnProgress, RunResult
from sorastats.runlock import RunLock, RunLockedError

if TYPE_CHECKING:
    from sorastats.deploy.deploy import DeployOptions
    from sorastats.fetch import FetchOptions
    from sorastats.nightly import Deploy, NightlyReport
    from sorastats.site.config import RenderConfig

SITE_COMMANDS = ("render", "nightly", "check", "rollback")

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # a run ended `failed` (its committed work stays)
EXIT_USAGE = 2  # bad options or settings; a render or publish error
EXIT_LOCKED = 3  # another run holds the database or site folder
EXIT_INTERRUPTED = 130


def run_exit_code(result: RunResult) -> int:
    """An import's or fetch's exit status: 1 if it ended with errors, else 0 (notes,
    such as a spent request budget, do not fail it)."""
    return EXIT_OK if result.ok else EXIT_RUN_FAILED


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _print_message(message: Message) -> None:
    _stderr(message.line())


class _StderrHandler(logging.Handler):
    """The package's log records (e.g. a database upgrade seen by `render`), as bare
    lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        _stderr(record.getMessage())


@contextlib.contextmanager
def _package_log_on_stderr() -> Iterator[None]:
    """Show the package's log on stderr while a command runs (and only then: a program
    that calls `main` keeps its own logging as it was)."""
    logger = logging.getLogger("sorastats")
    handler, level = _StderrHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=db.DEFAULT_DB_PATH,
        help=f"DuckDB database file (default: {db.DEFAULT_DB_PATH})",
    )


def _add_captures_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--captures",
        type=Path,
        default=None,
        metavar="DIR",
        help="the capture archive, where every input file and fetched page is kept "
        "(default: captures/<database name>/ beside the database; never published)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text


def _s3_url(text: str) -> str:
    from sorastats.deploy.bucket import Target

    try:
        Target.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="build.py", description="SoraStats nightly build.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser(
        "fetch",
        help="pull the public feed over HTTP into the database",
        epilog="environment: "
        + "; ".join(f"{s.env} ({s.help}, default {s.default or 'unset'})" for s in FETCH_SETTINGS),
    )
    fetch.add_argument(
        "--url", required=True, type=_http_url, help="API base URL, e.g. .../backend/project_y"
    )
    fetch.add_argument(
        "--cut",
        choices=("nf2_latest", "nf2_top"),
        default="nf2_latest",
        help="which feed to page through (default: nf2_latest)",
    )
    fetch.add_argument(
        "--refresh-creators",
        action="store_true",
        help="also walk profile_feed/{user_id} of every known creator",
    )
    fetch.add_argument(
        "--max-requests",
        type=_positive,
        default=None,
        help="stop after this many HTTP requests (retries included)",
    )
    fetch.add_argument(
        "--media",
        action="store_true",
        help="also download thumbnails and profile pictures while their signed URLs are "
        "valid, into the capture archive (bounded: docs/media.md)",
    )
    _add_db_option(fetch)
    _add_captures_option(fetch)

    imp = commands.add_parser("import", help="import Sora-format JSON files or folders")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    _add_db_option(imp)
    _add_captures_option(imp)

    syn = commands.add_parser("synth", help="write deterministic synthetic feed pages")
    syn.add_argument("--posts", type=_positive, required=True, help="number of posts")
    syn.add_argument("--creators", type=_positive, required=True, help="number of creators")
    syn.add_argument("--days", type=_positive, default=10, help="capture days (default: 10)")
    syn.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    syn.add_argument("--out", type=Path, required=True, help="output folder")
    syn.add_argument(
        "--no-profile-feeds",
        dest="profile_feeds",
        action="store_false",
        help="skip the daily profile_feed pages of every creator (on by default)",
    )

    st = commands.add_parser("stats", help="row counts per table and the last runs")
    _add_db_option(st)
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")

    _add_site_commands(commands)
    return parser


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    _add_db_option(parser)
    parser.add_argument("--out", type=Path, default=Path("site"), help=_site_help("--out"))
    parser.add_argument(
        "--base-url", default="http://127.0.0.1:8000", help=_site_help("--base-url")
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help=_site_help("--jobs"))
    parser.add_argument("--full", action="store_true", help=_site_help("--full"))
    parser.add_argument(
        "--no-search", dest="search", action="store_false", help=_site_help("--no-search")
    )
    parser.add_argument("--contact", default="", help=_site_help("--contact"))
    parser.add_argument(
        "--contributions",
        default="none",
        metavar="URL|PATH|none",
        help=_site_help("--contributions"),
    )


def _site_help(option: str) -> str:
    from sorastats.site.config import SETTINGS

    return next(s.help for s in SETTINGS if s.option == option)


def _add_site_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = commands.add_parser("render", help="render the static site and publish it atomically")
    _add_render_options(render)
    _add_captures_option(render)  # where the media the site's images are made from are
    nightly = commands.add_parser(
        "nightly",
        help="import or fetch the sources, then render and publish",
        epilog="SOURCE: a file or folder to import, or an http(s) API base URL to fetch "
        "(the latest feed, then every known creator's profile feed). Without SOURCE "
        "arguments, the space-separated SORASTATS_SOURCES environment variable is used.",
    )
    _add_render_options(nightly)
    nightly.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="files or folders to import, or API base URLs to fetch (default: $SORASTATS_SOURCES)",
    )
    nightly.add_argument(
        "--deploy",
        type=_s3_url,
        default=None,
        metavar="s3://BUCKET[/PREFIX]",
        help="after the check passed, deploy the live site there (as `deploy --to`); "
        "a failed deploy exits 1 and the bucket keeps serving a consistent site",
    )
    _add_bucket_options(nightly)
    _add_captures_option(nightly)
    check = commands.add_parser("check", help="check a built site: links, titles, canonicals")
    check.add_argument("site", nargs="?", type=Path, default=Path("site"), help="site folder")
    check.add_argument("--base-url", default=None, help="expected canonical URL prefix")
    rollback = commands.add_parser("rollback", help="put the previous site back live")
    rollback.add_argument("--out", type=Path, default=Path("site"), help=_site_help("--out"))
    _add_deploy_command(commands)


def _add_deploy_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="upload the live site to an S3-compatible bucket (only what changed)",
        epilog="credentials: the standard AWS variables (AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or AWS_PROFILE; never printed. "
        "See docs/deploy.md.",
    )
    deploy.add_argument(
        "--out", type=Path, default=Path("site"), help="site folder (default: site)"
    )
    deploy.add_argument(
        "--to",
        required=True,
        type=_s3_url,
        metavar="s3://BUCKET[/PREFIX]",
        help="where the site goes",
    )
    _add_bucket_options(deploy)
    deploy.add_argument(
        "--dry-run", action="store_true", help="print what would be uploaded and deleted"
    )
    deploy.add_argument(
        "--rollback", action="store_true", help="put the previous deploy back (again to undo)"
    )
    deploy.add_argument(
        "-v", "--verbose", action="store_true", help="list the paths uploaded and deleted"
    )


def _add_bucket_options(parser: argparse.ArgumentParser) -> None:
    """How to talk to the bucket: shared by `deploy` and `nightly --deploy`."""
    parser.add_argument(
        "--endpoint-url",
        type=_http_url,
        default=None,
        help="the S3 API of another store (R2, MinIO, B2); default: AWS S3",
    )
    parser.add_argument(
        "--content-encoding",
        choices=("identity", "gzip"),
        default="identity",
        help="store text gzip-compressed, only for a target that serves it right "
        "(docs/deploy.md; default: identity)",
    )
    parser.add_argument(
        "--website-redirects",
        choices=("auto", "on", "off"),
        default="auto",
        help="set x-amz-website-redirect-location on renamed creators' pages "
        "(auto: only on AWS S3)",
    )


def _deploy_options(args: argparse.Namespace, out: Path, to: str) -> DeployOptions:
    from sorastats.deploy.bucket import Target
    from sorastats.deploy.deploy import DeployOptions

    return DeployOptions(
        out=out,
        target=Target.parse(to),
        endpoint_url=args.endpoint_url,
        dry_run=getattr(args, "dry_run", False),
        encoding=args.content_encoding,
        website_redirects={"auto": None, "on": True, "off": False}[args.website_redirects],
    )


def _render_config(args: argparse.Namespace) -> RenderConfig:
    from sorastats.site.config import RenderConfig

    return RenderConfig(
        db=args.db,
        out=args.out,
        base_url=args.base_url,
        jobs=args.jobs,
        full=args.full,
        search=args.search,
        contact=args.contact,
        captures=getattr(args, "captures", None),
    )


def cmd_render(args: argparse.Namespace) -> int:
    from sorastats.contributions import prepare_render

    cfg = prepare_render(_render_config(args), args.contributions, os.environ, _stderr)
    return render(cfg)


def render(cfg: RenderConfig) -> int:
    from sorastats.site.builder import render_site

    report = render_site(cfg, log=_stderr)
    print(
        f"render: {report.written:,} written, {report.unchanged:,} unchanged, "
        f"{report.deleted:,} deleted of {report.pages:,} outputs; "
        f"{'published' if report.published else 'nothing changed, live site kept'} "
        f"in {report.total_seconds:.1f} s "
        f"(render {report.pages_per_second:,.0f} pages/s, "
        f"search {'off' if report.search_skipped else f'{report.search_seconds:.1f} s'}, "
        f"peak RSS {report.peak_rss_mib:.0f} MiB)"
    )
    return 0


def nightly_sources(given: list[str], env: Mapping[str, str] | None = None) -> list[str | Path]:
    """The nightly's sources in order: URLs (fetched) and paths (imported). Arguments win;
    else `SORASTATS_SOURCES` (space-separated). A URL that is not http(s) is an error."""
    env = os.environ if env is None else env
    raw = given or (env.get("SORASTATS_SOURCES") or "").split()
    out: list[str | Path] = []
    for item in raw:
        if "://" in item:
            try:
                out.append(_http_url(item))
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"source {item!r}: {exc}") from None
        else:
            out.append(Path(item))
    return out


# The nightly's exit status for each failure kind of its report (sorastats/nightly.py).
NIGHTLY_EXITS = {
    "source": EXIT_RUN_FAILED,
    "check": EXIT_RUN_FAILED,
    "deploy": EXIT_RUN_FAILED,
    "error": EXIT_RUN_FAILED,
    "config": EXIT_USAGE,
    "contributions": EXIT_RUN_FAILED,
    "render": EXIT_USAGE,
    "locked": EXIT_LOCKED,
    "interrupted": EXIT_INTERRUPTED,
}


def nightly_exit_code(report: NightlyReport) -> int:
    if report.ok:
        return EXIT_OK
    return NIGHTLY_EXITS.get(report.failure or "error", EXIT_RUN_FAILED)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a scheduler's timeout, a shutdown) ends the nightly as Ctrl-C does: the
    step stops, the report says `interrupted` and the alert goes out."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_nightly(args: argparse.Namespace, deploy: Deploy | None = None) -> int:
    from sorastats import nightly
    from sorastats.config import load_alert

    alert = load_alert()  # a bad setting stops here, before any work (exit 2)
    if deploy is None and args.deploy:
        deploy = nightly.bucket_deploy(_deploy_options(args, args.out, args.deploy))
    sources = nightly_sources(args.sources)
    if not sources:
        print("nightly: no sources given or configured; rendering the database as it is")
    cfg = _render_config(args)
    plan = nightly.NightlyPlan(
        sources=sources,
        render=cfg,
        reports=nightly.reports_dir(cfg.out),
        secrets=nightly.secret_values(os.environ),
        captures=args.captures,
        contributions=args.contributions,
    )
    with _sigterm_interrupts():
        report = nightly.run_nightly(plan, deploy=deploy, log=_stderr, on_message=_print_message)
        report.exit_status = nightly_exit_code(report)
        nightly.conclude(report, plan, alert)
    for source in report.sources:
        print(summary(source.action, Counts(**source.counts), source.seconds))
    if report.pages:
        pages = report.pages
        print(
            f"render: {pages['written']:,} written, {pages['unchanged']:,} unchanged, "
            f"{pages['deleted']:,} deleted of {pages['total']:,} outputs; "
            + ("published" if pages["published"] else "not published, live site kept")
        )
    for sent in report.alerts:
        if sent.delivered:
            _stderr(f"nightly: alert sent to {sent.target} ({sent.channel})")
        else:
            _stderr(
                f"nightly: warning: alert to {sent.target} ({sent.channel}) not delivered "
                f"after {sent.attempts} attempt(s): {sent.error}"
            )
    for error in report.errors:
        _stderr(f"nightly: error: {error}")
    steps = ", ".join(f"{s.name} {s.status} {s.seconds:.1f} s" for s in report.steps)
    print(f"nightly: {report.status} ({steps}); report {report.report_file}")
    return report.exit_status


def cmd_check(args: argparse.Namespace) -> int:
    from sorastats.site.check import check_site

    checked, problems = check_site(args.site, args.base_url)
    for problem in problems:
        print(problem)
    print(f"check: {checked:,} files, {len(problems):,} problems", file=sys.stderr)
    return 1 if problems or checked == 0 else 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from sorastats.site.publish import SiteDirs, rollback

    with RunLock(args.out, f"the site {args.out}"):
        rollback(SiteDirs(args.out))
    print(f"rollback: {args.out} is the previous site again (run it again to undo)")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from sorastats.deploy.deploy import deploy, rollback

    options = _deploy_options(args, args.out, args.to)
    progress = Progress("deploy")
    try:
        if args.rollback:
            result = rollback(options, on_progress=progress.count)
        else:
            with RunLock(args.out, f"the site {args.out}"):
                result = deploy(options, on_progress=progress.count)
    finally:
        progress.done()
    if args.verbose:
        for rel in result.uploaded_paths:
            print(f"{'restore' if args.rollback else 'upload'} {rel}")
        for rel in result.deleted_paths:
            print(f"delete {rel}")
    would = "would " if result.dry_run else ""
    if args.rollback:
        print(
            f"deploy --rollback: {would}restore {len(result.uploaded_paths):,} objects of "
            f"{result.deploy_id} in {options.target} ({result.seconds:.1f} s)"
            + ("" if result.dry_run else "; run it again to undo")
        )
        return EXIT_OK
    print(
        f"deploy: {would}upload {len(result.uploaded_paths):,} objects"
        + ("" if result.dry_run else f" ({result.uploaded_bytes / 2**20:,.1f} MiB)")
        + f", {would}delete {len(result.deleted_paths):,}, {result.skipped:,} unchanged; "
        f"{options.target} in {result.seconds:.1f} s"
        + (" (dry run: nothing changed)" if result.dry_run else "")
    )
    return EXIT_OK


def _with_progress(command: str, run: Callable[[OnProgress], RunResult]) -> int:
    """Run an import or fetch with a progress line on a terminal; print its summary."""
    progress = Progress(command)
    try:
        result = run(progress.update)
    finally:
        progress.done()
    print(summary(command, result.counts, result.seconds))
    skipped = getattr(result, "skipped", 0)
    if skipped:
        print(f"{command}: {skipped:,} file(s) skipped: their bytes were ingested before")
    return run_exit_code(result)


def import_and_report(db_path: Path, paths: list[Path], captures: Path | None = None) -> int:
    from sorastats.importer import import_paths

    return _with_progress(
        "import",
        lambda on_progress: import_paths(
            db_path,
            paths,
            on_message=_print_message,
            on_progress=on_progress,
            log=_stderr,
            captures=captures,
        ),
    )


def fetch_and_report(db_path: Path, options: FetchOptions, captures: Path | None = None) -> int:
    from sorastats.fetch import fetch

    try:
        return _with_progress(
            "fetch",
            lambda on_progress: fetch(
                db_path,
                options,
                on_message=_print_message,
                on_progress=on_progress,
                log=_stderr,
                captures=captures,
            ),
        )
    except ConfigError as exc:
        _stderr(f"error: {exc}")
        return EXIT_USAGE


def cmd_import(args: argparse.Namespace) -> int:
    return import_and_report(args.db, args.paths, args.captures)


def cmd_fetch(args: argparse.Namespace) -> int:
    from sorastats.fetch import FetchOptions

    options = FetchOptions(
        base_url=args.url,
        cut=args.cut,
        refresh_creators=args.refresh_creators,
        max_requests=args.max_requests,
        media=args.media,
    )
    return fetch_and_report(args.db, options, args.captures)


def cmd_synth(args: argparse.Namespace) -> int:
    try:
        spec = synth.SynthSpec(args.posts, args.creators, args.days, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    totals = synth.write(spec, args.out, profile_feeds=args.profile_feeds)
    print(
        f"synth: {args.posts:,} posts by {args.creators:,} creators over {args.days} days: "
        f"{totals['pages']:,} pages, {totals['items']:,} items, {totals['trees']:,} post "
        f"trees, {totals['profile_pages']:,} profile feed pages "
        f"({totals['profile_items']:,} items) in {args.out}"
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    try:
        con = db.connect(args.db, read_only=True)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except duckdb.IOException as exc:
        print(f"error: cannot open {args.db} (is a run using it?): {exc}", file=sys.stderr)
        return 1
    report = stats.collect(con)
    con.close()
    print(json.dumps(report, indent=2, default=str) if args.json else stats.render(report))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "fetch": cmd_fetch,
    "import": cmd_import,
    "synth": cmd_synth,
    "stats": cmd_stats,
    "render": cmd_render,
    "nightly": cmd_nightly,
    "check": cmd_check,
    "rollback": cmd_rollback,
    "deploy": cmd_deploy,
}


def error_exit(command: str, exc: BaseException) -> tuple[int, str] | None:
    """The exit status and stderr line of a command that ended with `exc`, or None for
    an error that is a bug (its traceback is shown)."""
    from sorastats.deploy.bucket import BucketError
    from sorastats.deploy.deploy import DeployError
    from sorastats.site.builder import RenderError
    from sorastats.site.publish import PublishError

    if isinstance(exc, BucketError | DeployError) or (
        isinstance(exc, ValueError) and command == "deploy"
    ):
        return EXIT_RUN_FAILED, f"{command}: error: {exc}"
    if isinstance(exc, RenderError | PublishError) or (
        isinstance(exc, ValueError) and command in SITE_COMMANDS
    ):
        return EXIT_USAGE, f"{command}: error: {exc}"
    if isinstance(exc, RunLockedError):
        return EXIT_LOCKED, f"error: {exc}"
    if isinstance(exc, ContributionsError):
        return EXIT_RUN_FAILED, f"{command}: error: contributions: {exc}; nothing published"
    if isinstance(exc, ArchiveError):
        return EXIT_USAGE, f"{command}: error: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    return None


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _package_log_on_stderr():
            return HANDLERS[args.command](args)
    except (Exception, KeyboardInterrupt) as exc:
        mapped = error_exit(args.command, exc)
        if mapped is None:
            raise
        code, line = mapped
        print(line, file=sys.stderr)
        return code
