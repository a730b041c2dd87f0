"""First-party usage metrics over HTTP: the beacon endpoint the page script
(templates/static/metrics.js) sends to, and the maintainers' page /admin/metrics/.

`POST /api/events` answers 204 whenever the input is valid, counted or not: signed in
or not, Do Not Track or Global Privacy Control, an objection in the account's settings,
a restricted account, a bot or a burst over the bucket are all dropped silently (a
beacon never reads its answer, and the answer must not tell who is counted). Bad input
answers 400, 413 or 415 with a clear error, before anything is counted."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError
from api.metrics import service
from api.metrics.rules import (
    MAX_BODY_BYTES,
    EventError,
    day_of,
    event_schema,
    is_bot,
    objects,
    opted_out,
    parse_events,
    visitor_hash,
)
from api.strict_json import JsonInputError, load_stored, loads

group = EndpointGroup("metrics")
DAYS_RE = re.compile(r"[0-9]{1,3}")
MEDIA_TYPES = ("application/json", "text/plain")  # sendBeacon of a string is text/plain
_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


@group.route(
    "POST",
    "/api/events",
    "Count page views, feature uses and web vitals (no cookie; 204 whether counted or not)",
    auth="public",
    responses={
        204: "Accepted: counted, or dropped (Do Not Track, Global Privacy Control, "
        "objection, restricted account, bot, burst)",
        400: "Invalid JSON or an event this site does not count",
        413: f"Body over {MAX_BODY_BYTES} bytes",
        415: "Not application/json or text/plain",
    },
    description='Body `{"events": [{"name", "path", "value"?}, ...]}`, 1 to 10 '
    "events, names and value bounds from api/metrics/rules.py (docs/privacy.md). "
    "Sent by `navigator.sendBeacon` as text/plain or application/json; needs no CSRF "
    "token (it changes nothing of an account) but is refused cross-site.",
    request_schema=event_schema(),
    request_types=MEDIA_TYPES,
)
async def record_events(ctx: Ctx) -> Response:
    request = ctx.request
    headers = request.headers
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type", "Send the events as application/json.")
    declared = headers.get("content-length")
    too_large = ApiError(413, "body_too_large", f"Events are limited to {MAX_BODY_BYTES} bytes.")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise too_large
    try:
        events = parse_events(loads(raw))
    except JsonInputError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    except EventError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    dropped = Response(status_code=204)
    user_agent = headers.get("user-agent", "")
    if opted_out(dict(headers)) or is_bot(user_agent):
        return dropped
    session = ctx.session
    if session is not None and (
        session["restricted_at"] is not None or objects(load_stored(session["settings"], {}))
    ):
        return dropped
    services = ctx.services
    state = services.metrics
    day = day_of(ctx.now)
    salt = state.salt_for(day)
    if salt is None:
        salt = await services.db.run(service.salt_of_day, day, ctx.now)
        state.remember(day, salt)
    ip = request.client.host if request.client else ""
    visitor = visitor_hash(salt, services.settings.BASE_URL, ip, user_agent)
    if not state.buckets.take(visitor, len(events), ctx.now):
        return dropped
    if state.add(day, ctx.now, visitor, events):
        # After the answer: this request's client does not wait for the write.
        return Response(
            status_code=204, background=BackgroundTask(service.flush_pending, services.db, state)
        )
    return Response(status_code=204)


def is_admin(ctx: Ctx) -> bool:
    session = ctx.session
    return (
        session is not None
        and session["restricted_at"] is None
        and session["email_verified_at"] is not None
        and str(session["email"]).lower() in ctx.services.settings.ADMIN_EMAILS
    )


@group.route(
    "GET",
    "/admin/metrics/",
    "Usage metrics for maintainers (accounts in ADMIN_EMAILS)",
    auth="public",
    responses={
        200: "An HTML page",
        400: "`?days=` not a whole number from 1 to 400 (admins only)",
        404: "Not an admin: the answer of an unknown page",
    },
    description="Server-rendered (autoescaped, no script). `?days=N` (default 7). Anyone "
    "else, signed in or not, gets the 404 of an unknown page, whatever the query.",
)
async def admin_metrics(ctx: Ctx) -> Response:
    if not is_admin(ctx):
        # Starlette's own answer to an unknown route, byte for byte.
        raise HTTPException(404)
    # Read only once the caller is known to be an admin: for anyone else the query makes
    # no difference, so the page cannot be told apart from an unknown one.
    values = ctx.request.query_params.getlist("days") or ["7"]
    days = int(values[0]) if len(values) == 1 and DAYS_RE.fullmatch(values[0]) else 0
    if not 1 <= days <= service.MAX_REPORT_DAYS:
        raise ApiError(
            400,
            "invalid_request",
            f"query.days: a whole number from 1 to {service.MAX_REPORT_DAYS}",
        )
    await service.flush_pending(ctx.services.db, ctx.services.metrics)
    result = await ctx.services.db.run(service.report, ctx.now, days, write=False)
    page = _PAGES.get_template("admin.html").render(report=result, days=days)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
