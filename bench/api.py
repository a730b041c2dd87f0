#!/usr/bin/env python3
"""Benchmark of the accounts API: starts `python -m api serve --workers 2` on SQLite
(production argon2id and PBKDF2 costs), signs up one account through the API, then drives
it from another process on 127.0.0.1 with keep-alive connections:

  GET /api/me with a session cookie (the hot path: one indexed query, no argon2)
  POST /api/auth/login (argon2id per request: deliberately slow)

Prints requests/s and p50/p99 latency per scenario. Bounded: loopback only, fixed time.

    .venv/bin/python -m bench.api --duration 10 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Keys, Outbox

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    out = subprocess.run(
        [sys.executable, "-m", "bench.api", "--drive", spec],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    return dict(json.loads(out.stdout))


# --- setup -------------------------------------------------------------------------------


def http_request(
    method: str, path: str, body: dict[str, object] | None = None, cookie: str = "", csrf: str = ""
) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if cookie:
        lines.append(f"Cookie: sid={cookie}")
    if csrf:
        lines.append(f"X-CSRF-Token: {csrf}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()

    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="sorastats-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "DEV_MODE": "1",
        "DATA_DIR": str(tmp),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(300):
                try:
                    if http.get("/api/openapi.json").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            print("deriving keys (PBKDF2, 600,000 iterations) ...", flush=True)
            account = Account("bench@example.com", "bench password")
            account.keys = Keys.new(account.password, 600_000)
            account.recovery = Keys.new(account.recovery_code, 600_000)
            assert http.post("/api/auth/register", json=account.register_body()).status_code == 202
            _, token = Outbox(tmp / "outbox").last_link(account.email)
            assert http.post("/api/auth/verify", json={"token": token}).status_code == 200
            login_body: dict[str, object] = {
                "email": account.email,
                "auth_key": vc.b64url(account.keys.auth_key),
            }
            signed_in = http.post("/api/auth/login", json=login_body)
            assert signed_in.status_code == 200, signed_in.text
            cookie = signed_in.cookies["sid"]
        print(
            f"server: {args.workers} uvicorn workers, SQLite; driver: {args.connections} "
            f"connections, {args.duration:g} s per scenario",
            flush=True,
        )
        scenarios = [
            ("GET /api/me", http_request("GET", "/api/me", cookie=cookie), 200),
            ("POST /api/auth/login", http_request("POST", "/api/auth/login", login_body), 200),
        ]
        for name, request, expect in scenarios:
            r = run_driver(port, request, args.duration, args.connections, expect)
            print(
                f"{name:24} {r['rps']:9.1f} req/s   p50 {r['p50_ms']:7.1f} ms   "
                f"p99 {r['p99_ms']:7.1f} ms   ({int(r['requests'])} requests, "
                f"{int(r['errors'])} unexpected statuses)",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--drive":
        drive_main(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
