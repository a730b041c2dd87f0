from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest

from tests.support.api_client import Client
from tests.support.api_server import RunningApi, database_url, run_api

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with database_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[RunningApi]:
    with run_api(db_url, tmp_path) as running:
        yield running


@pytest.fixture
def start_api(db_url: str, tmp_path: Path) -> Iterator[Callable[..., RunningApi]]:
    """Start the API with extra settings: `start_api(LOGIN_FREE_ATTEMPTS="2")`."""
    with ExitStack() as stack:

        def start(**env: str) -> RunningApi:
            manager: AbstractContextManager[RunningApi] = run_api(db_url, tmp_path, env=env)
            return stack.enter_context(manager)

        yield start


@pytest.fixture
def client(api: RunningApi) -> Client:
    return api.client()
