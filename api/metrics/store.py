"""SQL of the usage metrics: the salt of the day, raw events, and the daily aggregates,
made set-based in SQL (one statement per table, whatever the number of events)."""

from __future__ import annotations

from api.db import Conn, Row
from api.metrics.rules import Event, Pending

# --- the salt of the day ----------------------------------------------------------------


def salt_of_day(conn: Conn, day: str, fresh_salt: str, now: int) -> str:
    """The day's salt: `fresh_salt` if the day had none yet (the first worker to ask
    wins; the others read it back)."""
    conn.execute(
        "INSERT INTO metrics_salts (day, salt, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (day) DO NOTHING",
        (day, fresh_salt, now),
    )
    row = conn.one("SELECT salt FROM metrics_salts WHERE day = ?", (day,))
    assert row is not None
    return str(row["salt"])


def delete_salts_before(conn: Conn, day: str) -> int:
    return conn.execute("DELETE FROM metrics_salts WHERE day < ?", (day,))


# --- raw events -------------------------------------------------------------------------


def insert_events(conn: Conn, day: str, at: int, visitor: str, events: list[Event]) -> None:
    """One statement for the whole batch."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(events))
    params: list[object] = []
    for e in events:
        params += [day, at, visitor, e.name, e.path, e.value]
    conn.execute(
        f"INSERT INTO metrics_events (day, at, visitor, name, path, value) VALUES {values}",
        params,
    )


def insert_pending(conn: Conn, rows: list[Pending]) -> None:
    """Queued events of many requests, 100 rows a statement."""
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        params: list[object] = []
        for day, at, visitor, e in chunk:
            params += [day, at, visitor, e.name, e.path, e.value]
        conn.execute(
            f"INSERT INTO metrics_events (day, at, visitor, name, path, value) VALUES {values}",
            params,
        )


def delete_events_before(conn: Conn, cutoff: int) -> int:
    return conn.execute("DELETE FROM metrics_events WHERE at < ?", (cutoff,))


def days_to_aggregate(conn: Conn, before_day: str) -> list[str]:
    """Days that are over, have raw events, and are not aggregated yet."""
    rows = conn.all(
        "SELECT DISTINCT day FROM metrics_events WHERE day < ? "
        "AND day NOT IN (SELECT day FROM metrics_days) ORDER BY day",
        (before_day,),
    )
    return [str(r["day"]) for r in rows]


# --- aggregation: each SELECT reads one day of raw events --------------------------------

# The day's totals (one row, zeros for an empty day).
DAY_TOTALS = (
    "SELECT count(*) AS events, count(DISTINCT visitor) AS visitors, "
    "coalesce(sum(CASE WHEN name = 'page_view' THEN 1 ELSE 0 END), 0) AS page_views "
    "FROM metrics_events WHERE day = ?"
)
# Per event and path, and per event over every path (path '*': a real path starts with /).
DAILY = (
    "SELECT name, path, count(*) AS events, count(DISTINCT visitor) AS visitors "
    "FROM metrics_events WHERE day = ? AND value IS NULL GROUP BY name, path "
    "UNION ALL "
    "SELECT name, '*' AS path, count(*) AS events, count(DISTINCT visitor) AS visitors "
    "FROM metrics_events WHERE day = ? GROUP BY name"
)
# The same two, for PostgreSQL: per visitor first, then per group. PostgreSQL can hash
# those groups, while count(DISTINCT) always sorts (a day of 1,000,000 events: 0.75 s
# against 3.45 s for the totals, 3.6 s against 6.3 s for the daily rows; the same rows).
# SQLite sorts for every GROUP BY, where this form is the slower one.
DAY_TOTALS_HASHED = (
    "SELECT coalesce(sum(n), 0) AS events, count(*) AS visitors, "
    "coalesce(sum(views), 0) AS page_views FROM ("
    " SELECT visitor, count(*) AS n, sum(CASE WHEN name = 'page_view' THEN 1 ELSE 0 END) AS views"
    " FROM metrics_events WHERE day = ? GROUP BY visitor"
    ") per_visitor"
)
DAILY_HASHED = (
    "SELECT name, path, sum(n) AS events, count(*) AS visitors FROM ("
    " SELECT name, path, visitor, count(*) AS n FROM metrics_events"
    " WHERE day = ? AND value IS NULL GROUP BY name, path, visitor"
    ") per_visitor GROUP BY name, path "
    "UNION ALL "
    "SELECT name, '*' AS path, sum(n) AS events, count(*) AS visitors FROM ("
    " SELECT name, visitor, count(*) AS n FROM metrics_events WHERE day = ? GROUP BY name, visitor"
    ") per_visitor GROUP BY name"
)


def _totals_and_daily(conn: Conn) -> tuple[str, str]:
    if conn.dialect == "postgresql":
        return DAY_TOTALS_HASHED, DAILY_HASHED
    return DAY_TOTALS, DAILY


# The 75th percentile by nearest rank: the value at rank ceil(3n/4) of n samples.
VITALS = (
    "SELECT name, n AS samples, value AS p75 FROM ("
    " SELECT name, value, row_number() OVER (PARTITION BY name ORDER BY value) AS rn,"
    " count(*) OVER (PARTITION BY name) AS n"
    " FROM metrics_events WHERE day = ? AND value IS NOT NULL"
    ") ranked WHERE rn = (3 * n + 3) / 4"
)


def aggregate_day(conn: Conn, day: str, now: int) -> None:
    """Fold one day of raw events into the daily tables, in three statements."""
    if conn.dialect == "postgresql":
        # The day's sorts (GROUP BY, count(DISTINCT), the percentile's window) in memory:
        # a million events need about 110 MB a sort, which spilled to disk at the default
        # 4 MB (and at 64 MB). This transaction only. No JIT: 0.2 s of compiling for
        # queries that run once a day.
        conn.execute("SET LOCAL work_mem = '128MB'")
        conn.execute("SET LOCAL jit = off")
    totals, daily = _totals_and_daily(conn)
    conn.execute(
        "INSERT INTO metrics_days (day, events, visitors, page_views, aggregated_at) "
        f"SELECT ?, events, visitors, page_views, ? FROM ({totals}) totals",
        (day, now, day),
    )
    conn.execute(
        "INSERT INTO metrics_daily (day, name, path, events, visitors) "
        f"SELECT ?, name, path, events, visitors FROM ({daily}) daily",
        (day, day, day),
    )
    conn.execute(
        "INSERT INTO metrics_vitals (day, name, samples, p75) "
        f"SELECT ?, name, samples, p75 FROM ({VITALS}) vitals",
        (day, day),
    )


def live_day(conn: Conn, day: str) -> tuple[Row, list[Row], list[Row]]:
    """What `aggregate_day` would store for `day`, read from the raw events (today)."""
    totals_sql, daily_sql = _totals_and_daily(conn)
    totals = conn.one(totals_sql, (day,))
    assert totals is not None
    return totals, conn.all(daily_sql, (day, day)), conn.all(VITALS, (day,))


def delete_aggregates_before(conn: Conn, day: str) -> int:
    removed = 0
    for table in ("metrics_days", "metrics_daily", "metrics_vitals"):
        removed += conn.execute(f"DELETE FROM {table} WHERE day < ?", (day,))
    return removed


# --- reading the aggregates -------------------------------------------------------------


def stored_days(conn: Conn, first: str, last: str) -> list[Row]:
    return conn.all(
        "SELECT day, events, visitors, page_views FROM metrics_days "
        "WHERE day >= ? AND day <= ? ORDER BY day",
        (first, last),
    )


def stored_daily(conn: Conn, first: str, last: str) -> list[Row]:
    return conn.all(
        "SELECT day, name, path, events, visitors FROM metrics_daily WHERE day >= ? AND day <= ?",
        (first, last),
    )


def stored_vitals(conn: Conn, first: str, last: str) -> list[Row]:
    return conn.all(
        "SELECT day, name, samples, p75 FROM metrics_vitals "
        "WHERE day >= ? AND day <= ? ORDER BY day, name",
        (first, last),
    )
