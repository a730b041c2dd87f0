"""Argument parsing for `build.py`: each subcommand parses its options and calls one typed
function of the package. Every command and option is documented in README.md (a test
checks it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sorastats import db


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

    return parser


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


HANDLERS = {"stats": cmd_stats}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return HANDLERS[args.command](args)
