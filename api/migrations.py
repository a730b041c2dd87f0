"""Versioned schema migrations, the same for SQLite and PostgreSQL.

Append new migrations at the end with the next version number; never edit an applied one.
Every table holding a user's data must reference `users(id) ON DELETE CASCADE` so that
`DELETE /api/me` removes it in the same statement (a test reads the database file to
check). Times are Unix seconds in BIGINT columns; ids are TEXT.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: tuple[str, ...]
    # Per-dialect replacements of whole statements, by index into `sql`, for the rare
    # statement the two dialects cannot share.
    overrides: dict[str, dict[int, str]] = field(default_factory=dict)

    def statements(self, dialect: str) -> list[str]:
        swap = self.overrides.get(dialect, {})
        return [swap.get(i, stmt) for i, stmt in enumerate(self.sql)]


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "accounts",
        (
            """CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                email_verified_at BIGINT,
                pending_email TEXT,
                display_name TEXT NOT NULL DEFAULT '',
                settings TEXT NOT NULL DEFAULT '{}',
                auth_hash TEXT NOT NULL,
                kdf TEXT NOT NULL,
                wrapped_user_key TEXT NOT NULL,
                recovery_hash TEXT NOT NULL,
                recovery_kdf TEXT NOT NULL,
                recovery_wrapped_user_key TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                password_changed_at BIGINT NOT NULL
            )""",
            """CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL UNIQUE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                method TEXT NOT NULL,
                device TEXT NOT NULL DEFAULT '',
                created_at BIGINT NOT NULL,
                last_seen_at BIGINT NOT NULL,
                auth_at BIGINT NOT NULL
            )""",
            "CREATE INDEX sessions_user ON sessions (user_id)",
            """CREATE TABLE email_tokens (
                nonce_hash TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                purpose TEXT NOT NULL,
                email TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )""",
            "CREATE INDEX email_tokens_user ON email_tokens (user_id)",
            """CREATE TABLE throttle (
                key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                last_failure_at BIGINT NOT NULL,
                blocked_until BIGINT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "vault",
        (
            # Ids handed out before the client encrypts (the AD binds ciphertext to them);
            # a reservation is consumed by the create that uses it, or expires.
            """CREATE TABLE vault_reservations (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )""",
            "CREATE INDEX vault_reservations_user ON vault_reservations (user_id)",
            """CREATE TABLE prompts (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                wrapped_item_key TEXT NOT NULL,
                post_id TEXT,
                favorite INTEGER NOT NULL DEFAULT 0,
                version INTEGER NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            "CREATE INDEX prompts_user_updated ON prompts (user_id, updated_at)",
            # Append-only: a version is inserted once and never updated.
            """CREATE TABLE prompt_versions (
                prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                version INTEGER NOT NULL,
                title TEXT NOT NULL,
                body TEXT NOT NULL,
                notes TEXT NOT NULL,
                restored_from INTEGER,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (prompt_id, version)
            )""",
            "CREATE INDEX prompt_versions_user ON prompt_versions (user_id)",
            """CREATE TABLE tags (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            "CREATE INDEX tags_user ON tags (user_id)",
            """CREATE TABLE prompt_tags (
                prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
                tag_id TEXT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (prompt_id, tag_id)
            )""",
            "CREATE INDEX prompt_tags_tag ON prompt_tags (tag_id)",
            "CREATE INDEX prompt_tags_user ON prompt_tags (user_id)",
            """CREATE TABLE favorites (
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                post_id TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, post_id)
            )""",
            # What `GET /api/prompts?since=` reports as deleted.
            """CREATE TABLE prompt_tombstones (
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                prompt_id TEXT NOT NULL,
                deleted_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, prompt_id)
            )""",
        ),
    ),
    Migration(
        3,
        "billing",
        (
            # One Stripe customer per user, created before the first checkout. The unique
            # customer id is how a webhook finds its user (never client_reference_id).
            """CREATE TABLE stripe_customers (
                user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                customer_id TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL
            )""",
            # The user's subscription as last read back from Stripe. `as_of` (Unix time with
            # fractions, taken just before the read) is the recency marker: newest read wins.
            """CREATE TABLE subscriptions (
                user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                subscription_id TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                status TEXT NOT NULL,
                price_id TEXT,
                current_period_end BIGINT,
                cancel_at_period_end INTEGER NOT NULL,
                cancel_at BIGINT,
                created BIGINT NOT NULL,
                as_of DOUBLE PRECISION NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            # Webhook event ids, each inserted in the transaction of the change it causes,
            # so a redelivered event finds its id and changes nothing.
            """CREATE TABLE stripe_events (
                event_id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                outcome TEXT NOT NULL,
                received_at BIGINT NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "restriction",
        (
            # Privacy policy section 8, restriction: set while the owner has frozen the
            # account (storage only; api/endpoints.py refuses everything else).
            "ALTER TABLE users ADD COLUMN restricted_at BIGINT",
        ),
    ),
    Migration(
        5,
        "metrics",
        (
            # First-party usage metrics (api/metrics/). No user id, IP or user agent: the
            # visitor is a hash keyed by the salt of its UTC day, which is deleted once the
            # day is over. Raw events live at most 24 hours (sorastats/retention.py).
            """CREATE TABLE metrics_salts (
                day TEXT PRIMARY KEY,
                salt TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            """CREATE TABLE metrics_events (
                day TEXT NOT NULL,
                at BIGINT NOT NULL,
                visitor TEXT NOT NULL,
                name TEXT NOT NULL,
                path TEXT NOT NULL,
                value DOUBLE PRECISION
            )""",
            "CREATE INDEX metrics_events_day ON metrics_events (day)",
            "CREATE INDEX metrics_events_at ON metrics_events (at)",
            # One row per aggregated day: its totals (the marker that the day is done).
            """CREATE TABLE metrics_days (
                day TEXT PRIMARY KEY,
                events BIGINT NOT NULL,
                visitors BIGINT NOT NULL,
                page_views BIGINT NOT NULL,
                aggregated_at BIGINT NOT NULL
            )""",
            # Per day, event and path: how many events, from how many visitors.
            """CREATE TABLE metrics_daily (
                day TEXT NOT NULL,
                name TEXT NOT NULL,
                path TEXT NOT NULL,
                events BIGINT NOT NULL,
                visitors BIGINT NOT NULL,
                PRIMARY KEY (day, name, path)
            )""",
            # Per day and web vital: samples and the 75th percentile (Google's threshold).
            """CREATE TABLE metrics_vitals (
                day TEXT NOT NULL,
                name TEXT NOT NULL,
                samples BIGINT NOT NULL,
                p75 DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (day, name)
            )""",
        ),
    ),
    Migration(
        6,
        "creators",
        (
            # Creators' rights (api/creators/, docs/creators.md). A claim ties an account
            # to a creator of the ingest database; at most one verified owner each.
            """CREATE TABLE creator_claims (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                creator_id TEXT NOT NULL,
                username TEXT NOT NULL,
                code TEXT NOT NULL UNIQUE,
                evidence TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                decided_at BIGINT
            )""",
            "CREATE INDEX creator_claims_user ON creator_claims (user_id)",
            "CREATE UNIQUE INDEX creator_claims_owner ON creator_claims (creator_id) "
            "WHERE status = 'verified'",
            # Prompts creators made public on their own videos' pages: public data, in the
            # export, deleted with the account.
            """CREATE TABLE published_prompts (
                post_id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                creator_id TEXT NOT NULL,
                prompt TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            "CREATE INDEX published_prompts_user ON published_prompts (user_id)",
            # What the site must not show (`kind` creator or post), by the owner's choice
            # or an approved removal request; `erased` creators are purged by the build and
            # never come back. Public ids only: no account's data, so it outlives them.
            """CREATE TABLE hidden_targets (
                kind TEXT NOT NULL,
                target_id TEXT NOT NULL,
                label TEXT NOT NULL,
                erased INTEGER NOT NULL DEFAULT 0,
                source TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (kind, target_id)
            )""",
            # Removal or objection requests from anyone (/contact/): the requester's address
            # is kept until the request is decided and answered, then cleared.
            """CREATE TABLE removal_requests (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                target_id TEXT NOT NULL,
                target TEXT NOT NULL,
                reason TEXT NOT NULL,
                email TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                decided_at BIGINT
            )""",
        ),
    ),
    Migration(
        7,
        "watchlist",
        (
            # Creators and videos a user watches (api/watchlist/, docs/api.md): public ids
            # only, in the export, deleted with the account. `seen_at`: when the user last
            # looked at the watchlist; the page shows each item's gains since then.
            """CREATE TABLE watchlist (
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                target_id TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                seen_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, kind, target_id)
            )""",
        ),
    ),
]
