"""The site's images, made at build time from the media archive (sorastats.media):
every kept thumbnail or profile picture becomes a WebP at up to two widths, published as
`media/<key>-<tag>-<width>.webp`, where `key` is the start of the source's SHA-256 and
`tag` names the encoder settings. A name never changes its bytes, so the files are
served with a year-long `immutable` lifetime, and a source's outputs are made once:

- each output is a manifest entry (kind `media`) whose hash is its name's, so a rebuild
  hard-links it from the live site like any unchanged page;
- an encoded file is also kept in `<out>.cache/media/`, so a `--full` build or a file
  deleted by hand is linked from there, not encoded again.

Posts without an image get `placeholder_svg` inline: a light frame of the video's
orientation with its duration (no file, no request).

Why WebP only and why Pillow (measured on this machine; docs/media.md): AVIF made
files 8 % smaller than WebP (pyvips) or larger (Pillow) for 2-3 times the CPU, so it does
not pay; Pillow encodes a small source (what most archives hold) in 11-19 ms against
pyvips' 35 ms, and pyvips is 1.8 times cheaper only on full 720x1280 thumbnails, which
are encoded once ever.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from markupsafe import Markup, escape
from PIL import Image, ImageDraw, ImageOps

from sorastats.archive import ArchiveError, CaptureArchive
from sorastats.site.writer import atomic_write

WIDTHS = (320, 640)  # a card or phone (320 CSS px), and a prompt page on a 2x screen
QUALITY = 72  # WebP quality: a 320 px thumbnail of 3-8 KB
METHOD = 4  # libwebp's effort (0-6): 4 is its default; 6 cost 40 % more for 2 % less
TAG = "w1"  # in every output's name: change it with any setting above (new names)
KEY_CHARS = 16  # of the source's SHA-256 in a name: 64 bits, unique among any archive
FOLDER = "media"
CACHE_FOLDER = "media"  # under `<out>.cache/`


@dataclass(frozen=True)
class Variant:
    rel: str  # under the site's root
    width: int
    height: int


def variants(key: str, width: int, height: int) -> list[Variant]:
    """The outputs of a source `width` x `height`: each of WIDTHS it reaches (never made
    larger), or one at its own width when it is narrower than the smallest."""
    if width <= 0 or height <= 0:
        return []
    widths = [w for w in WIDTHS if w <= width] or [width]
    return [
        Variant(f"{FOLDER}/{key}-{TAG}-{w}.webp", w, max(1, round(height * w / width)))
        for w in widths
    ]


def image_set(img: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a template needs for an `<img>` of a page's image (`img`: {k, w, h} from the
    model), or None: src (the smallest), srcset, width, height, large (the largest)."""
    if not img:
        return None
    outs = variants(str(img["k"]), int(img["w"]), int(img["h"]))
    if not outs:
        return None
    return {
        "src": "/" + outs[0].rel,
        "srcset": ", ".join(f"/{v.rel} {v.width}w" for v in outs),
        "width": outs[0].width,
        "height": outs[0].height,
        "large": "/" + outs[-1].rel,
    }


