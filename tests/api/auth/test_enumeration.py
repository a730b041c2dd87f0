"""Nothing public tells whether an email has an account (security review, classes 3-5).

Every public endpoint that takes an email is probed with the email of a verified account,
of an unverified one and of none; the full answers must match: status, headers, body
fields and their order, and every value except those that vary per email anyway (made-up
salts), which must still agree in length, alphabet and in which of them are equal (e.g.
kdf.salt == recovery_kdf.salt). The probes are driven from the endpoint declarations: a
new public endpoint that takes an email fails the coverage test until it gets a probe."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.app import all_endpoints
from api.validation import Schema
from tests.support import vault_crypto as vc
from tests.support.api_client import Account, Client, plain_text
from tests.support.api_server import RunningApi

Probe = Callable[[Client, str], httpx.Response]
WRONG_KEY = vc.b64url(b"\x07" * 32)


def _register(client: Client, email: str) -> httpx.Response:
    return client.post("/api/auth/register", Account(email, "probe password").register_body())


def _recover(client: Client, email: str) -> httpx.Response:
    proof = {"email": email, "recovery_auth_key": WRONG_KEY}
    return client.post("/api/auth/recover", {**proof, **Account(email, "x").new_password_body("n")})


PROBES: dict[tuple[str, str], Probe] = {
    ("POST", "/api/auth/register"): _register,
    ("GET", "/api/auth/prelogin"): lambda c, e: c.get("/api/auth/prelogin", params={"email": e}),
    ("POST", "/api/auth/login"): lambda c, e: c.post(
        "/api/auth/login", {"email": e, "auth_key": WRONG_KEY}
    ),
    ("POST", "/api/auth/link"): lambda c, e: c.post("/api/auth/link", {"email": e}),
    ("POST", "/api/auth/recover/keys"): lambda c, e: c.post(
        "/api/auth/recover/keys", {"email": e, "recovery_auth_key": WRONG_KEY}
    ),
    ("POST", "/api/auth/recover"): _recover,
    # Anyone's removal request: the same answer (and the same mail, after it) for all.
    ("POST", "/api/removal-requests"): lambda c, e: c.post(
        "/api/removal-requests", {"target": "@somebody", "reason": "mine", "email": e}
    ),
}

# Public endpoints that take no email. Links carry an unforgeable signed token that is
# only ever mailed to the address itself.
EMAIL_FREE = {
    ("POST", "/api/auth/verify"): "signed token from the mailed link",
    ("POST", "/api/auth/link/confirm"): "signed token from the mailed link",
    ("GET", "/api/pages/verify"): "static page",
    ("GET", "/api/pages/sign-in"): "static page",
    ("GET", "/api/pages/confirm.js"): "static file",
    ("GET", "/api/pages/pages.css"): "static file",
    ("GET", "/api/pages/admin.css"): "static file",
    ("POST", "/api/events"): "usage events: page paths and event names, the same 204 for all",
    ("GET", "/admin/metrics/"): "the same 404 for everyone but an admin (test_admin.py)",
    ("GET", "/api/openapi.json"): "static description",
    ("GET", "/api/vault/config"): "server settings",
    ("GET", "/api/billing"): "prices",
    ("POST", "/api/billing/webhook"): "Stripe-signed events",
    ("GET", "/api/build/public-contributions"): "the build's bearer token; public ids only",
    ("POST", "/api/build/claim-matches"): "the build's bearer token; creator ids and codes",
}

IGNORED_HEADERS = {"date"}


def _takes_email(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("format") == "email" or "email" in schema.get("properties", {}):
            return True
        return any(_takes_email(value) for value in schema.values())
    if isinstance(schema, list):
        return any(_takes_email(value) for value in schema)
    return False


def test_every_public_endpoint_is_probed_or_takes_no_email() -> None:
    public = {(ep.method, ep.path): ep for ep in all_endpoints() if ep.auth == "public"}
    for key, ep in public.items():
        query: Schema = {"properties": ep.query}
        takes = _takes_email(ep.body) or _takes_email(query)
        if takes:
            assert key in PROBES, f"{key} takes an email: add a probe to PROBES"
        else:
            assert key in PROBES or key in EMAIL_FREE, f"{key} is public: list it here"
    assert set(PROBES) <= set(public), "a probe names an endpoint that is gone or not public"
    assert set(EMAIL_FREE) <= set(public)


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, leaf) pairs in document order; dict keys in the order they were sent."""
    out: list[tuple[str, Any]]
    if isinstance(value, dict):
        out = [(f"{path}{{}}", list(value))]  # the field set and its order
        for key, item in value.items():
            out += _leaves(item, f"{path}.{key}")
        return out
    if isinstance(value, list):
        out = [(f"{path}[]", len(value))]
        for index, item in enumerate(value):
            out += _leaves(item, f"{path}[{index}]")
        return out
    return [(path, value)]


