"""Property-based: random, almost-valid and hostile input to every endpoint of
/api/openapi.json never gets a 500, every error is the JSON error shape, and after any
write the API accepted, the account still signs in, reads /api/me and exports.

Bodies are drawn from each endpoint's own request schema (so the handlers are reached),
then mutated and planted with hostile values written as raw JSON text: the tokens `NaN`,
`Infinity`, `1e400`, lone-surrogate escapes (`"\\ud800"`, in values and keys), NUL, huge
and deeply nested values. Queries and path values get NUL and percent-encoded lone
surrogates. Every endpoint also gets one hostile request of each kind as an explicit
example, so coverage does not depend on luck. Runtime is set by the Hypothesis profile
(tests/conftest.py): `HYPOTHESIS_PROFILE=thorough` for a long run."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.app import all_endpoints
from api.endpoints import Endpoint
from tests.support import sitedata
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi, database_url, run_api
from tests.support.fake_stripe import FakePrice, FakeStripe, sign_payload


class Raw(str):
    """JSON text written as is: the tokens `json.dumps` will not write for us."""


DEEP_LIST = Raw("[" * 200 + "]" * 200)
DEEP_OBJECT = Raw('{"a":' * 200 + "1" + "}" * 200)
NON_FINITE = [Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e400"), Raw("-1E+999")]
BAD_TEXT = ["\ud800", "a\udc00b", "\udbff", "\x00", "nul\x00inside"]
HOSTILE_VALUES: list[Any] = [
    *NON_FINITE,
    *BAD_TEXT,
    Raw("1" * 5000),  # an integer Python refuses to convert
    2**70,
    -(2**63) - 1,
    1e308,
    "x" * 20_000,
    DEEP_LIST,
    DEEP_OBJECT,
]
HOSTILE = st.sampled_from(HOSTILE_VALUES)
HOSTILE_KEYS = st.sampled_from(["\ud800", "k\udfff", "\x00", "a" * 300])
# Whole bodies, for the explicit examples every endpoint gets.
HOSTILE_BODIES: list[str | bytes] = [
    '{"settings": {"k": 1e400}}',
    '{"display_name": NaN}',
    '{"email": Infinity, "auth_key": -Infinity}',
    '{"display_name": "a\\ud800b"}',
    '{"settings": {"\\ud800": 1}}',
    '{"a": {"b": ["\\udc00"]}}',
    '{"display_name": "a\\u0000"}',
    DEEP_LIST,
    b'{"display_name": "\xed\xa0\x80"}',  # a surrogate encoded as (invalid) UTF-8
]
HOSTILE_PATHS = ["\x00", "\ud800", "a\udc00", "x" * 300, "..", "%"]

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
)
ANY_JSON = st.recursive(
    JSON_SCALARS | HOSTILE,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | HOSTILE_KEYS, inner, max_size=4)
    ),
    max_leaves=10,
)
_counter = itertools.count()


def to_json_text(value: Any) -> str:
    """JSON text of `value`, with Raw pieces as they are; `json.dumps` writes lone
    surrogates and NUL as the escapes `\\ud800` and `\\u0000` (ASCII only)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}:{to_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json_text(v) for v in value) + "]"
    if isinstance(value, float) and value != value:  # st.floats(allow_nan=False) anyway
        return "0"
    return json.dumps(value)


def percent(value: str) -> str:
    # Lone surrogates as the UTF-8-like bytes an attacker would send (%ED%A0%80).
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
_counter = itertools.count()


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kind == "object" and "additionalProperties" in schema and "properties" not in schema:
        return st.dictionaries(
            from_schema(schema.get("propertyNames", {"type": "string", "maxLength": 20})),
            from_schema(schema["additionalProperties"]),
            max_size=5,
        )
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if kind == "object" and "properties" in schema:
        props = {k: from_schema(v) for k, v in schema["properties"].items()}
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={k: v for k, v in props.items() if k not in required},
        )
    if kind == "string":
        if schema.get("format") == "email":
            return st.emails().filter(lambda e: len(e) <= 254)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: len(s) <= schema.get("maxLength", 10**6)
            )
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 100), 200)
        )
    if kind == "integer":
        return st.integers(schema["minimum"], schema["maximum"])
    return ANY_JSON


def plant(value: Any, choices: list[int], hostile: Any) -> Any:
    """`value` with `hostile` in place of one of its values, descending into objects as
    far as `choices` goes (so `{"settings": {"k": 1e400}}` is reachable)."""
    if isinstance(value, dict) and value and choices:
        key = list(value)[choices[0] % len(value)]
        return {**value, key: plant(value[key], choices[1:], hostile)}
    return hostile


