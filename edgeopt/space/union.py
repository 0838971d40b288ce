"""SpaceUnion: one search over several single-family spaces (`spaces: [cnn1d, rocket]`), the family itself a choice.

    name: series
    spaces: [cnn1d, rocket]   # shipped names, or YAML files relative to this one

A configuration carries its member's family (`config["family"]`); everything that builds, costs, packs or trains a
trial works on that member alone (`member(config)`), so trial specs and checkpoints hold a single-family space. The
members share one rung ladder and one training budget: their `epochs` and budget rules must agree. Optuna sees each
member's choices under its family's prefix (`rocket.lr`), so two members' choices never share a name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeopt.profiles.search_path import did_you_mean
from edgeopt.profiles.yamldoc import locate, read_yaml
from edgeopt.space.spec import SearchSpace, SpaceError, parse_space, space_path

MAX_MEMBERS = 8


@dataclass(frozen=True)
class SpaceUnion:
    members: tuple[SearchSpace, ...]
    name: str = "union"

    def __post_init__(self):
        families = [m.family for m in self.members]
        if not 2 <= len(families) <= MAX_MEMBERS:
            raise SpaceError(f"{self.name}: a union holds 2 to {MAX_MEMBERS} spaces, got {len(families)}")
        if len(set(families)) != len(families):
            raise SpaceError(f"{self.name}: two spaces of one family ({', '.join(families)}); a union holds one space "
                             "per family")
        if "mlp" in families:
            raise SpaceError(f"{self.name}: mlp standardises each input feature and the other families each channel; "
                             "a union takes cnn1d, cnn2d and rocket spaces")
        first = self.members[0]
        for other in self.members[1:]:
            for what, mine, theirs in (("epochs", first.max_epochs, other.max_epochs),
                                       ("budget rules", dict(first.budget_rules), dict(other.budget_rules))):
                if mine != theirs:
                    raise SpaceError(f"{self.name}: {first.name} and {other.name} differ in {what} ({mine} against "
                                     f"{theirs}); a union's spaces share one rung ladder and training budget")

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(m.family for m in self.members)

    def member(self, config: Mapping) -> SearchSpace:
        """The member space `config` was drawn from."""
        family = config.get("family")
        for space in self.members:
            if space.family == family:
                return space
        raise SpaceError(f"{self.name}: configuration of family {family!r} is none of {', '.join(self.families)}")

    def sample(self, rng: np.random.Generator) -> dict:
        """A member chosen uniformly, then a random configuration of it."""
        space = self.members[int(rng.integers(len(self.members)))]
        return {"family": space.family, **space.sample(rng)}

    def suggest(self, trial) -> dict:
        family = trial.suggest_categorical("family", list(self.families))
        space = self.member({"family": family})
        return {"family": family, **space.suggest(trial, prefix=f"{family}.")}

    def size(self) -> float:
        return math.fsum(m.size() for m in self.members)

    @property
    def max_epochs(self) -> int:
        return self.members[0].max_epochs

    @property
    def budget_rules(self) -> Mapping[str, float]:
        return self.members[0].budget_rules

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(sorted({b for m in self.members for b in m.batch_sizes}))

    def build(self, config: Mapping, sample_shape: tuple[int, ...], num_classes: int, seed: int = 0):
        return self.member(config).build(config, sample_shape, num_classes, seed)

    def graph(self, config: Mapping, sample_shape: tuple[int, ...], num_classes: int):
        return self.member(config).graph(config, sample_shape, num_classes)

    def to_json(self) -> dict:
        return {"name": self.name, "spaces": [m.to_json() for m in self.members]}


Space = SearchSpace | SpaceUnion


def space_from_json(data: dict) -> Space:
    """A stored space (`to_json` of either kind); a malformed one is one SpaceError."""
    try:
        if "spaces" in data:
            return SpaceUnion(tuple(SearchSpace.from_json(m) for m in data["spaces"]), str(data.get("name", "union")))
        return SearchSpace.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpaceError(f"the stored search space is malformed ({type(exc).__name__}: {str(exc)[:120]})") from None


def load_space(name_or_path: str | os.PathLike) -> Space:
    """Load and validate a search space from a YAML file or a shipped name: one family's, or a union of spaces."""
    path = space_path(name_or_path)
    data, locations = read_yaml(path, SpaceError)
    if not (isinstance(data, dict) and "spaces" in data):
        return parse_space(data, locations, path)

    def fail(field: tuple[str, ...], problem: str) -> SpaceError:
        return SpaceError(f"{locate(locations, field, str(path))}: {'.'.join(field)}: {problem}")

    for key in data:
        if key not in ("name", "spaces"):
            raise fail((key,), f"unknown key{did_you_mean(str(key), ('name', 'spaces'))}; a union of spaces has "
                               "name and spaces only (each space keeps its own choices)")
    names = data["spaces"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise fail(("spaces",), f"expected a list of space names or YAML files, got {names!r:.80}")
    members = []
    for index, name in enumerate(names):
        member_path = path.parent / name if (path.parent / name).exists() else space_path(name)
        if member_path.resolve() == path.resolve():
            raise fail(("spaces", str(index)), f"{name!r} is this file; a union lists single-family spaces")
        member_data, member_locations = read_yaml(member_path, SpaceError)
        if isinstance(member_data, dict) and "spaces" in member_data:
            raise fail(("spaces", str(index)), f"{name!r} is itself a union; a union lists single-family spaces")
        members.append(parse_space(member_data, member_locations, member_path))
    try:
        return SpaceUnion(tuple(members), str(data.get("name", path.stem)))
    except SpaceError as exc:
        raise fail(("spaces",), str(exc)) from None


__all__ = ["Space", "SpaceUnion", "load_space", "space_from_json"]
