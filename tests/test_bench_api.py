"""bench/api.py leaves nothing behind: its temporary folder (which holds the dev-mode secret
key and the accounts database) and its servers are gone after a run, after an error, after
Ctrl-C and after SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.api import TMP_PREFIX
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow


def _bench(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--cheap-hashing", *args],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is in `folder` (the API server runs in the
    bench's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(folder)):
                found.append(int(entry.name))
    return found


def _left_behind(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_a_run_prints_both_servers_and_the_ratio_and_leaves_nothing(tmp_path: Path) -> None:
    bench = _bench(tmp_path, "--duration", "0.3", "--rounds", "2", "--connections", "2")
    out, _ = bench.communicate(timeout=300)
    assert bench.returncode == 0, out
    assert out.count("bare Starlette ") >= 2 and out.count("GET /api/me ") >= 2, out
    assert "ratio GET /api/me / bare Starlette: median" in out, out
    assert " 0 unexpected statuses" in out and "ratio 0.00" not in out, out
    assert _left_behind(tmp_path) == []
    assert _processes_in(tmp_path) == []


def test_an_error_leaves_nothing(tmp_path: Path) -> None:
    # Nothing listens on port 1: the schema cannot be made, after the folder was.
    bench = _bench(tmp_path, "--postgres", "postgresql://nobody:x@127.0.0.1:1/none")
    out, _ = bench.communicate(timeout=120)
    assert bench.returncode != 0 and "Traceback" in out, out
    assert _left_behind(tmp_path) == []


@pytest.mark.parametrize(
    ("signum", "group", "status"),
    [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 128 + signal.SIGTERM)],
    ids=["ctrl-c", "sigterm"],
)
def test_an_interrupted_run_stops_its_servers_and_leaves_nothing(
    tmp_path: Path, signum: int, group: bool, status: int
) -> None:
    bench = _bench(tmp_path, "--duration", "60", "--rounds", "1", "--connections", "2")
    assert bench.stdout is not None
    lines = []
    for line in bench.stdout:  # until both servers are up and the driver starts
        lines.append(line)
        if line.startswith("servers:"):
            break
    assert _left_behind(tmp_path), "".join(lines)
    assert _processes_in(tmp_path), "the API server runs in the bench's folder"
    time.sleep(1)
    if group:
        os.killpg(bench.pid, signum)  # Ctrl-C: the whole foreground job (bench and driver)
    else:
        bench.send_signal(signum)
    out, _ = bench.communicate(timeout=120)
    assert bench.returncode == status, "".join(lines) + out
    assert _left_behind(tmp_path) == []
    assert _processes_in(tmp_path) == []
