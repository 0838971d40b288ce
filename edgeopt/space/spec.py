"""SearchSpace: a model family plus distributions over its architecture and training choices, from YAML.

    family: cnn1d
    architecture:
      channels: [4, 8, 12]            # a list is a categorical choice
      blocks: {int: [1, 3]}           # integer range (log: true, step: 2 allowed)
      dropout: {float: [0.0, 0.3]}    # float range (log: true allowed)
      separable: true                 # a plain value is fixed
      normalization: [channel, series]  # cnn1d: inputs z-normalised per channel (training statistics) or per series
    training:
      lr: {float: [1e-3, 3e-2], log: true}
      epochs: 16                      # the largest training budget
      lr_schedule: cosine             # decay over that budget (default), or constant
      class_weight: [none, balanced]  # weight the loss by inverse class frequency (default none)
      augment: [none, jitter, mixup]  # training batches (edgeopt.train.augment): jitter, scale, shift, mixup
      early_stop: [false, true]       # keep the epoch with the best validation loss (a CV refit: the folds' median)
      min_steps: 250                  # budget rules for small data (edgeopt.train.budget): one value each
      max_batch_share: 0.25
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from edgeopt.errors import EdgeoptError
from edgeopt.profiles.search_path import did_you_mean
from edgeopt.profiles.yamldoc import locate, read_yaml
from edgeopt.numbers import NumberError, read_number, short_repr
from edgeopt.space.distributions import Choice, Distribution, FloatRange, Fixed, IntRange, from_json
from edgeopt.space.families import (ACTIVATIONS, AUGMENTATIONS, CLASS_WEIGHTS, FAMILIES, GLOBAL_POOLS, LR_SCHEDULES,
                                   NORMALIZATIONS, OPTIMIZERS, TRAINING_DEFAULTS)


class SpaceError(EdgeoptError):
    """A search space that cannot be loaded or does not validate."""


# key -> (type, allowed values or None, minimum or None, maximum or None): maxima far above any model that fits a
# device, so that nothing out of them is built or allocated (a typo of 10^9 channels is an error, not 28 GB)
_RULES: dict[str, tuple[type, tuple | None, float | None, float | None]] = {
    "depth": (int, None, 1, 64), "width": (int, None, 1, 65536), "blocks": (int, None, 1, 64),
    "channels": (int, None, 1, 65536), "channel_growth": (float, None, 0.1, 16.0), "kernel_size": (int, None, 1, 4096),
    "stride": (int, None, 1, 1024), "expansion": (int, None, 1, 64), "pooling": (str, ("max", "avg", "none"), None,
                                                                                  None),
    "separable": (bool, None, None, None), "activation": (str, ACTIVATIONS, None, None),
    "dropout": (float, None, 0.0, 0.99), "lr": (float, None, 1e-12, 100.0), "weight_decay": (float, None, 0.0, 10.0),
    "batch_size": (int, None, 1, 1 << 20), "optimizer": (str, OPTIMIZERS, None, None),
    "epochs": (int, None, 1, 100_000), "lr_schedule": (str, LR_SCHEDULES, None, None),
    "min_steps": (int, None, 1, 10_000_000), "max_batch_share": (float, None, 0.01, 1.0),
    "class_weight": (str, CLASS_WEIGHTS, None, None),
    "normalization": (str, NORMALIZATIONS, None, None), "downsample": (int, None, 1, 4096),
    "dilation": (int, None, 1, 64), "global_pool": (str, GLOBAL_POOLS, None, None),
    "augment": (str, AUGMENTATIONS, None, None), "features": (int, None, 1, 100_000), "dilations": (int, None, 1, 32),
    "early_stop": (bool, None, None, None),
}
BUDGET_RULES = ("min_steps", "max_batch_share")  # training keys that are one value per search, not a choice


@dataclass(frozen=True)
class SearchSpace:
    family: str
    architecture: Mapping[str, Distribution]
    training: Mapping[str, Distribution]
    name: str = "space"
    budget_rules: Mapping[str, float] = field(default_factory=dict)  # min_steps, max_batch_share where set

    @property
    def distributions(self) -> dict[str, Distribution]:
        return {**self.architecture, **self.training}

    def sample(self, rng: np.random.Generator) -> dict:
        """A random configuration (architecture and training values)."""
        return {key: dist.sample(rng) for key, dist in self.distributions.items()}

    def suggest(self, trial, prefix: str = "") -> dict:
        """A configuration suggested by an Optuna trial (fixed values are not sent to the sampler); `prefix` names
        its parameters in the study (a union's member: `rocket.lr`, so members' choices never share a name)."""
        return {key: dist.suggest(trial, prefix + key) for key, dist in self.distributions.items()}

    @property
    def families(self) -> tuple[str, ...]:
        return (self.family,)

    @property
    def members(self) -> tuple[SearchSpace, ...]:
        """The single-family spaces a search draws from: this one (a union: each of its spaces)."""
        return (self,)

    def member(self, config: Mapping) -> SearchSpace:
        """The single-family space `config` was drawn from: this one (a union picks by `config["family"]`)."""
        if config.get("family", self.family) != self.family:
            raise SpaceError(f"{self.name}: a {config['family']} configuration is not of this {self.family} space")
        return self

    def size(self) -> float:
        """Number of distinct configurations (inf with a float range)."""
        return math.prod(dist.size() for dist in self.distributions.values())

    @property
    def max_epochs(self) -> int:
        epochs = self.training["epochs"]
        return int(max(epochs.values) if isinstance(epochs, Choice) else epochs.high if isinstance(
            epochs, IntRange) else epochs.value)

    def build(self, config: Mapping, sample_shape: tuple[int, ...], num_classes: int, seed: int = 0):
        """The nn.Module of `config`; the same arguments give the same module and initial weights."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return FAMILIES[self.family].build(config, tuple(sample_shape), num_classes)

    def graph(self, config: Mapping, sample_shape: tuple[int, ...], num_classes: int):
        """The IR of `config` for one sample (batch 1): what every profile is costed on before any training. Built on
        torch's meta device: shapes only, so a configuration too large to allocate is costed (and refused) without
        allocating it."""
        import torch

        from edgeopt.graph.from_torch import graph_from_module

        with torch.device("meta"):
            module = self.build(config, sample_shape, num_classes)
        return graph_from_module(module, (1, *sample_shape))

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(int(b) for b in self.training["batch_size"].values)

    def to_json(self) -> dict:
        out = {"name": self.name, "family": self.family,
               "architecture": {k: d.to_json() for k, d in self.architecture.items()},
               "training": {k: d.to_json() for k, d in self.training.items()}}
        if self.budget_rules:
            out["budget_rules"] = dict(self.budget_rules)
        return out

    @classmethod
    def from_json(cls, data: dict) -> SearchSpace:
        return cls(data["family"], MappingProxyType({k: from_json(v) for k, v in data["architecture"].items()}),
                   MappingProxyType({k: from_json(v) for k, v in data["training"].items()}), data.get("name", "space"),
                   MappingProxyType(dict(data.get("budget_rules", {}))))


