"""What a search space holds: its size, a few sampled configs with their cost, and the share that fits each profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.space.fit import applicability, applies


@dataclass(frozen=True)
class SpaceSurvey:
    space: str
    family: str  # a union's: its families joined by +
    configurations: float  # inf with float ranges
    samples: int
    fit_share: dict[str, float]  # profile -> share of sampled configs that fit (those that do not apply: no)
    examples: tuple[dict, ...]  # {"config", "params", "costs": {profile: {"weight_bytes", "fits", ...}}}
    sample_shape: tuple[int, ...] = ()
    applicable_share: float = 1.0  # of all configurations: those whose architecture takes samples of sample_shape
    reasons: tuple[tuple[str, int], ...] = ()  # why the others do not, with counts over the shape keys' combinations

    def to_dict(self) -> dict:
        return {"space": self.space, "family": self.family,
                "configurations": None if self.configurations == float("inf") else self.configurations,
                "samples": self.samples, "sample_shape": list(self.sample_shape),
                "applicable_share": self.applicable_share,
                "not_applicable": [{"reason": r, "count": n} for r, n in self.reasons],
                "fit_share": self.fit_share, "examples": list(self.examples)}


def survey(space, sample_shape: tuple[int, ...], num_classes: int, profiles, *, samples: int = 100,
           shown: int = 5, seed: int = 0) -> SpaceSurvey:
    """Sample `samples` configs, cost each on every profile (no training), keep the first `shown` that apply to
    `sample_shape` as examples."""
    from edgeopt.cost.estimate import estimate_graph

    rng = np.random.default_rng(seed)
    fits = {p.name: 0 for p in profiles}
    examples = []
    for _ in range(samples):
        config = space.sample(rng)
        if applies(space, config, sample_shape) is not None:
            continue
        graph = space.graph(config, sample_shape, num_classes)
        costs = {}
        for profile in profiles:
            est = estimate_graph(graph, profile)
            fits[profile.name] += est.fits
            costs[profile.name] = est.figures().to_dict()
        if len(examples) < shown:  # the first that apply
            examples.append({"config": config, "params": graph.params, "macs": graph.macs, "costs": costs})
    share = applicability(space, sample_shape)
    return SpaceSurvey(space.name, "+".join(space.families), space.size(), samples,
                       {name: count / samples for name, count in fits.items()}, tuple(examples), tuple(sample_shape),
                       share.share, share.reasons)
