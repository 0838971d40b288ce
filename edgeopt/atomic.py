"""Write files so that a reader (or a crashed run) never sees half of one: temporary file, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeopt.errors import EdgeoptError


class OutputError(EdgeoptError):
    """An output path that cannot be written (read-only, not a folder, a full disk)."""


def cannot_write(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The one error for an OSError met while writing `path`."""
    return OutputError(f"{path}: cannot be written: {exc.strerror or exc}")


def require_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Fail now, before any work, when `path` (a file, or with `folder` a folder) cannot be written: its nearest
    existing parent must be a writable folder and the path itself not the wrong kind of thing."""
    path = Path(path)
    if path.exists() and (path.is_dir() != folder):
        raise OutputError(f"{path}: exists and is {'not ' if folder else ''}a folder; give a "
                          f"{'folder' if folder else 'file'} path")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot be written ({parent} is not a folder)")
    try:  # a probe, not os.access: root passes access checks on read-only mounts and /proc
        fd, probe = tempfile.mkstemp(prefix=".edgeopt-probe.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({parent} takes no new files: {exc.strerror or exc})") from None



def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` in one rename; the directory is created if missing."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a folder in the way
        Path(tmp).unlink(missing_ok=True)
        raise cannot_write(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(out_dir: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside `out_dir` to write into; when the block succeeds it replaces `out_dir` whole, when it
    fails it is removed, so `out_dir` is never half-written."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise cannot_write(out_dir, exc) from None
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.chmod(0o755)  # mkdtemp makes it private; outputs are for sharing
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
