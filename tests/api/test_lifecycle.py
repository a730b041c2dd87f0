"""Session expiry, last-seen updates, housekeeping, schema checks and SMTP delivery."""

from __future__ import annotations

import queue
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.account import service as account_service
from api.db import Database, SchemaError
from api.migrations import MIGRATIONS
from tests.support.api_client import Account
from tests.support.api_server import RunningApi

DAY = 86400


def test_idle_and_absolute_session_expiry(api: RunningApi) -> None:
    client = api.client().signed_up(Account("e1@example.com", "pw"))
    db = api.services.db
    db.call(
        lambda c: c.execute("UPDATE sessions SET last_seen_at = last_seen_at - ?", (7 * DAY - 120,))
    )
    assert client.get("/api/me").status_code == 200  # within 7 idle days, and refreshed
    row = db.call(lambda c: c.one("SELECT last_seen_at FROM sessions"))
    assert row is not None and int(row["last_seen_at"]) >= int(time.time()) - 5
    db.call(
        lambda c: c.execute("UPDATE sessions SET last_seen_at = last_seen_at - ?", (7 * DAY + 1,))
    )
    assert client.get("/api/me").status_code == 401
    other = api.client().signed_up(Account("e2@example.com", "pw"))
    db.call(lambda c: c.execute("UPDATE sessions SET created_at = created_at - ?", (30 * DAY + 1,)))
    assert other.get("/api/me").status_code == 401  # 30 days absolute, even if active


def test_purge_removes_expired_rows_and_stale_registrations(api: RunningApi) -> None:
    api.client().signed_up(Account("keep@example.com", "pw"))
    api.client().register(Account("stale@example.com", "pw"), verify=False)
    db = api.services.db
    db.call(
        lambda c: c.execute(
            "UPDATE users SET created_at = created_at - ? WHERE email = 'stale@example.com'",
            (8 * DAY,),
        )
    )
    db.call(account_service.purge_expired, int(time.time()) + 8 * DAY)
    emails = [r["email"] for r in db.call(lambda c: c.all("SELECT email FROM users"))]
    assert emails == ["keep@example.com"]
    assert db.call(lambda c: c.all("SELECT * FROM sessions")) == []  # idle past 7 days
    assert db.call(lambda c: c.all("SELECT * FROM email_tokens")) == []


def test_schema_check(db_url: str) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(SchemaError, match="python -m api migrate"):
            db.check_schema()
        assert db.migrate() == [m.version for m in MIGRATIONS]
        assert db.migrate() == []
        db.check_schema()
        db.call(
            lambda c: c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (MIGRATIONS[-1].version + 1, "future", 0),
            )
        )
        with pytest.raises(SchemaError, match="newer"):
            db.check_schema()
    finally:
        db.close()


class _SmtpHandler(socketserver.StreamRequestHandler):
    received: queue.Queue[str]

    def handle(self) -> None:
        def say(line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        say("220 test SMTP")
        while line := self.rfile.readline().decode():
            verb = line.strip().split(" ")[0].upper()
            if verb in {"EHLO", "HELO"}:
                say("250 test")
            elif verb == "DATA":
                say("354 go on")
                lines = []
                while (data := self.rfile.readline().decode()) not in {".\r\n", ""}:
                    lines.append(data)
                self.received.put("".join(lines))
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, queue.Queue[str]]]:
    received: queue.Queue[str] = queue.Queue()
    handler = type("Handler", (_SmtpHandler,), {"received": received})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def test_mail_goes_through_smtp_when_configured(
    start_api: Callable[..., RunningApi],
    smtp_server: tuple[int, queue.Queue[str]],
    tmp_path: Path,
) -> None:
    port, received = smtp_server
    api = start_api(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="0")
    account = Account("smtp@example.com", "pw")
    api.client().post("/api/auth/register", account.register_body())
    message = received.get(timeout=10)
    assert "To: smtp@example.com" in message
    assert "/api/pages/verify#token=" in message
    assert not list(Path(api.settings.MAIL_OUTBOX).glob("*.eml"))


def test_a_migration_added_below_an_applied_one_is_still_required_and_applied(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Branches number migrations independently: a database that got version 3 first must
    still be told to apply (and then get) a version 2 that lands later."""
    from api import db as db_module
    from api.migrations import Migration

    later = Migration(2, "lands_later", ("CREATE TABLE lands_later (x INTEGER)",))
    without = [m for m in MIGRATIONS if m.version != 2]
    assert [m.version for m in without][-1] > 2  # the gap this test is about
    db = Database(db_url)
    try:
        monkeypatch.setattr(db_module, "MIGRATIONS", without)
        db.migrate()
        db.check_schema()
        monkeypatch.setattr(
            db_module, "MIGRATIONS", sorted([*without, later], key=lambda m: m.version)
        )
        with pytest.raises(SchemaError, match="lacks migration"):
            db.check_schema()
        assert db.migrate() == [2]
        db.check_schema()
    finally:
        db.close()
