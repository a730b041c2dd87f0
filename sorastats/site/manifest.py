"""The build manifest: every output path with the hash of its inputs. It lives inside the
site tree (`.manifest`), so it is published and rolled back with the pages it describes."""

from __future__ import annotations

from pathlib import Path

from sorastats.site.writer import atomic_write

MANIFEST_NAME = ".manifest"
_HEADER = "sorastats-manifest 1"


def read_manifest(root: Path) -> dict[str, str] | None:
    """The manifest of a site tree, or None when it has none (or an unreadable one)."""
    path = root / MANIFEST_NAME
    try:
        text = path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    lines = text.split("\n")
    if not lines or lines[0] != _HEADER:
        return None
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            rel, _, digest = line.partition("\t")
            out[rel] = digest
    return out


def write_manifest(root: Path, entries: dict[str, str]) -> None:
    body = "\n".join(f"{k}\t{v}" for k, v in sorted(entries.items()))
    atomic_write(root / MANIFEST_NAME, f"{_HEADER}\n{body}\n".encode())


def drop_manifest(root: Path) -> None:
    """Mark a tree as being modified: without a manifest it is never trusted again."""
    try:
        (root / MANIFEST_NAME).unlink()
    except FileNotFoundError:
        pass
