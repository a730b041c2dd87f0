"""Pagefind search, built at build time from the rendered pages with the binary shipped in
the `pagefind[bin]` wheel (no network, no Node).

Big sites are split into bundles so no Pagefind process holds the whole index: creators
and the about page in `/pagefind/` (whose UI the search page loads), and prompt pages in
`/pagefind-N/` shards by the last one or two characters of the post id (up to 64 shards,
each about POSTS_PER_SHARD posts, so an indexer's memory stays flat), merged in the browser with
Pagefind's `mergeIndex`. Each bundle has its own input hash, so a rebuild re-indexes only
the shards whose searchable text changed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pagefind_bin import get_executable

from sorastats.serving import COMPRESSIBLE
from sorastats.site.writer import write_output

HEX = "0123456789abcdef"
MAIN_BUNDLE = "pagefind/"
POSTS_PER_SHARD = 15_000
# Pagefind's memory grows with the pages of one bundle (~840 MiB for 50,000 prompt pages,
# ~230 MiB for 12,500): up to 16 shards split on the last hex character of the post id,
# up to 64 on the last two.
MAX_SHARDS = 64
# The main bundle holds the creators' first pages up to this many creators; above, they
# go to creator shards by the last two characters of their slug (see `_slug_shard`).
CREATORS_PER_SHARD = 20_000
SLUG_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz._-"
SLUG_CHARS_BASE = 10  # spreads `..._0` to `..._99` over 16 shards within 12 % of even


class SearchIndexError(RuntimeError):
    """Pagefind failed."""


@dataclass(frozen=True)
class Bundle:
    key: str  # folder with a trailing slash; also its manifest key
    glob: str  # the pages it indexes


def shard_count(posts: int) -> int:
    """Post shards: a power of two up to MAX_SHARDS keeping each near POSTS_PER_SHARD."""
    k = 1
    while k < MAX_SHARDS and posts > k * POSTS_PER_SHARD:
        k *= 2
    return k


def _range(chars: str) -> str:
    # Listed, not a range: `[8-b]` would also match 'A'-'Z', '_' and the rest between.
    return f"[{chars}]"


def creator_shard_count(creators: int) -> int:
    """Creator shards: one (creators stay in the main bundle) up to CREATORS_PER_SHARD,
    then a power of two up to 16."""
    k = 1
    while k < 16 and creators > k * CREATORS_PER_SHARD:
        k *= 2
    return k


def _slug_shard(chars: str, shards: int) -> int:
    """The creator shard of a slug's last one or two characters (all in SLUG_CHARS): the
    last two read as a number, SLUG_CHARS_BASE * position of the second-to-last plus
    position of the last, modulo the shards. Usernames that end in digits (`name_123`)
    then spread as evenly as those ending in letters; one character alone was uneven."""
    last = SLUG_CHARS.index(chars[-1])
    second = SLUG_CHARS.index(chars[-2]) if len(chars) == 2 else 0
    return (SLUG_CHARS_BASE * second + last) % shards


def _chars_class(chars: str, negate: bool = False) -> str:
    """A glob class of these characters. Pagefind's glob engine rejects a bare `-` in a
    class even in last place (`[._-]` "did not parse"): it is escaped."""
    if len(chars) == 1 and not negate:
        return chars
    return "[" + ("!" if negate else "") + chars.replace("-", "\\-") + "]"


def _creator_glob(i: int, shards: int) -> str:
    """Pagefind glob of creator shard `i`: every (second-to-last, last) pair of slug
    characters mapping to it, the one-character slugs mapping to it, and on shard 0 the
    slugs ending in other characters (none are made, see urls.py; kept for safety)."""
    alternatives = []
    for second in SLUG_CHARS:
        lasts = "".join(c for c in SLUG_CHARS if _slug_shard(second + c, shards) == i)
        if lasts:
            alternatives.append(f"c/*{second}{_chars_class(lasts)}")
    singles = "".join(c for c in SLUG_CHARS if _slug_shard(c, shards) == i)
    if singles:
        alternatives.append(f"c/{_chars_class(singles)}")
    if i == 0:
        odd = _chars_class(SLUG_CHARS, negate=True)
        alternatives += [f"c/*{odd}", f"c/*{odd}?"]
    return "{" + ",".join(alternatives) + "}/index.html"


def plan_bundles(shards: int, creator_shards: int = 1) -> list[Bundle]:
    """The main bundle, then one bundle per post shard, then (with more than one) one per
    creator shard. Up to 16 post shards split the post ids on their last character, more
    on their last two; ids ending in characters that are not lower-case hex (or of one
    character) go to the first shard. Creator shards split creators' first pages on the
    last two characters of the slug."""
    main = "{c/*,about}/index.html" if creator_shards <= 1 else "about/index.html"
    bundles = [Bundle(MAIN_BUNDLE, main)]
    for i in range(shards):
        if shards <= 16:
            per = 16 // shards
            tail = _range(HEX[i * per : (i + 1) * per])
            odd = ["p/*[!0-9a-f]"]
        else:
            per = 256 // shards
            first = HEX[i * per // 16]
            tail = first + _range(HEX[i * per % 16 : i * per % 16 + per])
            odd = ["p/*[!0-9a-f]", "p/*[!0-9a-f]?", "p/?"]
        if i == 0:
            glob = "{" + ",".join([f"p/*{tail}", *odd]) + "}/index.html"
        else:
            glob = f"p/*{tail}/index.html"
        bundles.append(Bundle(f"pagefind-{i + 1}/", glob))
    if creator_shards > 1:
        for i in range(creator_shards):
            bundles.append(Bundle(f"pagefind-c{i + 1}/", _creator_glob(i, creator_shards)))
    return bundles


def creator_shard_sql(shards: int) -> str:
    """SQL expression: the 0-based creator shard of a slug `slug` (mirrors `_slug_shard`
    and `plan_bundles`)."""
    last = f"strpos('{SLUG_CHARS}', right(slug, 1))"
    second = f"strpos('{SLUG_CHARS}', left(right(slug, 2), 1))"
    return (
        f"CASE WHEN {last} = 0 OR (length(slug) >= 2 AND {second} = 0) THEN 0 "
        f"WHEN length(slug) = 1 THEN ({last} - 1) % {shards} "
        f"ELSE ({SLUG_CHARS_BASE} * ({second} - 1) + {last} - 1) % {shards} END"
    )


def shard_sql(shards: int) -> str:
    """SQL expression: the 0-based shard of a post id `id` (mirrors `plan_bundles`)."""
    last = f"strpos('{HEX}', right(id, 1))"
    if shards <= 16:
        return f"CASE WHEN {last} > 0 THEN ({last} - 1) // {16 // shards} ELSE 0 END"
    second = f"strpos('{HEX}', left(right(id, 2), 1))"
    return (
        f"CASE WHEN length(id) >= 2 AND {last} > 0 AND {second} > 0 "
        f"THEN (({second} - 1) * 16 + {last} - 1) // {256 // shards} ELSE 0 END"
    )


def _command(root: Path, bundle: Bundle, tmp: Path) -> list[str]:
    return [
        str(get_executable()),
        "--site", str(root),
        "--glob", bundle.glob,
        "--output-path", str(tmp),
        "--silent",
    ]  # fmt: skip


def is_post_bundle(bundle: Bundle) -> bool:
    """A bundle of prompt pages only (`p/...`): it can be indexed as soon as the post
    pages are written, while the rest of the site renders."""
    return bundle.key.startswith("pagefind-") and not bundle.key.startswith("pagefind-c")


def build_bundles(
    root: Path,
    bundles: list[Bundle] | deque[Bundle],
    parallel: int = 1,
    stopped: Callable[[], bool] = lambda: False,
) -> tuple[float, int]:
    """(Re)build the given bundles under `root`, at most `parallel` Pagefind processes at a
    time; returns (seconds spent compressing their text files, peak Pagefind RSS in KiB).
    Starts no further bundle once `stopped()` is true (the build failed elsewhere). A deque
    is taken from as it is, so two threads can share one: each bundle is built once."""
    pending = bundles if isinstance(bundles, deque) else deque(bundles)
    running: list[tuple[Bundle, Path, subprocess.Popen[bytes], IO[bytes]]] = []
    spent = 0.0
    peak = 0
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel) and not stopped():
                try:
                    bundle = pending.popleft()
                except IndexError:  # the other thread took the last one
                    break
                tmp = root / f".{bundle.key.rstrip('/')}-new"
                if tmp.exists():
                    shutil.rmtree(tmp)
                # Closed below, once the process has ended (it outlives this loop turn).
                err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
                proc = subprocess.Popen(
                    _command(root, bundle, tmp), stdout=subprocess.DEVNULL, stderr=err
                )
                running.append((bundle, tmp, proc, err))
            if not running:  # stopped with bundles pending
                break
            bundle, tmp, proc, err = running.pop(0)
            while proc.poll() is None:
                peak = max(peak, _high_water_kib(proc.pid))
                time.sleep(0.05)
            err.seek(0)
            message = err.read().decode("utf-8", "replace").strip()
            err.close()
            if proc.returncode != 0:
                raise SearchIndexError(f"pagefind failed on {bundle.glob}: {message}")
            spent += _compress_and_place(root, bundle, tmp)
    finally:
        for _b, _t, other, other_err in running:
            other.kill()
            other.wait()
            other_err.close()
    return spent, peak


def _high_water_kib(pid: int) -> int:
    """Peak RSS of a running process's current program (Linux `VmHWM`; 0 elsewhere).
    Not `ru_maxrss`: that also counts the parent's memory the child had before exec."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _compress_and_place(root: Path, bundle: Bundle, tmp: Path) -> float:
    spent = 0.0
    for path in tmp.iterdir():  # the loader, UI and entry JSON; fragments are pre-gzipped
        if path.is_file() and path.name.endswith(COMPRESSIBLE):
            t0 = time.perf_counter()
            write_output(tmp, path.name, path.read_bytes(), staged=True, best=True)
            spent += time.perf_counter() - t0
    final = root / bundle.key
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return spent
