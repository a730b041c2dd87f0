"""Declarative endpoints: each route module builds an `EndpointGroup` and decorates its
handlers. One declaration yields the Starlette route, the request checks (JSON body,
schema, query, session level) and the OpenAPI entry, so docs and checks cannot drift.

    group = EndpointGroup("vault")

    @group.route("POST", "/api/prompts", "Create a prompt", body=obj({...}), auth="session")
    async def create_prompt(ctx: Ctx) -> Any:
        ...
        return 201, {...}        # or a dict (200), or a Starlette Response
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.db import Row
from api.errors import ApiError
from api.services import Services
from api.strict_json import JsonInputError, loads, text_problem
from api.validation import OPTIONAL, Schema, validate

Auth = Literal["public", "session", "recent"]
RECENT_SECONDS = 10 * 60
Handler = Callable[["Ctx"], Awaitable[Any]]


@dataclass
class Ctx:
    """What a handler gets: the request, the services, the checked input and session."""

    request: Request
    services: Services
    body: dict[str, Any]
    query: dict[str, str]
    params: dict[str, str]
    session: Row | None
    now: int

    @property
    def user(self) -> Row:
        if self.session is None:
            raise ApiError(401, "not_signed_in", "Sign in first.")
        return self.session

    @property
    def user_id(self) -> str:
        return str(self.user["id"])


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Handler
    auth: Auth
    body: Schema | None
    query: dict[str, Schema]
    responses: dict[int, str]
    description: str = ""
    tag: str = ""
    # Allowed while the account restricts processing (privacy policy section 8): only
    # what lifts the restriction, deletes the account, shows or exports what is stored,
    # and signs out. Every other signed-in endpoint answers 403 `account_restricted`.
    while_restricted: bool = False
    # A body the handler reads itself (e.g. a beacon's text/plain), documented only.
    request_schema: Schema | None = None
    request_types: tuple[str, ...] = ("application/json",)


@dataclass
class EndpointGroup:
    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        auth: Auth = "session",
        body: Schema | None = None,
        query: dict[str, Schema] | None = None,
        responses: dict[int, str] | None = None,
        description: str = "",
        while_restricted: bool = False,
        request_schema: Schema | None = None,
        request_types: tuple[str, ...] = ("application/json",),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    summary,
                    handler,
                    auth,
                    body,
                    query or {},
                    responses or {200: "OK"},
                    description,
                    self.tag,
                    while_restricted,
                    request_schema,
                    request_types,
                )
            )
            return handler

        return register


def session_of(request: Request) -> Row | None:
    session: Row | None = request.scope.get("session_row")
    return session


async def _read_json(request: Request, schema: Schema) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = await request.body()
    try:
        # The one parser of request bodies: no NaN/Infinity/1e400, lone surrogates or NUL
        # can reach a handler, the database, or a response that would fail to render.
        data = loads(raw)
    except JsonInputError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    validate(schema, data)
    assert isinstance(data, dict)
    return data


def starlette_route(endpoint: Endpoint) -> Route:
    async def asgi_endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        now = int(time.time())
        session = session_of(request)
        if endpoint.auth != "public" and session is None:
            raise ApiError(401, "not_signed_in", "Sign in first.")
        if (
            endpoint.auth != "public"
            and session is not None
            and session["restricted_at"] is not None
            and not endpoint.while_restricted
        ):
            raise ApiError(
                403,
                "account_restricted",
                "Your account is restricted: lift the restriction on your account page first.",
            )
        recent = session is not None and now - int(session["auth_at"]) <= RECENT_SECONDS
        if endpoint.auth == "recent" and not recent:
            raise ApiError(
                403,
                "reauthentication_required",
                "Sign in again (within the last 10 minutes) to do this.",
            )
        query: dict[str, str] = {}
        for name, schema in endpoint.query.items():
            values = request.query_params.getlist(name)
            if len(values) > 1:
                raise ApiError(400, "invalid_request", f"query.{name}: given more than once")
            if not values:
                if schema.get(OPTIONAL):
                    continue
                raise ApiError(400, "invalid_request", f"query.{name}: is required")
            validate(schema, values[0], f"query.{name}")
            query[name] = values[0]
        body = await _read_json(request, endpoint.body) if endpoint.body is not None else {}
        params = {k: str(v) for k, v in request.path_params.items()}
        for name, value in params.items():
            if text_problem(value, allow_nul=True):
                raise ApiError(400, "invalid_request", f"path.{name}: is not valid Unicode")
            if "\x00" in value:
                # No stored id holds a NUL, and PostgreSQL refuses NUL in text parameters.
                raise ApiError(404, "not_found", "Not found.")
        ctx = Ctx(request, services, body, query, params, session, now)
        result = await endpoint.handler(ctx)
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            status, payload = result
            return JSONResponse(payload, status_code=status)
        return JSONResponse(result)

    return Route(endpoint.path, asgi_endpoint, methods=[endpoint.method], name=None)


ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def openapi(endpoints: list[Endpoint], title: str = "SoraStats accounts API") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{ep.handler.__name__}",
            "x-auth": ep.auth,
            "responses": {
                str(code): (
                    {"description": text}
                    if code < 400
                    else {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                )
                for code, text in ep.responses.items()
            },
        }
        if ep.description:
            op["description"] = ep.description
        params = [
            {
                "name": name,
                "in": "query",
                "required": not schema.get(OPTIONAL),
                "schema": {k: v for k, v in schema.items() if k != OPTIONAL},
            }
            for name, schema in ep.query.items()
        ]
        params += [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "maxLength": 64},
            }
            for name in re.findall(r"\{(\w+)\}", ep.path)  # also `{id}.csv`
        ]
        if params:
            op["parameters"] = params
        documented = ep.body if ep.body is not None else ep.request_schema
        if documented is not None:
            op["requestBody"] = {
                "required": True,
                "content": {media: {"schema": documented} for media in ep.request_types},
            }
        if ep.auth != "public":
            op["security"] = [{"session": []}]
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-sid",
                    "description": "`sid` in dev mode over http. Unsafe methods "
                    "also need the X-CSRF-Token header.",
                }
            },
        },
    }
