#!/usr/bin/env python3
"""Benchmark of the accounts API against bare Starlette: starts `python -m api serve
--workers 2` (SQLite, or PostgreSQL with `--postgres URL`; production argon2id and PBKDF2
costs), signs up one account through the API, and beside it a bare Starlette app under the
same uvicorn settings (`api.serve.uvicorn_options`) whose one endpoint answers a JSON body
of the same size as the account's `GET /api/me`. Then it drives both from another process
on 127.0.0.1 with keep-alive connections, alternating them round by round (ABBA), and
prints requests/s, p50/p99 latency and the servers' CPU time per request, each round's
ratio and the medians. `--login` adds `POST /api/auth/login` (argon2id: deliberately slow).

    .venv/bin/python -m bench.api --duration 5 --rounds 4 --connections 32
    .venv/bin/python -m bench.api --postgres "$(.ci/start-postgres)"

Bounded: loopback only, fixed time. Its temporary folder (the dev-mode secret key, the
SQLite database, the outbox) and a PostgreSQL schema are removed at the end, on an error,
on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Keys, Outbox

ROOT = Path(__file__).resolve().parents[1]
TMP_PREFIX = "sorastats-bench-api-"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the bare Starlette floor (its own server process) -----------------------------------


def bare_factory() -> Starlette:
    """One GET endpoint that encodes, per request, a JSON object of BENCH_BODY_BYTES bytes."""
    size = int(os.environ["BENCH_BODY_BYTES"])
    payload = {"padding": ""}
    payload["padding"] = "x" * max(0, size - len(JSONResponse(payload).body))

    async def bare(request: Request) -> Response:
        return JSONResponse(dict(payload))

    return Starlette(routes=[Route("/api/me", bare, methods=["GET"])])


def serve_bare(port: int, workers: int) -> None:
    import uvicorn

    from api.serve import uvicorn_options

    uvicorn.run(
        "bench.api:bare_factory",
        factory=True,
        host="127.0.0.1",
        port=port,
        **uvicorn_options(workers),
    )


# --- the driver (runs in its own process) ------------------------------------------------


async def _worker(
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    expect: int,
    latencies: list[float],
    errors: list[int],
) -> None:
    """Send `requests` in turn (from `offset`) on one keep-alive connection until
    `deadline`, timing each answer and noting any status other than `expect`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            match = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            latencies.append(time.perf_counter() - start)
            if status != expect:
                errors.append(status)
    finally:
        writer.close()


async def drive(
    port: int, requests: list[bytes], seconds: float, connections: int, expect: int
) -> dict[str, float]:
    """Requests per second, p50, p99 and errors of `connections` connections sending
    `requests` for `seconds` (each connection starts at another point of the list)."""
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(
            _worker(port, requests, n * 997, deadline, expect, latencies, errors)
            for n in range(connections)
        )
    )
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "errors": len(errors),
    }


def drive_main(spec: str) -> None:
    args = json.loads(spec)
    result = asyncio.run(
        drive(
            args["port"],
            [args["request"].encode("latin-1")],
            args["seconds"],
            args["connections"],
            args["expect"],
        )
    )
    print(json.dumps(result))