WEBHOOK_EVENT = st.fixed_dictionaries(
    {
        "object": st.just("event"),
        "id": st.text(max_size=20) | HOSTILE,
        "type": st.sampled_from(["customer.subscription.updated", "invoice.paid"]) | HOSTILE,
        "created": st.integers(0, 2**40) | HOSTILE,
        "data": st.fixed_dictionaries(
            {
                "object": st.fixed_dictionaries(
                    {
                        "object": st.just("subscription"),
                        "id": st.text(max_size=20) | HOSTILE | ANY_JSON,
                        "customer": st.text(max_size=20) | HOSTILE | ANY_JSON,
                    }
                )
            }
        ),
    }
)


def body_strategy(endpoint: Endpoint) -> st.SearchStrategy[Any]:
    if endpoint.path == "/api/billing/webhook":
        return WEBHOOK_EVENT | ANY_JSON
    if endpoint.body is None:
        return st.none() | ANY_JSON
    valid = from_schema(endpoint.body)
    mutated = st.tuples(valid, st.text(max_size=12) | HOSTILE_KEYS, ANY_JSON).map(
        lambda t: {**t[0], t[1]: t[2]} if isinstance(t[0], dict) else t[0]
    )
    planted = st.tuples(
        valid,
        st.lists(st.integers(0, 20), max_size=3),
        HOSTILE | HOSTILE_KEYS.map(lambda k: {k: 1}),
    ).map(lambda t: plant(*t))
    retyped = st.tuples(valid, st.lists(st.integers(0, 20), max_size=3), ANY_JSON).map(
        lambda t: plant(*t)
    )
    return st.one_of(valid, mutated, planted, retyped, ANY_JSON)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fuzz_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    tmp = tmp_path_factory.mktemp("fuzz")
    # Billing on, against the fake Stripe, so the billing handlers are reached too.
    prices = {"price_fuzz_m": FakePrice("price_fuzz_m", "month", 500)}
    prices["price_fuzz_y"] = FakePrice("price_fuzz_y", "year", 4800)
    with (
        FakeStripe.running("sk_test_fuzz", prices) as fake,
        database_url(request.param, tmp) as url,
        run_api(
            url,
            tmp,
            env={
                "LOGIN_FREE_ATTEMPTS": "1000",
                "STRIPE_SECRET_KEY": "sk_test_fuzz",
                "STRIPE_WEBHOOK_SECRET": "whsec_fuzz",
                "STRIPE_PRICE_PRO_MONTHLY": "price_fuzz_m",
                "STRIPE_PRICE_PRO_YEARLY": "price_fuzz_y",
                "STRIPE_API_BASE": fake.base_url,
                # The creators' endpoints look names up here (missing: 503, a fair answer
                # that the fuzzer would count as a server error).
                "STATS_DB_PATH": str(sitedata.hand_made(tmp / "stats.duckdb")),
            },
        ) as api,
    ):
        yield api


@dataclass
class Holder:
    """The fuzzing browser: one signed-in account, replaced when a request ends it."""

    api: RunningApi
    client: Client | None = None
    account: Account | None = None
    unsure: bool = True  # a request may have ended the session: look before reusing it

    def signed_in(self) -> Client:
        if self.client is not None and not self.unsure:
            return self.client
        self.unsure = False
        if self.client is not None and self.client.get("/api/me").status_code == 200:
            return self.client
        if self.client is not None and self.account is not None:
            self.client.login(self.account)  # signed out or session revoked: sign in again
            return self.client
        self.account = Account(f"fuzz{next(_counter)}@example.com", "pw")
        self.client = self.api.client().signed_up(self.account)
        return self.client

    def assert_still_usable(self) -> None:
        """The normal browser flow still works for the account: prelogin, POST
        /api/auth/login (asserted 200 by Client.login), /api/me and the export."""
        assert self.account is not None
        fresh = self.api.client()
        try:
            fresh.login(self.account)
            for path in ("/api/me", "/api/me/export"):
                response = fresh.get(path)
                assert response.status_code == 200, (path, response.text[:300])
        finally:
            fresh.close()
            self.api.clients.remove(fresh)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}  # 402 tier_limit adds the limit's details
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


