"""`build.py stats`: row counts per table and the last runs."""

from __future__ import annotations

from typing import Any

import duckdb

RECENT_RUNS = 5
_RUN_FIELDS = (
    "id",
    "command",
    "status",
    "started_at",
    "ended_at",
    "pages",
    "items",
    "new_posts",
    "updated_posts",
    "snapshots",
    "removed_posts",
    "quarantined",
    "message",
)


def collect(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    tables = [
        str(row[0])
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    counts: dict[str, int] = {}
    for table in tables:
        row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        counts[table] = int(row[0]) if row else 0
    runs = [
        dict(zip(_RUN_FIELDS, row, strict=True))
        for row in con.execute(
            f"SELECT {', '.join(_RUN_FIELDS)} FROM runs ORDER BY id DESC LIMIT {RECENT_RUNS}"
        ).fetchall()
    ]
    for run in runs:
        for key in ("started_at", "ended_at"):
            if run[key] is not None:
                run[key] = run[key].isoformat(sep=" ", timespec="seconds")
    return {"tables": counts, "runs": runs}


def render(report: dict[str, Any]) -> str:
    lines = ["table                       rows"]
    for table, count in report["tables"].items():
        lines.append(f"{table:20} {count:>11,}")
    lines.append("")
    lines.append("last runs")
    for run in report["runs"]:
        lines.append(
            f"#{run['id']:<4} {run['command']:7} {run['status']:11} {run['started_at']}  "
            f"{run['items']:,} items, {run['new_posts']:,} new, {run['updated_posts']:,} "
            f"updated, {run['snapshots']:,} snapshots, {run['quarantined']:,} quarantined"
            + (f"  ({run['message']})" if run["message"] else "")
        )
    if not report["runs"]:
        lines.append("(none)")
    return "\n".join(lines)
