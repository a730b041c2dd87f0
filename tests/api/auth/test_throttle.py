"""Throttling with exponential backoff, and answers that do not reveal who has an account."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Client, plain_text
from tests.support.api_server import RunningApi

WRONG = vc.b64url(b"\x07" * 32)


def attempt(client: Client, email: str, key: str = WRONG) -> tuple[int, dict[str, object]]:
    response = client.post("/api/auth/login", {"email": email, "auth_key": key})
    return response.status_code, response.json()


def test_backoff_after_free_attempts_same_for_unknown_email(api: RunningApi) -> None:
    account = Account("t1@example.com", "pw")
    client = api.client()
    client.register(account)
    free = api.settings.LOGIN_FREE_ATTEMPTS
    # Each blocked attempt follows its own failures at once: the first block lasts one
    # to two seconds, and the other email's attempts (argon2 each) may take longer.
    known = [attempt(client, account.email) for _ in range(free)]
    blocked_known = client.post("/api/auth/login", {"email": account.email, "auth_key": WRONG})
    # While backing off even the right key is refused: no oracle for guessers.
    right = vc.b64url(account.keys.auth_key)
    assert attempt(client, account.email, right)[0] == 429
    unknown = [attempt(client, "ghost@example.com") for _ in range(free)]
    blocked_unknown = client.post(
        "/api/auth/login", {"email": "ghost@example.com", "auth_key": WRONG}
    )
    assert [s for s, _ in known] == [s for s, _ in unknown] == [401] * (free - 1) + [401]
    assert blocked_known.status_code == blocked_unknown.status_code == 429
    assert blocked_known.json()["error"]["code"] == blocked_unknown.json()["error"]["code"]
    assert int(blocked_known.headers["Retry-After"]) >= 1


def test_backoff_grows_and_expires(api: RunningApi) -> None:
    account = Account("t2@example.com", "pw")
    client = api.client()
    client.register(account)
    free = api.settings.LOGIN_FREE_ATTEMPTS

    def waits() -> list[int]:
        rows = api.services.db.call(
            lambda c: c.all(
                "SELECT key, failures, blocked_until - last_failure_at AS wait FROM throttle "
                "WHERE key LIKE 'login:%'"
            )
        )
        return [int(r["wait"]) for r in rows]

    for _ in range(free):
        attempt(client, account.email)
    assert waits() == [1]
    # Let the block lapse (move it into the past) and fail again: the wait doubles.
    api.services.db.call(lambda c: c.execute("UPDATE throttle SET blocked_until = 0"))
    attempt(client, account.email)
    assert waits() == [2]
    api.services.db.call(lambda c: c.execute("UPDATE throttle SET blocked_until = 0"))
    client.login(account)  # success clears the account's counter
    assert waits() == []


def test_per_ip_throttle_spans_accounts(api: RunningApi) -> None:
    client = api.client()
    free = api.settings.LOGIN_FREE_ATTEMPTS
    statuses = [attempt(client, f"spray{i}@example.com")[0] for i in range(4 * free)]
    assert statuses == [401] * (4 * free)
    # The first block lasts at least a second: the next attempt is refused.
    assert attempt(client, "spray-more@example.com")[0] == 429


def test_prelogin_does_not_reveal_accounts(api: RunningApi) -> None:
    client = api.client()
    account = Account("known@example.com", "pw")
    client.register(account, verify=False)
    known = client.get("/api/auth/prelogin", params={"email": account.email}).json()
    unknown = client.get("/api/auth/prelogin", params={"email": "nobody@example.com"}).json()
    again = client.get("/api/auth/prelogin", params={"email": "NOBODY@example.com"}).json()
    other = client.get("/api/auth/prelogin", params={"email": "other@example.com"}).json()
    assert known["kdf"] == account.keys.kdf
    assert set(known) == set(unknown) == {"kdf", "recovery_kdf"}
    assert set(known["kdf"]) == set(unknown["kdf"])
    assert unknown["kdf"]["iterations"] == known["kdf"]["iterations"]
    assert len(vc.unb64url(unknown["kdf"]["salt"])) == 16
    assert unknown == again  # stable
    assert unknown["kdf"]["salt"] != other["kdf"]["salt"]
    assert unknown["kdf"]["salt"] != unknown["recovery_kdf"]["salt"]


def test_register_answers_the_same_for_existing_email(api: RunningApi) -> None:
    client = api.client()
    account = Account("dup@example.com", "pw")
    first = client.post("/api/auth/register", account.register_body())
    api.outbox.last_link(account.email)
    client.post("/api/auth/verify", {"token": api.outbox.last_link(account.email)[1]})
    intruder = Account("dup@example.com", "other")
    second = client.post("/api/auth/register", intruder.register_body())
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    notice = api.outbox.wait_for(account.email, count=2)[-1]
    assert "already has one" in plain_text(notice)
    client.login(account)  # the original account is untouched


@pytest.mark.slow
def test_login_timing_same_for_unknown_email(
    backend: str, start_api: Callable[..., RunningApi]
) -> None:
    """An unknown email still costs a full argon2id verification. Loose bounds: without
    the dummy verification the ratio would be ~0.02."""
    api = start_api(ARGON2_MEMORY_KIB="32768", ARGON2_TIME_COST="2", LOGIN_FREE_ATTEMPTS="1000")
    account = Account("timing@example.com", "pw")
    client = api.client()
    client.register(account)
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(7):
        for email, sink in ((account.email, known), ("nobody@example.com", unknown)):
            start = time.perf_counter()
            assert attempt(client, email)[0] == 401
            sink.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)
