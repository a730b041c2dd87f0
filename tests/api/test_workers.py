"""`python -m api serve --workers 2` on PostgreSQL: two worker processes share the state.

Proof that two processes answered, without any debug endpoint: every client connection is
kept open, and the server side of it is found in /proc (the socket inode in
/proc/net/tcp, then the worker whose file descriptors hold that inode). A session made on
a connection of one worker then works on a connection of the other; a prompt written
through one is read back and decrypted through the other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.db import Database
from bench.api import process_tree
from tests.support.api_client import Account, Client, Outbox
from tests.support.api_server import TEST_ENV, postgres_schema
from tests.support.paths import ROOT
from tests.support.threaded_server import loopback_socket
from tests.support.vault_client import VaultUser

pytestmark = pytest.mark.postgres


def server_inode(server_port: int, client_port: int) -> str:
    """The inode of the server's end of the connection from `client_port`."""
    want_local = f"0100007F:{server_port:04X}"
    want_remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == want_local and fields[2] == want_remote:
            return fields[9]
    raise AssertionError(f"no server socket for client port {client_port}")


def children(pid: int) -> list[int]:
    """The processes `pid` started (uvicorn's workers)."""
    return process_tree(pid)[1:]


def holder(pids: list[int], inode: str) -> int:
    """Which of `pids` holds the socket `inode` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds {target}")


class Cluster:
    def __init__(self, base_url: str, port: int, main_pid: int, outbox: Outbox) -> None:
        self.base_url, self.port, self.main_pid, self.outbox = base_url, port, main_pid, outbox

    def worker_of(self, response: httpx.Response) -> int:
        """The worker process that answered `response` (its connection is still open)."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        return holder(children(self.main_pid), server_inode(self.port, client_port))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with postgres_schema() as url:
        db = Database(url)
        try:
            db.migrate()  # before the workers: each would migrate at start in dev mode
        finally:
            db.close()
        sock = loopback_socket()
        port = sock.getsockname()[1]
        sock.close()
        env = {
            **os.environ,
            **TEST_ENV,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path / "data"),
            "BASE_URL": f"http://127.0.0.1:{port}",
        }
        command = [sys.executable, "-m", "api", "serve", "--workers", "2", "--port", str(port)]
        log = (tmp_path / "server.log").open("wb")
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while len(children(server.pid)) < 2 or not _answers(base):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "server.log").read_text())
                time.sleep(0.05)
            yield Cluster(base, port, server.pid, Outbox(tmp_path / "data" / "outbox"))
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/api/openapi.json", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_two_workers_share_sessions_and_prompts(cluster: Cluster) -> None:
    first = Client(cluster.base_url, cluster.outbox)
    alice = VaultUser(first, Account("alice@example.com", "pw"))
    first.signed_up(alice.account)
    me = first.get("/api/me")
    assert me.status_code == 200
    home = cluster.worker_of(me)
    opened = [first]
    try:
        # New connections carrying the session, until one lands on the other worker.
        other: Client | None = None
        for _ in range(40):
            fresh = Client(cluster.base_url, cluster.outbox)
            fresh.http.cookies = first.http.cookies
            fresh.csrf = first.csrf
            opened.append(fresh)
            answer = fresh.get("/api/me")
            assert answer.status_code == 200, answer.text  # the session works on every one
            assert answer.json()["user"]["email"] == "alice@example.com"
            if cluster.worker_of(answer) != home:
                other = fresh
                break
        assert other is not None, "40 connections and all went to one worker"
        away = cluster.worker_of(other.get("/api/me"))
        assert {home, away} <= set(children(cluster.main_pid)) and home != away

        # Written through the other worker, read back through the first.
        writer = VaultUser(other, alice.account, alice.item_keys)
        created = writer.create(title="Fox", body="a red fox at dusk").json()["prompt"]
        read = first.get(f"/api/prompts/{created['id']}")
        assert read.status_code == 200 and cluster.worker_of(read) == home
        prompt = read.json()["prompt"]
        assert alice.decrypt(prompt, prompt["versions"][0])["body"] == "a red fox at dusk"
        # Signing out on one worker ends the session on the other.
        assert first.post("/api/auth/logout").status_code == 200
        assert other.get("/api/me").status_code == 401
    finally:
        for client in opened:
            client.close()
