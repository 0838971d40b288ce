"""One search at a time in a run folder: an advisory file lock held for the search's life.

The lock is `fcntl.flock` on `RUN/.lock`, so the kernel drops it when the holding process ends in any way (Ctrl-C,
kill -9, a crash): a lock left by a dead process is never in the way, and nothing has to guess whether a pid is alive.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from edgeopt.errors import EdgeoptError


class RunLockedError(EdgeoptError):
    """Another process is searching in this run folder."""


class RunLock:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(f"{self.path.parent}: another edgeopt search is running in this run folder "
                                 f"({holder}); wait for it to end, or search under another --name") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = ["RunLock", "RunLockedError"]
