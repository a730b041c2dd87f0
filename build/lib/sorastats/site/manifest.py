"""The build manifest: every output path with the hash of its inputs. It lives inside the
site tree (`.manifest`), so it is published and rolled back with the pages it describes."""

from __future__ import annotations

from pathlib import Path

MANIFEST_NAME = ".manifest"
MANIFEST_HEADER = "sorastats-manifest 1"


def manifest_file(root: Path) -> Path | None:
    """The manifest file of a site tree if it has a valid one (only its header is read:
    builds load the body into DuckDB, never into Python)."""
    path = root / MANIFEST_NAME
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return path if first.rstrip("\n") == MANIFEST_HEADER else None


def read_manifest(root: Path) -> dict[str, str] | None:
    """The manifest of a site tree, or None when it has none (or an unreadable one)."""
    path = root / MANIFEST_NAME
    try:
        text = path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    lines = text.split("\n")
    if not lines or lines[0] != MANIFEST_HEADER:
        return None
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            rel, _, digest = line.partition("\t")
            out[rel] = digest
    return out
