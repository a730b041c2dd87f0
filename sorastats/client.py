"""The fetcher's HTTP client: timeouts, bounded retries with exponential backoff and
jitter honouring Retry-After, a request budget, and a token that never leaves the
Authorization header."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from sorastats.config import FetchConfig
from sorastats.tls import tls_context

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BODY_BYTES = 64 * 1024 * 1024  # one page; anything bigger is not a feed page


class FetchFailedError(RuntimeError):
    """The run cannot go on; the message is one line and never holds the token."""


class RequestBudgetSpentError(RuntimeError):
    """--max-requests was reached."""


def public_url(url: str) -> str:
    """The URL without userinfo, query or fragment: safe to store and print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def backoff_delay(
    attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random
) -> float:
    """base * 2^attempt with +-25 % jitter, capped."""
    return float(min(cap_s, base_s * (2**attempt) * (0.75 + 0.5 * rand())))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class SoraClient:
    def __init__(
        self,
        base_url: str,
        config: FetchConfig,
        *,
        max_requests: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.max_requests = max_requests
        self.requests = 0
        self.retries = 0
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": "sorastats-ingest/0.1"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,
            verify=tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        """GET base/path?params and parse JSON, retrying transient failures."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        reason = ""
        for attempt in range(self.config.retries + 1):
            if self.max_requests is not None and self.requests >= self.max_requests:
                raise RequestBudgetSpentError(f"stopped after {self.requests} requests")
            self.requests += 1
            wait: float | None = None
            try:
                response = self._http.get(url, params=params)
            except httpx.TimeoutException as exc:
                reason = f"timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                reason = f"connection error ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    body = response.content
                    if len(body) > MAX_BODY_BYTES:
                        raise FetchFailedError(f"{path}: response larger than 64 MiB")
                    try:
                        return orjson.loads(body)
                    except orjson.JSONDecodeError:
                        reason = "truncated or invalid JSON body"
                elif status in RETRY_STATUSES:
                    reason = f"HTTP {status}"
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                else:
                    raise FetchFailedError(f"{path}: HTTP {status} (not retried)")
            if attempt == self.config.retries:
                break
            self.retries += 1
            if wait is None:
                wait = backoff_delay(attempt, self.config.backoff_s, self.config.max_wait_s)
            self._sleep(min(wait, self.config.max_wait_s))
        raise FetchFailedError(
            f"{path}: gave up after {self.config.retries + 1} attempts; last: {reason}"
        )