def _alphabet(text: str) -> str:
    for name, pattern in (("hex", "[0-9a-f]+"), ("base64url", "[A-Za-z0-9_-]+")):
        if re.fullmatch(pattern, text):
            return name
    return "text"


def answer(response: httpx.Response, varying: set[str]) -> dict[str, Any]:
    """What an observer sees, with per-email values reduced to their observable shape."""
    headers = sorted(
        (name, value) for name, value in response.headers.items() if name not in IGNORED_HEADERS
    )
    leaves = _leaves(response.json()) if response.content else []
    values = dict(leaves)
    shown = [
        (path, (type(v).__name__, len(v), _alphabet(v)) if path in varying else v)
        for path, v in leaves
    ]
    strings = [p for p, v in leaves if isinstance(v, str) and p in varying]
    equal_pairs = [(a, b) for a in strings for b in strings if a < b and values[a] == values[b]]
    return {
        "status": response.status_code,
        "headers": headers,
        "body": shown,
        "equal": equal_pairs,
    }


def _varying(first: httpx.Response, second: httpx.Response) -> set[str]:
    """Paths whose values differ between two emails without accounts: per-email values."""
    a = dict(_leaves(first.json())) if first.content else {}
    b = dict(_leaves(second.json())) if second.content else {}
    return {path for path in a if path in b and a[path] != b[path]}


@pytest.fixture
def populations(api: RunningApi) -> dict[str, str]:
    verified = Account("verified@example.com", "pw")
    api.client().register(verified)
    unverified = Account("unverified@example.com", "pw")
    api.client().register(unverified, verify=False)
    return {
        "verified": verified.email,
        "unverified": unverified.email,
        "none": "nobody@example.com",
    }


@pytest.mark.parametrize("endpoint", sorted(PROBES), ids=lambda e: f"{e[0]} {e[1]}")
def test_public_answers_do_not_depend_on_the_account(
    api: RunningApi, populations: dict[str, str], endpoint: tuple[str, str]
) -> None:
    probe = PROBES[endpoint]
    baseline = probe(api.client(), "nobody-else@example.com")
    answers = {kind: probe(api.client(), email) for kind, email in populations.items()}
    varying = _varying(baseline, answers["none"])
    seen = {kind: answer(response, varying) for kind, response in answers.items()}
    assert seen["verified"] == seen["none"], endpoint
    assert seen["unverified"] == seen["none"], endpoint
    assert answer(baseline, varying) == seen["none"]


def test_register_with_a_reused_user_id_answers_the_same(
    api: RunningApi, populations: dict[str, str]
) -> None:
    """A taken user_id is refused whoever has it and whatever the email: the refusal says
    nothing about the email."""
    owner = Account("id-owner@example.com", "pw")
    api.client().register(owner)
    answers = []
    for email in [*populations.values(), owner.email]:
        reusing = Account(email, "other password")
        reusing.user_id = owner.user_id
        response = api.client().post("/api/auth/register", reusing.register_body())
        answers.append(answer(response, set()))
    assert answers[0]["status"] == 409
    assert all(seen == answers[0] for seen in answers)
    api.client().login(owner)  # the owner's account is untouched


def _move(client: Client, email: str) -> httpx.Response:
    return client.request("PATCH", "/api/me", json={"email": email})


def test_email_change_answers_the_same_for_taken_and_free_addresses(api: RunningApi) -> None:
    taken = Account("taken@example.com", "pw")  # as long as the free one: same length
    api.client().register(taken)
    mover = Account("mover@example.com", "pw")
    client = api.client().signed_up(mover)
    to_taken = _move(client, taken.email)
    to_free = _move(client, "freed@example.com")
    assert to_taken.json()["user"]["pending_email"] == taken.email
    assert to_free.json()["user"]["pending_email"] == "freed@example.com"
    varying = {".user.pending_email"}
    assert answer(to_taken, varying) == answer(to_free, varying)
    assert to_taken.status_code == 200
    # What differs goes out by mail, after the answer: a notice to the taken address
    # (its owner), a confirmation link to the free one.
    notice = api.outbox.wait_for(taken.email, 2)[-1]
    assert "already has an account" in plain_text(notice)
    assert api.outbox.last_link("freed@example.com")[0] == "/api/pages/verify"


