"""The metrics' store and service on SQLite and PostgreSQL: the salt of the day (one per
day, yesterday's deleted), the daily aggregation (counts, distinct visitors, p75 by
nearest rank), that a day is aggregated once and before its raw events go, and the
report (stored days plus today live)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.db import Conn, Database
from api.maintenance import maintain
from api.metrics import service, store
from api.metrics.rules import Event, day_of, day_start, visitor_hash
from sorastats.retention import DAY

DAY1 = "2030-03-01"
T1 = day_start(DAY1) + 10 * 3600  # 10:00 UTC on DAY1


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    try:
        yield database
    finally:
        database.close()


def _seed(db: Database, day: str, at: int) -> None:
    """Three visitors on one day: a reads two pages and copies a prompt, b reads one page
    twice, c sends only web vitals."""
    batches = {
        "a" * 32: [Event("page_view", "/", None), Event("page_view", "/top/", None),
                   Event("copy_prompt", "/p/x/", None), Event("lcp", "/", 1000.0),
                   Event("lcp", "/top/", 2000.0)],
        "b" * 32: [Event("page_view", "/", None), Event("page_view", "/", None),
                   Event("lcp", "/", 3000.0), Event("cls", "/", 0.5)],
        "c" * 32: [Event("lcp", "/", 4000.0), Event("inp", "/", 200.0)],
    }  # fmt: skip
    for visitor, events in batches.items():
        db.call(store.insert_events, day, at, visitor, events)


def test_one_salt_per_day_and_yesterdays_is_deleted(db: Database) -> None:
    first = db.call(service.salt_of_day, DAY1, T1)
    assert db.call(service.salt_of_day, DAY1, T1 + 60) == first  # other workers read it back
    assert len(first) == 32
    day2 = day_of(T1 + DAY)
    second = db.call(service.salt_of_day, day2, T1 + DAY)
    assert second != first
    salts = db.call(lambda c: c.all("SELECT day FROM metrics_salts"), write=False)
    assert [r["day"] for r in salts] == [day2]  # the old salt is gone: hashes can't be redone
    ip, ua = "203.0.113.9", "Mozilla/5.0"
    assert visitor_hash(first, "s", ip, ua) != visitor_hash(second, "s", ip, ua)


def test_a_finished_day_is_aggregated_once_then_its_raw_events_go(db: Database) -> None:
    _seed(db, DAY1, T1)
    # During the day, and within 24 hours of the events, nothing is folded or deleted.
    assert maintain(db, T1 + 3600).removed["raw events"] == 0
    assert db.call(lambda c: c.all("SELECT * FROM metrics_days"), write=False) == []
    # The next morning: the day is aggregated, the events are not 24 hours old yet.
    result = maintain(db, T1 + DAY - 3600)
    assert result.removed["raw events"] == 0
    days = db.call(lambda c: c.all("SELECT * FROM metrics_days"), write=False)
    assert [(d["day"], d["events"], d["visitors"], d["page_views"]) for d in days] == [
        (DAY1, 11, 3, 4)
    ]

    def daily(conn: Conn) -> set[tuple[str, str, int, int]]:
        rows = conn.all("SELECT name, path, events, visitors FROM metrics_daily")
        return {(r["name"], r["path"], int(r["events"]), int(r["visitors"])) for r in rows}

    assert db.call(daily, write=False) == {
        ("page_view", "/", 3, 2), ("page_view", "/top/", 1, 1), ("copy_prompt", "/p/x/", 1, 1),
        ("page_view", "*", 4, 2), ("copy_prompt", "*", 1, 1), ("lcp", "*", 4, 3),
        ("cls", "*", 1, 1), ("inp", "*", 1, 1),
    }  # fmt: skip

    def vitals(conn: Conn) -> dict[str, tuple[int, float]]:
        rows = conn.all("SELECT name, samples, p75 FROM metrics_vitals")
        return {r["name"]: (int(r["samples"]), float(r["p75"])) for r in rows}

    # LCP samples 1000, 2000, 3000, 4000: nearest rank ceil(0.75 * 4) = 3 -> 3000.
    assert db.call(vitals, write=False) == {"lcp": (4, 3000.0), "cls": (1, 0.5), "inp": (1, 200.0)}
    # 24 hours after the events they go; the aggregates stay, and are not made twice.
    later = maintain(db, T1 + DAY + 1)
    assert later.removed["raw events"] == 11
    assert later.removed["daily metrics"] == 0
    assert len(db.call(lambda c: c.all("SELECT * FROM metrics_days"), write=False)) == 1


def test_the_report_has_stored_days_and_today_live(db: Database) -> None:
    _seed(db, DAY1, T1)
    maintain(db, T1 + DAY - 3600)
    today = day_of(T1 + DAY)
    db.call(store.insert_events, today, T1 + DAY, "d" * 32, [Event("page_view", "/top/", None)])
    result = db.call(service.report, T1 + DAY, 7, write=False)
    assert result.first_day == day_of(T1 - 5 * DAY) and result.last_day == today
    assert [(d.day, d.page_views, d.visitors, d.live) for d in result.days] == [
        (DAY1, 4, 3, False),
        (today, 1, 1, True),
    ]
    assert [(p.path, p.views, p.visitor_days) for p in result.pages] == [
        ("/", 3, 2),
        ("/top/", 2, 2),
    ]
    by_name = {e.name: (e.events, e.visitor_days) for e in result.events}
    assert by_name["page_view"] == (5, 3) and by_name["copy_prompt"] == (1, 1)
    assert by_name["vault_save"] == (0, 0)
    assert {(v.day, v.name, v.p75) for v in result.vitals} >= {(DAY1, "lcp", 3000.0)}
    assert result.totals == {"events": 12, "page_views": 5, "visitor_days": 4}
    assert result.as_json()["totals"] == result.totals
    # Days outside the window are not shown.
    assert db.call(service.report, T1 + 30 * DAY, 7, write=False).days == []
    with pytest.raises(ValueError, match="days must be between"):
        db.call(service.report, T1, 0, write=False)


def test_aggregates_past_their_period_are_deleted(db: Database) -> None:
    _seed(db, DAY1, T1)
    maintain(db, T1 + DAY)
    removed = maintain(db, T1 + service.DAILY_SECONDS + 2 * DAY).removed["daily metrics"]
    assert removed == 1 + 8 + 3  # the day's totals, its 8 daily rows and 3 vitals
