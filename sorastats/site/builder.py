"""`render`: model -> hash -> render only what changed -> publish atomically.

Pages stream from DuckDB; each page's hash covers its JSON document, its template set and
the output-relevant settings. A page whose hash matches the live manifest is never
rendered: the staging tree (recycled from the previous site, or hard-linked from the live
one) already holds it, or gets a hard link to the live file. A build where nothing
changed touches no file at all."""

from __future__ import annotations

import hashlib
import itertools
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import duckdb

from sorastats import db
from sorastats.db import schema_version
from sorastats.runlock import RunLock
from sorastats.schema import SCHEMA_VERSION
from sorastats.site import model, worker
from sorastats.site.config import RenderConfig
from sorastats.site.derived import cache_dir
from sorastats.site.ledger import Entry, Ledger
from sorastats.site.manifest import MANIFEST_NAME, manifest_file
from sorastats.site.page import Page, dumps
from sorastats.site.publish import (
    SiteDirs,
    link_copy,
    missing_outputs,
    prepare_staging,
    publish,
    staging_source,
)
from sorastats.site.search import Bundle, build_bundles
from sorastats.site.templating import asset_map, templates_fingerprint
from sorastats.site.urls import absolute
from sorastats.site.writer import DuplicateOutputError, remove_output, siblings
from sorastats.tempdirs import owned_tempdir

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class RenderError(RuntimeError):
    """The site could not be rendered from this database."""


@dataclass
class RenderReport:
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    pages: int = 0
    published: bool = False
    search_rebuilt: bool = False
    render_seconds: float = 0.0
    search_seconds: float = 0.0
    compress_seconds: float = 0.0  # CPU seconds, summed over the pool
    total_seconds: float = 0.0
    bytes_written: int = 0
    peak_rss_mib: float = 0.0  # the main process
    worker_peak_rss_mib: float = 0.0  # the largest render process
    search_peak_rss_mib: float = 0.0  # the largest Pagefind process
    deleted_paths: list[str] = field(default_factory=list)

    @property
    def pages_per_second(self) -> float:
        return self.written / self.render_seconds if self.render_seconds > 0 else 0.0


def page_hash(fingerprint: str, page: Page) -> str:
    h = hashlib.blake2b(fingerprint.encode(), digest_size=12)
    h.update(page.template.encode())
    h.update(b"\0")
    h.update(page.doc.encode())
    return h.hexdigest()


