"""The one writer: replaces files atomically, with `.gz` and `.br` siblings for
precompressible types. (Two pages claiming one output path are refused before anything
is written: see `Ledger.duplicate`.)"""

from __future__ import annotations

import contextlib
import gzip
import os
import time
from pathlib import Path

import brotli

from sorastats.serving import COMPRESSIBLE

# Pages: fast settings, a build compresses 140,000 of them at 100,000 posts. Measured on
# 400 post pages of 13.9 KiB (2026-12-07): brotli 3 makes 3.38 KiB in 0.17 ms, brotli 4
# 3.15 KiB in 0.33 ms (twice the CPU for 7 % less), 5 2.93 KiB in 0.53 ms; gzip 6 3.38
# KiB in 0.25 ms.
BROTLI_QUALITY = 3
GZIP_LEVEL = 6
# The few files every visit loads (style sheet, scripts, Pagefind's loader and index
# entry) and that change only with a release: the smallest files, whatever it costs.
BEST_BROTLI_QUALITY = 11
BEST_GZIP_LEVEL = 9


class DuplicateOutputError(RuntimeError):
    """Two pages of one build would be written to the same file."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers see the old or
    the new file, never a part. A file replaced this way gets a new inode, so a hard link
    to the old one elsewhere (the live site) keeps its content."""
    tmp = f"{path.parent}/.{path.name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileNotFoundError:  # first file of a new folder; mkdir costs a syscall, so only now
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o644)
    _write_all(fd, data)
    os.replace(tmp, path)


def _write_all(fd: int, data: bytes) -> None:
    """Write `data` to the open `fd` (a short write continues) and close it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def staged_write(path: Path, data: bytes) -> None:
    """Write a file of a tree no reader sees yet (the staging tree, a private folder): in
    place, without `atomic_write`'s temporary file and rename (a syscall and a directory
    update less per file, three files a page). An existing file is unlinked first, so a
    hard link to it (the live site's copy) keeps its content, as with `atomic_write`. A
    build killed half-way leaves a partial file only in a tree that is never published."""
    name = str(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o644)
    except FileNotFoundError:  # first file of a new folder
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(name, flags, 0o644)
    except FileExistsError:  # held by the recycled or linked tree: a new inode
        os.unlink(name)
        fd = os.open(name, flags, 0o644)
    _write_all(fd, data)


def siblings(rel: str) -> tuple[str, ...]:
    """The precompressed siblings of an output path, if its type gets them."""
    return (rel + ".gz", rel + ".br") if rel.endswith(COMPRESSIBLE) else ()


def write_output(
    root: Path, rel: str, data: bytes, staged: bool = False, best: bool = False
) -> tuple[int, float]:
    """Write one output and its compressed siblings; returns (bytes, seconds compressing).
    `staged`: `root` is a tree no reader sees yet (see `staged_write`), else each file is
    replaced atomically. `best`: compress as small as possible (a static asset), else
    fast (a page)."""
    write = staged_write if staged else atomic_write
    target = root / rel
    write(target, data)
    total = len(data)
    spent = 0.0
    if rel.endswith(COMPRESSIBLE):
        t0 = time.perf_counter()
        level = BEST_GZIP_LEVEL if best else GZIP_LEVEL
        gz = gzip.compress(data, compresslevel=level, mtime=0)
        br = brotli.compress(data, quality=BEST_BROTLI_QUALITY if best else BROTLI_QUALITY)
        spent = time.perf_counter() - t0
        write(root / (rel + ".gz"), gz)
        write(root / (rel + ".br"), br)
        total += len(gz) + len(br)
    return total, spent


def remove_output(root: Path, rel: str) -> None:
    """Remove an output and its siblings (missing files are fine), then the folders that
    held only them, so `/p/<id>/` stops resolving."""
    for name in (rel, *siblings(rel)):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    parent = (root / rel).parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty (or gone): stop here
            break
        parent = parent.parent
