"""Pro's export of any creator's stats as CSV (read-only from the ingest database)."""

from __future__ import annotations

from starlette.responses import Response

from api.endpoints import Ctx, EndpointGroup
from api.stats import service

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
    creator_id = ctx.params["creator_id"]
    text = await service.creator_csv(ctx.services, ctx.user_id, creator_id)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sorastats-{creator_id}.csv"'},
    )