def open_db(path: Path, spill_dir: Path) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise RenderError(f"no database at {path}: run `python build.py import` first")
    con = duckdb.connect(str(path), read_only=True)
    version = schema_version(con)
    if version < SCHEMA_VERSION:
        # A database from an older release is upgraded in place, as the ingest would.
        con.close()
        db.connect(path).close()
        con = duckdb.connect(str(path), read_only=True)
        version = schema_version(con)
    if version != SCHEMA_VERSION:
        raise RenderError(
            f"{path} has schema version {version}, this renderer reads {SCHEMA_VERSION}"
        )
    # Bounded memory: DuckDB spills big joins instead of growing past this.
    con.execute("SET memory_limit = '320MB'")
    con.execute(f"SET temp_directory = '{spill_dir}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


def raw_pages(cfg: RenderConfig, assets: dict[str, str]) -> Iterator[Page]:
    static = cfg.templates / "static"
    for name, rel in assets.items():
        # Raw outputs travel as latin-1 text: a lossless byte<->str mapping, so images and
        # fonts added under templates/static/ pass through unchanged.
        yield Page(rel, "", (static / name).read_bytes().decode("latin-1"), sitemap=False)
    robots = f"User-agent: *\nAllow: /\n\nSitemap: {absolute(cfg.base_url, '/sitemap.xml')}\n"
    yield Page("robots.txt", "", robots, sitemap=False)


def sitemap_entries(cfg: RenderConfig, ledger: Ledger, fingerprint: str) -> list[Entry]:
    """The sitemaps' manifest entries, from digests of their URLs made in DuckDB (the
    pages themselves are made by `sitemap_pages` only when one changed)."""
    entries: list[Entry] = []
    names: list[str] = []
    for n, digest in enumerate(ledger.sitemap_digests(cfg.sitemap_max_urls), start=1):
        names.append(absolute(cfg.base_url, f"/sitemap-{n}.xml"))
        doc = f"{cfg.base_url}\0{cfg.sitemap_max_urls}\0{digest}"
        page = Page(f"sitemap-{n}.xml", "sitemap.xml", doc, sitemap=False)
        entries.append((page.rel, page.template, page_hash(fingerprint, page), False))
    index = Page("sitemap.xml", "sitemapindex.xml", dumps({"sitemaps": names}), sitemap=False)
    entries.append((index.rel, index.template, page_hash(fingerprint, index), False))
    return entries


def sitemap_pages(cfg: RenderConfig, ledger: Ledger) -> Iterator[Page]:
    """The sitemaps (at most `sitemap_max_urls` URLs each, sorted so they never churn)
    and their index, made from the pages in the ledger one sitemap at a time."""
    names: list[str] = []
    pending: list[str] = []

    def one(urls: list[str]) -> Page:
        name = f"sitemap-{len(names) + 1}.xml"
        names.append(absolute(cfg.base_url, "/" + name))
        doc = {"urls": [absolute(cfg.base_url, u) for u in urls]}
        return Page(name, "sitemap.xml", dumps(doc), sitemap=False)

    for chunk in ledger.sitemap_urls():
        pending.extend(chunk)
        while len(pending) >= cfg.sitemap_max_urls:
            yield one(pending[: cfg.sitemap_max_urls])
            del pending[: cfg.sitemap_max_urls]
    if pending:
        yield one(pending)
    yield Page("sitemap.xml", "sitemapindex.xml", dumps({"sitemaps": names}), sitemap=False)


def link_from(src_root: Path, dst_root: Path, rel: str) -> bool:
    """Give `dst_root` hard links to `src_root`'s copy of an output and its siblings;
    False (nothing changed) when the source lacks any of them."""
    names = (rel, *siblings(rel))
    if not all(os.path.exists(f"{src_root}/{name}") for name in names):
        return False
    for name in names:
        dst = f"{dst_root}/{name}"
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = f"{os.path.dirname(dst)}/.{os.path.basename(dst)}.link"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.link(f"{src_root}/{name}", tmp)
        os.replace(tmp, dst)
    return True


class RenderQueue:
    """Batches pages for rendering: in a process pool started by `start` (with `jobs`
    > 1, while DuckDB computes), else in this process."""

    def __init__(self, cfg: RenderConfig, setup: worker.WorkerSetup, report: RenderReport) -> None:
        self.cfg, self.setup, self.report = cfg, setup, report
        self.pool: ProcessPoolExecutor | None = None
        self.inline_ready = False
        self.inflight: set[Future[tuple[int, int, float, int]]] = set()
        self.batch: list[worker.Job] = []

    def add(self, rel: str, template: str, doc: str) -> None:
        self.batch.append((rel, template, doc))
        if len(self.batch) >= self.cfg.batch_size:
            self.flush()

    def _collect(self, done: Iterable[Future[tuple[int, int, float, int]]]) -> None:
        for fut in done:
            pages, size, spent, rss = fut.result()
            self._count(pages, size, spent)
            self.report.worker_peak_rss_mib = max(self.report.worker_peak_rss_mib, rss / 1024)

    def _count(self, pages: int, size: int, spent: float) -> None:
        self.report.written += pages
        self.report.bytes_written += size
        self.report.compress_seconds += spent

    def start(self) -> None:
        """Start the render processes now (with `jobs` > 1), so their start-up overlaps
        the SQL work; each renders a warm-up page so its templates are loaded too."""
        if self.pool is None and self.cfg.jobs > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=self.cfg.jobs,
                mp_context=get_context("forkserver"),
                initializer=worker.init_process,
                initargs=(self.setup,),
            )
            for _ in range(self.cfg.jobs):
                self.pool.submit(worker.warm_up)

    def flush(self) -> None:
        if not self.batch:
            return
        if self.pool is None:
            if not self.inline_ready:
                worker.init(self.setup)
                self.inline_ready = True
            pages, size, spent, _rss = worker.render_batch(self.batch)
            self._count(pages, size, spent)
        else:
            # Backpressure keeps memory flat (a few MB of documents in flight) and
            # lets a small change hand all its pages over at once.
            while len(self.inflight) >= self.cfg.jobs * 6:
                done, _ = wait(self.inflight, return_when=FIRST_COMPLETED)
                self.inflight.difference_update(done)
                self._collect(done)
            self.inflight.add(self.pool.submit(worker.render_batch, self.batch))
        self.batch = []

    def finish(self) -> None:
        self.flush()
        if self.inflight:
            done, _ = wait(self.inflight)
            self._collect(done)
            self.inflight.clear()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


