"""The build's bookkeeping, kept in DuckDB temporary tables rather than Python dicts, so
the main process's memory stays flat however many pages the site has:

- `live_m`, `base_m`: the manifests (output path -> input hash) of the live site and of
  the staging tree the build starts from (the recycled previous site);
- `new_m`: every page of this build with its hash, template and kind;
- `todo`: the pages this build renders (changed ones, and any whose file is missing).

SQL page sets are hashed wholly inside DuckDB; only the documents of pages in `todo`
ever reach Python."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb

from sorastats.site.config import RenderConfig
from sorastats.site.manifest import MANIFEST_HEADER
from sorastats.site.model import PageSet

# A page made in Python (`kind` 'py') or a sitemap: (rel, template, digest, sitemap).
Entry = tuple[str, str, str, bool]

_MANIFEST_TABLES = ("live_m", "base_m")


class Ledger:
    def __init__(self, con: duckdb.DuckDBPyConnection, fetch_size: int = 2_000) -> None:
        self.con = con
        self.fetch_size = fetch_size
        for table in _MANIFEST_TABLES:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (rel VARCHAR, digest VARCHAR)")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE new_m (rel VARCHAR, template VARCHAR, digest VARCHAR, "
            "sitemap BOOLEAN, kind VARCHAR, key VARCHAR)"
        )
        con.execute("CREATE OR REPLACE TEMP TABLE todo (rel VARCHAR, kind VARCHAR, key VARCHAR)")

    # -- manifests -------------------------------------------------------------------

    def load(self, table: str, path: Path | None) -> int:
        """Fill `live_m` or `base_m` from a manifest file (none: left empty)."""
        if table not in _MANIFEST_TABLES:
            raise ValueError(table)
        self.con.execute(f"DELETE FROM {table}")
        if path is None or os.path.getsize(path) <= len(MANIFEST_HEADER) + 1:
            return 0
        # Paths never hold tabs or newlines (urls.py makes them); no quoting at all.
        self.con.execute(
            f"""INSERT INTO {table} SELECT * FROM read_csv(?, delim = '\t', header = false,
                skip = 1, quote = '', escape = '', auto_detect = false,
                columns = {{'rel': 'VARCHAR', 'digest': 'VARCHAR'}})""",
            [str(path)],
        )
        return self.count(table)

    def count(self, table: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def folders(self, table: str) -> dict[str, str]:
        """Manifest keys ending in '/' (search bundles) with their hashes."""
        rows = self.con.execute(f"SELECT rel, digest FROM {table} WHERE suffix(rel, '/')")
        return dict(rows.fetchall())

    def write_manifest(self, path: Path, folders: dict[str, str]) -> None:
        """Write this build's manifest (pages of `new_m` plus `folders`), sorted, streaming."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        cur = self.con.execute(
            "SELECT rel, digest FROM (SELECT rel, digest FROM new_m "
            "UNION ALL SELECT unnest($rels), unnest($digests)) ORDER BY rel",
            {"rels": list(folders), "digests": list(folders.values())},
        )
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            out.write(MANIFEST_HEADER + "\n")
            while rows := cur.fetchmany(self.fetch_size * 5):
                out.write("".join(f"{rel}\t{digest}\n" for rel, digest in rows))
        os.replace(tmp, path)

    # -- this build's pages --------------------------------------------------------------

    def hash_sets(self, sets: Iterable[PageSet], fingerprint: str, cfg: RenderConfig) -> None:
        """Hash every page of the SQL page sets in DuckDB (documents stay there).

        A page's hash is DuckDB's 64-bit `hash()` of its document STRUCT (three times
        cheaper than hashing its JSON text) after a prefix covering what that value does not:
        the build fingerprint (templates, settings), the template, the set's SQL (field
        names), its hash stand-ins and the DuckDB version (its hash function). The
        documents hashed are `PageSet.hash_query`'s: costly parts replaced by values that
        decide them."""
        for ps in sets:
            prefix = hashlib.blake2b(
                "\0".join(
                    (fingerprint, ps.template, ps.sql, repr(ps.hash_subs), duckdb.__version__)
                ).encode(),
                digest_size=8,
            ).hexdigest()
            parts = ps.parts(self.con)
            for part in range(parts):
                self.con.execute(
                    f"""INSERT INTO new_m
                        SELECT rel, $template, concat($prefix, '-', hash(doc)), $sitemap,
                               $kind, CAST(key AS VARCHAR)
                        FROM ({ps.hash_query(part, parts)})""",
                    {
                        "prefix": prefix,
                        "template": ps.template,
                        "sitemap": ps.sitemap,
                        "kind": ps.kind,
                        **ps.bind(cfg),
                    },
                )

    def add(self, entries: list[Entry], kind: str) -> None:
        if entries:
            self.con.executemany(
                "INSERT INTO new_m VALUES (?, ?, ?, ?, ?, NULL)",
                [
                    (rel, template, digest, sitemap, kind)
                    for rel, template, digest, sitemap in entries
                ],
            )

    def duplicate(self) -> tuple[str, str, str] | None:
        """An output path two pages claim: (path, first template, second template)."""
        # Found first without the owners: an ordered list per path costs 25 times more.
        row = self.con.execute(
            "SELECT rel FROM new_m GROUP BY rel HAVING count(*) > 1 ORDER BY rel LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        owners = self.con.execute(
            """SELECT CASE WHEN template = '' THEN 'raw' ELSE template END FROM new_m
               WHERE rel = ? ORDER BY kind, template LIMIT 2""",
            [row[0]],
        ).fetchall()
        return str(row[0]), str(owners[0][0]), str(owners[1][0])

    def sitemap_digests(self, max_urls: int) -> list[str]:
        """One digest per sitemap of at most `max_urls` URLs (the sorted sitemap-listed
        URLs, cut as `sitemap_urls` cuts them): its URL count and the XOR of their
        hashes, so sitemaps are hashed in DuckDB, not made in Python, on every build."""
        rows = self.con.execute(
            r"""SELECT chunk, count(*), bit_xor(hash(url)) FROM (
                 SELECT url, (row_number() OVER (ORDER BY url) - 1) // $max AS chunk
                 FROM (SELECT '/' || regexp_replace(rel, 'index\.html$', '') AS url
                       FROM new_m WHERE sitemap))
               GROUP BY chunk ORDER BY chunk""",
            {"max": max_urls},
        ).fetchall()
        return [f"{count}-{digest}" for _chunk, count, digest in rows]

    def sitemap_urls(self) -> Iterator[list[str]]:
        """Sitemap-listed URLs in sorted order, in chunks (a cursor: consume it whole before
        running anything else on the connection)."""
        cur = self.con.execute(
            "SELECT '/' || regexp_replace(rel, 'index\\.html$', '') AS url FROM new_m "
            "WHERE sitemap ORDER BY url"
        )
        while rows := cur.fetchmany(self.fetch_size * 5):
            yield [r[0] for r in rows]

    # -- planning ------------------------------------------------------------------------

    def plan(self, kinds: tuple[str, ...]) -> int:
        """Add the pages of these kinds whose hash differs from the live manifest's to
        `todo`; returns how many."""
        before = self.count("todo")
        self.con.execute(
            """INSERT INTO todo SELECT n.rel, n.kind, n.key FROM new_m n
               LEFT JOIN live_m l ON l.rel = n.rel
               WHERE n.kind IN (SELECT unnest(?)) AND l.digest IS DISTINCT FROM n.digest""",
            [list(kinds)],
        )
        return self.count("todo") - before

    def deleted(self) -> list[str]:
        """Live pages this build no longer has (not search bundles)."""
        rows = self.con.execute(
            """SELECT rel FROM live_m WHERE NOT suffix(rel, '/')
               AND rel NOT IN (SELECT rel FROM new_m) ORDER BY rel"""
        ).fetchall()
        return [r[0] for r in rows]

    def stale(self) -> list[str]:
        """Pages the staging tree holds that this build has not (search bundles, the keys
        ending in '/', are the builder's to judge)."""
        rows = self.con.execute(
            """SELECT rel FROM base_m WHERE NOT suffix(rel, '/')
               AND rel NOT IN (SELECT rel FROM new_m) ORDER BY rel"""
        ).fetchall()
        return [r[0] for r in rows]

    def unchanged(self) -> Iterator[tuple[str, bool]]:
        """Pages equal to their live copy: (rel, whether the staging tree's manifest says it
        holds this very version already). A cursor: consume it whole first."""
        cur = self.con.execute(
            """SELECT n.rel, b.digest IS NOT DISTINCT FROM n.digest FROM new_m n
               JOIN live_m l ON l.rel = n.rel AND l.digest = n.digest
               LEFT JOIN base_m b ON b.rel = n.rel"""
        )
        while rows := cur.fetchmany(self.fetch_size * 5):
            yield from rows

    def reset_todo(self, rels: list[str]) -> None:
        """Make these pages (and only them) the ones to render next."""
        self.con.execute("DELETE FROM todo")
        self.con.execute(
            "INSERT INTO todo SELECT rel, kind, key FROM new_m WHERE rel IN (SELECT unnest(?))",
            [rels],
        )

    def todo_rels(self, kinds: tuple[str, ...]) -> set[str]:
        rows = self.con.execute(
            "SELECT rel FROM todo WHERE kind IN (SELECT unnest(?))", [list(kinds)]
        ).fetchall()
        return {r[0] for r in rows}

    def docs(self, ps: PageSet, cfg: RenderConfig) -> Iterator[tuple[str, str]]:
        """(rel, document) of the set's pages in `todo`. A cursor: consume it whole first."""
        # One page per key: the key filter alone selects exactly the pages to render (a
        # filter on `rel` would make DuckDB hash the documents themselves). The kind is
        # inlined (our own constant): DuckDB materializes the whole result of a query
        # run with parameters, but streams one without.
        row = self.con.execute(
            "SELECT count(*) FILTER (WHERE kind = $k), "
            "(SELECT count(*) FROM new_m WHERE kind = $k) FROM todo",
            {"k": ps.kind},
        ).fetchone()
        todo, total = (int(row[0]), int(row[1])) if row else (0, 0)
        if todo == 0:
            return
        parts = ps.parts(self.con)
        # With the key filter DuckDB guesses few rows and swaps the joins' build sides,
        # hashing the wide rows (series lists) instead of streaming them: out of memory
        # when most pages changed. Then keep the sides as written; for a small change the
        # swap is right (it hashes only the changed rows).
        if todo * 5 > total:
            self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        try:
            for part in range(parts):
                if todo == total:
                    keys = None  # every page of the set: no key filter to hash
                else:  # only this part's keys (the part's own rows hash alike)
                    in_part = ps.key_part.format(key="t.key")
                    keys = f"SELECT t.key FROM todo t WHERE t.kind = '{ps.kind}'" + (
                        f" AND hash({in_part}) % {parts} = {part}" if parts > 1 else ""
                    )
                cur = self.con.execute(
                    f"SELECT rel, to_json(doc) FROM ({ps.query(keys, part, parts)})",
                    ps.bind(cfg) or None,
                )
                while rows := cur.fetchmany(self.fetch_size):
                    yield from rows
        finally:
            self.con.execute("RESET disabled_optimizers")
