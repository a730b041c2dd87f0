"""`render`: model -> hash -> render only what changed -> publish atomically.

Pages stream from DuckDB; each page's hash covers its JSON document, its template set and
the output-relevant settings. A page whose hash matches the live manifest is never
rendered: the staging tree (recycled from the previous site, or hard-linked from the live
one) already holds it, or gets a hard link to the live file. A build where nothing
changed touches no file at all."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import duckdb

from sorastats.db import schema_version
from sorastats.schema import SCHEMA_VERSION
from sorastats.site import model, worker
from sorastats.site.config import RenderConfig
from sorastats.site.manifest import read_manifest, write_manifest
from sorastats.site.model import Page, dumps
from sorastats.site.publish import SiteDirs, link_copy, prepare_staging, publish
from sorastats.site.search import Bundle, build_bundles
from sorastats.site.templating import asset_map, templates_fingerprint
from sorastats.site.urls import absolute, chunks_of
from sorastats.site.writer import PathClaims, remove_output, siblings

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


def sitemap_pages(cfg: RenderConfig, urls: list[str]) -> Iterator[Page]:
    urls = sorted(urls)  # rows stream in no fixed order; the sitemap must not churn
    parts = chunks_of(len(urls), cfg.sitemap_max_urls)
    names = []
    for n, part in enumerate(parts, start=1):
        name = f"sitemap-{n}.xml"
        names.append(absolute(cfg.base_url, "/" + name))
        doc = {"urls": [absolute(cfg.base_url, urls[i]) for i in part]}
        yield Page(name, "sitemap.xml", dumps(doc), sitemap=False)
    yield Page("sitemap.xml", "sitemapindex.xml", dumps({"sitemaps": names}), sitemap=False)


class Staging:
    """The staging tree, prepared only once the build knows something changed."""

    def __init__(self, dirs: SiteDirs, live: dict[str, str]) -> None:
        self.dirs = dirs
        self.live = live
        self.base: dict[str, str] | None = None
        self._pending: list[tuple[str, str]] = []

    @property
    def root(self) -> Path:
        return self.dirs.staging

    def ensure(self) -> dict[str, str]:
        if self.base is None:
            self.base = prepare_staging(self.dirs)
            missing = [rel for rel, digest in self._pending if not self.keep(rel, digest)]
            self._pending = []
            if missing:
                raise RenderError(
                    f"the live site lacks {len(missing)} file(s) its manifest lists "
                    f"(e.g. {missing[0]}); run `build.py render --full` to rebuild it whole"
                )
        return self.base

    def keep(self, rel: str, digest: str) -> bool:
        """Make staging hold the live copy of an unchanged page; False if it cannot."""
        if self.base is None:
            self._pending.append((rel, digest))
            return True
        if self.base.get(rel) == digest and os.path.exists(self.root / rel):
            return True  # (the stat guards against files deleted from a tree by hand)
        for name in (rel, *siblings(rel)):
            src, dst = self.dirs.live / name, self.root / name
            if not src.exists():
                return False
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.link")
            if tmp.exists():
                tmp.unlink()
            os.link(src, tmp)
            os.replace(tmp, dst)
        return True


def render_site(cfg: RenderConfig, log: Log = _stderr) -> RenderReport:
    """Render the site from `cfg.db` and publish it when anything changed."""
    if not cfg.db.exists():
        raise RenderError(f"no database at {cfg.db}: run `python build.py import` first")
    with tempfile.TemporaryDirectory(prefix="sorastats-render-") as spill:
        return _render_site(cfg, log, Path(spill))


def _render_site(cfg: RenderConfig, log: Log, spill_dir: Path) -> RenderReport:
    started = time.perf_counter()
    report = RenderReport()
    con = open_db(cfg.db, spill_dir)
    log(f"render: computing aggregates from {cfg.db}")
    model.prepare(con, cfg)
    info = model.site_info(con)
    bundles = [(b, digest) for b, digest in model.search_bundles(con)]
    assets = asset_map(cfg.templates / "static")
    fingerprint = templates_fingerprint(cfg.templates) + cfg.fingerprint()
    dirs = SiteDirs(cfg.out)
    live = {} if cfg.full else (read_manifest(dirs.live) or {})
    staging = Staging(dirs, live)
    claims = PathClaims()
    new: dict[str, str] = {}
    sitemap_urls: list[str] = []

    setup = worker.WorkerSetup(cfg.templates, cfg.base_url, assets, dirs.staging)
    # The pool starts with the first full batch: a small change renders in this process
    # and never pays for starting workers.
    pool: ProcessPoolExecutor | None = None
    inline_ready = False
    inflight: set[Future[tuple[int, int, float, int]]] = set()
    batch: list[worker.Job] = []
    last_log = time.perf_counter()
    render_started = time.perf_counter()

    def collect(done: Iterable[Future[tuple[int, int, float, int]]]) -> None:
        for fut in done:
            pages, size, spent, rss = fut.result()
            report.written += pages
            report.bytes_written += size
            report.compress_seconds += spent
            report.worker_peak_rss_mib = max(report.worker_peak_rss_mib, rss / 1024)

    def flush(final: bool = False) -> None:
        nonlocal batch, pool, inline_ready
        if not batch:
            return
        if pool is None and cfg.jobs > 1 and not final:
            pool = ProcessPoolExecutor(
                max_workers=cfg.jobs,
                mp_context=get_context("forkserver"),
                initializer=worker.init,
                initargs=(setup,),
            )
        if pool is None:
            if not inline_ready:
                worker.init(setup)
                inline_ready = True
            pages, size, spent, _rss = worker.render_batch(batch)
            report.written += pages
            report.bytes_written += size
            report.compress_seconds += spent
        else:
            while len(inflight) >= cfg.jobs * 3:  # backpressure keeps memory flat
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                inflight.difference_update(done)
                collect(done)
            inflight.add(pool.submit(worker.render_batch, batch))
        batch = []

    def consider(page: Page) -> None:
        nonlocal last_log
        claims.claim(page.rel, page.template or "raw")
        digest = page_hash(fingerprint, page)
        new[page.rel] = digest
        report.pages += 1
        if page.sitemap:
            url = "/" + page.rel.removesuffix("index.html")
            sitemap_urls.append(url)
        if live.get(page.rel) == digest and staging.keep(page.rel, digest):
            report.unchanged += 1
        else:
            staging.ensure()
            batch.append((page.rel, page.template, page.doc))
            if len(batch) >= cfg.batch_size:
                flush()
        now = time.perf_counter()
        if now - last_log > 5:
            last_log = now
            log(f"render: {report.pages:,} pages seen, {report.written:,} written")

    try:
        for page in raw_pages(cfg, assets):
            consider(page)
        for page in model.iter_pages(con, cfg, info, [b.key for b, _ in bundles]):
            consider(page)
        for page in sitemap_pages(cfg, sitemap_urls):
            consider(page)
        flush(final=True)
        if inflight:
            done, _ = wait(inflight)
            collect(done)
            inflight.clear()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    report.render_seconds = time.perf_counter() - render_started

    # Keys ending in "/" are search bundles (folders), not pages.
    report.deleted_paths = sorted(r for r in live if r not in new and not r.endswith("/"))
    report.deleted = len(report.deleted_paths)
    con.close()
    wanted = {b.key: digest + fingerprint for b, digest in bundles}
    new.update(wanted)
    stale_bundles = [k for k in live if k.endswith("/") and k not in wanted]
    if report.deleted or stale_bundles or any(live.get(k) != d for k, d in wanted.items()):
        staging.ensure()

    if staging.base is not None:
        base = staging.base
        for rel in base:
            if rel not in new:
                if rel.endswith("/"):
                    shutil.rmtree(staging.root / rel, ignore_errors=True)
                else:
                    remove_output(staging.root, rel)
        t0 = time.perf_counter()
        rebuild: list[Bundle] = []
        for bundle, _digest in bundles:
            digest = wanted[bundle.key]
            if base.get(bundle.key) == digest and (staging.root / bundle.key).is_dir():
                continue
            if live.get(bundle.key) == digest and (dirs.live / bundle.key).is_dir():
                shutil.rmtree(staging.root / bundle.key, ignore_errors=True)
                link_copy(dirs.live / bundle.key, staging.root / bundle.key)
            else:
                rebuild.append(bundle)
        if rebuild:
            log(f"render: building {len(rebuild)} search bundle(s)")
            spent, peak_kib = build_bundles(staging.root, rebuild, min(2, cfg.jobs))
            report.compress_seconds += spent
            report.search_peak_rss_mib = peak_kib / 1024
            report.search_rebuilt = True
        report.search_seconds = time.perf_counter() - t0
        write_manifest(staging.root, new)
        publish(dirs)
        report.published = True
    report.total_seconds = time.perf_counter() - started
    report.peak_rss_mib = peak_rss_mib()
    return report


def peak_rss_mib() -> float:
    """Peak resident memory of this process (render processes report their own)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
