"""The endpoint declaration machinery, on a tiny app built inline (as route modules of the
vault and billing will use it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.endpoints import Ctx, EndpointGroup
from api.errors import ApiError
from api.validation import integer, obj, optional, string
from tests.support.api_server import run_api

demo = EndpointGroup("demo")


@demo.route(
    "GET",
    "/api/demo/items",
    "List",
    auth="public",
    query={"since": optional(string(20, 1, pattern=r"^[0-9]+$")), "kind": string(10, 1)},
)
async def list_items(ctx: Ctx) -> Any:
    return {"query": ctx.query}


@demo.route(
    "POST",
    "/api/demo/items/{item_id}",
    "Create",
    auth="public",
    body=obj({"n": integer(1, 5)}),
    responses={201: "Created", 409: "Conflict"},
)
async def create_item(ctx: Ctx) -> Any:
    if ctx.body["n"] == 5:
        raise ApiError(409, "conflict_demo", "Five is taken.")
    return 201, {"id": ctx.params["item_id"], "n": ctx.body["n"]}


def test_tiny_app(tmp_path: Path) -> None:
    with run_api(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, groups=[demo]) as api:
        with api.http() as http:
            assert http.get("/api/demo/items?kind=a").json() == {"query": {"kind": "a"}}
            assert http.get("/api/demo/items?kind=a&since=12").json()["query"]["since"] == "12"
            assert http.get("/api/demo/items?kind=a&since=x").status_code == 400
            assert http.get("/api/demo/items").status_code == 400
            made = http.post("/api/demo/items/abc", json={"n": 2})
            assert made.status_code == 201 and made.json() == {"id": "abc", "n": 2}
            conflict = http.post("/api/demo/items/abc", json={"n": 5})
            assert conflict.status_code == 409
            assert conflict.json()["error"]["code"] == "conflict_demo"
            assert http.get("/api/me").status_code == 404  # only the demo group is mounted
            doc = http.get("/api/openapi.json")
            assert doc.status_code == 404
    from api.app import create_app
    from api.config import load_settings

    app = create_app(load_settings({"DEV_MODE": "1", "DATA_DIR": str(tmp_path)}), groups=[demo])
    params = app.state.openapi["paths"]["/api/demo/items"]["get"]["parameters"]
    assert {p["name"]: p["required"] for p in params} == {"since": False, "kind": True}
    assert "x-optional" not in str(params)
    post = app.state.openapi["paths"]["/api/demo/items/{item_id}"]["post"]
    assert post["parameters"][0]["name"] == "item_id"
    assert "409" in post["responses"]
