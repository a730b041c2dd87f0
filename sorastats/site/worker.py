"""Pool side of the render: each process keeps one Jinja environment and renders and
writes whole batches, so only changed pages' JSON documents cross process boundaries."""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import select
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment

from sorastats.site.templating import make_env
from sorastats.site.writer import write_output


@dataclass(frozen=True)
class WorkerSetup:
    templates: Path
    base_url: str
    assets: dict[str, str]
    root: Path
    contact: str = ""  # RenderConfig.contact: the footer's Contact link
    notice: str = ""  # content/notice.txt: the line every page shows


# One page to render: (output path, template name, JSON document of its inputs).
Job = tuple[str, str, str]
# What a batch reports: pages, bytes, seconds compressing, peak RSS KiB, the process id
# and the CPU seconds that process has spent so far.
BatchResult = tuple[int, int, float, int, int, float]

_env: Environment | None = None
_root: Path | None = None


def init(setup: WorkerSetup) -> None:
    global _env, _root
    _env = make_env(setup.templates, setup.base_url, setup.assets, setup.contact, setup.notice)
    _root = setup.root


def init_process(setup: WorkerSetup) -> None:
    """Initializer of a pool process: `init`, and the process ends when the build does."""
    exit_with_build()
    init(setup)


def exit_with_build(poll_seconds: float = 0.2) -> None:
    """End this pool process (os._exit) as soon as the build process that asked for it is
    gone, however it died: SIGKILL runs no cleanup, and a worker blocked on its task queue
    lives on under pid 1 otherwise. Its parent is multiprocessing's forkserver, which waits
    for EOF on an "alive" pipe that every worker holds open too, so neither would ever
    end; once the workers are gone, the forkserver and then the resource tracker (EOF on
    its pipe) exit by themselves. Linux: a pidfd of the build becomes readable when it
    exits; elsewhere the pid is polled."""
    parent = multiprocessing.parent_process()
    build = parent.pid if parent is not None and parent.pid is not None else os.getppid()
    pidfd: int | None = None
    try:
        pidfd = os.pidfd_open(build)
    except ProcessLookupError:
        os._exit(70)
    except (AttributeError, OSError):
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while _alive(build):
                time.sleep(poll_seconds)
        os._exit(70)

    threading.Thread(target=watch, name="exit-with-build", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render_one(env: Environment, rel: str, template: str, doc: str) -> bytes:
    if not template:  # a raw output (asset, robots.txt): the document is the content
        return doc.encode("latin-1")
    page = json.loads(doc)
    return env.get_template(template).render(page=page, path=rel).encode("utf-8")


def warm_up() -> None:
    """Load every template once (a pool task while the build's SQL runs)."""
    if _env is None:
        raise RuntimeError("worker not initialised")
    for name in _env.list_templates(filter_func=lambda n: n.endswith((".html", ".xml"))):
        _env.get_template(name)


def render_batch(jobs: list[Job]) -> BatchResult:
    """Render and write a batch; returns (pages, bytes, seconds compressing, peak RSS KiB,
    this process's id, the CPU seconds it has spent so far)."""
    if _env is None or _root is None:
        raise RuntimeError("worker not initialised")
    total = 0
    compress = 0.0
    for rel, template, doc in jobs:
        data = render_one(_env, rel, template, doc)
        # A raw output (no template) is a static asset: compressed as small as it gets.
        size, spent = write_output(_root, rel, data, staged=True, best=not template)
        total += size
        compress += spent
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    return len(jobs), total, compress, usage.ru_maxrss, os.getpid(), cpu
