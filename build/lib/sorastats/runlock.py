"""One run at a time per database (or per site folder): an exclusive `flock` on
`<db>.lock` (`<out>.lock`).

The kernel drops the lock when the process dies (even by SIGKILL), so a crashed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class RunLockedError(RuntimeError):
    """Another run holds the database's lock."""


class RunLock:
    def __init__(self, db_path: Path, subject: str = "this database") -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self.subject = subject
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"another run (pid {holder}) is using {self.subject}; lock file {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
