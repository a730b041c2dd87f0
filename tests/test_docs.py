"""The documentation stays in step with the code: every build.py command and option, every
setting, endpoint and benchmark is in docs/; generated tables match the declarations they
come from; the README stays short; relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.app import ROUTE_GROUPS, all_endpoints
from api.config import SETTINGS as API_SETTINGS
from api.endpoints import Endpoint
from sorastats.cli import build_parser
from sorastats.config import SETTINGS
from tests.support import docgen
from tests.support.cli import subcommands
from tests.support.paths import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 150
# Written on another branch at the same time; a link to it is accepted until it lands.
EXPECTED_ELSEWHERE = {"docs/security.md"}


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_every_build_command_and_option_is_documented() -> None:
    text = read("ingest.md") + read("site.md") + read("deploy.md")
    commands = subcommands(build_parser())
    assert {"import", "synth", "stats", "render"} <= set(commands)
    missing = []
    for name, sub in commands.items():
        if f"build.py {name}" not in text:
            missing.append(f"command {name}")
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and option not in text:
                    missing.append(f"{name} {option}")
    assert not missing, f"undocumented in docs/ingest.md, site.md or deploy.md: {missing}"


def test_every_pipeline_setting_is_documented() -> None:
    text = read("ingest.md")
    missing = [s.env for s in SETTINGS if f"| `{s.env}` |" not in text]
    assert not missing, f"undocumented in docs/ingest.md: {missing}"


def test_every_api_setting_is_documented() -> None:
    text = read("api.md")
    missing = [s.name for s in API_SETTINGS if f"| `{s.name}` |" not in text]
    assert not missing, f"undocumented in docs/api.md: {missing}"


@pytest.mark.parametrize("endpoint", all_endpoints(), ids=lambda ep: f"{ep.method} {ep.path}")
def test_every_endpoint_is_documented(endpoint: Endpoint) -> None:
    row = f"| `{endpoint.method} {endpoint.path}` |"
    assert row in read("api.md") + read("vault.md"), row


def test_endpoint_tables_cover_every_route_group_once() -> None:
    tags = [
        tag
        for path in docgen.documents()
        for name, args, _ in docgen.blocks(path.read_text(encoding="utf-8"))
        if name == "endpoints"
        for tag in args
    ]
    assert sorted(tags) == sorted(group.tag for group in ROUTE_GROUPS)


def test_every_benchmark_is_documented() -> None:
    text = read("performance.md")
    scripts = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "bench").glob("*.py")
        if p.name != "__init__.py"  # makes `python -m bench.NAME` work; not a benchmark
    )
    assert "bench/ingest_floor.py" in scripts
    missing = [s for s in scripts if s not in text]
    assert not missing, f"undocumented in docs/performance.md: {missing}"


@pytest.mark.parametrize("path", docgen.documents(), ids=lambda p: p.name)
def test_generated_blocks_match_the_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    opened = re.findall(r"^<!-- generated:", text, re.M)
    assert len(opened) == len(docgen.blocks(text)), "a generated block is not closed"
    assert docgen.regenerate(text) == text, (
        f"{path.name} is stale: run .venv/bin/python -m tests.support.docgen"
    )


def test_generated_blocks_exist() -> None:
    names = {
        name
        for path in docgen.documents()
        for name, _, _ in docgen.blocks(path.read_text(encoding="utf-8"))
    }
    assert names == set(docgen.GENERATORS)


def test_generator_refuses_an_unknown_block() -> None:
    with pytest.raises(ValueError, match="unknown generated block"):
        docgen.regenerate("<!-- generated: nonsense -->\n<!-- /generated -->")
    with pytest.raises(ValueError, match="no route group"):
        docgen.generate("endpoints nonsense")


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "make run" in text and "make test" in text


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"^#{1,6} +(.+?) *$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def _linking_documents() -> list[Path]:
    # content/ pages link site URLs (/privacy/), which `build.py check` follows on the site.
    docs = [path for path in docgen.documents() if path.is_relative_to(DOCS)]
    return [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *docs]


@pytest.mark.parametrize("doc", _linking_documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        shown = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        if not path.exists():
            if shown not in EXPECTED_ELSEWHERE:
                broken.append(target)
            continue
        if anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert not broken, f"broken links in {doc.name}: {broken}"
