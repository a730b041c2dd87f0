"""A creator's daily counters, read from the ingest DuckDB file (the only I/O of stats).

The file is opened read-only per request (the nightly build owns it and may be writing:
DuckDB then refuses the open, and the API answers 503 with Retry-After). Building the CSV
is pure (api/stats/service.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from sorastats.schema import CREATOR_COUNTERS

CREATOR_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
COLUMNS: Final = ("captured_on", "captured_at", *CREATOR_COUNTERS)


class StatsUnavailableError(Exception):
    """The ingest database is missing or busy; the message says which (503)."""


@dataclass(frozen=True)
class CreatorSeries:
    creator_id: str
    username: str
    rows: list[tuple[Any, ...]]  # in COLUMNS order, oldest day first


def read_creator_series(path: Path, creator_id: str) -> CreatorSeries | None:
    """The creator's snapshots, or None if the database has no such creator."""
    if not path.is_file():
        raise StatsUnavailableError(
            f"The stats database is not available on this server ({path.name} is missing)."
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise StatsUnavailableError(
            "The stats database is being updated; try again in a minute."
        ) from exc
    try:
        found = con.execute(
            "SELECT id, username FROM creators WHERE id = ?", [creator_id]
        ).fetchone()
        if found is None:
            return None
        rows = con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM creator_snapshots "
            "WHERE creator_id = ? ORDER BY captured_on",
            [creator_id],
        ).fetchall()
    except duckdb.CatalogException as exc:
        raise StatsUnavailableError("The stats database has no creator tables yet.") from exc
    finally:
        con.close()
    return CreatorSeries(str(found[0]), str(found[1]), rows)
