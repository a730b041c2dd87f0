"""Argument parsing for `build.py`: each subcommand parses its options and calls one typed
function of the package. Every command and option is documented in README.md (a test
checks it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sorastats import db

if TYPE_CHECKING:
    from sorastats.site.config import RenderConfig


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=db.DEFAULT_DB_PATH,
        help=f"DuckDB database file (default: {db.DEFAULT_DB_PATH})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="build.py", description="SoraStats nightly build.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stats = commands.add_parser("stats", help="row counts per table and the last runs")
    _add_db_option(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")

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


def _site_help(option: str) -> str:
    from sorastats.site.config import SETTINGS

    return next(s.help for s in SETTINGS if s.option == option)


def _add_site_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = commands.add_parser("render", help="render the static site and publish it atomically")
    _add_render_options(render)
    nightly = commands.add_parser(
        "nightly", help="import the given sources (if any), then render and publish"
    )
    _add_render_options(nightly)
    nightly.add_argument(
        "sources", nargs="*", type=Path, help="files or folders to import before rendering"
    )
    check = commands.add_parser("check", help="check a built site: links, titles, canonicals")
    check.add_argument("site", nargs="?", type=Path, default=Path("site"), help="site folder")
    check.add_argument("--base-url", default=None, help="expected canonical URL prefix")
    rollback = commands.add_parser("rollback", help="put the previous site back live")
    rollback.add_argument("--out", type=Path, default=Path("site"), help=_site_help("--out"))


def _render_config(args: argparse.Namespace) -> RenderConfig:
    from sorastats.site.config import RenderConfig

    return RenderConfig(
        db=args.db, out=args.out, base_url=args.base_url, jobs=args.jobs, full=args.full
    )


def cmd_render(args: argparse.Namespace) -> int:
    from sorastats.site.builder import render_site

    report = render_site(_render_config(args))
    print(
        f"render: {report.written:,} written, {report.unchanged:,} unchanged, "
        f"{report.deleted:,} deleted of {report.pages:,} outputs; "
        f"{'published' if report.published else 'nothing changed, live site kept'} "
        f"in {report.total_seconds:.1f} s "
        f"(render {report.pages_per_second:,.0f} pages/s, search {report.search_seconds:.1f} s, "
        f"peak RSS {report.peak_rss_mib:.0f} MiB)"
    )
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    for source in args.sources:
        if "import" not in HANDLERS:
            print("nightly: this build has no `import` command yet", file=sys.stderr)
            return 2
        rc = HANDLERS["import"](
            build_parser().parse_args(["import", "--db", str(args.db), str(source)])
        )
        if rc != 0:
            print(
                f"nightly: import of {source} failed; the live site is unchanged", file=sys.stderr
            )
            return rc
    return cmd_render(args)


def cmd_check(args: argparse.Namespace) -> int:
    from sorastats.site.check import check_site

    checked, problems = check_site(args.site, args.base_url)
    for problem in problems:
        print(problem)
    print(f"check: {checked:,} files, {len(problems):,} problems", file=sys.stderr)
    return 1 if problems or checked == 0 else 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from sorastats.site.publish import SiteDirs, rollback

    rollback(SiteDirs(args.out))
    print(f"rollback: {args.out} is the previous site again (run it again to undo)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    con = db.connect(args.db, read_only=True)
    tables = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name"
        ).fetchall()
    ]
    counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]
    if args.json:
        print(json.dumps({"tables": counts}, indent=2))
    else:
        for table, count in counts.items():
            print(f"{table:20} {count:>12,}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "stats": cmd_stats,
    "render": cmd_render,
    "nightly": cmd_nightly,
    "check": cmd_check,
    "rollback": cmd_rollback,
}


def main(argv: list[str]) -> int:
    from sorastats.site.builder import RenderError
    from sorastats.site.publish import PublishError

    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except (RenderError, PublishError, ValueError) as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 2
