"""Where named profiles are found: $EDGEOPT_PROFILE_PATH, then the shipped ones; a name or a path to a file."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from edgeopt.errors import ProfileError


def shipped_profile_dirs() -> list[Path]:
    """Where named profiles are looked up: $EDGEOPT_PROFILE_PATH entries, then the profiles shipped with edgeopt."""
    dirs = [Path(p) for p in os.environ.get("EDGEOPT_PROFILE_PATH", "").split(os.pathsep) if p]
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_shipped" / "hwprofiles", package.parent / "hwprofiles"):
        if candidate.is_dir():
            dirs.append(candidate)
    return dirs


def available_profiles() -> dict[str, Path]:
    """Profile name (file stem) -> file, for every profile on the search path; earlier directories win."""
    found: dict[str, Path] = {}
    for directory in shipped_profile_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def resolve_profile(name_or_path: str | os.PathLike) -> Path:
    """A profile file from a path or a shipped profile's name."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text or path.exists():
        if not path.is_file():
            raise ProfileError(f"{text}: no such profile file")
        return path
    known = available_profiles()
    if text in known:
        return known[text]
    hint = did_you_mean(text, known)
    raise ProfileError(f"unknown profile {text!r}{hint}; shipped profiles: {', '.join(sorted(known)) or 'none'}")


def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
