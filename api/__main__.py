"""`python -m api COMMAND`: migrate, maintenance (or maintain), serve, settings. Every
command and option is documented in docs/api.md (a test checks it)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from api.config import SETTINGS, ConfigError, cast_bool, load_settings
from api.db import Database, DatabaseUnavailable, SchemaError
from api.maintenance import maintain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api", description="SoraStats accounts API")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser(
        "maintenance",
        aliases=["maintain"],
        help="apply the retention table once: delete expired sessions, links and other "
        "data, print the counts (alias: maintain; schedule it: docs/deploy.md)",
    )
    commands.add_parser("settings", help="list the settings (environment variables)")
    serve = commands.add_parser(
        "serve", help="serve the API (and optionally the site) with uvicorn"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--site",
        type=Path,
        default=None,
        help="also serve this built static site folder at / (dev server)",
    )
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    return parser


def _dev(env: Mapping[str, str]) -> bool:
    try:
        return cast_bool(env.get("DEV_MODE", "0"))
    except ValueError:
        return False


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "settings":
        for s in SETTINGS:
            default = "(none)" if s.default is None else repr(s.default)
            print(f"{s.name:28} default {default}\n    {s.help}")
        return 0
    if args.command == "serve" and "BASE_URL" not in os.environ and _dev(os.environ):
        # Dev mode on another port: mailed links and the Origin check follow it.
        os.environ["BASE_URL"] = f"http://{args.host}:{args.port}"
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: setting {exc}", file=sys.stderr)
        return 2
    db = Database(settings.DATABASE_URL)
    try:
        if args.command == "migrate":
            applied = db.migrate(log=print)
            print(f"schema at version {db.current_version()} ({len(applied)} applied)")
            return 0
        if args.command in ("maintenance", "maintain"):
            db.check_schema()
            result = maintain(db)
            for kind, count in result.removed.items():
                print(f"{count:8} {kind}")
            wal = "; SQLite log folded into the database" if result.wal_checkpointed else ""
            print(f"removed {result.total} rows{wal}")
            return 0
        if not settings.DEV_MODE:
            db.check_schema()
    except (SchemaError, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    from api.serve import serve

    return serve(settings, args.host, args.port, args.site, args.workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
