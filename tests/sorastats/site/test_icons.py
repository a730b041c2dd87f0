"""The site's icons, manifest and JSON-LD: drawn in code, published at the root, linked
from every page; structured data that parses and cannot break out of its script."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from sorastats.site import icons
from tests.sorastats.site.test_build import build, page, site  # noqa: F401 (fixture)
from tests.support.html import load


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, unfiltered RGBA rows) of an 8-bit RGBA PNG with filter 0 rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 6) and set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 4 * width
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(r[0] == 0 for r in rows)
    return width, height, [r[1:] for r in rows]


def pixel(rows: list[bytes], x: int, y: int) -> tuple[int, ...]:
    return tuple(rows[y][4 * x : 4 * x + 4])


@pytest.mark.parametrize("size", [16, 32, 192, 512])
def test_the_png_is_the_drawing(size: int) -> None:
    width, height, rows = decode_png(icons.png(size))
    assert (width, height) == (size, size)
    assert pixel(rows, 0, 0)[3] == 0  # a rounded corner is transparent
    scale = size / 32
    assert pixel(rows, int(16 * scale), int(2 * scale)) == (*icons.BRAND, 255)  # background
    # Inside the tallest bar (x 20-26, y 4-26 in 32 units): white.
    assert pixel(rows, int(23 * scale), int(20 * scale)) == (*icons.BAR, 255)
    # Between two bars (a one-unit gap: too narrow to see at 16 pixels): background.
    if size >= 32:
        assert pixel(rows, int(12.5 * scale), int(24 * scale)) == (*icons.BRAND, 255)


def test_the_favicon_is_one_png_in_an_ico() -> None:
    data = icons.ico()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, 1)
    w, h, _, _, planes, bits, size, offset = struct.unpack("<BBBBHHII", data[6:22])
    assert (w, h, planes, bits, offset) == (32, 32, 1, 32, 22)
    assert size == len(data) - 22
    assert decode_png(data[22:])[:2] == (32, 32)


def test_the_manifest_names_icons_that_exist() -> None:
    files = icons.files()
    manifest = json.loads(files["manifest.json"])
    assert manifest["name"] == "SoraStats" and manifest["start_url"] == "/"
    for icon in manifest["icons"]:
        assert icon["src"].lstrip("/") in files
        if icon["type"] == "image/png":
            side = int(icon["sizes"].split("x")[0])
            assert decode_png(files[icon["src"].lstrip("/")])[:2] == (side, side)
    assert files["icon.svg"].startswith(b"<svg") and b"<script" not in files["icon.svg"]


@pytest.mark.e2e
def test_icons_are_published_at_the_root_and_linked_from_every_page(
    site: Path,  # noqa: F811 (the fixture)
) -> None:
    for name, data in icons.files().items():
        assert (site / name).read_bytes() == data
    for url in ("/", "/c/alice/", "/top/", "/search/"):
        doc = load(page(site, url))
        links = {(link.attrs["rel"], link.attrs["href"]) for link in doc.find_all("link")}
        assert ("icon", "/favicon.ico") in links, url
        # The manifest (installing the site as an app starts at home) is linked from the
        # home page only: browsers fetch it with every page that links it, and a prompt
        # page's budget is 6 requests (docs/site.md).
        assert (("manifest", "/manifest.json") in links) == (url == "/"), url


def _json_ld(path: Path) -> dict[str, object]:
    doc = load(path)
    (script,) = doc.find_all("script", type="application/ld+json")
    value: dict[str, object] = json.loads(script.text)
    return value


@pytest.mark.e2e
def test_creator_pages_and_home_carry_json_ld(site: Path) -> None:  # noqa: F811
    alice = _json_ld(page(site, "/c/alice/"))
    assert alice["@type"] == "ProfilePage"
    person = alice["mainEntity"]
    assert isinstance(person, dict)
    assert person["name"] == "Alice 🎥" and person["alternateName"] == "@alice"
    assert person["sameAs"] == ["https://sora.chatgpt.com/profile/alice"]
    assert person["interactionStatistic"][0]["userInteractionCount"] == 1000
    # A hostile name stays data: the script element is not closed early, and a
    # javascript: permalink is not offered as the same person elsewhere.
    bob_path = page(site, "/c/bob/")
    assert "</script>alert" not in bob_path.read_text()
    bob = _json_ld(bob_path)["mainEntity"]
    assert isinstance(bob, dict)
    assert bob["name"].startswith('<script>alert("bob")</script>') and bob["sameAs"] == []
    home = _json_ld(site / "index.html")
    assert home["@type"] == "WebSite"
    action = home["potentialAction"]
    assert isinstance(action, dict)
    assert action["target"]["urlTemplate"].endswith("/search/?q={search_term_string}")
