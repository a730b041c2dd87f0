"""The site's files (templates, Markdown content, the encryption document) stay at the top
of the repository, where people edit them; a built wheel carries a copy inside the package
(`sorastats/_files/`), so an installed SoraStats renders without a checkout. Everything
else is declared in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# Keep in step with sorastats/files.py (SITE_FILES); tests/sorastats/test_files.py checks both.
SITE_FILES = ("templates", "content", "docs/encryption.md")


class BuildPyWithSiteFiles(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the files in the checkout
            return
        target = Path(self.build_lib) / "sorastats" / "_files"
        for name in SITE_FILES:
            source = Path(name)
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
            else:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithSiteFiles})
