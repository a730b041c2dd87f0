"""Settings of the accounts API, read from the environment.

`SETTINGS` is the one declarative table: it drives loading (strict casts, defaults), the
`python -m api settings` listing and the generated table in docs/api.md (a test checks
it). Outside dev mode a missing or weak setting stops the start with a
`ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api.billing.config import BILLING_SETTINGS, BillingConfigError, StripeSettings


class ConfigError(Exception):
    """A setting is missing, malformed or too weak; the message names it."""


def cast_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def cast_int(text: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("-").isdigit():
        raise ValueError("expected a whole number")
    return int(stripped)


def cast_str(text: str) -> str:
    return text


def cast_emails(text: str) -> tuple[str, ...]:
    emails = tuple(sorted({part.strip().lower() for part in text.split(",") if part.strip()}))
    for address in emails:
        local, at, domain = address.partition("@")
        if not (local and at and "." in domain) or any(c.isspace() for c in address):
            raise ValueError(f"expected comma-separated email addresses ({address!r} is not)")
    return emails


def cast_email(text: str) -> str:
    """One email address, or empty."""
    emails = cast_emails(text)
    if len(emails) > 1:
        raise ValueError("expected one email address")
    return emails[0] if emails else ""


def cast_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("expected an absolute http:// or https:// URL")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("expected an origin only, e.g. https://sorastats.example")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: no default (required unless dev mode supplies one)
    cast: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DEV_MODE",
        "0",
        cast_bool,
        "Development mode: generates SECRET_KEY into DATA_DIR, writes mail to MAIL_OUTBOX, "
        "names the cookie `sid` over http, applies migrations at start. `make run` sets it.",
    ),
    Setting(
        "DATA_DIR",
        "data",
        cast_str,
        "Folder for the default SQLite database, the dev-mode secret key and outbox.",
    ),
    Setting(
        "DATABASE_URL",
        None,
        cast_str,
        "`sqlite:///path/file.sqlite3` or `postgresql://user:pass@host:port/db`. "
        "Default: SQLite file `DATA_DIR/accounts.sqlite3`.",
    ),
    Setting(
        "SECRET_KEY",
        None,
        cast_str,
        "Signs email links, derives CSRF tokens and made-up prelogin answers. At least 32 "
        "characters; required outside dev mode (dev mode generates `DATA_DIR/secret_key`).",
    ),
    Setting(
        "BASE_URL",
        "http://127.0.0.1:8000",
        cast_url,
        "Public origin of the site: links in mail, the allowed `Origin`. Must be https:// "
        "outside dev mode.",
    ),
    Setting(
        "MAIL_FROM", "SoraStats <no-reply@sorastats.invalid>", cast_str, "Sender of account mail."
    ),
    Setting(
        "MAIL_OUTBOX",
        None,
        cast_str,
        "Folder where each mail is written as one `.eml` file instead of being sent "
        "(default `DATA_DIR/outbox` in dev mode; unset otherwise).",
    ),
    Setting(
        "SMTP_HOST",
        "",
        cast_str,
        "SMTP server for account mail. Outside dev mode SMTP_HOST or MAIL_OUTBOX is required.",
    ),
    Setting("SMTP_PORT", "587", cast_int, "SMTP port."),
    Setting("SMTP_USERNAME", "", cast_str, "SMTP user name (empty: no login)."),
    Setting("SMTP_PASSWORD", "", cast_str, "SMTP password."),
    Setting("SMTP_STARTTLS", "1", cast_bool, "Use STARTTLS with the SMTP server."),
    Setting(
        "MAX_BODY_BYTES",
        "262144",
        cast_int,
        "Largest request body accepted; larger ones get 413 `body_too_large`.",
    ),
    Setting(
        "KDF_ITERATIONS",
        "600000",
        cast_int,
        "PBKDF2 iterations: the minimum accepted at registration and the count in made-up "
        "prelogin answers. Below 600000 only in dev mode (tests lower it for speed).",
    ),
    Setting("ARGON2_TIME_COST", "3", cast_int, "argon2id passes over the auth key."),
    Setting(
        "ARGON2_MEMORY_KIB",
        "65536",
        cast_int,
        "argon2id memory in KiB (at least 19456 outside dev mode).",
    ),
    Setting("ARGON2_PARALLELISM", "1", cast_int, "argon2id lanes."),
    Setting(
        "LOGIN_FREE_ATTEMPTS",
        "5",
        cast_int,
        "Failed sign-ins per account before exponential backoff starts (per IP: 4x this).",
    ),
    Setting(
        "LOGIN_MAX_BACKOFF_SECONDS",
        "900",
        cast_int,
        "Longest wait the backoff imposes; attempts never lock an account for good.",
    ),
    Setting(
        "VAULT_MAX_PROMPTS",
        "5000",
        cast_int,
        "Hard cap on private prompts per account, whatever the tier (402 limits come first).",
    ),
    Setting("VAULT_MAX_VERSIONS", "1000", cast_int, "Versions kept per private prompt."),
    Setting("VAULT_MAX_TAGS", "500", cast_int, "Tags per account."),
    Setting(
        "STATS_DB_PATH",
        "data/sorastats.duckdb",
        cast_str,
        "The ingest DuckDB file, opened read-only for Pro's CSV export of creator stats.",
    ),
    Setting(
        "ADMIN_EMAILS",
        "",
        cast_emails,
        "Comma-separated email addresses of the accounts that may read /admin/metrics/ "
        "(verified, not restricted). Empty: nobody; everyone else gets the 404 of an "
        "unknown page.",
    ),
    Setting(
        "BUILD_TOKEN",
        "",
        cast_str,
        "Bearer token of the site build for `GET /api/build/public-contributions` and "
        "`POST /api/build/claim-matches` (the build's SORASTATS_BUILD_TOKEN; 32+ "
        "characters). Empty: both answer 404.",
    ),
    Setting(
        "SUPPORT_EMAIL",
        "",
        cast_email,
        "Where people write about the site (named in removal-request mail; the build "
        "export hands it to `build.py --contributions`, which shows it in the footer "
        "and on /contact/).",
    ),
    # Stripe: the rows of api/billing/config.py's table, so there is one settings table.
    *(Setting(b.name, b.default, cast_str, b.help) for b in BILLING_SETTINGS),
)


@dataclass(frozen=True)
class Settings:
    DEV_MODE: bool
    DATA_DIR: str
    DATABASE_URL: str
    SECRET_KEY: str
    BASE_URL: str
    MAIL_FROM: str
    MAIL_OUTBOX: str
    SMTP_HOST: str
    SMTP_PORT: int
    SMTP_USERNAME: str
    SMTP_PASSWORD: str
    SMTP_STARTTLS: bool
    MAX_BODY_BYTES: int
    KDF_ITERATIONS: int
    ARGON2_TIME_COST: int
    ARGON2_MEMORY_KIB: int
    ARGON2_PARALLELISM: int
    LOGIN_FREE_ATTEMPTS: int
    LOGIN_MAX_BACKOFF_SECONDS: int
    VAULT_MAX_PROMPTS: int
    VAULT_MAX_VERSIONS: int
    VAULT_MAX_TAGS: int
    STATS_DB_PATH: str
    ADMIN_EMAILS: tuple[str, ...]
    BUILD_TOKEN: str
    SUPPORT_EMAIL: str
    STRIPE_SECRET_KEY: str
    STRIPE_WEBHOOK_SECRET: str
    STRIPE_PRICE_PRO_MONTHLY: str
    STRIPE_PRICE_PRO_YEARLY: str
    STRIPE_API_BASE: str

    @property
    def secure_cookies(self) -> bool:
        return not (self.DEV_MODE and self.BASE_URL.startswith("http://"))

    @property
    def session_cookie(self) -> str:
        return "__Host-sid" if self.secure_cookies else "sid"

    @property
    def stripe(self) -> StripeSettings:
        """The Stripe settings (checked by `load_settings`, so this cannot fail there)."""
        return StripeSettings.from_env({b.name: getattr(self, b.name) for b in BILLING_SETTINGS})

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _dev_secret(data_dir: Path) -> str:
    """The dev-mode secret: generated once, then reused so sessions survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name)
        if raw is None:
            values[setting.name] = (
                None if setting.default is None else setting.cast(setting.default)
            )
            continue
        try:
            values[setting.name] = setting.cast(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.name}: {exc} (got {raw!r})") from None
    dev = bool(values["DEV_MODE"])
    data_dir = Path(values["DATA_DIR"])
    if values["DATABASE_URL"] is None:
        values["DATABASE_URL"] = f"sqlite:///{data_dir / 'accounts.sqlite3'}"
    if values["SECRET_KEY"] is None:
        if not dev:
            raise ConfigError("SECRET_KEY is required outside dev mode (32+ random characters)")
        values["SECRET_KEY"] = _dev_secret(data_dir)
    if values["MAIL_OUTBOX"] is None:
        values["MAIL_OUTBOX"] = str(data_dir / "outbox") if dev else ""
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    try:
        s.stripe  # noqa: B018  (validates the STRIPE_* values; never echoes them)
    except BillingConfigError as exc:
        raise ConfigError(str(exc)) from None
    if not s.DATABASE_URL.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("DATABASE_URL must start with sqlite:/// or postgresql://")
    if s.MAX_BODY_BYTES < 1024:
        raise ConfigError("MAX_BODY_BYTES must be at least 1024")
    if s.LOGIN_FREE_ATTEMPTS < 1 or s.LOGIN_MAX_BACKOFF_SECONDS < 1:
        raise ConfigError("LOGIN_FREE_ATTEMPTS and LOGIN_MAX_BACKOFF_SECONDS must be positive")
    if min(s.VAULT_MAX_PROMPTS, s.VAULT_MAX_VERSIONS, s.VAULT_MAX_TAGS) < 1:
        raise ConfigError("VAULT_MAX_PROMPTS, VAULT_MAX_VERSIONS, VAULT_MAX_TAGS must be positive")
    if s.KDF_ITERATIONS < 1000:
        raise ConfigError("KDF_ITERATIONS must be at least 1000")
    if s.ARGON2_TIME_COST < 1 or s.ARGON2_MEMORY_KIB < 8 or s.ARGON2_PARALLELISM < 1:
        raise ConfigError("ARGON2_* settings must be positive (ARGON2_MEMORY_KIB >= 8)")
    if s.BUILD_TOKEN and (len(s.BUILD_TOKEN) < 32 or len(set(s.BUILD_TOKEN)) < 10):
        raise ConfigError("BUILD_TOKEN is too weak: use 32+ random characters (or leave it empty)")
    if s.DEV_MODE:
        return
    # Outside dev mode weak settings are refused rather than warned about.
    if len(s.SECRET_KEY) < 32 or len(set(s.SECRET_KEY)) < 10:
        raise ConfigError("SECRET_KEY is too weak: use 32+ random characters")
    if not s.BASE_URL.startswith("https://"):
        raise ConfigError("BASE_URL must be https:// outside dev mode")
    if not (s.SMTP_HOST or s.MAIL_OUTBOX):
        raise ConfigError("SMTP_HOST (or MAIL_OUTBOX) is required outside dev mode")
    if s.KDF_ITERATIONS < 600_000:
        raise ConfigError("KDF_ITERATIONS must be at least 600000 outside dev mode")
    if s.ARGON2_MEMORY_KIB < 19456 or s.ARGON2_TIME_COST < 2:
        raise ConfigError("ARGON2_MEMORY_KIB (>= 19456) / ARGON2_TIME_COST (>= 2) too weak")
