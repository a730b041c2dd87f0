"""`build.py fetch`: page through the feed (and, optionally, every known creator's
profile feed) and ingest each page in its own transaction with the run's checkpoint.

A run killed at any instant leaves status `running` and the checkpoint of its last
committed page; the next start with the same options resumes that run from there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from sorastats import config as config_module
from sorastats import db, parse
from sorastats.client import (
    FetchFailedError,
    RequestBudgetSpentError,
    SoraClient,
    public_url,
)
from sorastats.ingest import Applier, close_stale_runs, finish_run, start_run, utcnow
from sorastats.progress import Progress, summary
from sorastats.runlock import RunLock
from sorastats.staging import Stager

PAGE_LIMIT = 16
CREATOR_CHUNK = 1000  # creator ids read from the database at a time


@dataclass(frozen=True)
class FetchOptions:
    base_url: str
    cut: str = "nf2_latest"
    refresh_creators: bool = False
    max_requests: int | None = None

    def run_source(self) -> str:
        """What `runs.source` records: the base URL (never a token) and the options."""
        extra = " +creators" if self.refresh_creators else ""
        return f"{public_url(self.base_url)} cut={self.cut}{extra}"


def _resumable_run(
    con: duckdb.DuckDBPyConnection, source: str
) -> tuple[int, dict[str, Any]] | None:
    row = con.execute(
        "SELECT id, checkpoint FROM runs WHERE command = 'fetch' AND source = ? "
        "AND status IN ('running', 'interrupted') ORDER BY id DESC LIMIT 1",
        [source],
    ).fetchone()
    if row is None:
        return None
    checkpoint = json.loads(row[1]) if row[1] else {}
    return int(row[0]), checkpoint


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


class FetchRun:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: int,
        client: SoraClient,
        options: FetchOptions,
        clock: Callable[[], datetime],
    ) -> None:
        self.con = con
        self.client = client
        self.options = options
        self.applier = Applier(con, run_id)
        self.stager = Stager(self.applier.staging_dir)
        self.clock = clock
        self.progress = Progress("fetch")

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
        self.stager.add_document(doc, source, self.clock())
        self.applier.apply(self.stager.batch, pages=1, checkpoint=checkpoint)
        self.stager.new_batch()
        totals = self.applier.totals
        self.progress.update(totals.pages, totals.items)

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


def fetch(
    db_path: Path,
    options: FetchOptions,
    *,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
) -> int:
    """Run (or resume) one fetch; returns the exit status."""
    warn = warn or (lambda message: print(message, file=sys.stderr))
    try:
        settings = config_module.load()
    except config_module.ConfigError as exc:
        warn(f"error: {exc}")
        return 2
    fixed_now = settings.now
    clock: Callable[[], datetime] = (lambda: fixed_now) if fixed_now is not None else utcnow
    source = options.run_source()
    with RunLock(db_path):
        con = db.configure(db.connect(db_path))
        close_stale_runs(con, "fetch", source)
        resumed = _resumable_run(con, source)
        if resumed is not None:
            run_id, checkpoint = resumed
            con.execute("UPDATE runs SET status = 'running' WHERE id = ?", [run_id])
            warn(f"resuming fetch run #{run_id} from its checkpoint")
        else:
            run_id = start_run(con, "fetch", source)
            has_posts = con.execute("SELECT count(*) FROM posts").fetchone()
            # Later runs stop at a page of only known posts; the first walks to the end.
            checkpoint = {
                "phase": "feed",
                "cursor": None,
                "stop_on_known": bool(has_posts and has_posts[0]),
            }
            con.execute(
                "UPDATE runs SET checkpoint = ? WHERE id = ?",
                [json.dumps(checkpoint, sort_keys=True), run_id],
            )
        client = SoraClient(options.base_url, settings, max_requests=options.max_requests)
        run = FetchRun(con, run_id, client, options, clock)
        status, message, exit_code = "ok", None, 0
        try:
            run.run(checkpoint)
        except RequestBudgetSpentError as exc:
            message = f"{exc} (--max-requests)"
        except FetchFailedError as exc:
            status, message, exit_code = "failed", str(exc), 1
        except KeyboardInterrupt:
            finish_run(con, run_id, "interrupted", "interrupted; the next start resumes")
            raise
        finally:
            client.close()
            run.stager.batch.discard()  # empty, or a page that was not applied
            run.progress.done()
        finish_run(con, run_id, status, message)
        run.applier.close()
        con.close()
    if status == "failed":
        warn(f"error: fetch failed: {message}")
    elif message:
        warn(f"note: {message}")
    echo(summary("fetch", run.applier.totals, run.progress.seconds()))
    return exit_code
