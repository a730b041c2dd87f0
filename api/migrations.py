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


# Version 2 is the vault's (prompts, versions, tags, favorites), on its own branch; the
# runner applies each listed version it has not recorded, in list order, so a gap in the
# numbers (3 before 2 exists) is harmless and a database that got 3 first gets 2 later;
# `Database.check_schema` compares the sets of versions, so it notices such a 2 missing.
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
]
