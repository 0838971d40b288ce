"""What a decision-tree ensemble costs on a device, in the figures every model gets (params, weight bytes, peak
activation bytes, latency, energy, fits), so that the lab's own tools stand in the same tables as searched models.

A deployed tree is arrays, as tree-to-C generators (emlearn, m2cgen's array form) write them: per internal node a
feature index, a threshold on the input's grid and two child indices; per leaf its value (a class index, or a score in
the weight format for boosted trees). Inference walks one path per tree. A node visit is a load, a compare and a
branch: counted as NODE_MACS multiply-accumulates' time and energy in the input's number format, since no profile has a
figure of its own for a branch. Params are the numbers learned from data: one threshold per internal node and the
leaves' values; the feature indices and child links count in bytes only."""

from __future__ import annotations

from dataclasses import dataclass

from edgeopt.figures import CostFigures
from edgeopt.profiles.formats import get_format
from edgeopt.profiles.schema import HardwareProfile

NODE_MACS = 4
LEAF_KINDS = ("class", "score")  # a leaf holds a class index (a tree, a forest's vote) or a score (boosting)


@dataclass(frozen=True)
class TreeEnsemble:
    """The shape of a fitted ensemble: what its storage and a prediction's work depend on."""

    trees: int
    internal_nodes: int  # over every tree
    leaves: int
    features: int
    classes: int
    path_nodes: float  # internal nodes a prediction visits, over every tree (the mean over samples)
    leaf_kind: str = "class"

    def __post_init__(self) -> None:
        if self.leaf_kind not in LEAF_KINDS:
            raise ValueError(f"unknown leaf kind {self.leaf_kind!r}; choose from {', '.join(LEAF_KINDS)}")
        if min(self.trees, self.leaves, self.features, self.classes) < 1 or self.internal_nodes < 0 \
                or not 0 <= self.path_nodes <= self.internal_nodes:
            raise ValueError(f"not the shape of a tree ensemble: {self}")

    @property
    def nodes(self) -> int:
        return self.internal_nodes + self.leaves


def tree_costs(ensemble: TreeEnsemble, profile: HardwareProfile) -> tuple[CostFigures, tuple[str, ...]]:
    """(the ensemble's cost figures on `profile`, the budgets and capacities it breaks as readable lines)."""
    act, weight = get_format(profile.activation_format), get_format(profile.weight_format)
    index_bytes = 2 if max(ensemble.nodes, ensemble.features) < 2 ** 15 else 4
    leaf_bytes = (1 if ensemble.classes <= 256 else 2) if ensemble.leaf_kind == "class" else weight.bytes
    weight_bytes = ensemble.internal_nodes * (3 * index_bytes + act.bytes) + ensemble.leaves * leaf_bytes
    params = ensemble.internal_nodes + ensemble.leaves
    peak = ensemble.features * act.bytes + ensemble.classes * 4  # the input, and an int32 vote or score a class
    rates = profile.compute.macs_per_s
    rate = rates.get(act.name) or rates.get(weight.name) or max(rates.values())
    work = ensemble.path_nodes * NODE_MACS
    latency_s = work / rate + profile.compute.call_overhead_s
    mac_j = profile.energy.mac_j.get(act.name, profile.energy.mac_j.get(weight.name, 0.0))
    energy_j = work * mac_j + profile.energy.static_power_w * latency_s
    b = profile.budgets
    limits = (("max_params", "parameters", b.max_params, params),
              ("max_weight_bytes", "weight bytes", b.max_weight_bytes, weight_bytes),
              ("weight_memory", f"weight bytes in {profile.weight_memory.kind}", profile.weight_memory.usable_bytes,
               weight_bytes),
              ("max_activation_bytes", "peak activation bytes", b.max_activation_bytes, peak),
              ("activation_memory", f"peak activation bytes in {profile.activation_memory.kind}",
               profile.activation_memory.usable_bytes, peak),
              ("max_latency_s", "latency (s)", b.max_latency_s, latency_s),
              ("max_energy_j", "energy per inference (J)", b.max_energy_j, energy_j))
    broken = tuple(f"{what} {value:.6g} > {limit:.6g} ({key})" for key, what, limit, value in limits
                   if limit is not None and value > limit)
    return CostFigures(params, weight_bytes, round(work), peak, latency_s, energy_j, not broken), broken


__all__ = ["NODE_MACS", "TreeEnsemble", "tree_costs"]