def send(
    api: RunningApi,
    holder: Holder,
    endpoint: Endpoint,
    body: Any,
    query: dict[str, str],
    path_value: str,
    with_session: bool,
    content_type: str,
) -> None:
    """One request; afterwards, if it was an accepted write of a signed-in user, prove the
    account is not bricked."""
    http = holder.signed_in() if with_session else api.client()
    path = re.sub(r"\{\w+\}", percent(path_value) or "x", endpoint.path)
    if query:
        path += "?" + "&".join(f"{percent(k)}={percent(v)}" for k, v in query.items())
    headers = {"Content-Type": content_type} if content_type else {}
    content: bytes | None = None
    if body is not None:
        content = body if isinstance(body, bytes) else to_json_text(body).encode()
    if endpoint.path == "/api/billing/webhook" and content is not None and with_session:
        # Half the webhook examples are correctly signed: they reach the event parsing.
        headers["Stripe-Signature"] = sign_payload(content, "whsec_fuzz")
    response = http.request(endpoint.method, path, content=content, headers=headers)
    check(response)
    accepted_write = response.status_code < 300 and endpoint.method not in {"GET", "HEAD"}
    holder.unsure |= with_session and (accepted_write or response.status_code == 401)
    if with_session and accepted_write:
        if (endpoint.method, endpoint.path) == ("DELETE", "/api/me"):
            holder.client = holder.account = None  # gone, as asked: the next one signs up
        else:
            holder.assert_still_usable()


ENDPOINTS = all_endpoints()


def _example(
    endpoint: Endpoint, body: Any, query: dict[str, str], path_value: str, session: bool
) -> Any:
    return example(
        endpoint=endpoint,
        body=body,
        query=query,
        path_value=path_value,
        with_session=session,
        content_type="application/json",
    )


def hostile_examples(test: Any) -> Any:
    """Every endpoint: each hostile body (signed in, JSON content type), and hostile path
    values and query strings, as explicit examples run before the random ones."""
    for endpoint in ENDPOINTS:
        # A body-less endpoint does not parse its body: two hostile ones are enough.
        for body in HOSTILE_BODIES if endpoint.body is not None else HOSTILE_BODIES[:4:3]:
            test = _example(endpoint, body, {}, "x", True)(test)
        for value in HOSTILE_PATHS if "{" in endpoint.path else []:
            test = _example(endpoint, None, {}, value, True)(test)
        for name in endpoint.query:
            for value in ["\x00", "\ud800", "a\udc00", "y" * 400]:
                test = _example(endpoint, None, {name: value}, "x", False)(test)
    return test


@pytest.mark.e2e  # the fuzz fixture starts the fake Stripe server
def test_the_fuzz_covers_every_documented_operation(fuzz_api: RunningApi) -> None:
    documented = fuzz_api.client().get("/api/openapi.json").json()["paths"]
    operations = {(m.upper(), p) for p, ops in documented.items() for m in ops}
    assert operations == {(ep.method, ep.path) for ep in ENDPOINTS}


@pytest.mark.slow
def test_no_500_and_no_bricked_account_on_random_and_hostile_input(
    fuzz_api: RunningApi,
) -> None:
    holder = Holder(fuzz_api)

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @hostile_examples
    @given(
        endpoint=st.sampled_from(ENDPOINTS),
        body=st.data(),
        query=st.dictionaries(
            st.sampled_from(["email", "since", "x"]),
            st.text(max_size=300) | st.sampled_from(BAD_TEXT),
            max_size=2,
        ),
        path_value=st.text(max_size=80) | st.sampled_from(HOSTILE_PATHS),
        with_session=st.booleans(),
        content_type=st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", ""]
        ),
    )
    def run(
        endpoint: Endpoint,
        body: Any,
        query: dict[str, str],
        path_value: str,
        with_session: bool,
        content_type: str,
    ) -> None:
        if isinstance(body, st.DataObject):
            body = body.draw(body_strategy(endpoint), label="body")
        send(fuzz_api, holder, endpoint, body, query, path_value, with_session, content_type)

    run()


@pytest.mark.slow
@given(
    path=st.text(max_size=60),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_no_500_on_random_paths(
    tmp_path_factory: pytest.TempPathFactory, path: str, method: str
) -> None:
    api = _shared_sqlite(tmp_path_factory)
    with api.http() as http:
        response = http.request(method, "/api/" + quote(path, safe="/"))
    assert response.status_code < 500


_SHARED: dict[str, Any] = {}


def _shared_sqlite(factory: pytest.TempPathFactory) -> RunningApi:
    if "api" not in _SHARED:
        tmp: Path = factory.mktemp("paths")
        manager = run_api(f"sqlite:///{tmp / 'a.sqlite3'}", tmp)
        _SHARED["manager"] = manager
        _SHARED["api"] = manager.__enter__()
    api: RunningApi = _SHARED["api"]
    return api


def teardown_module() -> None:
    if "manager" in _SHARED:
        _SHARED.pop("manager").__exit__(None, None, None)
        _SHARED.clear()
