"""The tiny pages that mailed links open (they confirm by POST), and the OpenAPI document.
The full /account/ UI is part of the site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import Response

from api.endpoints import Ctx, EndpointGroup

group = EndpointGroup("pages")
PAGES = Path(__file__).resolve().parent  # the assets sit beside this module
STATIC = {
    "verify": ("verify.html", "text/html; charset=utf-8"),
    "sign-in": ("sign-in.html", "text/html; charset=utf-8"),
    "confirm.js": ("confirm.js", "text/javascript; charset=utf-8"),
    "pages.css": ("pages.css", "text/css; charset=utf-8"),
    "admin.css": ("admin.css", "text/css; charset=utf-8"),
}


def _static(name: str) -> Response:
    filename, media_type = STATIC[name]
    return Response(
        (PAGES / filename).read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "no-store"},  # CSP etc.: sorastats/headers.py, for every answer
    )


def _page(name: str, summary: str) -> None:
    async def handler(ctx: Ctx) -> Response:
        return _static(name)

    handler.__name__ = "page_" + name.replace("-", "_").replace(".", "_")
    group.route(
        "GET", f"/api/pages/{name}", summary, auth="public", responses={200: "Static file"}
    )(handler)


_page("verify", "Page opened by verification and email-change links; confirms by POST")
_page("sign-in", "Page opened by sign-in links; confirms by POST")
_page("confirm.js", "Script of the confirmation pages")
_page("pages.css", "Style of the confirmation pages")
_page("admin.css", "Style of the maintainers' pages (/admin/metrics/)")


@group.route("GET", "/api/openapi.json", "This document", auth="public")
async def openapi_document(ctx: Ctx) -> Any:
    document: dict[str, Any] = ctx.request.app.state.openapi
    return document
