"""The Jinja2 environment (autoescape always on), filters, and fingerprinted assets.

Assets are every file under `templates/static/`; each is published as
`/static/<stem>.<hash><suffix>` and referenced with `asset('name.ext')`, so a page set
added later only drops its own module file there and calls `asset()` in its template."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket, BytecodeCache
from markupsafe import Markup

from sorastats import headers
from sorastats.site import charts, images, stats, urls
from sorastats.site.config import contact_href

# Bump when rendering code changes output without a template change.
RENDER_CODE_VERSION = "1"


# Scripts every page runs, shipped as one file: a request fewer on every page (a prompt
# page's budget is 6). The parts stay separate sources (metrics.js has its own size budget
# and privacy test); each keeps its own scope in a block, and is not published alone.
BUNDLES: dict[str, tuple[str, ...]] = {"site.js": ("site.js", "metrics.js")}


def asset_contents(static_dir: Path) -> dict[str, bytes]:
    """`name` -> the bytes published for it: the files under templates/static/, with
    the bundles joined."""
    files: dict[str, bytes] = {}
    if not static_dir.is_dir():
        return files
    for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        files[path.relative_to(static_dir).as_posix()] = path.read_bytes()
    for name, parts in BUNDLES.items():
        if all(part in files for part in parts):
            joined = b"\n".join(b"{\n" + files[part].rstrip(b"\n") + b"\n}" for part in parts)
            for part in parts:
                del files[part]
            files[name] = joined + b"\n"
    return dict(sorted(files.items()))


def asset_map(static_dir: Path) -> dict[str, str]:
    """`name` -> fingerprinted output path (relative, under `static/`)."""
    out: dict[str, str] = {}
    for rel, data in asset_contents(static_dir).items():
        digest = hashlib.blake2b(data, digest_size=5).hexdigest()
        stem, dot, suffix = rel.rpartition(".")
        out[rel] = f"static/{stem}.{digest}.{suffix}" if dot else f"static/{rel}.{digest}"
    return out


def templates_fingerprint(templates_dir: Path) -> str:
    """Hash of every template and asset: a change re-renders every page."""
    h = hashlib.blake2b(RENDER_CODE_VERSION.encode(), digest_size=8)
    for path in sorted(p for p in templates_dir.rglob("*") if p.is_file()):
        h.update(path.relative_to(templates_dir).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def json_script(value: Any) -> Markup:
    """JSON safe inside <script>: `<`, `>`, `&` and line separators are escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, rep)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # noqa: S704 - every HTML-significant character is escaped above


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str | None) -> str:
    """Drop characters XML 1.0 cannot carry (control characters in other people's text)."""
    return _XML_INVALID.sub("", value or "")


def gain_html(value: int | None) -> Markup:
    """A gain cell: signed and coloured, or a dash with an explanation when unknown."""
    if value is None:
        return Markup('<span class="muted" title="not enough history">–</span>')
    css = "up" if value > 0 else ("down" if value < 0 else "")
    return Markup(f'<span class="{css}">{stats.signed(value)}</span>')  # noqa: S704 - digits only


class _ProcessBytecodeCache(BytecodeCache):
    """Compiled templates kept for the life of the process. Jinja checks each entry
    against its template source's checksum, so an edited template compiles again. A build
    that makes several environments (the nightly render, the test suite's many builds)
    compiles each template once instead of once per environment (0.4 s a build). Only
    make_env's environments use it, and they all compile with the same options, which the
    compiled code depends on."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _ProcessBytecodeCache()


def make_env(
    templates_dir: Path,
    base_url: str,
    assets: dict[str, str],
    contact: str = "",
    notice: str = "",
) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(
            enabled_extensions=("html", "xml", "j2"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # A build never edits its templates: skip the mtime check (a stat per template,
        # base and import) that every get_template call would otherwise make per page.
        auto_reload=False,
        bytecode_cache=_BYTECODE,
    )

    def asset(name: str) -> str:
        if name not in assets:
            raise KeyError(f"no asset {name!r} under templates/static/")
        return "/" + assets[name]

    def chart(label: str, series: list[dict[str, Any]] | None, key: str, unit: str = "") -> Any:
        if not series:
            return None
        points: list[tuple[str, int | None]] = [(str(p["d"]), p.get(key)) for p in series]
        return charts.line_chart(label, points, unit=unit, key=f"chart-{key}")

    env.globals.update(
        base_url=base_url,
        contact_href=contact_href(contact),
        notice=notice,
        asset=asset,
        absolute=lambda u: urls.absolute(base_url, u),
        creator_url=urls.creator_url,
        post_url=urls.post_url,
        board_url=urls.board_url,
        page_window=urls.page_window,
        chart=chart,
        image_set=images.image_set,
        placeholder_svg=images.placeholder_svg,
        og_placeholder=images.OG_PLACEHOLDER,
        meta_csp=Markup(headers.meta_csp()),  # noqa: S704 - a constant of sorastats/headers.py
    )
    env.filters.update(
        compact=stats.compact,
        counted=stats.counted,
        grouped=stats.grouped,
        signed=stats.signed,
        day=stats.day_label,
        excerpt=stats.excerpt,
        safe_url=urls.safe_external_url,
        json_script=json_script,
        xml_text=xml_text,
        gain=gain_html,
    )
    return env
