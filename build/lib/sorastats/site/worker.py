"""Pool side of the render: each process keeps one Jinja environment and renders and
writes whole batches, so only changed pages' JSON documents cross process boundaries."""

from __future__ import annotations

import json
import resource
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


# One page to render: (output path, template name, JSON document of its inputs).
Job = tuple[str, str, str]

_env: Environment | None = None
_root: Path | None = None


def init(setup: WorkerSetup) -> None:
    global _env, _root
    _env = make_env(setup.templates, setup.base_url, setup.assets)
    _root = setup.root


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


def render_batch(jobs: list[Job]) -> tuple[int, int, float, int]:
    """Render and write a batch; returns (pages, bytes, seconds compressing, peak RSS KiB)."""
    if _env is None or _root is None:
        raise RuntimeError("worker not initialised")
    total = 0
    compress = 0.0
    for rel, template, doc in jobs:
        size, spent = write_output(_root, rel, render_one(_env, rel, template, doc))
        total += size
        compress += spent
    return len(jobs), total, compress, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
