"""Run a deploy or a rollback (docs/deploy.md): scan the live site, read the bucket's
manifest, upload what changed phase by phase, delete what is due, write the manifest last.
Returns a `DeployResult`; never prints."""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import TypeVar

from sorastats import serving
from sorastats.deploy import plan
from sorastats.deploy.bucket import Bucket, BucketError, Target
from sorastats.site.manifest import MANIFEST_NAME, read_manifest

OnProgress = Callable[[int, int], None]  # (objects done, objects to do)
T = TypeVar("T")
R = TypeVar("R")


class DeployError(RuntimeError):
    """The deploy cannot start or go on (no site, unreadable manifest, nothing to roll
    back to); the message is one line."""


@dataclass(frozen=True)
class DeployOptions:
    out: Path
    target: Target
    endpoint_url: str | None = None
    dry_run: bool = False
    encoding: str = plan.IDENTITY
    workers: int = 16  # concurrent requests: enough to hide each one's latency
    website_redirects: bool | None = None  # None: only on AWS S3 (docs/deploy.md)


@dataclass
class DeployResult:
    deploy_id: str
    uploaded: int = 0
    uploaded_bytes: int = 0
    deleted: int = 0
    skipped: int = 0  # unchanged objects, not sent
    backed_up: int = 0
    restored: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    uploaded_paths: list[str] = field(default_factory=list)
    deleted_paths: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # by S3 operation


def scan(out: Path) -> dict[str, str]:
    """Every file of the live tree that becomes an object, with its version: for what the
    build manifest lists, its input hash (the name itself for fingerprinted files); for a
    Pagefind bundle's fixed-name files, the bundle's hash; for anything else, a hash of its
    bytes. Nothing is read to find that a page is unchanged.

    Folders of pages (those the build manifest lists pages in, `static/` aside) are not
    walked: at 100,000 posts their 140,000 folders took 7 CPU seconds to list, more than a
    no-change deploy may take. The top level, `static/`, the search bundles and any folder
    the build does not know are walked, so files put there by hand are deployed."""
    built = read_manifest(out)
    if built is None:
        raise DeployError(f"no site built in {out} (run build.py render first)")
    versions: dict[str, str] = {}
    page_folders: set[str] = set()
    for rel, digest in built.items():
        if rel.endswith("/"):
            continue  # a search bundle: its files are walked below
        versions[rel] = "n" if plan.names_its_content(rel) else "m" + digest
        if "/" in rel:
            page_folders.add(rel[: rel.index("/")])
    page_folders.discard("static")
    for rel in _files(str(out), skip=page_folders):
        if rel in versions:
            continue
        if plan.names_its_content(rel):
            versions[rel] = "n"
        elif "/" in rel and (bundle := built.get(rel[: rel.index("/") + 1])) is not None:
            versions[rel] = "b" + bundle
        else:
            versions[rel] = "h" + hashlib.sha256((out / rel).read_bytes()).hexdigest()[:24]
    return versions


def _files(root: str, skip: set[str]) -> Iterator[str]:
    """The deployed files' paths (`plan.is_deployed`) but those in top-level folders
    `skip`, walked with plain strings."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(f"{root}/{rel_dir}") as entries:
            for entry in entries:
                name = entry.name
                if name[0] == ".":  # the build manifest, a writer's temporary files
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if rel_dir or name not in skip:
                        stack.append(f"{rel_dir}{name}/")
                elif not name.endswith(_SIBLINGS) and entry.is_file():
                    yield rel_dir + name


_SIBLINGS = tuple(serving.ENCODINGS.values())


def _new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def _read_manifest(bucket: Bucket, key: str) -> plan.Manifest | None:
    blob = bucket.get(key)
    if blob is None:
        return None
    try:
        return plan.load(blob)
    except plan.ManifestError as exc:
        raise DeployError(f"{bucket.target}{key}: {exc}") from None


def _object(out: Path, rel: str, encoding: str) -> tuple[bytes, dict[str, str], str]:
    """The bytes and headers of one object, and its redirect target if it is a redirect."""
    try:
        body = (out / rel).read_bytes()
    except FileNotFoundError:
        raise DeployError(f"{out / rel} disappeared during the deploy: run it again") from None
    headers = {
        "Content-Type": serving.content_type(rel),
        "Cache-Control": serving.cache_control(rel),
    }
    redirect = plan.redirect_target(body) if rel.endswith(".html") else ""
    if redirect:
        headers["Website-Redirect-Location"] = redirect
    if encoding == plan.GZIP and serving.is_text(rel):
        sibling = out / (rel + ".gz")
        body = sibling.read_bytes() if sibling.exists() else gzip.compress(body, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return body, headers, redirect


def _bounded(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """`fn` over `items` on `workers` threads, at most 4x that many in flight (a future per
    object for 140,000 objects would cost far more memory than the objects' bytes)."""
    with ThreadPoolExecutor(workers, thread_name_prefix="deploy") as pool:
        pending: set[Future[R]] = set()
        for item in items:
            if len(pending) >= 4 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
            pending.add(pool.submit(fn, item))
        for future in pending:
            yield future.result()


def deploy(options: DeployOptions, on_progress: OnProgress | None = None) -> DeployResult:
    started = time.monotonic()
    if options.encoding not in plan.ENCODINGS:
        raise DeployError(f"unknown encoding {options.encoding!r}")
    if not (options.out / MANIFEST_NAME).is_file():
        raise DeployError(f"no site built in {options.out} (run build.py render first)")
    with ThreadPoolExecutor(1, thread_name_prefix="scan") as scanner:
        # The walk waits on the file system, the client on the network: side by side.
        scanning = scanner.submit(scan, options.out)
        bucket = Bucket(
            options.target, options.endpoint_url, options.workers, options.website_redirects
        )
        current = _read_manifest(bucket, plan.CURRENT)
        local = scanning.result()
    headers = plan.headers_fingerprint(options.encoding, bucket.website_redirects)
    todo = plan.plan_deploy(local, current, headers)
    result = DeployResult(_new_id(), skipped=todo.unchanged, dry_run=options.dry_run)
    result.uploaded_paths = [u.rel for u in todo.uploads]
    result.deleted_paths = list(todo.deletions)
    if options.dry_run or todo.nothing_to_do:
        return _finish(result, bucket, started)

    bucket.put(plan.STARTED, result.deploy_id.encode(), _BOOKKEEPING)
    saved: set[str] = set()
    if current is not None and any(u.backup for u in todo.uploads):
        # Listing only this deploy's backup folder: a re-run after a killed deploy must not
        # save bytes it already overwrote over the true previous ones.
        saved = set(bucket.list(f"{plan.BACKUPS}{current.id}/"))
    redirects: dict[str, str] = {}
    lock = threading.Lock()
    done = 0

    def send(upload: plan.Upload) -> int:
        body, object_headers, redirect = _object(options.out, upload.rel, options.encoding)
        if upload.backup and current is not None and upload.rel not in saved:
            old_redirect = current.redirects.get(upload.rel, "")
            if bucket.copy(upload.rel, plan.backup_key(current.id, upload.rel), old_redirect):
                with lock:
                    result.backed_up += 1
        bucket.put(upload.rel, body, object_headers)
        if redirect:
            with lock:
                redirects[upload.rel] = redirect
        return len(body)

    for _phase, uploads in groupby(todo.uploads, key=lambda u: u.phase):
        # Phase by phase: nothing of a phase starts before the one before it is stored.
        for size in _bounded(send, uploads, options.workers):
            result.uploaded += 1
            result.uploaded_bytes += size
            done += 1
            if on_progress is not None:
                on_progress(done, len(todo.uploads))

    if todo.deletions:
        bucket.delete(list(todo.deletions))
        result.deleted = len(todo.deletions)
    # Redirect targets: as sent now, else as the bucket's manifest had them (unchanged).
    sent = set(result.uploaded_paths)
    if current is not None:
        redirects.update(
            (rel, target)
            for rel, target in current.redirects.items()
            if rel in local and rel not in sent
        )
    _write_manifests(
        bucket, current, plan.Manifest(result.deploy_id, headers, local, todo.lingering, redirects)
    )
    if current is not None:
        _remove_old_backups(bucket, keep=current.id)
    return _finish(result, bucket, started)


_BOOKKEEPING = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}


