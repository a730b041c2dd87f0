"""JSON errors: every failure answers `{"error": {"code": "...", "message": "..."}}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.strict_json import replace_surrogates
from sorastats.tiers import TierLimitError

log = logging.getLogger("api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    402: "payment_required",
    429: "too_many_attempts",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise from any handler: becomes a JSON error response with this status and code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    # Messages may quote input; one that cannot be encoded must not turn a 400 into a 500.
    return JSONResponse(
        {"error": {"code": code, "message": replace_surrogates(message)}},
        status_code=status,
        headers=headers,
    )


def not_found(what: str = "Not found.") -> ApiError:
    return ApiError(404, "not_found", what)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def handle_tier_limit(request: Request, exc: Exception) -> Response:
    """402 `tier_limit`, naming the limit and the tier that lifts it."""
    assert isinstance(exc, TierLimitError)
    return JSONResponse(exc.as_json(), status_code=exc.status_code)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    TierLimitError: handle_tier_limit,
    Exception: handle_unexpected,
}