def run_driver(
    port: int, request: bytes, seconds: float, connections: int, expect: int
) -> dict[str, float]:
    spec = json.dumps(
        {
            "port": port,
            "request": request.decode("latin-1"),
            "seconds": seconds,
            "connections": connections,
            "expect": expect,
        }
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-m", "bench.api", "--drive", spec],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the driver failed:\n{out.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = dict(json.loads(out.stdout))
    result["driver_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


# --- servers and the temporary folder ----------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (uvicorn's workers), from /proc."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (Linux /proc): per-request cost holds
    still on a shared machine whose wall-clock figures drift with the load."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(
    command: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own session (a terminal's Ctrl-C reaches only the bench, which
    stops it in order), stopped with SIGTERM, then SIGKILL for the whole group. Its
    output goes to `log` (a pipe nobody reads would stop it once full); on an error the
    end of the log is printed."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield proc
    except Exception:
        tail = log.read_bytes()[-3000:].decode(errors="replace")
        print(f"--- the end of {' '.join(command[1:4])}'s output:\n{tail}", file=sys.stderr)
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a worker uvicorn left behind
        proc.wait(timeout=30)


def wait_up(port: int, proc: subprocess.Popen[bytes], path: str) -> None:
    import httpx

    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("the server stopped at start")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not come up in 60 s")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A fresh schema in the database at `base`, dropped afterwards."""
    import psycopg

    schema = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        joiner = "&" if "?" in base else "?"
        yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# --- setup -------------------------------------------------------------------------------


def http_request(
    method: str, path: str, body: dict[str, object] | None = None, cookie: str = ""
) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if cookie:
        lines.append(f"Cookie: sid={cookie}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def sign_up(base: str, outbox: Path, iterations: int) -> tuple[str, dict[str, object], int]:
    """Registers, verifies and signs in one account: its session cookie, the login body
    and the size of its `GET /api/me` answer."""
    import httpx

    with httpx.Client(base_url=base, timeout=60) as http:
        print(f"deriving keys (PBKDF2, {iterations:,} iterations) ...", flush=True)
        account = Account("bench@example.com", "bench password")
        account.keys = Keys.new(account.password, iterations)
        account.recovery = Keys.new(account.recovery_code, iterations)
        registered = http.post("/api/auth/register", json=account.register_body())
        assert registered.status_code == 202, registered.text
        _, token = Outbox(outbox).last_link(account.email)
        assert http.post("/api/auth/verify", json={"token": token}).status_code == 200
        login_body: dict[str, object] = {
            "email": account.email,
            "auth_key": vc.b64url(account.keys.auth_key),
        }
        signed_in = http.post("/api/auth/login", json=login_body)
        assert signed_in.status_code == 200, signed_in.text
        cookie = signed_in.cookies["sid"]
        me = http.get("/api/me", cookies={"sid": cookie})
        assert me.status_code == 200, me.text
        return cookie, login_body, len(me.content)


def line(name: str, r: dict[str, float], cpu: float) -> str:
    per_request = 1e3 * cpu / max(1.0, r["requests"])
    driver = 1e3 * r["driver_cpu"] / max(1.0, r["requests"])
    return (
        f"{name:22} {r['rps']:9.1f} req/s   p50 {r['p50_ms']:6.2f} ms   "
        f"p99 {r['p99_ms']:6.2f} ms   CPU ms/request: server {per_request:.3f}, "
        f"driver {driver:.3f}   ({int(r['requests'])} requests, "
        f"{int(r['errors'])} unexpected statuses)"
    )


def bench(args: argparse.Namespace, tmp: Path, database_url: str | None) -> None:
    api_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "DEV_MODE": "1",
        "DATA_DIR": str(tmp),
        "BASE_URL": f"http://127.0.0.1:{api_port}",
        "PYTHONPATH": str(ROOT),
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    iterations = 600_000
    if args.cheap_hashing:
        iterations = 1000
        env.update(KDF_ITERATIONS=str(iterations), ARGON2_TIME_COST="1", ARGON2_MEMORY_KIB="1024")
    # Migrated before the workers start: each dev-mode worker would migrate a fresh
    # database at once, and on PostgreSQL two racing CREATE TABLEs stop one of them.
    migrated = subprocess.run(
        [sys.executable, "-m", "api", "migrate"], env=env, cwd=tmp, capture_output=True, text=True
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"python -m api migrate failed:\n{migrated.stderr[-3000:]}")
    api_command = [sys.executable, "-m", "api", "serve", "--port", str(api_port)]
    logs = tmp / "logs"
    logs.mkdir()
    api_log, bare_log = logs / "api.log", logs / "bare.log"
    with server([*api_command, "--workers", str(args.workers)], env, tmp, api_log) as api:
        wait_up(api_port, api, "/api/openapi.json")
        cookie, login_body, size = sign_up(
            f"http://127.0.0.1:{api_port}", tmp / "outbox", iterations
        )
        bare_env = {**os.environ, "BENCH_BODY_BYTES": str(size), "PYTHONPATH": str(ROOT)}
        bare_command = [sys.executable, "-m", "bench.api", "--serve-bare", str(bare_port)]
        with server([*bare_command, str(args.workers)], bare_env, ROOT, bare_log) as bare:
            wait_up(bare_port, bare, "/api/me")
            where = "PostgreSQL" if database_url else "SQLite"
            print(
                f"servers: {args.workers} uvicorn workers each; the API on {where}; "
                f"bodies of {size} bytes; driver: {args.connections} connections, "
                f"{args.duration:g} s per run, {args.rounds} rounds (ABBA); "
                f"load average at start {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            request = http_request("GET", "/api/me", cookie=cookie)
            targets = {"bare Starlette": bare, "GET /api/me": api}
            ports = {"bare Starlette": bare_port, "GET /api/me": api_port}
            results: dict[str, list[tuple[dict[str, float], float]]] = {k: [] for k in targets}
            for n in range(args.rounds):
                order = list(targets) if n % 2 == 0 else list(reversed(targets))
                for name in order:
                    pids = process_tree(targets[name].pid)
                    cpu = cpu_seconds(pids)
                    r = run_driver(ports[name], request, args.duration, args.connections, 200)
                    cpu = cpu_seconds(pids) - cpu
                    results[name].append((r, cpu))
                    print(f"round {n + 1}  " + line(name, r, cpu), flush=True)
                me, floor = results["GET /api/me"][-1][0], results["bare Starlette"][-1][0]
                print(
                    f"round {n + 1}  ratio {me['rps'] / floor['rps']:.2f}   "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            summary(results)
        if args.login:
            login = http_request("POST", "/api/auth/login", login_body)
            pids = process_tree(api.pid)
            cpu = cpu_seconds(pids)
            r = run_driver(api_port, login, args.duration, args.connections, 200)
            print(line("POST /api/auth/login", r, cpu_seconds(pids) - cpu), flush=True)


def summary(results: dict[str, list[tuple[dict[str, float], float]]]) -> None:
    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r, _ in results[name])

    def cpu_ms(name: str) -> float:
        return statistics.median(1e3 * c / max(1.0, r["requests"]) for r, c in results[name])

    def driver_ms(name: str) -> float:
        return statistics.median(
            1e3 * r["driver_cpu"] / max(1.0, r["requests"]) for r, _ in results[name]
        )

    ratios = [
        me["rps"] / floor["rps"]
        for (me, _), (floor, _) in zip(
            results["GET /api/me"], results["bare Starlette"], strict=True
        )
    ]
    for name in results:
        print(
            f"median {name:15} {med(name, 'rps'):9.1f} req/s   p99 {med(name, 'p99_ms'):6.2f} ms"
            f"   CPU ms/request: server {cpu_ms(name):.3f}, driver {driver_ms(name):.3f}",
            flush=True,
        )
    bare, me = "bare Starlette", "GET /api/me"
    # With the cores saturated, requests/s go as 1 / (server + driver CPU a request): the
    # ratio an idle machine would show, which the load of other jobs does not move.
    whole = (cpu_ms(bare) + driver_ms(bare)) / max(cpu_ms(me) + driver_ms(me), 1e-9)
    print(
        f"ratio GET /api/me / bare Starlette: median {statistics.median(ratios):.2f} "
        f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}); by CPU a request: server "
        f"{cpu_ms(bare) / max(cpu_ms(me), 1e-9):.2f}, server + driver {whole:.2f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each server")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL database (a schema is made)")
    parser.add_argument("--login", action="store_true", help="also POST /api/auth/login")
    parser.add_argument(
        "--cheap-hashing",
        action="store_true",
        help="the tests' argon2id and PBKDF2 costs (quicker sign-up; GET /api/me does no "
        "hashing, so its figures hold; --login's do not)",
    )
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # The folder holds the dev-mode secret key: removed however the bench ends.
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as name:
        if args.postgres:
            with postgres_schema(args.postgres) as url:
                bench(args, Path(name), url)
        else:
            bench(args, Path(name), None)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--drive":
        drive_main(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
