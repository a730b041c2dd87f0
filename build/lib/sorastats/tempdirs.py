"""Temporary folders owned by a process: named `<prefix><pid>-*`, so folders left by a
killed run (SIGKILL skips every cleanup) are found and removed by the next run. Ingest
stages batches in one; a render lets DuckDB spill into one (GBs at 1M posts)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def sweep_stale(tmp: Path, prefix: str) -> list[Path]:
    """Remove folders `<prefix><pid>-*` whose process is gone. Folders of live processes,
    and names without a pid, are left alone."""
    removed = []
    for path in tmp.glob(f"{prefix}*-*"):
        pid_text = path.name.removeprefix(prefix).split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def owned_tempdir(prefix: str) -> Path:
    """A new folder in the system temp folder, owned by this process, after sweeping
    those of dead processes. The caller removes it when done."""
    tmp = Path(tempfile.gettempdir())
    sweep_stale(tmp, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=tmp))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
