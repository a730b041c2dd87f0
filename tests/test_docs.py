"""Every build.py command and option, setting and benchmark is documented in README.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from sorastats.cli import build_parser
from sorastats.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_and_option_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    commands = _subparsers(build_parser())
    assert {"import", "synth", "stats"} <= set(commands)
    missing = []
    for name, sub in commands.items():
        if f"build.py {name}" not in text:
            missing.append(f"command {name}")
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and option not in text:
                    missing.append(f"{name} {option}")
    assert not missing, f"undocumented in README.md: {missing}"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    assert not missing, f"undocumented in README.md: {missing}"


def test_every_benchmark_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    scripts = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "bench").glob("*.py"))
    assert "bench/ingest_floor.py" in scripts
    missing = [s for s in scripts if s not in text]
    assert not missing, f"undocumented in README.md: {missing}"
