"""`python -m api maintenance` (and its older name `maintain`): the housekeeping as a
command, with counts, on SQLite and PostgreSQL; a database it cannot reach is one clear
line and exit 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.__main__ import main
from api.db import Database
from api.maintenance import MAINTAINED, maintain
from tests.support.api_client import Account
from tests.support.api_server import TEST_ENV, RunningApi, postgres_schema
from tests.support.paths import ROOT

DAY = 86400
KINDS = set(MAINTAINED)  # one count per row of the retention table it applies


def use_database(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: str) -> None:
    for name, value in {**TEST_ENV, "DATABASE_URL": url, "DATA_DIR": data_dir}.items():
        monkeypatch.setenv(name, value)


def test_maintain_counts_what_it_removes(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command (in this process) against the database a running API uses."""
    api.client().signed_up(Account("keep@example.com", "pw"))
    api.client().register(Account("stale@example.com", "pw"), verify=False)
    db = api.services.db
    db.call(lambda c: c.execute("UPDATE users SET created_at = created_at - ?", (8 * DAY,)))
    db.call(lambda c: c.execute("UPDATE sessions SET last_seen_at = last_seen_at - ?", (8 * DAY,)))
    db.call(lambda c: c.execute("UPDATE email_tokens SET expires_at = 0"))
    use_database(monkeypatch, api.settings.DATABASE_URL, str(api.tmp_path / "data"))

    assert main(["maintenance"]) == 0
    out = capsys.readouterr().out.splitlines()
    counts = {line[9:]: int(line[:8]) for line in out[:-1]}
    assert set(counts) == KINDS
    assert counts["unverified accounts"] == 1  # stale@, never verified
    assert counts["idle sessions"] == 1  # keep@'s, idle for 8 days
    assert counts["email links"] == 1  # stale@'s unused verification link
    total = sum(counts.values())
    wal = "; SQLite log folded into the database" if db.dialect == "sqlite" else ""
    assert out[-1] == f"removed {total} rows{wal}"
    emails = [r["email"] for r in db.call(lambda c: c.all("SELECT email FROM users"))]
    assert emails == ["keep@example.com"]

    assert main(["maintain"]) == 0  # the older name; nothing left: zeros, still exit 0
    assert capsys.readouterr().out.splitlines()[-1] == f"removed 0 rows{wal}"


def test_maintain_leaves_live_rows(api: RunningApi) -> None:
    client = api.client().signed_up(Account("live@example.com", "pw"))
    result = maintain(api.services.db, int(time.time()))
    assert result.removed["sessions"] == result.removed["idle sessions"] == 0
    assert client.get("/api/me").status_code == 200  # the session survived


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sorastats:hunter2secret@127.0.0.1:1/sorastats",  # nothing listens
        "postgresql://sorastats:hunter2secret@127.0.0.1:1/sorastats?connect_timeout=2",
        "sqlite:///{tmp}",  # a folder, not a file
    ],
)
def test_unreachable_database_is_one_line(
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_database(monkeypatch, url.format(tmp=tmp_path), str(tmp_path))
    assert main(["maintain"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the database "), lines
    assert "hunter2secret" not in captured.err  # the password is never printed
    assert "Traceback" not in captured.err


def test_unmigrated_database_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_database(monkeypatch, f"sqlite:///{tmp_path}/new.sqlite3", str(tmp_path))
    assert main(["maintain"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m api migrate" in err


@pytest.mark.postgres
def test_maintain_command_on_postgresql() -> None:
    """The real command in a subprocess against PostgreSQL: exit 0 and the counts."""
    with postgres_schema() as url:
        db = Database(url)
        try:
            db.migrate()
        finally:
            db.close()
        env = {"PATH": "/usr/bin", "PYTHONPATH": str(ROOT), **TEST_ENV, "DATABASE_URL": url}
        done = subprocess.run(
            [sys.executable, "-m", "api", "maintenance"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "removed 0 rows"
    assert len(done.stdout.splitlines()) == len(KINDS) + 1
