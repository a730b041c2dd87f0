"""Promises of the privacy policy (content/privacy.md) that no other test holds: what the
database stores is only what §1 names, only mail and payments talk to other services
(§3, §7.4, §7.5), a changed policy carries a new date (§10), and every page links to the
contact the policy sends requests to (§11). The map of every clause
to its tests is tests/privacy/clauses.py."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import pytest

from api.db import Conn, Database
from sorastats.site.config import RenderConfig
from tests.support.paths import ROOT

POLICY = ROOT / "content" / "privacy.md"

# §1's kinds of data, and the §7 prompt data, by table and column. A new table or column
# fails the test until it is placed here (and, if it is a new kind, in the policy).
ACCOUNT = "account details"
USAGE = "usage details (sessions)"
METRICS = "usage details (pages viewed, features used, web vitals; a daily visitor hash)"
DEVICE = "device and technical details"
BILLING = "subscription and billing status"
PROMPTS = "prompt data (section 7)"
CLAIMS = "creator claims and requests"
NONE = "no personal data"
STORED: dict[str, tuple[str, tuple[str, ...]]] = {
    "schema_migrations": (NONE, ("version", "name", "applied_at")),
    "users": (ACCOUNT, ("id", "email", "email_verified_at", "pending_email", "display_name",
                        "settings", "auth_hash", "kdf", "wrapped_user_key", "recovery_hash",
                        "recovery_kdf", "recovery_wrapped_user_key", "created_at",
                        "updated_at", "password_changed_at", "restricted_at")),
    "sessions": (USAGE, ("id", "token_hash", "user_id", "method", "device", "created_at",
                         "last_seen_at", "auth_at")),
    "email_tokens": (ACCOUNT, ("nonce_hash", "user_id", "purpose", "email", "created_at",
                               "expires_at")),
    "throttle": (DEVICE, ("key", "failures", "last_failure_at", "blocked_until")),
    "vault_reservations": (PROMPTS, ("id", "user_id", "kind", "created_at", "expires_at")),
    "prompts": (PROMPTS, ("id", "user_id", "wrapped_item_key", "post_id", "favorite",
                          "version", "created_at", "updated_at")),
    "prompt_versions": (PROMPTS, ("prompt_id", "user_id", "version", "title", "body",
                                  "notes", "restored_from", "created_at")),
    "tags": (PROMPTS, ("id", "user_id", "name", "created_at", "updated_at")),
    "prompt_tags": (PROMPTS, ("prompt_id", "tag_id", "user_id", "created_at")),
    "favorites": (PROMPTS, ("user_id", "post_id", "created_at")),
    "prompt_tombstones": (PROMPTS, ("user_id", "prompt_id", "deleted_at")),
    "stripe_customers": (BILLING, ("user_id", "customer_id", "created_at")),
    "subscriptions": (BILLING, ("user_id", "subscription_id", "customer_id", "status",
                                "price_id", "current_period_end", "cancel_at_period_end",
                                "cancel_at", "created", "as_of", "updated_at")),
    "stripe_events": (BILLING, ("event_id", "type", "outcome", "received_at")),
    "metrics_salts": (NONE, ("day", "salt", "created_at")),
    "metrics_events": (METRICS, ("day", "at", "visitor", "name", "path", "value")),
    "metrics_days": (METRICS, ("day", "events", "visitors", "page_views", "aggregated_at")),
    "metrics_daily": (METRICS, ("day", "name", "path", "events", "visitors")),
    "metrics_vitals": (METRICS, ("day", "name", "samples", "p75")),
    "creator_claims": (CLAIMS, ("id", "user_id", "creator_id", "username", "code", "evidence",
                                "status", "reason", "created_at", "expires_at", "decided_at")),
    "published_prompts": (PROMPTS, ("post_id", "user_id", "creator_id", "prompt",
                                    "created_at", "updated_at")),
    "hidden_targets": (NONE, ("kind", "target_id", "label", "erased", "source", "created_at")),
    # Creators and videos the user watches (public ids): details given with the account.
    "watchlist": (ACCOUNT, ("user_id", "kind", "target_id", "created_at", "seen_at")),
    "removal_requests": (CLAIMS, ("id", "kind", "target_id", "target", "reason", "email",
                                  "status", "created_at", "decided_at")),
}  # fmt: skip


def test_every_stored_column_is_a_kind_the_policy_names(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    try:
        db.migrate()

        def schema(conn: Conn) -> dict[str, tuple[str, ...]]:
            tables = conn.all("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {
                t["name"]: tuple(c["name"] for c in conn.all(f"PRAGMA table_info({t['name']})"))
                for t in tables
                if not str(t["name"]).startswith("sqlite_")
            }

        found = db.call(schema, write=False)
    finally:
        db.close()
    assert found == {table: columns for table, (_kind, columns) in STORED.items()}
    policy = POLICY.read_text(encoding="utf-8")
    for needle in ("Account details", "Usage details", "Device and technical details",
                   "Subscription and billing status", "## 7. Prompt data",
                   "Creator claims and requests"):  # fmt: skip
        assert needle in policy


# Modules that may open connections to other services, and what for. Anything else in
# api/ or sorastats/ that imports a network client fails the test.
ALLOWED_CLIENTS = {
    "api/mail.py": "SMTP: account mail (links, notices)",
    "api/billing/stripe_gateway.py": "Stripe: checkout, portal, subscriptions",
    "sorastats/client.py": "the fetcher: public Sora feeds (reads, sends no user data)",
    "sorastats/media.py": "the fetcher's media: public Sora thumbnails and pictures (reads)",
    "sorastats/nightly.py": "the operator's alert webhook (a run report, no user data)",
    "sorastats/contributions.py": "the build reads the API's public export (its own server)",
    "sorastats/deploy/bucket.py": "object storage: uploads the public static site",
    "sorastats/tls.py": "the TLS context the HTTP clients above share (no connection itself)",
}
NETWORK_MODULES = {"httpx", "requests", "urllib.request", "smtplib", "aiosmtplib", "stripe",
                   "boto3", "botocore", "http.client", "socket", "aiohttp"}  # fmt: skip


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_mail_and_payments_talk_to_other_services() -> None:
    talking = {}
    for package in ("api", "sorastats"):
        for path in sorted((ROOT / package).rglob("*.py")):
            hits = {
                name for name in _imports(path)
                if name in NETWORK_MODULES or name.split(".")[0] in {"httpx", "stripe", "boto3"}
            }  # fmt: skip
            if hits:
                talking[path.relative_to(ROOT).as_posix()] = sorted(hits)
    unexpected = sorted(set(talking) - set(ALLOWED_CLIENTS))
    assert unexpected == [], f"talk to other services, not in the policy's list: {unexpected}"
    # No module that handles vault data is among them.
    assert not any(path.startswith("api/vault/") for path in talking)


# §10: the policy's text (without its date line) and the date it carries. Change the
# policy, and this test fails until the date and the hash below are updated together.
POLICY_DATE = "December 7, 2026"
POLICY_SHA256 = "3950e8560cbb8dc1d8c359dbb84314f8de168c072830dc29bbca769448e9c233"


def test_a_changed_policy_has_a_new_date() -> None:
    text = POLICY.read_text(encoding="utf-8")
    dated = re.search(r"^Last updated: (.+)$", text, re.M)
    assert dated is not None and dated[1] == POLICY_DATE
    body = re.sub(r"^Last updated: .*$", "", text, flags=re.M)
    assert hashlib.sha256(body.encode()).hexdigest() == POLICY_SHA256, (
        "content/privacy.md changed: update its 'Last updated' date, then POLICY_DATE and "
        "POLICY_SHA256 here"
    )


# §11: the policy sends privacy requests to the Contact link of every page's footer, which
# the operator sets with `--contact` (the nightly unit of deploy/ does).
@pytest.mark.parametrize(
    ("contact", "href"),
    [("privacy@sorastats.example", "mailto:privacy@sorastats.example"),
     ("https://help.sorastats.example/privacy", "https://help.sorastats.example/privacy")],
)  # fmt: skip
def test_every_page_links_to_the_contact_the_policy_names(contact: str, href: str) -> None:
    from sorastats.site.templating import asset_map, make_env

    templates = ROOT / "templates"
    env = make_env(templates, "https://sorastats.example", asset_map(templates / "static"), contact)
    page = env.get_template("404.html").render(page={"url": "/404.html"})
    assert f'<li><a href="{href}">Contact</a></li>' in page
    bare = make_env(templates, "https://sorastats.example", asset_map(templates / "static"))
    assert ">Contact<" not in bare.get_template("404.html").render(page={"url": "/404.html"})
    assert "**Contact** link at the foot of every page" in POLICY.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "contact", ["not an address", "http://plain.example/", "a@b", "javascript:alert(1)",
                'x@y.z" onclick="'],
)  # fmt: skip
def test_a_contact_that_is_not_an_address_or_https_url_is_refused(contact: str) -> None:
    with pytest.raises(ValueError, match="--contact must be"):
        RenderConfig(db=Path("x.duckdb"), contact=contact)


def test_the_contact_is_part_of_the_output_fingerprint() -> None:
    plain = RenderConfig(db=Path("x.duckdb"))
    assert RenderConfig(db=Path("x.duckdb"), contact="a@b.example").fingerprint() != (
        plain.fingerprint()
    )


def test_the_deployed_nightly_sets_a_contact() -> None:
    unit = (ROOT / "deploy" / "systemd" / "sorastats-nightly.service").read_text()
    assert re.search(r"^ExecStart=.* --contact \S+", unit, re.M)
    # and reads creators' decisions, which check that address against the API's
    assert re.search(r"^ExecStart=.* --contributions http\S+", unit, re.M)


def test_render_with_a_bad_contact_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sorastats.cli import main

    code = main(["render", "--db", str(tmp_path / "x.duckdb"), "--out", str(tmp_path / "s"),
                 "--contact", "javascript:alert(1)"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--contact must be an email address" in err
    assert not (tmp_path / "s").exists()
