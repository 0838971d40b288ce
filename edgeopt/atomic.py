"""Outputs edgeopt owns: files written whole (temporary file, then rename) and folders that carry a marker naming
what wrote them and every file in them. edgeopt replaces a folder only when it is absent, empty, or holds its own
marker of the same kind and nothing the marker does not list; never the working folder, a folder holding it, an
input or a folder holding one. Every command's `-o`/`--out` goes through `claim_folder` or `claim_file`."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeopt.errors import EdgeoptError
from edgeopt.version import __version__


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



MARKER = ".edgeopt-output.json"
_MARKER_BYTES = 1 << 20  # a marker is a few lines; anything larger is not one edgeopt wrote


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _check_not_inputs(path: Path, inputs) -> None:
    """`path` (an output) is not the working folder or a folder holding it, not an input, and holds none."""
    target = _resolved(path)
    cwd = Path.cwd().resolve()
    if _inside(cwd, target):
        what = "the working folder" if target == cwd else f"a folder holding the working folder ({cwd})"
        raise OutputError(f"{path}: is {what}; give an output folder of its own")
    for item in inputs:
        if item is None or not Path(item).exists():
            continue
        source = _resolved(item)
        if _inside(source, target):
            what = "an input of this command" if source == target else f"a folder holding the input {item}"
            raise OutputError(f"{path}: is {what}; give an output path apart from the inputs")


def _listing(path: Path) -> dict | None:
    """A small JSON object with a `files` list of names (a marker, or an old export's manifest), or None."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > _MARKER_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list) or \
            not all(isinstance(f, str) for f in data["files"]):
        return None
    return data


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of an edgeopt output folder, or None where there is none (or it is not one edgeopt wrote)."""
    data = _listing(Path(folder) / MARKER)
    return data if data is not None and isinstance(data.get("kind"), str) else None


# Outputs written before folders carried a marker: taken as edgeopt's own when their key file is there and every entry
# is a name that kind of output wrote (an export: the files its manifest lists), so re-running a command over its
# earlier output keeps working; anything else in the folder still stops the replacement.
_LEGACY_NAMES = {
    "report": ("report.json", ("report.html", "report.json", "pr-curves.png", "progress.png", "trials-*.csv",
                               "tradeoff-*.png")),
    "compression": ("report.json", ("model.onnx", "model.pt2", "report.json", "steps.csv", "steps.png",
                                    "report.html")),
}


def _legacy_marker(folder: Path, kind: str) -> dict | None:
    """A marker for an output edgeopt wrote before markers, or None."""
    if kind == "export":
        manifest = _listing(folder / "manifest.json")
        if manifest is None or not isinstance(manifest.get("edgeopt_version"), str):
            return None
        return {"kind": kind, "files": manifest["files"]}
    if kind not in _LEGACY_NAMES:
        return None
    key, patterns = _LEGACY_NAMES[kind]
    names = [entry.name for entry in folder.iterdir()]
    if key not in names or not all(any(fnmatch.fnmatchcase(name, p) for p in patterns) for name in names):
        return None
    return {"kind": kind, "files": names}


def _entries(folder: Path) -> set[str]:
    """Every file and folder below `folder`, as relative POSIX paths (links not followed)."""
    found = set()
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            found.add((Path(root) / name).relative_to(folder).as_posix())
    return found


def claim_folder(out_dir: str | os.PathLike, kind: str, inputs=()) -> Path:
    """Check, before any work, that edgeopt may write `out_dir` whole as a `kind` output: absent, empty, or an
    earlier `kind` output of edgeopt's (its marker lists everything in it); not a link, the working folder, an
    input, or a folder holding either. Otherwise one OutputError, nothing touched."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise OutputError(f"{out_dir}: is a link; give a real folder path")
    _check_not_inputs(out_dir, inputs)
    require_writable(out_dir, folder=True)
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return out_dir
    marker = read_marker(out_dir) or _legacy_marker(out_dir, kind)
    if marker is None:
        raise OutputError(f"{out_dir}: holds files edgeopt did not write (no {MARKER}); give a new or empty folder "
                          f"(an earlier edgeopt {kind} output there is replaced whole)")
    if marker["kind"] != kind:
        raise OutputError(f"{out_dir}: holds an edgeopt {marker['kind']} output, not a {kind} one; give another "
                          "folder")
    strangers = sorted(_entries(out_dir) - set(marker["files"]) - {MARKER})
    if strangers:
        raise OutputError(f"{out_dir}: holds {strangers[0]}"
                          f"{f' (and {len(strangers) - 1} more)' if len(strangers) > 1 else ''}, which edgeopt did "
                          "not write; move it out first, or give another folder")
    return out_dir


def claim_file(path: str | os.PathLike, inputs=()) -> Path:
    """Check, before any work, that `path` may be written as an output file: writable, not a folder, not an input
    and not the working folder."""
    path = Path(path)
    _check_not_inputs(path, inputs)
    require_writable(path)
    return path


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
def atomic_folder(out_dir: str | os.PathLike, kind: str, inputs=()) -> Iterator[Path]:
    """A temporary folder beside `out_dir` to write into; when the block succeeds it gets its marker (`kind`, every
    file in it) and replaces `out_dir` (claimed as `claim_folder` says, before and again at the end); when it fails
    it is removed, so `out_dir` is never half-written and an earlier output stays as it was."""
    out_dir = claim_folder(out_dir, kind, inputs)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise cannot_write(out_dir, exc) from None
    try:
        yield tmp
        marker = {"kind": kind, "written_by": f"edgeopt {__version__}", "files": sorted(_entries(tmp))}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; outputs are for sharing
        claim_folder(out_dir, kind, inputs)  # nothing of anyone else's arrived while the work ran
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, out_dir: Path) -> None:
    """Put `new` in the place of `out_dir` (claimed): the old one is renamed aside first and removed only once the
    new one is in place, so a failure leaves the old one as it was."""
    if not out_dir.exists():
        new.rename(out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
    old.rmdir()
    out_dir.rename(old)
    try:
        new.rename(out_dir)
    except BaseException:
        old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
