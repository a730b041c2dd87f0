"""Settings read from the environment: one declarative table (documented in docs/ingest.md,
checked by a test), strict casts, and a clear error naming a bad value."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None
    cast: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SORA_TOKEN", None, str, "bearer token for fetch; never printed, logged or stored"),
    Setting("SORASTATS_TIMEOUT_S", "30", _positive_float, "connect and read timeout, seconds"),
    Setting("SORASTATS_RETRIES", "5", _count, "retries of one request (429, 5xx, timeouts)"),
    Setting("SORASTATS_BACKOFF_S", "3", _positive_float, "first backoff; doubles per retry"),
    Setting("SORASTATS_MAX_WAIT_S", "300", _positive_float, "cap on one wait (Retry-After)"),
    Setting("SORASTATS_NOW", None, _utc_time, "fixed capture clock (ISO 8601 UTC), for tests"),
    Setting("SORASTATS_SOURCES", None, str, "nightly's sources: paths and URLs, space-separated"),
)


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


def load(env: Mapping[str, str] | None = None) -> FetchConfig:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.env) or setting.default
        if raw is None:
            values[setting.env] = None
            continue
        try:
            values[setting.env] = setting.cast(raw)
        except ValueError as exc:
            shown = "(hidden)" if setting.env == "SORA_TOKEN" else repr(raw)
            raise ConfigError(f"{setting.env}={shown} is invalid: {exc}") from None
    return FetchConfig(
        token=values["SORA_TOKEN"],
        timeout_s=values["SORASTATS_TIMEOUT_S"],
        retries=values["SORASTATS_RETRIES"],
        backoff_s=values["SORASTATS_BACKOFF_S"],
        max_wait_s=values["SORASTATS_MAX_WAIT_S"],
        now=values["SORASTATS_NOW"],
    )
