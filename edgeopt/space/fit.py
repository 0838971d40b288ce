"""Before any training: which configurations of a space apply to the data's shape, and whether any can fit a profile.

Applicability is exact: the family's shape check reads only a few architecture keys (`Family.shape_keys`), whose
combinations are enumerated. Fitting is judged on the space's smallest configurations: every size-like choice at its
least (channels, width, depth, blocks, kernel, expansion, growth), every other choice (stride, pooling, separable,
activation) enumerated; parameters and weight bytes only grow from there, so when none of these fits a profile's
weight budget, nothing in the space does. Latency and peak memory are judged on the same candidates.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeopt.cost.estimate import estimate_graph
from edgeopt.errors import EdgeoptWarning
from edgeopt.space.distributions import Choice, FloatRange, Fixed
from edgeopt.space.families import FAMILIES
from edgeopt.space.spec import SearchSpace, SpaceError

# Choices whose smaller values make a smaller model (dilation: the same cost, and the shortest reach applies to the
# most series); every other choice is enumerated for the smallest configurations, except those that change no cost.
_SIZE_KEYS = ("depth", "width", "blocks", "channels", "channel_growth", "kernel_size", "expansion", "dropout",
              "dilation")
_COSTLESS_KEYS = ("normalization",)  # done before the model: the same model whatever it is
_ENUMERATION_LIMIT = 200_000


class SpaceWarning(EdgeoptWarning):
    """A space that cannot fit one of several profiles: the search goes on for the others."""


@dataclass(frozen=True)
class Applicability:
    share: float  # of the space's configurations (uniform over each choice) that apply to the samples
    reasons: tuple[tuple[str, int], ...]  # why the others do not, most common first, with their count

    @property
    def applies(self) -> bool:
        return self.share > 0


def applicability(space, sample_shape: tuple[int, ...]) -> Applicability:
    """The share of `space` (a union: its members drawn alike) whose architectures can take samples of
    `sample_shape` (exact, no torch)."""
    parts = [_applicability(member, sample_shape) for member in space.members]
    reasons: Counter[str] = Counter()
    for part in parts:
        reasons.update(dict(part.reasons))
    return Applicability(sum(p.share for p in parts) / len(parts), tuple(reasons.most_common()))


def _applicability(space: SearchSpace, sample_shape: tuple[int, ...]) -> Applicability:
    family = FAMILIES[space.family]
    keys = family.shape_keys
    if not keys:
        return Applicability(1.0, ())
    options = [space.architecture[k].values for k in keys]
    total = math.prod(len(v) for v in options)
    if total > _ENUMERATION_LIMIT:  # a huge int range: a seeded sample of the combinations instead
        rng = np.random.default_rng(0)
        combos = [tuple(v[int(rng.integers(len(v)))] for v in options) for _ in range(20_000)]
    else:
        combos = list(itertools.product(*options))
    reasons: Counter[str] = Counter()
    for combo in combos:
        reason = family.check(dict(zip(keys, combo)), tuple(sample_shape))
        if reason is not None:
            reasons[_generic(reason)] += 1
    return Applicability(1 - sum(reasons.values()) / len(combos), tuple(reasons.most_common()))


def applies(space, config: Mapping, sample_shape: tuple[int, ...]) -> str | None:
    """Why `config` cannot take samples of `sample_shape`, or None when it can."""
    return FAMILIES[space.member(config).family].check(config, tuple(sample_shape))


def require_applicable(space, sample_shape: tuple[int, ...], data_name: str) -> Applicability:
    """The applicability of `space`, or a SpaceError naming the reason when no configuration applies."""
    result = applicability(space, sample_shape)
    if not result.applies:
        shape = "x".join(str(d) for d in sample_shape)
        raise SpaceError(f"{space.name}: no architecture of family {' or '.join(space.families)} applies to "
                         f"{data_name}'s samples of shape {shape}: {result.reasons[0][0]} in every configuration")
    return result


def smallest_configs(space: SearchSpace) -> list[dict]:
    """The space's smallest configurations: size-like choices at their least, the other choices enumerated."""
    fixed, enumerated = {}, {}
    for key, dist in space.distributions.items():
        if isinstance(dist, Fixed):
            fixed[key] = dist.value
        elif key in _SIZE_KEYS or key in _COSTLESS_KEYS or key not in space.architecture:
            fixed[key] = dist.low if isinstance(dist, FloatRange) else min(dist.values) if key in _SIZE_KEYS \
                else dist.values[0]
        else:
            enumerated[key] = dist.values if isinstance(dist, Choice) else (dist.low, dist.high)
    keys = list(enumerated)
    return [{**fixed, **dict(zip(keys, combo))} for combo in itertools.product(*(enumerated[k] for k in keys))]


