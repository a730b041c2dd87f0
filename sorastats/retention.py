"""How long SoraStats keeps each kind of data, and what deletes it: one declarative table.

`RETENTION` is the only place a retention period is written. The API's stores read their
periods from it (sessions, links, unverified accounts, vault, Stripe events), the ingest
purges quarantine with it, the nightly keeps its reports by it, and the deploy files
(`deploy/logrotate/sorastats-nginx`, `deploy/journald/sorastats.conf`) state the
server logs' period, which a test compares with the table. The privacy page
(`content/privacy.md`) and `docs/privacy.md` show the table, generated from it
(`tests/support/docgen.py`); `tests/test_docs.py` fails when they drift.

It lives in the pipeline package, like the tier table, because both halves need it and
`sorastats` never imports `api`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

import duckdb

MINUTE: Final = 60
HOUR: Final = 3600
DAY: Final = 86400


class Deleter(StrEnum):
    """What deletes a kind of data once its period is over."""

    MAINTENANCE = "maintenance"  # `python -m api maintenance` (hourly timer, and API start)
    INGEST = "ingest"  # every `build.py import`, `fetch` and `nightly` run
    NIGHTLY = "nightly"  # `build.py nightly`, when it writes its report
    LOGROTATE = "logrotate"  # the system's log rotation, configured by deploy/

    @property
    def text(self) -> str:
        return DELETER_TEXT[self]


DELETER_TEXT: Final[dict[Deleter, str]] = {
    Deleter.MAINTENANCE: "`python -m api maintenance`, every hour and at each API start",
    Deleter.INGEST: "each `build.py import`, `fetch` or `nightly` run",
    Deleter.NIGHTLY: "`build.py nightly`, as it writes each report",
    Deleter.LOGROTATE: "logrotate and journald, as configured by `deploy/`",
}


@dataclass(frozen=True)
class Retention:
    key: str  # names the row in purge counts, tests and `python -m api maintenance`
    data: str  # what is kept, in the privacy page's words
    seconds: int | None  # how long, from `since`; None when `keep` counts instead
    since: str  # what the period is counted from
    deleted_by: Deleter
    keep: int | None = None  # the newest `keep` are kept (reports), instead of a period
    until: str = ""  # kept until an event, not for a time (the capture archive)

    def __post_init__(self) -> None:
        given = [self.seconds is not None, self.keep is not None, bool(self.until)]
        if given.count(True) != 1:
            raise ValueError(f"{self.key}: give one of a period, a count or an event, not both")

    @property
    def period(self) -> str:
        if self.until:
            return self.until
        if self.keep is not None:
            return f"the newest {self.keep}"
        assert self.seconds is not None
        return duration_text(self.seconds)


def duration_text(seconds: int) -> str:
    """`900` -> `15 minutes`, `86400` -> `24 hours`, `604800` -> `7 days`."""
    if seconds == DAY:
        return "24 hours"
    for unit, name in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute"), (1, "second")):
        if seconds % unit == 0:
            count = seconds // unit
            return f"{count} {name}" + ("s" if count != 1 else "")
    raise AssertionError("unreachable: the last unit divides every integer")


RETENTION: Final[tuple[Retention, ...]] = (
    Retention(
        "sessions",
        "Sign-in sessions (a hash of the session token, the device's name, times)",
        30 * DAY,
        "sign-in",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "idle sessions",
        "Sign-in sessions not used for a while",
        7 * DAY,
        "last use",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "email links",
        "Links we email (verification, sign-in, email change, reset): a hash and the address",
        15 * MINUTE,
        "sending",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "unverified accounts",
        "Accounts whose email address was never confirmed",
        7 * DAY,
        "registration",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "sign-in throttle",
        "Failed sign-in counters (by a keyed hash of the email address, and by IP address)",
        1 * DAY,
        "the last failure, once any block has ended",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "vault reservations",
        "Prompt ids reserved by the vault before it saves a prompt",
        1 * DAY,
        "reservation",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "vault tombstones",
        "Ids of deleted vault prompts (so other devices delete them too; no content)",
        90 * DAY,
        "deletion",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "stripe events",
        "Stripe webhook events (event id, type, outcome)",
        30 * DAY,
        "receipt",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "raw events",
        "Usage events: the page, the feature's name or a web vital's value, the time, and a "
        "visitor hash that changes every day (no IP address, browser or account)",
        1 * DAY,
        "the event",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "metrics salts",
        "The random salt of the day that makes the visitor hashes (without it a hash "
        "cannot be linked to anyone)",
        1 * DAY,
        "the start of its day (UTC)",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "daily metrics",
        "Daily usage counts: views and visitors per page, uses per feature, web vitals "
        "(no one can be told apart in them)",
        400 * DAY,
        "the day counted",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "unverified claims",
        "Claims of a creator's profile that were not verified (the code, the evidence given)",
        60 * DAY,
        "the claim",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "removal requests",
        "Removal and objection requests sent from /contact/ (the page, the reason, the "
        "sender's email address)",
        90 * DAY,
        "the request",
        Deleter.MAINTENANCE,
    ),
    Retention(
        "quarantine",
        "Public records that could not be imported (kept to fix the importer)",
        90 * DAY,
        "quarantine",
        Deleter.INGEST,
    ),
    Retention(
        "capture archive",
        "Captures of public Sora pages as they were imported (never published; no viewer fields)",
        None,
        "the capture",
        Deleter.INGEST,
        until="while the post is public: cut from every capture by the run that finds it "
        "deleted or private",
    ),
    Retention(
        "archived images",
        "Thumbnails of public videos and creators' profile pictures, as Sora published them, "
        "and the site's smaller copies of them",
        None,
        "the capture",
        Deleter.INGEST,
        until="while the post is public and the creator not banned and showing a picture of "
        "their own: deleted by the run that finds otherwise (the site's copies by the next build)",
    ),
    Retention(
        "nightly reports",
        "Reports of the nightly build (counts and errors; no personal data)",
        None,
        "each run writes one",
        Deleter.NIGHTLY,
        keep=30,
    ),
    Retention(
        "server logs",
        "Web server and API logs (IP address, browser, page, time)",
        14 * DAY,
        "the request",
        Deleter.LOGROTATE,
    ),
)

BY_KEY: Final[dict[str, Retention]] = {row.key: row for row in RETENTION}


def seconds(key: str) -> int:
    """The period of a row that has one (a KeyError names a row that does not exist)."""
    value = BY_KEY[key].seconds
    if value is None:
        raise ValueError(f"{key} keeps a count or until an event, not a period")
    return value


def keep(key: str) -> int:
    value = BY_KEY[key].keep
    if value is None:
        raise ValueError(f"{key} has a period or an event, not a count")
    return value


def markdown_table() -> str:
    """The table as the privacy page and docs/privacy.md show it."""
    lines = ["| data | kept for | counted from | deleted by |", "|---|---|---|---|"]
    for row in RETENTION:
        cells = (row.data, row.period, row.since, row.deleted_by.text)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


# --- the pipeline's own purge -----------------------------------------------------------


def purge_quarantine(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Delete quarantined records past their period; `now` is naive UTC, as the column.
    Called with the run lock held (sorastats/run.py)."""
    cutoff = now - timedelta(seconds=seconds("quarantine"))
    row = con.execute(
        "DELETE FROM quarantine WHERE quarantined_at < ? RETURNING id", [cutoff]
    ).fetchall()
    return len(row)
