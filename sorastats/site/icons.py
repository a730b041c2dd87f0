"""The site's icons and web app manifest, drawn in code: a bar chart (three rising bars)
on the brand's blue. No image library and no binary file in the repository: the PNGs
are encoded here (zlib, the PNG chunk format), the favicon is one PNG in an ICO.

Pure functions, table-tested (tests/sorastats/site/test_icons.py).
"""

from __future__ import annotations

import functools
import json
import struct
import zlib

BRAND = (0x1D, 0x4E, 0xD8)  # the blue of site.css's links, darkened for white bars
BAR = (0xFF, 0xFF, 0xFF)
# Bars as (left, bottom-up height) in a 32-unit square; each 6 units wide.
_BARS = ((6, 10), (13, 16), (20, 22))
_BAR_WIDTH = 6
_BASELINE = 26  # from the top


def rows(size: int) -> list[bytes]:
    """RGBA rows of the icon at `size` x `size` pixels: a rounded square and the bars.
    A pixel is a bar's when its centre is inside the bar, transparent when its centre is
    outside the rounded corner; rows are made from runs, not pixel by pixel (the 512-pixel
    icon is built at every render)."""
    scale = size / 32
    radius = 6 * scale
    brand, bar, clear = bytes((*BRAND, 255)), bytes((*BAR, 255)), bytes(4)
    spans: list[tuple[int, int, int, int]] = []  # (x0, x1, y0, y1) pixels of each bar
    for left, height in _BARS:
        xs = [x for x in range(size) if left <= (x + 0.5) / scale < left + _BAR_WIDTH]
        ys = [y for y in range(size) if _BASELINE - height <= (y + 0.5) / scale < _BASELINE]
        if xs and ys:
            spans.append((xs[0], xs[-1] + 1, ys[0], ys[-1] + 1))
    corner = min(size, int(radius) + 1)  # columns a rounded corner can reach, each side
    out: list[bytes] = []
    for y in range(size):
        row = bytearray(brand * size)
        for x0, x1, y0, y1 in spans:
            if y0 <= y < y1:
                row[4 * x0 : 4 * x1] = bar * (x1 - x0)
        cy = y + 0.5
        dy = max(radius - cy, 0.0, cy - (size - radius))
        if dy > 0:
            for x in (*range(corner), *range(max(corner, size - corner), size)):
                cx = x + 0.5
                dx = max(radius - cx, 0.0, cx - (size - radius))
                if dx * dx + dy * dy > radius * radius:
                    row[4 * x : 4 * x + 4] = clear
        out.append(bytes(row))
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(size: int) -> bytes:
    """The icon as an 8-bit RGBA PNG."""
    raw = b"".join(b"\x00" + row for row in rows(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def ico(size: int = 32) -> bytes:
    """`/favicon.ico`: one PNG image in an ICO container (every browser since 2010)."""
    image = png(size)
    directory = struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), 22)
    return struct.pack("<HHH", 0, 1, 1) + directory + image


def svg() -> str:
    """The icon as SVG, for browsers that take `rel=icon type=image/svg+xml`."""
    bars = "".join(
        f'<rect x="{left}" y="{_BASELINE - height}" width="{_BAR_WIDTH}" height="{height}"/>'
        for left, height in _BARS
    )
    blue = "#{:02x}{:02x}{:02x}".format(*BRAND)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="6" fill="{blue}"/>'
        f'<g fill="#fff">{bars}</g></svg>\n'
    )


MANIFEST_ICONS = (192, 512)


def manifest(name: str = "SoraStats") -> str:
    """`/manifest.json`: the web app manifest (name, colours, icons)."""
    blue = "#{:02x}{:02x}{:02x}".format(*BRAND)
    value = {
        "name": name,
        "short_name": name,
        "description": "Public statistics and prompts of Sora creators.",
        "start_url": "/",
        "display": "browser",
        "background_color": "#ffffff",
        "theme_color": blue,
        "icons": [
            {"src": f"/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
            for size in MANIFEST_ICONS
        ]
        + [{"src": "/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    return json.dumps(value, indent=1) + "\n"


@functools.cache
def files() -> dict[str, bytes]:
    """Every icon file the site publishes at its root, by path (made once a process).
    The caller must not change the dict."""
    out = {
        "favicon.ico": ico(),
        "icon.svg": svg().encode(),
        "manifest.json": manifest().encode(),
    }
    for size in MANIFEST_ICONS:
        out[f"icon-{size}.png"] = png(size)
    return out