def placeholder_svg(
    width: int | None, height: int | None, duration_s: float | None, label: str
) -> Markup:
    """A light frame in the video's orientation with its duration, inline (no request).
    Sized by CSS like an image; `label` is its accessible name."""
    w, h = (width, height) if width and height and width > 0 and height > 0 else (9, 16)
    # Small numbers for the viewBox: the ratio is all that matters.
    vw, vh = (90, round(90 * h / w)) if w <= h else (round(90 * w / h), 90)
    vh = max(20, min(vh, 400))
    vw = max(20, min(vw, 400))
    text = f"{duration_s:.0f} s" if duration_s else ""
    parts = [
        f'<svg class="thumb placeholder" viewBox="0 0 {vw} {vh}" width="{vw}" height="{vh}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect width="{vw}" height="{vh}" rx="6" fill="#e8ebf0"/>',
        f'<path d="M{vw / 2 - 8:.0f} {vh / 2 - 10:.0f}v20l17-10z" fill="#8a94a3"/>',
    ]
    if text:
        parts.append(
            f'<text x="{vw - 6}" y="{vh - 7}" text-anchor="end" font-size="11" '
            f'font-family="system-ui,sans-serif" fill="#4a5260">{text}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and an escaped label only


def encode(data: bytes, width: int) -> bytes:
    """`data` (any image the archive takes) as a WebP `width` pixels wide (the first
    frame of an animation; the EXIF orientation applied; no metadata kept)."""
    with Image.open(io.BytesIO(data)) as src:
        src.draft("RGB", (width, width * 4))  # JPEG: decode at a reduced scale
        img = ImageOps.exif_transpose(src)
        img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P", "PA") else "RGB")
        if img.width != width:
            height = max(1, round(img.height * width / img.width))
            img = img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        img.save(out, "WEBP", quality=QUALITY, method=METHOD)
        return out.getvalue()


# -- the build's part ------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    rel: str
    digest: str  # the manifest's hash: the name says it all
    sha256: str  # the source
    suffix: str
    width: int


SOURCES_SQL = """
    SELECT DISTINCT m.sha256, m.suffix, m.width, m.height FROM media m
    WHERE (m.owner_kind = 'post' AND m.owner_id IN (SELECT id FROM vp))
       OR (m.owner_kind = 'creator' AND m.owner_id IN (SELECT id FROM vc))
    ORDER BY m.sha256
"""


def outputs(con: duckdb.DuckDBPyConnection, archive: CaptureArchive | None) -> list[Output]:
    """Every image the site publishes, from the media of the posts and creators it shows
    (after `model.prepare`: `vp` and `vc`). A source missing from the archive gives none
    (the model shows the placeholder only when `media` has no row, so the check would
    report the broken link)."""
    if archive is None:
        return []
    found: list[Output] = []
    for sha256, suffix, width, height in con.execute(SOURCES_SQL).fetchall():
        if not archive.has_media(str(sha256), str(suffix)):
            continue
        key = str(sha256)[:KEY_CHARS]
        for v in variants(key, int(width), int(height)):
            digest = hashlib.blake2b(v.rel.encode(), digest_size=12).hexdigest()
            found.append(Output(v.rel, digest, str(sha256), str(suffix), v.width))
    return found


class ImageRenderer:
    """Makes the changed outputs on threads (Pillow lets go of the GIL while it decodes,
    scales and encodes), beside the render processes; `finish` waits for them."""

    def __init__(
        self, archive: CaptureArchive, cache: Path, jobs: int, log: Callable[[str], None]
    ) -> None:
        self.archive = archive
        self.cache = cache / CACHE_FOLDER
        self.log = log
        self.pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="images")
        self.futures: list[Future[tuple[bool, float]]] = []
        self.encoded = 0
        self.linked = 0
        self.cpu_seconds = 0.0

    def add(self, outs: Iterable[Output], root: Path) -> None:
        for out in outs:
            self.futures.append(self.pool.submit(self._one, out, root))

    def _one(self, out: Output, root: Path) -> tuple[bool, float]:
        cached = self.cache / os.path.basename(out.rel)
        encoded, spent = False, 0.0
        if not cached.is_file():
            t0 = time.thread_time()
            data = encode(self.archive.read_media(out.sha256, out.suffix), out.width)
            spent = time.thread_time() - t0
            atomic_write(cached, data)
            encoded = True
        target = root / out.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.link")
        tmp.unlink(missing_ok=True)
        os.link(cached, tmp)
        os.replace(tmp, target)
        return encoded, spent

    def finish(self) -> None:
        try:
            for future in self.futures:
                try:
                    encoded, spent = future.result()
                except (OSError, ArchiveError, Image.DecompressionBombError) as exc:
                    raise ImageError(f"image {exc}") from exc
                self.encoded += encoded
                self.linked += not encoded
                self.cpu_seconds += spent
        finally:
            self.futures = []
        if self.encoded or self.linked:
            self.log(
                f"render: images: {self.encoded:,} encoded ({self.cpu_seconds:.1f} CPU s), "
                f"{self.linked:,} from the cache"
            )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class ImageError(RuntimeError):
    """An archived source could not be made into the site's image."""


OG_PLACEHOLDER = f"{FOLDER}/placeholder-og.png"


def shared_files() -> dict[str, bytes]:
    """Files every build publishes: the og:image of pages without an image of their own."""
    return {OG_PLACEHOLDER: _og_placeholder()}


@functools.cache
def _og_placeholder() -> bytes:
    """1200 x 630 (what link previews crop to): a light frame with a play mark."""
    img = Image.new("RGB", (1200, 630), (232, 235, 240))
    draw = ImageDraw.Draw(img)
    draw.polygon([(560, 255), (560, 375), (660, 315)], fill=(138, 148, 163))
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def prune_cache(cache: Path, wanted: Iterable[str]) -> int:
    """Delete encoded copies the site no longer publishes (a purged post's thumbnail must
    not outlive it anywhere); returns how many went."""
    folder = cache / CACHE_FOLDER
    if not folder.is_dir():
        return 0
    keep = {os.path.basename(rel) for rel in wanted}
    removed = 0
    for entry in os.scandir(folder):
        if entry.name not in keep:
            os.unlink(entry.path)
            removed += 1
    return removed
