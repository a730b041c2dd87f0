"""The API's housekeeping, run by `python -m api maintenance` (`maintain` is its older
name; a systemd timer schedules it hourly, docs/deploy.md) and at every API start: it
applies every row of the retention table (sorastats/retention.py) deleted by
`Deleter.MAINTENANCE` (each domain's purge in `PURGES`, api/account/service.py), then
folds SQLite's write-ahead log into the database file, so deleted rows do not linger in
the log. The other rows are applied where their data lives: the ingest's quarantine by
every ingest run, nightly reports by the nightly, server logs by logrotate and journald."""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.account import service as account_service
from api.db import Database
from sorastats.retention import RETENTION, Deleter

# The keys `maintain` must report: one count per row of the table it applies.
MAINTAINED = tuple(row.key for row in RETENTION if row.deleted_by is Deleter.MAINTENANCE)


class RetentionNotApplied(RuntimeError):
    """A row of the table has no purge (or a purge reports a row the table lacks)."""


@dataclass(frozen=True)
class MaintenanceResult:
    removed: dict[str, int]  # rows removed, by retention key (every key, zeros too)
    wal_checkpointed: bool  # SQLite only; PostgreSQL's autovacuum does its own

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def maintain(db: Database, now: int | None = None) -> MaintenanceResult:
    """One pass of the housekeeping, in one transaction (the schema must be current:
    `Database.check_schema` first). `now` (default: the clock) lets tests move time."""
    removed = db.call(account_service.purge_expired, int(time.time()) if now is None else now)
    if set(removed) != set(MAINTAINED):
        # A period promised on the privacy page must be enforced by some purge.
        raise RetentionNotApplied(
            f"purges report {sorted(removed)}, the retention table needs {sorted(MAINTAINED)}"
        )
    db.checkpoint()
    return MaintenanceResult(
        {key: removed[key] for key in MAINTAINED}, wal_checkpointed=db.dialect == "sqlite"
    )
