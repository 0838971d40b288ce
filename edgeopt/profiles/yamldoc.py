"""Safe YAML reading that remembers the file and line of every key, so errors can point at them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from edgeopt.errors import EdgeoptError, ProfileError

FieldPath = tuple[str, ...]
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
# A profile, space or pipeline holds a few hundred values; aliases that expand past this are a bomb, not a document.
MAX_NODES = 100_000


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def read_yaml(path: Path, error: type[EdgeoptError] = ProfileError) -> tuple[object, dict[FieldPath, Location]]:
    """Load a YAML file with the safe loader; return its data and the location of each field path.

    Problems are raised as `error` (the caller's kind: a profile, a search space) naming the file and line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses characters YAML does not allow, here already
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        locations: dict[FieldPath, Location] = {}
        data = _convert(node, (), loader, str(path), locations, set()) if node is not None else None
    except RecursionError:
        raise error(f"{path}: invalid YAML: nested too deeply (an alias that contains itself?)") from None
    except ProfileError as exc:
        raise error(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    return data, locations


def _convert(node: yaml.Node, path: FieldPath, loader: yaml.SafeLoader, file: str, locations: dict,
             inside: set[int]) -> object:
    if id(node) in inside:  # &x {a: *x}: the node is among its own ancestors
        raise ProfileError(f"{file}:{node.start_mark.line + 1}: {'.'.join(path) or '(top level)'}: an alias "
                           "that contains itself")
    if len(locations) > MAX_NODES:
        raise ProfileError(f"{file}: more than {MAX_NODES:,} values once aliases are expanded; edgeopt reads "
                           "documents of at most that size")
    locations[path] = Location(file, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        inside = inside | {id(node)}
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # The safe loader refuses such tags on scalars; this walker must refuse them on collections too.
        raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise ProfileError(f"{file}:{key_node.start_mark.line + 1}: keys must be text, got {key!r}")
            if key in out:
                dotted = ".".join((*path, key))
                raise ProfileError(f"{file}:{key_node.start_mark.line + 1}: {dotted}: duplicate key")
            out[key] = _convert(value_node, (*path, key), loader, file, locations, inside)
            locations[(*path, key)] = Location(file, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, str(i)), loader, file, locations, inside) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and any(ord(c) < 0x20 and c not in "\t\n" or c == "\x7f" for c in value):
        # An escape sequence in a name or description would drive the terminal that prints it.
        raise ProfileError(f"{file}:{node.start_mark.line + 1}: {'.'.join(path) or '(top level)'}: control "
                           "characters are not allowed in text")
    return value


def locate(locations: dict[FieldPath, Location], field: FieldPath, default: str) -> str:
    """The file:line of a field, or of its nearest written parent."""
    for end in range(len(field), -1, -1):
        loc = locations.get(field[:end])
        if loc is not None:
            return str(loc)
    return default