def _mails_settle(api: RunningApi, address: str, expected: int) -> int:
    api.outbox.wait_for(address, expected)
    time.sleep(0.5)  # anything more would have arrived by now
    return len(api.outbox.to(address))


def test_email_change_is_throttled_on_the_target_address(api: RunningApi) -> None:
    free = 3 * api.settings.LOGIN_FREE_ATTEMPTS
    movers = [api.client().signed_up(Account(f"m{i}@example.com", "pw")) for i in range(5)]
    statuses = [
        _move(mover, "victim@example.com").status_code for _ in range(3) for mover in movers
    ]
    accepted = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert accepted <= free + 1
    assert _mails_settle(api, "victim@example.com", accepted) == accepted


def test_email_change_is_throttled_on_the_account(api: RunningApi) -> None:
    free = 3 * api.settings.LOGIN_FREE_ATTEMPTS
    client = api.client().signed_up(Account("bomber@example.com", "pw"))
    statuses = [_move(client, f"v{i}@example.com").status_code for i in range(30)]
    accepted = statuses.count(200)
    assert 429 in statuses and accepted <= free + 1
    refused = statuses.index(429)
    assert client.get("/api/me").json()["user"]["pending_email"] == f"v{refused - 1}@example.com"
    mails = sum(len(api.outbox.to(f"v{i}@example.com")) for i in range(30))
    assert _mails_settle(api, f"v{refused - 1}@example.com", 1) == 1
    assert mails <= accepted


def test_thirty_rapid_email_changes_send_at_most_the_throttles_mails(api: RunningApi) -> None:
    free = 3 * api.settings.LOGIN_FREE_ATTEMPTS
    client = api.client().signed_up(Account("flood@example.com", "pw"))
    statuses = []
    for i in range(30):  # alternate, so every call is a change
        statuses.append(_move(client, "inbox@example.com").status_code)
        statuses.append(_move(client, f"other{i}@example.com").status_code)
        if len(statuses) >= 30:
            break
    to_victim = statuses[0::2].count(200)
    assert statuses.count(200) <= free + 1
    assert _mails_settle(api, "inbox@example.com", to_victim) == to_victim <= free


def test_made_up_prelogin_answers_follow_the_real_accounts(
    start_api: Callable[..., RunningApi],
) -> None:
    """Accounts registered before recovery_kdf was required have kdf's salt twice (the
    server copied it) and cannot be given a new salt without the secret behind it. Made-up
    answers draw their shape, per email and stably, from the real accounts: equal salts
    are as likely for an email without an account as for one with."""
    first = start_api()
    accounts = [Account(f"real{i}@example.com", "pw") for i in range(4)]
    for account in accounts:
        first.client().register(account)
    legacy = [a.email for a in accounts[:2]]
    first.services.db.call(
        lambda conn: [
            conn.execute("UPDATE users SET recovery_kdf = kdf WHERE email = ?", (email,))
            for email in legacy
        ]
    )
    api = start_api()  # counts the accounts' shapes at start, like a deploy does
    client = api.client()

    def prelogin(email: str) -> dict[str, Any]:
        response = client.get("/api/auth/prelogin", params={"email": email})
        assert response.status_code == 200
        return dict(response.json())

    def shape(answer: dict[str, Any]) -> tuple[int, int, bool]:
        kdf, recovery = answer["kdf"], answer["recovery_kdf"]
        return kdf["iterations"], recovery["iterations"], kdf["salt"] == recovery["salt"]

    real = {shape(prelogin(a.email)) for a in accounts}
    assert real == {(1000, 1000, True), (1000, 1000, False)}
    made_up = [prelogin(f"unknown{i}@example.com") for i in range(200)]
    shapes = [shape(a) for a in made_up]
    assert set(shapes) == real
    equal = sum(same for _, _, same in shapes)
    assert 60 <= equal <= 140  # half of the real accounts have equal salts
    assert made_up[:20] == [prelogin(f"unknown{i}@example.com") for i in range(20)]  # stable
    # Full answers, legacy account against a made-up one with equal salts.
    twin = next(f"unknown{i}@example.com" for i, s in enumerate(shapes) if s[2])
    legacy_answer = client.get("/api/auth/prelogin", params={"email": legacy[0]})
    twin_answer = client.get("/api/auth/prelogin", params={"email": twin})
    varying = _varying(legacy_answer, twin_answer)
    assert answer(legacy_answer, varying) == answer(twin_answer, varying)
    assert answer(legacy_answer, varying)["equal"] == [(".kdf.salt", ".recovery_kdf.salt")]
