"""Pro's export of any creator's stats as CSV (read-only from the ingest database)."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api import billing
from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError, not_found
from api.stats_export import CREATOR_ID, StatsUnavailableError, read_creator_series, series_csv

group = EndpointGroup("stats")


@group.route(
    "GET",
    "/api/stats/creators/{creator_id}.csv",
    "A creator's daily counters as CSV (Pro)",
    responses={
        200: "text/csv: captured_on, captured_at and every counter, one row per day",
        400: "Malformed creator id",
        401: "Not signed in",
        402: "Not included in your tier (`tier_limit`)",
        404: "No such creator",
        503: "The stats database is missing or being updated (`stats_unavailable`)",
    },
)
async def creator_csv(ctx: Ctx) -> Response:
    await ctx.services.db.run(
        billing.require_feature, ctx.user_id, ctx.services.stripe, "csv_export", write=False
    )
    creator_id = ctx.params["creator_id"]
    if not CREATOR_ID.fullmatch(creator_id):
        raise ApiError(400, "invalid_request", "creator_id: letters, digits, _ and - only")
    path = Path(ctx.services.settings.STATS_DB_PATH)
    try:
        series = await run_in_threadpool(read_creator_series, path, creator_id)
    except StatsUnavailableError as exc:
        raise ApiError(503, "stats_unavailable", str(exc), {"Retry-After": "60"}) from None
    if series is None:
        raise not_found("No such creator.")
    return Response(
        series_csv(series),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sorastats-{creator_id}.csv"'},
    )
