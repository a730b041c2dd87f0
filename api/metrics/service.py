"""Usage metrics: recording events, the salt of the day, the daily aggregation, the
housekeeping the retention table asks for, and the maintainers' report.

Raw events carry a visitor hash keyed by the salt of their UTC day (rules.visitor_hash);
the salt is deleted as soon as the next day's salt exists and by every maintenance run
after its day, so yesterday's hashes can no longer be recomputed from an IP and a browser.
Once a day is over, the first maintenance run folds its raw events into the daily tables
(set-based SQL, api/metrics/store.py), then deletes raw events older than 24 hours."""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from api.db import Conn, Database
from api.metrics import store
from api.metrics.rules import (
    BY_NAME,
    EVENTS,
    FLUSH_SECONDS,
    Event,
    Kind,
    MetricsState,
    Pending,
    day_of,
    day_start,
)
from sorastats import retention

log = logging.getLogger("api")
RAW_SECONDS = retention.seconds("raw events")
DAILY_SECONDS = retention.seconds("daily metrics")


def salt_of_day(conn: Conn, day: str, now: int) -> bytes:
    """The salt of `day` (made now if it has none), and the salts of earlier days gone."""
    salt = store.salt_of_day(conn, day, secrets.token_hex(32), now)
    store.delete_salts_before(conn, day)
    return bytes.fromhex(salt)


def record(conn: Conn, day: str, now: int, visitor: str, events: list[Event]) -> None:
    store.insert_events(conn, day, now, visitor, events)


def write_pending(conn: Conn, rows: list[Pending]) -> int:
    store.insert_pending(conn, rows)
    return len(rows)


async def flush_pending(db: Database, state: MetricsState) -> int:
    """Write the events this process holds (see rules.FLUSH_EVENTS); how many."""
    rows = state.take()
    if not rows:
        return 0
    return await db.run(write_pending, rows)


def flush_pending_now(db: Database, state: MetricsState) -> int:
    """The same, from a thread without an event loop (tests, shutdown)."""
    rows = state.take()
    return db.call(write_pending, rows) if rows else 0


async def flush_periodically(db: Database, state: MetricsState) -> None:
    """Runs for the app's lifetime (api/app.py); a failed write is logged, not fatal."""
    while True:
        await anyio.sleep(FLUSH_SECONDS)
        try:
            await flush_pending(db, state)
        except Exception:
            log.exception("could not write usage events")


def aggregate_finished_days(conn: Conn, now: int) -> list[str]:
    """Aggregate every day before today that has raw events and no aggregate yet; the
    days aggregated. A day is aggregated once: later runs find its row in metrics_days."""
    days = store.days_to_aggregate(conn, day_of(now))
    for day in days:
        store.aggregate_day(conn, day, now)
    return days


def purge_expired(conn: Conn, now: int) -> dict[str, int]:
    """The retention rows of the metrics (api/maintenance.py): finished days are
    aggregated first, so deleting raw events never loses a count."""
    aggregate_finished_days(conn, now)
    return {
        "raw events": store.delete_events_before(conn, now - RAW_SECONDS),
        "metrics salts": store.delete_salts_before(conn, day_of(now)),
        "daily metrics": store.delete_aggregates_before(conn, day_of(now - DAILY_SECONDS)),
    }


# --- the report -------------------------------------------------------------------------


@dataclass
class DayTotals:
    day: str
    events: int
    visitors: int
    page_views: int
    live: bool  # today, read from the raw events (not aggregated yet)


@dataclass
class PathCount:
    path: str
    views: int
    visitor_days: int  # visitors summed over the days (a visitor is counted once a day)


@dataclass
class EventCount:
    name: str
    meaning: str
    events: int
    visitor_days: int


@dataclass
class Vital:
    day: str
    name: str
    meaning: str
    unit: str
    samples: int
    p75: float


@dataclass
class Report:
    first_day: str
    last_day: str
    days: list[DayTotals] = field(default_factory=list)
    pages: list[PathCount] = field(default_factory=list)
    events: list[EventCount] = field(default_factory=list)
    vitals: list[Vital] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "events": sum(d.events for d in self.days),
            "page_views": sum(d.page_views for d in self.days),
            "visitor_days": sum(d.visitors for d in self.days),
        }

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "totals": self.totals}


MAX_REPORT_DAYS = 400
TOP_PAGES = 25


def report(conn: Conn, now: int, days: int = 7) -> Report:
    """The last `days` days, today included (today live from the raw events)."""
    if not 1 <= days <= MAX_REPORT_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_REPORT_DAYS}")
    today = day_of(now)
    first = day_of(day_start(today) - (days - 1) * retention.DAY)
    out = Report(first, today)
    for row in store.stored_days(conn, first, today):
        out.days.append(DayTotals(str(row["day"]), *_totals(row), live=False))
    daily = [dict(r) for r in store.stored_daily(conn, first, today)]
    vitals = [dict(r) for r in store.stored_vitals(conn, first, today)]
    if not any(d.day == today for d in out.days):
        totals, live_daily, live_vitals = store.live_day(conn, today)
        if int(totals["events"]):
            out.days.append(DayTotals(today, *_totals(totals), live=True))
            daily += [{**r, "day": today} for r in live_daily]
            vitals += [{**r, "day": today} for r in live_vitals]
    pages: dict[str, list[int]] = {}
    per_event: dict[str, list[int]] = {}
    for r in daily:
        counts = [int(r["events"]), int(r["visitors"])]
        if r["path"] == "*":
            _add(per_event, str(r["name"]), counts)
        elif r["name"] == "page_view":
            _add(pages, str(r["path"]), counts)
    ranked = sorted(pages.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_PAGES]
    out.pages = [PathCount(path, views, visitors) for path, (views, visitors) in ranked]
    out.events = [
        EventCount(e.name, e.meaning, *per_event.get(e.name, [0, 0]))
        for e in EVENTS
        if e.kind is not Kind.VITAL
    ]
    out.vitals = [
        Vital(
            str(r["day"]),
            str(r["name"]),
            BY_NAME[str(r["name"])].meaning,
            BY_NAME[str(r["name"])].unit,
            int(r["samples"]),
            float(r["p75"]),
        )
        for r in sorted(vitals, key=lambda r: (str(r["day"]), str(r["name"])))
        if str(r["name"]) in BY_NAME
    ]
    return out


def _totals(row: dict[str, Any]) -> tuple[int, int, int]:
    return int(row["events"] or 0), int(row["visitors"] or 0), int(row["page_views"] or 0)


def _add(into: dict[str, list[int]], key: str, counts: list[int]) -> None:
    seen = into.setdefault(key, [0, 0])
    seen[0] += counts[0]
    seen[1] += counts[1]
