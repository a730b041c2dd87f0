"""A render killed with SIGKILL leaves no process behind: its render workers, the
forkserver that started them and multiprocessing's resource tracker all end within 5 s."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import sitedata
from tests.support.paths import ROOT


def marked(marker: str) -> dict[int, int]:
    """pid -> parent pid of every live process whose environment holds `marker`
    (children inherit the environment, whatever started them)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:  # gone, or not ours
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if marker.encode() in environ.split(b"\0") and fields[0] != "Z":
            found[int(entry.name)] = int(fields[1])
    return found


@pytest.mark.e2e
def test_killed_render_leaves_no_process(tmp_path: Path) -> None:
    dbp = sitedata.synth(tmp_path / "s.duckdb", posts=4000, creators=200)
    marker = f"SORASTATS_KILL_TEST={secrets.token_hex(8)}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    build = subprocess.Popen(
        [
            sys.executable,
            "build.py",
            "render",
            "--db",
            str(dbp),
            "--out",
            str(tmp_path / "site"),
            "--jobs",
            "2",
            "--full",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the tracker, the forkserver and two workers besides the build
            tree = marked(marker)
            workers = [pid for pid, ppid in tree.items() if ppid in tree and ppid != build.pid]
            if len(tree) >= 4 and len(workers) >= 2:
                break
            assert build.poll() is None, "the render ended before its workers were seen"
            assert time.monotonic() < deadline, tree
            time.sleep(0.02)
        assert all(ppid in tree for pid, ppid in tree.items() if pid != build.pid), tree
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    killed = time.monotonic()
    while (left := marked(marker)) and time.monotonic() - killed < 5:
        time.sleep(0.02)
    gone_after = time.monotonic() - killed
    for pid in left:  # do not leak them into the rest of the run
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} processes outlived the build by 5 s: {left}"
    print(f"every process of the killed render gone {gone_after:.2f} s after SIGKILL")
