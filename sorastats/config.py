"""Settings read from the environment: one declarative table (documented in docs/ingest.md,
checked by a test), strict casts, and a clear error naming a bad value."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting in the environment has a value of the wrong kind."""


def _positive_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("must be a number >= 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be an integer >= 0")
    return value


def _utc_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def webhook_url(text: str) -> str:
    """An alert webhook: https, or plain http only to this machine (tests, development),
    since the summary and the URL's own token would otherwise cross the network in clear."""
    parts = urlsplit(text)
    if parts.scheme == "https" and parts.hostname:
        return text
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return text
    raise ValueError("must be an https URL (http only for 127.0.0.1 or localhost)")


def alert_on(text: str) -> str:
    if text not in ("failure", "always"):
        raise ValueError("must be 'failure' or 'always'")
    return text


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None
    cast: Callable[[str], Any]
    help: str


FETCH_SETTINGS: tuple[Setting, ...] = (
    Setting("SORA_TOKEN", None, str, "bearer token for fetch; never printed, logged or stored"),
    Setting("SORASTATS_TIMEOUT_S", "30", _positive_float, "connect and read timeout, seconds"),
    Setting("SORASTATS_RETRIES", "5", _count, "retries of one request (429, 5xx, timeouts)"),
    Setting("SORASTATS_BACKOFF_S", "3", _positive_float, "first backoff; doubles per retry"),
    Setting("SORASTATS_MAX_WAIT_S", "300", _positive_float, "cap on one wait (Retry-After)"),
    Setting("SORASTATS_NOW", None, _utc_time, "fixed capture clock (ISO 8601 UTC), for tests"),
    Setting("SORASTATS_SOURCES", None, str, "nightly's sources: paths and URLs, space-separated"),
)

# The nightly's alert (docs/deploy.md "Running the nightly unattended").
ALERT_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SORASTATS_ALERT_WEBHOOK",
        None,
        webhook_url,
        "nightly: POST a JSON summary here (https; http only to localhost); "
        "may hold a token: only its host is ever shown",
    ),
    Setting("SORASTATS_ALERT_ON", "failure", alert_on, "nightly: alert on `failure` or `always`"),
    Setting("SORASTATS_ALERT_TIMEOUT_S", "10", _positive_float, "nightly: alert POST timeout, s"),
    Setting("SORASTATS_ALERT_RETRIES", "2", _count, "nightly: alert POST retries"),
    Setting("SORASTATS_ALERT_BACKOFF_S", "2", _positive_float, "nightly: first retry wait, s"),
)

# `render|nightly --contributions URL` (sorastats/contributions.py, docs/creators.md).
CONTRIBUTIONS_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SORASTATS_BUILD_TOKEN",
        None,
        str,
        "bearer token for the API's contributions export (its BUILD_TOKEN); never shown",
    ),
)

# Secret settings: their values are never shown (in errors, reports or alerts).
SECRET_SETTINGS = frozenset({"SORA_TOKEN", "SORASTATS_ALERT_WEBHOOK", "SORASTATS_BUILD_TOKEN"})

SETTINGS: tuple[Setting, ...] = FETCH_SETTINGS + ALERT_SETTINGS + CONTRIBUTIONS_SETTINGS


@dataclass(frozen=True)
class FetchConfig:
    token: str | None
    timeout_s: float
    retries: int
    backoff_s: float
    max_wait_s: float
    now: datetime | None

    def __repr__(self) -> str:  # never show the token, even in a traceback
        token = "set" if self.token else "unset"
        return (
            f"FetchConfig(token={token}, timeout_s={self.timeout_s}, retries={self.retries}, "
            f"backoff_s={self.backoff_s}, max_wait_s={self.max_wait_s}, now={self.now})"
        )


@dataclass(frozen=True)
class AlertConfig:
    webhook: str | None
    on: str  # "failure" or "always"
    timeout_s: float
    retries: int
    backoff_s: float

    def __repr__(self) -> str:  # the webhook URL may hold a token: its host only
        return (
            f"AlertConfig(webhook={webhook_host(self.webhook)}, on={self.on}, "
            f"timeout_s={self.timeout_s}, retries={self.retries}, backoff_s={self.backoff_s})"
        )


def webhook_host(url: str | None) -> str:
    """What may be shown of a webhook URL: its host (and port), never path or query."""
    if not url:
        return "unset"
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname}{port}"


def _values(settings: tuple[Setting, ...], env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in settings:
        raw = env.get(setting.env) or setting.default
        if raw is None:
            values[setting.env] = None
            continue
        try:
            values[setting.env] = setting.cast(raw)
        except ValueError as exc:
            shown = "(hidden)" if setting.env in SECRET_SETTINGS else repr(raw)
            raise ConfigError(f"{setting.env}={shown} is invalid: {exc}") from None
    return values


def load_alert(env: Mapping[str, str] | None = None) -> AlertConfig:
    values = _values(ALERT_SETTINGS, os.environ if env is None else env)
    return AlertConfig(
        webhook=values["SORASTATS_ALERT_WEBHOOK"],
        on=values["SORASTATS_ALERT_ON"],
        timeout_s=values["SORASTATS_ALERT_TIMEOUT_S"],
        retries=values["SORASTATS_ALERT_RETRIES"],
        backoff_s=values["SORASTATS_ALERT_BACKOFF_S"],
    )


def load(env: Mapping[str, str] | None = None) -> FetchConfig:
    values = _values(FETCH_SETTINGS, os.environ if env is None else env)
    return FetchConfig(
        token=values["SORA_TOKEN"],
        timeout_s=values["SORASTATS_TIMEOUT_S"],
        retries=values["SORASTATS_RETRIES"],
        backoff_s=values["SORASTATS_BACKOFF_S"],
        max_wait_s=values["SORASTATS_MAX_WAIT_S"],
        now=values["SORASTATS_NOW"],
    )
