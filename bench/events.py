#!/usr/bin/env python3
"""Benchmark of the usage metrics (issue 19's targets):

1. `POST /api/events` on ONE uvicorn worker (`python -m api serve --workers 1`, SQLite,
   dev mode) driven from another process on 127.0.0.1 over keep-alive connections, each
   request one page view from one of 5,000 made-up visitors (user agents), so the burst
   buckets do not drop them; then the events stored are counted (all must be there).
   Beside it, the same load on a bare Starlette app on one uvicorn worker that reads the
   body, parses it and answers 204 (the floor of the framework).
2. The daily aggregation of a day of N raw events (default 1,000,000: 20,000 visitors,
   2,000 paths, 12 event names, a tenth of them web vitals), as `python -m api
   maintenance` runs it, on SQLite and, with `--postgres URL`, on PostgreSQL.

Prints events/s, p50/p99 latency and the aggregation's wall time. Loopback only.

    .venv/bin/python -m bench.events --duration 10 --connections 8
    .venv/bin/python -m bench.events --skip-http --postgres "$TEST_DATABASE_URL"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.api import _exit_on_sigterm, drive, free_port

ROOT = Path(__file__).resolve().parents[1]
VISITORS = 5000


# --- the bare Starlette floor ------------------------------------------------------------


async def _bare_events(request: Request) -> Response:
    json.loads(await request.body())
    return Response(status_code=204)


bare_app = Starlette(routes=[Route("/api/events", _bare_events, methods=["POST"])])


# --- the driver (its own process) --------------------------------------------------------


def event_requests(port: int, per_request: int) -> list[bytes]:
    body = json.dumps(
        {"events": [{"name": "page_view", "path": f"/p/s_{i:04d}/"} for i in range(per_request)]}
    ).encode()
    out = []
    for v in range(VISITORS):
        head = (
            f"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n"
            f"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Bench/{v}\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def run_driver(port: int, per_request: int, seconds: float, connections: int) -> dict[str, float]:
    spec = json.dumps(
        {"port": port, "per": per_request, "seconds": seconds, "connections": connections}
    )
    out = subprocess.run(
        [sys.executable, "-m", "bench.events", "--drive", spec],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    return dict(json.loads(out.stdout))


def drive_main(spec: str) -> None:
    args = json.loads(spec)
    requests = event_requests(args["port"], args["per"])
    print(
        json.dumps(
            asyncio.run(drive(args["port"], requests, args["seconds"], args["connections"], 204))
        )
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to compare per-request cost
    on a shared machine whose wall-clock figures drift with the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_up(port: int, server: subprocess.Popen[bytes]) -> None:
    import httpx

    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError("the server stopped at start")
        try:
            httpx.post(f"http://127.0.0.1:{port}/api/events", content=b"{}", timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not come up")


def bench_http(duration: float, connections: int) -> None:
    # The folder holds dev-mode secret keys and databases: removed however the run ends
    # (SIGTERM too: see `main`).
    with tempfile.TemporaryDirectory(prefix="sorastats-bench-events-") as name:
        _bench_http(Path(name), duration, connections)


def _bench_http(tmp: Path, duration: float, connections: int) -> None:
    from api.db import Database

    for label, per in (("1 event per request", 1), ("5 events per request", 5)):
        port = free_port()
        env = {**os.environ, "DEV_MODE": "1", "DATA_DIR": str(tmp / label[0]),
               "BASE_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}  # fmt: skip
        api = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--port", str(port), "--workers", "1"],
            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_up(port, api)
            cpu = cpu_seconds(api.pid)
            r = run_driver(port, per, duration, connections)
            cpu = cpu_seconds(api.pid) - cpu
        finally:
            api.terminate()
            api.wait(timeout=30)
        db = Database(f"sqlite:///{tmp / label[0] / 'accounts.sqlite3'}")
        stored = db.call(lambda c: c.one("SELECT count(*) AS n FROM metrics_events"), write=False)
        db.close()
        counted = int(stored["n"]) if stored else 0
        print(
            f"POST /api/events, {label:21} {r['rps'] * per:9.1f} events/s "
            f"({r['rps']:7.1f} req/s)  p50 {r['p50_ms']:5.1f} ms  p99 {r['p99_ms']:5.1f} ms  "
            f"{counted} events stored of {int(r['requests']) * per} sent, "
            f"{int(r['errors'])} non-204; server CPU {1e3 * cpu / max(1, r['requests']):.3f} ms "
            f"a request = {r['requests'] * per / max(cpu, 1e-9):,.0f} events per CPU-second",
            flush=True,
        )
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.events:bare_app", "--port", str(port),
         "--log-level", "info"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_up(port, bare)
        cpu = cpu_seconds(bare.pid)
        r = run_driver(port, 1, duration, connections)
        cpu = cpu_seconds(bare.pid) - cpu
    finally:
        bare.terminate()
        bare.wait(timeout=30)
    print(
        f"bare Starlette, 1 event per request   {r['rps']:9.1f} events/s "
        f"({r['rps']:7.1f} req/s)  p50 {r['p50_ms']:5.1f} ms  p99 {r['p99_ms']:5.1f} ms; "
        f"server CPU {1e3 * cpu / max(1, r['requests']):.3f} ms a request = "
        f"{r['requests'] / max(cpu, 1e-9):,.0f} events per CPU-second",
        flush=True,
    )


# --- aggregation of a day ----------------------------------------------------------------


def bench_aggregate(url: str, events: int) -> None:
    from api.db import Database, SqliteConn
    from api.maintenance import maintain
    from api.metrics.rules import EVENTS, day_start
    from api.metrics.service import aggregate_finished_days

    db = Database(url)
    db.migrate()
    day = "2030-01-01"
    at = day_start(day) + 43_200
    rng = random.Random(7)
    visitors = [secrets.token_hex(16) for _ in range(20_000)]
    names = [e.name for e in EVENTS]
    rows = []
    for _ in range(events):
        name = "page_view" if rng.random() < 0.6 else rng.choice(names)
        vital = name in ("lcp", "inp", "cls")
        rows.append((day, at, rng.choice(visitors), name, f"/p/s_{rng.randrange(2000):04d}/",
                     rng.uniform(0, 5000) if vital else None))  # fmt: skip
    start = time.perf_counter()
    with db.connection() as conn:  # bulk load outside the service: the bench's own setup
        conn.begin(True)
        columns = "metrics_events (day, at, visitor, name, path, value)"
        if isinstance(conn, SqliteConn):
            conn.raw.executemany(f"INSERT INTO {columns} VALUES (?, ?, ?, ?, ?, ?)", rows)
        else:
            with conn.raw.cursor() as cur, cur.copy(f"COPY {columns} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        conn.commit()
        if not isinstance(conn, SqliteConn):
            # Events arrive over a day, and autovacuum analyzes the table meanwhile; a bulk
            # load leaves no statistics, and the planner would guess (sorts, not hashes).
            conn.execute("ANALYZE metrics_events")
    print(f"{db.dialect}: loaded {events:,} raw events in {time.perf_counter() - start:.1f} s")
    start, cpu = time.perf_counter(), time.process_time()
    aggregated = db.call(aggregate_finished_days, at + 86_400)  # as maintenance does first
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert aggregated == [day]
    start = time.perf_counter()
    result = maintain(db, at + 86_400 + 1)  # then the raw events go, 24 hours on
    purge = time.perf_counter() - start
    totals = db.call(
        lambda c: c.one("SELECT * FROM metrics_days WHERE day = ?", (day,)), write=False
    )
    daily = db.call(lambda c: c.one("SELECT count(*) AS n FROM metrics_daily"), write=False)
    print(
        f"{db.dialect}: aggregated a day of {events:,} events in {wall:.2f} s "
        f"({cpu:.2f} s CPU in this process); {totals['visitors'] if totals else 0:,} visitors, "
        f"{daily['n'] if daily else 0:,} daily rows; then maintenance deleted "
        f"{result.removed['raw events']:,} raw events in {purge:.2f} s",
        flush=True,
    )
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per HTTP scenario")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--events", type=int, default=1_000_000, help="raw events to aggregate")
    parser.add_argument("--postgres", default="", help="also aggregate on this PostgreSQL URL")
    parser.add_argument("--skip-http", action="store_true", help="only the aggregation")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if not args.skip_http:
        bench_http(args.duration, args.connections)
    with tempfile.TemporaryDirectory(prefix="sorastats-bench-agg-") as name:
        bench_aggregate(f"sqlite:///{Path(name) / 'a.sqlite3'}", args.events)
    if args.postgres:
        from tests.support.api_server import postgres_schema

        os.environ.setdefault("TEST_DATABASE_URL", args.postgres)
        with postgres_schema() as url:
            bench_aggregate(url, args.events)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--drive":
        drive_main(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
