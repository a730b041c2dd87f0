"""The site's files are found through the package: the checkout's folders in a checkout,
the wheel's copy when installed. The end-to-end test builds a real wheel, installs it in a
scratch venv and renders the bundled sample with it, away from the checkout."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from sorastats import files
from tests.support.paths import ROOT


def test_in_a_checkout_the_site_files_are_the_top_level_folders() -> None:
    assert files.site_files_root() == ROOT
    assert files.site_file("templates") == ROOT / "templates"
    assert (files.site_file("templates") / "base.html").is_file()
    assert files.site_file("docs/encryption.md").is_file()


@pytest.mark.parametrize("name", ["docs/api.md", "../etc/passwd", "data", ""])
def test_only_the_site_files_are_named(name: str) -> None:
    with pytest.raises(ValueError, match="not one of the site's files"):
        files.site_file(name)


def test_setup_py_copies_the_same_files() -> None:
    """setup.py cannot import the package it builds, so it keeps its own list."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    lists = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SITE_FILES" for t in node.targets)
    ]
    assert lists == [files.SITE_FILES]
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for name in files.SITE_FILES:
        assert name in manifest, f"MANIFEST.in leaves {name} out of the sdist"


@pytest.mark.e2e
def test_an_installed_wheel_renders_the_sample(tmp_path: Path) -> None:
    # Build from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    source = tmp_path / "source"
    top_level_skips = {".git", ".venv", "site", "build", "bench", "node_modules"}

    def skip(folder: str, names: list[str]) -> set[str]:
        caches = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        skipped = {n for n in names if n in caches or n.endswith((".egg-info", ".duckdb"))}
        if Path(folder) == ROOT:
            skipped |= {n for n in names if n in top_level_skips or n.startswith("site.")}
        return skipped

    shutil.copytree(ROOT, source, ignore=skip)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(source)],
        check=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("sorastats-*.whl")
    # The scratch venv sees this venv's packages (the dependencies are already here) but
    # gets sorastats only from the wheel; nothing runs from the checkout.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    site_packages = next((env_dir / "lib").glob("python3*/site-packages"))
    here = [p for p in sys.path if p.endswith("site-packages") and "sorastats" not in p]
    (site_packages / "deps.pth").write_text("\n".join(here) + "\n")
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
         str(site_packages), str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH"}}
    where = subprocess.run(
        [str(python), "-c", "import sorastats.files as f; print(f.site_files_root())"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env,
    ).stdout.strip()  # fmt: skip
    assert where == str(site_packages / "sorastats" / "_files"), where
    db, out = tmp_path / "s.duckdb", tmp_path / "site"
    for args in (["import", str(ROOT / "data" / "sample"), "--db", str(db)],
                 ["render", "--db", str(db), "--out", str(out)]):  # fmt: skip
        done = subprocess.run(
            [str(python), "-m", "sorastats", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert "<html" in (out / "index.html").read_text(encoding="utf-8")
    # content/ and docs/encryption.md came from the wheel's copy
    assert "Privacy" in (out / "privacy" / "index.html").read_text(encoding="utf-8")
    assert (out / "about" / "encryption" / "index.html").is_file()
