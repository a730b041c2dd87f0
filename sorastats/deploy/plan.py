"""What a deploy or a rollback does, decided from the local site and the bucket's manifests
without I/O (table-tested in tests/sorastats/deploy/test_plan.py).

A deploy's manifest (stored gzip-compressed in the bucket under `_sorastats/deploy/`) lists
every object of the deployed site with a version (a string that changes when the object's
bytes or headers would) and, for renamed creators' pages, the redirect target; plus the
objects that left the site in that deploy and are still in the bucket (`lingering`: one
deploy of grace, so a page cached before the deploy never points at a missing asset).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sorastats import serving

FORMAT = "sorastats-deploy 1"
RESERVED = "_sorastats/deploy/"  # under the bucket prefix: never a page path (no `_` pages)
CURRENT = RESERVED + "current.gz"
PREVIOUS = RESERVED + "previous.gz"
STARTED = RESERVED + "started"  # the id of the deploy under way (compared with CURRENT's)
BACKUPS = RESERVED + "backup/"

IDENTITY = "identity"
GZIP = "gzip"
ENCODINGS = (IDENTITY, GZIP)

_REFRESH = re.compile(rb'<meta http-equiv="refresh" content="0; url=([^"]+)">')


@dataclass(frozen=True)
class Manifest:
    """Plain string maps, not an object per file: 260,000 entries at 100,000 posts."""

    id: str
    headers: str  # fingerprint of the header rules and encoding the objects were sent with
    files: Mapping[str, str]  # path -> version
    lingering: frozenset[str] = frozenset()
    redirects: Mapping[str, str] = field(default_factory=dict)  # path -> target (renames)


@dataclass(frozen=True)
class Upload:
    rel: str
    phase: int
    backup: bool  # the object exists with the bytes of the current deploy: save them first


@dataclass(frozen=True)
class DeployPlan:
    uploads: tuple[Upload, ...]  # in phase order
    deletions: tuple[str, ...]  # lingering objects whose grace is over
    lingering: frozenset[str]  # for the new manifest
    unchanged: int

    @property
    def nothing_to_do(self) -> bool:
        return not self.uploads and not self.deletions


@dataclass(frozen=True)
class Restore:
    rel: str
    phase: int
    redirect: str


@dataclass(frozen=True)
class RollbackPlan:
    restores: tuple[Restore, ...]  # copy backup/<previous id>/rel back, in phase order
    backups: tuple[str, ...]  # save the current bytes first (so a rollback can be undone)
    manifest: Manifest  # the new current manifest (the previous deploy's files)


def headers_fingerprint(encoding: str, website_redirects: bool = False) -> str:
    """Changes when any object's headers would: the serving table, the encoding, whether
    redirect pages carry the website redirect."""
    rules = repr([(r.pattern.pattern, r.cache_control) for r in serving.RULES])
    types = repr(sorted(serving._TYPES.items())) + serving._FEED_TYPE + serving.DEFAULT_TYPE
    key = f"{rules}|{types}|{encoding}|{website_redirects}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def phase(rel: str) -> int:
    return serving.rule_for(rel).phase


def is_deployed(rel: str) -> bool:
    """Files of the tree that are not objects of their own: precompressed siblings, and
    dotfiles (the build manifest, temporary files of a writer)."""
    return not serving.is_sibling(rel) and not any(p.startswith(".") for p in rel.split("/"))


def names_its_content(rel: str) -> bool:
    """Fingerprinted files never change under their name: the name is their version."""
    return serving.cache_control(rel) == serving.IMMUTABLE


def redirect_target(body: bytes) -> str:
    """The target of a renamed creator's page (templates/redirect.html), or ""."""
    if b'http-equiv="refresh"' not in body[:2048]:
        return ""
    match = _REFRESH.search(body[:2048])
    return match.group(1).decode() if match else ""