def shipped_space_dir() -> Path | None:
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_shipped" / "searchspace", package.parent / "searchspace"):
        if candidate.is_dir():
            return candidate
    return None


def load_space(name_or_path: str | os.PathLike) -> SearchSpace:
    """Load and validate a single-family search space from a YAML file (or a shipped space's name, e.g. 'cnn1d');
    `edgeopt.space.load_space` also loads unions of them."""
    path = space_path(name_or_path)
    data, locations = read_yaml(path, SpaceError)
    return parse_space(data, locations, path)


def space_path(name_or_path: str | os.PathLike) -> Path:
    """The YAML file a space argument names: a file, else a shipped space of that name."""
    path = Path(name_or_path)
    if not path.is_file() and path.suffix == "" and shipped_space_dir() is not None:
        path = shipped_space_dir() / f"{name_or_path}.yaml"
    return path


def parse_space(data, locations, path: Path) -> SearchSpace:
    """A single-family space from its YAML document (errors name the file, line and field)."""
    def fail(field: tuple[str, ...], problem: str) -> SpaceError:
        return SpaceError(f"{locate(locations, field, str(path))}: {'.'.join(field) or '(top level)'}: {problem}")

    if not isinstance(data, dict):
        raise fail((), "expected a mapping with family, architecture and training")
    for key in data:
        if key not in ("family", "architecture", "training", "name"):
            raise fail((key,), f"unknown key{did_you_mean(key, ('family', 'architecture', 'training', 'spaces'))}; "
                               "allowed keys: name, family, architecture, training (a union of spaces: name, "
                               "spaces)")
    family = data.get("family")
    if not isinstance(family, str) or family not in FAMILIES:
        raise fail(("family",), f"unknown family {family!r}{did_you_mean(str(family), FAMILIES)}; "
                                f"families: {', '.join(FAMILIES)}")
    sections = {}
    rules: dict[str, float] = {}
    for section, defaults in (("architecture", FAMILIES[family].defaults), ("training", TRAINING_DEFAULTS)):
        raw = data.get(section) or {}
        if not isinstance(raw, dict):
            raise fail((section,), f"expected a mapping of choice -> values, got {raw!r}")
        parsed = {}
        for key, value in raw.items():
            if section == "training" and key in BUDGET_RULES:
                rule = _distribution((section, key), value, fail)
                if not isinstance(rule, Fixed):
                    raise fail((section, key), f"{key} is one value for the whole search, not a choice or range")
                if key == "max_batch_share" and rule.value > 1:
                    raise fail((section, key), f"{rule.value!r} is above 1; a share of the training split is at most 1")
                rules[key] = rule.value
                continue
            if key not in defaults:
                allowed = [*defaults, *BUDGET_RULES] if section == "training" else list(defaults)
                raise fail((section, key), f"unknown key{did_you_mean(key, allowed)}; allowed for {family} "
                                           f"{section}: {', '.join(allowed)}")
            parsed[key] = _distribution((section, key), value, fail)
        sections[section] = MappingProxyType({k: parsed.get(k, Fixed(v)) for k, v in defaults.items()})
    return SearchSpace(family, sections["architecture"], sections["training"], str(data.get("name", path.stem)),
                       MappingProxyType(rules))


