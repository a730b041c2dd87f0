"""`render`: model -> hash -> render only what changed -> publish atomically.

Pages stream from DuckDB; each page's hash covers its JSON document, its template set and
the output-relevant settings. A page whose hash matches the live manifest is never
rendered: the staging tree (recycled from the previous site, or hard-linked from the live
one) already holds it, or gets a hard link to the live file. A build where nothing
changed touches no file at all."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import resource
import shutil
import threading
import time
from collections import deque
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
from typing import Any

import duckdb

from sorastats import db
from sorastats.archive import CaptureArchive
from sorastats.db import schema_version
from sorastats.run import default_captures_dir
from sorastats.runlock import RunLock
from sorastats.schema import SCHEMA_VERSION
from sorastats.site import icons, images, model, opendata, worker
from sorastats.site.config import RenderConfig
from sorastats.site.content import ContentError, load_notice
from sorastats.site.derived import cache_dir
from sorastats.site.ledger import Entry, Ledger
from sorastats.site.manifest import MANIFEST_NAME, manifest_file
from sorastats.site.page import Page, dumps
from sorastats.site.publish import (
    SiteDirs,
    link_copy,
    missing_outputs,
    prepare_staging,
    staging_source,
)
from sorastats.site.publish import publish as publish_staging
from sorastats.site.search import Bundle, build_bundles, is_post_bundle
from sorastats.site.templating import asset_contents, asset_map, templates_fingerprint
from sorastats.site.urls import absolute
from sorastats.site.writer import DuplicateOutputError, remove_output, siblings
from sorastats.tempdirs import owned_tempdir

Log = Callable[[str], None]
# Checks a finished staging tree before it goes live: (files checked, problems), as
# `sorastats.site.check.check_site` returns them. Any problem keeps the live site as it is.
Check = Callable[[Path], tuple[int, list[str]]]

# Where a build's progress goes unless the caller passes a `log` (the library prints
# nothing itself: see `render_site`).
_logger = logging.getLogger("sorastats.site")


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
    # Wall seconds of the prompt pages' search bundles indexed on a thread while the rest
    # of the site rendered (a build into an empty staging tree; 0 otherwise).
    search_overlap_seconds: float = 0.0
    search_skipped: bool = False  # built with `search=False`: no Pagefind index
    # With a `check` (the nightly's): files it checked in the staging tree and what it
    # found; any problem means the build was not published.
    checked: int = 0
    check_problems: list[str] = field(default_factory=list)
    deleted_paths: list[str] = field(default_factory=list)
    images_encoded: int = 0  # site images made now (not linked from a tree or the cache)
    image_cpu_seconds: float = 0.0  # spent encoding them, summed over the threads
    # Wall seconds of each phase of `SiteBuild` that ran, in the order they ran.
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # CPU seconds (user + system) of the whole build: this process with its threads, the
    # programs it ran (Pagefind, cp) and the render processes (as they last reported).
    cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0  # the render processes' part of it

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
    contents = asset_contents(cfg.templates / "static")
    for name, rel in assets.items():
        # Raw outputs travel as latin-1 text: a lossless byte<->str mapping, so images and
        # fonts added under templates/static/ pass through unchanged.
        yield Page(rel, "", contents[name].decode("latin-1"), sitemap=False)
    robots = f"User-agent: *\nAllow: /\n\nSitemap: {absolute(cfg.base_url, '/sitemap.xml')}\n"
    yield Page("robots.txt", "", robots, sitemap=False)
    for rel, data in icons.files().items():  # at the root, where browsers look for them
        yield Page(rel, "", data.decode("latin-1"), sitemap=False)
    for rel, data in images.shared_files().items():  # the og:image of pages without one
        yield Page(rel, "", data.decode("latin-1"), sitemap=False)


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
        self.inflight: set[Future[worker.BatchResult]] = set()
        self.worker_cpu: dict[int, float] = {}  # pool process id -> its CPU seconds so far
        self.batch: list[worker.Job] = []

    def add(self, rel: str, template: str, doc: str) -> None:
        self.batch.append((rel, template, doc))
        if len(self.batch) >= self.cfg.batch_size:
            self.flush()

    def _collect(self, done: Iterable[Future[worker.BatchResult]]) -> None:
        for fut in done:
            pages, size, spent, rss, pid, cpu = fut.result()
            self._count(pages, size, spent)
            self.report.worker_peak_rss_mib = max(self.report.worker_peak_rss_mib, rss / 1024)
            self.worker_cpu[pid] = max(self.worker_cpu.get(pid, 0.0), cpu)

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
            pages, size, spent, _rss, _pid, _cpu = worker.render_batch(self.batch)
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


def render_site(
    cfg: RenderConfig, log: Log | None = None, check: Check | None = None
) -> RenderReport:
    """Render the site from `cfg.db` and publish it when anything changed. Progress goes
    to `log` (default: the `sorastats.site` logger at INFO, which shows nothing unless
    the program configures logging; the command line shows it on stderr).

    With `check`, the finished staging tree (manifest written) is checked before the
    swap; if it reports any problem the build is not published (`report.published` is
    False, `report.check_problems` says why), the live site stays as it was and the
    rejected tree stays at `<out>.new` for a look until the next build replaces it."""
    return SiteBuild.render(cfg, log, check)


def _entries(pages: Iterable[Page], fingerprint: str) -> list[Entry]:
    return [(p.rel, p.template, page_hash(fingerprint, p), p.sitemap) for p in pages]


class SiteBuild:
    """One render of the site, as phases that `run` calls in order:

    1. `prepare`: start the render processes; compute the aggregates in DuckDB; load the
       live manifest (what the site holds now).
    2. `render_page_sets`: hash the SQL page sets (feeds included) one by one and queue
       each set's changed pages, so rendering overlaps the hashing of the next set.
    3. `render_python_pages`: the pages made in Python (assets, robots.txt, content,
       search page, boards) and the sitemaps; queue the changed ones.
    4. `plan_changes`: what the build deletes, and whether anything changed at all (if
       not, the build stops here and touches no file).
    5. `link_unchanged`: hard-link unchanged pages into the staging tree while the pool
       renders (re-rendering any missing from both trees).
    6. `finish_rendering`: wait for the render processes.
    7. `drop_stale`: remove what this build no longer has from the staging tree.
    8. `index_search`: Pagefind, for the search bundles whose text changed (skipped with
       `search=False`).
    9. `seal`: write the staging tree's manifest; run the caller's `check` on it, if any.
    10. `publish`: swap the staging tree in atomically (not when the check found problems).

    The live site is only ever changed by `publish`: a failure in any earlier phase
    leaves it as it was. Pages are compressed as they are written (by the render
    processes), so there is no phase of its own for that."""

    def __init__(
        self, cfg: RenderConfig, log: Log, spill_dir: Path, check: Check | None = None
    ) -> None:
        self.started = time.perf_counter()
        self.cpu_started = cpu_seconds()
        self.cfg, self.log, self.check = cfg, log, check
        self.report = RenderReport(search_skipped=not cfg.search)
        self.dirs = SiteDirs(cfg.out)
        self.assets = asset_map(cfg.templates / "static")
        self.con = open_db(cfg.db, spill_dir)
        try:
            self.notice = load_notice(cfg.content)
        except ContentError as exc:
            self.con.close()
            raise RenderError(str(exc)) from None
        setup = worker.WorkerSetup(
            cfg.templates, cfg.base_url, self.assets, self.dirs.staging, cfg.contact, self.notice
        )
        self.queue = RenderQueue(cfg, setup, self.report)
        self.ledger = Ledger(self.con, cfg.fetch_size)
        # Filled in by the phases.
        self.fingerprint = ""
        self.info: dict[str, Any] = {}
        self.bundles: list[tuple[Bundle, str]] = []
        self.missing_in_base: Future[set[str]] | None = None
        self.extra: list[Page] = []  # the pages made in Python (after the SQL sets)
        self.staged = self.recycled = False  # staging exists; it started from an old tree
        self.render_started = 0.0
        self.changed = 0
        self.live_folders: dict[str, str] = {}  # search bundles: live, staging, this build
        self.base_folders: dict[str, str] = {}
        self.wanted: dict[str, str] = {}
        self.image_outputs: dict[str, images.Output] = {}  # rel -> the site image it is
        self.images: images.ImageRenderer | None = None  # made at the first image to make
        # The prompt pages' bundles indexed while the rest renders (see `_index_posts_early`).
        self.early: Future[tuple[float, int, float]] | None = None
        self.early_keys: set[str] = set()
        self.early_pending: deque[Bundle] = deque()  # not started yet: either thread takes one
        self.early_pool: ThreadPoolExecutor | None = None
        self.stop = threading.Event()  # set when the build ends: no further Pagefind run
        self.datasets: dict[str, opendata.Dataset] = {}  # rel -> the open-data file it is

    @classmethod
    def render(
        cls, cfg: RenderConfig, log: Log | None = None, check: Check | None = None
    ) -> RenderReport:
        """Build once, holding the site's lock, with a spill folder of its own."""
        if not cfg.db.exists():
            raise RenderError(f"no database at {cfg.db}: run `python build.py import` first")
        # One build per site folder: two would share `<out>.new` and `<out>.prev`.
        with RunLock(cfg.out, f"the site {cfg.out}"):
            spill = owned_tempdir(SPILL_PREFIX)
            try:
                build = cls(cfg, log or _logger.info, spill, check)
                try:
                    return build.run()
                finally:
                    build.close()
            finally:
                shutil.rmtree(spill, ignore_errors=True)

    def run(self) -> RenderReport:
        self._phase(self.prepare)
        self._phase(self.render_page_sets)
        self._phase(self.render_python_pages)
        self._phase(self.plan_changes)
        if self.has_changes():
            self._phase(self.link_unchanged)
            self._phase(self.finish_rendering)
            self._phase(self.drop_stale)
            self._phase(self.index_search)
            self._phase(self.seal)
            if not self.report.check_problems:
                self._phase(self.publish)
        else:
            self.report.unchanged = self.report.pages
        self.report.total_seconds = time.perf_counter() - self.started
        self.report.peak_rss_mib = peak_rss_mib()
        self.report.worker_cpu_seconds = sum(self.queue.worker_cpu.values())
        self.report.cpu_seconds = cpu_seconds() - self.cpu_started + self.report.worker_cpu_seconds
        return self.report

    def close(self) -> None:
        self.stop.set()
        if self.early_pool is not None:
            self.early_pool.shutdown(wait=True)
        self.queue.close()
        if self.images is not None:
            self.images.close()
        self.con.close()

    def _phase(self, phase: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        phase()
        self.report.phase_seconds[phase.__name__] = time.perf_counter() - t0

    # -- the phases ----------------------------------------------------------------------

    def prepare(self) -> None:
        cfg = self.cfg
        # The render processes start (imports, templates) while DuckDB works.
        self.queue.start()
        self.log(f"render: computing aggregates from {cfg.db}")
        # Which files the staging tree-to-be lacks, found on a thread while DuckDB works.
        if source := staging_source(self.dirs):
            presence = ThreadPoolExecutor(max_workers=1)
            self.missing_in_base = presence.submit(missing_outputs, source)
            presence.shutdown(wait=False)
        model.prepare(self.con, cfg, cache_dir(cfg.out), self.log)
        self.info = model.site_info(self.con)
        self.bundles = list(model.search_bundles(self.con))
        # The notice is on every page: a new one re-renders them all.
        notice = hashlib.blake2b(self.notice.encode(), digest_size=4).hexdigest()
        self.fingerprint = templates_fingerprint(cfg.templates) + cfg.fingerprint() + notice
        self.ledger.load("live_m", None if cfg.full else manifest_file(self.dirs.live))

    def render_page_sets(self) -> None:
        self.log("render: hashing pages")
        for ps in model.PAGE_SETS:
            self.ledger.hash_sets([ps], self.fingerprint, self.cfg)
            if n := self.ledger.plan((ps.kind,)):
                self.log(f"render: rendering {n:,} changed {ps.kind} page(s)")
                self._staging()
                self._queue_todo((ps.kind,))
                if ps.kind == "post":
                    self._index_posts_early()

    def render_python_pages(self) -> None:
        ledger, cfg = self.ledger, self.cfg
        search_keys = [b.key for b, _ in self.bundles]
        # The open data: each file an entry of its own kind, hashed by its rows in DuckDB.
        summaries = [opendata.summarize(self.con, ds) for ds in opendata.DATASETS]
        self.datasets = {s.dataset.rel: s.dataset for s in summaries}
        self.extra += [
            *raw_pages(cfg, self.assets),
            *model.extra_pages(self.con, cfg, self.info, search_keys),
            *opendata.pages(summaries, self.info),
        ]
        ledger.add(_entries(self.extra, self.fingerprint), "py")
        ledger.add([(s.dataset.rel, "", s.digest, False) for s in summaries], "data")
        # The site's images: entries of their own kind, hashed by name (a name is its bytes).
        archive = CaptureArchive(cfg.captures or default_captures_dir(cfg.db))
        self.image_outputs = {o.rel: o for o in images.outputs(self.con, archive)}
        ledger.add([(o.rel, "", o.digest, False) for o in self.image_outputs.values()], "media")
        ledger.add(sitemap_entries(cfg, ledger, self.fingerprint), "sitemap")
        if (dup := ledger.duplicate()) is not None:
            # Pages may be in the staging tree already: it goes, the live site is untouched.
            self.queue.close()
            shutil.rmtree(self.dirs.staging, ignore_errors=True)
            raise DuplicateOutputError(f"two pages write {dup[0]}: {dup[1]} and {dup[2]}")
        self.report.pages = ledger.count("new_m")
        if ledger.plan(("py", "sitemap")):
            self._staging()
            self._queue_todo(("py", "sitemap"))
        if ledger.plan(("media",)):
            self._staging()
            self._queue_todo(("media",))
        if ledger.plan(("data",)):
            self._staging()
            self._queue_todo(("data",))

    def plan_changes(self) -> None:
        report = self.report
        self.changed = self.ledger.count("todo")
        report.deleted_paths = self.ledger.deleted()
        report.deleted = len(report.deleted_paths)
        self.live_folders = self.ledger.folders("live_m")
        if self.cfg.search:
            self.wanted = {b.key: digest + self.fingerprint for b, digest in self.bundles}

    def has_changes(self) -> bool:
        """Anything to render, delete, index or drop from the search bundles."""
        live, wanted = self.live_folders, self.wanted
        return bool(
            self.changed
            or self.report.deleted
            or any(k not in wanted for k in live)
            or any(live.get(k) != d for k, d in wanted.items())
        )

    def link_unchanged(self) -> None:
        # While the pool renders (different files: the two never touch the same path).
        root = self._staging()
        self.log(f"render: {self.changed:,} of {self.report.pages:,} pages changed")
        # Files deleted from a tree by hand are not trusted to be there.
        base = self.missing_in_base
        gone = base.result() if base is not None and self.recycled else set()
        missing: list[str] = []
        for rel, held in self.ledger.unchanged():
            if (held and rel not in gone) or link_from(self.dirs.live, root, rel):
                self.report.unchanged += 1
            else:
                missing.append(rel)  # gone from both trees: rendered again
        if missing:
            self.log(
                f"render: {len(missing):,} unchanged page(s) missing from both trees: rendering"
            )
            self.ledger.reset_todo(missing)
            self._queue_todo(
                ("py", "sitemap", "media", "data", *(ps.kind for ps in model.PAGE_SETS))
            )

    def finish_rendering(self) -> None:
        self.queue.finish()
        if self.images is not None:
            try:
                self.images.finish()
            except images.ImageError as exc:
                raise RenderError(str(exc)) from None
            self.report.images_encoded += self.images.encoded
            self.report.image_cpu_seconds += self.images.cpu_seconds
        self.report.render_seconds = time.perf_counter() - self.render_started

    def drop_stale(self) -> None:
        # After the pool is done: emptied folders are removed, and a worker may make one.
        root = self.dirs.staging
        self.base_folders = self.ledger.folders("base_m")
        for rel in self.ledger.stale():
            remove_output(root, rel)
        for key in self.base_folders:
            if key not in self.wanted:
                shutil.rmtree(root / key, ignore_errors=True)
        images.prune_cache(cache_dir(self.cfg.out), self.image_outputs)

    def index_search(self) -> None:
        if not self.cfg.search:
            self.log("render: search off: no Pagefind index")
            return
        t0 = time.perf_counter()
        root, live = self.dirs.staging, self.dirs.live
        rebuild: list[Bundle] = []
        for bundle, _digest in self.bundles:
            if bundle.key in self.early_keys:
                continue  # indexed (or being indexed) on the thread
            digest = self.wanted[bundle.key]
            if self.base_folders.get(bundle.key) == digest and (root / bundle.key).is_dir():
                continue
            if self.live_folders.get(bundle.key) == digest and (live / bundle.key).is_dir():
                shutil.rmtree(root / bundle.key, ignore_errors=True)
                link_copy(live / bundle.key, root / bundle.key)
            else:
                rebuild.append(bundle)
        if rebuild:
            self.log(f"render: building {len(rebuild)} search bundle(s)")
            # Beside the thread's Pagefind, if it still runs: two at most in all.
            busy = 1 if self.early is not None and not self.early.done() else 0
            parallel = max(1, min(2, self.cfg.jobs) - busy)
            spent, peak_kib = build_bundles(root, rebuild, parallel, self.stop.is_set)
            self.report.compress_seconds += spent
            self.report.search_peak_rss_mib = max(self.report.search_peak_rss_mib, peak_kib / 1024)
            self.report.search_rebuilt = True
        if self.early is not None:
            if self.cfg.jobs > 1:
                # The prompt bundles the thread has not started yet: this thread builds
                # its share of them beside it (one Pagefind each): both cores stay busy.
                spent, peak_kib = build_bundles(root, self.early_pending, 1, self.stop.is_set)
                self.report.compress_seconds += spent
                self.report.search_peak_rss_mib = max(
                    self.report.search_peak_rss_mib, peak_kib / 1024
                )
            spent, peak_kib, wall = self.early.result()
            self.report.compress_seconds += spent
            self.report.search_peak_rss_mib = max(self.report.search_peak_rss_mib, peak_kib / 1024)
            self.report.search_overlap_seconds = wall
            self.report.search_rebuilt = True
        self.report.search_seconds = time.perf_counter() - t0

    def seal(self) -> None:
        staging = self.dirs.staging
        self.ledger.write_manifest(staging / MANIFEST_NAME, self.wanted)
        if self.check is not None:
            # Before the swap, so a site that fails the check never goes live (the
            # check reads the manifest: it tells a site built without search).
            self.report.checked, self.report.check_problems = self.check(staging)
            if self.report.check_problems:
                self.log(
                    f"render: the check found {len(self.report.check_problems):,} "
                    f"problem(s) in {staging}: not published, the live site is unchanged"
                )

    def publish(self) -> None:
        publish_staging(self.dirs)
        self.report.published = True

    # -- helpers of the phases -----------------------------------------------------------

    def _staging(self) -> Path:
        """The staging tree, made at the first page to write: the previous tree recycled
        (or the live one linked), whose manifest becomes `base_m`."""
        if not self.staged:
            self.render_started = time.perf_counter()
            base_manifest = prepare_staging(self.dirs)
            self.ledger.load("base_m", base_manifest)
            if base_manifest is not None:
                base_manifest.unlink()
            self.staged, self.recycled = True, base_manifest is not None
        return self.dirs.staging

    def _index_posts_early(self) -> None:
        """Index the prompt pages' search bundles on a thread as soon as the render
        processes have written the post pages, while the rest of the site renders (one
        Pagefind process beside them). Only into an empty staging tree (a first build, or
        one after the folders beside the site were deleted): then nothing stale can be
        among the pages Pagefind reads. Else `index_search` builds every bundle after the
        stale pages are gone."""
        if not self.cfg.search or self.recycled or self.ledger.count("base_m"):
            return
        live = self.ledger.folders("live_m")
        early = [
            bundle
            for bundle, digest in self.bundles
            if is_post_bundle(bundle)
            and not (
                live.get(bundle.key) == digest + self.fingerprint
                and (self.dirs.live / bundle.key).is_dir()
            )
        ]
        if not early:
            return
        written = list(self.queue.inflight)  # the post batches not collected yet
        root, stopped = self.dirs.staging, self.stop.is_set

        def index() -> tuple[float, int, float]:
            t0 = time.perf_counter()
            wait(written)
            if any(f.exception() is not None for f in written):
                return 0.0, 0, 0.0  # the build fails when it collects them
            spent, peak_kib = build_bundles(root, pending, 1, stopped)
            return spent, peak_kib, time.perf_counter() - t0

        self.log(f"render: indexing {len(early)} prompt search bundle(s) while rendering")
        self.early_keys = {b.key for b in early}
        self.early_pending = pending = deque(early)
        self.early_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search")
        self.early = self.early_pool.submit(index)

    def _queue_todo(self, kinds: tuple[str, ...]) -> None:
        """Hand the pages of these kinds in `todo` to the render queue."""
        ledger, cfg = self.ledger, self.cfg
        if "media" in kinds and (rels := ledger.todo_rels(("media",))):
            if self.images is None:
                archive = CaptureArchive(cfg.captures or default_captures_dir(cfg.db))
                self.images = images.ImageRenderer(archive, cache_dir(cfg.out), cfg.jobs, self.log)
            self.images.add((self.image_outputs[rel] for rel in sorted(rels)), self._staging())
        if "data" in kinds:
            # Written here, by DuckDB, straight into the staging tree (not by the pool).
            for rel in sorted(ledger.todo_rels(("data",))):
                self.report.bytes_written += opendata.write(
                    self.con, self.datasets[rel], self._staging()
                )
                self.report.written += 1
        for ps in model.PAGE_SETS:
            if ps.kind in kinds:
                for rel, doc in ledger.docs(ps, cfg):
                    self.queue.add(rel, ps.template, doc)
        todo = ledger.todo_rels(("py",)) if "py" in kinds else set()
        todo_maps = ledger.todo_rels(("sitemap",)) if "sitemap" in kinds else set()
        todo |= todo_maps
        # Sitemaps are made again rather than held (70 MB of URLs at 1M posts).
        maps = sitemap_pages(cfg, ledger) if todo_maps else ()
        for page in itertools.chain(self.extra, maps):
            if page.rel in todo:
                self.queue.add(page.rel, page.template, page.doc)
        self.queue.flush()


def cpu_seconds() -> float:
    """User and system CPU seconds of this process and the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mib() -> float:
    """Peak resident memory of this process (render processes report their own)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
