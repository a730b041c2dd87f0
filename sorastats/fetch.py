"""`build.py fetch`: page through the feed (and, optionally, every known creator's
profile feed) and ingest each page in its own transaction with the run's checkpoint.

A run killed at any instant leaves status `running` and the checkpoint of its last
committed page; the next start with the same options resumes that run from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from sorastats import config as config_module
from sorastats import media, parse
from sorastats.client import (
    FetchFailedError,
    RequestBudgetSpentError,
    SoraClient,
    public_url,
)
from sorastats.ingest import utcnow
from sorastats.run import IngestRun, Log, OnMessage, OnProgress, Reporter, RunResult
from sorastats.staging import Stager

PAGE_LIMIT = 16
CREATOR_CHUNK = 1000  # creator ids read from the database at a time


@dataclass(frozen=True)
class FetchOptions:
    base_url: str
    cut: str = "nf2_latest"
    refresh_creators: bool = False
    max_requests: int | None = None
    media: bool = False  # then download thumbnails and pictures while their URLs are valid

    def run_source(self) -> str:
        """What `runs.source` records: the base URL (never a token) and the options."""
        extra = " +creators" if self.refresh_creators else ""
        return f"{public_url(self.base_url)} cut={self.cut}{extra}"


def _known_ids(con: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    placeholders = ", ".join("?" for _ in ids)
    rows = con.execute(
        f"SELECT id FROM posts WHERE id IN ({placeholders}) "
        f"UNION SELECT post_id FROM tombstones WHERE post_id IN ({placeholders})",
        [*ids, *ids],
    ).fetchall()
    return {str(r[0]) for r in rows}


def _page_post_ids(doc: Any) -> list[str]:
    ids = []
    for item in doc.get("items") or []:
        post = item.get("post") if isinstance(item, dict) else None
        if (
            isinstance(post, dict)
            and isinstance(post.get("id"), str)
            and not parse.is_comment(post)
        ):
            ids.append(post["id"])
    return ids


def _creators_after(con: duckdb.DuckDBPyConnection, after: str | None) -> Iterator[str]:
    while True:
        rows = con.execute(
            "SELECT id FROM creators WHERE id > ? ORDER BY id LIMIT ?",
            [after or "", CREATOR_CHUNK],
        ).fetchall()
        if not rows:
            return
        for (creator_id,) in rows:
            yield str(creator_id)
        after = str(rows[-1][0])


@dataclass
class FetchResult(RunResult):
    """A fetch's run; an error means it stopped early and its status is `failed` (the
    pages before were committed). A request budget spent is a note, not an error."""

    resumed: bool = False  # the run went on from an unfinished run's checkpoint


class FeedWalk:
    """Pages through the feed (then the creators' profile feeds), committing each page
    with the checkpoint the next start resumes from."""

    def __init__(
        self,
        run: IngestRun,
        client: SoraClient,
        options: FetchOptions,
        clock: Callable[[], datetime],
        on_progress: OnProgress | None = None,
    ) -> None:
        self.ingest = run
        self.con = run.con
        self.client = client
        self.options = options
        self.stager = Stager(run.staging_dir, run.archive, run.tombstoned(), run.suppressed())
        self.clock = clock
        self.on_progress = on_progress

    def _page(self, path: str, params: dict[str, Any]) -> Any:
        """Fetch one page and return it (not yet applied)."""
        doc = self.client.get_json(path, params)
        try:
            shape = parse.detect_shape(doc)
        except parse.BadRecord as exc:
            raise FetchFailedError(f"{path}: unexpected response: {exc}") from None
        if shape is not parse.Shape.FEED_PAGE:
            raise FetchFailedError(f"{path}: unexpected response: a {shape.value}")
        cursor = doc.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise FetchFailedError(f"{path}: unexpected response: cursor is not a string")
        return doc

    def _apply(self, doc: Any, source: str, checkpoint: dict[str, Any]) -> None:
        # Each page is a capture of its own in the archive, indexed with its records.
        self.stager.add_capture(doc, source, self.clock(), None)
        self.ingest.checkpoint(self.stager.batch, pages=1, state=checkpoint)
        self.stager.new_batch()
        if self.on_progress is not None:
            totals = self.ingest.totals
            self.on_progress(totals.pages, totals.items)

    def run(self, checkpoint: dict[str, Any]) -> None:
        base = public_url(self.options.base_url)
        if checkpoint.get("phase", "feed") == "feed":
            cursor = checkpoint.get("cursor")
            stop_on_known = bool(checkpoint.get("stop_on_known"))
            while True:
                params: dict[str, Any] = {"limit": PAGE_LIMIT, "cut": self.options.cut}
                if cursor:
                    params["cursor"] = cursor
                doc = self._page("feed", params)
                ids = _page_post_ids(doc)
                all_known = stop_on_known and bool(ids) and _known_ids(self.con, ids) == set(ids)
                if cursor and doc.get("cursor") == cursor:
                    raise FetchFailedError("feed: the cursor did not advance; stopping")
                cursor = doc.get("cursor")
                done = cursor is None or all_known
                checkpoint = {
                    "phase": "feed" if not done else "creators",
                    "cursor": None if done else cursor,
                    "stop_on_known": stop_on_known,
                }
                self._apply(doc, f"{base}/feed?cut={self.options.cut}", checkpoint)
                if done:
                    break
        if not self.options.refresh_creators:
            return
        after = checkpoint.get("after")
        cursor = checkpoint.get("cursor") if checkpoint.get("phase") == "creators" else None
        current = checkpoint.get("current")
        for creator_id in _creators_after(self.con, after):
            if current is not None and creator_id != current:
                cursor = None  # the checkpoint's creator was finished or is gone
            current = None
            while True:
                params = {"limit": PAGE_LIMIT, "cut": "nf2"}
                if cursor:
                    params["cursor"] = cursor
                path = f"profile_feed/{creator_id}"
                doc = self._page(path, params)
                if cursor and doc.get("cursor") == cursor:
                    raise FetchFailedError(f"{path}: the cursor did not advance; stopping")
                cursor = doc.get("cursor")
                finished = cursor is None
                checkpoint = {
                    "phase": "creators",
                    "after": creator_id if finished else after,
                    "current": None if finished else creator_id,
                    "cursor": cursor,
                }
                self._apply(doc, f"{base}/{path}", checkpoint)
                if finished:
                    break
            after = creator_id


def _collect_media(run: IngestRun, now: datetime, reporter: Reporter) -> None:
    """Download the media the captures name while their signed URLs are valid (each once;
    a failed one is a note: the next fetch tries again while the URL is valid)."""
    with media.Downloader() as downloader:
        counts = media.collect(run.con, run.archive, downloader, now)
    reporter.info(f"media: {counts.stored:,} file(s) kept, {counts.failed:,} refused or failed")
    for error in counts.errors or []:
        reporter.note(f"media: {error}")


def fetch(
    db_path: Path,
    options: FetchOptions,
    *,
    on_message: OnMessage | None = None,
    on_progress: OnProgress | None = None,
    log: Log | None = None,
    captures: Path | None = None,
) -> FetchResult:
    """Run (or resume) one fetch and return what it did.

    A failed request (after its retries) or an unexpected response ends the run as
    `failed` with an error in the result; pages committed before stay. Raises
    `config.ConfigError` for an invalid `SORASTATS_*` setting (before anything is
    touched) and `RunLockedError` if another run holds the database. Every page is kept
    in the capture archive `captures` (default: beside the database)."""
    settings = config_module.load()
    fixed_now = settings.now
    clock: Callable[[], datetime] = (lambda: fixed_now) if fixed_now is not None else utcnow
    reporter = Reporter(on_message)
    with IngestRun(
        db_path, "fetch", options.run_source(), resumable=True, log=log, captures=captures
    ) as run:
        if run.resumed:
            checkpoint = run.state
            reporter.info(f"resuming fetch run #{run.run_id} from its checkpoint")
        else:
            has_posts = run.con.execute("SELECT count(*) FROM posts").fetchone()
            # Later runs stop at a page of only known posts; the first walks to the end.
            checkpoint = {
                "phase": "feed",
                "cursor": None,
                "stop_on_known": bool(has_posts and has_posts[0]),
            }
            run.checkpoint(state=checkpoint)
        client = SoraClient(options.base_url, settings, max_requests=options.max_requests)
        walk = FeedWalk(run, client, options, clock, on_progress)
        status, message = "ok", None
        try:
            walk.run(checkpoint)
        except RequestBudgetSpentError as exc:
            message = f"{exc} (--max-requests)"
        except FetchFailedError as exc:
            status, message = "failed", str(exc)
        finally:
            client.close()
            walk.stager.batch.discard()  # empty, or a page that was not applied
        if options.media and status == "ok":
            _collect_media(run, clock(), reporter)
        run.finish(status, message)
        run_id, counts, seconds = run.run_id, run.totals, run.seconds()
    if status == "failed":
        reporter.error(f"fetch failed: {message}")
    elif message:
        reporter.note(message)
    return FetchResult("fetch", run_id, counts, seconds, reporter.messages, resumed=run.resumed)
