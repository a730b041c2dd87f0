"""The retention table, applied by `python -m api maintenance`: for each row the API's
database holds, data just past its period is gone and data just inside it stays, on
SQLite and PostgreSQL. The data is written by the domains' own store functions, at the
times the test picks (`now`), then `maintain` runs at `NOW`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from api.auth import service as auth_service
from api.auth import store as auth_store
from api.billing import store as billing_store
from api.creators import store as creators_store
from api.db import Conn, Database
from api.maintenance import MAINTAINED, RetentionNotApplied, maintain
from api.metrics import store as metrics_store
from api.metrics.rules import Event, day_of
from api.vault import service as vault_service
from api.vault import store as vault_store
from sorastats import retention

NOW = 1_900_000_000
INSIDE = 60  # seconds before the period ends: kept
PAST = 1  # seconds after it ended: deleted
OWNER = "u-owner"  # a verified account that owns the rows (never purged itself)


@dataclass(frozen=True)
class Case:
    """Write one item named `name` whose period started at `start`; list the names left."""

    seed: Callable[[Conn, str, int], object]
    names: Callable[[Conn], set[str]]


def _names(sql: str) -> Callable[[Conn], set[str]]:
    return lambda conn: {str(row["name"]) for row in conn.all(sql)}


def _user(conn: Conn, user_id: str, *, verified_at: int | None, created_at: int) -> None:
    conn.execute(
        "INSERT INTO users (id, email, email_verified_at, auth_hash, kdf, wrapped_user_key, "
        "recovery_hash, recovery_kdf, recovery_wrapped_user_key, created_at, updated_at, "
        "password_changed_at) VALUES (?, ?, ?, 'h', '{}', 'k', 'h', '{}', 'k', ?, ?, ?)",
        (user_id, f"{user_id}@example.com", verified_at, created_at, created_at, created_at),
    )


def _session(conn: Conn, name: str, created_at: int, last_seen_at: int) -> None:
    auth_store.create_session(
        conn,
        {
            "id": name,
            "token_hash": f"hash-{name}",
            "user_id": OWNER,
            "method": "password",
            "created_at": created_at,
            "last_seen_at": last_seen_at,
            "auth_at": created_at,
        },
    )


def _stripe_event(conn: Conn, name: str, start: int) -> None:
    assert billing_store.record_stripe_event(conn, name, "invoice.paid", "applied", start)


def _throttle(conn: Conn, name: str, start: int) -> None:
    auth_store.record_failure(conn, name, start, lambda _failures: 10)


def _raw_event(conn: Conn, name: str, start: int) -> None:
    event = Event("page_view", f"/{name}", None)
    metrics_store.insert_events(conn, day_of(start), start, "v" * 32, [event])


# Salts and daily aggregates are kept by the day: `start` is moved to a day boundary (the
# start of the day holding `start + 1 day - NOW's time of day` for a salt, whose period
# counts from the start of its day; the day holding `start - NOW's time of day` for a
# daily aggregate, deleted once its whole day is past the period).
def _salt(conn: Conn, name: str, start: int) -> None:
    day = day_of(start + retention.DAY - NOW % retention.DAY)
    conn.execute(
        "INSERT INTO metrics_salts (day, salt, created_at) VALUES (?, ?, ?)", (day, name, start)
    )


def _daily(conn: Conn, name: str, start: int) -> None:
    day = day_of(start - NOW % retention.DAY)
    conn.execute(
        "INSERT INTO metrics_days (day, events, visitors, page_views, aggregated_at) "
        "VALUES (?, 0, 0, 0, ?)",
        (day, start),
    )


def _claim(name: str, start: int) -> dict[str, object]:
    return {"id": name, "user_id": OWNER, "creator_id": f"c-{name}", "username": name,
            "code": f"sorastats-{name}", "evidence": "", "created_at": start,
            "expires_at": start + 30 * 86400}  # fmt: skip


def _request(name: str, start: int) -> dict[str, object]:
    return {"id": name, "kind": "post", "target_id": "s_1", "target": "s_1", "reason": "r",
            "email": "a@example.com", "status": "pending", "created_at": start,
            "decided_at": None}  # fmt: skip


CASES: dict[str, Case] = {
    # Signed in at `start`, used a minute ago: only the age since sign-in counts.
    "sessions": Case(
        lambda conn, name, start: _session(conn, name, start, NOW - 60),
        _names("SELECT id AS name FROM sessions"),
    ),
    # Signed in a day before `start`, last used at `start`.
    "idle sessions": Case(
        lambda conn, name, start: _session(conn, name, start - 86400, start),
        _names("SELECT id AS name FROM sessions"),
    ),
    "email links": Case(
        lambda conn, name, start: auth_store.add_email_token(
            conn, name, OWNER, "verify", "owner@example.com", start, auth_service.LINK_SECONDS
        ),
        _names("SELECT nonce_hash AS name FROM email_tokens"),
    ),
    "unverified accounts": Case(
        lambda conn, name, start: _user(conn, name, verified_at=None, created_at=start),
        _names(f"SELECT id AS name FROM users WHERE id <> '{OWNER}'"),
    ),
    "sign-in throttle": Case(_throttle, _names("SELECT key AS name FROM throttle")),
    "vault reservations": Case(
        lambda conn, name, start: vault_store.reserve_ids(
            conn, OWNER, "prompt", [name], start, vault_service.RESERVATION_SECONDS
        ),
        _names("SELECT id AS name FROM vault_reservations"),
    ),
    "vault tombstones": Case(
        lambda conn, name, start: conn.execute(
            "INSERT INTO prompt_tombstones (user_id, prompt_id, deleted_at) VALUES (?, ?, ?)",
            (OWNER, name, start),
        ),
        _names("SELECT prompt_id AS name FROM prompt_tombstones"),
    ),
    "stripe events": Case(
        lambda conn, name, start: _stripe_event(conn, name, start),
        _names("SELECT event_id AS name FROM stripe_events"),
    ),
    "raw events": Case(_raw_event, _names("SELECT substr(path, 2) AS name FROM metrics_events")),
    "metrics salts": Case(_salt, _names("SELECT salt AS name FROM metrics_salts")),
    "daily metrics": Case(_daily, lambda conn: _daily_names(conn)),
    # A claim never verified (a verified one stays while the account does).
    "unverified claims": Case(
        lambda conn, name, start: creators_store.insert_claim(conn, _claim(name, start)),
        _names("SELECT id AS name FROM creator_claims"),
    ),
    "removal requests": Case(
        lambda conn, name, start: creators_store.insert_request(conn, _request(name, start)),
        _names("SELECT id AS name FROM removal_requests"),
    ),
}


def _daily_names(conn: Conn) -> set[str]:
    """The names seeded with the days still aggregated (days map back to names)."""
    days = {str(r["day"]) for r in conn.all("SELECT day FROM metrics_days")}
    return {"past" if day < day_of(NOW - retention.seconds("daily metrics")) else "inside"
            for day in days}  # fmt: skip


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    long_ago = NOW - 400 * 86400
    database.call(lambda conn: _user(conn, OWNER, verified_at=long_ago, created_at=long_ago))
    try:
        yield database
    finally:
        database.close()


def test_every_maintained_row_has_a_case() -> None:
    """A new row of the table without an ageing case here fails this test."""
    assert set(CASES) == set(MAINTAINED)
    assert MAINTAINED  # the API applies some rows


@pytest.mark.parametrize("key", sorted(CASES))
def test_data_past_its_period_is_deleted_and_data_inside_it_stays(db: Database, key: str) -> None:
    period = retention.seconds(key)
    case = CASES[key]
    db.call(case.seed, "past", NOW - period - PAST)
    db.call(case.seed, "inside", NOW - period + INSIDE)

    result = maintain(db, NOW)

    assert db.call(case.names) == {"inside"}
    assert result.removed == {k: int(k == key) for k in MAINTAINED}  # nothing else touched
    assert result.total == 1
    assert maintain(db, NOW).total == 0  # a second pass finds nothing more


def test_a_blocked_throttle_row_outlives_its_period(db: Database) -> None:
    """The period counts from the last failure once the block has ended, not before."""
    start = NOW - retention.seconds("sign-in throttle") - PAST
    db.call(auth_store.record_failure, "still-blocked", start, lambda _f: 2 * 86400)
    assert maintain(db, NOW).removed["sign-in throttle"] == 0
    assert maintain(db, NOW + 2 * 86400).removed["sign-in throttle"] == 1


def test_maintenance_refuses_a_row_without_a_purge(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A period on the privacy page that no purge enforces stops maintenance loudly."""
    from api.account import service as account_service

    monkeypatch.setattr(account_service, "PURGES", account_service.PURGES[:-1])
    with pytest.raises(RetentionNotApplied, match="stripe events"):
        maintain(db, NOW)
