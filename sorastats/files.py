"""Where the site's own files are: templates, Markdown content and the encryption document.
In a checkout (or an editable install) they are the repository's top-level folders; an
installed wheel carries a copy inside the package (`sorastats/_files/`, see setup.py)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SITE_FILES = ("templates", "content", "docs/encryption.md")
_CHECKOUT = Path(__file__).resolve().parents[1]


def site_files_root() -> Path:
    """The folder that holds SITE_FILES: the package's copy when installed from a wheel,
    else the checkout."""
    packaged = Path(str(files("sorastats"))) / "_files"
    return packaged if (packaged / "templates").is_dir() else _CHECKOUT


def site_file(name: str) -> Path:
    """One of SITE_FILES (or a path inside one), e.g. `site_file("templates")`."""
    if not any(name == f or name.startswith(f + "/") for f in SITE_FILES):
        raise ValueError(f"{name!r} is not one of the site's files {SITE_FILES}")
    return site_files_root() / name