def require_fitting(space, sample_shape: tuple[int, ...], num_classes: int, profiles) -> dict:
    """Cost the smallest configurations (of every member of a union) on every profile. Raises a SpaceError when none
    fits any profile (naming the smallest one's cost and what it breaks), warns for each profile nothing fits, and
    for each member of a union that fits none of the profiles the rest of the space fits; returns profile -> fits."""
    by_member = [(member, _smallest_costs(member, sample_shape, num_classes, profiles)) for member in space.members]
    best: dict[str, tuple] = {}
    for _, costs in by_member:
        for name, entry in costs.items():
            if name not in best or entry[0] < best[name][0]:
                best[name] = entry
    fits = {name: not entry[0][0] for name, entry in best.items()}
    misfits = [name for name, ok in fits.items() if not ok]
    messages = [_misfit(name, best[name]) for name in misfits]
    if best and len(misfits) == len(profiles):
        raise SpaceError(f"{space.name}: no configuration fits any profile: " + " | ".join(messages))
    for message in messages:
        warnings.warn(f"{space.name}: no configuration fits {message}; the search goes on for the other profiles",
                      SpaceWarning, stacklevel=2)
    if len(by_member) > 1:
        for member, costs in by_member:
            lost = [name for name, entry in costs.items() if entry[0][0] and fits[name]]
            if lost and len(lost) == sum(fits.values()):
                warnings.warn(f"{space.name}: no {member.family} configuration fits "
                              + " | ".join(_misfit(name, costs[name]) for name in lost)
                              + "; its draws are recorded infeasible and the search goes on with the other "
                                "families", SpaceWarning, stacklevel=2)
    return fits


def _smallest_costs(space: SearchSpace, sample_shape: tuple[int, ...], num_classes: int, profiles) -> dict:
    """profile -> ((misfits, weight bytes), estimate, config, space) of the space's least misfitting smallest
    configuration."""
    best: dict[str, tuple] = {}
    for config in smallest_configs(space):
        if applies(space, config, sample_shape) is not None:
            continue
        graph = space.graph(config, sample_shape, num_classes)
        for profile in profiles:
            est = estimate_graph(graph, profile)
            key = (not est.fits, est.total.weight_bytes)
            if profile.name not in best or key < best[profile.name][0]:
                best[profile.name] = (key, est, config, space)
        if len(best) == len(profiles) and all(not entry[0][0] for entry in best.values()):
            break  # something fits every profile: no need to cost the rest
    return best


def _misfit(profile: str, entry: tuple) -> str:
    _, est, config, space = entry
    broken = "; ".join(v.message for v in est.violations[:3])
    return (f"{profile}: its smallest configuration ({_short(config, space)}) has {est.total.params:,} params and "
            f"{est.total.weight_bytes:,.0f} weight bytes, and breaks: {broken}")


def _short(config: Mapping, space: SearchSpace) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if k in space.architecture)


def _generic(reason: str) -> str:
    """A reason without its numbers' context, so counts group by kind ("pooling ... below length 1")."""
    return reason.split(" (")[0]


__all__ = ["Applicability", "SpaceWarning", "applicability", "applies", "require_applicable", "require_fitting",
           "smallest_configs"]
