"""Pro's CSV export of a creator's daily counters: who may have it (the `csv_export`
feature of the tier) and the CSV itself (pure, table-tested)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.billing import service as billing_service
from api.errors import ApiError, not_found
from api.services import Services
from api.stats.store import (
    COLUMNS,
    CREATOR_ID,
    CreatorSeries,
    StatsUnavailableError,
    read_creator_series,
)


async def creator_csv(services: Services, user_id: str, creator_id: str) -> str:
    """The creator's CSV, if the user's tier includes it (else 402 `tier_limit`)."""
    await services.db.run(
        billing_service.require_feature, user_id, services.stripe, "csv_export", write=False
    )
    if not CREATOR_ID.fullmatch(creator_id):
        raise ApiError(400, "invalid_request", "creator_id: letters, digits, _ and - only")
    path = Path(services.settings.STATS_DB_PATH)
    try:
        series = await run_in_threadpool(read_creator_series, path, creator_id)
    except StatsUnavailableError as exc:
        raise ApiError(503, "stats_unavailable", str(exc), {"Retry-After": "60"}) from None
    if series is None:
        raise not_found("No such creator.")
    return series_csv(series)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")  # stored naive, always UTC
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def series_csv(series: CreatorSeries) -> str:
    """One header row, then one row per capture day; empty cells where the source had no
    counter. Only dates, times and integers: nothing a spreadsheet could run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in series.rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
