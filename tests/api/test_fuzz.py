"""Property-based: random and almost-valid input to every endpoint never gets a 500, and
every error is the JSON error shape. Bodies are drawn from each endpoint's own request
schema (the one in /api/openapi.json), then mutated, so the handlers are reached too."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import all_endpoints
from api.endpoints import Endpoint
from tests.support.api_client import Account, Client
from tests.support.api_server import RunningApi, database_url, run_api
from tests.support.fake_stripe import FakePrice, FakeStripe

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
        return st.floats(allow_nan=False, allow_infinity=False)
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


def body_strategy(endpoint: Endpoint) -> st.SearchStrategy[Any]:
    if endpoint.body is None:
        return st.none() | ANY_JSON
    valid = from_schema(endpoint.body)
    mutated = st.tuples(valid, st.text(max_size=12), ANY_JSON).map(
        lambda t: {**t[0], t[1]: t[2]} if isinstance(t[0], dict) else t[0]
    )
    retyped = st.tuples(valid, ANY_JSON).map(
        lambda t: (
            {k: (t[1] if i == 0 else v) for i, (k, v) in enumerate(t[0].items())}
            if isinstance(t[0], dict)
            else t[0]
        )
    )
    return st.one_of(valid, mutated, retyped, ANY_JSON)


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
            LOGIN_FREE_ATTEMPTS="1000",
            STRIPE_SECRET_KEY="sk_test_fuzz",
            STRIPE_WEBHOOK_SECRET="whsec_fuzz",
            STRIPE_PRICE_PRO_MONTHLY="price_fuzz_m",
            STRIPE_PRICE_PRO_YEARLY="price_fuzz_y",
            STRIPE_API_BASE=fake.base_url,
        ) as api,
    ):
        yield api


def signed_in(api: RunningApi) -> Client:
    client = api.client()
    client.signed_up(Account(f"fuzz{next(_counter)}@example.com", "pw"))
    return client


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"]["code"], str)


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", all_endpoints(), ids=lambda ep: f"{ep.method} {ep.path}")
def test_no_500_on_random_input(fuzz_api: RunningApi, endpoint: Endpoint) -> None:
    holder: dict[str, Client] = {}

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(
        body=body_strategy(endpoint),
        query=st.dictionaries(
            st.sampled_from(["email", "since", "x"]), st.text(max_size=300), max_size=2
        ),
        path_value=st.text(max_size=80),
        with_session=st.booleans(),
        content_type=st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", ""]
        ),
    )
    def run(
        body: Any, query: dict[str, str], path_value: str, with_session: bool, content_type: str
    ) -> None:
        client = None
        if with_session:
            client = holder.get("c")
            if client is None or client.get("/api/me").status_code != 200:
                client = holder["c"] = signed_in(fuzz_api)
        http = client or fuzz_api.client()
        path = re.sub(r"\{\w+\}", quote(path_value, safe="") or "x", endpoint.path)
        if endpoint.query and "email" not in query and body is not None:
            query = {**query, "email": str(body)[:60]}
        headers = {"Content-Type": content_type} if content_type else {}
        content = None if body is None else json.dumps(body).encode()
        response = http.request(
            endpoint.method, path, params=query, content=content, headers=headers
        )
        check(response)

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
