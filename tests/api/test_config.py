"""Settings: one table feeding loading and docs; strict casts; refusal of weak settings."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.__main__ import build_parser
from api.app import all_endpoints
from api.config import SETTINGS, ConfigError, Settings, load_settings
from api.endpoints import Endpoint
from tests.support.api_server import postgres_url_or_skip
from tests.support.cli import subcommand
from tests.support.paths import ROOT

# docs/api.md and docs/vault.md together document every endpoint.
API_SECTION = (ROOT / "docs" / "api.md").read_text() + (ROOT / "docs" / "vault.md").read_text()
GOOD = {
    "SECRET_KEY": "k3J9-vQ2_xL8pT5zR1mN7bW4cY6dF0hS",
    "SMTP_HOST": "smtp.example",
    "BASE_URL": "https://sorastats.example",
}


def test_table_matches_settings_class() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_documented(name: str) -> None:
    assert f"| `{name}` |" in API_SECTION


@pytest.mark.parametrize("command", ["migrate", "maintenance", "maintain", "serve", "settings"])
def test_every_command_documented(command: str) -> None:
    assert f"python -m api {command}" in API_SECTION


def test_every_serve_option_documented() -> None:
    serve = subcommand(build_parser(), "serve")
    for action in serve._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in API_SECTION, flag


@pytest.mark.parametrize("endpoint", all_endpoints(), ids=lambda ep: f"{ep.method} {ep.path}")
def test_every_endpoint_documented(endpoint: Endpoint) -> None:
    path = endpoint.path.split("{")[0].rstrip("/")
    assert re.search(re.escape(path), API_SECTION), path


def test_production_settings_load() -> None:
    settings = load_settings(GOOD)
    assert settings.session_cookie == "__Host-sid" and settings.secure_cookies
    assert settings.DATABASE_URL == "sqlite:///data/accounts.sqlite3"
    assert settings.MAIL_OUTBOX == ""


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "a" * 40}, "SECRET_KEY"),
        ({"BASE_URL": "http://sorastats.example"}, "BASE_URL"),
        ({"BASE_URL": "https://x.example/path"}, "BASE_URL"),
        ({"SMTP_HOST": None}, "SMTP_HOST"),
        ({"KDF_ITERATIONS": "1000"}, "KDF_ITERATIONS"),
        ({"ARGON2_MEMORY_KIB": "1024"}, "ARGON2_MEMORY_KIB"),
        ({"SMTP_PORT": "25x"}, "SMTP_PORT"),
        ({"DEV_MODE": "maybe"}, "DEV_MODE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"),
    ],
)
def test_missing_or_weak_setting_is_named(change: dict[str, str | None], named: str) -> None:
    changed = {**GOOD, **change}
    env = {k: v for k, v in changed.items() if v is not None}
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_dev_mode_generates_secret_once(tmp_path: Path) -> None:
    env = {"DEV_MODE": "1", "DATA_DIR": str(tmp_path)}
    first = load_settings(env)
    second = load_settings(env)
    assert len(first.SECRET_KEY) >= 32 and first.SECRET_KEY == second.SECRET_KEY
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.session_cookie == "sid" and first.MAIL_OUTBOX == str(tmp_path / "outbox")


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", *args],
        env={"PATH": "/usr/bin", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.e2e
def test_cli_refuses_start_without_secret(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "SMTP_HOST": "x", "BASE_URL": "https://s.example"}
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr


@pytest.mark.e2e
def test_cli_migrate_then_schema_check(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), **GOOD, "DATABASE_URL": f"sqlite:///{tmp_path}/a.sqlite3"}
    refused = run_cli("serve", "--port", "1", env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "python -m api migrate" in refused.stderr
    migrated = run_cli("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied migration 0001 accounts" in migrated.stdout
    again = run_cli("migrate", env=env, cwd=tmp_path)
    assert "0 applied" in again.stdout


@pytest.mark.e2e
def test_cli_lists_settings(tmp_path: Path) -> None:
    listed = run_cli("settings", env={"PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    for setting in SETTINGS:
        assert setting.name in listed.stdout


@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({"CI": "true"}, pytest.fail.Exception),
        ({"SORASTATS_TEST_ALL": "1"}, pytest.fail.Exception),  # what `make test` sets
        ({"CI": "false"}, pytest.skip.Exception),  # a bare local pytest run may skip
        ({}, pytest.skip.Exception),
    ],
)
def test_a_missing_test_database_fails_in_ci_and_make_test(
    env: dict[str, str], outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken PostgreSQL setup must not pass silently by skipping."""
    for name in ("TEST_DATABASE_URL", "SORASTATS_TEST_ALL", "CI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(outcome, match="TEST_DATABASE_URL"):
        postgres_url_or_skip()


@pytest.mark.e2e
def test_postgres_tests_fail_in_ci_without_database(tmp_path: Path) -> None:
    """The whole chain: a real `postgres` test, run by pytest under CI=true without a
    database, fails (the table above covers the other settings)."""
    unset = {"TEST_DATABASE_URL", "SORASTATS_TEST_ALL", "CI"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    target = "tests/api/test_lifecycle.py::test_schema_check[postgres]"
    # Its own --basetemp: pytest's default one would first delete old runs' temporary
    # folders (whole built sites), which took 25 s of this run's wall time.
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"--basetemp={tmp_path / 'pytest'}", target]  # fmt: skip
    in_ci = subprocess.run(
        args, env={**env, "CI": "true"}, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert in_ci.returncode == 1
    assert "TEST_DATABASE_URL is not set" in in_ci.stdout