def _distribution(field, value, fail) -> Distribution:
    key = field[-1]
    kind, allowed, minimum, maximum = _RULES[key]

    def check(v, where=field):
        if kind in (int, float):
            # YAML 1.1 reads 1e-3 (no dot, or no exponent sign) as text: read_number takes it as the number it means
            try:
                return read_number(v, low=minimum, high=maximum, integer=kind is int)
            except NumberError as exc:
                raise fail(where, f"{key}: {exc} (a {'whole number' if kind is int else 'number'} from {minimum:g} "
                                  f"to {maximum:g})") from None
        if not (isinstance(v, bool) if kind is bool else isinstance(v, str)):
            raise fail(where, f"{short_repr(v)} is not a valid {kind.__name__} for {key}")
        if allowed is not None and v not in allowed:
            raise fail(where, f"{v!r} is not allowed{did_you_mean(str(v), allowed)}; allowed: {', '.join(allowed)}")
        return v

    if isinstance(value, list):
        if not value:
            raise fail(field, "empty choice: give at least one value")
        return Choice(tuple(check(v, (*field, str(i))) for i, v in enumerate(value)))
    if isinstance(value, dict):
        range_kind = next((k for k in ("int", "float") if k in value), None)
        extra = set(value) - {"int", "float", "log", "step"}
        if range_kind is None or extra:
            raise fail(field, "a range is {int: [low, high]} or {float: [low, high]}, with optional log: true "
                              f"(and step for int); got keys {sorted(value)}")
        bounds = value[range_kind]
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise fail((*field, range_kind), f"expected [low, high], got {bounds!r}")
        if range_kind == "int" and kind is float:
            range_kind = "float"
        if range_kind == "float" and kind is int:
            raise fail(field, f"{key} takes whole numbers: use {{int: [low, high]}}")
        low, high = (check(b, (*field, range_kind)) for b in bounds)
        if low > high:
            raise fail((*field, range_kind), f"min {low!r} > max {high!r}")
        log = value.get("log", False)
        if not isinstance(log, bool):  # `log: "false"` is text, and text is true
            raise fail((*field, "log"), f"expected true or false, got {short_repr(log)}")
        if log and low <= 0:
            raise fail((*field, "log"), f"a log range needs low > 0, got {low!r}")
        if range_kind == "int":
            if "step" in value and log:
                raise fail((*field, "step"), "a log range takes no step")
            try:
                step = read_number(value.get("step", 1), low=1, high=max(1, high - low), integer=True)
            except NumberError as exc:
                raise fail((*field, "step"), f"step: {exc} (a whole number from 1 to high - low)") from None
            return IntRange(int(low), int(high), log, step)
        return FloatRange(float(low), float(high), log)
    return Fixed(check(value))
