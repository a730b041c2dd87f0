"""`python -m api COMMAND`: migrate, maintenance (or maintain), metrics, claims, removals,
serve, settings. Every
command and option is documented in docs/api.md (a test checks it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from api.config import SETTINGS, ConfigError, Settings, cast_bool, load_settings
from api.creators import service as creators_service
from api.db import Database, DatabaseUnavailable, SchemaError
from api.errors import ApiError
from api.mail import Mailer
from api.maintenance import maintain
from api.metrics.service import MAX_REPORT_DAYS, Report, report


def print_report(result: Report) -> None:
    """The report as text: the library returns it, this prints it."""
    totals = result.totals
    print(f"usage metrics {result.first_day} to {result.last_day} (UTC)")
    print(
        f"{totals['page_views']} page views, {totals['visitor_days']} visitor-days, "
        f"{totals['events']} events"
    )
    print("\nday          page views  visitors    events")
    for d in result.days:
        live = "  (so far)" if d.live else ""
        print(f"{d.day}  {d.page_views:10}  {d.visitors:8}  {d.events:8}{live}")
    print("\npage views by path (visitor-days)")
    for p in result.pages:
        print(f"{p.views:10} ({p.visitor_days})  {p.path}")
    print("\nfeatures: uses (visitor-days)")
    for e in result.events:
        print(f"{e.events:10} ({e.visitor_days})  {e.name}: {e.meaning}")
    print("\nweb vitals, 75th percentile")
    for v in result.vitals:
        print(f"{v.day}  {v.name:4} {v.p75:10.4g} {v.unit:5}  ({v.samples} samples)")


def creators_command(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    """`claims` and `removals`: list the pending ones, or decide one."""
    now = int(time.time())
    if args.action == "list":
        if args.command == "claims":
            for row in db.call(creators_service.pending_for_review, now):
                print(f"{row['id']}  @{row['username']} ({row['creator_id']})  code {row['code']}")
                print(f"    by account {row['user_id']}; expires {_day(int(row['expires_at']))}")
                print(f"    evidence: {_plain(row['evidence']) or '(none given)'}")
        else:
            for row in db.call(creators_service.pending_requests, write=False):
                print(f"{row['id']}  {row['kind']} {_plain(row['target'])} ({row['target_id']})")
                print(f"    from {row['email']} on {_day(int(row['created_at']))}")
                print(f"    reason: {_plain(row['reason'])}")
        return 0
    if not args.id:
        print(f"error: {args.command} {args.action} needs an ID", file=sys.stderr)
        return 2
    approve = args.action == "approve"
    try:
        if args.command == "claims":
            row = db.call(creators_service.decide_claim, args.id, approve, args.reason, now)
            print(f"claim {row['id']} on @{row['username']}: {row['status']} {row['reason']}")
            return 0 if row["status"] == ("verified" if approve else "rejected") else 1
        row = db.call(creators_service.decide_request, args.id, approve, now)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    mailer = Mailer(settings)
    text = creators_service.request_decided_text(row, settings.SUPPORT_EMAIL)
    failed = mailer.send_blocking(str(row["email"]), "SoraStats: your request", text)
    if failed:
        print(
            f"request {row['id']}: {row['status']}, but the mail failed: {failed}", file=sys.stderr
        )
        return 1
    target = _plain(row["target"])
    print(f"request {row['id']} ({target}): {row['status']}; {row['email']} told by mail")
    return 0


def _plain(value: object) -> str:
    """Text someone else typed, safe for the operator's terminal: control characters
    (escape sequences, carriage returns) shown as `?`."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf") else c for c in str(value))


def _day(ts: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


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
    metrics = commands.add_parser(
        "metrics",
        help="usage metrics: `metrics report` prints page views, visitors, feature uses and "
        "web vitals of the last days (today live)",
    )
    metrics.add_argument("action", choices=["report"], help="what to do: report")
    metrics.add_argument(
        "--days",
        type=int,
        default=7,
        help=f"days to show, today included (default 7, at most {MAX_REPORT_DAYS})",
    )
    metrics.add_argument("--json", action="store_true", help="print the report as JSON")
    claims = commands.add_parser(
        "claims",
        help="creator profile claims: `claims list` shows the pending ones with their evidence; "
        "`claims approve ID` or `claims reject ID --reason TEXT` decides one (docs/creators.md)",
    )
    claims.add_argument("action", choices=["list", "approve", "reject"], help="what to do")
    claims.add_argument("id", nargs="?", default=None, help="the claim's id (approve, reject)")
    claims.add_argument("--reason", default="", help="why (kept with the claim)")
    removals = commands.add_parser(
        "removals",
        help="removal and objection requests: `removals list` shows the pending ones; "
        "`removals approve ID` hides the page at the next build, `removals reject ID`; "
        "either mails the sender",
    )
    removals.add_argument("action", choices=["list", "approve", "reject"], help="what to do")
    removals.add_argument("id", nargs="?", default=None, help="the request's id")
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
        if args.command == "metrics":
            if not 1 <= args.days <= MAX_REPORT_DAYS:
                print(f"error: --days must be between 1 and {MAX_REPORT_DAYS}", file=sys.stderr)
                return 2
            db.check_schema()
            found = db.call(report, int(time.time()), args.days, write=False)
            if args.json:
                print(json.dumps(found.as_json(), indent=2))
            else:
                print_report(found)
            return 0
        if args.command in ("claims", "removals"):
            db.check_schema()
            return creators_command(db, settings, args)
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