SPILL_PREFIX = "sorastats-render-"  # DuckDB's spill folder (see sorastats.tempdirs)


def render_site(cfg: RenderConfig, log: Log = _stderr) -> RenderReport:
    """Render the site from `cfg.db` and publish it when anything changed."""
    if not cfg.db.exists():
        raise RenderError(f"no database at {cfg.db}: run `python build.py import` first")
    # One build per site folder: two would share `<out>.new` and `<out>.prev`.
    with RunLock(cfg.out, f"the site {cfg.out}"):
        spill = owned_tempdir(SPILL_PREFIX)
        try:
            return _render_site(cfg, log, spill)
        finally:
            shutil.rmtree(spill, ignore_errors=True)


def _entries(pages: Iterable[Page], fingerprint: str) -> list[Entry]:
    return [(p.rel, p.template, page_hash(fingerprint, p), p.sitemap) for p in pages]


def _render_site(cfg: RenderConfig, log: Log, spill_dir: Path) -> RenderReport:
    started = time.perf_counter()
    report = RenderReport()
    con = open_db(cfg.db, spill_dir)
    dirs = SiteDirs(cfg.out)
    root = dirs.staging
    assets = asset_map(cfg.templates / "static")
    queue = RenderQueue(cfg, worker.WorkerSetup(cfg.templates, cfg.base_url, assets, root), report)
    try:
        # The render processes start (imports, templates) while DuckDB works.
        queue.start()
        return _build(cfg, log, con, dirs, assets, queue, report, started)
    finally:
        queue.close()
        con.close()


