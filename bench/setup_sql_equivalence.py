#!/usr/bin/env python3
"""Checks that `queries.setup_sql()` builds exactly the same temporary tables as a reference
version of it (by default the one before the rewrite of its aggregates), and times both.

For each database it runs the reference statements, renames their tables to `old_*`, runs
the current statements on the same connection (opened like the renderer opens it), then
asserts for every table: equal row counts, and `old EXCEPT ALL new` and `new EXCEPT ALL old`
both empty. Tables the setup drops (big intermediates) are compared too.

    .venv/bin/python -m bench.setup_sql_equivalence /tmp/copy-of-bench.duckdb
    .venv/bin/python -m bench.setup_sql_equivalence --synth   # small edge-case databases

Never pass a database you cannot afford to lose: it is opened read-only, but copy shared
caches first anyway.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from sorastats import contributions, db
from sorastats.site import queries
from sorastats.site.builder import open_db
from tests.support import sitedata
from tests.support.ingest import count

ROOT = Path(__file__).resolve().parents[1]

# main before the aggregates were rewritten (ASOF joins over a posts x days grid).
DEFAULT_REF = "3ea54a8"
PAGE_SIZE = 24


def reference_queries(rev: str) -> types.ModuleType:
    src = subprocess.run(
        ["git", "show", f"{rev}:sorastats/site/queries.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    mod = types.ModuleType("reference_queries")
    exec(compile(src, f"{rev}:queries.py", "exec"), mod.__dict__)
    return mod


def table_name(sql: str) -> str | None:
    words = sql.split()
    return words[3] if words[:3] == ["CREATE", "TEMP", "TABLE"] else None


def all_setup(mod: Any) -> list[str]:
    """Every aggregate statement of a revision (similar prompts moved out of setup_sql)."""
    similar = getattr(mod, "similar_sql", None)
    return [*mod.setup_sql(PAGE_SIZE), *(similar() if similar else [])]


def run_setup(con: duckdb.DuckDBPyConnection, statements: list[str]) -> dict[str, float]:
    times: dict[str, float] = {}
    for sql in statements:
        name = table_name(sql)
        if name is None:
            continue  # DROPs: keep the intermediates to compare them too
        t = time.perf_counter()
        con.execute(sql)
        times[name] = time.perf_counter() - t
    return times


def reference_is_stable(
    con: duckdb.DuckDBPyConnection, ref: types.ModuleType, name: str, runs: int = 10
) -> bool:
    """Re-runs the reference statement of one table (reading the tables it depends on,
    which compared equal) and reports whether it ever disagrees with its first run."""
    (sql,) = [s for s in all_setup(ref) if table_name(s) == name]
    sql = sql.replace(f"CREATE TEMP TABLE {name} AS", f"CREATE TEMP TABLE again_{name} AS", 1)
    for _ in range(runs):
        con.execute(f"DROP TABLE IF EXISTS again_{name}")
        con.execute(sql)
        diff = count(con, f"SELECT count(*) FROM (FROM old_{name} EXCEPT ALL FROM again_{name})")
        if diff:
            return False
    return True


def compare(path: Path, ref: types.ModuleType, threads: int | None) -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as spill:
        con = open_db(path, Path(spill))
        contributions.apply_to_render(con, contributions.NONE)  # the tables vc/vp filter on
        if threads:
            con.execute(f"SET threads = {threads}")
        old_t = run_setup(con, all_setup(ref))
        for name in old_t:
            con.execute(f"ALTER TABLE {name} RENAME TO old_{name}")
        new_t = run_setup(con, all_setup(queries))
        print(f"{path}")
        print(f"  {'table':12s} {'rows':>9s} {'old s':>7s} {'new s':>7s}  result")
        for name in old_t:
            n_old = count(con, f"SELECT count(*) FROM old_{name}")
            n_new = count(con, f"SELECT count(*) FROM {name}")
            only_old = count(con, f"SELECT count(*) FROM (FROM old_{name} EXCEPT ALL FROM {name})")
            only_new = count(con, f"SELECT count(*) FROM (FROM {name} EXCEPT ALL FROM old_{name})")
            types_old, types_new = (
                con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() "
                    "WHERE database_name = 'temp' AND table_name = ? ORDER BY column_index",
                    [t],
                ).fetchall()
                for t in (f"old_{name}", name)
            )
            same_types = types_old == types_new
            same = same_types and n_old == n_new and only_old == 0 and only_new == 0
            verdict = (
                "same" if same
                else f"DIFFER ({n_new} rows, -{only_old} +{only_new}, types same: {same_types})"
            )  # fmt: skip
            if not same and not reference_is_stable(con, ref, name):
                # The reference gives different rows from run to run: comparing with it
                # proves nothing, so this is reported, not failed.
                verdict += "; the REFERENCE itself differs between runs (nondeterministic)"
            else:
                ok &= same
            print(
                f"  {name:12s} {n_old:9d} {old_t[name]:7.2f} {new_t.get(name, 0):7.2f}  {verdict}"
            )
        print(f"  {'total':12s} {'':9s} {sum(old_t.values()):7.2f} {sum(new_t.values()):7.2f}")
        con.close()
    return ok


def edge_cases(path: Path) -> Path:
    """A synthetic set with the awkward cases the aggregates must keep: posts with no
    posted_at, posts and creators with no snapshots, missing snapshot days, NULL counters,
    snapshots older than the 31-day series window, post snapshots newer than the data day,
    a post snapshotted before its posted_at day, snapshots of hidden posts."""
    sitedata.synth(path, posts=600, creators=40, days=40)
    con = db.connect(path)
    day = sitedata.DAY
    con.execute("UPDATE posts SET posted_at = NULL WHERE hash(id) % 11 = 0")
    con.execute("DELETE FROM post_snapshots WHERE post_id IN "
                "(SELECT id FROM posts WHERE hash(id) % 13 = 0)")  # fmt: skip
    con.execute("DELETE FROM creator_snapshots WHERE creator_id IN "
                "(SELECT id FROM creators WHERE hash(id) % 7 = 0)")  # fmt: skip
    for gap in (1, 5, 6, 20, 31, 35):  # whole days missing, including window edges
        d = day - timedelta(days=gap)
        con.execute("DELETE FROM post_snapshots WHERE captured_on = ?", [d])
        con.execute("DELETE FROM creator_snapshots WHERE captured_on = ?", [d])
    con.execute("DELETE FROM post_snapshots WHERE hash(post_id, captured_on) % 5 = 0")
    con.execute("DELETE FROM creator_snapshots WHERE hash(creator_id, captured_on) % 5 = 0")
    con.execute(
        "UPDATE post_snapshots SET view_count = NULL WHERE hash(post_id, captured_on) % 17 = 0"
    )
    con.execute(
        "UPDATE post_snapshots SET like_count = NULL WHERE hash(post_id, captured_on) % 19 = 0"
    )
    con.execute("UPDATE creator_snapshots SET follower_count = NULL "
                "WHERE hash(creator_id, captured_on) % 17 = 0")  # fmt: skip
    con.execute("UPDATE posts SET view_count = NULL WHERE hash(id) % 23 = 0")
    con.execute(
        "UPDATE creators SET created_at = NULL, follower_count = NULL WHERE hash(id) % 9 = 0"
    )
    # Posted after its first snapshot (captures and posted_at disagree).
    con.execute("UPDATE posts SET posted_at = posted_at + INTERVAL 3 DAY WHERE hash(id) % 29 = 0")
    # Post snapshots a day past the newest creator snapshot (the data day; no rows yet).
    con.execute(
        "INSERT INTO post_snapshots (post_id, captured_on, captured_at, view_count) "
        "SELECT id, ?, ?, view_count + 5 FROM posts WHERE hash(id) % 3 = 0",
        [day + timedelta(days=1), sitedata.NOW + timedelta(days=1)],
    )
    # A banned creator: their posts and snapshots must stay out.
    con.execute("UPDATE creators SET banned_at = ? WHERE id = 'user-000000000000000000000003'",
                [sitedata.NOW])  # fmt: skip
    con.close()
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", nargs="*", type=Path, help="databases to check (opened read-only)")
    ap.add_argument("--ref", default=DEFAULT_REF, help="git revision of the reference queries.py")
    ap.add_argument("--synth", action="store_true", help="also check small synthetic sets")
    ap.add_argument("--threads", type=int, help="SET threads (default: DuckDB's)")
    args = ap.parse_args()
    ref = reference_queries(args.ref)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        paths = list(args.db)
        if args.synth:
            paths += [
                sitedata.hand_made(Path(tmp) / "hand.duckdb"),
                sitedata.synth(Path(tmp) / "s2000.duckdb", posts=2000, creators=200, days=5),
                sitedata.synth(Path(tmp) / "s300.duckdb", posts=300, creators=30, days=31),
                edge_cases(Path(tmp) / "edge.duckdb"),
            ]
        for path in paths:
            ok &= compare(path, ref, args.threads)
    print("ALL SAME (but see any nondeterministic reference above)" if ok else "DIFFERENCES FOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