def plan_deploy(local: Mapping[str, str], remote: Manifest | None, headers: str) -> DeployPlan:
    """Uploads (phase order: what pages refer to before the pages, sitemaps and feeds after
    them), the deletions due and the new lingering set. `local`: rel -> version."""
    if remote is None:
        uploads = [Upload(rel, phase(rel), False) for rel in local]
        return DeployPlan(_ordered(uploads), (), frozenset(), 0)
    same_headers = remote.headers == headers
    uploads = []
    unchanged = 0
    for rel, version in local.items():
        old = remote.files.get(rel)
        if old is not None and same_headers and old == version:
            unchanged += 1
            continue
        # An object in the current deploy is overwritten: keep its bytes for --rollback.
        # A lingering one belongs to no deploy that a rollback could return to.
        uploads.append(Upload(rel, phase(rel), old is not None))
    deletions = tuple(sorted(rel for rel in remote.lingering if rel not in local))
    lingering = frozenset(rel for rel in remote.files if rel not in local)
    return DeployPlan(_ordered(uploads), deletions, lingering, unchanged)


def _ordered(uploads: list[Upload]) -> tuple[Upload, ...]:
    return tuple(sorted(uploads, key=lambda u: (u.phase, u.rel)))


def plan_rollback(current: Manifest, previous: Manifest) -> RollbackPlan:
    """Put `previous` back: objects it has that `current` overwrote come back from
    `backup/<previous.id>/`; objects only `current` has stay one deploy (lingering)."""
    restores = []
    for rel, version in previous.files.items():
        now = current.files.get(rel)
        if now is not None and now != version:
            restores.append(Restore(rel, phase(rel), previous.redirects.get(rel, "")))
        # else: unchanged, or left the site in `current` and still in the bucket (grace)
    restores.sort(key=lambda r: (r.phase, r.rel))
    lingering = frozenset(rel for rel in current.files if rel not in previous.files)
    manifest = Manifest(
        previous.id, previous.headers, previous.files, lingering, previous.redirects
    )
    return RollbackPlan(tuple(restores), tuple(r.rel for r in restores), manifest)


def backup_key(deploy_id: str, rel: str) -> str:
    return f"{BACKUPS}{deploy_id}/{rel}"


def dump(manifest: Manifest) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as z:
        z.write(f"{FORMAT}\nid\t{manifest.id}\nheaders\t{manifest.headers}\nfiles\n".encode())
        redirects = manifest.redirects
        chunk: list[str] = []
        for rel in sorted(manifest.files):  # written in chunks: no second copy of it all
            chunk.append(f"{rel}\t{manifest.files[rel]}\t{redirects.get(rel, '')}\n")
            if len(chunk) == 10_000:
                z.write("".join(chunk).encode())
                chunk.clear()
        chunk.append("lingering\n")
        chunk.extend(f"{rel}\n" for rel in sorted(manifest.lingering))
        z.write("".join(chunk).encode())
    return out.getvalue()


class ManifestError(ValueError):
    """A manifest object the deploy cannot read (not written by this program)."""


def load(blob: bytes) -> Manifest:
    try:
        text = gzip.decompress(blob).decode()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ManifestError(f"unreadable deploy manifest ({exc})") from None
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != FORMAT or lines[3] != "files":
        raise ManifestError("unreadable deploy manifest (unknown format)")
    deploy_id = lines[1].partition("\t")[2]
    headers = lines[2].partition("\t")[2]
    files: dict[str, str] = {}
    redirects: dict[str, str] = {}
    lingering: set[str] = set()
    in_files = True
    for line in lines[4:]:
        if not line:
            continue
        if line == "lingering":
            in_files = False
        elif in_files:
            rel, version, redirect = line.split("\t")
            files[rel] = version
            if redirect:
                redirects[rel] = redirect
        else:
            lingering.add(line)
    return Manifest(deploy_id, headers, files, frozenset(lingering), redirects)