def _build(
    cfg: RenderConfig,
    log: Log,
    con: duckdb.DuckDBPyConnection,
    dirs: SiteDirs,
    assets: dict[str, str],
    queue: RenderQueue,
    report: RenderReport,
    started: float,
) -> RenderReport:
    log(f"render: computing aggregates from {cfg.db}")
    # Which files the staging tree-to-be lacks, found on a thread while DuckDB works.
    source = staging_source(dirs)
    presence = ThreadPoolExecutor(max_workers=1)
    missing_in_base = presence.submit(missing_outputs, source) if source else None
    presence.shutdown(wait=False)
    model.prepare(con, cfg, cache_dir(cfg.out), log)
    info = model.site_info(con)
    bundles = [(b, digest) for b, digest in model.search_bundles(con)]
    fingerprint = templates_fingerprint(cfg.templates) + cfg.fingerprint()
    ledger = Ledger(con, cfg.fetch_size)
    ledger.load("live_m", None if cfg.full else manifest_file(dirs.live))

    # 1. Hash every page, set by set; a set's changed pages go to the render pool at once,
    # so rendering overlaps the hashing of the next sets and the Python pages.
    log("render: hashing pages")
    extra: list[Page] = []  # the pages made in Python (after the SQL sets)
    staged = recycled = False  # the staging tree exists; it started from an old tree
    render_started = 0.0

    def staging() -> Path:
        # Recycle the previous tree (or link the live one) at the first page to write.
        nonlocal staged, recycled, render_started
        if not staged:
            render_started = time.perf_counter()
            base_manifest = prepare_staging(dirs)
            ledger.load("base_m", base_manifest)
            if base_manifest is not None:
                base_manifest.unlink()
            staged, recycled = True, base_manifest is not None
        return dirs.staging

    def submit(kinds: tuple[str, ...]) -> None:
        for ps in model.PAGE_SETS:
            if ps.kind in kinds:
                for rel, doc in ledger.docs(ps, cfg):
                    queue.add(rel, ps.template, doc)
        todo = ledger.todo_rels(("py",)) if "py" in kinds else set()
        todo_maps = ledger.todo_rels(("sitemap",)) if "sitemap" in kinds else set()
        todo |= todo_maps
        # Sitemaps are made again rather than held (70 MB of URLs at 1M posts).
        maps = sitemap_pages(cfg, ledger) if todo_maps else ()
        for page in itertools.chain(extra, maps):
            if page.rel in todo:
                queue.add(page.rel, page.template, page.doc)
        queue.flush()

    for ps in model.PAGE_SETS:
        ledger.hash_sets([ps], fingerprint, cfg)
        if n := ledger.plan((ps.kind,)):
            log(f"render: rendering {n:,} changed {ps.kind} page(s)")
            staging()
            submit((ps.kind,))
    extra += [
        *raw_pages(cfg, assets),
        *model.extra_pages(con, cfg, info, [b.key for b, _ in bundles]),
    ]
    ledger.add(_entries(extra, fingerprint), "py")
    ledger.add(sitemap_entries(cfg, ledger, fingerprint), "sitemap")
    if (dup := ledger.duplicate()) is not None:
        # Pages may be in the staging tree already: it goes, the live site is untouched.
        queue.close()
        shutil.rmtree(dirs.staging, ignore_errors=True)
        raise DuplicateOutputError(f"two pages write {dup[0]}: {dup[1]} and {dup[2]}")
    report.pages = ledger.count("new_m")

    # 2. Plan the rest: the Python pages, deletions, search bundles.
    if ledger.plan(("py", "sitemap")):
        staging()
        submit(("py", "sitemap"))
    changed = ledger.count("todo")
    report.deleted_paths = ledger.deleted()
    report.deleted = len(report.deleted_paths)
    live_folders = ledger.folders("live_m")
    wanted = {b.key: digest + fingerprint for b, digest in bundles}
    stale_folders = [k for k in live_folders if k not in wanted]
    if not (
        changed
        or report.deleted
        or stale_folders
        or any(live_folders.get(k) != d for k, d in wanted.items())
    ):
        report.unchanged = report.pages
        report.total_seconds = time.perf_counter() - started
        report.peak_rss_mib = peak_rss_mib()
        return report

    # 3. While the pool renders, bring unchanged pages up to date with hard links
    # (different files: the two never touch the same path).
    root = staging()
    log(f"render: {changed:,} of {report.pages:,} pages changed")
    # Files deleted from a tree by hand are not trusted to be there.
    gone = missing_in_base.result() if missing_in_base and recycled else set()
    missing: list[str] = []
    for rel, held in ledger.unchanged():
        if (held and rel not in gone) or link_from(dirs.live, root, rel):
            report.unchanged += 1
        else:
            missing.append(rel)  # gone from both trees: rendered again
    if missing:
        log(f"render: {len(missing):,} unchanged page(s) missing from both trees: rendering")
        ledger.reset_todo(missing)
        submit(("py", "sitemap", *(ps.kind for ps in model.PAGE_SETS)))
    queue.finish()
    report.render_seconds = time.perf_counter() - render_started

    # 4. Drop what this build no longer has from the staging tree (after the pool is done:
    # emptied folders are removed, and a worker may be making one).
    base_folders = ledger.folders("base_m")
    for rel in ledger.stale():
        remove_output(root, rel)
    for key in base_folders:
        if key not in wanted:
            shutil.rmtree(root / key, ignore_errors=True)

    # 5. Search bundles whose searchable text changed; then the manifest, then publish.
    t0 = time.perf_counter()
    rebuild: list[Bundle] = []
    for bundle, _digest in bundles:
        digest = wanted[bundle.key]
        if base_folders.get(bundle.key) == digest and (root / bundle.key).is_dir():
            continue
        if live_folders.get(bundle.key) == digest and (dirs.live / bundle.key).is_dir():
            shutil.rmtree(root / bundle.key, ignore_errors=True)
            link_copy(dirs.live / bundle.key, root / bundle.key)
        else:
            rebuild.append(bundle)
    if rebuild:
        log(f"render: building {len(rebuild)} search bundle(s)")
        spent, peak_kib = build_bundles(root, rebuild, min(2, cfg.jobs))
        report.compress_seconds += spent
        report.search_peak_rss_mib = peak_kib / 1024
        report.search_rebuilt = True
    report.search_seconds = time.perf_counter() - t0
    ledger.write_manifest(root / MANIFEST_NAME, wanted)
    publish(dirs)
    report.published = True
    report.total_seconds = time.perf_counter() - started
    report.peak_rss_mib = peak_rss_mib()
    return report


def peak_rss_mib() -> float:
    """Peak resident memory of this process (render processes report their own)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
