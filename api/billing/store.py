"""SQL of billing: Stripe customers, subscriptions, webhook event ids (migration 3). The
webhook calls these inside the one transaction that also records the event id (see
api/billing/service.py)."""

from __future__ import annotations

from typing import Any

from api.db import Conn, Row
from sorastats import retention

# Stripe retries a delivery for up to 3 days (period: sorastats/retention.py).
EVENT_RETENTION_SECONDS = retention.seconds("stripe events")

SUBSCRIPTION_COLUMNS = (
    "subscription_id, customer_id, status, price_id, current_period_end, "
    "cancel_at_period_end, cancel_at, created, as_of, updated_at"
)


def stripe_customer_of(conn: Conn, user_id: str) -> str | None:
    row = conn.one("SELECT customer_id FROM stripe_customers WHERE user_id = ?", (user_id,))
    return None if row is None else str(row["customer_id"])


def user_of_stripe_customer(conn: Conn, customer_id: str) -> str | None:
    row = conn.one("SELECT user_id FROM stripe_customers WHERE customer_id = ?", (customer_id,))
    return None if row is None else str(row["user_id"])


def save_stripe_customer(conn: Conn, user_id: str, customer_id: str, now: int) -> str:
    """Store the user's customer id unless one is stored already; returns the stored one
    (two first checkouts at once get the same customer from Stripe's idempotency key)."""
    conn.execute(
        "INSERT INTO stripe_customers (user_id, customer_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id) DO NOTHING",
        (user_id, customer_id, now),
    )
    stored = stripe_customer_of(conn, user_id)
    assert stored is not None
    return stored


def lock_user_billing(conn: Conn, user_id: str) -> bool:
    """Serialize billing writes of one user (PostgreSQL row lock; SQLite's write
    transaction already holds the database lock). False if the user is gone."""
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""
    return conn.one(f"SELECT id FROM users WHERE id = ?{lock}", (user_id,)) is not None


def subscription_of(conn: Conn, user_id: str) -> Row | None:
    return conn.one(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = ?", (user_id,)
    )


def save_subscription(conn: Conn, user_id: str, sub: dict[str, Any], now: int) -> None:
    """Insert or replace the user's subscription row (`sub` has the SUBSCRIPTION_COLUMNS
    but updated_at)."""
    values = (
        sub["subscription_id"],
        sub["customer_id"],
        sub["status"],
        sub["price_id"],
        sub["current_period_end"],
        1 if sub["cancel_at_period_end"] else 0,
        sub["cancel_at"],
        sub["created"],
        float(sub["as_of"]),
        now,
    )
    conn.execute(
        f"INSERT INTO subscriptions (user_id, {SUBSCRIPTION_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET subscription_id = excluded.subscription_id, "
        "customer_id = excluded.customer_id, status = excluded.status, "
        "price_id = excluded.price_id, current_period_end = excluded.current_period_end, "
        "cancel_at_period_end = excluded.cancel_at_period_end, "
        "cancel_at = excluded.cancel_at, created = excluded.created, "
        "as_of = excluded.as_of, updated_at = excluded.updated_at",
        (user_id, *values),
    )


def stripe_event_seen(conn: Conn, event_id: str) -> bool:
    return conn.one("SELECT 1 AS x FROM stripe_events WHERE event_id = ?", (event_id,)) is not None


def record_stripe_event(conn: Conn, event_id: str, event_type: str, outcome: str, now: int) -> bool:
    """Record a webhook event id; False if it was recorded before (a redelivery). Call it
    first in the transaction that applies the event, so both commit or neither does."""
    inserted = conn.execute(
        "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (event_id) DO NOTHING",
        (event_id, event_type, outcome[:200], now),
    )
    return inserted > 0


def set_stripe_event_outcome(conn: Conn, event_id: str, outcome: str) -> None:
    conn.execute(
        "UPDATE stripe_events SET outcome = ? WHERE event_id = ?", (outcome[:200], event_id)
    )


def purge_stripe_events(conn: Conn, now: int) -> dict[str, int]:
    removed = conn.execute(
        "DELETE FROM stripe_events WHERE received_at < ?", (now - EVENT_RETENTION_SECONDS,)
    )
    return {"stripe events": removed}


def export_subscription(conn: Conn, user_id: str) -> Any:
    """Stored billing facts; the export route adds the tier they grant under the settings."""
    subscription = subscription_of(conn, user_id)
    if subscription is not None:
        subscription["cancel_at_period_end"] = bool(subscription["cancel_at_period_end"])
    return {"stripe_customer_id": stripe_customer_of(conn, user_id), "subscription": subscription}
