"""`extends:`: a profile's YAML merged over its parent's (a sibling file or a shipped profile), cycles refused."""

from __future__ import annotations

from pathlib import Path

from edgeopt.errors import ProfileError
from edgeopt.profiles.search_path import available_profiles
from edgeopt.profiles.yamldoc import FieldPath, Location, read_yaml


def load_merged(path: Path, chain: tuple[Path, ...]) -> tuple[dict, dict[FieldPath, Location]]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ProfileError(f"{path}: extends: cycle: {cycle}")
    data, locations = read_yaml(path)
    if data is None:
        raise ProfileError(f"{path}: the profile is empty; it needs at least a name, memory, compute and formats")
    if not isinstance(data, dict):
        raise ProfileError(f"{locations[()]}: the top level must be a mapping of fields, got {type(data).__name__}")
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return data, locations
    if not isinstance(parent_ref, str):
        raise ProfileError(f"{locations[('extends',)]}: extends: expected a profile name or path, got {parent_ref!r}")
    parent_path = _resolve_parent(parent_ref, path, locations[("extends",)])
    parent_data, parent_locations = load_merged(parent_path, (*chain, resolved))
    return _merge(parent_data, data), {**parent_locations, **locations}


def _resolve_parent(ref: str, child: Path, where: Location) -> Path:
    sibling = child.parent / (ref if ref.endswith((".yaml", ".yml")) else f"{ref}.yaml")
    if sibling.is_file():
        return sibling
    known = available_profiles()
    if ref in known:
        return known[ref]
    raise ProfileError(
        f"{where}: extends: no profile {ref!r} next to {child.name} or among the shipped ones "
        f"({', '.join(sorted(known))})"
    )


def _merge(parent: dict, child: dict) -> dict:
    out = dict(parent)
    for key, value in child.items():
        # A figure written as {value: ..., source: ...} replaces the parent's whole figure, source included.
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "value" not in value:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
