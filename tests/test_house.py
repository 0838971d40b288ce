"""The house keeps its order: every import inside edgeopt, at the top of a module or inside a function, points down
the room order docs/architecture.md writes, so rooms form no cycle and a newcomer reads them bottom to top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "edgeopt"


def room_order() -> list[str]:
    """The rooms, bottom to top, from the line of `·`-separated names under docs/architecture.md's 'Room order'."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Room order", 1)[1]
    line = next(line for line in section.splitlines() if " · " in line)
    return [name.strip().strip("`") for name in line.split("·")]


def room_of(module: str) -> str:
    """`edgeopt.cost.estimate` -> `cost`; `edgeopt.errors` -> `errors`; the package face is `edgeopt`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgeopt"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int]]:
    """Every edgeopt module `path` imports (anywhere in it: functions, TYPE_CHECKING blocks), with its line."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if node.module is None or base == "edgeopt":  # `from edgeopt import cost`: the names are modules
                found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((base, node.lineno))
    return [(name, line) for name, line in found if name == "edgeopt" or name.startswith("edgeopt.")]


def upward_imports(order: list[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(order)}
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = room_of(module_name(path))
        if here not in rank:
            problems.append(f"{path.relative_to(ROOT)}: room {here!r} is not in docs/architecture.md's room order")
            continue
        for target, line in imports(path):
            there = room_of(target)
            if there not in rank:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {target}, a room not in the order")
            elif rank[there] > rank[here]:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {target} ({there} is above it)")
    return problems


def test_every_import_points_down_the_room_order():
    assert upward_imports(room_order()) == []


def test_the_order_names_every_room_once():
    order = room_order()
    assert len(order) == len(set(order))
    rooms = {room_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert rooms == set(order)


@pytest.mark.parametrize("low, high", [("cost", "profiles"), ("deploy", "calibration"), ("graph", "cli")])
def test_the_check_catches_an_upward_import(low, high):
    """Swap two rooms of the order: the imports that were fine become upward and the check names them."""
    order = room_order()
    i, j = order.index(low), order.index(high)
    if i > j:
        i, j = j, i
    order[i], order[j] = order[j], order[i]
    assert upward_imports(order)
