"""The API's housekeeping, run by `python -m api maintain` (a systemd timer schedules it,
docs/deploy.md) and at every API start: each domain forgets what has expired (sessions,
email links, throttle rows, unverified registrations, vault reservations and tombstones,
old Stripe events: `PURGES` in api/account/service.py), then SQLite's write-ahead log is
folded into the database file, so deleted rows do not linger in the log."""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.account import service as account_service
from api.db import Database


@dataclass(frozen=True)
class MaintenanceResult:
    removed: dict[str, int]  # rows removed, by kind (every kind, zeros too)
    wal_checkpointed: bool  # SQLite only; PostgreSQL's autovacuum does its own

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def maintain(db: Database, now: int | None = None) -> MaintenanceResult:
    """One pass of the housekeeping, in one transaction (the schema must be current:
    `Database.check_schema` first). `now` (default: the clock) lets tests move time."""
    removed = db.call(account_service.purge_expired, int(time.time()) if now is None else now)
    db.checkpoint()
    return MaintenanceResult(removed, wal_checkpointed=db.dialect == "sqlite")
