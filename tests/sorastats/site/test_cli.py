"""The site's CLI commands through `build.py`, including a build killed mid-way."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sorastats import db
from sorastats.cli import build_parser, main
from sorastats.site.check import check_site
from sorastats.site.config import SETTINGS
from sorastats.site.manifest import read_manifest
from tests.support import sitedata
from tests.support.cli import subcommand
from tests.support.paths import ROOT

# End-to-end tier (make test): build.py in subprocesses.
pytestmark = pytest.mark.e2e

BASE = "https://sorastats.example"


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in root.rglob("*")
        if p.is_file()
    }


def render_cmd(dbp: Path, out: Path, jobs: int = 2) -> list[str]:
    return [sys.executable, str(ROOT / "build.py"), "render", "--db", str(dbp), "--out", str(out),
            "--base-url", BASE, "--jobs", str(jobs), "--no-search"]  # fmt: skip


def test_render_check_and_rollback_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    out = tmp_path / "site"
    args = ["render", "--db", str(dbp), "--out", str(out), "--base-url", BASE, "--jobs", "1",
            "--no-search"]  # fmt: skip
    assert main(args) == 0
    first = capsys.readouterr().out
    assert re.search(
        r"render: \d+ written, 0 unchanged, 0 deleted of \d+ outputs; published", first
    )
    assert "search off" in first and not (out / "pagefind").exists()
    assert main(args) == 0
    assert "0 written" in capsys.readouterr().out
    assert main(["check", str(out), "--base-url", BASE]) == 0
    assert main(["rollback", "--out", str(out)]) == 2  # no previous site yet
    assert "no previous site" in capsys.readouterr().err

    con = db.connect(dbp)
    con.execute("UPDATE creators SET follower_count = 4242 WHERE username = 'alice'")
    con.close()
    assert main(args) == 0
    assert "4,242" in (out / "c/alice/index.html").read_text()
    assert main(["rollback", "--out", str(out)]) == 0
    assert "4,242" not in (out / "c/alice/index.html").read_text()
    assert main(["rollback", "--out", str(out)]) == 0  # and forward again
    assert "4,242" in (out / "c/alice/index.html").read_text()
    # while another process builds this site, render and rollback refuse at once
    from sorastats.runlock import RunLock

    with RunLock(out, "x"):
        assert main(args) == 3
        assert main(["rollback", "--out", str(out)]) == 3
    assert capsys.readouterr().err.count(f"is using the site {out}; lock file") == 2
    assert "4,242" in (out / "c/alice/index.html").read_text()


def test_bad_inputs_get_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["render", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "s")]) == 2
    )
    assert "no database" in capsys.readouterr().err
    dbp = sitedata.hand_made(tmp_path / "h.duckdb")
    assert (
        main(
            ["render", "--db", str(dbp), "--out", str(tmp_path / "s"), "--base-url", "example.com"]
        )
        == 2
    )
    assert "base-url" in capsys.readouterr().err
    assert main(["render", "--db", str(dbp), "--out", str(tmp_path / "s"), "--jobs", "0"]) == 2
    assert not (tmp_path / "s").exists()
    assert main(["check", str(tmp_path / "missing")]) == 1


def test_every_site_command_and_option_is_documented() -> None:
    section = (ROOT / "docs" / "site.md").read_text()
    for command in ("render", "nightly", "check", "rollback"):
        assert f"build.py {command}" in section, command
        sub = subcommand(build_parser(), command)
        for action in sub._actions:
            for opt in action.option_strings:
                if opt not in ("-h", "--help"):
                    assert opt in section, (command, opt)
    for setting in SETTINGS:
        assert setting.option in section


@pytest.mark.slow
def written_since(path: Path, started: float) -> bool:
    """The staging tree's file was written after `started`; False when it is gone (the
    render replaces a file in the staging tree by unlinking it first: no reader sees that
    tree, this test excepted)."""
    try:
        return path.stat().st_mtime >= started
    except FileNotFoundError:
        return False


def test_killed_build_leaves_the_live_site_intact(tmp_path: Path) -> None:
    # 800 posts: the render writes for about 1.5 s, ample for a 10 ms poll to catch it.
    dbp = sitedata.synth(tmp_path / "s.duckdb", posts=800, creators=80, days=5)
    out = tmp_path / "site"
    subprocess.run(render_cmd(dbp, out), check=True, capture_output=True)
    before = snapshot(out)
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = text || ' (edited)' WHERE text IS NOT NULL")
    con.close()

    started = time.time()
    proc = subprocess.Popen(render_cmd(dbp, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    staging = tmp_path / "site.new"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until pages are being written
            written = [p for p in (staging / "p").glob("*/index.html")] if staging.exists() else []
            if any(written_since(p, started) for p in written[:2000]):
                break
            assert proc.poll() is None, "render finished before it could be killed"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert read_manifest(staging) is None  # killed before it finished
    assert snapshot(out) == before  # the live site, byte for byte and inode for inode

    subprocess.run(render_cmd(dbp, out), check=True, capture_output=True)
    assert "(edited)" in (out / f"p/s_{1:032x}/index.html").read_text()
    _, problems = check_site(out, BASE)
    assert problems == []
    assert not staging.exists()
