"""A fake Sora backend for fetcher tests: a real Starlette app on 127.0.0.1 (uvicorn in a
thread, port 0) serving synth pages, with scripted faults (429 bursts, 500s, slow and
truncated responses)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sorastats import synth
from tests.support.threaded_server import serve_in_thread
from tests.support.tiers import refuse_in_fast_tier

PREFIX = "/backend/project_y"
DAY1_CLOCK = "2025-10-01T23:50:00Z"


def fast_fetch_env(monkeypatch: pytest.MonkeyPatch, retries: int) -> None:
    """Fetcher settings for tests: tiny backoff, short timeouts, a fixed capture clock."""
    monkeypatch.setenv("SORASTATS_BACKOFF_S", "0.01")
    monkeypatch.setenv("SORASTATS_TIMEOUT_S", "2")
    monkeypatch.setenv("SORASTATS_RETRIES", str(retries))
    monkeypatch.setenv("SORASTATS_NOW", DAY1_CLOCK)
    monkeypatch.delenv("SORA_TOKEN", raising=False)


@dataclass
class Backend:
    """What the server serves and what it saw."""

    root: Path  # a synth output folder
    day: int = 1
    faults: dict[int, str] = field(default_factory=dict)  # request number -> fault
    always: str | None = None  # a fault for every request from `always_from` on
    always_from: int = 1
    delay_s: float = 0.0
    inject: list[Any] = field(default_factory=list)  # extra items on the first feed page
    stuck_cursor: bool = False  # every page points back at page 2
    requests: int = 0
    paths: list[str] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pages(self) -> list[dict[str, Any]]:
        folder = self.root / f"day-{self.day:02d}"
        out = []
        for path in sorted(folder.glob("latest-*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc.pop("captured_at", None)  # the real API does not say
            out.append(doc)
        if out and self.inject:
            out[0]["items"].extend(self.inject)
        return out

    def creator_items(self, user_id: str) -> list[dict[str, Any]]:
        return [
            item
            for page in self.pages()
            for item in page["items"]
            if item["profile"]["user_id"] == user_id
        ]


def _fault_response(fault: str, body: bytes) -> Response | None:
    if fault == "429":
        return Response("slow down", status_code=429)
    if fault == "429-retry-after":
        return Response("slow down", status_code=429, headers={"Retry-After": "0"})
    if fault == "500":
        return Response("boom", status_code=500)
    if fault == "503":
        return Response("unavailable", status_code=503)
    if fault == "truncated":
        return Response(body[: len(body) // 2], media_type="application/json")
    if fault == "404":
        return Response("not found", status_code=404)
    return None


def make_app(backend: Backend) -> Starlette:
    async def serve(request: Request, doc: dict[str, Any]) -> Response:
        with backend.lock:
            backend.requests += 1
            number = backend.requests
            backend.paths.append(request.url.path.removeprefix(PREFIX))
            backend.queries.append(dict(request.query_params))
            backend.auth.append(request.headers.get("authorization"))
        fault = backend.faults.get(number)
        if backend.always and number >= backend.always_from:
            fault = backend.always
        if backend.delay_s:
            await asyncio.sleep(backend.delay_s)
        body = json.dumps(doc, ensure_ascii=False).encode()
        if fault == "slow":
            await asyncio.sleep(5.0)  # well past the client timeout
        elif fault:
            response = _fault_response(fault, body)
            if response is not None:
                return response
        return Response(body, media_type="application/json")

    async def feed(request: Request) -> Response:
        pages = backend.pages()
        cursor = request.query_params.get("cursor")
        index = 0
        if cursor:
            _, _, number = base64.urlsafe_b64decode(cursor).decode().split(":")
            index = int(number) - 1
        if not 0 <= index < len(pages):
            return JSONResponse({"error": "bad cursor"}, status_code=400)
        doc = pages[index]
        if backend.stuck_cursor:
            doc["cursor"] = synth.cursor_token(backend.day - 1, 2)
        return await serve(request, doc)

    async def profile_feed(request: Request) -> Response:
        user_id = request.path_params["user_id"]
        items = backend.creator_items(user_id)
        offset = int(request.query_params.get("cursor") or 0)
        chunk = items[offset : offset + synth.PAGE_SIZE]
        following = offset + synth.PAGE_SIZE
        cursor = str(following) if following < len(items) else None
        return await serve(request, {"items": chunk, "cursor": cursor})

    return Starlette(
        routes=[
            Route(f"{PREFIX}/feed", feed),
            Route(f"{PREFIX}/profile_feed/{{user_id}}", profile_feed),
        ]
    )


@contextmanager
def running(backend: Backend) -> Iterator[str]:
    """Serve `backend` on a free loopback port; yields the API base URL."""
    refuse_in_fast_tier("starts the Sora mirror server")
    with serve_in_thread(make_app(backend), name="Sora mirror") as base_url:
        yield base_url + PREFIX