def _write_manifests(bucket: Bucket, current: plan.Manifest | None, new: plan.Manifest) -> None:
    """The previous manifest first, the current last: a deploy killed in between leaves
    both equal, and `started` tells a rollback that the deploy did not finish."""
    if current is not None:
        bucket.copy(plan.CURRENT, plan.PREVIOUS)
    bucket.put(plan.CURRENT, plan.dump(new), _BOOKKEEPING)


def _remove_old_backups(bucket: Bucket, keep: str) -> None:
    """Backups are needed for one rollback: those of the previous deploy (`keep`)."""
    for deploy_id in list(bucket.list(plan.BACKUPS, folders=True)):
        if deploy_id != keep:
            folder = f"{plan.BACKUPS}{deploy_id}/"
            bucket.delete([folder + name for name in bucket.list(folder)])


def _finish(result: DeployResult, bucket: Bucket, started: float) -> DeployResult:
    result.requests = dict(bucket.requests)
    result.seconds = time.monotonic() - started
    return result


def rollback(options: DeployOptions, on_progress: OnProgress | None = None) -> DeployResult:
    """Put the previous deploy back (run it again to undo), from any machine: the bytes
    come from the bucket's backups, not from a local tree."""
    started = time.monotonic()
    bucket = Bucket(
        options.target, options.endpoint_url, options.workers, options.website_redirects
    )
    current = _read_manifest(bucket, plan.CURRENT)
    if current is None:
        raise DeployError(f"no previous deploy to roll back to in {options.target}")
    under_way = (bucket.get(plan.STARTED) or b"").decode()
    if under_way and under_way != current.id:
        raise DeployError(
            f"the last deploy ({under_way}) did not finish: run deploy again, then roll back"
        )
    previous = _read_manifest(bucket, plan.PREVIOUS)
    if previous is None or previous.id == current.id:
        raise DeployError(f"no previous deploy to roll back to in {options.target}")
    todo = plan.plan_rollback(current, previous)
    result = DeployResult(previous.id, dry_run=options.dry_run)
    result.uploaded_paths = [r.rel for r in todo.restores]
    if options.dry_run:
        return _finish(result, bucket, started)
    bucket.put(plan.STARTED, previous.id.encode(), _BOOKKEEPING)
    saved = set(bucket.list(f"{plan.BACKUPS}{current.id}/")) if todo.restores else set()
    lock = threading.Lock()

    def restore(item: plan.Restore) -> None:
        if item.rel not in saved and bucket.copy(
            item.rel, plan.backup_key(current.id, item.rel), current.redirects.get(item.rel, "")
        ):
            with lock:
                result.backed_up += 1
        if not bucket.copy(plan.backup_key(previous.id, item.rel), item.rel, item.redirect):
            raise BucketError(f"the backup of {item.rel} is missing: cannot roll it back")

    done = 0
    for _phase, items in groupby(todo.restores, key=lambda r: r.phase):
        for _ in _bounded(restore, items, options.workers):
            done += 1
            result.restored += 1
            if on_progress is not None:
                on_progress(done, len(todo.restores))
    _write_manifests(bucket, current, todo.manifest)
    return _finish(result, bucket, started)
