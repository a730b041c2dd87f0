"""Pagefind search, built at build time from the rendered prompt and creator pages with
the binary shipped in the `pagefind[bin]` wheel (no network, no Node)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from pagefind_bin import get_executable

from sorastats.site.writer import COMPRESSIBLE, write_output

# Prompt pages, creators' first pages and the about page (so an empty site still has an
# index) are indexed; inside them only the element marked `data-pagefind-body`.
SEARCH_GLOB = "{p/*,c/*,about}/index.html"


class SearchIndexError(RuntimeError):
    """Pagefind failed."""


def build_search_index(root: Path) -> float:
    """(Re)build `root/pagefind/`; returns seconds spent compressing its text files."""
    tmp = root / ".pagefind-new"
    if tmp.exists():
        shutil.rmtree(tmp)
    cmd = [
        str(get_executable()),
        "--site", str(root),
        "--glob", SEARCH_GLOB,
        "--output-path", str(tmp),
        "--silent",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SearchIndexError(f"pagefind failed ({proc.returncode}): {proc.stderr.strip()}")
    spent = 0.0
    for path in tmp.iterdir():  # the loader, UI and entry JSON; fragments are pre-gzipped
        if path.is_file() and path.name.endswith(COMPRESSIBLE):
            t0 = time.perf_counter()
            write_output(tmp, path.name, path.read_bytes())
            spent += time.perf_counter() - t0
    final = root / "pagefind"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return spent
